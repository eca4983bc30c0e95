//! Our own HTTP/1.1 client for upstream exchanges. A proxy asks little of a client: write one
//! request head, stream a body, read one response head, stream its body, then reuse the
//! socket. Doing exactly that inside the request's own task (no connection task, no channel
//! per request, no second parse of headers into intermediate types) is most of what
//! separates our per-request CPU from NGINX's; see `tests/bench/instructions.sh`.

mod body;
pub mod chunked;
mod conn;
pub mod head;
pub mod socket;

use http::Method;

pub use body::ResponseBody;
pub use conn::{Answer, UpstreamConn};
pub use head::Head;

/// A request ready for an upstream: its head written once (see `headers::write_upstream`)
/// and sent as is on every attempt.
pub struct UpstreamRequest<'a> {
    pub method: &'a Method,
    /// Request line and fields; ends with the empty line unless `host_missing`.
    pub head: &'a [u8],
    /// The client sent no Host (HTTP/1.0): each attempt names its upstream and ends the head.
    pub host_missing: bool,
    pub framing: RequestFraming,
}

/// How a request body is delimited, as the client sent it and as it goes upstream.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RequestFraming {
    None,
    /// As many bytes as `Content-Length` says.
    Length(u64),
    /// Unknown length: chunked transfer coding.
    Chunked,
}

/// Why an exchange with an upstream failed after the connection was made.
#[derive(Debug, thiserror::Error)]
pub enum H1Error {
    #[error("{0}")]
    Io(#[from] std::io::Error),
    #[error("the upstream closed the connection before answering")]
    ClosedBeforeAnswer,
    #[error("the upstream closed the connection in the middle of the response body")]
    ClosedMidBody,
    #[error("the upstream sent nothing for upstream_idle in the middle of the response body")]
    Stalled,
    #[error("the client closed the connection in the middle of the request body")]
    ClientClosedMidBody,
    #[error("response head larger than {} KiB", head::MAX_HEAD / 1024)]
    HeadTooLarge,
    #[error("malformed response head: {0}")]
    Malformed(&'static str),
    #[error("malformed chunked body: {0}")]
    BadChunk(&'static str),
    #[error("the upstream switched protocols (101), which is not proxied")]
    Upgrade,
    #[error("reading the client's request body failed: {0}")]
    ClientBody(Box<H1Error>),
}
