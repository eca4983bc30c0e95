//! The data path, one request at a time, in the order it happens:
//!
//! route → pick → forward → feedback (the in-flight guard rides the response body) → respond.

mod body;
mod forward;
mod headers;
mod pick;
pub mod pool;
mod respond;
mod route;

use std::net::SocketAddr;

use arc_swap::ArcSwap;
use http::{Request, Response, Version};
use hyper::body::Incoming;
use switchyard_plugins::load::Outcome;

pub use body::ProxyBody;
pub use headers::ClientFacts;
use respond::{Refusal, refuse};

use crate::snapshot::Snapshot;

/// What the proxy keeps per client connection.
pub struct ClientConn {
    pub peer: SocketAddr,
    pub facts: ClientFacts,
    /// Hash of the peer IP, for `hash_key = "client_ip"`, computed once per connection.
    pub ip_hash: u64,
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
        }
    }
}

/// Serves one request. Never fails: every problem becomes a response naming it.
pub async fn handle(
    snapshots: &ArcSwap<Snapshot>,
    client: &ClientConn,
    mut req: Request<Incoming>,
) -> Response<ProxyBody> {
    let host = route::request_host(&req);
    if host.is_none() && req.version() == Version::HTTP_11 {
        return refuse(Refusal::MissingHost);
    }
    // Everything this request needs from the snapshot is taken here, under one load, so no
    // snapshot guard is held across the await below; a reload meanwhile changes nothing for it.
    let (addr, key, timeouts, mut in_flight) = {
        let snapshot = snapshots.load();
        let Some(route) = route::find(&snapshot.config.routes, &req, host) else {
            return refuse(Refusal::NoRoute);
        };
        let service = &snapshot.services[snapshot.config.routes[route].service];
        let Some(upstream) = pick::upstream(service, &req, client.ip_hash) else {
            return refuse(Refusal::NoUpstream);
        };
        (
            upstream.addr,
            upstream.pool_key,
            service.timeouts,
            upstream.load.start(),
        )
    };
    headers::to_upstream(&mut req, &client.facts);
    match forward::exchange(addr, key, &timeouts, req).await {
        Ok((response, sender)) => {
            in_flight.report(Outcome::Answered);
            let (mut parts, incoming) = response.into_parts();
            headers::to_client(&mut parts.headers);
            let body = body::UpstreamBody::new(incoming, key, sender, timeouts.idle, in_flight);
            Response::from_parts(parts, ProxyBody::Upstream(body))
        }
        Err(e) => {
            in_flight.report(Outcome::Failed);
            tracing::warn!(peer = %client.peer, upstream = %addr, error = %e, "upstream exchange failed");
            refuse(if e.is_timeout() {
                Refusal::UpstreamTimeout
            } else {
                Refusal::UpstreamFailed
            })
        }
    }
}
