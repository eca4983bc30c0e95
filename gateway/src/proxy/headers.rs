//! Header rewriting between client and upstream: hop-by-hop headers (RFC 9110 §7.6.1) are
//! per connection and must not be forwarded, including every name the `Connection` header
//! lists (hyper leaves this to us for HTTP/1); `X-Forwarded-*` tell the upstream who asked.

use http::header::{
    CONNECTION, Entry, HOST, HeaderMap, HeaderName, HeaderValue, TE, TRAILER, TRANSFER_ENCODING,
    UPGRADE,
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
    // One hash per header: the entry serves both the lookup and the write.
    match headers.entry(&X_FORWARDED_FOR) {
        Entry::Vacant(slot) => {
            slot.insert(client.peer_ip.clone());
        }
        Entry::Occupied(mut prior) => {
            let prior = prior.get_mut();
            let mut joined = Vec::with_capacity(prior.len() + 2 + client.peer_ip.len());
            joined.extend_from_slice(prior.as_bytes());
            joined.extend_from_slice(b", ");
            joined.extend_from_slice(client.peer_ip.as_bytes());
            *prior = HeaderValue::from_bytes(&joined).unwrap_or_else(|_| client.peer_ip.clone());
        }
    }
    headers.insert(&X_FORWARDED_PROTO, client.proto.clone());
    if let Some(host) = headers.get(HOST).cloned() {
        headers.insert(&X_FORWARDED_HOST, host);
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
    // Most messages carry at most `Connection: keep-alive`: one pass over the names finds
    // out, so the common case hashes nothing and only names actually present are removed.
    let mut present = 0u16;
    let mut lists_more = false;
    for (name, value) in headers.iter() {
        if let Some(bit) = hop_by_hop_bit(name) {
            present |= bit;
            lists_more |= bit == CONNECTION_BIT && lists_other_names(value);
        }
    }
    if present == 0 {
        return;
    }
    if lists_more && let Some(listed) = connection_listed(headers) {
        for name in listed {
            headers.remove(name);
        }
    }
    for (i, name) in HOP_BY_HOP.iter().enumerate() {
        if present & (1 << i) != 0 {
            headers.remove(*name);
        }
    }
}

/// Every header that is hop-by-hop whatever `Connection` says; the position is its bit.
static HOP_BY_HOP: [&HeaderName; 9] = [
    &CONNECTION,
    &KEEP_ALIVE,
    &PROXY_CONNECTION,
    &PROXY_AUTHENTICATE,
    &PROXY_AUTHORIZATION,
    &TE,
    &TRAILER,
    &TRANSFER_ENCODING,
    &UPGRADE,
];
const CONNECTION_BIT: u16 = 1;

fn hop_by_hop_bit(name: &HeaderName) -> Option<u16> {
    // Standard names compare as enum tags; the two custom ones by length first.
    HOP_BY_HOP
        .iter()
        .position(|hop| *hop == name)
        .map(|i| 1 << i)
}

/// Whether a `Connection` value names more than `close` / `keep-alive`.
fn lists_other_names(value: &HeaderValue) -> bool {
    value.as_bytes().split(|b| *b == b',').any(|token| {
        let token = token.trim_ascii();
        !token.is_empty()
            && !token.eq_ignore_ascii_case(b"close")
            && !token.eq_ignore_ascii_case(b"keep-alive")
    })
}

/// Extra names listed in `Connection`, beyond the ones removed anyway.
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
    fn strips_from_responses_with_several_connection_headers() {
        let mut headers = HeaderMap::new();
        headers.append(CONNECTION, HeaderValue::from_static("keep-alive"));
        headers.append(CONNECTION, HeaderValue::from_static("X-Hop"));
        headers.insert("x-hop", HeaderValue::from_static("1"));
        headers.insert("proxy-connection", HeaderValue::from_static("keep-alive"));
        headers.insert("transfer-encoding", HeaderValue::from_static("chunked"));
        headers.insert("content-type", HeaderValue::from_static("text/plain"));
        to_client(&mut headers);
        let left: Vec<_> = headers.keys().map(HeaderName::as_str).collect();
        assert_eq!(left, ["content-type"]);

        let mut plain = HeaderMap::new();
        plain.insert(CONNECTION, HeaderValue::from_static("keep-alive"));
        plain.insert("x-kept", HeaderValue::from_static("1"));
        to_client(&mut plain);
        let left: Vec<_> = plain.keys().map(HeaderName::as_str).collect();
        assert_eq!(left, ["x-kept"]);
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
