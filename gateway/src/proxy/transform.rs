//! A route's transformations applied to one request: the path the upstream is sent, the
//! overlays the head writers apply, the request id, a redirect's answer. Only routes that
//! have a transformation come here.

use std::sync::Arc;

use http::HeaderValue;
use switchyard_plugins::{Headers, LocalResponse};

use crate::config::{HeaderEdits, Redirect, Transform};

/// What the gateway changes in the request head it writes for the upstream.
pub struct RequestOverlay<'a> {
    pub edits: &'a HeaderEdits,
    /// A request id to add: the request came without one.
    pub request_id: Option<&'a HeaderValue>,
}

impl RequestOverlay<'_> {
    pub fn drops(&self, name: &[u8]) -> bool {
        self.edits.drops(name)
    }

    pub fn sets_host(&self) -> bool {
        self.edits.sets("host")
    }
}

/// What the gateway changes in the response head it writes for the client. Kept past the
/// snapshot (the response is written after awaits), hence the `Arc`.
pub struct ResponseOverlay {
    pub edits: Arc<HeaderEdits>,
    /// The request's id, returned in `x-request-id` (replacing any the upstream sent).
    pub request_id: Option<HeaderValue>,
}

impl ResponseOverlay {
    pub fn drops(&self, name: &[u8]) -> bool {
        self.edits.drops(name)
            || (self.request_id.is_some() && name.eq_ignore_ascii_case(b"x-request-id"))
    }

    /// Every field the overlay writes.
    pub fn written(&self) -> impl Iterator<Item = (&[u8], &[u8])> {
        self.edits
            .written()
            .map(|(n, v)| (n.as_str().as_bytes(), v.as_bytes()))
            .chain(
                self.request_id
                    .iter()
                    .map(|id| (&b"x-request-id"[..], id.as_bytes())),
            )
    }
}

/// The request's `x-request-id` when the route adds them: the client's own when it sent
/// one, else a new random (version 4) UUID. The flag says whether it was generated.
pub fn request_id(transform: &Transform, headers: &Headers<'_>) -> Option<(HeaderValue, bool)> {
    if !transform.add_request_id {
        return None;
    }
    if let Some(sent) = headers.get("x-request-id")
        && let Ok(value) = HeaderValue::from_bytes(sent)
        && !sent.is_empty()
    {
        return Some((value, false));
    }
    Some((new_uuid(), true))
}

fn new_uuid() -> HeaderValue {
    let mut bytes = fastrand::u128(..).to_be_bytes();
    bytes[6] = (bytes[6] & 0x0f) | 0x40; // version 4
    bytes[8] = (bytes[8] & 0x3f) | 0x80; // RFC 9562 variant
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut text = [0u8; 36];
    let mut at = 0;
    for (i, byte) in bytes.iter().enumerate() {
        if matches!(i, 4 | 6 | 8 | 10) {
            text[at] = b'-';
            at += 1;
        }
        text[at] = HEX[usize::from(byte >> 4)];
        text[at + 1] = HEX[usize::from(byte & 0xf)];
        at += 2;
    }
    // Hex digits and dashes are always a valid field value.
    HeaderValue::from_bytes(&text).unwrap_or(HeaderValue::from_static("invalid"))
}

/// The origin-form target with the route's path rewrite applied (the query kept), or
/// `None` when it has none or it does not apply to this path.
pub fn rewritten_target(transform: &Transform, target: &str) -> Option<String> {
    let rewrite = transform.path.as_ref()?;
    let (path, query) = match target.split_once('?') {
        Some((path, query)) => (path, Some(query)),
        None => (target, None),
    };
    let mut out = rewrite.apply(path)?;
    if let Some(query) = query {
        out.push('?');
        out.push_str(query);
    }
    Some(out)
}

/// The answer of a redirecting route: `Location` from its template, with the route's
/// response fields and request id.
pub fn redirect(
    redirect: &Redirect,
    transform: Option<&Transform>,
    host: &str,
    target: &str,
    headers: &Headers<'_>,
) -> LocalResponse {
    let rewritten = transform.and_then(|t| rewritten_target(t, target));
    let target = rewritten.as_deref().unwrap_or(target);
    let (path, query) = match target.split_once('?') {
        Some((path, query)) => (path, Some(query)),
        None => (target, None),
    };
    let mut fields = vec![("location".to_owned(), redirect.location(host, path, query))];
    if let Some(transform) = transform {
        for (name, value) in transform.response_headers.written() {
            if let Ok(value) = value.to_str() {
                fields.push((name.to_string(), value.to_owned()));
            }
        }
        if let Some((id, _)) = request_id(transform, headers)
            && let Ok(id) = id.to_str()
        {
            fields.push(("x-request-id".to_owned(), id.to_owned()));
        }
    }
    LocalResponse {
        status: redirect.status.as_u16(),
        headers: fields,
        body: Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_ids_are_version_4_uuids_and_differ() {
        let a = new_uuid();
        let b = new_uuid();
        assert_ne!(a, b);
        let text = a.to_str().unwrap();
        assert_eq!(text.len(), 36);
        assert_eq!(&text[14..15], "4", "{text}");
        assert!(matches!(&text[19..20], "8" | "9" | "a" | "b"), "{text}");
        assert!(text.split('-').map(str::len).eq([8, 4, 4, 4, 12]), "{text}");
    }
}
