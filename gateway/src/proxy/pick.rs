//! Step 2: which upstream of the service. The active tier's balancer decides; the request
//! contributes only its affinity-key hash.

use http::Request;
use http::header::COOKIE;
use switchyard_plugins::PickContext;
use xxhash_rust::xxh3::xxh3_64;

use crate::config::HashKey;
use crate::snapshot::{Service, Upstream};

/// The chosen upstream, or `None` when the service has nothing to offer.
pub fn upstream<'s, B>(
    service: &'s Service,
    req: &Request<B>,
    client_ip_hash: u64,
) -> Option<&'s Upstream> {
    let ctx = PickContext {
        key_hash: service
            .hash_key
            .as_ref()
            .and_then(|k| key_hash(k, req, client_ip_hash)),
    };
    let tier = service.tiers.first()?;
    let index = tier.balancer.pick(&ctx)?;
    let member = *tier.members.get(index)?;
    service.upstreams.get(member)
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
