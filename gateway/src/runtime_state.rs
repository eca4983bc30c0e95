//! State that outlives snapshots: per-upstream load keyed by a stable identity, and the
//! numbering of upstream addresses that the per-worker connection pools are indexed by.
//! Touched only when a snapshot is built, never per request.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;
use switchyard_plugins::UpstreamLoad;

use crate::pins::PinTable;
use crate::wasm::PluginRuntime;

/// Index of an upstream address in every worker's connection pool.
pub type PoolKey = u32;

#[derive(Default)]
pub struct RuntimeState {
    loads: Mutex<HashMap<(String, String), Arc<UpstreamLoad>>>,
    pool_keys: Mutex<HashMap<SocketAddr, PoolKey>>,
    plugins: Mutex<HashMap<String, Arc<PluginRuntime>>>,
    pins: Mutex<HashMap<String, Arc<PinTable>>>,
}

impl RuntimeState {
    /// The load of `(service, upstream id)`: the same `Arc` across reloads while it stays
    /// configured, so in-flight counts and latency carry over.
    pub fn load_for(&self, service: &str, upstream: &str) -> Arc<UpstreamLoad> {
        let mut loads = self.loads.lock();
        Arc::clone(
            loads
                .entry((service.to_owned(), upstream.to_owned()))
                .or_default(),
        )
    }

    /// Forgets upstreams the newest snapshot no longer names. Old snapshots still serving
    /// in-flight requests keep their own `Arc`s.
    pub fn retain_loads(&self, keep: impl Fn(&str, &str) -> bool) {
        self.loads.lock().retain(|(s, u), _| keep(s, u));
    }

    /// A plugin's counters and shared store, by plugin name: they survive reloads and file
    /// swaps of the plugin.
    pub fn plugin_runtime(&self, name: &str) -> Arc<PluginRuntime> {
        Arc::clone(self.plugins.lock().entry(name.to_owned()).or_default())
    }

    /// The affinity pins of a service, by service name: clients stay pinned across reloads.
    pub fn pins(&self, service: &str, max_entries: usize, max_age: Duration) -> Arc<PinTable> {
        let mut pins = self.pins.lock();
        let table = pins
            .entry(service.to_owned())
            .or_insert_with(|| Arc::new(PinTable::new(max_entries, max_age)));
        table.resize(max_entries, max_age);
        Arc::clone(table)
    }

    /// Forgets the state of plugins and affinity tables the newest config no longer names.
    pub fn retain_named(&self, plugin: impl Fn(&str) -> bool, service: impl Fn(&str) -> bool) {
        self.plugins.lock().retain(|name, _| plugin(name));
        self.pins.lock().retain(|name, _| service(name));
    }

    /// Stable pool index for an address. Keys are never reused, so a connection pooled
    /// under one address can never be handed out for another.
    pub fn pool_key(&self, addr: SocketAddr) -> PoolKey {
        let mut keys = self.pool_keys.lock();
        let next = keys.len() as PoolKey;
        *keys.entry(addr).or_insert(next)
    }
}
