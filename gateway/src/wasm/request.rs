//! The request as the WIT functions take it: borrowed strings, plus the declared headers.

use http::HeaderName;
use switchyard_plugins::RequestView;

/// Header names a plugin declared at `init`, validated once.
pub fn declared(names: Vec<String>) -> Result<Vec<HeaderName>, String> {
    names
        .into_iter()
        .map(|n| {
            HeaderName::from_bytes(n.as_bytes())
                .map_err(|_| format!("init declared `{n}`, which is not a header name"))
        })
        .collect()
}

/// The header names an `init` answered with, or why the plugin refused its config.
pub fn init_headers(answer: Result<Vec<String>, String>) -> wasmtime::Result<Vec<HeaderName>> {
    match answer {
        Ok(names) => declared(names).map_err(wasmtime::Error::msg),
        Err(message) => wasmtime::bail!("init rejected the config: {message}"),
    }
}

/// Values of the declared headers, in order; `None` when the plugin declared none, which
/// (unlike an empty list) crosses into the plugin without a call to its allocator.
pub fn values(
    names: &[HeaderName],
    request: Option<&RequestView<'_>>,
) -> Option<Vec<Option<String>>> {
    if names.is_empty() {
        return None;
    }
    let values = names
        .iter()
        .map(|n| {
            request
                .and_then(|r| r.headers.get(n.as_str()))
                .and_then(|v| std::str::from_utf8(v).ok())
                .map(str::to_owned)
        })
        .collect();
    Some(values)
}
