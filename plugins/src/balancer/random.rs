//! Weighted random: each pick independent, probability proportional to weight.

use super::{Balancer, PickContext, Target};

pub struct WeightedRandom {
    /// Running sums of weights; a uniform draw below the total lands in one bucket.
    cumulative: Box<[u64]>,
}

impl WeightedRandom {
    pub fn new(targets: &[Target]) -> Self {
        let mut sum = 0u64;
        let cumulative = targets
            .iter()
            .map(|t| {
                sum += u64::from(t.weight);
                sum
            })
            .collect();
        Self { cumulative }
    }
}

impl Balancer for WeightedRandom {
    fn pick(&self, _ctx: &PickContext) -> Option<usize> {
        let total = *self.cumulative.last()?;
        let draw = fastrand::u64(..total);
        Some(self.cumulative.partition_point(|&c| c <= draw))
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_support::targets;
    use super::*;

    #[test]
    fn follows_weights() {
        let b = WeightedRandom::new(&targets(&[3, 1]));
        let mut counts = [0u32; 2];
        for _ in 0..40_000 {
            counts[b.pick(&PickContext::default()).unwrap()] += 1;
        }
        let share = f64::from(counts[0]) / 40_000.0;
        assert!((share - 0.75).abs() < 0.02, "{counts:?}");
    }
}
