//! One immutable view of the whole configuration with every policy built: what a request
//! reads (once, through the gateway's single `ArcSwap`) to decide where it goes.

use std::net::SocketAddr;
use std::sync::Arc;

use switchyard_plugins::{Balancer, BalancerKind, Target, UpstreamLoad};

use crate::config::{Config, HashKey, Timeouts};
use crate::runtime_state::{PoolKey, RuntimeState};

pub struct Snapshot {
    pub generation: u64,
    pub config: Config,
    /// Parallel to `config.services`.
    pub services: Vec<Service>,
}

pub struct Service {
    pub name: String,
    pub balancer: BalancerKind,
    pub hash_key: Option<HashKey>,
    pub timeouts: Timeouts,
    pub upstreams: Vec<Upstream>,
    /// Lowest tier first. Until failover lands the first tier serves.
    pub tiers: Vec<Tier>,
}

/// The upstreams of one failover tier and the balancer built over them.
pub struct Tier {
    pub level: u32,
    pub balancer: Box<dyn Balancer>,
    /// Index into [`Service::upstreams`] for each balancer index.
    pub members: Vec<usize>,
}

pub struct Upstream {
    pub id: String,
    pub addr: SocketAddr,
    pub weight: u32,
    pub tier: u32,
    pub pool_key: PoolKey,
    pub load: Arc<UpstreamLoad>,
}

#[derive(Debug, thiserror::Error)]
#[error("service `{service}`: {source}")]
pub struct BuildError {
    service: String,
    source: switchyard_plugins::BuildError,
}

impl Snapshot {
    /// Builds every policy of `config`. Runs off the hot path; all or nothing.
    pub fn build(
        config: Config,
        generation: u64,
        state: &RuntimeState,
    ) -> Result<Self, BuildError> {
        let services = config
            .services
            .iter()
            .map(|svc| {
                let upstreams: Vec<Upstream> = svc
                    .upstreams
                    .iter()
                    .map(|u| Upstream {
                        id: u.id.clone(),
                        addr: u.addr,
                        weight: u.weight,
                        tier: u.tier,
                        pool_key: state.pool_key(u.addr),
                        load: state.load_for(&svc.name, &u.id),
                    })
                    .collect();
                let tiers = build_tiers(svc.balancer, &upstreams).map_err(|source| BuildError {
                    service: svc.name.clone(),
                    source,
                })?;
                Ok(Service {
                    name: svc.name.clone(),
                    balancer: svc.balancer,
                    hash_key: svc.hash_key.clone(),
                    timeouts: svc.timeouts,
                    upstreams,
                    tiers,
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Snapshot {
            generation,
            config,
            services,
        })
    }

    /// Whether `(service, upstream id)` is part of this snapshot.
    pub fn names(&self, service: &str, upstream: &str) -> bool {
        self.services
            .iter()
            .any(|s| s.name == service && s.upstreams.iter().any(|u| u.id == upstream))
    }
}

fn build_tiers(
    kind: BalancerKind,
    upstreams: &[Upstream],
) -> Result<Vec<Tier>, switchyard_plugins::BuildError> {
    let mut levels: Vec<u32> = upstreams.iter().map(|u| u.tier).collect();
    levels.sort_unstable();
    levels.dedup();
    levels
        .into_iter()
        .map(|level| {
            let members: Vec<usize> = (0..upstreams.len())
                .filter(|&i| upstreams[i].tier == level)
                .collect();
            let targets: Vec<Target> = members
                .iter()
                .map(|&i| Target {
                    id: upstreams[i].id.clone(),
                    weight: upstreams[i].weight,
                    load: Arc::clone(&upstreams[i].load),
                })
                .collect();
            Ok(Tier {
                level,
                balancer: kind.build(&targets)?,
                members,
            })
        })
        .collect()
}

impl Snapshot {
    /// Generation 0: routes nothing. Only visible between `Gateway::start` creating its
    /// shared state and storing the first real snapshot, before any listener serves.
    pub(crate) fn placeholder() -> Self {
        Snapshot {
            generation: 0,
            config: Config {
                listen: Vec::new(),
                admin: None,
                workers: 0,
                routes: Vec::new(),
                services: Vec::new(),
                warnings: Vec::new(),
            },
            services: Vec::new(),
        }
    }
}
