//! A request to a service with retries: after a failed attempt the service's failover
//! policy decides (retry the same upstream, another, give up with a status, or pass the
//! answer on). Only bodiless requests are replayed; a request with a body gets one attempt,
//! because its body was streamed away and is not buffered.

use std::sync::Arc;

use http::{Request, Response};
use switchyard_plugins::load::Outcome;
use switchyard_plugins::request::is_idempotent;
use switchyard_plugins::{Attempt, AttemptOutcome, FailoverDecision};

use super::body::{ProxyBody, RequestBody};
use super::forward::{self, ForwardError};
use super::respond::{self, Refusal, refuse};
use super::{ClientConn, Decision, Upstreamed, headers, pick};
use crate::snapshot::Snapshot;

pub async fn run(
    snapshot: Arc<Snapshot>,
    decision: Decision,
    client: &ClientConn,
    req: Request<hyper::body::Incoming>,
) -> Response<ProxyBody> {
    let service = &snapshot.services[decision.service];
    let idempotent = is_idempotent(req.method());
    let replayable = hyper::body::Body::is_end_stream(req.body());
    let (parts, body) = req.into_parts();
    let mut first = Request::from_parts(parts, RequestBody::Client(body));
    headers::to_upstream(&mut first, &client.facts);
    let template = replayable.then(|| head_of(&first));
    let mut next = Some(first);
    let mut tried = vec![false; service.upstreams.len()];
    let mut current = decision.upstream;
    let mut number = 1u32;
    loop {
        let upstream = &service.upstreams[current];
        tried[current] = true;
        let req = match (next.take(), &template) {
            (Some(req), _) => req,
            (None, Some(head)) => replay(head),
            // Unreachable: without a template no retry is ever chosen below.
            (None, None) => return refuse(Refusal::UpstreamFailed),
        };
        let mut in_flight = upstream.load.start();
        let result = forward::exchange(
            upstream.addr,
            upstream.pool_key,
            &service.timeouts,
            &client.response_timer,
            req,
        )
        .await;
        let (outcome, sent, answer) = match result {
            Ok(response) if response.status().is_server_error() => {
                let status = AttemptOutcome::Status(response.status().as_u16());
                (status, true, Ok(response))
            }
            Ok(response) => {
                in_flight.report(Outcome::Answered);
                return Upstreamed { in_flight }.respond(response, decision.set_cookie);
            }
            Err(e) => {
                tracing::warn!(peer = %client.peer, upstream = %upstream.addr, attempt = number, error = %e, "upstream exchange failed");
                (outcome_of(&e), e.maybe_sent(), Err(e))
            }
        };
        in_flight.report(Outcome::Failed);
        let attempt = Attempt {
            number,
            upstream: current as u32,
            outcome,
            sent,
            idempotent,
            upstreams: tried.len() as u32,
            untried: tried.iter().filter(|t| !**t).count() as u32,
        };
        let can_retry = number <= service.retries && template.is_some();
        let retry_on = match service.failover.decide(&attempt) {
            FailoverDecision::RetrySame if can_retry => Some(current),
            FailoverDecision::RetryOther if can_retry => pick::untried(service, &tried),
            FailoverDecision::GiveUp(code) => return respond::status(code),
            _ => None,
        };
        match (retry_on, answer) {
            (Some(upstream), _) => {
                current = upstream;
                number += 1;
            }
            (None, Ok(response)) => {
                return Upstreamed { in_flight }.respond(response, decision.set_cookie);
            }
            (None, Err(e)) => return refuse(Refusal::for_error(&e)),
        }
    }
}

fn outcome_of(e: &ForwardError) -> AttemptOutcome {
    match e {
        ForwardError::Connect { .. } => AttemptOutcome::ConnectFailed,
        ForwardError::ConnectTimeout { .. } | ForwardError::Timeout { .. } => {
            AttemptOutcome::TimedOut
        }
        ForwardError::Exchange { .. } => AttemptOutcome::Broken,
    }
}

/// The upstream-ready head of a bodiless request, kept to send it again.
fn head_of(req: &Request<RequestBody>) -> Request<()> {
    let mut head = Request::new(());
    *head.method_mut() = req.method().clone();
    *head.uri_mut() = req.uri().clone();
    *head.version_mut() = req.version();
    *head.headers_mut() = req.headers().clone();
    head
}

fn replay(head: &Request<()>) -> Request<RequestBody> {
    let mut req = Request::new(RequestBody::Empty);
    *req.method_mut() = head.method().clone();
    *req.uri_mut() = head.uri().clone();
    *req.version_mut() = head.version();
    *req.headers_mut() = head.headers().clone();
    req
}
