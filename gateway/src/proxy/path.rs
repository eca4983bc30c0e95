//! The path a request is routed by and forwarded with, normalised first (RFC 3986 §6.2.2):
//! unreserved characters percent-decoded, the remaining escapes' hex upper-cased, dot
//! segments removed (§5.2.4), and optionally runs of slashes merged. So `/public/../admin`,
//! `/./admin` and `/%61dmin` are all `/admin` to the router and to the upstream: a route
//! cannot be bypassed by spelling its path another way. The query is left as sent.

use std::borrow::Cow;

pub use crate::config::{EscapedSlashes, PathRules};

/// Why a path cannot be normalised; the request is answered 400.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum BadPath {
    #[error("malformed percent-encoding in the path")]
    BadEscape,
    #[error("an encoded slash (%2F or %5C) in the path")]
    EscapedSlash,
}

/// The origin-form target (path and query) to route and forward: borrowed when the path
/// needs no change, which one scan decides.
pub fn normalize<'a>(target: &'a str, rules: &PathRules) -> Result<Cow<'a, str>, BadPath> {
    if !rules.normalize || !target.starts_with('/') {
        return Ok(Cow::Borrowed(target));
    }
    let (path, query) = match target.find('?') {
        Some(at) => target.split_at(at),
        None => (target, ""),
    };
    if is_normal(path.as_bytes(), rules.merge_slashes) {
        return Ok(Cow::Borrowed(target));
    }
    let decoded = decode_unreserved(path, rules.escaped_slashes)?;
    let mut out = remove_dot_segments(&decoded, rules.merge_slashes);
    out.push_str(query);
    Ok(Cow::Owned(out))
}

/// No escapes, no dot segments, and (when merging) no empty segments: nothing to change.
fn is_normal(path: &[u8], merge_slashes: bool) -> bool {
    let mut prev = b'/';
    for (i, &b) in path.iter().enumerate() {
        match b {
            b'%' => return false,
            b'.' if prev == b'/' => {
                // `.` or `..` as a whole segment.
                let rest = &path[i + 1..];
                let end = rest.iter().position(|c| *c == b'/').unwrap_or(rest.len());
                if end == 0 || (end == 1 && rest[0] == b'.') {
                    return false;
                }
            }
            b'/' if merge_slashes && prev == b'/' && i > 0 => return false,
            _ => {}
        }
        prev = b;
    }
    true
}

fn hex_value(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

fn is_unreserved(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~')
}

/// Decodes `%XX` of unreserved characters; other escapes stay, upper-cased.
fn decode_unreserved(path: &str, escaped_slashes: EscapedSlashes) -> Result<String, BadPath> {
    let bytes = path.as_bytes();
    let mut out = String::with_capacity(path.len());
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        if b != b'%' {
            let next = bytes[i..]
                .iter()
                .position(|c| *c == b'%')
                .map_or(bytes.len(), |n| i + n);
            out.push_str(&path[i..next]);
            i = next;
            continue;
        }
        let (Some(hi), Some(lo)) = (
            bytes.get(i + 1).copied().and_then(hex_value),
            bytes.get(i + 2).copied().and_then(hex_value),
        ) else {
            return Err(BadPath::BadEscape);
        };
        let value = hi * 16 + lo;
        if is_unreserved(value) {
            out.push(char::from(value));
        } else {
            if matches!(value, b'/' | b'\\') && escaped_slashes == EscapedSlashes::Reject {
                return Err(BadPath::EscapedSlash);
            }
            out.push('%');
            out.push(char::from(b"0123456789ABCDEF"[usize::from(hi)]));
            out.push(char::from(b"0123456789ABCDEF"[usize::from(lo)]));
        }
        i += 3;
    }
    Ok(out)
}

