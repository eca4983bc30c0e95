//! An affinity plugin behind the native [`Affinity`] trait.

use std::sync::Arc;

use http::{HeaderName, HeaderValue};
use switchyard_plugins::{Affinity, AffinityKey, RequestView};

use super::bindings::affinity::AffinityPlugin;
use super::exports;
use super::instances::Instances;
use super::plugin::{LoadedPlugin, PluginError, WorldPre};
use super::request;
use crate::config::{OnFailure, PolicyKind};

/// Longest key kept in the pin table.
const MAX_KEY: usize = 256;

pub struct AffinityGuest {
    plugin: AffinityPlugin,
    headers: Vec<HeaderName>,
}

pub struct WasmAffinity {
    instances: Instances<AffinityGuest>,
    fail_closed: bool,
}

pub fn build(plugin: &Arc<LoadedPlugin>, workers: usize) -> Result<Box<dyn Affinity>, PluginError> {
    let init_error = |message: String| plugin.init_error(message);
    let WorldPre::Affinity(pre) = &plugin.pre else {
        return Err(init_error("is not an affinity plugin".to_owned()));
    };
    let pre = pre.clone();
    let setup = Box::new(move |plugin: &LoadedPlugin, store: &mut _| {
        let bindings = exports::instantiate(
            PolicyKind::Affinity,
            pre.instance_pre(),
            store,
            |store, instance| AffinityPlugin::new(store, instance),
        )?;
        let answer = bindings
            .switchyard_policy_affinity()
            .call_init(&mut *store, &plugin.config.config)?;
        Ok(AffinityGuest {
            plugin: bindings,
            headers: request::init_headers(answer)?,
        })
    });
    let instances = Instances::new(Arc::clone(plugin), Arc::from(Vec::new()), workers, setup)
        .map_err(init_error)?;
    Ok(Box::new(WasmAffinity {
        instances,
        fail_closed: plugin.config.on_failure == OnFailure::FailClosed,
    }))
}

impl Affinity for WasmAffinity {
    fn key(&self, req: &RequestView<'_>) -> AffinityKey {
        let answer = self.instances.call(|guest, store| {
            let headers = request::values(&guest.headers, Some(req));
            guest.plugin.switchyard_policy_affinity().call_key(
                store,
                req.method.as_str(),
                req.host,
                req.path_and_query,
                req.client_ip,
                headers.as_deref(),
            )
        });
        match answer {
            Ok(None) => AffinityKey::None,
            Ok(Some(key)) if !key.is_empty() && key.len() <= MAX_KEY => AffinityKey::Key(key),
            Ok(Some(key)) => {
                self.instances.invalid(&format!(
                    "key of {} bytes (1 to {MAX_KEY} allowed)",
                    key.len()
                ));
                self.fall_back()
            }
            Err(_) => self.fall_back(),
        }
    }

    fn pinned(&self, key: &str, upstream: &str) -> Option<String> {
        let answer = self.instances.call(|guest, store| {
            guest
                .plugin
                .switchyard_policy_affinity()
                .call_pinned(store, key, upstream)
        });
        match answer {
            Ok(Some(cookie)) if HeaderValue::from_str(&cookie).is_ok() => Some(cookie),
            Ok(Some(_)) => {
                self.instances
                    .invalid("pinned returned a cookie that is not a header value");
                None
            }
            Ok(None) | Err(_) => None,
        }
    }
}

impl WasmAffinity {
    fn fall_back(&self) -> AffinityKey {
        if self.fail_closed {
            return AffinityKey::Refuse;
        }
        self.instances.plugin.runtime.metrics.fell_back();
        AffinityKey::None
    }
}
