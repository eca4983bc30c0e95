//! The heads that cross the proxy, written straight from the received bytes: the client's
//! request to the upstream, the upstream's response to the client. Hop-by-hop fields (RFC
//! 9110 §7.6.1) are per connection and stay behind, including every name `Connection`
//! lists; `X-Forwarded-*` tell the upstream who asked. Field names keep the sender's case.

use http::StatusCode;
use switchyard_plugins::{FieldSpan, Headers};

use super::client::RequestHead;
use super::date::write_date_field;
use super::fields::{Role, connection_listed, role, underscored_forwarding};
use super::h1::head::ResponseFraming;
use super::h1::{Head, RequestFraming};
use super::respond::ResponseAdditions;
use super::transform::RequestOverlay;
use super::wire::push_decimal;

fn field(out: &mut Vec<u8>, name: &[u8], value: &[u8]) {
    out.extend_from_slice(name);
    out.extend_from_slice(b": ");
    out.extend_from_slice(value);
    out.extend_from_slice(b"\r\n");
}

/// A received field passed on as received: name, colon and value are one run of the head's
/// bytes, so one copy (plus the line end) instead of four.
fn pass_on(out: &mut Vec<u8>, head: &[u8], span: &FieldSpan) {
    let line = head
        .get(span.name_start as usize..span.value_end as usize)
        .unwrap_or_default();
    out.extend_from_slice(line);
    out.extend_from_slice(b"\r\n");
}

fn content_length(out: &mut Vec<u8>, n: u64) {
    out.extend_from_slice(b"content-length: ");
    push_decimal(out, n);
    out.extend_from_slice(b"\r\n");
}

/// Whether a field an answer of the gateway's own carries may go to the client: framing,
/// connection and date fields are the gateway's to write.
pub fn own_answer_may_carry(name: &str) -> bool {
    matches!(
        role(name.as_bytes()),
        Role::EndToEnd
            | Role::Host
            | Role::Expect
            | Role::XForwardedFor
            | Role::XForwardedOther
            | Role::ClientClaim
    )
}

/// Who asked, as the upstream is told.
pub struct Forwarded<'a> {
    /// The address of the peer that connected to the gateway.
    pub peer_ip: &'a str,
    /// `http` or `https`.
    pub proto: &'a str,
    /// The peer is one of `trusted_proxies`: its `X-Forwarded-*`, `Forwarded` and
    /// `X-Real-IP` are kept (the chain extended); from any other peer they are replaced,
    /// so a client cannot forge the address an upstream or a policy sees.
    pub trusted_peer: bool,
    /// Drop every field whose name contains `_` (`header_underscores = "drop"`).
    pub drop_underscored: bool,
}

