//! Wasm policy plugins: components compiled off the hot path and adapted to the same policy
//! traits as the native built-ins (`switchyard_plugins`), so the proxy never knows which it
//! calls.
//!
//! - `engine`: the one wasmtime engine (pooling allocator, epoch interruption) and linker.
//! - `plugin`: reading, checking and compiling a file for the world its slot needs; `cache`
//!   keeps compiled artifacts on disk by content hash.
//! - `instances`: warm instances per worker, deadlines, trap handling, metrics.
//! - `balancer`, `router`, `affinity`, `failover`: one adapter per policy kind.
//! - `state`: what a `Store` holds and the host functions plugins may call; `kv` the store
//!   shared by a plugin's instances.

mod bindings;
mod cache;
mod engine;
mod exports;
mod instances;
mod kv;
mod metrics;
mod plugin;
mod request;
mod state;
mod wasi;

pub mod affinity;
pub mod balancer;
pub mod failover;
pub mod router;

pub use balancer::UpstreamInfo;
pub use metrics::PluginMetrics;
pub use plugin::{LoadedPlugin, PluginError, PluginRuntime, check_file};

use std::sync::Arc;

use crate::config::Config;
use crate::runtime_state::RuntimeState;

/// Whether plugin instances come from the pooling allocator; `None` until a plugin was
/// loaded (the runtime starts on first use).
pub fn pooling_allocator() -> Option<bool> {
    engine::started().map(|rt| rt.pooling)
}

/// Compiles every plugin a config uses, parallel to `config.plugins` (`None`: unused).
pub fn load_all(
    config: &Config,
    state: &RuntimeState,
) -> Result<Vec<Option<Arc<LoadedPlugin>>>, PluginError> {
    config
        .plugins
        .iter()
        .map(|p| match p.kind {
            None => Ok(None),
            Some(kind) => {
                plugin::load(p, kind, state.plugin_runtime(&p.name), &config.plugin_cache).map(Some)
            }
        })
        .collect()
}
