//! The answers the gateway gives itself, each with a short body naming the reason.

use bytes::Bytes;
use http::header::{CONTENT_TYPE, HeaderValue};
use http::{Response, StatusCode};

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