/// Writes the request the upstream receives into `out`: origin-form `target`, HTTP/1.1,
/// the end-to-end fields (with the route's `overlay` applied), `X-Forwarded-*`, the body's
/// framing. Returns whether the request named no host (HTTP/1.0 without Host), in which
/// case the head is left open for each attempt to name its upstream.
pub fn write_upstream(
    out: &mut Vec<u8>,
    req: &RequestHead,
    target: &str,
    fields: &[FieldSpan],
    by: &Forwarded<'_>,
    framing: RequestFraming,
    overlay: Option<&RequestOverlay<'_>>,
) -> bool {
    out.clear();
    out.extend_from_slice(req.method.as_str().as_bytes());
    out.push(b' ');
    out.extend_from_slice(target.as_bytes());
    out.extend_from_slice(b" HTTP/1.1\r\n");
    let headers = Headers::new(&req.raw, fields);
    let listed = if req.connection_lists_fields {
        connection_listed(headers.iter())
    } else {
        Vec::new()
    };
    // An absolute-form target names the host; the Host field is replaced by it. A route
    // that sets `host` replaces both.
    let host_set = overlay.is_some_and(RequestOverlay::sets_host);
    let authority = req.authority().filter(|_| !host_set);
    let mut prior_forwarded_for = None::<Vec<u8>>;
    let (mut passed_proto, mut passed_host) = (false, false);
    for span in fields {
        let (name, value) = (span.name(&req.raw), span.value(&req.raw));
        match role(name) {
            Role::EndToEnd if listed.iter().any(|l| l.eq_ignore_ascii_case(name)) => {}
            Role::EndToEnd
                if (by.drop_underscored && name.contains(&b'_'))
                    || underscored_forwarding(name) => {}
            Role::Host if authority.is_some() || host_set => {}
            Role::EndToEnd if overlay.is_some_and(|o| o.drops(name)) => {}
            Role::EndToEnd | Role::Host | Role::Date => pass_on(out, &req.raw, span),
            // Answered here: the gateway sends `100 Continue` itself as it reads the body.
            Role::Expect if req.expect_continue => {}
            Role::Expect => pass_on(out, &req.raw, span),
            Role::XForwardedFor if by.trusted_peer => {
                let joined = prior_forwarded_for.get_or_insert_with(Vec::new);
                if !joined.is_empty() {
                    joined.extend_from_slice(b", ");
                }
                joined.extend_from_slice(value);
            }
            Role::XForwardedOther if by.trusted_peer => {
                // `x-forwarded-host` is 16 bytes, `x-forwarded-proto` 17.
                if name.len() == 16 {
                    passed_host = true;
                } else {
                    passed_proto = true;
                }
                pass_on(out, &req.raw, span);
            }
            Role::ClientClaim if by.trusted_peer => pass_on(out, &req.raw, span),
            Role::Connection
            | Role::TransferEncoding
            | Role::ContentLength
            | Role::XForwardedFor
            | Role::XForwardedOther
            | Role::ClientClaim
            | Role::HopByHop => {}
        }
    }
    if let Some(authority) = authority {
        field(out, b"host", authority);
    }
    if let Some(overlay) = overlay {
        for (name, value) in overlay.edits.written() {
            field(out, name.as_str().as_bytes(), value.as_bytes());
        }
        if let Some(id) = overlay.request_id {
            field(out, b"x-request-id", id.as_bytes());
        }
    }
    out.extend_from_slice(b"x-forwarded-for: ");
    if let Some(prior) = prior_forwarded_for {
        out.extend_from_slice(&prior);
        out.extend_from_slice(b", ");
    }
    out.extend_from_slice(by.peer_ip.as_bytes());
    out.extend_from_slice(b"\r\n");
    if !passed_proto {
        field(out, b"x-forwarded-proto", by.proto.as_bytes());
    }
    if !passed_host && let Some(host) = req.named_host() {
        field(out, b"x-forwarded-host", host);
    }
    match framing {
        RequestFraming::None => {}
        RequestFraming::Length(n) => content_length(out, n),
        RequestFraming::Chunked => out.extend_from_slice(b"transfer-encoding: chunked\r\n"),
    }
    let host_missing = req.named_host().is_none() && !host_set;
    if !host_missing {
        out.extend_from_slice(b"\r\n");
    }
    host_missing
}

/// How the client receives a response body.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ClientFraming {
    /// No body; the upstream's `Content-Length` (if any) describes the resource (HEAD, 304).
    Bodiless,
    Length(u64),
    Chunked,
    /// HTTP/1.0 client, length unknown: the body ends when the connection closes.
    UntilClose,
}

impl ClientFraming {
    pub fn of(head: &Head, http10_client: bool) -> Self {
        match head.framing {
            ResponseFraming::Empty => ClientFraming::Bodiless,
            ResponseFraming::Length(n) => ClientFraming::Length(n),
            ResponseFraming::Chunked | ResponseFraming::UntilClose if http10_client => {
                ClientFraming::UntilClose
            }
            ResponseFraming::Chunked | ResponseFraming::UntilClose => ClientFraming::Chunked,
        }
    }
}

