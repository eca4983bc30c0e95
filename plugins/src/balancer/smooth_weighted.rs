//! nginx's smooth weighted round robin.
//!
//! nginx keeps a mutable `current_weight` per peer and walks it under the upstream lock on
//! every request. The sequence it produces is periodic with period `sum(weights)`, so we run
//! the algorithm once at build time into a table and replay it with one atomic counter:
//! the exact nginx order, lock-free, O(1) per pick, shared by every worker thread.

use std::sync::atomic::{AtomicUsize, Ordering};

use super::{Balancer, PickContext, Target};

/// Longest schedule we precompute. Beyond it, weights are scaled down proportionally
/// (each stays ≥ 1), which keeps the ratios to within a fraction of a percent.
const MAX_SCHEDULE: u64 = 1 << 16;

pub struct SmoothWeighted {
    schedule: Box<[u32]>,
    next: AtomicUsize,
}

impl SmoothWeighted {
    pub fn new(targets: &[Target]) -> Self {
        let weights = schedule_weights(targets.iter().map(|t| u64::from(t.weight)).collect());
        Self {
            schedule: nginx_schedule(&weights).into_boxed_slice(),
            next: AtomicUsize::new(0),
        }
    }
}

impl Balancer for SmoothWeighted {
    fn pick(&self, _ctx: &PickContext) -> Option<usize> {
        let i = self.next.fetch_add(1, Ordering::Relaxed) % self.schedule.len();
        Some(self.schedule[i] as usize)
    }
}

/// Reduces weights by their gcd (same sequence, shorter period) and caps the period.
fn schedule_weights(mut weights: Vec<u64>) -> Vec<u64> {
    let g = weights.iter().copied().fold(0, gcd).max(1);
    weights.iter_mut().for_each(|w| *w /= g);
    let total: u64 = weights.iter().sum();
    if total > MAX_SCHEDULE {
        weights
            .iter_mut()
            .for_each(|w| *w = (*w * MAX_SCHEDULE / total).max(1));
    }
    weights
}

fn gcd(a: u64, b: u64) -> u64 {
    if b == 0 { a } else { gcd(b, a % b) }
}

/// One period of nginx's `ngx_http_upstream_get_peer`: every peer gains its weight, the
/// largest current weight wins and pays back the total.
fn nginx_schedule(weights: &[u64]) -> Vec<u32> {
    let total: i64 = weights.iter().map(|&w| w as i64).sum();
    let mut current = vec![0i64; weights.len()];
    (0..total)
        .map(|_| {
            let mut best = 0;
            for (i, &w) in weights.iter().enumerate() {
                current[i] += w as i64;
                if current[i] > current[best] {
                    best = i;
                }
            }
            current[best] -= total;
            best as u32
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::super::test_support::targets;
    use super::*;

    #[test]
    fn matches_nginx_sequence_for_5_1_1() {
        // The example from nginx's commit introducing smooth weighting: { a, a, b, a, c, a, a }.
        let b = SmoothWeighted::new(&targets(&[5, 1, 1]));
        let seq: Vec<_> = (0..14)
            .map(|_| b.pick(&PickContext::default()).unwrap())
            .collect();
        assert_eq!(seq, [0, 0, 1, 0, 2, 0, 0, 0, 0, 1, 0, 2, 0, 0]);
    }

    #[test]
    fn gcd_reduction_keeps_the_sequence() {
        assert_eq!(schedule_weights(vec![50, 10, 10]), vec![5, 1, 1]);
    }

    #[test]
    fn huge_weights_are_capped_proportionally() {
        let w = schedule_weights(vec![1_000_000, 999_999, 1]);
        assert!(w.iter().sum::<u64>() <= MAX_SCHEDULE + 3);
        assert!(w.iter().all(|&x| x >= 1));
    }
}
