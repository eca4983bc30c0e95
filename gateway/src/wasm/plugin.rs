//! Loading a plugin file: read, check it is a component, compile (or load the cached
//! artifact), and check it implements the world its slot needs. All off the hot path.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use wasmtime::component::{Component, InstancePre};

use super::bindings::{affinity, balancer, failover, router};
use super::engine::{Runtime, runtime};
use super::kv::KvStore;
use super::metrics::PluginMetrics;
use super::state::PluginState;
use super::{cache, engine};
use crate::config::{PluginCache, PluginConfig, PolicyKind};

/// A plugin's state that outlives snapshots: kept by name in the runtime state.
#[derive(Default)]
pub struct PluginRuntime {
    pub metrics: PluginMetrics,
    pub kv: Arc<KvStore>,
}

/// A compiled plugin, ready to instantiate. Shared by every slot that uses it in a snapshot.
pub struct LoadedPlugin {
    pub name: Arc<str>,
    pub config: PluginConfig,
    pub kind: PolicyKind,
    /// xxh3-128 of the file, shown in `/status` so operators can tell versions apart.
    pub digest: u128,
    pub pre: WorldPre,
    pub runtime: Arc<PluginRuntime>,
    /// Epoch ticks per call.
    pub deadline_ticks: u64,
}

impl LoadedPlugin {
    /// The error for a plugin that could not be set up for a slot.
    pub fn init_error(&self, message: String) -> PluginError {
        PluginError::Init {
            plugin: self.config.name.clone(),
            file: self.config.path.clone(),
            message,
        }
    }
}

pub enum WorldPre {
    Router(router::RouterPluginPre<PluginState>),
    Balancer(balancer::BalancerPluginPre<PluginState>),
    Affinity(affinity::AffinityPluginPre<PluginState>),
    Failover(failover::FailoverPluginPre<PluginState>),
}

#[derive(Debug, thiserror::Error)]
pub enum PluginError {
    #[error("plugin `{plugin}`: cannot read {}: {source}", file.display())]
    Read {
        plugin: String,
        file: PathBuf,
        source: std::io::Error,
    },
    #[error("plugin `{plugin}`: {}: {problem}", file.display())]
    Invalid {
        plugin: String,
        file: PathBuf,
        problem: String,
    },
    #[error("plugin `{plugin}`: {}: {message}", file.display())]
    Init {
        plugin: String,
        file: PathBuf,
        message: String,
    },
    #[error("{0}")]
    Runtime(String),
}

impl PolicyKind {
    /// The WIT world a component must implement to fill this slot.
    pub fn world(self) -> &'static str {
        match self {
            PolicyKind::Router => "router-plugin",
            PolicyKind::Balancer => "balancer-plugin",
            PolicyKind::Affinity => "affinity-plugin",
            PolicyKind::Failover => "failover-plugin",
        }
    }

    /// The interface the world exports, as it appears among a component's exports.
    pub fn export(self) -> &'static str {
        match self {
            PolicyKind::Router => "switchyard:policy/router@0.1.0",
            PolicyKind::Balancer => "switchyard:policy/balancer@0.1.0",
            PolicyKind::Affinity => "switchyard:policy/affinity@0.1.0",
            PolicyKind::Failover => "switchyard:policy/failover@0.1.0",
        }
    }

    pub const ALL: [PolicyKind; 4] = [
        PolicyKind::Router,
        PolicyKind::Balancer,
        PolicyKind::Affinity,
        PolicyKind::Failover,
    ];
}

