//! Per-upstream load state that outlives configuration snapshots.
//!
//! One `UpstreamLoad` exists per stable upstream identity (service + address); snapshots
//! hold `Arc`s to it, so a reload neither resets in-flight counts nor forgets latency.
//! Everything here is on the hot path and therefore lock-free.

use std::sync::Arc;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// How fast the latency estimate forgets: the time constant of the exponential decay.
/// Finagle and linkerd use 10 s; shorter reacts faster but is noisier.
pub const DEFAULT_EWMA_DECAY: Duration = Duration::from_secs(10);

/// Live load figures of one upstream.
#[derive(Debug, Default)]
pub struct UpstreamLoad {
    in_flight: AtomicU32,
    /// Peak-EWMA latency estimate in nanoseconds, stored as `f64` bits.
    ewma_bits: AtomicU64,
    /// When `ewma_bits` was last updated, in nanoseconds since [`clock_origin`].
    ewma_stamp: AtomicU64,
    requests: AtomicU64,
    failures: AtomicU64,
}

/// How one attempt against an upstream ended, as far as load feedback cares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// The upstream answered (any status); its latency counts.
    Answered,
    /// Connect failure, reset or timeout: no latency sample, a failure counted.
    Failed,
    /// The client's side broke off (its request body was cut or malformed): the upstream
    /// is not to blame, so neither a failure nor a latency sample.
    Abandoned,
}

fn clock_origin() -> Instant {
    static ORIGIN: OnceLock<Instant> = OnceLock::new();
    *ORIGIN.get_or_init(Instant::now)
}

fn nanos_since_origin(at: Instant) -> u64 {
    u64::try_from(at.saturating_duration_since(clock_origin()).as_nanos()).unwrap_or(u64::MAX)
}

impl UpstreamLoad {
    pub fn new() -> Arc<Self> {
        Arc::new(Self::default())
    }

    /// Requests currently outstanding (sent and not yet finished streaming back).
    pub fn in_flight(&self) -> u32 {
        self.in_flight.load(Ordering::Relaxed)
    }

    pub fn requests(&self) -> u64 {
        self.requests.load(Ordering::Relaxed)
    }

    pub fn failures(&self) -> u64 {
        self.failures.load(Ordering::Relaxed)
    }

    /// Marks a request as outstanding until the returned guard is dropped.
    pub fn start(self: &Arc<Self>) -> InFlight {
        self.in_flight.fetch_add(1, Ordering::Relaxed);
        self.requests.fetch_add(1, Ordering::Relaxed);
        InFlight {
            load: Arc::clone(self),
            started: Instant::now(),
            reported: false,
        }
    }

    /// The latency estimate in nanoseconds as of `now`, decayed since the last sample
    /// (projected at read time, nothing is written). Zero when nothing was ever observed.
    /// Peak EWMA in whole microseconds at `now`, saturating: the unit plugins see.
    pub fn ewma_micros(&self, now: Instant) -> u32 {
        let micros = self.ewma_nanos(now, DEFAULT_EWMA_DECAY) / 1000.0;
        micros.clamp(0.0, f64::from(u32::MAX)) as u32
    }

    pub fn ewma_nanos(&self, now: Instant, decay: Duration) -> f64 {
        let value = f64::from_bits(self.ewma_bits.load(Ordering::Relaxed));
        if value == 0.0 {
            return 0.0;
        }
        let stamp = self.ewma_stamp.load(Ordering::Relaxed);
        let elapsed = nanos_since_origin(now).saturating_sub(stamp) as f64;
        value * (-elapsed / decay.as_nanos() as f64).exp()
    }

    /// Folds one latency sample in: a slower sample is taken at once (the "peak"), a faster one
    /// is blended in with a weight that grows with the time since the last sample.
    fn observe(&self, rtt: Duration, now: Instant, decay: Duration) {
        let rtt = rtt.as_nanos() as f64;
        let now_nanos = nanos_since_origin(now);
        let old = f64::from_bits(self.ewma_bits.load(Ordering::Relaxed));
        let stamp = self.ewma_stamp.load(Ordering::Relaxed);
        let next = if old == 0.0 || rtt > old {
            rtt
        } else {
            let elapsed = now_nanos.saturating_sub(stamp) as f64;
            let w = (-elapsed / decay.as_nanos() as f64).exp();
            old * w + rtt * (1.0 - w)
        };
        // Two racing samples may lose one of them; the estimate is statistical and a lock
        // here would serialise every response of a busy upstream.
        self.ewma_bits.store(next.to_bits(), Ordering::Relaxed);
        self.ewma_stamp.store(now_nanos, Ordering::Relaxed);
    }
}

/// RAII feedback for one attempt: counts as in flight until dropped.
///
/// Call [`InFlight::report`] when the outcome is known (response head received, or the attempt
/// failed); drop it when the response body has finished streaming, so least-connections sees
/// long downloads as load.
#[derive(Debug)]
pub struct InFlight {
    load: Arc<UpstreamLoad>,
    started: Instant,
    reported: bool,
}

impl InFlight {
    pub fn report(&mut self, outcome: Outcome) {
        if self.reported {
            return;
        }
        self.reported = true;
        match outcome {
            Outcome::Answered => {
                let now = Instant::now();
                self.load
                    .observe(now - self.started, now, DEFAULT_EWMA_DECAY);
            }
            Outcome::Failed => {
                self.load.failures.fetch_add(1, Ordering::Relaxed);
            }
            Outcome::Abandoned => {}
        }
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        if !self.reported {
            // Dropped without a verdict: the client went away or the attempt was abandoned.
            self.load.failures.fetch_add(1, Ordering::Relaxed);
        }
        self.load.in_flight.fetch_sub(1, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn guard_counts_in_flight_until_dropped() {
        let load = UpstreamLoad::new();
        let mut a = load.start();
        let b = load.start();
        assert_eq!(load.in_flight(), 2);
        a.report(Outcome::Answered);
        drop(a);
        assert_eq!(load.in_flight(), 1);
        drop(b);
        assert_eq!(load.in_flight(), 0);
        assert_eq!(load.requests(), 2);
        assert_eq!(load.failures(), 1, "an unreported drop counts as a failure");
    }

    #[test]
    fn peak_ewma_takes_peaks_at_once_and_decays_at_read() {
        let load = UpstreamLoad::new();
        let t0 = Instant::now();
        let decay = Duration::from_secs(10);
        load.observe(Duration::from_millis(10), t0, decay);
        load.observe(Duration::from_millis(50), t0, decay);
        let at_once = load.ewma_nanos(t0, decay);
        assert!(
            (at_once - 50e6).abs() < 1e3,
            "peak taken at once: {at_once}"
        );
        let later = load.ewma_nanos(t0 + Duration::from_secs(10), decay);
        assert!(
            (later - 50e6 / std::f64::consts::E).abs() < 1e5,
            "decays by e per tau: {later}"
        );
        // A fast sample long after the peak mostly replaces it.
        load.observe(
            Duration::from_millis(1),
            t0 + Duration::from_secs(60),
            decay,
        );
        assert!(load.ewma_nanos(t0 + Duration::from_secs(60), decay) < 2e6);
    }
}
