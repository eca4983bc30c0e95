//! Step 1: which route, hence which service, a request belongs to. First match wins.

use switchyard_plugins::RequestView;

use crate::config::{HostMatch, RouteConfig};

/// Index of the first route matching the request; `path` is its path without the query.
pub fn find(routes: &[RouteConfig], req: &RequestView<'_>, path: &str) -> Option<usize> {
    routes.iter().position(|r| matches(r, req, path))
}

fn matches(route: &RouteConfig, req: &RequestView<'_>, path: &str) -> bool {
    let host = req.host;
    let host_ok = match &route.host {
        None => true,
        Some(_) if host.is_empty() => false,
        Some(HostMatch::Exact(want)) => host.eq_ignore_ascii_case(want),
        Some(HostMatch::Suffix(suffix)) => {
            host.len() > suffix.len()
                && host.is_char_boundary(host.len() - suffix.len())
                && host[host.len() - suffix.len()..].eq_ignore_ascii_case(suffix)
        }
    };
    if !host_ok {
        return false;
    }
    route.path.matches(path)
        && (route.methods.is_empty() || route.methods.contains(req.method))
        && route.headers.iter().all(|(name, value)| {
            req.headers
                .get_all(name.as_str())
                .any(|v| v == value.as_bytes())
        })
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
        r[find(&r, &view, crate::proxy::client::path_of(head.target())).unwrap()]
            .name
            .clone()
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
}
