//! Consistent hashing with Google's Maglev lookup table.
//!
//! Chosen over a ring hash for O(1) lookups with no binary search and an even spread; when
//! an upstream leaves, keys on the others almost all stay put (Maglev paper, §3.4). Weights
//! are honoured by giving an upstream `weight` turns per round of table filling.

use xxhash_rust::xxh3::xxh3_64_with_seed;

use super::{Balancer, PickContext, Target};

/// Table sizes must be prime and well above the upstream count (≥ 100× keeps the load
/// imbalance under ~1%).
const TABLE_SIZES: [u64; 3] = [65_537, 655_373, 6_553_577];

pub struct Maglev {
    table: Box<[u32]>,
    len: usize,
}

impl Maglev {
    pub fn new(targets: &[Target]) -> Self {
        let total_weight: u64 = targets.iter().map(|t| u64::from(t.weight)).sum();
        let size = TABLE_SIZES
            .into_iter()
            .find(|&m| m >= total_weight.saturating_mul(100))
            .unwrap_or(TABLE_SIZES[TABLE_SIZES.len() - 1]);
        Self {
            table: populate(targets, size),
            len: targets.len(),
        }
    }
}

/// Fills the table the way the Maglev paper's Algorithm 1 does: each upstream walks its own
/// permutation of slots and claims the next free one on its turn.
fn populate(targets: &[Target], size: u64) -> Box<[u32]> {
    let perms: Vec<(u64, u64)> = targets
        .iter()
        .map(|t| {
            let offset = xxh3_64_with_seed(t.id.as_bytes(), 0x6d61_676c) % size;
            let skip = xxh3_64_with_seed(t.id.as_bytes(), 0x6576_3031) % (size - 1) + 1;
            (offset, skip)
        })
        .collect();
    let mut next = vec![0u64; targets.len()];
    let mut table = vec![u32::MAX; size as usize];
    let mut filled = 0u64;
    'fill: loop {
        for (i, t) in targets.iter().enumerate() {
            for _ in 0..t.weight {
                let (offset, skip) = perms[i];
                let mut slot = (offset + next[i] * skip) % size;
                while table[slot as usize] != u32::MAX {
                    next[i] += 1;
                    slot = (offset + next[i] * skip) % size;
                }
                table[slot as usize] = i as u32;
                next[i] += 1;
                filled += 1;
                if filled == size {
                    break 'fill;
                }
            }
        }
    }
    table.into_boxed_slice()
}

impl Balancer for Maglev {
    fn pick(&self, ctx: &PickContext) -> Option<usize> {
        match ctx.key_hash {
            Some(hash) => Some(self.table[(hash % self.table.len() as u64) as usize] as usize),
            // No key on this request (missing header or cookie): spread it at random.
            None => Some(fastrand::usize(..self.len)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_support::targets;
    use super::*;

    fn key(i: u64) -> PickContext<'static> {
        PickContext {
            key_hash: Some(xxh3_64_with_seed(&i.to_le_bytes(), 0)),
            request: None,
        }
    }

    #[test]
    fn removing_one_of_ten_keeps_other_keys_in_place() {
        let all = targets(&[1; 10]);
        let before = Maglev::new(&all);
        let mut fewer = all.clone();
        fewer.remove(3);
        let after = Maglev::new(&fewer);
        let (mut kept, mut eligible) = (0, 0);
        for i in 0..1000 {
            let old = &all[before.pick(&key(i)).unwrap()].id;
            let new = &fewer[after.pick(&key(i)).unwrap()].id;
            if old != &all[3].id {
                eligible += 1;
                kept += usize::from(old == new);
            }
        }
        assert!(kept * 100 >= eligible * 95, "kept {kept} of {eligible}");
    }

    #[test]
    fn spreads_by_weight() {
        let t = targets(&[1, 3]);
        let m = Maglev::new(&t);
        let ones = m.table.iter().filter(|&&i| i == 1).count() as f64;
        assert!((ones / m.table.len() as f64 - 0.75).abs() < 0.01);
    }
}
