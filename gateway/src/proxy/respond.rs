//! What the proxy answers: an upstream's response, or its own short answer naming the
//! reason.

use bytes::Bytes;
use http::{HeaderValue, StatusCode};
use switchyard_plugins::{InFlight, LocalResponse};

use super::h1::{Head, ResponseBody};
use super::transform::ResponseOverlay;

#[expect(
    clippy::large_enum_variant,
    reason = "moved once per request; boxing the common variant would allocate per request"
)]
pub enum Reply {
    Upstream(Upstreamed),
    Local(LocalReply),
}

/// An upstream's answer, its body still on the upstream connection.
pub struct Upstreamed {
    pub head: Head,
    pub body: ResponseBody,
    /// The upstream counts the request as in flight until the body has passed.
    pub in_flight: InFlight,
    pub additions: ResponseAdditions,
}

/// What the gateway adds to an upstream's response head.
#[derive(Default)]
pub struct ResponseAdditions {
    /// A new affinity pin's cookie for the client.
    pub set_cookie: Option<HeaderValue>,
    /// The route's response fields and request id; `None` for routes without them.
    pub overlay: Option<Box<ResponseOverlay>>,
}

/// An answer the gateway gives itself. Without a `content-type` among `headers`, it is
/// sent as plain text.
pub struct LocalReply {
    pub status: StatusCode,
    pub headers: Vec<(String, String)>,
    pub body: Bytes,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    BadPath,
    BadRequestBody,
    ClientTimeout,
    NoRoute,
    NoUpstream,
    UpstreamFailed,
    UpstreamTimeout,
}

impl Refusal {
    pub fn for_error(e: &super::forward::ForwardError) -> Self {
        if e.is_client_timeout() {
            Refusal::ClientTimeout
        } else if e.is_client_fault() {
            Refusal::BadRequestBody
        } else if e.is_timeout() {
            Refusal::UpstreamTimeout
        } else {
            Refusal::UpstreamFailed
        }
    }

    fn status(self) -> StatusCode {
        match self {
            Refusal::BadPath | Refusal::BadRequestBody => StatusCode::BAD_REQUEST,
            Refusal::ClientTimeout => StatusCode::REQUEST_TIMEOUT,
            Refusal::NoRoute => StatusCode::NOT_FOUND,
            Refusal::NoUpstream => StatusCode::SERVICE_UNAVAILABLE,
            Refusal::UpstreamFailed => StatusCode::BAD_GATEWAY,
            Refusal::UpstreamTimeout => StatusCode::GATEWAY_TIMEOUT,
        }
    }

    fn body(self) -> &'static str {
        match self {
            Refusal::BadPath => {
                "switchyard: malformed percent-encoding or an encoded slash in the path\n"
            }
            Refusal::BadRequestBody => "switchyard: the request body was cut short or malformed\n",
            Refusal::ClientTimeout => {
                "switchyard: the request body stopped arriving for client_timeout\n"
            }
            Refusal::NoRoute => "switchyard: no route matches this request\n",
            Refusal::NoUpstream => {
                "switchyard: the service has no upstream to serve this request\n"
            }
            Refusal::UpstreamFailed => {
                "switchyard: the upstream could not be reached or failed to answer\n"
            }
            Refusal::UpstreamTimeout => "switchyard: the upstream did not answer in time\n",
        }
    }
}

pub fn refuse(why: Refusal) -> Reply {
    text(why.status(), why.body())
}

/// A plain-text answer.
fn text(status: StatusCode, body: &'static str) -> Reply {
    Reply::Local(LocalReply {
        status,
        headers: Vec::new(),
        body: Bytes::from_static(body.as_bytes()),
    })
}

/// A policy's own answer (a router responding directly, a fail-closed plugin). Its parts
/// were validated by the policy adapter.
pub fn local(answer: LocalResponse) -> Reply {
    Reply::Local(LocalReply {
        status: StatusCode::from_u16(answer.status).unwrap_or(StatusCode::BAD_GATEWAY),
        headers: answer.headers,
        body: Bytes::from(answer.body),
    })
}

/// A bare status chosen by a failover policy.
pub fn status(code: u16) -> Reply {
    let status = StatusCode::from_u16(code).unwrap_or(StatusCode::BAD_GATEWAY);
    let body = format!(
        "switchyard: {} {}\n",
        status.as_u16(),
        status.canonical_reason().unwrap_or("")
    );
    Reply::Local(LocalReply {
        status,
        headers: Vec::new(),
        body: Bytes::from(body),
    })
}
