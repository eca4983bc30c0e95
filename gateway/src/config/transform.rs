//! What a route changes on the way through, without a plugin: the path the upstream sees,
//! header fields added, replaced or removed on the request and on the response, a request
//! id, or an answer of its own (a redirect). Validated here, applied by the proxy as an
//! overlay when it writes a head, so a route without any of it costs nothing.

use std::collections::BTreeMap;
use std::sync::Arc;

use http::{HeaderName, HeaderValue, StatusCode};
use serde::Deserialize;
use toml::Spanned;

use super::validate::{Ctx, path_text};
use super::{ConfigError, PathMatch};

/// Fields the gateway writes itself (framing, connection management, who asked): a
/// transformation may not touch them, or the head it writes would contradict itself.
const GATEWAY_OWNED: &[&str] = &[
    "connection",
    "content-length",
    "date",
    "expect",
    "forwarded",
    "keep-alive",
    "proxy-authenticate",
    "proxy-authorization",
    "proxy-connection",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
    "x-forwarded-for",
    "x-forwarded-host",
    "x-forwarded-proto",
    "x-real-ip",
];

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawHeaderEdits {
    #[serde(default)]
    pub set: BTreeMap<String, Spanned<String>>,
    #[serde(default)]
    pub add: BTreeMap<String, Spanned<String>>,
    #[serde(default)]
    pub remove: Vec<Spanned<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawRedirect {
    pub to: Spanned<String>,
    #[serde(default)]
    pub status: Option<Spanned<u16>>,
}

/// Header fields to change in one head. Names are lower-case.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HeaderEdits {
    /// Replace every field of the name (or add it when absent).
    pub set: Vec<(HeaderName, HeaderValue)>,
    /// Add a field, keeping those already there.
    pub add: Vec<(HeaderName, HeaderValue)>,
    pub remove: Vec<HeaderName>,
}

impl HeaderEdits {
    pub fn is_empty(&self) -> bool {
        self.set.is_empty() && self.add.is_empty() && self.remove.is_empty()
    }

    /// Whether a received field of this name is left out (removed, or replaced by `set`).
    pub fn drops(&self, name: &[u8]) -> bool {
        let named = |n: &HeaderName| n.as_str().as_bytes().eq_ignore_ascii_case(name);
        self.remove.iter().any(named) || self.set.iter().any(|(n, _)| named(n))
    }

    /// The fields this overlay writes, `set` first.
    pub fn written(&self) -> impl Iterator<Item = &(HeaderName, HeaderValue)> {
        self.set.iter().chain(&self.add)
    }

    pub fn sets(&self, name: &str) -> bool {
        self.set.iter().any(|(n, _)| n == name)
    }
}

/// The path the upstream is sent, from the routed (normalised) one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PathRewrite {
    /// `strip_prefix`: this leading run of whole segments is removed.
    Strip(String),
    /// `rewrite_path`: the part the route's `path_prefix` (or `path`) matched is replaced.
    ReplaceMatched { matched: String, with: String },
}

impl PathRewrite {
    /// `path` rewritten, or `None` when the rewrite does not apply (the path does not start
    /// with the prefix on a segment boundary).
    pub fn apply(&self, path: &str) -> Option<String> {
        let (prefix, with) = match self {
            PathRewrite::Strip(prefix) => (prefix.as_str(), ""),
            PathRewrite::ReplaceMatched { matched, with } => (matched.as_str(), with.as_str()),
        };
        let rest = path.strip_prefix(prefix)?;
        if !(prefix.ends_with('/') || rest.is_empty() || rest.starts_with('/')) {
            return None;
        }
        let mut out = String::with_capacity(with.len() + rest.len() + 1);
        out.push_str(with);
        // `/api` + `/x` with `/` → `/x`, not `//x`; a prefix ending in `/` took the slash.
        match (out.ends_with('/'), rest.strip_prefix('/')) {
            (true, Some(rest)) => out.push_str(rest),
            (false, None) if !rest.is_empty() => {
                out.push('/');
                out.push_str(rest);
            }
            _ => out.push_str(rest),
        }
        if !out.starts_with('/') {
            out.insert(0, '/');
        }
        Some(out)
    }
}

/// A route's changes to what passes through it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Transform {
    pub path: Option<PathRewrite>,
    pub request_headers: HeaderEdits,
    /// Shared with each response in flight, which outlives the snapshot it came from.
    pub response_headers: Arc<HeaderEdits>,
    /// `x-request-id` is generated when the request has none, and returned to the client.
    pub add_request_id: bool,
}