/// Writes the response head the client receives into `out`, with what the gateway adds.
pub fn write_client(
    out: &mut Vec<u8>,
    head: &Head,
    fields: &[FieldSpan],
    framing: ClientFraming,
    additions: &ResponseAdditions,
    connection: Option<&str>,
) {
    let overlay = additions.overlay.as_deref();
    status_line(out, head.status, head.reason());
    let headers = Headers::new(&head.raw, fields);
    let listed = if head.connection_lists_fields {
        connection_listed(headers.iter())
    } else {
        Vec::new()
    };
    let mut length_passed = false;
    for span in fields {
        let name = span.name(&head.raw);
        match role(name) {
            Role::Connection | Role::TransferEncoding | Role::HopByHop => {}
            Role::ContentLength => {
                // A bodiless answer's length describes the resource: passed on once. Other
                // bodies get the length written below, from the framing actually used.
                if framing == ClientFraming::Bodiless
                    && head.status != StatusCode::NO_CONTENT
                    && !length_passed
                {
                    pass_on(out, &head.raw, span);
                    length_passed = true;
                }
            }
            _ if !listed.is_empty() && listed.iter().any(|l| l.eq_ignore_ascii_case(name)) => {}
            _ if overlay.is_some_and(|o| o.drops(name)) => {}
            _ => pass_on(out, &head.raw, span),
        }
    }
    if let Some(overlay) = overlay {
        for (name, value) in overlay.written() {
            field(out, name, value);
        }
    }
    if !head.dated {
        // A proxy with a clock dates the answers that come without (RFC 9110 §6.6.1).
        write_date_field(out);
    }
    match framing {
        ClientFraming::Bodiless | ClientFraming::UntilClose => {}
        ClientFraming::Length(n) => content_length(out, n),
        ClientFraming::Chunked => out.extend_from_slice(b"transfer-encoding: chunked\r\n"),
    }
    if let Some(cookie) = &additions.set_cookie {
        field(out, b"set-cookie", cookie.as_bytes());
    }
    if let Some(connection) = connection {
        field(out, b"connection", connection.as_bytes());
    }
    out.extend_from_slice(b"\r\n");
}

/// `HTTP/1.1 <code> <reason>`: a server answers in its own version (RFC 9110 §6.2).
pub fn status_line(out: &mut Vec<u8>, status: StatusCode, reason: &[u8]) {
    out.extend_from_slice(b"HTTP/1.1 ");
    out.extend_from_slice(status.as_str().as_bytes());
    out.push(b' ');
    out.extend_from_slice(reason);
    out.extend_from_slice(b"\r\n");
}

#[cfg(test)]
mod tests {
    use bytes::BytesMut;
    use http::Method;

    use super::*;
    use crate::proxy::client::parse_head;
    use crate::proxy::h1::head::parse_response;

    fn upstream_head(request: &str, framing: RequestFraming) -> (String, bool) {
        upstream_head_from(request, framing, false)
    }

    fn upstream_head_from(
        request: &str,
        framing: RequestFraming,
        trusted_peer: bool,
    ) -> (String, bool) {
        let mut fields = Vec::new();
        let head = parse_head(&mut BytesMut::from(request), &mut fields)
            .unwrap()
            .unwrap();
        let mut out = Vec::new();
        let by = Forwarded {
            peer_ip: "10.1.2.3",
            proto: "http",
            trusted_peer,
            drop_underscored: true,
        };
        let host_missing =
            write_upstream(&mut out, &head, head.target(), &fields, &by, framing, None);
        (String::from_utf8(out).unwrap(), host_missing)
    }

