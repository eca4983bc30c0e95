//! What a policy may see of a request: borrowed from the proxy, never copied for natives.

use std::fmt;

use http::Method;

#[derive(Debug, Clone, Copy)]
pub struct RequestView<'a> {
    pub method: &'a Method,
    /// Host without port (from the URI or the Host header), empty when absent.
    pub host: &'a str,
    /// Path and query as received.
    pub path_and_query: &'a str,
    /// The client address in text form, e.g. "127.0.0.1".
    pub client_ip: &'a str,
    pub headers: Headers<'a>,
}

impl RequestView<'_> {
    /// RFC 9110 §9.2.2: a retry of these has the same effect as one request.
    pub fn is_idempotent(&self) -> bool {
        is_idempotent(self.method)
    }
}

pub fn is_idempotent(method: &Method) -> bool {
    matches!(
        *method,
        Method::GET | Method::HEAD | Method::OPTIONS | Method::TRACE | Method::PUT | Method::DELETE
    )
}

/// Where one header field sits in a message head, as byte offsets into it. The proxy keeps
/// heads as received and finds fields through these, instead of copying every name and
/// value into a map per message.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FieldSpan {
    pub name_start: u32,
    pub name_end: u32,
    pub value_start: u32,
    pub value_end: u32,
}

impl FieldSpan {
    pub fn name<'h>(&self, head: &'h [u8]) -> &'h [u8] {
        head.get(self.name_start as usize..self.name_end as usize)
            .unwrap_or_default()
    }

    pub fn value<'h>(&self, head: &'h [u8]) -> &'h [u8] {
        head.get(self.value_start as usize..self.value_end as usize)
            .unwrap_or_default()
    }
}

/// The header fields of a message, in the order received, with names as sent (lookups
/// ignore case, RFC 9110 §5.1). Values are bytes: HTTP allows obs-text in them.
#[derive(Clone, Copy)]
pub struct Headers<'a> {
    head: &'a [u8],
    fields: &'a [FieldSpan],
}

impl<'a> Headers<'a> {
    pub const EMPTY: Headers<'static> = Headers {
        head: &[],
        fields: &[],
    };

    pub fn new(head: &'a [u8], fields: &'a [FieldSpan]) -> Self {
        Self { head, fields }
    }

    pub fn iter(&self) -> impl Iterator<Item = (&'a [u8], &'a [u8])> + 'a {
        let head = self.head;
        self.fields
            .iter()
            .map(move |f| (f.name(head), f.value(head)))
    }

    /// The first value of the field `name`.
    pub fn get(&self, name: &str) -> Option<&'a [u8]> {
        self.get_all(name).next()
    }

    /// Every value of the field `name`, in order.
    pub fn get_all<'n>(&self, name: &'n str) -> impl Iterator<Item = &'a [u8]> + 'n
    where
        'a: 'n,
    {
        self.iter()
            .filter(move |(n, _)| n.eq_ignore_ascii_case(name.as_bytes()))
            .map(|(_, v)| v)
    }

    pub fn len(&self) -> usize {
        self.fields.len()
    }

    pub fn is_empty(&self) -> bool {
        self.fields.is_empty()
    }
}

impl fmt::Debug for Headers<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map()
            .entries(
                self.iter()
                    .map(|(n, v)| (String::from_utf8_lossy(n), String::from_utf8_lossy(v))),
            )
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_fields_whatever_their_case() {
        let head = b"Host: a\r\nX-Id: 1\r\nx-id: 2\r\n";
        let span = |n: (u32, u32), v: (u32, u32)| FieldSpan {
            name_start: n.0,
            name_end: n.1,
            value_start: v.0,
            value_end: v.1,
        };
        let fields = [
            span((0, 4), (6, 7)),
            span((9, 13), (15, 16)),
            span((18, 22), (24, 25)),
        ];
        let headers = Headers::new(head, &fields);
        assert_eq!(headers.get("host"), Some(&b"a"[..]));
        assert_eq!(headers.get_all("X-ID").collect::<Vec<_>>(), [b"1", b"2"]);
        assert_eq!(headers.get("cookie"), None);
        assert_eq!(headers.len(), 3);
    }
}
