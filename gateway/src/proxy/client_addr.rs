//! Which address a request comes from. Normally the peer's. When the peer is one of
//! `trusted_proxies`, the address its `X-Forwarded-For` chain names: the rightmost entry
//! that is not itself a trusted proxy, as NGINX's `real_ip_recursive` finds it (each hop
//! appends the address it saw, so entries left of the first untrusted one are the client's
//! own claims and count for nothing).

use std::net::IpAddr;

use switchyard_plugins::Headers;

use super::fields::{Role, role};
use crate::config::RequestRules;

/// The address a trusted peer forwards for; `None` when its chain names none usable.
pub fn forwarded_for(headers: &Headers<'_>, rules: &RequestRules) -> Option<IpAddr> {
    let chain: Vec<&[u8]> = headers
        .iter()
        .filter(|(name, _)| role(name) == Role::XForwardedFor)
        .flat_map(|(_, value)| value.split(|b| *b == b','))
        .collect();
    let mut client = None;
    for entry in chain.iter().rev() {
        let ip = parse_entry(entry)?;
        client = Some(ip);
        if !rules.trusts(ip) {
            break;
        }
    }
    client
}

/// `1.2.3.4`, `1.2.3.4:5678`, `2001:db8::1` or `[2001:db8::1]:5678`.
fn parse_entry(entry: &[u8]) -> Option<IpAddr> {
    let text = std::str::from_utf8(entry).ok()?.trim();
    if let Ok(ip) = text.parse::<IpAddr>() {
        return Some(ip);
    }
    if let Some(rest) = text.strip_prefix('[') {
        return rest.split_once(']')?.0.parse().ok();
    }
    text.rsplit_once(':')?.0.parse().ok()
}

/// The hash `hash_key = "client_ip"` balances by.
pub fn ip_hash(ip: IpAddr) -> u64 {
    match ip {
        IpAddr::V4(v4) => xxhash_rust::xxh3::xxh3_64(&v4.octets()),
        IpAddr::V6(v6) => xxhash_rust::xxh3::xxh3_64(&v6.octets()),
    }
}

#[cfg(test)]
mod tests {
    use bytes::BytesMut;

    use super::*;
    use crate::config::RequestRules;

    fn client_of(fields: &str, trusted: &[&str]) -> Option<IpAddr> {
        let text = format!("GET / HTTP/1.1\r\nHost: a\r\n{fields}\r\n");
        let mut spans = Vec::new();
        let head = crate::proxy::client::parse_head(&mut BytesMut::from(text.as_str()), &mut spans)
            .unwrap()
            .unwrap();
        let rules = RequestRules {
            trusted_proxies: trusted.iter().map(|t| t.parse().unwrap()).collect(),
            ..RequestRules::default()
        };
        forwarded_for(&Headers::new(&head.raw, &spans), &rules)
    }

    #[test]
    fn takes_the_rightmost_untrusted_address() {
        let ip = |s: &str| Some(s.parse::<IpAddr>().unwrap());
        assert_eq!(
            client_of("X-Forwarded-For: 6.6.6.6, 1.2.3.4\r\n", &["10.0.0.0/8"]),
            ip("1.2.3.4")
        );
        assert_eq!(
            client_of(
                "X-Forwarded-For: 6.6.6.6\r\nX-Forwarded-For: 1.2.3.4:99, 10.0.0.7\r\n",
                &["10.0.0.0/8"]
            ),
            ip("1.2.3.4")
        );
        assert_eq!(
            client_of(
                "X-Forwarded-For: [2001:db8::1]:5, 10.1.1.1\r\n",
                &["10.0.0.0/8"]
            ),
            ip("2001:db8::1")
        );
        assert_eq!(
            client_of("X-Forwarded-For: junk\r\n", &["10.0.0.0/8"]),
            None
        );
        assert_eq!(client_of("", &["10.0.0.0/8"]), None);
    }
}
