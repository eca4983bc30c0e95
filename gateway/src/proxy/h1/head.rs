//! Response heads from upstreams (RFC 9112 §4–§6), kept as received: the fields are found
//! through offsets, and only the few that decide framing and reuse are interpreted.

use std::mem::MaybeUninit;

use bytes::{Bytes, BytesMut};
use http::{Method, StatusCode};
use switchyard_plugins::FieldSpan;

use super::H1Error;
use crate::proxy::fields::{Facts, Role, role};

/// A response head may not exceed this; the upstream is then broken, not the client.
pub const MAX_HEAD: usize = 64 * 1024;
const MAX_HEADERS: usize = 128;

/// How the response body is delimited.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ResponseFraming {
    Empty,
    Length(u64),
    Chunked,
    /// Until the upstream closes: the connection cannot be reused.
    UntilClose,
}

/// A parsed response head; its fields are in the vector `parse_response` filled.
pub struct Head {
    /// The head as received, status line included.
    pub raw: Bytes,
    pub status: StatusCode,
    /// The reason phrase's place in `raw`.
    pub reason: (u32, u32),
    pub framing: ResponseFraming,
    /// Whether the connection may carry another request once the body is read.
    pub reusable: bool,
    /// `Connection` names fields that are hop-by-hop for this message.
    pub connection_lists_fields: bool,
    /// The upstream dated its answer.
    pub dated: bool,
}

impl Head {
    pub fn reason(&self) -> &[u8] {
        self.raw
            .get(self.reason.0 as usize..self.reason.1 as usize)
            .unwrap_or_default()
    }
}

/// Whether the bytes read since `before` may complete a head (they hold a line feed), or
/// the buffer outgrew `limit` (parsing then reports it): parsing only then keeps a head
/// that trickles in from costing a parse per read.
pub fn head_may_end(buf: &[u8], before: usize, limit: usize) -> bool {
    buf.len() > limit || buf.get(before..).is_some_and(|new| new.contains(&b'\n'))
}

