//! The answers the gateway gives itself, each with a short body naming the reason.

use bytes::Bytes;
use http::header::{CONTENT_TYPE, HeaderValue};
use http::{Response, StatusCode};

use switchyard_plugins::LocalResponse;

use super::body::ProxyBody;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    MissingHost,
    NoRoute,
    NoUpstream,
    UpstreamFailed,
    UpstreamTimeout,
}

impl Refusal {
    pub fn for_error(e: &super::forward::ForwardError) -> Self {
        if e.is_timeout() {
            Refusal::UpstreamTimeout
        } else {
            Refusal::UpstreamFailed
        }
    }

    fn status(self) -> StatusCode {
        match self {
            Refusal::MissingHost => StatusCode::BAD_REQUEST,
            Refusal::NoRoute => StatusCode::NOT_FOUND,
            Refusal::NoUpstream => StatusCode::SERVICE_UNAVAILABLE,
            Refusal::UpstreamFailed => StatusCode::BAD_GATEWAY,
            Refusal::UpstreamTimeout => StatusCode::GATEWAY_TIMEOUT,
        }
    }

    fn body(self) -> &'static str {
        match self {
            Refusal::MissingHost => "switchyard: HTTP/1.1 request without a Host header\n",
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

/// A policy's own answer (a router responding directly, a fail-closed plugin, a failover
/// giving up). Its parts were validated by the policy adapter.
pub fn local(answer: LocalResponse) -> Response<ProxyBody> {
    let mut response = Response::new(ProxyBody::Local(Some(Bytes::from(answer.body))));
    *response.status_mut() = StatusCode::from_u16(answer.status).unwrap_or(StatusCode::BAD_GATEWAY);
    for (name, value) in answer.headers {
        if let (Ok(n), Ok(v)) = (
            http::HeaderName::from_bytes(name.as_bytes()),
            HeaderValue::from_str(&value),
        ) {
            response.headers_mut().append(n, v);
        }
    }
    response
}

/// A bare status chosen by a failover policy.
pub fn status(code: u16) -> Response<ProxyBody> {
    let status = StatusCode::from_u16(code).unwrap_or(StatusCode::BAD_GATEWAY);
    let body = format!(
        "switchyard: {} {}\n",
        status.as_u16(),
        status.canonical_reason().unwrap_or("")
    );
    let mut response = Response::new(ProxyBody::Local(Some(Bytes::from(body))));
    *response.status_mut() = status;
    response.headers_mut().insert(
        CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    response
}

pub fn refuse(why: Refusal) -> Response<ProxyBody> {
    let mut response = Response::new(ProxyBody::Local(Some(Bytes::from_static(
        why.body().as_bytes(),
    ))));
    *response.status_mut() = why.status();
    response.headers_mut().insert(
        CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    response
}