/// RFC 3986 §5.2.4 on an absolute path; `..` never climbs above the root.
fn remove_dot_segments(path: &str, merge_slashes: bool) -> String {
    let segments: Vec<&str> = path.get(1..).unwrap_or_default().split('/').collect();
    let last = segments.len().saturating_sub(1);
    let mut kept: Vec<&str> = Vec::with_capacity(segments.len());
    for (i, segment) in segments.iter().enumerate() {
        match *segment {
            "." => {}
            ".." => {
                kept.pop();
            }
            "" if merge_slashes && i != last => continue,
            s => {
                kept.push(s);
                continue;
            }
        }
        // A path ending in a dot segment names a directory: it keeps its final slash.
        if i == last {
            kept.push("");
        }
    }
    let mut out = String::with_capacity(path.len());
    for segment in &kept {
        out.push('/');
        out.push_str(segment);
    }
    if out.is_empty() {
        out.push('/');
    }
    out
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn norm(target: &str) -> String {
        normalize(target, &PathRules::default())
            .unwrap()
            .into_owned()
    }

    #[test]
    fn removes_dot_segments_and_decodes_unreserved() {
        for (given, want) in [
            ("/public/../admin", "/admin"),
            ("/./admin", "/admin"),
            ("/%61dmin", "/admin"),
            ("/%2e%2e/admin", "/admin"),
            ("/a/b/../c?x=/../y", "/a/c?x=/../y"),
            ("/a/..", "/"),
            ("/a/.", "/a/"),
            ("/a/./b/", "/a/b/"),
            ("/../../a", "/a"),
            ("/a//../b", "/a/b"),
            ("/a//b", "/a//b"),
            ("/a%2fb", "/a%2Fb"),
            ("/a%20b", "/a%20b"),
            ("/.well-known/x", "/.well-known/x"),
            ("/a..b/..c", "/a..b/..c"),
            ("/", "/"),
            ("*", "*"),
        ] {
            assert_eq!(norm(given), want, "{given}");
        }
        assert!(matches!(
            normalize("/plain/path?q", &PathRules::default()),
            Ok(Cow::Borrowed(_))
        ));
    }

    #[test]
    fn merges_slashes_and_refuses_bad_escapes_when_told() {
        let merge = PathRules {
            merge_slashes: true,
            ..PathRules::default()
        };
        assert_eq!(normalize("//a///b//", &merge).unwrap(), "/a/b/");
        let reject = PathRules {
            escaped_slashes: EscapedSlashes::Reject,
            ..PathRules::default()
        };
        assert_eq!(normalize("/a%2Fb", &reject), Err(BadPath::EscapedSlash));
        assert_eq!(normalize("/a%5cb", &reject), Err(BadPath::EscapedSlash));
        assert_eq!(
            normalize("/a%zz", &PathRules::default()),
            Err(BadPath::BadEscape)
        );
        assert_eq!(
            normalize("/a%4", &PathRules::default()),
            Err(BadPath::BadEscape)
        );
        let off = PathRules {
            normalize: false,
            ..PathRules::default()
        };
        assert_eq!(normalize("/a/../b", &off).unwrap(), "/a/../b");
    }

    /// A reference model: segment by segment, decoding each escape of an unreserved
    /// character, then resolving dot segments with a stack.
    fn model(path: &str) -> String {
        let mut decoded = String::new();
        let bytes = path.as_bytes();
        let mut i = 0;
        while i < bytes.len() {
            if bytes[i] == b'%' {
                let v = u8::from_str_radix(&path[i + 1..i + 3], 16).unwrap();
                if is_unreserved(v) {
                    decoded.push(char::from(v));
                } else {
                    decoded.push_str(&path[i..i + 3].to_ascii_uppercase());
                }
                i += 3;
            } else {
                decoded.push(char::from(bytes[i]));
                i += 1;
            }
        }
        let mut stack: Vec<&str> = Vec::new();
        let parts: Vec<&str> = decoded[1..].split('/').collect();
        for (n, part) in parts.iter().enumerate() {
            let last = n + 1 == parts.len();
            match *part {
                "." | ".." => {
                    if *part == ".." {
                        stack.pop();
                    }
                    if last {
                        stack.push("");
                    }
                }
                p => stack.push(p),
            }
        }
        format!("/{}", stack.join("/"))
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(10_000))]

        #[test]
        fn agrees_with_the_model_and_is_idempotent(
            segments in prop::collection::vec(
                prop_oneof![
                    Just(".".to_owned()),
                    Just("..".to_owned()),
                    Just(String::new()),
                    Just("%2e".to_owned()),
                    Just("%2F".to_owned()),
                    Just("%41".to_owned()),
                    "[a-z.~_-]{1,4}",
                ],
                0..8,
            )
        ) {
            let path = format!("/{}", segments.join("/"));
            let once = normalize(&path, &PathRules::default()).unwrap().into_owned();
            prop_assert_eq!(&once, &model(&path));
            prop_assert!(once.starts_with('/'));
            prop_assert!(!once.split('/').any(|s| s == "." || s == ".."));
            let twice = normalize(&once, &PathRules::default()).unwrap().into_owned();
            prop_assert_eq!(once, twice);
        }

        #[test]
        fn never_panics_on_any_text(path in "/[ -~]{0,40}") {
            let _ = normalize(&path, &PathRules::default());
            let _ = normalize(&path, &PathRules { merge_slashes: true, escaped_slashes: EscapedSlashes::Reject, normalize: true });
        }
    }
}
