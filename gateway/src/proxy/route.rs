//! Step 1: which route, hence which service, a request belongs to. First match wins.

use http::Request;

use crate::config::{HostMatch, PathMatch, RouteConfig};

/// Index of the first route matching `req`.
pub fn find<B>(routes: &[RouteConfig], req: &Request<B>, host: Option<&str>) -> Option<usize> {
    routes.iter().position(|r| matches(r, req, host))
}

/// The request's host without port: from an absolute URI, else the Host header.
pub fn request_host<B>(req: &Request<B>) -> Option<&str> {
    if let Some(h) = req.uri().host() {
        return Some(h);
    }
    let raw = req.headers().get(http::header::HOST)?.to_str().ok()?;
    Some(strip_port(raw))
}

fn strip_port(host: &str) -> &str {
    if host.starts_with('[') {
        // IPv6 literal: "[::1]:8080" → "[::1]"
        return host.find(']').map_or(host, |end| &host[..=end]);
    }
    host.rsplit_once(':').map_or(host, |(h, _)| h)
}

fn matches<B>(route: &RouteConfig, req: &Request<B>, host: Option<&str>) -> bool {
    let host_ok = match (&route.host, host) {
        (None, _) => true,
        (Some(_), None) => false,
        (Some(HostMatch::Exact(want)), Some(h)) => h.eq_ignore_ascii_case(want),
        (Some(HostMatch::Suffix(suffix)), Some(h)) => {
            h.len() > suffix.len()
                && h.is_char_boundary(h.len() - suffix.len())
                && h[h.len() - suffix.len()..].eq_ignore_ascii_case(suffix)
        }
    };
    if !host_ok {
        return false;
    }
    let path = req.uri().path();
    let path_ok = match &route.path {
        PathMatch::Any => true,
        PathMatch::Prefix(p) => path.starts_with(p.as_str()),
        PathMatch::Exact(p) => path == p,
    };
    path_ok
        && (route.methods.is_empty() || route.methods.contains(req.method()))
        && route
            .headers
            .iter()
            .all(|(name, value)| req.headers().get_all(name).iter().any(|v| v == value))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;

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

    fn route_name(req: Request<()>) -> String {
        let r = routes();
        let host = request_host(&req);
        r[find(&r, &req, host).unwrap()].name.clone()
    }

    #[test]
    fn first_match_wins_on_host_path_method_and_headers() {
        let req = |m: &str, host: &str, path: &str, canary: bool| {
            let mut b = Request::builder().method(m).uri(path).header("host", host);
            if canary {
                b = b.header("x-canary", "1");
            }
            b.body(()).unwrap()
        };
        assert_eq!(
            route_name(req("GET", "api.example.com", "/v1/x", true)),
            "canary"
        );
        assert_eq!(
            route_name(req("GET", "API.example.com:8080", "/v1/x", true)),
            "canary"
        );
        assert_eq!(
            route_name(req("POST", "api.example.com", "/v1/x", true)),
            "wild"
        );
        assert_eq!(
            route_name(req("GET", "api.example.com", "/v1/x", false)),
            "wild"
        );
        assert_eq!(
            route_name(req("GET", "example.com", "/exact", false)),
            "exact"
        );
        assert_eq!(
            route_name(req("GET", "example.com", "/exact/more", false)),
            "rest"
        );
    }

    #[test]
    fn ports_are_stripped_from_host_headers() {
        assert_eq!(strip_port("a.com:80"), "a.com");
        assert_eq!(strip_port("[::1]:80"), "[::1]");
        assert_eq!(strip_port("a.com"), "a.com");
    }
}
