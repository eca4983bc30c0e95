//! Least outstanding requests per unit of weight; ties rotate so equal upstreams share.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use super::{Balancer, PickContext, Target, lighter};
use crate::load::UpstreamLoad;

pub struct LeastConn {
    loads: Box<[(Arc<UpstreamLoad>, u64)]>,
    rotation: AtomicUsize,
}

impl LeastConn {
    pub fn new(targets: &[Target]) -> Self {
        Self {
            loads: targets
                .iter()
                .map(|t| (Arc::clone(&t.load), u64::from(t.weight)))
                .collect(),
            rotation: AtomicUsize::new(0),
        }
    }
}

impl Balancer for LeastConn {
    fn pick(&self, _ctx: &PickContext) -> Option<usize> {
        let n = self.loads.len();
        let start = self.rotation.fetch_add(1, Ordering::Relaxed) % n;
        let mut best = start;
        let mut best_load = (
            u64::from(self.loads[start].0.in_flight()),
            self.loads[start].1,
        );
        for step in 1..n {
            let i = (start + step) % n;
            let load = (u64::from(self.loads[i].0.in_flight()), self.loads[i].1);
            if lighter(load, best_load) {
                best = i;
                best_load = load;
            }
        }
        Some(best)
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_support::targets;
    use super::*;

    #[test]
    fn avoids_the_busy_upstream_and_rotates_ties() {
        let t = targets(&[1, 1, 1]);
        let _busy = [t[1].load.start(), t[1].load.start()];
        let b = LeastConn::new(&t);
        let picks: Vec<_> = (0..4)
            .map(|_| b.pick(&PickContext::default()).unwrap())
            .collect();
        assert!(!picks.contains(&1), "{picks:?}");
        assert!(picks.contains(&0) && picks.contains(&2), "{picks:?}");
    }

    #[test]
    fn weight_scales_capacity() {
        let t = targets(&[4, 1]);
        let _held = [t[0].load.start(), t[0].load.start()];
        // 2 in flight at weight 4 (0.5) is lighter than 1 in flight at weight 1.
        let _one = t[1].load.start();
        assert_eq!(LeastConn::new(&t).pick(&PickContext::default()), Some(0));
    }
}
