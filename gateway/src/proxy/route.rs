//! Step 1: which route, hence which service, a request belongs to. First match wins.
//!
//! Routes are indexed by host when the table is built, so finding the route of a request
//! costs one hash lookup whatever the number of routes (a tenant per host is a normal edge
//! setup, with thousands of routes): the index maps each host a route names, exactly or by
//! wildcard, to the routes that host can reach, in config order; only those are then tried.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

use switchyard_plugins::RequestView;

use crate::config::{HostMatch, RouteConfig};

/// Request hosts longer than this (no DNS name is) are matched by the linear scan.
const MAX_INDEXED_HOST: usize = 255;

/// The routes each host can reach, built with the snapshot.
#[derive(Debug, Default)]
pub struct RouteIndex {
    /// Lower-cased exact host → every route it can reach, in config order.
    exact: HostMap,
    /// A wildcard's `.suffix` → every route a host under it (and under no longer indexed
    /// suffix or exact host) can reach, in config order.
    suffixes: HostMap,
    /// The routes without a host: all that a host no route names can reach.
    any_host: Box<[u32]>,
}

type HostMap = HashMap<Box<[u8]>, Box<[u32]>, BuildHasherDefault<HostHasher>>;

impl RouteIndex {
    pub fn new(routes: &[RouteConfig]) -> Self {
        let mut exact_routes: HashMap<&str, Vec<u32>> = HashMap::new();
        let mut suffix_routes: HashMap<&str, Vec<u32>> = HashMap::new();
        let mut any_host = Vec::new();
        for (i, route) in routes.iter().enumerate() {
            let i = u32::try_from(i).unwrap_or(u32::MAX);
            match &route.host {
                None => any_host.push(i),
                Some(HostMatch::Exact(host)) => exact_routes.entry(host).or_default().push(i),
                Some(HostMatch::Suffix(suffix)) => suffix_routes.entry(suffix).or_default().push(i),
            }
        }
        // A host reaches its own routes, the wildcards above it and the host-less routes.
        let reachable = |own: &[u32], name: &str| -> Box<[u32]> {
            let mut list: Vec<u32> = own.iter().chain(&any_host).copied().collect();
            for suffix in label_suffixes(name.as_bytes()) {
                let suffix = std::str::from_utf8(suffix).unwrap_or_default();
                if let Some(more) = suffix_routes.get(suffix) {
                    list.extend(more);
                }
            }
            list.sort_unstable();
            list.dedup();
            list.into()
        };
        let exact = exact_routes
            .iter()
            .map(|(host, own)| (host.as_bytes().into(), reachable(own, host)))
            .collect();
        // `label_suffixes(".a.b")` starts at `.b`, so a wildcard's own routes are added here.
        let suffixes = suffix_routes
            .iter()
            .map(|(suffix, own)| (suffix.as_bytes().into(), reachable(own, suffix)))
            .collect();
        RouteIndex {
            exact,
            suffixes,
            any_host: any_host.into(),
        }
    }

    /// Index of the first route matching the request; `path` is its path without the query.
    pub fn find(&self, routes: &[RouteConfig], req: &RequestView<'_>, path: &str) -> Option<usize> {
        let candidates =
            if req.host.is_empty() || (self.exact.is_empty() && self.suffixes.is_empty()) {
                &self.any_host
            } else {
                let mut lowered = [0u8; MAX_INDEXED_HOST];
                let Some(host) = lowered.get_mut(..req.host.len()) else {
                    return find_linear(routes, req, path);
                };
                host.copy_from_slice(req.host.as_bytes());
                host.make_ascii_lowercase();
                self.reachable_from(host)
            };
        candidates.iter().map(|&i| i as usize).find(|&i| {
            routes
                .get(i)
                .is_some_and(|r| matches_besides_host(r, req, path))
        })
    }

    fn reachable_from(&self, host: &[u8]) -> &[u32] {
        if let Some(list) = self.exact.get(host) {
            return list;
        }
        if !self.suffixes.is_empty() {
            // Longest suffix first: its list already holds every shorter wildcard's routes.
            for suffix in label_suffixes(host) {
                if let Some(list) = self.suffixes.get(suffix) {
                    return list;
                }
            }
        }
        &self.any_host
    }
}

/// `a.b.c` → `.b.c`, `.c`: each suffix that starts at a dot, longest first.
fn label_suffixes(name: &[u8]) -> impl Iterator<Item = &[u8]> {
    let mut rest = name;
    std::iter::from_fn(move || {
        let dot = rest.iter().skip(1).position(|&b| b == b'.')? + 1;
        rest = &rest[dot..];
        Some(rest)
    })
}

/// The reference the index must agree with: every route in order.
pub fn find_linear(routes: &[RouteConfig], req: &RequestView<'_>, path: &str) -> Option<usize> {
    routes
        .iter()
        .position(|r| host_matches(r, req.host) && matches_besides_host(r, req, path))
}

fn host_matches(route: &RouteConfig, host: &str) -> bool {
    match &route.host {
        None => true,
        Some(_) if host.is_empty() => false,
        Some(HostMatch::Exact(want)) => host.eq_ignore_ascii_case(want),
        Some(HostMatch::Suffix(suffix)) => {
            host.len() > suffix.len()
                && host.is_char_boundary(host.len() - suffix.len())
                && host[host.len() - suffix.len()..].eq_ignore_ascii_case(suffix)
        }
    }
}

