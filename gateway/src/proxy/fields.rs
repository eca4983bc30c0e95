//! What a header field means to the proxy, judged by its name once; and what one pass over
//! a head's fields learns about framing and the connection (RFC 9110 §7.6.1, RFC 9112 §6).

/// The proxy's view of a field.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Role {
    /// Passed on as is.
    EndToEnd,
    Host,
    Date,
    Connection,
    TransferEncoding,
    ContentLength,
    Expect,
    XForwardedFor,
    /// `X-Forwarded-Proto` and `-Host`: the proxy states them itself unless a trusted
    /// proxy already did.
    XForwardedOther,
    /// `Forwarded` and `X-Real-IP`: claims about the client, kept only from trusted proxies.
    ClientClaim,
    /// The other hop-by-hop fields: never passed on.
    HopByHop,
}

pub fn role(name: &[u8]) -> Role {
    let Some(&first) = name.first() else {
        return Role::EndToEnd;
    };
    let is = |known: &str| lowercase_eq(name, known.as_bytes());
    // By length and first letter: most names are decided without comparing a byte more.
    match (name.len(), first | 0x20) {
        (2, b't') if is("te") => Role::HopByHop,
        (4, b'h') if is("host") => Role::Host,
        (4, b'd') if is("date") => Role::Date,
        (6, b'e') if is("expect") => Role::Expect,
        (7, b'u') if is("upgrade") => Role::HopByHop,
        (7, b't') if is("trailer") => Role::HopByHop,
        (9, b'f') if is("forwarded") => Role::ClientClaim,
        (9, b'x') if is("x-real-ip") => Role::ClientClaim,
        (10, b'c') if is("connection") => Role::Connection,
        (10, b'k') if is("keep-alive") => Role::HopByHop,
        (14, b'c') if is("content-length") => Role::ContentLength,
        (15, b'x') if is("x-forwarded-for") => Role::XForwardedFor,
        (16, b'p') if is("proxy-connection") => Role::HopByHop,
        (16, b'x') if is("x-forwarded-host") => Role::XForwardedOther,
        (17, b't') if is("transfer-encoding") => Role::TransferEncoding,
        (17, b'x') if is("x-forwarded-proto") => Role::XForwardedOther,
        (18, b'p') if is("proxy-authenticate") => Role::HopByHop,
        (19, b'p') if is("proxy-authorization") => Role::HopByHop,
        _ => Role::EndToEnd,
    }
}

/// Whether a field with this name, whose role is [`Role::EndToEnd`], claims to be a
/// forwarding field once `_` reads as `-` (`X_Forwarded_For`): a CGI-style backend sees
/// both spellings as one variable, so such a name is never passed on.
pub fn underscored_forwarding(name: &[u8]) -> bool {
    const LONGEST: usize = "x-forwarded-proto".len();
    if name.len() > LONGEST || !name.contains(&b'_') {
        return false;
    }
    let mut dashed = [0u8; LONGEST];
    for (to, from) in dashed.iter_mut().zip(name) {
        *to = if *from == b'_' { b'-' } else { *from };
    }
    !matches!(role(&dashed[..name.len()]), Role::EndToEnd)
}

/// `name` equals `known` (lowercase letters and `-`) ignoring ASCII case. Setting bit 5
/// lowercases letters and leaves `-` as is; no other token character becomes a letter or
/// `-` that way, so this is exact for field names (httparse admits only token characters).
fn lowercase_eq(name: &[u8], known: &[u8]) -> bool {
    name.len() == known.len() && name.iter().zip(known).all(|(n, k)| n | 0x20 == *k)
}

/// What the fields of one head say, gathered in one pass.
#[derive(Debug)]
pub struct Facts<'h> {
    /// The last Host value, and how many Host fields there were.
    pub host: Option<&'h [u8]>,
    pub host_fields: u32,
    /// The stated Content-Length; `Err` when a value is not a number or two differ.
    pub length: Result<Option<u64>, ()>,
    /// The last Transfer-Encoding value, if any.
    pub transfer_encoding: Option<&'h [u8]>,
    /// Across every Transfer-Encoding field: exactly one coding, `chunked`.
    pub only_chunked: bool,
    /// `Connection` tokens.
    pub close: bool,
    pub keep_alive: bool,
    /// `Connection` names fields beyond `close` / `keep-alive`, which are hop-by-hop too.
    pub lists_fields: bool,
    pub expect_continue: bool,
    pub dated: bool,
}