pub fn load(
    config: &PluginConfig,
    kind: PolicyKind,
    runtime_state: Arc<PluginRuntime>,
    cache: &PluginCache,
) -> Result<Arc<LoadedPlugin>, PluginError> {
    let invalid = |problem: String| PluginError::Invalid {
        plugin: config.name.clone(),
        file: config.path.clone(),
        problem,
    };
    let rt = runtime().map_err(PluginError::Runtime)?;
    // `cp new.wasm plugin.wasm` rewrites the file in place, and the watcher may see it half
    // written. A file that does not load and was modified in the last moments is judged
    // again once it has been quiet, so a copy in progress never fails a reload.
    let started = std::time::Instant::now();
    let mut judged_at = SystemTime::now();
    let (bytes, pre) = loop {
        let bytes = std::fs::read(&config.path).map_err(|source| PluginError::Read {
            plugin: config.name.clone(),
            file: config.path.clone(),
            source,
        })?;
        let judged = compile(rt, &bytes, cache).and_then(|c| world_pre(rt, &c, kind));
        match judged {
            Ok(pre) => break (bytes, pre),
            Err(problem) => {
                let settled = modified(&config.path).is_none_or(|m| {
                    m < judged_at
                        .checked_sub(SETTLE)
                        .unwrap_or(SystemTime::UNIX_EPOCH)
                });
                if settled || started.elapsed() > MAX_SETTLE_WAIT {
                    return Err(invalid(problem));
                }
                std::thread::sleep(SETTLE);
                judged_at = SystemTime::now();
            }
        }
    };
    Ok(Arc::new(LoadedPlugin {
        name: Arc::from(config.name.as_str()),
        config: config.clone(),
        kind,
        digest: xxhash_rust::xxh3::xxh3_128(&bytes),
        pre,
        runtime: runtime_state,
        deadline_ticks: engine::ticks(config.deadline),
    }))
}

/// How long a plugin file must have been unmodified before a failure to load it is final.
const SETTLE: Duration = Duration::from_millis(250);
/// The longest a reload waits for a file that keeps changing.
const MAX_SETTLE_WAIT: Duration = Duration::from_secs(5);

fn modified(path: &Path) -> Option<SystemTime> {
    std::fs::metadata(path).and_then(|m| m.modified()).ok()
}

/// Checks the header before handing bytes to the compiler, so the common mistakes get a
/// message that says what to do.
pub fn compile(rt: &Runtime, bytes: &[u8], cache: &PluginCache) -> Result<Component, String> {
    match bytes.get(..8) {
        Some([0, b'a', b's', b'm', 1, 0, 0, 0]) => {
            return Err("is a core Wasm module, not a component: build it for the \
                        wasm32-wasip2 target or wrap it with `wasm-tools component new`"
                .to_owned());
        }
        Some([0, b'a', b's', b'm', _, _, 1, 0]) => {}
        _ => {
            return Err("is not a WebAssembly component (no `\\0asm` component header)".to_owned());
        }
    }
    cache::compile(&rt.engine, bytes, cache::dir_for(cache).as_deref())
        .map_err(|e| format!("does not compile: {e:#}"))
}

/// What the component exports among the policy interfaces.
pub fn policy_exports(rt: &Runtime, component: &Component) -> Vec<PolicyKind> {
    let ty = component.component_type();
    PolicyKind::ALL
        .into_iter()
        .filter(|k| ty.get_export(&rt.engine, k.export()).is_some())
        .collect()
}

