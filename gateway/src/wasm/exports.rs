//! Type-checks, function by function, what a component exports for a world, so a wrong
//! signature is reported by interface and function ("`pick` has the wrong type: ...")
//! instead of by wasmtime's bare "type mismatch with results" on the first call.
//!
//! The generated bindings check the same types when they bind an instance; this runs first
//! so the message can name what is wrong. It costs one export lookup per function, once per
//! instantiation (never per call).

use wasmtime::Store;
use wasmtime::component::{ComponentNamedList, Instance, Lift, Lower};

use super::bindings::balancer::exports::switchyard::policy::balancer::Options;
use super::bindings::failover::exports::switchyard::policy::failover::{Attempt, Decision};
use super::bindings::router::exports::switchyard::policy::router::Routing;
use super::bindings::types::Upstream;
use super::state::PluginState;
use crate::config::PolicyKind;

type Headers = Option<Vec<Option<String>>>;

/// Checks every function `kind`'s interface needs; the error names the first that is
/// missing or has another type.
pub fn check(
    kind: PolicyKind,
    instance: &Instance,
    store: &mut Store<PluginState>,
) -> Result<(), String> {
    let interface = kind.export();
    let Some(index) = instance.get_export_index(&mut *store, None, interface) else {
        return Err(format!("does not export `{interface}`"));
    };
    let mut probe = Probe {
        instance,
        store,
        interface,
        index,
    };
    match kind {
        PolicyKind::Router => {
            probe.func::<(String,), (Result<Vec<String>, String>,)>("init")?;
            probe.func::<(String, String, String, String, Headers), (Routing,)>("route")
        }
        PolicyKind::Balancer => {
            probe.func::<(String,), (Result<Options, String>,)>("init")?;
            probe.func::<(u64, Vec<Upstream>), ()>("set-upstreams")?;
            probe.func::<(Option<u64>, Headers, Option<Vec<u32>>), (Option<u32>,)>("pick")
        }
        PolicyKind::Affinity => {
            probe.func::<(String,), (Result<Vec<String>, String>,)>("init")?;
            probe.func::<(String, String, String, String, Headers), (Option<String>,)>("key")?;
            probe.func::<(String, String), (Option<String>,)>("pinned")
        }
        PolicyKind::Failover => {
            probe.func::<(String,), (Result<(), String>,)>("init")?;
            probe.func::<(Attempt,), (Decision,)>("decide")
        }
    }
}

struct Probe<'a> {
    instance: &'a Instance,
    store: &'a mut Store<PluginState>,
    interface: &'static str,
    index: wasmtime::component::ComponentExportIndex,
}

impl Probe<'_> {
    fn func<P, R>(&mut self, name: &str) -> Result<(), String>
    where
        P: ComponentNamedList + Lower + Send + Sync + 'static,
        R: ComponentNamedList + Lift + Send + Sync + 'static,
    {
        let interface = self.interface;
        let Some(func) = self
            .instance
            .get_export_index(&mut *self.store, Some(&self.index), name)
        else {
            return Err(format!(
                "`{interface}` has no function `{name}` (built against another version of the WIT package?)"
            ));
        };
        self.instance
            .get_typed_func::<P, R>(&mut *self.store, &func)
            .map(drop)
            .map_err(|e| {
                format!(
                    "function `{name}` of `{interface}` has the wrong type ({e:#}); \
                     rebuild it against this gateway's wit/policy.wit"
                )
            })
    }
}

/// Instantiates `pre`, checks its exports for `kind` by name, then binds them.
pub fn instantiate<B>(
    kind: PolicyKind,
    pre: &wasmtime::component::InstancePre<PluginState>,
    store: &mut Store<PluginState>,
    bind: impl FnOnce(&mut Store<PluginState>, &Instance) -> wasmtime::Result<B>,
) -> wasmtime::Result<B> {
    let instance = pre.instantiate(&mut *store)?;
    check(kind, &instance, store).map_err(wasmtime::Error::msg)?;
    bind(store, &instance)
}
