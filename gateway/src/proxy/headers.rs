//! Header rewriting between client and upstream: hop-by-hop headers (RFC 9110 §7.6.1) are
//! per connection and must not be forwarded, including every name the `Connection` header
//! lists (hyper leaves this to us for HTTP/1); `X-Forwarded-*` tell the upstream who asked.

use http::header::{
    CONNECTION, HOST, HeaderMap, HeaderName, HeaderValue, TE, TRAILER, TRANSFER_ENCODING, UPGRADE,
};
use http::{HeaderMap as Map, Request, Uri, Version};

static X_FORWARDED_FOR: HeaderName = HeaderName::from_static("x-forwarded-for");
static X_FORWARDED_PROTO: HeaderName = HeaderName::from_static("x-forwarded-proto");
static X_FORWARDED_HOST: HeaderName = HeaderName::from_static("x-forwarded-host");
static KEEP_ALIVE: HeaderName = HeaderName::from_static("keep-alive");
static PROXY_CONNECTION: HeaderName = HeaderName::from_static("proxy-connection");
static PROXY_AUTHENTICATE: HeaderName = HeaderName::from_static("proxy-authenticate");
static PROXY_AUTHORIZATION: HeaderName = HeaderName::from_static("proxy-authorization");

/// What the proxy knows about the client connection, formatted once per connection.
pub struct ClientFacts {
    /// The peer IP as a header value, for `X-Forwarded-For`.
    pub peer_ip: HeaderValue,
    /// `http` or `https`.
    pub proto: HeaderValue,
}

/// Turns the client's request into the one sent upstream.
pub fn to_upstream<B>(req: &mut Request<B>, client: &ClientFacts) {
    strip_hop_by_hop(req.headers_mut());
    let headers = req.headers_mut();
    let forwarded_for = match headers.get(&X_FORWARDED_FOR) {
        None => client.peer_ip.clone(),
        Some(prior) => {
            let mut joined = Vec::with_capacity(prior.len() + 2 + client.peer_ip.len());
            joined.extend_from_slice(prior.as_bytes());
            joined.extend_from_slice(b", ");
            joined.extend_from_slice(client.peer_ip.as_bytes());
            HeaderValue::from_bytes(&joined).unwrap_or_else(|_| client.peer_ip.clone())
        }
    };
    headers.insert(X_FORWARDED_FOR.clone(), forwarded_for);
    headers.insert(X_FORWARDED_PROTO.clone(), client.proto.clone());
    if let Some(host) = headers.get(HOST).cloned() {
        headers.insert(X_FORWARDED_HOST.clone(), host);
    }
    // Upstream connections are always HTTP/1.1 keep-alive, whatever the client spoke.
    *req.version_mut() = Version::HTTP_11;
    if req.uri().scheme().is_some() {
        // absolute-form (a client talking to us as a forward proxy): upstreams want origin-form.
        let origin = req.uri().path_and_query().map_or("/", |pq| pq.as_str());
        if let Ok(uri) = origin.parse::<Uri>() {
            *req.uri_mut() = uri;
        }
    }
}

/// Removes the hop-by-hop headers from an upstream response before it goes to the client.
pub fn to_client(headers: &mut Map) {
    strip_hop_by_hop(headers);
}

fn strip_hop_by_hop(headers: &mut HeaderMap) {
    if let Some(listed) = connection_listed(headers) {
        for name in listed {
            headers.remove(name);
        }
    }
    for name in [
        &CONNECTION,
        &KEEP_ALIVE,
        &PROXY_CONNECTION,
        &PROXY_AUTHENTICATE,
        &PROXY_AUTHORIZATION,
        &TE,
        &TRAILER,
        &TRANSFER_ENCODING,
        &UPGRADE,
    ] {
        headers.remove(name);
    }
}

/// Extra names listed in `Connection`, beyond the ones removed anyway. Allocates only
/// when there are such names, which is rare.
fn connection_listed(headers: &HeaderMap) -> Option<Vec<HeaderName>> {
    let mut listed = None::<Vec<HeaderName>>;
    for value in headers.get_all(CONNECTION) {
        let Ok(text) = value.to_str() else { continue };
        for token in text.split(',').map(str::trim) {
            if token.is_empty()
                || token.eq_ignore_ascii_case("close")
                || token.eq_ignore_ascii_case("keep-alive")
            {
                continue;
            }
            if let Ok(name) = HeaderName::from_bytes(token.as_bytes()) {
                listed.get_or_insert_with(Vec::new).push(name);
            }
        }
    }
    listed
}

#[cfg(test)]
mod tests {
    use super::*;

    fn facts() -> ClientFacts {
        ClientFacts {
            peer_ip: HeaderValue::from_static("10.1.2.3"),
            proto: HeaderValue::from_static("http"),
        }
    }

    #[test]
    fn strips_hop_by_hop_and_connection_listed_names() {
        let mut req = Request::builder()
            .uri("http://api.example.com/a?b=1")
            .header("host", "api.example.com")
            .header("connection", "close, x-secret")
            .header("keep-alive", "timeout=5")
            .header("x-secret", "1")
            .header("te", "trailers")
            .header("upgrade", "websocket")
            .header("x-kept", "yes")
            .body(())
            .unwrap();
        to_upstream(&mut req, &facts());
        let h = req.headers();
        for gone in ["connection", "keep-alive", "x-secret", "te", "upgrade"] {
            assert!(h.get(gone).is_none(), "{gone} should be stripped");
        }
        assert_eq!(h["x-kept"], "yes");
        assert_eq!(h["x-forwarded-for"], "10.1.2.3");
        assert_eq!(h["x-forwarded-proto"], "http");
        assert_eq!(h["x-forwarded-host"], "api.example.com");
        assert_eq!(req.uri(), "/a?b=1");
    }

    #[test]
    fn appends_to_existing_forwarded_for() {
        let mut req = Request::builder()
            .header("x-forwarded-for", "1.1.1.1")
            .body(())
            .unwrap();
        to_upstream(&mut req, &facts());
        assert_eq!(req.headers()["x-forwarded-for"], "1.1.1.1, 10.1.2.3");
    }
}
