//! What a plugin instance's `Store` holds, and the host functions it may call.

use std::sync::{Arc, OnceLock};
use std::time::Instant;

use switchyard_plugins::UpstreamLoad;
use wasmtime::component::ResourceTable;
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};
use wasmtime_wasi_http::{WasiBody, WasiHttpCtx, WasiHttpCtxView, WasiHttpHooks, WasiHttpView};

use super::bindings::{host, store, types, upstream_state};
use super::kv::KvStore;

pub struct PluginState {
    /// Clocks, random, and stdout/stderr that go nowhere; no preopened directory, no
    /// environment, sockets and name lookups refused (see `wasi.rs`).
    wasi: WasiCtx,
    http: WasiHttpCtx,
    deny_outgoing: DenyOutgoing,
    table: ResourceTable,
    pub limiter: MemoryLimiter,
    plugin: Arc<str>,
    kv: Arc<KvStore>,
    /// The upstream set a balancer instance was given, for `upstream-state.load`.
    pub upstreams: Arc<[UpstreamView]>,
    /// Reused buffer for a balancer's packed load words.
    pub scratch: Vec<u32>,
}

/// What `upstream-state.load` reads for one upstream.
pub struct UpstreamView {
    pub weight: u32,
    pub load: Arc<UpstreamLoad>,
}

impl PluginState {
    pub fn new(plugin: Arc<str>, kv: Arc<KvStore>, memory: u64) -> Self {
        PluginState {
            wasi: WasiCtx::builder()
                .allow_tcp(false)
                .allow_udp(false)
                .allow_ip_name_lookup(false)
                .build(),
            http: WasiHttpCtx::new(),
            deny_outgoing: DenyOutgoing,
            table: ResourceTable::new(),
            limiter: MemoryLimiter::new(memory),
            plugin,
            kv,
            upstreams: Arc::from(Vec::new()),
            scratch: Vec::new(),
        }
    }
}

impl WasiView for PluginState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

impl WasiHttpView for PluginState {
    fn http(&mut self) -> WasiHttpCtxView<'_> {
        WasiHttpCtxView {
            hooks: &mut self.deny_outgoing,
            table: &mut self.table,
            ctx: &mut self.http,
        }
    }
}

/// Refuses every outgoing `wasi:http` request: a policy decides, it does not fetch.
struct DenyOutgoing;

type ResponseFuture = Box<
    dyn std::future::Future<
            Output = wasmtime_wasi_http::Result<(
                http::Response<WasiBody>,
                Box<dyn std::future::Future<Output = wasmtime_wasi_http::Result<()>> + Send>,
            )>,
        > + Send,
>;

impl WasiHttpHooks for DenyOutgoing {
    fn send_request(
        &mut self,
        _request: http::Request<WasiBody>,
        _options: Option<wasmtime_wasi_http::RequestOptions>,
        _fut: Box<dyn std::future::Future<Output = wasmtime_wasi_http::Result<()>> + Send>,
    ) -> ResponseFuture {
        Box::new(std::future::ready(Err(
            wasmtime_wasi_http::Error::HttpRequestDenied,
        )))
    }
}

/// Bounds linear memory and tables, and remembers that a bound was hit so the failure is
/// reported as a limit rather than an ordinary trap.
pub struct MemoryLimiter {
    memory: usize,
    pub hit: bool,
}

const MAX_TABLE_ELEMENTS: usize = 100_000;

impl MemoryLimiter {
    fn new(memory: u64) -> Self {
        MemoryLimiter {
            memory: usize::try_from(memory).unwrap_or(usize::MAX),
            hit: false,
        }
    }
}

impl wasmtime::ResourceLimiter for MemoryLimiter {
    fn memory_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        if desired > self.memory {
            self.hit = true;
            wasmtime::bail!("plugin memory limit of {} bytes reached", self.memory);
        }
        Ok(true)
    }

    fn table_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        if desired > MAX_TABLE_ELEMENTS {
            self.hit = true;
            wasmtime::bail!("plugin table limit of {MAX_TABLE_ELEMENTS} elements reached");
        }
        Ok(true)
    }
}

impl types::Host for PluginState {}

impl host::Host for PluginState {
    fn log(&mut self, level: host::Level, message: String) {
        let plugin = &*self.plugin;
        match level {
            host::Level::Trace => tracing::trace!(plugin, "{message}"),
            host::Level::Debug => tracing::debug!(plugin, "{message}"),
            host::Level::Info => tracing::info!(plugin, "{message}"),
            host::Level::Warn => tracing::warn!(plugin, "{message}"),
            host::Level::Error => tracing::error!(plugin, "{message}"),
        }
    }

    fn monotonic_now(&mut self) -> u64 {
        static START: OnceLock<Instant> = OnceLock::new();
        let start = *START.get_or_init(Instant::now);
        u64::try_from(start.elapsed().as_nanos()).unwrap_or(u64::MAX)
    }

    fn random(&mut self) -> u64 {
        fastrand::u64(..)
    }
}

impl store::Host for PluginState {
    fn get(&mut self, key: String) -> Option<Vec<u8>> {
        self.kv.get(&key)
    }

    fn set(&mut self, key: String, value: Vec<u8>) -> Result<(), String> {
        self.kv.set(key, value).map_err(|e| e.to_string())
    }

    fn remove(&mut self, key: String) {
        self.kv.remove(&key);
    }

    fn increment(&mut self, key: String, delta: i64) -> Result<i64, String> {
        self.kv.increment(key, delta).map_err(|e| e.to_string())
    }
}

impl upstream_state::Host for PluginState {
    fn load(&mut self, index: u32) -> Option<upstream_state::UpstreamLoad> {
        let view = self.upstreams.get(index as usize)?;
        Some(upstream_state::UpstreamLoad {
            healthy: true,
            circuit: 0,
            in_flight: view.load.in_flight(),
            ewma_micros: view.load.ewma_micros(Instant::now()),
            weight: view.weight,
        })
    }
}
