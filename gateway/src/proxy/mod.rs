//! The data path, one request at a time, in the order it happens:
//!
//! route (a router plugin may pick the service) → affinity → pick → forward (with retries
//! when the service has them) → feedback (the in-flight guard rides the response body) →
//! respond.

mod attempts;
pub mod client;
mod client_addr;
mod date;
mod deadline;
mod fields;
mod forward;
mod h1;
mod headers;
mod path;
mod pick;
pub mod pool;
mod respond;
pub(crate) mod route;
mod transform;
mod wire;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use arc_swap::{ArcSwap, Guard};
use http::HeaderValue;
use switchyard_plugins::load::Outcome;
use switchyard_plugins::{AffinityKey, FieldSpan, Headers, LocalResponse, RequestView, Routing};

use client::{ClientBody, RequestHead};
use deadline::ReusedTimer;
use h1::UpstreamRequest;
use headers::Forwarded;
use respond::{Refusal, Reply, ResponseAdditions, Upstreamed, refuse};
use transform::{RequestOverlay, ResponseOverlay};

use crate::config::RouteTarget;
use crate::snapshot::Snapshot;

/// What the proxy keeps per client connection.
pub struct ClientConn {
    pub peer: SocketAddr,
    /// `http` or `https`, for `X-Forwarded-Proto`.
    pub proto: &'static str,
    /// Hash of the peer IP, for `hash_key = "client_ip"`, computed once per connection.
    pub ip_hash: u64,
    /// The peer IP as text, for policies and `X-Forwarded-For`.
    pub ip_text: Box<str>,
    /// Limits the wait for each upstream answer on this connection.
    response_timer: ReusedTimer,
}

impl ClientConn {
    pub fn new(peer: SocketAddr, proto: &'static str) -> Self {
        let ip = peer.ip();
        Self {
            peer,
            proto,
            ip_hash: client_addr::ip_hash(ip),
            ip_text: ip.to_string().into_boxed_str(),
            response_timer: ReusedTimer::default(),
        }
    }
}

/// One request as the data path gets it from the client connection, with the buffers the
/// connection reuses for every request.
pub struct Exchange<'x, 'c> {
    pub request: &'x RequestHead,
    pub request_fields: &'x [FieldSpan],
    /// Still on the client socket; read as the upstream takes it.
    pub body: &'x mut ClientBody<'c>,
    /// Filled with the upstream response head's fields.
    pub response_fields: &'x mut Vec<FieldSpan>,
    /// Where the upstream request head is written.
    pub upstream_head: &'x mut Vec<u8>,
}

/// Where a request goes, decided under one snapshot load.
struct Decision {
    route: usize,
    service: usize,
    upstream: usize,
    /// A new affinity pin's cookie, the route's response overlay.
    additions: ResponseAdditions,
}

/// A request answered before reaching an upstream.
enum Early {
    Refuse(Refusal),
    Local(LocalResponse),
}

