//! What a policy may see of a request: borrowed from the proxy, never copied for natives.

use http::{HeaderMap, Method};

#[derive(Debug, Clone, Copy)]
pub struct RequestView<'a> {
    pub method: &'a Method,
    /// Host without port (from the URI or the Host header), empty when absent.
    pub host: &'a str,
    /// Path and query as received.
    pub path_and_query: &'a str,
    /// The client address in text form, e.g. "127.0.0.1".
    pub client_ip: &'a str,
    pub headers: &'a HeaderMap,
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
