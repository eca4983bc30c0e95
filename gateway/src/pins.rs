//! Affinity pins: which upstream a client key is held to. Local to this gateway instance;
//! a shared (Redis) store arrives with the affinity issue behind the same calls.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::Mutex;

pub struct PinTable {
    inner: Mutex<Inner>,
}

struct Inner {
    pins: HashMap<String, Pin>,
    max_entries: usize,
    max_age: Duration,
}

struct Pin {
    upstream: Arc<str>,
    last_used: Instant,
}

impl PinTable {
    pub fn new(max_entries: usize, max_age: Duration) -> Self {
        PinTable {
            inner: Mutex::new(Inner {
                pins: HashMap::new(),
                max_entries: max_entries.max(1),
                max_age,
            }),
        }
    }

    /// A reload may change the limits; pins already held stay.
    pub fn resize(&self, max_entries: usize, max_age: Duration) {
        let mut inner = self.inner.lock();
        inner.max_entries = max_entries.max(1);
        inner.max_age = max_age;
    }

    /// The upstream id `key` is pinned to, refreshing the pin; `None` when absent or expired.
    pub fn get(&self, key: &str, now: Instant) -> Option<Arc<str>> {
        let mut inner = self.inner.lock();
        let max_age = inner.max_age;
        let pin = inner.pins.get_mut(key)?;
        if now.saturating_duration_since(pin.last_used) > max_age {
            inner.pins.remove(key);
            return None;
        }
        pin.last_used = now;
        Some(Arc::clone(&pin.upstream))
    }

    pub fn pin(&self, key: String, upstream: Arc<str>, now: Instant) {
        let mut inner = self.inner.lock();
        if inner.pins.len() >= inner.max_entries && !inner.pins.contains_key(&key) {
            inner.make_room(now);
        }
        inner.pins.insert(
            key,
            Pin {
                upstream,
                last_used: now,
            },
        );
    }

    pub fn len(&self) -> usize {
        self.inner.lock().pins.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl Inner {
    /// Drops expired pins, then (if still full) the least recently used eighth, so the cost
    /// of a full table is paid once per `max_entries / 8` new pins, not on every one.
    fn make_room(&mut self, now: Instant) {
        let max_age = self.max_age;
        self.pins
            .retain(|_, p| now.saturating_duration_since(p.last_used) <= max_age);
        if self.pins.len() < self.max_entries {
            return;
        }
        let drop = (self.max_entries / 8).max(1);
        let mut ages: Vec<Instant> = self.pins.values().map(|p| p.last_used).collect();
        let (_, cutoff, _) = ages.select_nth_unstable(drop - 1);
        let cutoff = *cutoff;
        let mut dropped = 0;
        self.pins.retain(|_, p| {
            let keep = p.last_used > cutoff || dropped >= drop;
            if !keep {
                dropped += 1;
            }
            keep
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expires_and_stays_bounded() {
        let t0 = Instant::now();
        let table = PinTable::new(16, Duration::from_secs(10));
        for i in 0..16 {
            table.pin(
                format!("k{i}"),
                Arc::from("a"),
                t0 + Duration::from_millis(i),
            );
        }
        // Full: the oldest eighth (k0, k1) makes room for k16.
        table.pin("k16".into(), Arc::from("b"), t0 + Duration::from_secs(1));
        assert_eq!(table.len(), 15);
        assert!(table.get("k0", t0 + Duration::from_secs(1)).is_none());
        assert_eq!(
            table.get("k16", t0 + Duration::from_secs(2)).as_deref(),
            Some("b")
        );
        assert!(table.get("k16", t0 + Duration::from_secs(13)).is_none());
    }
}
