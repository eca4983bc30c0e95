//! A request to a service with retries: after a failed attempt the service's failover
//! policy decides (retry the same upstream, another, give up with a status, or pass the
//! answer on). Only bodiless requests are replayed; a request with a body gets one attempt,
//! because its body was streamed away and is not buffered.

use std::sync::Arc;

use switchyard_plugins::load::Outcome;
use switchyard_plugins::request::is_idempotent;
use switchyard_plugins::{Attempt, AttemptOutcome, FailoverDecision, FieldSpan};

use super::client::ClientBody;
use super::forward::{self, ForwardError};
use super::h1::{RequestFraming, UpstreamRequest};
use super::respond::{self, Refusal, Reply, Upstreamed, refuse};
use super::{ClientConn, Decision, pick};
use crate::snapshot::Snapshot;

pub async fn run(
    snapshot: Arc<Snapshot>,
    decision: Decision,
    client: &ClientConn,
    req: &UpstreamRequest<'_>,
    body: &mut ClientBody<'_>,
    fields: &mut Vec<FieldSpan>,
) -> Reply {
    let service = &snapshot.services[decision.service];
    let idempotent = is_idempotent(req.method);
    // The head is kept as written; without a body it can simply be sent again.
    let replayable = req.framing == RequestFraming::None;
    let mut body = Some(body);
    let mut tried = vec![false; service.upstreams.len()];
    let mut current = decision.upstream;
    let mut number = 1u32;
    loop {
        let upstream = &service.upstreams[current];
        tried[current] = true;
        let mut in_flight = upstream.load.start();
        let result = forward::exchange(
            upstream.addr,
            upstream.pool_key,
            &service.timeouts,
            &client.response_timer,
            req,
            body.take(),
            fields,
        )
        .await;
        let (outcome, sent, answer) = match result {
            Ok((head, response)) if head.status.is_server_error() => {
                let status = AttemptOutcome::Status(head.status.as_u16());
                (status, true, Ok((head, response)))
            }
            Ok((head, response)) => {
                in_flight.report(Outcome::Answered);
                return Reply::Upstream(Upstreamed {
                    head,
                    body: response,
                    in_flight,
                    additions: decision.additions,
                });
            }
            Err(e) if e.is_client_fault() => {
                in_flight.report(Outcome::Abandoned);
                return refuse(Refusal::for_error(&e));
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
        let can_retry = number <= service.retries && replayable;
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
            (None, Ok((head, response))) => {
                return Reply::Upstream(Upstreamed {
                    head,
                    body: response,
                    in_flight,
                    additions: decision.additions,
                });
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
