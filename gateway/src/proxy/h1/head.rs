//! Request heads out, response heads in (RFC 9112 §3–§6).

use std::net::SocketAddr;

use bytes::BytesMut;
use http::header::{CONNECTION, CONTENT_LENGTH, HOST, TRANSFER_ENCODING};
use http::{HeaderMap, HeaderName, HeaderValue, Method, Response, StatusCode, Version};

use super::H1Error;

/// A response head may not exceed this; the upstream is then broken, not the client.
pub const MAX_HEAD: usize = 64 * 1024;
const MAX_HEADERS: usize = 128;

/// How the request body goes out.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RequestFraming {
    None,
    /// As many bytes as the `Content-Length` the client sent.
    Length,
    /// Unknown length: chunked transfer coding.
    Chunked,
}

/// Writes `METHOD target HTTP/1.1`, the headers, and the framing header when the body needs
/// one. Adds `Host` (the upstream's address) when the client sent none (HTTP/1.0).
pub fn write_request(
    out: &mut Vec<u8>,
    method: &Method,
    target: &str,
    headers: &HeaderMap,
    framing: RequestFraming,
    upstream: SocketAddr,
) {
    out.clear();
    out.extend_from_slice(method.as_str().as_bytes());
    out.push(b' ');
    out.extend_from_slice(target.as_bytes());
    out.extend_from_slice(b" HTTP/1.1\r\n");
    for (name, value) in headers {
        out.extend_from_slice(name.as_str().as_bytes());
        out.extend_from_slice(b": ");
        out.extend_from_slice(value.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    if !headers.contains_key(HOST) {
        use std::io::Write as _;
        let _ = write!(out, "host: {upstream}\r\n");
    }
    if framing == RequestFraming::Chunked {
        out.extend_from_slice(b"transfer-encoding: chunked\r\n");
    }
    out.extend_from_slice(b"\r\n");
}

/// How the response body is delimited.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ResponseFraming {
    Empty,
    Length(u64),
    Chunked,
    /// Until the upstream closes: the connection cannot be reused.
    UntilClose,
}

/// A parsed response head.
pub struct Head {
    pub response: Response<()>,
    pub framing: ResponseFraming,
    /// Whether the connection may carry another request once the body is read.
    pub reusable: bool,
}

/// Parses one response head from the front of `buf`, consuming it. `Ok(None)`: incomplete.
/// Informational (1xx) heads other than 101 are consumed and skipped.
pub fn parse_response(
    buf: &mut BytesMut,
    request_method: &Method,
) -> Result<Option<Head>, H1Error> {
    loop {
        let mut slots = [httparse::EMPTY_HEADER; MAX_HEADERS];
        let mut parsed = httparse::Response::new(&mut slots);
        let consumed = match parsed.parse(buf) {
            Ok(httparse::Status::Complete(n)) => n,
            Ok(httparse::Status::Partial) if buf.len() > MAX_HEAD => {
                return Err(H1Error::HeadTooLarge);
            }
            Ok(httparse::Status::Partial) => return Ok(None),
            Err(httparse::Error::TooManyHeaders) => {
                return Err(H1Error::Malformed("more than 128 header fields"));
            }
            Err(_) => return Err(H1Error::Malformed("not an HTTP/1.x response head")),
        };
        let code = parsed.code.unwrap_or(0);
        let status =
            StatusCode::from_u16(code).map_err(|_| H1Error::Malformed("status out of range"))?;
        let http10 = parsed.version == Some(0);
        if status == StatusCode::SWITCHING_PROTOCOLS {
            return Err(H1Error::Upgrade);
        }
        if status.is_informational() {
            let _ = buf.split_to(consumed);
            continue;
        }
        let mut headers = HeaderMap::with_capacity(parsed.headers.len());
        for h in parsed.headers.iter() {
            let name = HeaderName::from_bytes(h.name.as_bytes())
                .map_err(|_| H1Error::Malformed("invalid header name"))?;
            let value = HeaderValue::from_bytes(h.value)
                .map_err(|_| H1Error::Malformed("invalid header value"))?;
            headers.append(name, value);
        }
        let _ = buf.split_to(consumed);
        let framing = framing(request_method, status, &mut headers)?;
        let reusable = framing != ResponseFraming::UntilClose && keeps_alive(http10, &headers);
        let mut response = Response::new(());
        *response.status_mut() = status;
        *response.version_mut() = if http10 {
            Version::HTTP_10
        } else {
            Version::HTTP_11
        };
        *response.headers_mut() = headers;
        return Ok(Some(Head {
            response,
            framing,
            reusable,
        }));
    }
}

/// RFC 9112 §6.3, in its order.
fn framing(
    method: &Method,
    status: StatusCode,
    headers: &mut HeaderMap,
) -> Result<ResponseFraming, H1Error> {
    if method == Method::HEAD
        || status == StatusCode::NO_CONTENT
        || status == StatusCode::NOT_MODIFIED
    {
        return Ok(ResponseFraming::Empty);
    }
    if headers.contains_key(TRANSFER_ENCODING) {
        let chunked_last = headers
            .get_all(TRANSFER_ENCODING)
            .iter()
            .next_back()
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.rsplit(',').next())
            .is_some_and(|coding| coding.trim().eq_ignore_ascii_case("chunked"));
        // Transfer-Encoding overrides Content-Length; the client gets its own framing.
        headers.remove(CONTENT_LENGTH);
        return Ok(if chunked_last {
            ResponseFraming::Chunked
        } else {
            ResponseFraming::UntilClose
        });
    }
    let mut length = None;
    for value in headers.get_all(CONTENT_LENGTH) {
        let text = value
            .to_str()
            .map_err(|_| H1Error::Malformed("bad Content-Length"))?;
        for part in text.split(',') {
            let n: u64 = part
                .trim()
                .parse()
                .map_err(|_| H1Error::Malformed("bad Content-Length"))?;
            if length.is_some_and(|l| l != n) {
                return Err(H1Error::Malformed("conflicting Content-Length values"));
            }
            length = Some(n);
        }
    }
    Ok(match length {
        Some(0) => ResponseFraming::Empty,
        Some(n) => ResponseFraming::Length(n),
        None => ResponseFraming::UntilClose,
    })
}

