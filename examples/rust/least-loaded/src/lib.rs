//! Least loaded: the upstream with the fewest requests in flight per unit of weight. The scan
//! starts one upstream further on each pick and the first of equals wins, so an idle service
//! is served round robin (the same algorithm as the native `least_conn`, which makes the two
//! directly comparable in `tests/bench/compare.sh`).
//!
//! It asks for the packed load view: every upstream's live state arrives with each call.

use switchyard_sdk::{Balancer, BalancerOptions, Host, Loads, Pick, Upstream};

#[derive(Default)]
pub struct LeastLoaded {
    next: usize,
}

impl Balancer for LeastLoaded {
    fn new(_config: &str, _host: &dyn Host) -> Result<(Self, BalancerOptions), String> {
        Ok((LeastLoaded::default(), BalancerOptions::packed()))
    }

    fn set_upstreams(&mut self, _generation: u64, _upstreams: Vec<Upstream>) {
        self.next = 0;
    }

    fn pick(&mut self, _request: &Pick<'_>, loads: &Loads<'_>, _host: &dyn Host) -> Option<usize> {
        let n = loads.len();
        if n == 0 {
            return None;
        }
        let start = self.next % n;
        self.next = (start + 1) % n;
        let mut best: Option<(usize, u64, u64)> = None;
        for step in 0..n {
            let i = (start + step) % n;
            let Some(load) = loads.get(i) else { continue };
            if !load.healthy {
                continue;
            }
            let (busy, weight) = (u64::from(load.in_flight), u64::from(load.weight.max(1)));
            // busy/weight < best_busy/best_weight, without division.
            if best.is_none_or(|(_, b, w)| busy * w < b * weight) {
                best = Some((i, busy, weight));
            }
        }
        best.map(|(chosen, _, _)| chosen)
    }
}

switchyard_sdk::balancer!(LeastLoaded);
