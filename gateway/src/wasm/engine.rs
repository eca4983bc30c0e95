//! The one wasmtime `Engine` every plugin is compiled for, its linker, and the epoch ticker
//! that bounds every call. Created on first use: a config without plugins never pays for it.

use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use wasmtime::component::{HasSelf, Linker};
use wasmtime::{Config, Engine, InstanceAllocationStrategy, PoolingAllocationConfig};

use super::bindings;
use super::state::PluginState;
use crate::config::MAX_PLUGIN_MEMORY;

/// Epoch length: call deadlines are whole multiples of it.
pub const TICK: Duration = Duration::from_millis(1);

/// Instance slots in the pooling allocator: every live plugin instance on every worker, across
/// the old and new snapshot during a reload. Exhausting it fails an instantiation, which is
/// served by the fallback and reported, never a crash.
const INSTANCE_SLOTS: u32 = 512;

pub struct Runtime {
    pub engine: Engine,
    pub linker: Linker<PluginState>,
    /// Whether instances come from the pooling allocator (else allocated on demand).
    pub pooling: bool,
}

static RUNTIME: OnceLock<Result<Runtime, String>> = OnceLock::new();

/// Ticks since the runtime started, advanced with the engine's epoch: a clock that costs one
/// relaxed load, for timing calls that failed (their deadline is a whole number of ticks).
static TICKS: AtomicU64 = AtomicU64::new(0);

pub fn coarse_ticks() -> u64 {
    TICKS.load(Ordering::Relaxed)
}

pub fn runtime() -> Result<&'static Runtime, String> {
    RUNTIME
        .get_or_init(|| build().map_err(|e| format!("cannot start the Wasm runtime: {e:#}")))
        .as_ref()
        .map_err(Clone::clone)
}

/// The runtime if it was started successfully, without starting it.
pub fn started() -> Option<&'static Runtime> {
    RUNTIME.get().and_then(|r| r.as_ref().ok())
}

fn build() -> wasmtime::Result<Runtime> {
    let (engine, pooling) = match Engine::new(&config(Some(pooling()))) {
        Ok(engine) => (engine, true),
        // The pool reserves ~2 TiB of address space up front; where that is refused (a
        // `ulimit -v`, valgrind, some sandboxes) plugins still run, each instance allocated
        // when created. Memory limits hold either way: every store has its own limiter.
        Err(e) => {
            tracing::warn!(
                error = %format!("{e:#}"),
                "Wasm instance pool unavailable; allocating plugin instances on demand"
            );
            (Engine::new(&config(None))?, false)
        }
    };
    let mut linker = Linker::new(&engine);
    super::wasi::add_to_linker(&mut linker)?;
    bindings::balancer::BalancerPlugin::add_to_linker::<PluginState, HasSelf<PluginState>>(
        &mut linker,
        |s| s,
    )?;
    let ticker = engine.weak();
    std::thread::Builder::new()
        .name("switchyard-wasm-epoch".into())
        .spawn(move || {
            // Ends when the engine is gone (never, in practice: it is process-wide).
            while let Some(engine) = ticker.upgrade() {
                engine.increment_epoch();
                TICKS.fetch_add(1, Ordering::Relaxed);
                drop(engine);
                std::thread::sleep(TICK);
            }
        })?;
    Ok(Runtime {
        engine,
        linker,
        pooling,
    })
}

fn pooling() -> PoolingAllocationConfig {
    let mut pool = PoolingAllocationConfig::new();
    pool.total_component_instances(INSTANCE_SLOTS)
        .total_core_instances(INSTANCE_SLOTS * 4)
        .total_memories(INSTANCE_SLOTS)
        .total_tables(INSTANCE_SLOTS * 2)
        .total_stacks(INSTANCE_SLOTS)
        // Sized for what standard toolchains produce, not for lean Rust components: a default
        // componentize-py 0.25 build instantiates 14 core modules (CPython, libc, bindings,
        // adapters; apps with native extensions have been seen at 38), componentize-js 0.23
        // 4; the old limit of 16 left no room.
        .max_core_instances_per_component(64)
        .max_memories_per_component(4)
        .max_tables_per_component(16)
        .max_memory_size(MAX_PLUGIN_MEMORY as usize)
        // Reuse the slots a plugin already used (warm: re-instantiating after a trap is cheap)
        // before touching cold ones. Every slot ever used keeps some memory resident, so with
        // the default (100) a plugin trapping on every call spread itself over 100 slots and
        // grew RSS by ~250 MB; with 0 the slots in use never exceed the live instances.
        .max_unused_warm_slots(0);
    pool
}

fn config(pool: Option<PoolingAllocationConfig>) -> Config {
    let mut config = Config::new();
    config
        .wasm_component_model(true)
        .epoch_interruption(true)
        .max_wasm_stack(512 * 1024);
    if let Some(pool) = pool {
        config.allocation_strategy(InstanceAllocationStrategy::Pooling(pool));
    }
    config
}

/// Epoch ticks for a deadline, rounded up, at least one.
pub fn ticks(deadline: Duration) -> u64 {
    (deadline.as_nanos().div_ceil(TICK.as_nanos()) as u64).max(1)
}
