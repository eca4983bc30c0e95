//! Request heads from clients (RFC 9112 §2–§6), parsed once and kept as received: routing,
//! policies and the upstream request read the fields in place.

use std::mem::MaybeUninit;

use bytes::{Bytes, BytesMut};
use http::{Method, StatusCode};
use switchyard_plugins::FieldSpan;

use crate::proxy::fields::Facts;
use crate::proxy::h1::RequestFraming;
use crate::proxy::h1::head::{offset, record_spans};

/// A request head may not exceed this (NGINX's default large buffers hold 32 KiB).
pub const MAX_REQUEST_HEAD: usize = 64 * 1024;
const MAX_FIELDS: usize = 100;

/// A request the gateway answers itself, with the connection closed after: its framing
/// can no longer be trusted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BadRequest {
    pub status: StatusCode,
    pub why: &'static str,
}

const fn bad(why: &'static str) -> BadRequest {
    BadRequest {
        status: StatusCode::BAD_REQUEST,
        why,
    }
}

pub struct RequestHead {
    /// The head as received.
    pub raw: Bytes,
    pub method: Method,
    pub http10: bool,
    /// The request target as sent upstream (origin-form).
    target: Target,
    /// The host to route on, without port or trailing dot: from an absolute-form target
    /// or the Host field.
    host: Option<(u32, u32)>,
    /// The whole Host field value.
    pub host_field: Option<(u32, u32)>,
    /// An absolute-form target's `host[:port]`: it, not the Host field, names the host
    /// (RFC 9112 §3.2.2), so it is what goes upstream as `Host`.
    authority: Option<(u32, u32)>,
    /// How the client delimits its body (it goes upstream delimited the same way).
    pub framing: RequestFraming,
    /// Whether the client may send another request on this connection.
    pub keep_alive: bool,
    /// `Expect: 100-continue`: the client waits for a go-ahead before sending its body.
    pub expect_continue: bool,
    /// `Connection` names fields beyond `close` / `keep-alive`, which must not be forwarded.
    pub connection_lists_fields: bool,
}

enum Target {
    Span(u32, u32),
    /// An absolute-form target with an empty path.
    Root,
    /// An absolute-form target whose path starts with `?`.
    Owned(Box<str>),
}

impl RequestHead {
    fn text(&self, (start, end): (u32, u32)) -> &str {
        self.raw
            .get(start as usize..end as usize)
            .and_then(|b| std::str::from_utf8(b).ok())
            .unwrap_or("")
    }

    /// Path and query, origin-form.
    pub fn target(&self) -> &str {
        match &self.target {
            Target::Span(start, end) => self.text((*start, *end)),
            Target::Root => "/",
            Target::Owned(target) => target,
        }
    }

    pub fn host(&self) -> Option<&str> {
        self.host.map(|span| self.text(span))
    }

    pub fn host_field(&self) -> Option<&[u8]> {
        let (start, end) = self.host_field?;
        self.raw.get(start as usize..end as usize)
    }

    /// The absolute-form target's `host[:port]`, when the target was absolute.
    pub fn authority(&self) -> Option<&[u8]> {
        let (start, end) = self.authority?;
        self.raw.get(start as usize..end as usize)
    }

    /// `host[:port]` as the request names it: the authority of an absolute-form target,
    /// else the Host field.
    pub fn named_host(&self) -> Option<&[u8]> {
        self.authority().or_else(|| self.host_field())
    }
}

/// The path of an origin-form target, without its query.
pub fn path_of(target: &str) -> &str {
    target.split_once('?').map_or(target, |(path, _)| path)
}

