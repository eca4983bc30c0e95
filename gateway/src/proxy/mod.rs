//! The data path, one request at a time, in the order it happens:
//!
//! route (a router plugin may pick the service) → affinity → pick → forward (with retries
//! when the service has them) → feedback (the in-flight guard rides the response body) →
//! respond.

mod attempts;
mod body;
mod deadline;
mod forward;
mod h1;
mod headers;
mod pick;
pub mod pool;
mod respond;
mod route;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use arc_swap::{ArcSwap, Guard};
use http::header::SET_COOKIE;
use http::{HeaderValue, Request, Response, Version};
use hyper::body::Incoming;
use switchyard_plugins::load::Outcome;
use switchyard_plugins::{AffinityKey, InFlight, LocalResponse, RequestView, Routing};

pub use body::ProxyBody;
use body::{RequestBody, UpstreamBody};
use deadline::ResponseTimer;
use h1::ResponseBody;
pub use headers::ClientFacts;
use respond::{Refusal, refuse};

use crate::snapshot::Snapshot;

/// What the proxy keeps per client connection.
pub struct ClientConn {
    pub peer: SocketAddr,
    pub facts: ClientFacts,
    /// Hash of the peer IP, for `hash_key = "client_ip"`, computed once per connection.
    pub ip_hash: u64,
    /// The peer IP as text, for policies.
    pub ip_text: Box<str>,
    /// Limits the wait for each upstream answer on this connection.
    response_timer: ResponseTimer,
}

impl ClientConn {
    pub fn new(peer: SocketAddr, proto: &'static str) -> Self {
        let ip = peer.ip();
        let ip_text = ip.to_string();
        let ip_hash = match ip {
            std::net::IpAddr::V4(v4) => xxhash_rust::xxh3::xxh3_64(&v4.octets()),
            std::net::IpAddr::V6(v6) => xxhash_rust::xxh3::xxh3_64(&v6.octets()),
        };
        Self {
            peer,
            facts: ClientFacts {
                peer_ip: http::HeaderValue::from_str(&ip_text)
                    .unwrap_or(http::HeaderValue::from_static("unknown")),
                proto: http::HeaderValue::from_static(proto),
            },
            ip_hash,
            ip_text: ip_text.into_boxed_str(),
            response_timer: ResponseTimer::default(),
        }
    }
}

/// Where a request goes, decided under one snapshot load.
struct Decision {
    service: usize,
    upstream: usize,
    /// A new affinity pin's cookie for the client.
    set_cookie: Option<HeaderValue>,
}

/// A request answered before reaching an upstream.
enum Early {
    Refuse(Refusal),
    Local(LocalResponse),
}

/// Serves one request. Never fails: every problem becomes a response naming it.
pub async fn handle(
    snapshots: &ArcSwap<Snapshot>,
    client: &ClientConn,
    req: Request<Incoming>,
) -> Response<ProxyBody> {
    let host = route::request_host(&req);
    if host.is_none() && req.version() == Version::HTTP_11 {
        return refuse(Refusal::MissingHost);
    }
    let snapshot = snapshots.load();
    let decision = match decide(&snapshot, client, &req, host) {
        Ok(d) => d,
        Err(Early::Refuse(why)) => return refuse(why),
        Err(Early::Local(answer)) => return respond::local(answer),
    };
    let service = &snapshot.services[decision.service];
    if service.retries > 0 {
        // Retries pick again after an await, so this request keeps its snapshot alive.
        return attempts::run(Guard::into_inner(snapshot), decision, client, req).await;
    }
    // Everything the single attempt needs is copied out here, so no snapshot guard is held
    // across the await; a reload meanwhile changes nothing for this request.
    let upstream = &service.upstreams[decision.upstream];
    let (addr, key, timeouts) = (upstream.addr, upstream.pool_key, service.timeouts);
    let mut in_flight = upstream.load.start();
    drop(snapshot);
    let (parts, body) = req.into_parts();
    let mut req = Request::from_parts(parts, RequestBody::Client(body));
    headers::to_upstream(&mut req, &client.facts);
    match forward::exchange(addr, key, &timeouts, &client.response_timer, req).await {
        Ok(response) => {
            in_flight.report(Outcome::Answered);
            Upstreamed { in_flight }.respond(response, decision.set_cookie)
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
    client: &ClientConn,
    req: &Request<Incoming>,
    host: Option<&str>,
) -> Result<Decision, Early> {
    let Some(route) = route::find(&snapshot.config.routes, req, host) else {
        return Err(Early::Refuse(Refusal::NoRoute));
    };
    let view = RequestView {
        method: req.method(),
        host: host.unwrap_or(""),
        path_and_query: req.uri().path_and_query().map_or("/", |pq| pq.as_str()),
        client_ip: &client.ip_text,
        headers: req.headers(),
    };
    let own = snapshot.config.routes[route].service;
    let service_index = match snapshot.routers.get(route).and_then(Option::as_ref) {
        None => own,
        Some(router) => match router.route(&view) {
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
        match affinity.policy.key(&view) {
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
                        service: service_index,
                        upstream,
                        set_cookie: None,
                    });
                }
                new_pin = Some((key, now));
            }
        }
    }
    let Some(upstream) = pick::upstream(service, req, &view, client.ip_hash) else {
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
        service: service_index,
        upstream,
        set_cookie,
    })
}

/// What stays with an upstream response until its body ends.
struct Upstreamed {
    in_flight: InFlight,
}

impl Upstreamed {
    fn respond(
        self,
        response: Response<ResponseBody>,
        set_cookie: Option<HeaderValue>,
    ) -> Response<ProxyBody> {
        let (mut parts, incoming) = response.into_parts();
        headers::to_client(&mut parts.headers);
        if let Some(cookie) = set_cookie {
            parts.headers.append(SET_COOKIE, cookie);
        }
        let body = UpstreamBody::new(incoming, self.in_flight);
        Response::from_parts(parts, ProxyBody::Upstream(body))
    }
}