    #[test]
    fn upstream_gets_end_to_end_fields_and_who_asked() {
        let (head, host_missing) = upstream_head_from(
            "POST http://api.test/a?b HTTP/1.1\r\nHost: api.test:8080\r\n\
             Connection: close, X-Secret\r\nKeep-Alive: 5\r\nX-Secret: 1\r\nTE: trailers\r\n\
             Upgrade: ws\r\nX-Forwarded-For: 1.1.1.1\r\nx-forwarded-for: 2.2.2.2\r\n\
             X-Forwarded-Proto: https\r\nX-Forwarded-Host: evil\r\nExpect: 100-continue\r\n\
             Content-Length: 3\r\nProxy-Authorization: x\r\nX-Kept: yes\r\n\r\n",
            RequestFraming::Length(3),
            true,
        );
        assert!(!host_missing);
        // From a trusted proxy: the chain is extended, its proto and host kept; the
        // absolute-form target's authority is the Host.
        assert_eq!(
            head,
            "POST /a?b HTTP/1.1\r\nX-Forwarded-Proto: https\r\nX-Forwarded-Host: evil\r\n\
             X-Kept: yes\r\nhost: api.test\r\n\
             x-forwarded-for: 1.1.1.1, 2.2.2.2, 10.1.2.3\r\ncontent-length: 3\r\n\r\n"
        );
        // From anyone else every forwarding claim is replaced by the gateway's own.
        let (head, _) = upstream_head(
            "GET / HTTP/1.1\r\nHost: a.test\r\nX-Forwarded-For: 1.1.1.1\r\n\
             X-Forwarded-Proto: https\r\nForwarded: for=1.1.1.1\r\nX-Real-IP: 1.1.1.1\r\n\
             X_Forwarded_For: 1.1.1.1\r\nX_Custom: 1\r\nX-Forwarded-Host: evil\r\n\r\n",
            RequestFraming::None,
        );
        assert_eq!(
            head,
            "GET / HTTP/1.1\r\nHost: a.test\r\nx-forwarded-for: 10.1.2.3\r\n\
             x-forwarded-proto: http\r\nx-forwarded-host: a.test\r\n\r\n"
        );
        let (head, _) = upstream_head(
            "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n",
            RequestFraming::Chunked,
        );
        assert!(head.ends_with("x-forwarded-host: a\r\ntransfer-encoding: chunked\r\n\r\n"));
        let (head, host_missing) = upstream_head("GET / HTTP/1.0\r\n\r\n", RequestFraming::None);
        assert!(host_missing);
        assert!(head.ends_with("x-forwarded-proto: http\r\n"), "{head}");
    }

    fn client_head(response: &str, method: Method, http10: bool, cookie: Option<&str>) -> String {
        let mut fields = Vec::new();
        let head = parse_response(&mut BytesMut::from(response), &method, &mut fields, None)
            .unwrap()
            .unwrap();
        let mut out = Vec::new();
        let framing = ClientFraming::of(&head, http10);
        let additions = ResponseAdditions {
            set_cookie: cookie.map(|c| http::HeaderValue::from_str(c).unwrap()),
            overlay: None,
        };
        write_client(&mut out, &head, &fields, framing, &additions, None);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn client_gets_end_to_end_fields_in_its_own_framing() {
        let head = client_head(
            "HTTP/1.1 200 Fine\r\nConnection: x-hop\r\nX-Hop: 1\r\n\
             Transfer-Encoding: chunked\r\nContent-Type: text/x\r\nDate: d\r\n\r\n",
            Method::GET,
            false,
            Some("pin=a"),
        );
        assert_eq!(
            head,
            "HTTP/1.1 200 Fine\r\nContent-Type: text/x\r\nDate: d\r\n\
             transfer-encoding: chunked\r\nset-cookie: pin=a\r\n\r\n"
        );
        let head = client_head(
            "HTTP/1.1 200 OK\r\nDate: d\r\nTransfer-Encoding: chunked\r\n\r\n",
            Method::GET,
            true,
            None,
        );
        assert_eq!(head, "HTTP/1.1 200 OK\r\nDate: d\r\n\r\n");
        // A bodiless answer keeps the length of what it describes; a 204 has none.
        let head = client_head(
            "HTTP/1.1 200 OK\r\nContent-Length: 42\r\nDate: d\r\n\r\n",
            Method::HEAD,
            false,
            None,
        );
        assert_eq!(
            head,
            "HTTP/1.1 200 OK\r\nContent-Length: 42\r\nDate: d\r\n\r\n"
        );
        let head = client_head(
            "HTTP/1.1 204 No Content\r\nContent-Length: 0\r\nDate: d\r\n\r\n",
            Method::GET,
            false,
            None,
        );
        assert_eq!(head, "HTTP/1.1 204 No Content\r\nDate: d\r\n\r\n");
        // Undated answers are dated.
        let head = client_head(
            "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n",
            Method::GET,
            false,
            None,
        );
        assert!(head.starts_with("HTTP/1.1 200 OK\r\ndate: "), "{head}");
        assert!(
            head.ends_with(" GMT\r\ncontent-length: 2\r\n\r\n"),
            "{head}"
        );
    }
}
