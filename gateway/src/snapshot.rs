//! One immutable view of the whole configuration with every policy built: what a request
//! reads (once, through the gateway's single `ArcSwap`) to decide where it goes.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;

use switchyard_plugins::{Affinity, Balancer, Failover, NoRetry, Router, Target, UpstreamLoad};

use crate::config::{BalancerChoice, Config, FailoverChoice, HashKey, Timeouts};
use crate::pins::PinTable;
use crate::proxy::route::RouteIndex;
use crate::runtime_state::{PoolKey, RuntimeState};
use crate::wasm::{self, LoadedPlugin, PluginError, UpstreamInfo};

pub struct Snapshot {
    pub generation: u64,
    pub config: Config,
    /// Finds the route of a request in `config.routes`.
    pub routes: RouteIndex,
    /// Parallel to `config.routes`: the router plugin of each route that names one.
    pub routers: Vec<Option<Box<dyn Router>>>,
    /// Parallel to `config.services`.
    pub services: Vec<Service>,
    /// Parallel to `config.plugins`; `None` for plugins no slot uses.
    pub plugins: Vec<Option<Arc<LoadedPlugin>>>,
}

pub struct Service {
    pub name: String,
    pub hash_key: Option<HashKey>,
    pub timeouts: Timeouts,
    pub upstreams: Vec<Upstream>,
    /// Lowest tier first. Until failover lands the first tier serves.
    pub tiers: Vec<Tier>,
    pub affinity: Option<ServiceAffinity>,
    pub failover: Box<dyn Failover>,
    /// Extra tries after the first, at most (0: no retries).
    pub retries: u32,
}

pub struct ServiceAffinity {
    pub policy: Box<dyn Affinity>,
    pub pins: Arc<PinTable>,
}

/// The upstreams of one failover tier and the balancer built over them.
pub struct Tier {
    pub level: u32,
    pub balancer: Box<dyn Balancer>,
    /// Index into [`Service::upstreams`] for each balancer index.
    pub members: Vec<usize>,
}

pub struct Upstream {
    pub id: Arc<str>,
    pub addr: SocketAddr,
    pub weight: u32,
    pub tier: u32,
    pub pool_key: PoolKey,
    pub load: Arc<UpstreamLoad>,
}

#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    #[error("service `{service}`: {source}")]
    Balancer {
        service: String,
        source: switchyard_plugins::BuildError,
    },
    #[error(transparent)]
    Plugin(#[from] PluginError),
}

impl Snapshot {
    /// Builds every policy of `config`: compiles its plugins and gives each of the
    /// `workers` a warm instance. Runs off the hot path; all or nothing.
    pub fn build(
        config: Config,
        generation: u64,
        state: &RuntimeState,
        workers: usize,
    ) -> Result<Self, BuildError> {
        let plugins = wasm::load_all(&config, state)?;
        let plugin = |i: usize| {
            plugins[i]
                .as_ref()
                .expect("a plugin a slot names is loaded")
        };
        let mut services = Vec::with_capacity(config.services.len());
        for svc in &config.services {
            let upstreams: Vec<Upstream> = svc
                .upstreams
                .iter()
                .map(|u| Upstream {
                    id: Arc::from(u.id.as_str()),
                    addr: u.addr,
                    weight: u.weight,
                    tier: u.tier,
                    pool_key: state.pool_key(u.addr),
                    load: state.load_for(&svc.name, &u.id),
                })
                .collect();
            let tiers = build_tiers(&upstreams, |targets, members| match svc.balancer {
                BalancerChoice::Native(kind) => {
                    kind.build(targets).map_err(|source| BuildError::Balancer {
                        service: svc.name.clone(),
                        source,
                    })
                }
                BalancerChoice::Plugin(i) => {
                    let info: Vec<UpstreamInfo> = members
                        .iter()
                        .map(|&m| UpstreamInfo {
                            id: upstreams[m].id.to_string(),
                            addr: upstreams[m].addr.to_string(),
                            tier: upstreams[m].tier,
                        })
                        .collect();
                    Ok(wasm::balancer::build(
                        plugin(i),
                        targets,
                        &info,
                        generation,
                        workers,
                    )?)
                }
            })?;
            let affinity = match &svc.affinity {
                None => None,
                Some(a) => Some(ServiceAffinity {
                    policy: wasm::affinity::build(plugin(a.plugin), workers)?,
                    pins: state.pins(&svc.name, a.max_entries, a.max_age),
                }),
            };
            let failover: Box<dyn Failover> = match svc.retry.failover {
                FailoverChoice::Default => Box::new(RetryUnsent),
                FailoverChoice::Plugin(i) => wasm::failover::build(plugin(i), workers)?,
            };
            services.push(Service {
                name: svc.name.clone(),
                hash_key: svc.hash_key.clone(),
                timeouts: svc.timeouts,
                upstreams,
                tiers,
                affinity,
                failover,
                retries: svc.retry.attempts,
            });
        }
        let service_index: HashMap<String, usize> = config
            .services
            .iter()
            .enumerate()
            .map(|(i, s)| (s.name.clone(), i))
            .collect();
        let routers = config
            .routes
            .iter()
            .map(|r| {
                r.router
                    .map(|i| wasm::router::build(plugin(i), service_index.clone(), workers))
                    .transpose()
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Snapshot {
            generation,
            routes: RouteIndex::new(&config.routes),
            config,
            routers,
            services,
            plugins,
        })
    }

    /// Whether `(service, upstream id)` is part of this snapshot.
    pub fn names(&self, service: &str, upstream: &str) -> bool {
        self.services
            .iter()
            .any(|s| s.name == service && s.upstreams.iter().any(|u| &*u.id == upstream))
    }
}

/// The built-in failover: another upstream when the connection could not even be made
/// (nothing was sent, so it is safe for any method); otherwise the answer stands.
struct RetryUnsent;

impl Failover for RetryUnsent {
    fn decide(
        &self,
        attempt: &switchyard_plugins::Attempt,
    ) -> switchyard_plugins::FailoverDecision {
        use switchyard_plugins::{AttemptOutcome, FailoverDecision};
        match attempt.outcome {
            AttemptOutcome::ConnectFailed if attempt.untried > 0 => FailoverDecision::RetryOther,
            _ => NoRetry.decide(attempt),
        }
    }
}

fn build_tiers(
    upstreams: &[Upstream],
    mut build: impl FnMut(&[Target], &[usize]) -> Result<Box<dyn Balancer>, BuildError>,
) -> Result<Vec<Tier>, BuildError> {
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
                    id: upstreams[i].id.to_string(),
                    weight: upstreams[i].weight,
                    load: Arc::clone(&upstreams[i].load),
                })
                .collect();
            Ok(Tier {
                level,
                balancer: build(&targets, &members)?,
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
                max_connections: None,
                client_timeout: std::time::Duration::from_secs(30),
                requests: Default::default(),
                routes: Vec::new(),
                services: Vec::new(),
                plugins: Vec::new(),
                plugin_cache: Default::default(),
                warnings: Vec::new(),
            },
            routes: RouteIndex::default(),
            routers: Vec::new(),
            services: Vec::new(),
            plugins: Vec::new(),
        }
    }
}
