//! A balancer plugin behind the native [`Balancer`] trait.

use std::sync::Arc;
use std::time::Instant;

use http::HeaderName;
use switchyard_plugins::{Balancer, PickContext, Target};

use super::bindings::balancer::BalancerPlugin;
use super::bindings::balancer::exports::switchyard::policy::balancer::{LoadView, Upstream};
use super::exports;
use super::instances::Instances;
use super::plugin::{LoadedPlugin, PluginError, WorldPre};
use super::request;
use super::state::UpstreamView;
use crate::config::{OnFailure, PolicyKind};

/// What the plugin is told about each upstream when the set changes.
pub struct UpstreamInfo {
    pub id: String,
    pub addr: String,
    pub tier: u32,
}

pub struct BalancerGuest {
    plugin: BalancerPlugin,
    packed: bool,
    headers: Vec<HeaderName>,
}

pub struct WasmBalancer {
    instances: Instances<BalancerGuest>,
    views: Arc<[UpstreamView]>,
    fallback: Box<dyn Balancer>,
    fail_closed: bool,
}

/// Words per upstream in the packed load view (see `wit/policy.wit`).
const WORDS: usize = 4;

pub fn build(
    plugin: &Arc<LoadedPlugin>,
    targets: &[Target],
    info: &[UpstreamInfo],
    generation: u64,
    workers: usize,
) -> Result<Box<dyn Balancer>, PluginError> {
    let init_error = |message: String| plugin.init_error(message);
    let WorldPre::Balancer(pre) = &plugin.pre else {
        return Err(init_error("is not a balancer plugin".to_owned()));
    };
    let pre = pre.clone();
    let fallback = plugin
        .config
        .fallback
        .build(targets)
        .map_err(|e| init_error(format!("fallback: {e}")))?;
    let views: Arc<[UpstreamView]> = targets
        .iter()
        .map(|t| UpstreamView {
            weight: t.weight,
            load: Arc::clone(&t.load),
        })
        .collect();
    let upstreams: Arc<[Upstream]> = targets
        .iter()
        .zip(info)
        .map(|(t, i)| Upstream {
            id: i.id.clone(),
            addr: i.addr.clone(),
            weight: t.weight,
            tier: i.tier,
        })
        .collect();
    let setup = Box::new(move |plugin: &LoadedPlugin, store: &mut _| {
        let bindings = exports::instantiate(
            PolicyKind::Balancer,
            pre.instance_pre(),
            store,
            |store, instance| BalancerPlugin::new(store, instance),
        )?;
        let api = bindings.switchyard_policy_balancer();
        let options = match api.call_init(&mut *store, &plugin.config.config)? {
            Ok(options) => options,
            Err(message) => wasmtime::bail!("init rejected the config: {message}"),
        };
        let headers = request::declared(options.headers).map_err(wasmtime::Error::msg)?;
        api.call_set_upstreams(&mut *store, generation, &upstreams)?;
        Ok(BalancerGuest {
            plugin: bindings,
            packed: matches!(options.loads, LoadView::Packed),
            headers,
        })
    });
    let instances = Instances::new(Arc::clone(plugin), Arc::clone(&views), workers, setup)
        .map_err(init_error)?;
    Ok(Box::new(WasmBalancer {
        instances,
        views,
        fallback,
        fail_closed: plugin.config.on_failure == OnFailure::FailClosed,
    }))
}

impl WasmBalancer {
    fn fall_back(&self, ctx: &PickContext<'_>) -> Option<usize> {
        if self.fail_closed {
            return None;
        }
        self.instances.plugin.runtime.metrics.fell_back();
        self.fallback.pick(ctx)
    }
}

impl Balancer for WasmBalancer {
    fn pick(&self, ctx: &PickContext<'_>) -> Option<usize> {
        let answer = self.instances.call(|guest, store| {
            let headers = request::values(&guest.headers, ctx.request);
            // The packed words go through a buffer kept in the store: no allocation per call.
            let mut words = std::mem::take(&mut store.data_mut().scratch);
            words.clear();
            if guest.packed {
                pack(&self.views, &mut words);
            }
            let picked = guest.plugin.switchyard_policy_balancer().call_pick(
                &mut *store,
                ctx.key_hash,
                headers.as_deref(),
                guest.packed.then_some(words.as_slice()),
            );
            store.data_mut().scratch = words;
            picked
        });
        match answer {
            Ok(Some(i)) if (i as usize) < self.views.len() => Some(i as usize),
            // The plugin says nothing should serve: that is a decision, not a failure.
            Ok(None) => None,
            Ok(Some(i)) => {
                self.instances.invalid(&format!(
                    "pick returned index {i} of a set of {}",
                    self.views.len()
                ));
                self.fall_back(ctx)
            }
            Err(_) => self.fall_back(ctx),
        }
    }
}

/// flags (bit 0 healthy; circuit closed until breakers land), in-flight, peak EWMA µs, weight.
fn pack(views: &[UpstreamView], out: &mut Vec<u32>) {
    let now = Instant::now();
    out.reserve(views.len() * WORDS);
    for v in views {
        out.extend_from_slice(&[1, v.load.in_flight(), v.load.ewma_micros(now), v.weight]);
    }
}