/// An answer of the route's own: `Location` built from `to`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Redirect {
    pub status: StatusCode,
    pub to: Vec<LocationPart>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LocationPart {
    Text(String),
    /// `{host}`: the host the request named, without port.
    Host,
    /// `{path}`: the request's normalised path (after `strip_prefix` / `rewrite_path`).
    Path,
    /// `{query}`: `?` and the query, or nothing.
    Query,
}

impl Redirect {
    /// The `Location` for a request: `host`, `path` and `query` (without its `?`) as named.
    pub fn location(&self, host: &str, path: &str, query: Option<&str>) -> String {
        let mut out = String::new();
        for part in &self.to {
            match part {
                LocationPart::Text(text) => out.push_str(text),
                LocationPart::Host => out.push_str(host),
                LocationPart::Path => out.push_str(path),
                LocationPart::Query => {
                    if let Some(query) = query {
                        out.push('?');
                        out.push_str(query);
                    }
                }
            }
        }
        out
    }
}

pub(super) struct RawRouteTransform<'a> {
    pub strip_prefix: Option<&'a Spanned<String>>,
    pub rewrite_path: Option<&'a Spanned<String>>,
    pub request_headers: Option<&'a RawHeaderEdits>,
    pub response_headers: Option<&'a RawHeaderEdits>,
    pub add_request_id: bool,
}

pub(super) fn transform(
    cx: &Ctx<'_>,
    route: &str,
    matched: &PathMatch,
    raw: RawRouteTransform<'_>,
) -> Result<Option<Box<Transform>>, ConfigError> {
    let path = match (raw.strip_prefix, raw.rewrite_path) {
        (Some(_), Some(rewrite)) => {
            return cx.err_at(
                rewrite,
                format!("route `{route}` sets both strip_prefix and rewrite_path; keep one"),
            );
        }
        (Some(prefix), None) => Some(PathRewrite::Strip(path_text(cx, prefix)?)),
        (None, Some(with)) => {
            let matched = match matched {
                PathMatch::Prefix(p) | PathMatch::Exact(p) => p.clone(),
                PathMatch::Any => {
                    return cx.err_at(
                        with,
                        format!(
                            "route `{route}` sets rewrite_path without path_prefix or path: \
                             it replaces what they match"
                        ),
                    );
                }
            };
            Some(PathRewrite::ReplaceMatched {
                matched,
                with: path_text(cx, with)?,
            })
        }
        (None, None) => None,
    };
    let transform = Transform {
        path,
        request_headers: edits(cx, raw.request_headers, true)?,
        response_headers: Arc::new(edits(cx, raw.response_headers, false)?),
        add_request_id: raw.add_request_id,
    };
    Ok((transform != Transform::default()).then(|| Box::new(transform)))
}

fn edits(
    cx: &Ctx<'_>,
    raw: Option<&RawHeaderEdits>,
    request: bool,
) -> Result<HeaderEdits, ConfigError> {
    let Some(raw) = raw else {
        return Ok(HeaderEdits::default());
    };
    let name = |text: &str, at: &Spanned<String>| -> Result<HeaderName, ConfigError> {
        let Ok(name) = HeaderName::from_bytes(text.as_bytes()) else {
            return cx.err_at(at, format!("`{text}` is not a valid header name"));
        };
        // The upstream may be told another Host; the client's response has none.
        let host_ok = request && name == http::header::HOST;
        if GATEWAY_OWNED.contains(&name.as_str()) || (name == http::header::HOST && !host_ok) {
            return cx.err_at(
                at,
                format!("header `{text}` is written by the gateway itself and cannot be changed"),
            );
        }
        Ok(name)
    };
    let pairs = |map: &BTreeMap<String, Spanned<String>>| {
        map.iter()
            .map(|(k, v)| {
                let n = name(k, v)?;
                match HeaderValue::from_str(v.get_ref()) {
                    Ok(value) => Ok((n, value)),
                    Err(_) => cx.err_at(
                        v,
                        format!("the value for `{k}` is not a valid header value"),
                    ),
                }
            })
            .collect::<Result<Vec<_>, ConfigError>>()
    };
    Ok(HeaderEdits {
        set: pairs(&raw.set)?,
        add: pairs(&raw.add)?,
        remove: raw
            .remove
            .iter()
            .map(|r| name(r.get_ref(), r))
            .collect::<Result<_, _>>()?,
    })
}