fn world_pre(rt: &Runtime, component: &Component, kind: PolicyKind) -> Result<WorldPre, String> {
    let exported = policy_exports(rt, component);
    if !exported.contains(&kind) {
        let found = if exported.is_empty() {
            match other_package_version(rt, component) {
                Some(version) => format!(
                    "no interface of this package version: it was built against \
                     `switchyard:policy@{version}`, this gateway speaks `@{PACKAGE_VERSION}`"
                ),
                None => "no Switchyard policy interface".to_owned(),
            }
        } else {
            exported
                .iter()
                .map(|k| k.world())
                .collect::<Vec<_>>()
                .join(", ")
        };
        return Err(format!(
            "does not implement the `{}` world this {} slot needs (it exports `{}`); it implements: {found}",
            kind.world(),
            kind.slot(),
            kind.export(),
        ));
    }
    let pre: InstancePre<PluginState> = rt.linker.instantiate_pre(component).map_err(|e| {
        format!("cannot be linked (it imports something the gateway does not grant): {e:#}")
    })?;
    let typed =
        |e: wasmtime::Error| format!("exports `{}` with the wrong shape: {e:#}", kind.export());
    Ok(match kind {
        PolicyKind::Router => WorldPre::Router(router::RouterPluginPre::new(pre).map_err(typed)?),
        PolicyKind::Balancer => {
            WorldPre::Balancer(balancer::BalancerPluginPre::new(pre).map_err(typed)?)
        }
        PolicyKind::Affinity => {
            WorldPre::Affinity(affinity::AffinityPluginPre::new(pre).map_err(typed)?)
        }
        PolicyKind::Failover => {
            WorldPre::Failover(failover::FailoverPluginPre::new(pre).map_err(typed)?)
        }
    })
}

/// The version of the `switchyard:policy` WIT package this gateway implements.
const PACKAGE_VERSION: &str = "0.1.0";

/// The version of another `switchyard:policy` package the component exports, if any.
fn other_package_version(rt: &Runtime, component: &Component) -> Option<String> {
    component
        .component_type()
        .exports(&rt.engine)
        .find_map(|(name, _)| {
            let rest = name.strip_prefix("switchyard:policy/")?;
            let (_, version) = rest.split_once('@')?;
            (version != PACKAGE_VERSION).then(|| version.to_owned())
        })
}

/// A world a component exports, and whether the gateway can load it for that world.
pub type WorldVerdict = (PolicyKind, Result<(), String>);

/// A report for `switchyard plugin check`: which worlds a file implements and whether this
/// gateway can load it.
pub fn check_file(path: &Path, cache: &PluginCache) -> Result<Vec<WorldVerdict>, String> {
    let bytes = std::fs::read(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let rt = runtime()?;
    let component = compile(rt, &bytes, cache).map_err(|p| format!("{}: {p}", path.display()))?;
    let exported = policy_exports(rt, &component);
    if exported.is_empty() {
        let why = match other_package_version(rt, &component) {
            Some(version) => format!(
                "it was built against `switchyard:policy@{version}`; this gateway speaks `@{PACKAGE_VERSION}`"
            ),
            None => "it exports none of the switchyard:policy interfaces".to_owned(),
        };
        return Err(format!(
            "{}: implements no Switchyard world this gateway can load: {why}",
            path.display()
        ));
    }
    Ok(exported
        .into_iter()
        .map(|kind| (kind, instantiates(rt, &component, kind, path)))
        .collect())
}

/// Links `component` for `kind`, instantiates it once with the default limits and
/// type-checks every function the world exports (without calling `init`, whose config
/// only a gateway config supplies).
fn instantiates(
    rt: &Runtime,
    component: &Component,
    kind: PolicyKind,
    path: &Path,
) -> Result<(), String> {
    let pre = world_pre(rt, component, kind)?;
    let instance_pre = match &pre {
        WorldPre::Router(p) => p.instance_pre(),
        WorldPre::Balancer(p) => p.instance_pre(),
        WorldPre::Affinity(p) => p.instance_pre(),
        WorldPre::Failover(p) => p.instance_pre(),
    };
    let name: Arc<str> = Arc::from(path.display().to_string());
    let state = PluginState::new(
        name,
        Arc::new(KvStore::default()),
        crate::config::DEFAULT_PLUGIN_MEMORY,
    );
    let mut store = wasmtime::Store::new(&rt.engine, state);
    store.limiter(|s| &mut s.limiter);
    store.set_epoch_deadline(engine::ticks(crate::config::DEFAULT_PLUGIN_INIT_DEADLINE));
    let instance = instance_pre
        .instantiate(&mut store)
        .map_err(|e| format!("cannot be instantiated: {e:#}"))?;
    super::exports::check(kind, &instance, &mut store)
}
