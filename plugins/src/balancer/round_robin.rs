//! Plain rotation, ignoring weights (use `smooth_weighted` for weights).

use std::sync::atomic::{AtomicUsize, Ordering};

use super::{Balancer, PickContext};

pub struct RoundRobin {
    next: AtomicUsize,
    len: usize,
}

impl RoundRobin {
    pub fn new(len: usize) -> Self {
        Self {
            next: AtomicUsize::new(0),
            len,
        }
    }
}

impl Balancer for RoundRobin {
    fn pick(&self, _ctx: &PickContext) -> Option<usize> {
        Some(self.next.fetch_add(1, Ordering::Relaxed) % self.len)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rotates_evenly() {
        let rr = RoundRobin::new(3);
        let picks: Vec<_> = (0..6)
            .map(|_| rr.pick(&PickContext::default()).unwrap())
            .collect();
        assert_eq!(picks, [0, 1, 2, 0, 1, 2]);
    }
}