fn matches_besides_host(route: &RouteConfig, req: &RequestView<'_>, path: &str) -> bool {
    route.path.matches(path)
        && (route.methods.is_empty() || route.methods.contains(req.method))
        && route.headers.iter().all(|(name, value)| {
            req.headers
                .get_all(name.as_str())
                .any(|v| v == value.as_bytes())
        })
}

/// One xxh3 pass over a host name (std's SipHash costs several times more per lookup, and
/// the keys are the operator's own names, not attacker-chosen: a request only looks up).
#[derive(Default)]
struct HostHasher(u64);

impl Hasher for HostHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        self.0 = xxhash_rust::xxh3::xxh3_64_with_seed(bytes, self.0);
    }

    fn write_usize(&mut self, n: usize) {
        self.0 ^= n as u64;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;
    use bytes::BytesMut;

    fn routes() -> Vec<RouteConfig> {
        let text = r#"
listen = ["127.0.0.1:0"]
[[route]]
name = "canary"
host = "api.example.com"
path_prefix = "/v1/"
methods = ["GET"]
headers = { "x-canary" = "1" }
service = "b"
[[route]]
name = "wild"
host = "*.example.com"
service = "b"
[[route]]
name = "exact"
path = "/exact"
service = "a"
[[route]]
name = "rest"
service = "a"
[service.a]
upstreams = [{ addr = "127.0.0.1:1" }]
[service.b]
upstreams = [{ addr = "127.0.0.1:2" }]
"#;
        Config::parse(text, "t").unwrap().routes
    }

    fn route_name(method: &str, host: &str, path: &str, canary: bool) -> String {
        let canary = if canary { "X-Canary: 1\r\n" } else { "" };
        let text = format!("{method} {path} HTTP/1.1\r\nHost: {host}\r\n{canary}\r\n");
        let mut fields = Vec::new();
        let head =
            crate::proxy::client::parse_head(&mut BytesMut::from(text.as_str()), &mut fields)
                .unwrap()
                .unwrap();
        let view = RequestView {
            method: &head.method,
            host: head.host().unwrap_or(""),
            path_and_query: head.target(),
            client_ip: "127.0.0.1",
            headers: switchyard_plugins::Headers::new(&head.raw, &fields),
        };
        let r = routes();
        let path = crate::proxy::client::path_of(head.target());
        let found = RouteIndex::new(&r).find(&r, &view, path);
        assert_eq!(
            found,
            find_linear(&r, &view, path),
            "index and scan disagree"
        );
        r[found.unwrap()].name.clone()
    }

    #[test]
    fn first_match_wins_on_host_path_method_and_headers() {
        assert_eq!(
            route_name("GET", "api.example.com", "/v1/x", true),
            "canary"
        );
        assert_eq!(
            route_name("GET", "API.example.com:8080", "/v1/x?q", true),
            "canary"
        );
        assert_eq!(route_name("POST", "api.example.com", "/v1/x", true), "wild");
        assert_eq!(route_name("GET", "api.example.com", "/v1/x", false), "wild");
        assert_eq!(
            route_name("GET", "example.com", "/exact?a=1", false),
            "exact"
        );
        assert_eq!(
            route_name("GET", "example.com", "/exact/more", false),
            "rest"
        );
    }

    /// Route tables over a few names at several depths, so exact hosts, nested wildcards
    /// and host-less routes overlap and shadow each other in every order.
    fn table_text(routes: &[(u8, u8)]) -> String {
        const HOSTS: [Option<&str>; 7] = [
            None,
            Some("a.example.com"),
            Some("*.example.com"),
            Some("*.b.example.com"),
            Some("x.b.example.com"),
            Some("*.com"),
            Some("example.com"),
        ];
        const PATHS: [&str; 3] = ["", "path_prefix = \"/api\"\n", "path = \"/x\"\n"];
        let mut text = String::from("listen = [\"127.0.0.1:0\"]\n");
        for (i, (host, path)) in routes.iter().enumerate() {
            text.push_str(&format!("[[route]]\nname = \"r{i}\"\nservice = \"a\"\n"));
            if let Some(host) = HOSTS[*host as usize % HOSTS.len()] {
                text.push_str(&format!("host = \"{host}\"\n"));
            }
            text.push_str(PATHS[*path as usize % PATHS.len()]);
        }
        text + "[service.a]\nupstreams = [{ addr = \"127.0.0.1:1\" }]\n"
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(2_000))]
        #[test]
        fn index_agrees_with_the_linear_scan(
            table in proptest::collection::vec((0u8..7, 0u8..3), 1..12),
            host in proptest::sample::select(vec![
                "", "a.example.com", "A.Example.COM", "example.com", "z.example.com",
                "x.b.example.com", "y.x.b.example.com", "b.example.com", "com", "other.org",
                "deep.a.example.com",
            ]),
            long in proptest::bool::ANY,
            path in proptest::sample::select(vec!["/", "/api", "/api/v", "/apiary", "/x"]),
        ) {
            let routes = Config::parse(&table_text(&table), "t").unwrap().routes;
            // Longer than any DNS name: takes the scan, and must still agree.
            let host = if long && !host.is_empty() {
                format!("{}.{host}", "l".repeat(300))
            } else {
                host.to_owned()
            };
            let view = RequestView {
                method: &http::Method::GET,
                host: &host,
                path_and_query: path,
                client_ip: "127.0.0.1",
                headers: switchyard_plugins::Headers::EMPTY,
            };
            let index = RouteIndex::new(&routes);
            proptest::prop_assert_eq!(
                index.find(&routes, &view, path),
                find_linear(&routes, &view, path)
            );
        }
    }
}
