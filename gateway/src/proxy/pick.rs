//! Step 2: which upstream of the service. The active tier's balancer decides; the request
//! contributes only its affinity-key hash.

use switchyard_plugins::{Headers, PickContext, RequestView};
use xxhash_rust::xxh3::xxh3_64;

use crate::config::HashKey;
use crate::snapshot::Service;

/// Index (into the service's upstreams) of the chosen upstream, or `None` when the service
/// has nothing to offer.
pub fn upstream(service: &Service, view: &RequestView<'_>, client_ip_hash: u64) -> Option<usize> {
    let ctx = PickContext {
        key_hash: service
            .hash_key
            .as_ref()
            .and_then(|k| key_hash(k, &view.headers, client_ip_hash)),
        request: Some(view),
    };
    let tier = service.tiers.first()?;
    let index = tier.balancer.pick(&ctx)?;
    tier.members.get(index).copied()
}

/// For a retry: an upstream of the serving tier not tried yet. The balancer is asked first
/// (a few times, so its policy still shapes retries); failing that, the first untried one.
pub fn untried(service: &Service, tried: &[bool]) -> Option<usize> {
    let tier = service.tiers.first()?;
    let ctx = PickContext::default();
    for _ in 0..3 {
        let member = *tier.members.get(tier.balancer.pick(&ctx)?)?;
        if !tried.get(member).copied().unwrap_or(true) {
            return Some(member);
        }
    }
    tier.members
        .iter()
        .copied()
        .find(|&m| !tried.get(m).copied().unwrap_or(true))
}

/// The upstream a pin names, if it is still in the serving tier.
pub fn pinned(service: &Service, id: &str) -> Option<usize> {
    let tier = service.tiers.first()?;
    tier.members
        .iter()
        .copied()
        .find(|&m| service.upstreams.get(m).is_some_and(|u| &*u.id == id))
}

fn key_hash(key: &HashKey, headers: &Headers<'_>, client_ip_hash: u64) -> Option<u64> {
    match key {
        HashKey::ClientIp => Some(client_ip_hash),
        HashKey::Header(name) => headers.get(name.as_str()).map(xxh3_64),
        HashKey::Cookie(name) => cookie(headers, name).map(xxh3_64),
    }
}

/// The value of cookie `name`, looked up without allocating.
fn cookie<'h>(headers: &Headers<'h>, name: &str) -> Option<&'h [u8]> {
    headers.get_all("cookie").find_map(|header| {
        header.split(|&b| b == b';').find_map(|pair| {
            let pair = pair.trim_ascii();
            let rest = pair.strip_prefix(name.as_bytes())?;
            rest.strip_prefix(b"=")
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_cookie_among_several() {
        let head = b"cookie: a=1; sid=xyz; sidx=2\r\nCookie: b=3\r\n";
        let span = |n: (u32, u32), v: (u32, u32)| switchyard_plugins::FieldSpan {
            name_start: n.0,
            name_end: n.1,
            value_start: v.0,
            value_end: v.1,
        };
        let fields = [span((0, 6), (8, 28)), span((30, 36), (38, 41))];
        let headers = Headers::new(head, &fields);
        assert_eq!(cookie(&headers, "sid"), Some(&b"xyz"[..]));
        assert_eq!(cookie(&headers, "b"), Some(&b"3"[..]));
        assert_eq!(cookie(&headers, "si"), None);
    }
}