/// Serves one request. Never fails: every problem becomes an answer naming it.
pub async fn handle(
    snapshots: &ArcSwap<Snapshot>,
    client: &ClientConn,
    x: Exchange<'_, '_>,
) -> Reply {
    let req = x.request;
    let snapshot = snapshots.load();
    let rules = &snapshot.config.requests;
    // Routed and forwarded by one path: the normalised one.
    let target = match path::normalize(req.target(), &rules.path) {
        Ok(target) => target,
        Err(bad) => {
            tracing::debug!(peer = %client.peer, error = %bad, "bad request path");
            return refuse(Refusal::BadPath);
        }
    };
    let path = client::path_of(&target);
    let headers = Headers::new(&req.raw, x.request_fields);
    let trusted_peer = rules.trusts(client.peer.ip());
    // Only a trusted proxy may say who the client is; anyone else is the client.
    let forwarded = trusted_peer
        .then(|| client_addr::forwarded_for(&headers, rules))
        .flatten()
        .map(|ip| (ip.to_string(), client_addr::ip_hash(ip)));
    let (client_ip, ip_hash) = match &forwarded {
        Some((text, hash)) => (text.as_str(), *hash),
        None => (&*client.ip_text, client.ip_hash),
    };
    let view = RequestView {
        method: &req.method,
        host: req.host().unwrap_or(""),
        path_and_query: &target,
        client_ip,
        headers,
    };
    let mut decision = match decide(&snapshot, ip_hash, &view, path) {
        Ok(d) => d,
        Err(Early::Refuse(why)) => return refuse(why),
        Err(Early::Local(answer)) => return respond::local(answer),
    };
    let framing = x.body.framing();
    let by = Forwarded {
        peer_ip: &client.ip_text,
        proto: client.proto,
        trusted_peer,
        drop_underscored: rules.drop_underscored,
    };
    let host_missing = match snapshot.config.routes[decision.route].transform.as_deref() {
        None => headers::write_upstream(
            x.upstream_head,
            req,
            &target,
            x.request_fields,
            &by,
            framing,
            None,
        ),
        Some(transform) => {
            let rewritten = transform::rewritten_target(transform, &target);
            let request_id = transform::request_id(transform, &view.headers);
            let overlay = RequestOverlay {
                edits: &transform.request_headers,
                request_id: request_id
                    .as_ref()
                    .filter(|(_, new)| *new)
                    .map(|(id, _)| id),
            };
            if !transform.response_headers.is_empty() || request_id.is_some() {
                decision.additions.overlay = Some(Box::new(ResponseOverlay {
                    edits: Arc::clone(&transform.response_headers),
                    request_id: request_id.as_ref().map(|(id, _)| id.clone()),
                }));
            }
            headers::write_upstream(
                x.upstream_head,
                req,
                rewritten.as_deref().unwrap_or(&target),
                x.request_fields,
                &by,
                framing,
                Some(&overlay),
            )
        }
    };
    drop(target);
    let upstream_req = UpstreamRequest {
        method: &req.method,
        head: x.upstream_head,
        host_missing,
        framing,
    };
    let service = &snapshot.services[decision.service];
    if service.retries > 0 {
        // Retries pick again after an await, so this request keeps its snapshot alive.
        return attempts::run(
            Guard::into_inner(snapshot),
            decision,
            client,
            &upstream_req,
            x.body,
            x.response_fields,
        )
        .await;
    }
    // Everything the single attempt needs is copied out here, so no snapshot guard is held
    // across the await; a reload meanwhile changes nothing for this request.
    let upstream = &service.upstreams[decision.upstream];
    let (addr, key, timeouts) = (upstream.addr, upstream.pool_key, service.timeouts);
    let mut in_flight = upstream.load.start();
    drop(snapshot);
    let sent = forward::exchange(
        addr,
        key,
        &timeouts,
        &client.response_timer,
        &upstream_req,
        Some(x.body),
        x.response_fields,
    )
    .await;
    match sent {
        Ok((head, body)) => {
            in_flight.report(Outcome::Answered);
            Reply::Upstream(Upstreamed {
                head,
                body,
                in_flight,
                additions: decision.additions,
            })
        }
        Err(e) if e.is_client_fault() => {
            in_flight.report(Outcome::Abandoned);
            tracing::debug!(peer = %client.peer, upstream = %addr, error = %e, "client broke off its request");
            refuse(Refusal::for_error(&e))
        }
        Err(e) => {
            in_flight.report(Outcome::Failed);
            tracing::warn!(peer = %client.peer, upstream = %addr, error = %e, "upstream exchange failed");
            refuse(Refusal::for_error(&e))
        }
    }
}

fn decide(
    snapshot: &Snapshot,
    ip_hash: u64,
    view: &RequestView<'_>,
    path: &str,
) -> Result<Decision, Early> {
    let Some(route) = snapshot.routes.find(&snapshot.config.routes, view, path) else {
        return Err(Early::Refuse(Refusal::NoRoute));
    };
    let own = match &snapshot.config.routes[route].target {
        RouteTarget::Service(i) => *i,
        RouteTarget::Redirect(redirect) => {
            return Err(Early::Local(transform::redirect(
                redirect,
                snapshot.config.routes[route].transform.as_deref(),
                view.host,
                view.path_and_query,
                &view.headers,
            )));
        }
    };
    let service_index = match snapshot.routers.get(route).and_then(Option::as_ref) {
        None => own,
        Some(router) => match router.route(view) {
            Routing::Default => own,
            Routing::Service(i) => i,
            Routing::Respond(answer) => return Err(Early::Local(answer)),
        },
    };
    let Some(service) = snapshot.services.get(service_index) else {
        return Err(Early::Refuse(Refusal::NoUpstream));
    };
    let mut new_pin = None;
    if let Some(affinity) = &service.affinity {
        match affinity.policy.key(view) {
            AffinityKey::None => {}
            AffinityKey::Refuse => {
                return Err(Early::Local(LocalResponse::unavailable(
                    "the affinity plugin failed",
                )));
            }
            AffinityKey::Key(key) => {
                let now = Instant::now();
                let pinned = affinity.pins.get(&key, now);
                if let Some(upstream) = pinned.and_then(|id| pick::pinned(service, &id)) {
                    return Ok(Decision {
                        route,
                        service: service_index,
                        upstream,
                        additions: ResponseAdditions::default(),
                    });
                }
                new_pin = Some((key, now));
            }
        }
    }
    let Some(upstream) = pick::upstream(service, view, ip_hash) else {
        return Err(Early::Refuse(Refusal::NoUpstream));
    };
    let set_cookie = match (new_pin, &service.affinity) {
        (Some((key, now)), Some(affinity)) => {
            let id = &service.upstreams[upstream].id;
            let cookie = affinity.policy.pinned(&key, id);
            affinity.pins.pin(key, Arc::clone(id), now);
            cookie.and_then(|c| HeaderValue::from_str(&c).ok())
        }
        _ => None,
    };
    Ok(Decision {
        route,
        service: service_index,
        upstream,
        additions: ResponseAdditions {
            set_cookie,
            overlay: None,
        },
    })
}
