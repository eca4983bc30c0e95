//! Least-request "power of two choices": sample two distinct upstreams, keep the lighter.
//! O(1) per pick at any set size, and avoids the herd effect of a full least-conn scan.

use std::sync::Arc;

use super::{Balancer, PickContext, Target, lighter};
use crate::load::UpstreamLoad;

pub struct PowerOfTwo {
    loads: Box<[(Arc<UpstreamLoad>, u64)]>,
}

impl PowerOfTwo {
    pub fn new(targets: &[Target]) -> Self {
        Self {
            loads: targets
                .iter()
                .map(|t| (Arc::clone(&t.load), u64::from(t.weight)))
                .collect(),
        }
    }
}

/// Two distinct indices in `0..n` (the same one twice only when `n == 1`).
pub(super) fn two_distinct(n: usize) -> (usize, usize) {
    if n == 1 {
        return (0, 0);
    }
    let a = fastrand::usize(..n);
    let b = (a + 1 + fastrand::usize(..n - 1)) % n;
    (a, b)
}

impl Balancer for PowerOfTwo {
    fn pick(&self, _ctx: &PickContext) -> Option<usize> {
        let (a, b) = two_distinct(self.loads.len());
        let load = |i: usize| (u64::from(self.loads[i].0.in_flight()) + 1, self.loads[i].1);
        Some(if lighter(load(b), load(a)) { b } else { a })
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_support::targets;
    use super::*;

    #[test]
    fn never_picks_the_loaded_one_of_two() {
        let t = targets(&[1, 1]);
        let _busy = t[0].load.start();
        let b = PowerOfTwo::new(&t);
        assert!((0..100).all(|_| b.pick(&PickContext::default()) == Some(1)));
    }

    #[test]
    fn samples_are_distinct() {
        for n in 2..6 {
            for _ in 0..200 {
                let (a, b) = two_distinct(n);
                assert!(a != b && a < n && b < n);
            }
        }
    }
}