pub(super) fn redirect(cx: &Ctx<'_>, raw: &RawRedirect) -> Result<Redirect, ConfigError> {
    let status = match &raw.status {
        None => StatusCode::FOUND,
        Some(code) => {
            match *code.get_ref() {
                301 | 302 | 303 | 307 | 308 => {
                    StatusCode::from_u16(*code.get_ref()).unwrap_or(StatusCode::FOUND)
                }
                other => {
                    return cx.err_at(
                    code,
                    format!("redirect status {other} is not a redirect: use 301, 302, 303, 307 or 308"),
                );
                }
            }
        }
    };
    let text = raw.to.get_ref();
    let mut to = Vec::new();
    let mut rest = text.as_str();
    while let Some(open) = rest.find('{') {
        if open > 0 {
            to.push(LocationPart::Text(rest[..open].to_owned()));
        }
        let Some(close) = rest[open..].find('}') else {
            return cx.err_at(
                &raw.to,
                format!("redirect `{text}` opens a `{{` it never closes"),
            );
        };
        to.push(match &rest[open + 1..open + close] {
            "host" => LocationPart::Host,
            "path" => LocationPart::Path,
            "query" => LocationPart::Query,
            other => {
                return cx.err_at(
                    &raw.to,
                    format!("redirect `{text}` names `{{{other}}}`; known: {{host}}, {{path}}, {{query}}"),
                );
            }
        });
        rest = &rest[open + close + 1..];
    }
    if !rest.is_empty() {
        to.push(LocationPart::Text(rest.to_owned()));
    }
    if to.is_empty() || HeaderValue::from_str(&text.replace(['{', '}'], "")).is_err() {
        return cx.err_at(
            &raw.to,
            format!("redirect `{text}` is not a valid Location"),
        );
    }
    Ok(Redirect { status, to })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn path_rewrites_keep_one_slash_between_parts() {
        let strip = PathRewrite::Strip("/old".into());
        assert_eq!(strip.apply("/old/a/b").as_deref(), Some("/a/b"));
        assert_eq!(strip.apply("/old").as_deref(), Some("/"));
        assert_eq!(strip.apply("/older"), None);
        let strip = PathRewrite::Strip("/old/".into());
        assert_eq!(strip.apply("/old/a").as_deref(), Some("/a"));
        let replace = |m: &str, w: &str, p: &str| {
            PathRewrite::ReplaceMatched {
                matched: m.into(),
                with: w.into(),
            }
            .apply(p)
        };
        assert_eq!(replace("/v1", "/v2", "/v1/x").as_deref(), Some("/v2/x"));
        assert_eq!(replace("/v1", "/", "/v1/x").as_deref(), Some("/x"));
        assert_eq!(replace("/v1/", "/v2/", "/v1/x").as_deref(), Some("/v2/x"));
        assert_eq!(replace("/v1/", "/v2", "/v1/x").as_deref(), Some("/v2/x"));
        assert_eq!(replace("/v1", "/api/v1", "/v1").as_deref(), Some("/api/v1"));
        assert_eq!(
            replace("/exact", "/other", "/exact").as_deref(),
            Some("/other")
        );
    }

    fn refused(route: &str) -> String {
        let text = format!(
            "listen = [\"127.0.0.1:0\"]\n[[route]]\n{route}\n\
             [service.a]\nupstreams = [{{ addr = \"127.0.0.1:1\" }}]\n"
        );
        match crate::config::Config::parse(&text, "t.toml") {
            Ok(_) => panic!("accepted: {route}"),
            Err(e) => e.to_string(),
        }
    }

    #[test]
    fn contradictory_or_unsafe_transformations_are_refused_with_their_place() {
        let e = refused(
            "path_prefix = \"/a\"\nstrip_prefix = \"/a\"\nrewrite_path = \"/b\"\nservice = \"a\"",
        );
        assert!(
            e.contains("both strip_prefix and rewrite_path") && e.contains(":5:"),
            "{e}"
        );
        let e = refused("rewrite_path = \"/b\"\nservice = \"a\"");
        assert!(e.contains("without path_prefix or path"), "{e}");
        let e =
            refused("request_headers = { set = { \"content-length\" = \"5\" } }\nservice = \"a\"");
        assert!(
            e.contains("`content-length` is written by the gateway"),
            "{e}"
        );
        let e = refused("response_headers = { remove = [\"host\"] }\nservice = \"a\"");
        assert!(e.contains("`host` is written by the gateway"), "{e}");
        let e = refused("request_headers = { add = { \"x bad\" = \"1\" } }\nservice = \"a\"");
        assert!(e.contains("not a valid header name"), "{e}");
        let e = refused("redirect = { to = \"/x\", status = 200 }");
        assert!(e.contains("200 is not a redirect"), "{e}");
        let e = refused("redirect = { to = \"/{nope}\" }");
        assert!(e.contains("`{nope}`"), "{e}");
        let e = refused("redirect = { to = \"/x\" }\nservice = \"a\"");
        assert!(e.contains("both redirects and names a service"), "{e}");
        let e = refused("name = \"lonely\"\npath = \"/x\"");
        assert!(e.contains("route `lonely` needs a `service`"), "{e}");
    }
}
