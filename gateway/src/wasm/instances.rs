//! Warm plugin instances, one per worker thread per plugin binding, reused call after call.
//!
//! A `Store` is not `Sync`, so each worker owns a slot behind its own (never contended)
//! mutex; threads that are not workers share one extra slot. A call that traps, times out or
//! hits a limit discards its instance; the next call on that slot instantiates a fresh one
//! from the `InstancePre`. Dropping the binding (its snapshot retired) frees every instance.

use std::sync::Arc;
use std::time::Instant;

use parking_lot::Mutex;
use wasmtime::{Store, Trap};

use super::engine::{TICK, coarse_ticks, runtime};
use super::metrics::Failure;
use super::plugin::LoadedPlugin;
use super::state::{PluginState, UpstreamView};

struct Warm<G> {
    store: Store<PluginState>,
    guest: G,
}

/// Creates a ready instance: instantiate, then the world's `init` (and any set-up calls).
type Setup<G> =
    Box<dyn Fn(&LoadedPlugin, &mut Store<PluginState>) -> wasmtime::Result<G> + Send + Sync>;

pub struct Instances<G> {
    pub plugin: Arc<LoadedPlugin>,
    upstreams: Arc<[UpstreamView]>,
    slots: Box<[Mutex<Option<Warm<G>>>]>,
    setup: Setup<G>,
}

impl<G: Send + 'static> Instances<G> {
    /// Instantiates one warm instance per worker now, so a plugin whose `init` rejects its
    /// config fails the reload instead of the first requests.
    pub fn new(
        plugin: Arc<LoadedPlugin>,
        upstreams: Arc<[UpstreamView]>,
        workers: usize,
        setup: Setup<G>,
    ) -> Result<Self, String> {
        let slots: Box<[Mutex<Option<Warm<G>>>]> =
            (0..=workers).map(|_| Mutex::new(None)).collect();
        let this = Instances {
            plugin,
            upstreams,
            slots,
            setup,
        };
        for slot in &this.slots[..workers.max(1)] {
            *slot.lock() = Some(this.instantiate()?);
        }
        Ok(this)
    }

    fn instantiate(&self) -> Result<Warm<G>, String> {
        let rt = runtime()?;
        let plugin = &*self.plugin;
        let mut state = PluginState::new(
            Arc::clone(&plugin.name),
            Arc::clone(&plugin.runtime.kv),
            plugin.config.memory,
        );
        state.upstreams = Arc::clone(&self.upstreams);
        let mut store = Store::new(&rt.engine, state);
        store.limiter(|s| &mut s.limiter);
        // Instantiation and `init` get their own budget: language runtimes start up here.
        store.set_epoch_deadline(super::engine::ticks(plugin.config.init_deadline));
        let guest = (self.setup)(plugin, &mut store).map_err(|e| describe(&e, &store))?;
        plugin.runtime.metrics.instantiated();
        Ok(Warm { store, guest })
    }

    /// Runs `f` on this thread's warm instance. `Err` means no usable answer: the caller
    /// serves the request by its fallback. Failures are counted and (rate-limited) logged.
    pub fn call<R>(
        &self,
        f: impl FnOnce(&G, &mut Store<PluginState>) -> wasmtime::Result<R>,
    ) -> Result<R, Failure> {
        let last = self.slots.len() - 1;
        let index = crate::worker::current().map_or(last, |i| i.min(last));
        let mut slot = self.slots[index].lock();
        let metrics = &self.plugin.runtime.metrics;
        if slot.is_none() {
            match self.instantiate() {
                Ok(warm) => *slot = Some(warm),
                Err(message) => {
                    metrics.failed(Failure::Unavailable);
                    if metrics.should_log() {
                        tracing::warn!(plugin = %self.plugin.name, error = %message, "plugin instance unavailable; serving by fallback");
                    }
                    return Err(Failure::Unavailable);
                }
            }
        }
        let Some(warm) = slot.as_mut() else {
            return Err(Failure::Unavailable);
        };
        warm.store.set_epoch_deadline(self.plugin.deadline_ticks);
        let started = metrics.call().then(Instant::now);
        let started_tick = coarse_ticks();
        let result = f(&warm.guest, &mut warm.store);
        if let Some(started) = started {
            metrics.sample(started.elapsed());
        }
        match result {
            Ok(value) => Ok(value),
            Err(e) => {
                metrics.failed_after(TICK * (coarse_ticks() - started_tick + 1) as u32);
                let why = classify(&e, &warm.store);
                let message = describe(&e, &warm.store);
                *slot = None;
                metrics.failed(why);
                if metrics.should_log() {
                    tracing::warn!(plugin = %self.plugin.name, failure = ?why, error = %message, "plugin call failed; instance discarded, serving by fallback");
                }
                Err(why)
            }
        }
    }

    /// Counts an answer the host cannot use; the instance stays (it did not misbehave).
    pub fn invalid(&self, what: &str) -> Failure {
        let metrics = &self.plugin.runtime.metrics;
        metrics.failed(Failure::Invalid);
        if metrics.should_log() {
            tracing::warn!(plugin = %self.plugin.name, "plugin gave an unusable answer: {what}");
        }
        Failure::Invalid
    }
}

fn classify(e: &wasmtime::Error, store: &Store<PluginState>) -> Failure {
    if store.data().limiter.hit {
        return Failure::Limit;
    }
    match e.downcast_ref::<Trap>() {
        Some(Trap::Interrupt) => Failure::Timeout,
        _ => Failure::Trap,
    }
}

fn describe(e: &wasmtime::Error, store: &Store<PluginState>) -> String {
    match classify(e, store) {
        Failure::Timeout => "the call exceeded its deadline".to_owned(),
        _ => format!("{e:#}"),
    }
}
