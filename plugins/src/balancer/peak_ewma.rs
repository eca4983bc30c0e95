//! Least response time: power-of-two-choices over peak-EWMA latency × (in-flight + 1),
//! Finagle's and linkerd's "peak EWMA". Reacts to a slow upstream at its first slow answer
//! and forgives it gradually; the in-flight factor keeps a fast upstream from being buried.

use std::sync::Arc;
use std::time::{Duration, Instant};

use super::p2c::two_distinct;
use super::{Balancer, PickContext, Target};
use crate::load::{DEFAULT_EWMA_DECAY, UpstreamLoad};

/// Cost assumed for an upstream with no latency sample yet: low enough that a new
/// upstream gets tried at once, high enough that in-flight still matters.
const UNKNOWN_RTT_NANOS: f64 = 1_000_000.0;

pub struct PeakEwma {
    loads: Box<[(Arc<UpstreamLoad>, f64)]>,
    decay: Duration,
}

impl PeakEwma {
    pub fn new(targets: &[Target]) -> Self {
        Self {
            loads: targets
                .iter()
                .map(|t| (Arc::clone(&t.load), f64::from(t.weight)))
                .collect(),
            decay: DEFAULT_EWMA_DECAY,
        }
    }

    fn cost(&self, i: usize, now: Instant) -> f64 {
        let (load, weight) = &self.loads[i];
        let rtt = match load.ewma_nanos(now, self.decay) {
            0.0 => UNKNOWN_RTT_NANOS,
            rtt => rtt,
        };
        rtt * f64::from(load.in_flight() + 1) / weight
    }
}

impl Balancer for PeakEwma {
    fn pick(&self, _ctx: &PickContext) -> Option<usize> {
        let (a, b) = two_distinct(self.loads.len());
        let now = Instant::now();
        Some(if self.cost(b, now) < self.cost(a, now) {
            b
        } else {
            a
        })
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_support::targets;
    use super::*;
    use crate::load::Outcome;

    #[test]
    fn prefers_the_faster_upstream() {
        let t = targets(&[1, 1]);
        for (i, ms) in [(0, 25u64), (1, 5)] {
            let mut g = t[i].load.start();
            std::thread::sleep(Duration::from_millis(ms));
            g.report(Outcome::Answered);
        }
        let b = PeakEwma::new(&t);
        assert!((0..50).all(|_| b.pick(&PickContext::default()) == Some(1)));
    }
}