fn keeps_alive(http10: bool, headers: &HeaderMap) -> bool {
    let mut close = http10;
    for value in headers.get_all(CONNECTION) {
        for token in value.as_bytes().split(|b| *b == b',') {
            let token = token.trim_ascii();
            if token.eq_ignore_ascii_case(b"close") {
                return false;
            }
            if token.eq_ignore_ascii_case(b"keep-alive") {
                close = false;
            }
        }
    }
    !close
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str, method: Method) -> Result<Option<Head>, H1Error> {
        parse_response(&mut BytesMut::from(text), &method)
    }

    #[test]
    fn frames_by_the_rules_of_rfc_9112() {
        let framing = |text: &str, method: Method| parse(text, method).unwrap().unwrap().framing;
        let ok = "HTTP/1.1 200 OK\r\n";
        assert_eq!(
            framing(&format!("{ok}content-length: 5\r\n\r\n"), Method::GET),
            ResponseFraming::Length(5)
        );
        assert_eq!(
            framing(&format!("{ok}content-length: 5\r\n\r\n"), Method::HEAD),
            ResponseFraming::Empty
        );
        assert_eq!(
            framing(&format!("{ok}content-length: 0\r\n\r\n"), Method::GET),
            ResponseFraming::Empty
        );
        assert_eq!(
            framing("HTTP/1.1 204 No Content\r\n\r\n", Method::GET),
            ResponseFraming::Empty
        );
        assert_eq!(
            framing(
                "HTTP/1.1 304 Not Modified\r\ncontent-length: 9\r\n\r\n",
                Method::GET
            ),
            ResponseFraming::Empty
        );
        assert_eq!(
            framing(
                &format!("{ok}transfer-encoding: gzip, chunked\r\ncontent-length: 9\r\n\r\n"),
                Method::GET
            ),
            ResponseFraming::Chunked
        );
        assert_eq!(
            framing(&format!("{ok}transfer-encoding: gzip\r\n\r\n"), Method::GET),
            ResponseFraming::UntilClose
        );
        assert_eq!(
            framing(&format!("{ok}\r\n"), Method::GET),
            ResponseFraming::UntilClose
        );
        assert_eq!(
            framing(&format!("{ok}content-length: 7, 7\r\n\r\n"), Method::GET),
            ResponseFraming::Length(7)
        );
        assert!(
            parse(
                &format!("{ok}content-length: 7\r\ncontent-length: 8\r\n\r\n"),
                Method::GET
            )
            .is_err()
        );
        assert!(parse(&format!("{ok}content-length: -1\r\n\r\n"), Method::GET).is_err());
    }

    #[test]
    fn skips_informational_heads_and_decides_reuse() {
        let head = parse(
            "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 201 Created\r\ncontent-length: 0\r\n\r\n",
            Method::POST,
        )
        .unwrap()
        .unwrap();
        assert_eq!(head.response.status(), 201);
        assert!(head.reusable);
        let close = parse(
            "HTTP/1.1 200 OK\r\nconnection: close\r\ncontent-length: 1\r\n\r\n",
            Method::GET,
        )
        .unwrap()
        .unwrap();
        assert!(!close.reusable);
        let old = parse("HTTP/1.0 200 OK\r\ncontent-length: 1\r\n\r\n", Method::GET)
            .unwrap()
            .unwrap();
        assert!(!old.reusable);
        let old_kept = parse(
            "HTTP/1.0 200 OK\r\nconnection: keep-alive\r\ncontent-length: 1\r\n\r\n",
            Method::GET,
        )
        .unwrap()
        .unwrap();
        assert!(old_kept.reusable);
        assert!(
            parse("HTTP/1.1 200 OK\r\ncontent-len", Method::GET)
                .unwrap()
                .is_none()
        );
        assert!(matches!(
            parse("HTTP/1.1 101 Switching Protocols\r\n\r\n", Method::GET),
            Err(H1Error::Upgrade)
        ));
        assert!(matches!(
            parse("SSH-2.0-OpenSSH\r\n\r\n", Method::GET),
            Err(H1Error::Malformed(_))
        ));
    }

    #[test]
    fn consumes_exactly_the_head() {
        let mut buf = BytesMut::from("HTTP/1.1 200 OK\r\ncontent-length: 3\r\n\r\nabcHTTP");
        let head = parse_response(&mut buf, &Method::GET).unwrap().unwrap();
        assert_eq!(head.response.headers()["content-length"], "3");
        assert_eq!(&buf[..], b"abcHTTP");
    }

    #[test]
    fn writes_request_heads_with_host_and_framing() {
        let mut out = Vec::new();
        let mut headers = HeaderMap::new();
        headers.insert("x-a", HeaderValue::from_static("1"));
        let upstream: SocketAddr = "127.0.0.1:9000".parse().unwrap();
        write_request(
            &mut out,
            &Method::POST,
            "/p?q=1",
            &headers,
            RequestFraming::Chunked,
            upstream,
        );
        assert_eq!(
            String::from_utf8(out.clone()).unwrap(),
            "POST /p?q=1 HTTP/1.1\r\nx-a: 1\r\nhost: 127.0.0.1:9000\r\ntransfer-encoding: chunked\r\n\r\n"
        );
        headers.insert(HOST, HeaderValue::from_static("example.com"));
        write_request(
            &mut out,
            &Method::GET,
            "/",
            &headers,
            RequestFraming::None,
            upstream,
        );
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "GET / HTTP/1.1\r\nx-a: 1\r\nhost: example.com\r\n\r\n"
        );
    }
}