impl<'h> Facts<'h> {
    pub fn gather(fields: impl Iterator<Item = (&'h [u8], &'h [u8])>) -> Self {
        let mut facts = Facts {
            host: None,
            host_fields: 0,
            length: Ok(None),
            transfer_encoding: None,
            only_chunked: false,
            close: false,
            keep_alive: false,
            lists_fields: false,
            expect_continue: false,
            dated: false,
        };
        let (mut chunked, mut other_codings) = (0u32, false);
        for (name, value) in fields {
            match role(name) {
                Role::Host => {
                    facts.host = Some(value);
                    facts.host_fields += 1;
                }
                Role::Date => facts.dated = true,
                Role::ContentLength => {
                    facts.length = facts.length.and_then(|prior| merge_length(prior, value));
                }
                Role::TransferEncoding => {
                    facts.transfer_encoding = Some(value);
                    for coding in value.split(|b| *b == b',').map(<[u8]>::trim_ascii) {
                        if coding.eq_ignore_ascii_case(b"chunked") {
                            chunked += 1;
                        } else {
                            other_codings = true;
                        }
                    }
                }
                Role::Expect => {
                    facts.expect_continue =
                        value.trim_ascii().eq_ignore_ascii_case(b"100-continue");
                }
                Role::Connection => {
                    for token in value.split(|b| *b == b',').map(<[u8]>::trim_ascii) {
                        if token.eq_ignore_ascii_case(b"close") {
                            facts.close = true;
                        } else if token.eq_ignore_ascii_case(b"keep-alive") {
                            facts.keep_alive = true;
                        } else if !token.is_empty() {
                            facts.lists_fields = true;
                        }
                    }
                }
                Role::EndToEnd
                | Role::XForwardedFor
                | Role::XForwardedOther
                | Role::ClientClaim
                | Role::HopByHop => {}
            }
        }
        facts.only_chunked = chunked == 1 && !other_codings;
        facts
    }

    /// Whether the connection may carry more messages after this one.
    pub fn keeps_alive(&self, http10: bool) -> bool {
        !self.close && (!http10 || self.keep_alive)
    }
}

/// One more Content-Length value: a number, or a list of equal numbers (RFC 9110 §8.6),
/// agreeing with what came before.
fn merge_length(prior: Option<u64>, value: &[u8]) -> Result<Option<u64>, ()> {
    let mut length = prior;
    for part in value.split(|b| *b == b',') {
        let digits = part.trim_ascii();
        if digits.is_empty() || digits.len() > 19 || !digits.iter().all(u8::is_ascii_digit) {
            return Err(());
        }
        let n = digits
            .iter()
            .fold(0u64, |n, d| n * 10 + u64::from(d - b'0'));
        if length.is_some_and(|l| l != n) {
            return Err(());
        }
        length = Some(n);
    }
    Ok(length)
}

/// Names the `Connection` fields list beyond `close` and `keep-alive`.
pub fn connection_listed<'h>(fields: impl Iterator<Item = (&'h [u8], &'h [u8])>) -> Vec<&'h [u8]> {
    fields
        .filter(|(name, _)| role(name) == Role::Connection)
        .flat_map(|(_, value)| value.split(|b| *b == b','))
        .map(<[u8]>::trim_ascii)
        .filter(|token| {
            !token.is_empty()
                && !token.eq_ignore_ascii_case(b"close")
                && !token.eq_ignore_ascii_case(b"keep-alive")
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn gather(fields: &[(&'static str, &'static str)]) -> Facts<'static> {
        Facts::gather(fields.iter().map(|(n, v)| (n.as_bytes(), v.as_bytes())))
    }

    #[test]
    fn roles_ignore_case_and_only_case() {
        assert_eq!(role(b"Content-Length"), Role::ContentLength);
        assert_eq!(role(b"CONNECTION"), Role::Connection);
        assert_eq!(role(b"x-Forwarded-Proto"), Role::XForwardedOther);
        assert_eq!(role(b"Content-Type"), Role::EndToEnd);
        assert_eq!(role(b"content_length"), Role::EndToEnd);
        assert_eq!(role(b"dates"), Role::EndToEnd);
        assert_eq!(role(b""), Role::EndToEnd);
        assert_eq!(role(b"Forwarded"), Role::ClientClaim);
        assert_eq!(role(b"X-Real-IP"), Role::ClientClaim);
        assert!(underscored_forwarding(b"X_Forwarded_For"));
        assert!(underscored_forwarding(b"content_length"));
        assert!(underscored_forwarding(b"X_REAL_IP"));
        assert!(!underscored_forwarding(b"x_custom"));
        assert!(!underscored_forwarding(b"x-forwarded-for"));
    }

    #[test]
    fn one_pass_learns_framing_and_connection() {
        let f = gather(&[
            ("Host", "a"),
            ("Content-Length", "7, 7"),
            ("content-length", "7"),
            ("Connection", "Keep-Alive, X-Hop"),
            ("Date", "d"),
        ]);
        assert_eq!(f.host, Some(&b"a"[..]));
        assert_eq!(f.length, Ok(Some(7)));
        assert!(f.keep_alive && f.lists_fields && !f.close && f.dated);
        assert!(f.keeps_alive(true));
        assert_eq!(
            gather(&[("Content-Length", "7"), ("Content-Length", "8")]).length,
            Err(())
        );
        assert_eq!(gather(&[("Content-Length", "+7")]).length, Err(()));
        assert_eq!(gather(&[("Content-Length", "")]).length, Err(()));
        assert!(gather(&[("Transfer-Encoding", "Chunked")]).only_chunked);
        assert!(!gather(&[("Transfer-Encoding", "gzip, chunked")]).only_chunked);
        assert!(
            !gather(&[
                ("Transfer-Encoding", "chunked"),
                ("Transfer-Encoding", "chunked")
            ])
            .only_chunked
        );
        assert!(!gather(&[("Transfer-Encoding", "chunked, ")]).only_chunked);
        assert!(!gather(&[("Connection", "close")]).keeps_alive(false));
        assert!(!gather(&[]).keeps_alive(true));
        assert_eq!(
            connection_listed([(&b"connection"[..], &b"close, X-A ,x-b"[..])].into_iter()),
            [&b"X-A"[..], b"x-b"]
        );
    }
}
