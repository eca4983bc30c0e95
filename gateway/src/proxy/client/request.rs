//! Request heads from clients (RFC 9112 §2–§6), parsed once and kept as received: routing,
//! policies and the upstream request read the fields in place.

use std::mem::MaybeUninit;

use bytes::{Bytes, BytesMut};
use http::{Method, StatusCode};
use switchyard_plugins::FieldSpan;

use crate::proxy::fields::{Facts, Role, role};
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
    /// The host to route on, without port: from an absolute-form target or the Host field.
    host: Option<(u32, u32)>,
    /// The whole Host field value, for `X-Forwarded-Host`.
    pub host_field: Option<(u32, u32)>,
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
        Err(httparse::Error::Version) => {
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
    let (target, uri_host) = target_of(buf, raw_target)?;
    let facts = Facts::gather(parsed.headers.iter().map(|h| (h.name.as_bytes(), h.value)));
    if facts.host_fields > 1 {
        return Err(bad("more than one Host field"));
    }
    let length = facts
        .length
        .map_err(|()| bad("bad or conflicting Content-Length"))?;
    let chunked = facts.transfer_encoding.is_some();
    if chunked {
        only_chunked(parsed.headers)?;
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
    let host = match (uri_host, host_field) {
        (Some(span), _) => Some(span),
        (None, Some(field)) => Some(strip_port(buf, field)),
        (None, None) if !http10 => return Err(bad("HTTP/1.1 request without a Host field")),
        (None, None) => None,
    };
    if let Some((start, end)) = host
        && buf
            .get(start as usize..end as usize)
            .is_none_or(|text| std::str::from_utf8(text).is_err())
    {
        return Err(bad("Host is not valid text"));
    }
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
        framing,
        keep_alive,
        expect_continue,
        connection_lists_fields,
    }))
}

/// Only `chunked`, once, is understood; with anything else the body's end is unknown.
fn only_chunked(headers: &[httparse::Header<'_>]) -> Result<(), BadRequest> {
    let codings = headers
        .iter()
        .filter(|h| role(h.name.as_bytes()) == Role::TransferEncoding)
        .flat_map(|h| h.value.split(|b| *b == b','));
    let mut seen = 0;
    for coding in codings {
        seen += 1;
        if seen > 1 || !coding.trim_ascii().eq_ignore_ascii_case(b"chunked") {
            return Err(BadRequest {
                status: StatusCode::NOT_IMPLEMENTED,
                why: "only the chunked transfer coding is supported",
            });
        }
    }
    Ok(())
}

fn too_large(why: &'static str) -> BadRequest {
    BadRequest {
        status: StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
        why,
    }
}

/// The origin-form target, and the host span of an absolute-form one (RFC 9112 §3.2).
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
    let host_and_port = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    if host_and_port.is_empty() {
        return Err(bad("absolute URI without a host"));
    }
    let host_start = offset(buf, host_and_port.as_bytes());
    let host = strip_port(buf, (host_start, host_start + host_and_port.len() as u32));
    let path = &rest[authority_end..];
    let origin = if path.is_empty() {
        Target::Root
    } else if path.starts_with('/') {
        let path_start = offset(buf, path.as_bytes());
        Target::Span(path_start, path_start + path.len() as u32)
    } else {
        Target::Owned(format!("/{path}").into_boxed_str())
    };
    Ok((origin, Some(host)))
}

/// The span without a `:port` suffix; an IPv6 literal keeps its brackets.
fn strip_port(buf: &[u8], (start, end): (u32, u32)) -> (u32, u32) {
    let host = buf.get(start as usize..end as usize).unwrap_or_default();
    let len = if host.first() == Some(&b'[') {
        host.iter()
            .position(|b| *b == b']')
            .map_or(host.len(), |i| i + 1)
    } else {
        host.iter().rposition(|b| *b == b':').unwrap_or(host.len())
    };
    (start, start + len as u32)
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

        let h = head("GET http://u@api.test:81?x HTTP/1.1\r\nHost: other\r\n\r\n");
        assert_eq!((h.host(), h.target()), (Some("api.test"), "/?x"));
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
        let many = format!("GET / HTTP/1.1\r\n{}\r\n", "X-A: 1\r\n".repeat(101));
        assert_eq!(status(&many), 431);
        let long = format!("GET / HTTP/1.1\r\nX-A: {}", "a".repeat(MAX_REQUEST_HEAD));
        assert_eq!(status(&long), 431);
    }
}
