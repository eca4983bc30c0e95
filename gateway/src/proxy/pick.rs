//! Step 2: which upstream of the service. The active tier's balancer decides; the request
//! contributes only its affinity-key hash.

use http::Request;
use http::header::COOKIE;
use switchyard_plugins::{PickContext, RequestView};
use xxhash_rust::xxh3::xxh3_64;

use crate::config::HashKey;
use crate::snapshot::Service;

/// Index (into the service's upstreams) of the chosen upstream, or `None` when the service
/// has nothing to offer.
pub fn upstream<B>(
    service: &Service,
    req: &Request<B>,
    view: &RequestView<'_>,
    client_ip_hash: u64,
) -> Option<usize> {
    let ctx = PickContext {
        key_hash: service
            .hash_key
            .as_ref()
            .and_then(|k| key_hash(k, req, client_ip_hash)),
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

fn key_hash<B>(key: &HashKey, req: &Request<B>, client_ip_hash: u64) -> Option<u64> {
    match key {
        HashKey::ClientIp => Some(client_ip_hash),
        HashKey::Header(name) => req.headers().get(name).map(|v| xxh3_64(v.as_bytes())),
        HashKey::Cookie(name) => cookie(req, name).map(xxh3_64),
    }
}

/// The value of cookie `name`, looked up without allocating.
fn cookie<'r, B>(req: &'r Request<B>, name: &str) -> Option<&'r [u8]> {
    req.headers().get_all(COOKIE).iter().find_map(|header| {
        header.as_bytes().split(|&b| b == b';').find_map(|pair| {
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
        let req = Request::builder()
            .header("cookie", "a=1; sid=xyz; sidx=2")
            .header("cookie", "b=3")
            .body(())
            .unwrap();
        assert_eq!(cookie(&req, "sid"), Some(&b"xyz"[..]));
        assert_eq!(cookie(&req, "b"), Some(&b"3"[..]));
        assert_eq!(cookie(&req, "si"), None);
    }
}
