//! A router plugin behind the native [`Router`] trait.

use std::collections::HashMap;
use std::sync::Arc;

use http::{HeaderName, HeaderValue, StatusCode};
use switchyard_plugins::{LocalResponse, RequestView, Router, Routing};

use super::bindings::router::RouterPlugin;
use super::bindings::router::exports::switchyard::policy::router::{Response, Routing as Wit};
use super::exports;
use super::instances::Instances;
use super::plugin::{LoadedPlugin, PluginError, WorldPre};
use super::request;
use crate::config::{OnFailure, PolicyKind};

pub struct RouterGuest {
    plugin: RouterPlugin,
    headers: Vec<HeaderName>,
}

pub struct WasmRouter {
    instances: Instances<RouterGuest>,
    /// Service name → index in the snapshot.
    services: HashMap<String, usize>,
    fail_closed: bool,
}

pub fn build(
    plugin: &Arc<LoadedPlugin>,
    services: HashMap<String, usize>,
    workers: usize,
) -> Result<Box<dyn Router>, PluginError> {
    let init_error = |message: String| plugin.init_error(message);
    let WorldPre::Router(pre) = &plugin.pre else {
        return Err(init_error("is not a router plugin".to_owned()));
    };
    let pre = pre.clone();
    let setup = Box::new(move |plugin: &LoadedPlugin, store: &mut _| {
        let bindings = exports::instantiate(
            PolicyKind::Router,
            pre.instance_pre(),
            store,
            |store, instance| RouterPlugin::new(store, instance),
        )?;
        let answer = bindings
            .switchyard_policy_router()
            .call_init(&mut *store, &plugin.config.config)?;
        Ok(RouterGuest {
            plugin: bindings,
            headers: request::init_headers(answer)?,
        })
    });
    let instances = Instances::new(Arc::clone(plugin), Arc::from(Vec::new()), workers, setup)
        .map_err(init_error)?;
    Ok(Box::new(WasmRouter {
        instances,
        services,
        fail_closed: plugin.config.on_failure == OnFailure::FailClosed,
    }))
}

impl WasmRouter {
    fn fall_back(&self) -> Routing {
        if self.fail_closed {
            return Routing::Respond(LocalResponse::unavailable("the router plugin failed"));
        }
        self.instances.plugin.runtime.metrics.fell_back();
        Routing::Default
    }
}

impl Router for WasmRouter {
    fn route(&self, req: &RequestView<'_>) -> Routing {
        let answer = self.instances.call(|guest, store| {
            let headers = request::values(&guest.headers, Some(req));
            guest.plugin.switchyard_policy_router().call_route(
                store,
                req.method.as_str(),
                req.host,
                req.path_and_query,
                req.client_ip,
                headers.as_deref(),
            )
        });
        match answer {
            Ok(Wit::Default) => Routing::Default,
            Ok(Wit::Service(name)) => match self.services.get(&name) {
                Some(&i) => Routing::Service(i),
                None => {
                    self.instances.invalid(&format!(
                        "route named service `{name}`, which is not defined"
                    ));
                    self.fall_back()
                }
            },
            Ok(Wit::Respond(response)) => match local_response(response) {
                Ok(local) => Routing::Respond(local),
                Err(problem) => {
                    self.instances.invalid(&problem);
                    self.fall_back()
                }
            },
            Err(_) => self.fall_back(),
        }
    }
}

/// Checks a plugin's direct answer before it reaches the wire.
fn local_response(r: Response) -> Result<LocalResponse, String> {
    if StatusCode::from_u16(r.status).is_err() || r.status < 200 {
        return Err(format!("respond with status {}", r.status));
    }
    for (name, value) in &r.headers {
        if HeaderName::from_bytes(name.as_bytes()).is_err() || HeaderValue::from_str(value).is_err()
        {
            return Err(format!("respond with an invalid header `{name}`"));
        }
    }
    Ok(LocalResponse {
        status: r.status,
        headers: r.headers,
        body: r.body,
    })
}
