//! Per-plugin counters, kept by plugin name so they survive reloads and file swaps.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::Duration;

use serde_json::{Value, json};

#[derive(Default)]
pub struct PluginMetrics {
    calls: AtomicU64,
    traps: AtomicU64,
    timeouts: AtomicU64,
    limits: AtomicU64,
    /// Answers the host could not use (an index out of range, an unknown service).
    invalid: AtomicU64,
    fallbacks: AtomicU64,
    instantiations: AtomicU64,
    instantiation_failures: AtomicU64,
    /// Latency of one call in [`SAMPLE_EVERY`]: two clock reads per call would cost more
    /// than some decisions.
    decision_samples: AtomicU64,
    decision_nanos: AtomicU64,
    decision_max_nanos: AtomicU64,
    /// Second (since the first failure) of the last failure log line: at most one per second.
    last_log: AtomicU64,
}

/// Why a call produced no usable answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failure {
    Trap,
    Timeout,
    Limit,
    Invalid,
    /// No instance could be created (pool exhausted, `init` failed or trapped).
    Unavailable,
}

pub const SAMPLE_EVERY: u64 = 16;

impl PluginMetrics {
    /// Counts a call; true when this one's latency should be sampled.
    pub fn call(&self) -> bool {
        self.calls
            .fetch_add(1, Relaxed)
            .is_multiple_of(SAMPLE_EVERY)
    }

    pub fn sample(&self, took: Duration) {
        let nanos = u64::try_from(took.as_nanos()).unwrap_or(u64::MAX);
        self.decision_samples.fetch_add(1, Relaxed);
        self.decision_nanos.fetch_add(nanos, Relaxed);
        self.decision_max_nanos.fetch_max(nanos, Relaxed);
    }

    /// A failed call's duration, from the coarse clock: failures are always timed.
    pub fn failed_after(&self, took: Duration) {
        let nanos = u64::try_from(took.as_nanos()).unwrap_or(u64::MAX);
        self.decision_max_nanos.fetch_max(nanos, Relaxed);
    }

    pub fn failed(&self, why: Failure) {
        let counter = match why {
            Failure::Trap => &self.traps,
            Failure::Timeout => &self.timeouts,
            Failure::Limit => &self.limits,
            Failure::Invalid => &self.invalid,
            Failure::Unavailable => &self.instantiation_failures,
        };
        counter.fetch_add(1, Relaxed);
    }

    pub fn fell_back(&self) {
        self.fallbacks.fetch_add(1, Relaxed);
    }

    pub fn instantiated(&self) {
        self.instantiations.fetch_add(1, Relaxed);
    }

    pub fn to_json(&self) -> Value {
        let calls = self.calls.load(Relaxed);
        let samples = self.decision_samples.load(Relaxed);
        let total = self.decision_nanos.load(Relaxed);
        json!({
            "calls": calls,
            "traps": self.traps.load(Relaxed),
            "timeouts": self.timeouts.load(Relaxed),
            "limit_hits": self.limits.load(Relaxed),
            "invalid_answers": self.invalid.load(Relaxed),
            "fallbacks": self.fallbacks.load(Relaxed),
            "instantiations": self.instantiations.load(Relaxed),
            "instantiation_failures": self.instantiation_failures.load(Relaxed),
            "decision_mean_ns": total.checked_div(samples).unwrap_or(0),
            "decision_max_ns": self.decision_max_nanos.load(Relaxed),
        })
    }

    /// Whether a failure should be logged now: at most one line per second per plugin, so a
    /// plugin failing on every request cannot flood the log.
    pub fn should_log(&self) -> bool {
        static EPOCH: std::sync::OnceLock<std::time::Instant> = std::sync::OnceLock::new();
        let second = EPOCH
            .get_or_init(std::time::Instant::now)
            .elapsed()
            .as_secs()
            + 1;
        let last = self.last_log.load(Relaxed);
        last != second
            && self
                .last_log
                .compare_exchange(last, second, Relaxed, Relaxed)
                .is_ok()
    }

    pub fn fallbacks(&self) -> u64 {
        self.fallbacks.load(Relaxed)
    }
}