/// Records where each parsed field sits in `base` (the buffer `headers` borrow from).
pub fn record_spans(base: &[u8], headers: &[httparse::Header<'_>], spans: &mut Vec<FieldSpan>) {
    spans.clear();
    let at = |part: &[u8]| offset(base, part);
    spans.extend(headers.iter().map(|h| FieldSpan {
        name_start: at(h.name.as_bytes()),
        name_end: at(h.name.as_bytes()) + h.name.len() as u32,
        value_start: at(h.value),
        value_end: at(h.value) + h.value.len() as u32,
    }));
}

/// Where `part` (a slice of `base`) starts in `base`. Heads are at most 64 KiB.
pub fn offset(base: &[u8], part: &[u8]) -> u32 {
    (part.as_ptr() as usize).wrapping_sub(base.as_ptr() as usize) as u32
}

/// Parses one response head from the front of `buf`, consuming it, and records its fields
/// in `fields`. `Ok(None)`: incomplete. Informational (1xx) heads other than 101 are
/// consumed and skipped, except that `100 Continue` and `103 Early Hints` are written to
/// `interim` (when given; without hop-by-hop fields) and returned at once as `Ok(None)`
/// with `interim` non-empty, for the client to see before the final answer (RFC 9110
/// §15.2).
pub fn parse_response(
    buf: &mut BytesMut,
    request_method: &Method,
    fields: &mut Vec<FieldSpan>,
    mut interim: Option<&mut Vec<u8>>,
) -> Result<Option<Head>, H1Error> {
    loop {
        let mut slots = [const { MaybeUninit::<httparse::Header<'_>>::uninit() }; MAX_HEADERS];
        let mut parsed = httparse::Response::new(&mut []);
        let consumed = match httparse::ParserConfig::default().parse_response_with_uninit_headers(
            &mut parsed,
            buf,
            &mut slots,
        ) {
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
        if status == StatusCode::SWITCHING_PROTOCOLS {
            return Err(H1Error::Upgrade);
        }
        if status.is_informational() {
            if let Some(out) = interim.as_deref_mut()
                && (code == 100 || code == 103)
            {
                write_interim(out, status, parsed.headers);
                let _ = buf.split_to(consumed);
                return Ok(None);
            }
            let _ = buf.split_to(consumed);
            continue;
        }
        let http10 = parsed.version == Some(0);
        let reason_start = offset(buf, parsed.reason.unwrap_or_default().as_bytes());
        let reason = (
            reason_start,
            reason_start + parsed.reason.map_or(0, str::len) as u32,
        );
        let facts = Facts::gather(parsed.headers.iter().map(|h| (h.name.as_bytes(), h.value)));
        let framing = framing(request_method, status, &facts)?;
        // Both Transfer-Encoding and Content-Length: read as chunked, but such a sender
        // cannot be trusted with the next response on this connection (RFC 9112 §6.3).
        let both_lengths = facts.transfer_encoding.is_some() && facts.length != Ok(None);
        let reusable =
            framing != ResponseFraming::UntilClose && facts.keeps_alive(http10) && !both_lengths;
        let (connection_lists_fields, dated) = (facts.lists_fields, facts.dated);
        record_spans(buf, parsed.headers, fields);
        let raw = buf.split_to(consumed).freeze();
        return Ok(Some(Head {
            raw,
            status,
            reason,
            framing,
            reusable,
            connection_lists_fields,
            dated,
        }));
    }
}

/// An informational head as the client receives it: its end-to-end fields only.
fn write_interim(out: &mut Vec<u8>, status: StatusCode, headers: &[httparse::Header<'_>]) {
    out.clear();
    out.extend_from_slice(b"HTTP/1.1 ");
    out.extend_from_slice(status.as_str().as_bytes());
    out.push(b' ');
    out.extend_from_slice(status.canonical_reason().unwrap_or("").as_bytes());
    out.extend_from_slice(b"\r\n");
    for h in headers {
        if role(h.name.as_bytes()) == Role::EndToEnd {
            out.extend_from_slice(h.name.as_bytes());
            out.extend_from_slice(b": ");
            out.extend_from_slice(h.value);
            out.extend_from_slice(b"\r\n");
        }
    }
    out.extend_from_slice(b"\r\n");
}

/// RFC 9112 §6.3, in its order.
fn framing(
    method: &Method,
    status: StatusCode,
    facts: &Facts<'_>,
) -> Result<ResponseFraming, H1Error> {
    if method == Method::HEAD
        || status == StatusCode::NO_CONTENT
        || status == StatusCode::NOT_MODIFIED
    {
        return Ok(ResponseFraming::Empty);
    }
    if facts.transfer_encoding.is_some() {
        // Transfer-Encoding overrides Content-Length; the client gets its own framing.
        // Other codings (`gzip, chunked`) would have to reach the client as codings, which
        // an HTTP/1.0 client cannot take: refused (502) rather than passed on undeclared.
        if !facts.only_chunked {
            return Err(H1Error::Malformed(
                "a transfer coding other than chunked (not passed on)",
            ));
        }
        return Ok(ResponseFraming::Chunked);
    }
    Ok(
        match facts
            .length
            .map_err(|()| H1Error::Malformed("bad or conflicting Content-Length"))?
        {
            Some(0) => ResponseFraming::Empty,
            Some(n) => ResponseFraming::Length(n),
            None => ResponseFraming::UntilClose,
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str, method: Method) -> Result<Option<Head>, H1Error> {
        parse_response(&mut BytesMut::from(text), &method, &mut Vec::new(), None)
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
        let both = parse(
            &format!("{ok}transfer-encoding: chunked\r\ncontent-length: 9\r\n\r\n"),
            Method::GET,
        )
        .unwrap()
        .unwrap();
        assert_eq!(both.framing, ResponseFraming::Chunked);
        assert!(
            !both.reusable,
            "a sender of both lengths gets no second request"
        );
        for codings in ["gzip, chunked", "gzip", "chunked, gzip"] {
            assert!(matches!(
                parse(
                    &format!("{ok}transfer-encoding: {codings}\r\n\r\n"),
                    Method::GET
                ),
                Err(H1Error::Malformed(_))
            ));
        }
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
        assert!(parse(&format!("{ok}content-length: +1\r\n\r\n"), Method::GET).is_err());
    }

    #[test]
    fn skips_informational_heads_and_decides_reuse() {
        let head = parse(
            "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 201 Created\r\ncontent-length: 0\r\n\r\n",
            Method::POST,
        )
        .unwrap()
        .unwrap();
        assert_eq!(head.status, 201);
        assert_eq!(head.reason(), b"Created");
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
            "HTTP/1.0 200 OK\r\nConnection: Keep-Alive\r\ncontent-length: 1\r\n\r\n",
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
    fn continue_and_early_hints_are_handed_out_before_the_answer() {
        let mut buf = BytesMut::from(
            "HTTP/1.1 103 Early Hints\r\nLink: </a.css>\r\nConnection: x\r\n\r\n\
             HTTP/1.1 102 Processing\r\n\r\nHTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n",
        );
        let mut interim = Vec::new();
        let got = parse_response(&mut buf, &Method::GET, &mut Vec::new(), Some(&mut interim));
        assert!(matches!(got, Ok(None)));
        assert_eq!(
            interim,
            b"HTTP/1.1 103 Early Hints\r\nLink: </a.css>\r\n\r\n"
        );
        interim.clear();
        let head = parse_response(&mut buf, &Method::GET, &mut Vec::new(), Some(&mut interim))
            .unwrap()
            .unwrap();
        assert_eq!(head.status, 200);
        assert!(interim.is_empty(), "102 is not passed on");
    }

    #[test]
    fn only_reads_with_a_line_feed_or_past_the_limit_are_worth_parsing() {
        assert!(!head_may_end(b"GET / HTTP/1.1\r\nHost: a", 16, 64));
        assert!(head_may_end(b"GET / HTTP/1.1\r\nHost: a\r\n", 16, 64));
        assert!(head_may_end(b"GET / HTTP/1.1\r\n", 0, 64));
        assert!(head_may_end(&[b'a'; 65], 64, 64));
        assert!(!head_may_end(b"abc", 9, 64));
    }

    #[test]
    fn consumes_exactly_the_head_and_records_its_fields() {
        let mut buf =
            BytesMut::from("HTTP/1.1 200 OK\r\nContent-Length: 3\r\nX-A: b\r\n\r\nabcHTTP");
        let mut fields = Vec::new();
        let head = parse_response(&mut buf, &Method::GET, &mut fields, None)
            .unwrap()
            .unwrap();
        let headers = switchyard_plugins::Headers::new(&head.raw, &fields);
        assert_eq!(headers.get("content-length"), Some(&b"3"[..]));
        assert_eq!(headers.iter().nth(1), Some((&b"X-A"[..], &b"b"[..])));
        assert_eq!(&buf[..], b"abcHTTP");
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(10_000))]

        #[test]
        fn any_bytes_parse_or_fail_without_panic(
            wire in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..300),
            head_request in proptest::prelude::any::<bool>(),
        ) {
            let method = if head_request { Method::HEAD } else { Method::GET };
            let mut buf = BytesMut::from(&wire[..]);
            if let Ok(Some(head)) = parse_response(&mut buf, &method, &mut Vec::new(), None) {
                proptest::prop_assert!(head.raw.len() <= wire.len());
            }
        }

        #[test]
        fn well_formed_heads_frame_by_the_rfc(
            status in 200u16..600,
            length in proptest::option::of(0u64..1_000_000_000),
            chunked in proptest::prelude::any::<bool>(),
            close in proptest::prelude::any::<bool>(),
            informational in 0usize..3,
        ) {
            let mut text = "HTTP/1.1 103 Early Hints\r\nlink: </a>\r\n\r\n".repeat(informational);
            text.push_str(&format!("HTTP/1.1 {status} Something\r\n"));
            if let Some(n) = length {
                text.push_str(&format!("content-length: {n}\r\n"));
            }
            if chunked {
                text.push_str("transfer-encoding: chunked\r\n");
            }
            if close {
                text.push_str("connection: close\r\n");
            }
            text.push_str("\r\n");
            let head = parse(&text, Method::GET).unwrap().unwrap();
            proptest::prop_assert_eq!(head.status.as_u16(), status);
            let bodiless = status == 204 || status == 304;
            let want = if bodiless {
                ResponseFraming::Empty
            } else if chunked {
                ResponseFraming::Chunked
            } else {
                match length {
                    Some(0) => ResponseFraming::Empty,
                    Some(n) => ResponseFraming::Length(n),
                    None => ResponseFraming::UntilClose,
                }
            };
            proptest::prop_assert_eq!(head.framing, want);
            let reusable = !close
                && want != ResponseFraming::UntilClose
                && !(chunked && length.is_some());
            proptest::prop_assert_eq!(head.reusable, reusable);
        }
    }
}