/// Parses one request head from the front of `buf`, consuming it, and records its fields in
/// `fields`. `Ok(None)`: incomplete, read more.
pub fn parse(
    buf: &mut BytesMut,
    fields: &mut Vec<FieldSpan>,
) -> Result<Option<RequestHead>, BadRequest> {
    let mut slots = [const { MaybeUninit::<httparse::Header<'_>>::uninit() }; MAX_FIELDS];
    let mut parsed = httparse::Request::new(&mut []);
    let consumed = match parsed.parse_with_uninit_headers(buf, &mut slots) {
        Ok(httparse::Status::Complete(n)) => n,
        Ok(httparse::Status::Partial) if buf.len() > MAX_REQUEST_HEAD => {
            return Err(too_large("request head larger than 64 KiB"));
        }
        Ok(httparse::Status::Partial) => return Ok(None),
        Err(httparse::Error::TooManyHeaders) => {
            return Err(too_large("more than 100 header fields"));
        }
        Err(httparse::Error::Version) if names_a_version(buf) => {
            return Err(BadRequest {
                status: StatusCode::HTTP_VERSION_NOT_SUPPORTED,
                why: "only HTTP/1.0 and HTTP/1.1 are served here",
            });
        }
        Err(_) => return Err(bad("malformed request head")),
    };
    let method = Method::from_bytes(parsed.method.unwrap_or_default().as_bytes())
        .map_err(|_| bad("malformed method"))?;
    if method == Method::CONNECT {
        return Err(BadRequest {
            status: StatusCode::NOT_IMPLEMENTED,
            why: "CONNECT is not supported",
        });
    }
    let http10 = parsed.version == Some(0);
    let raw_target = parsed.path.unwrap_or_default();
    let (target, authority) = target_of(buf, raw_target)?;
    let facts = Facts::gather(parsed.headers.iter().map(|h| (h.name.as_bytes(), h.value)));
    if facts.host_fields > 1 {
        return Err(bad("more than one Host field"));
    }
    let length = facts
        .length
        .map_err(|()| bad("bad or conflicting Content-Length"))?;
    let chunked = facts.transfer_encoding.is_some();
    if chunked && !facts.only_chunked {
        // With anything but one `chunked` the body's end is unknown.
        return Err(BadRequest {
            status: StatusCode::NOT_IMPLEMENTED,
            why: "only the chunked transfer coding is supported",
        });
    }
    let framing = match (chunked, length) {
        (false, None) => RequestFraming::None,
        (false, Some(n)) => RequestFraming::Length(n),
        (true, None) if !http10 => RequestFraming::Chunked,
        (true, None) => return Err(bad("Transfer-Encoding in an HTTP/1.0 request")),
        (true, Some(_)) => return Err(bad("both Transfer-Encoding and Content-Length")),
    };
    let host_field = facts.host.map(|value| {
        let start = offset(buf, value);
        (start, start + value.len() as u32)
    });
    if let Some(value) = facts.host
        && !value.is_empty()
        && host_name_len(value).is_none()
    {
        return Err(bad("Host is not a valid host[:port]"));
    }
    let host = match (authority, host_field) {
        (Some(span), _) => Some(host_span(buf, span)),
        (None, Some(field)) if field.0 != field.1 => Some(host_span(buf, field)),
        (None, _) if !http10 => return Err(bad("HTTP/1.1 request without a Host field")),
        (None, _) => None,
    };
    let keep_alive = facts.keeps_alive(http10);
    let expect_continue = facts.expect_continue && !http10;
    let connection_lists_fields = facts.lists_fields;
    record_spans(buf, parsed.headers, fields);
    let raw = buf.split_to(consumed).freeze();
    Ok(Some(RequestHead {
        raw,
        method,
        http10,
        target,
        host,
        host_field,
        authority,
        framing,
        keep_alive,
        expect_continue,
        connection_lists_fields,
    }))
}

fn too_large(why: &'static str) -> BadRequest {
    BadRequest {
        status: StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
        why,
    }
}

/// The origin-form target, and the `host[:port]` span of an absolute-form one (RFC 9112
/// §3.2).
fn target_of(buf: &[u8], target: &str) -> Result<(Target, Option<(u32, u32)>), BadRequest> {
    let start = offset(buf, target.as_bytes());
    if target.starts_with('/') || target == "*" {
        return Ok((Target::Span(start, start + target.len() as u32), None));
    }
    let Some((scheme, rest)) = target.split_once("://") else {
        return Err(bad("request target is neither a path nor an absolute URI"));
    };
    if !scheme.eq_ignore_ascii_case("http") && !scheme.eq_ignore_ascii_case("https") {
        return Err(bad("absolute URI with a scheme other than http(s)"));
    }
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let authority = &rest[..authority_end];
    // Userinfo is refused, not skipped (RFC 9110 §4.2.4): `http://a\@b/` must not reach
    // `b` through one parser and `a` through another.
    if authority.contains('@') {
        return Err(bad("absolute URI with userinfo"));
    }
    if host_name_len(authority.as_bytes()).is_none() {
        return Err(bad("absolute URI without a valid host[:port]"));
    }
    let host_start = offset(buf, authority.as_bytes());
    let path = &rest[authority_end..];
    let origin = if path.is_empty() {
        Target::Root
    } else if path.starts_with('/') {
        let path_start = offset(buf, path.as_bytes());
        Target::Span(path_start, path_start + path.len() as u32)
    } else {
        Target::Owned(format!("/{path}").into_boxed_str())
    };
    Ok((
        origin,
        Some((host_start, host_start + authority.len() as u32)),
    ))
}

/// The length of the host in a `host[:port]` value, without the port; `None` when the
/// value is not one (RFC 3986 §3.2.2: a name of letters, digits, `-`, `.`, `_`, `~`, or an
/// IPv4 address, or a bracketed IPv6 literal; a port of 1–5 digits). Spaces, userinfo,
/// paths and other delimiters never route.
pub fn host_name_len(value: &[u8]) -> Option<usize> {
    let host_len = if value.first() == Some(&b'[') {
        let close = value.iter().position(|b| *b == b']')?;
        let literal = &value[1..close];
        if literal.is_empty() || !literal.iter().all(|&b| HOST_CLASS[b as usize] & V6 != 0) {
            return None;
        }
        close + 1
    } else {
        // One pass, one table load per byte: this runs on every request.
        let len = value
            .iter()
            .position(|&b| HOST_CLASS[b as usize] & NAME == 0)
            .unwrap_or(value.len());
        if len == 0 {
            return None;
        }
        len
    };
    match &value[host_len..] {
        [] => Some(host_len),
        [b':', port @ ..] if port.len() <= 5 && port.iter().all(u8::is_ascii_digit) => {
            Some(host_len)
        }
        _ => None,
    }
}

/// Byte classes of a host: `NAME` for a reg-name or IPv4 byte, `V6` for an IPv6 literal's.
const NAME: u8 = 1;
const V6: u8 = 2;
const HOST_CLASS: [u8; 256] = {
    let mut table = [0u8; 256];
    let mut b = 0;
    while b < 256 {
        let c = b as u8;
        if c.is_ascii_alphanumeric() || matches!(c, b'-' | b'.' | b'_' | b'~') {
            table[b] |= NAME;
        }
        if c.is_ascii_hexdigit() || matches!(c, b':' | b'.') {
            table[b] |= V6;
        }
        b += 1;
    }
    table
};

/// The span of the host to route on: no `:port`, no trailing dot (`example.com.` names
/// `example.com`). The value was checked by [`host_name_len`].
fn host_span(buf: &[u8], (start, end): (u32, u32)) -> (u32, u32) {
    let value = buf.get(start as usize..end as usize).unwrap_or_default();
    let mut len = host_name_len(value).unwrap_or(value.len());
    if len > 1 && value[len - 1] == b'.' {
        len -= 1;
    }
    (start, start + len as u32)
}

/// Whether the request line ends in something shaped like a version (`HTTP/d.d`): then an
/// unsupported version is a 505; anything else is a malformed request line, a 400.
fn names_a_version(buf: &[u8]) -> bool {
    let line_end = buf.iter().position(|b| *b == b'\n').unwrap_or(buf.len());
    let line = buf[..line_end]
        .strip_suffix(b"\r")
        .unwrap_or(&buf[..line_end]);
    let version = line.rsplit(|b| *b == b' ').next().unwrap_or_default();
    matches!(version, [b'H', b'T', b'T', b'P', b'/', major, b'.', minor]
        if major.is_ascii_digit() && minor.is_ascii_digit())
        && line.iter().filter(|b| **b == b' ').count() == 2
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_text(text: &str) -> Result<Option<RequestHead>, BadRequest> {
        parse(&mut BytesMut::from(text), &mut Vec::new())
    }

    fn head(text: &str) -> RequestHead {
        parse_text(text).unwrap().unwrap()
    }

    fn status(text: &str) -> u16 {
        parse_text(text).err().unwrap().status.as_u16()
    }

    #[test]
    fn reads_targets_hosts_and_framing() {
        let h = head("GET /a/b?c=1 HTTP/1.1\r\nHost: Example.com:8080\r\n\r\n");
        assert_eq!(h.target(), "/a/b?c=1");
        assert_eq!(path_of(h.target()), "/a/b");
        assert_eq!(h.host(), Some("Example.com"));
        assert_eq!(h.host_field(), Some(&b"Example.com:8080"[..]));
        assert_eq!(h.framing, RequestFraming::None);
        assert!(h.keep_alive);

        let h = head("GET http://api.test:81?x HTTP/1.1\r\nHost: other\r\n\r\n");
        assert_eq!((h.host(), h.target()), (Some("api.test"), "/?x"));
        assert_eq!(h.named_host(), Some(&b"api.test:81"[..]));
        assert_eq!(h.host_field(), Some(&b"other"[..]));
        let h = head("GET / HTTP/1.1\r\nHost: Example.COM.:80\r\n\r\n");
        assert_eq!(h.host(), Some("Example.COM"));
        let h = head("OPTIONS http://[::1]:9 HTTP/1.1\r\nHost: x\r\n\r\n");
        assert_eq!((h.host(), h.target()), (Some("[::1]"), "/"));

        let h = head("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5, 5\r\n\r\n");
        assert_eq!(h.framing, RequestFraming::Length(5));
        let h = head(
            "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nExpect: 100-continue\r\nConnection: close, x-a\r\n\r\n",
        );
        assert_eq!(h.framing, RequestFraming::Chunked);
        assert!(h.expect_continue && h.connection_lists_fields && !h.keep_alive);

        let h = head("GET / HTTP/1.0\r\n\r\n");
        assert!(h.http10 && !h.keep_alive && h.host().is_none());
        assert!(head("GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n").keep_alive);
        assert!(
            parse_text("GET / HTTP/1.1\r\nHost: x\r\n")
                .unwrap()
                .is_none()
        );
    }

    #[test]
    fn refuses_what_cannot_be_framed_or_routed() {
        assert_eq!(status("GET / HTTP/1.1\r\n\r\n"), 400);
        assert_eq!(status("GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n"), 400);
        assert_eq!(
            status("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n"),
            400
        );
        assert_eq!(
            status("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: -1\r\n\r\n"),
            400
        );
        assert_eq!(
            status(
                "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nContent-Length: 1\r\n\r\n"
            ),
            400
        );
        assert_eq!(
            status("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip, chunked\r\n\r\n"),
            501
        );
        assert_eq!(
            status("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked, chunked\r\n\r\n"),
            501
        );
        assert_eq!(
            status("POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n"),
            400
        );
        assert_eq!(status("CONNECT a:443 HTTP/1.1\r\nHost: a\r\n\r\n"), 501);
        assert_eq!(status("GET ftp://a/ HTTP/1.1\r\nHost: a\r\n\r\n"), 400);
        assert_eq!(status("GET a/b HTTP/1.1\r\nHost: a\r\n\r\n"), 400);
        assert_eq!(status("GET / HTTP/2.0\r\nHost: a\r\n\r\n"), 505);
        assert_eq!(status("GET / FOO\r\nHost: a\r\n\r\n"), 400);
        assert_eq!(status("GET / HTTP/1.1 x\r\nHost: a\r\n\r\n"), 400);
        for host in [
            "a b", "user@x", "x/y", "###", "a:b", "a:123456", "[zz]", "a\\b",
        ] {
            let text = format!("GET / HTTP/1.1\r\nHost: {host}\r\n\r\n");
            assert_eq!(status(&text), 400, "Host: {host}");
        }
        assert_eq!(status("GET / HTTP/1.1\r\nHost:\r\n\r\n"), 400);
        assert_eq!(status("GET http://a\\@b/ HTTP/1.1\r\nHost: b\r\n\r\n"), 400);
        assert_eq!(status("GET http://u@b/ HTTP/1.1\r\nHost: b\r\n\r\n"), 400);
        assert_eq!(status("GET http:///x HTTP/1.1\r\nHost: b\r\n\r\n"), 400);
        let many = format!("GET / HTTP/1.1\r\n{}\r\n", "X-A: 1\r\n".repeat(101));
        assert_eq!(status(&many), 431);
        let long = format!("GET / HTTP/1.1\r\nX-A: {}", "a".repeat(MAX_REQUEST_HEAD));
        assert_eq!(status(&long), 431);
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(10_000))]

        #[test]
        fn any_bytes_parse_or_refuse_without_panic(
            wire in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..300),
        ) {
            let mut buf = BytesMut::from(&wire[..]);
            let mut fields = Vec::new();
            if let Ok(Some(head)) = parse(&mut buf, &mut fields) {
                // What was consumed is the head, and its spans lie inside it.
                proptest::prop_assert!(head.raw.len() <= wire.len());
                for f in &fields {
                    proptest::prop_assert!(f.value_end as usize <= head.raw.len());
                }
            }
        }

        #[test]
        fn well_formed_heads_read_back_as_written(
            method in "GET|HEAD|POST|PUT|DELETE|OPTIONS",
            path in "/[a-zA-Z0-9._~/-]{0,30}",
            query in proptest::option::of("[a-z0-9=&]{0,10}"),
            host in "[a-z][a-z0-9-]{0,10}(\\.[a-z]{2,5}){0,2}",
            port in proptest::option::of(1u16..),
            length in proptest::option::of(0u64..1_000_000),
            extra in proptest::collection::vec(("x-[a-z]{1,8}", "[ -~]{0,20}"), 0..5),
        ) {
            let target = match &query {
                Some(q) => format!("{path}?{q}"),
                None => path.clone(),
            };
            let authority = match port {
                Some(p) => format!("{host}:{p}"),
                None => host.clone(),
            };
            let mut text = format!("{method} {target} HTTP/1.1\r\nHost: {authority}\r\n");
            for (name, value) in &extra {
                text.push_str(&format!("{name}: {}\r\n", value.trim()));
            }
            if let Some(n) = length {
                text.push_str(&format!("Content-Length: {n}\r\n"));
            }
            text.push_str("\r\n");
            let mut buf = BytesMut::from(text.as_str());
            let mut fields = Vec::new();
            let head = parse(&mut buf, &mut fields).unwrap().unwrap();
            proptest::prop_assert!(buf.is_empty());
            proptest::prop_assert_eq!(head.method.as_str(), method.as_str());
            proptest::prop_assert_eq!(head.target(), target.as_str());
            proptest::prop_assert_eq!(head.host(), Some(host.as_str()));
            proptest::prop_assert_eq!(head.named_host(), Some(authority.as_bytes()));
            let framing = length.map_or(RequestFraming::None, RequestFraming::Length);
            proptest::prop_assert_eq!(head.framing, framing);
            proptest::prop_assert_eq!(fields.len(), 1 + extra.len() + usize::from(length.is_some()));
        }
    }
}
