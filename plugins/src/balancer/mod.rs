//! The balancer contract: pick one upstream of a set.
//!
//! Shaped like pingora's selection: an expensive [`BalancerKind::build`] runs off the hot
//! path whenever the upstream set changes (a reload), and a cheap [`Balancer::pick`] runs per
//! request and returns an index into the set it was built from.

mod least_conn;
mod maglev;
mod p2c;
mod peak_ewma;
mod random;
mod round_robin;
mod smooth_weighted;

use std::fmt;
use std::str::FromStr;
use std::sync::Arc;

use crate::load::UpstreamLoad;
use crate::request::RequestView;

/// One upstream as a balancer sees it.
#[derive(Debug, Clone)]
pub struct Target {
    /// Stable identity (the address as configured). Consistent hashing is keyed by it, so
    /// every gateway instance maps a key to the same upstream.
    pub id: String,
    /// Relative share of traffic, at least 1.
    pub weight: u32,
    /// Live load, shared with the data path and surviving reloads.
    pub load: Arc<UpstreamLoad>,
}

/// What a balancer may know about the request it places.
#[derive(Debug, Clone, Copy, Default)]
pub struct PickContext<'a> {
    /// Hash of the request's affinity key (client IP, header, cookie) when the service
    /// declares one; consistent-hashing balancers place by it.
    pub key_hash: Option<u64>,
    /// The request itself, for policies that look at more than the key (plugins).
    pub request: Option<&'a RequestView<'a>>,
}

/// Picks an upstream per request. Implementations are immutable after build except for
/// lock-free counters, so one instance serves every worker thread.
pub trait Balancer: Send + Sync + 'static {
    /// Index into the targets the balancer was built from, or `None` when it has none.
    fn pick(&self, ctx: &PickContext<'_>) -> Option<usize>;
}

/// The native built-in balancers, by config name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum BalancerKind {
    RoundRobin,
    SmoothWeighted,
    LeastConn,
    P2c,
    Hash,
    Ewma,
    Random,
}

impl BalancerKind {
    pub const ALL: [BalancerKind; 7] = [
        BalancerKind::RoundRobin,
        BalancerKind::SmoothWeighted,
        BalancerKind::LeastConn,
        BalancerKind::P2c,
        BalancerKind::Hash,
        BalancerKind::Ewma,
        BalancerKind::Random,
    ];

    pub fn name(self) -> &'static str {
        match self {
            BalancerKind::RoundRobin => "round_robin",
            BalancerKind::SmoothWeighted => "smooth_weighted",
            BalancerKind::LeastConn => "least_conn",
            BalancerKind::P2c => "p2c",
            BalancerKind::Hash => "hash",
            BalancerKind::Ewma => "ewma",
            BalancerKind::Random => "random",
        }
    }

    /// Comma-separated list of every valid name, for error messages.
    pub fn valid_names() -> String {
        Self::ALL.map(Self::name).join(", ")
    }

    /// Whether the balancer places requests by [`PickContext::key_hash`].
    pub fn uses_key(self) -> bool {
        self == BalancerKind::Hash
    }

    /// Builds the balancer for one upstream set. Runs off the hot path.
    pub fn build(self, targets: &[Target]) -> Result<Box<dyn Balancer>, BuildError> {
        if targets.is_empty() {
            return Err(BuildError::NoTargets);
        }
        if let Some(t) = targets.iter().find(|t| t.weight == 0) {
            return Err(BuildError::ZeroWeight(t.id.clone()));
        }
        Ok(match self {
            BalancerKind::RoundRobin => Box::new(round_robin::RoundRobin::new(targets.len())),
            BalancerKind::SmoothWeighted => Box::new(smooth_weighted::SmoothWeighted::new(targets)),
            BalancerKind::LeastConn => Box::new(least_conn::LeastConn::new(targets)),
            BalancerKind::P2c => Box::new(p2c::PowerOfTwo::new(targets)),
            BalancerKind::Hash => Box::new(maglev::Maglev::new(targets)),
            BalancerKind::Ewma => Box::new(peak_ewma::PeakEwma::new(targets)),
            BalancerKind::Random => Box::new(random::WeightedRandom::new(targets)),
        })
    }
}

impl fmt::Display for BalancerKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for BalancerKind {
    type Err = BuildError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|k| k.name() == s)
            .ok_or_else(|| BuildError::UnknownKind(s.to_owned()))
    }
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum BuildError {
    #[error("unknown balancer `{0}`; valid balancers: {valid}", valid = BalancerKind::valid_names())]
    UnknownKind(String),
    #[error("a balancer needs at least one upstream")]
    NoTargets,
    #[error("upstream `{0}` has weight 0; weights start at 1")]
    ZeroWeight(String),
}

/// `a` carries less load per unit of weight than `b`: `a.0 / a.1 < b.0 / b.1`,
/// compared by cross-multiplication so no division or float is needed.
fn lighter(a: (u64, u64), b: (u64, u64)) -> bool {
    a.0 * b.1 < b.0 * a.1
}

#[cfg(test)]
pub(crate) mod test_support {
    use super::*;

    pub fn targets(weights: &[u32]) -> Vec<Target> {
        weights
            .iter()
            .enumerate()
            .map(|(i, &weight)| Target {
                id: format!("10.0.0.{i}:80"),
                weight,
                load: UpstreamLoad::new(),
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_name_lists_valid_ones() {
        let err = "weighted".parse::<BalancerKind>().unwrap_err();
        let msg = err.to_string();
        for kind in BalancerKind::ALL {
            assert!(msg.contains(kind.name()), "{msg}");
        }
    }

    #[test]
    fn names_round_trip() {
        for kind in BalancerKind::ALL {
            assert_eq!(kind.name().parse::<BalancerKind>(), Ok(kind));
        }
    }

    #[test]
    fn every_kind_builds_and_picks_in_range() {
        let targets = test_support::targets(&[3, 1, 2]);
        for kind in BalancerKind::ALL {
            let b = kind.build(&targets).expect("builds");
            for i in 0..100u64 {
                let ctx = PickContext {
                    key_hash: Some(i.wrapping_mul(0x9e37_79b9_7f4a_7c15)),
                    request: None,
                };
                let idx = b.pick(&ctx).expect("picks");
                assert!(idx < targets.len(), "{kind}: {idx}");
            }
        }
    }

    #[test]
    fn empty_and_zero_weight_sets_are_rejected() {
        assert_eq!(
            BalancerKind::RoundRobin.build(&[]).err(),
            Some(BuildError::NoTargets)
        );
        let t = test_support::targets(&[1, 0]);
        assert!(matches!(
            BalancerKind::Random.build(&t).err(),
            Some(BuildError::ZeroWeight(_))
        ));
    }
}
