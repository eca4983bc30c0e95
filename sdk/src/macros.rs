//! The one-line export macros. Each generates the world's bindings in the plugin crate,
//! keeps the plugin value between calls, and converts between the bindings and this crate's
//! types, so authors only see [`crate::Router`], [`crate::Balancer`], [`crate::Affinity`]
//! and [`crate::Failover`].

/// Implements [`crate::Host`] over the generated imports (shared by the policy macros).
#[doc(hidden)]
#[macro_export]
macro_rules! __host {
    ($load:expr) => {
        struct Host;

        impl $crate::Host for Host {
            fn log(&self, level: $crate::Level, message: &str) {
                use switchyard::policy::host::Level as L;
                let level = match level {
                    $crate::Level::Trace => L::Trace,
                    $crate::Level::Debug => L::Debug,
                    $crate::Level::Info => L::Info,
                    $crate::Level::Warn => L::Warn,
                    $crate::Level::Error => L::Error,
                };
                switchyard::policy::host::log(level, message)
            }
            fn monotonic_now(&self) -> u64 {
                switchyard::policy::host::monotonic_now()
            }
            fn random(&self) -> u64 {
                switchyard::policy::host::random()
            }
            fn store_get(&self, key: &str) -> Option<Vec<u8>> {
                switchyard::policy::store::get(key)
            }
            fn store_set(&self, key: &str, value: &[u8]) -> Result<(), String> {
                switchyard::policy::store::set(key, value)
            }
            fn store_remove(&self, key: &str) {
                switchyard::policy::store::remove(key)
            }
            fn store_increment(&self, key: &str, delta: i64) -> Result<i64, String> {
                switchyard::policy::store::increment(key, delta)
            }
            fn upstream_load(&self, index: usize) -> Option<$crate::Load> {
                let load: fn(usize) -> Option<$crate::Load> = $load;
                load(index)
            }
        }
    };
}

/// Exports a [`crate::Router`] implementation as the plugin's `router-plugin` world.
#[macro_export]
macro_rules! router {
    ($plugin:ty) => {
        // Bindings exist only for Wasm: natively, the crate still builds (and its logic can
        // be unit-tested) without exporting anything.
        #[cfg(target_arch = "wasm32")]
        #[doc(hidden)]
        mod __switchyard_router {
            use super::*;
            $crate::__generate!(router);
            $crate::__host!(|_| None);
            use exports::switchyard::policy::router as wit;

            ::std::thread_local! {
                static PLUGIN: ::core::cell::RefCell<Option<($plugin, Vec<String>)>> =
                    const { ::core::cell::RefCell::new(None) };
            }

            struct Export;

            impl wit::Guest for Export {
                fn init(config: String) -> Result<Vec<String>, String> {
                    let (plugin, headers) = <$plugin as $crate::Router>::new(&config, &Host)?;
                    PLUGIN.with_borrow_mut(|p| *p = Some((plugin, headers.clone())));
                    Ok(headers)
                }

                fn route(
                    method: String,
                    host: String,
                    path: String,
                    client_ip: String,
                    headers: Option<Vec<Option<String>>>,
                ) -> wit::Routing {
                    PLUGIN.with_borrow_mut(|p| {
                        let Some((plugin, names)) = p else {
                            return wit::Routing::Default;
                        };
                        let request = $crate::Request::new(
                            &method,
                            &host,
                            &path,
                            &client_ip,
                            names,
                            headers.as_deref().unwrap_or_default(),
                        );
                        match $crate::Router::route(plugin, &request, &Host) {
                            $crate::Routing::Default => wit::Routing::Default,
                            $crate::Routing::Service(s) => wit::Routing::Service(s),
                            $crate::Routing::Respond(r) => wit::Routing::Respond(wit::Response {
                                status: r.status,
                                headers: r.headers,
                                body: r.body,
                            }),
                        }
                    })
                }
            }

            export!(Export);
        }
    };
}

/// Exports a [`crate::Balancer`] implementation as the plugin's `balancer-plugin` world.
#[macro_export]
macro_rules! balancer {
    ($plugin:ty) => {
        // Bindings exist only for Wasm: natively, the crate still builds (and its logic can
        // be unit-tested) without exporting anything.
        #[cfg(target_arch = "wasm32")]
        #[doc(hidden)]
        mod __switchyard_balancer {
            use super::*;
            $crate::__generate!(balancer);
            $crate::__host!(|i| {
                let l = switchyard::policy::upstream_state::load(u32::try_from(i).ok()?)?;
                Some($crate::Load {
                    healthy: l.healthy,
                    circuit: l.circuit,
                    in_flight: l.in_flight,
                    ewma_micros: l.ewma_micros,
                    weight: l.weight,
                })
            });
            use exports::switchyard::policy::balancer as wit;

            struct State {
                plugin: $plugin,
                headers: Vec<String>,
                count: usize,
            }

            ::std::thread_local! {
                static PLUGIN: ::core::cell::RefCell<Option<State>> =
                    const { ::core::cell::RefCell::new(None) };
            }

            struct Export;

            impl wit::Guest for Export {
                fn init(config: String) -> Result<wit::Options, String> {
                    let (plugin, options) = <$plugin as $crate::Balancer>::new(&config, &Host)?;
                    let headers = options.headers.clone();
                    PLUGIN.with_borrow_mut(|p| {
                        *p = Some(State {
                            plugin,
                            headers,
                            count: 0,
                        })
                    });
                    Ok(wit::Options {
                        loads: match options.loads {
                            $crate::LoadView::Packed => wit::LoadView::Packed,
                            $crate::LoadView::Sampled => wit::LoadView::Sampled,
                        },
                        headers: options.headers,
                    })
                }

                fn set_upstreams(generation: u64, upstreams: Vec<wit::Upstream>) {
                    PLUGIN.with_borrow_mut(|p| {
                        if let Some(state) = p {
                            state.count = upstreams.len();
                            let list = upstreams
                                .into_iter()
                                .map(|u| $crate::Upstream {
                                    id: u.id,
                                    addr: u.addr,
                                    weight: u.weight,
                                    tier: u.tier,
                                })
                                .collect();
                            $crate::Balancer::set_upstreams(&mut state.plugin, generation, list);
                        }
                    })
                }

                fn pick(
                    key_hash: Option<u64>,
                    headers: Option<Vec<Option<String>>>,
                    loads: Option<Vec<u32>>,
                ) -> Option<u32> {
                    PLUGIN.with_borrow_mut(|p| {
                        let state = p.as_mut()?;
                        let request = $crate::Pick::new(
                            key_hash,
                            &state.headers,
                            headers.as_deref().unwrap_or_default(),
                        );
                        let view = $crate::Loads::new(
                            loads.as_deref().unwrap_or_default(),
                            state.count,
                            &Host,
                        );
                        let index =
                            $crate::Balancer::pick(&mut state.plugin, &request, &view, &Host)?;
                        u32::try_from(index).ok()
                    })
                }
            }

            export!(Export);
        }
    };
}

/// Exports an [`crate::Affinity`] implementation as the plugin's `affinity-plugin` world.
#[macro_export]
macro_rules! affinity {
    ($plugin:ty) => {
        // Bindings exist only for Wasm: natively, the crate still builds (and its logic can
        // be unit-tested) without exporting anything.
        #[cfg(target_arch = "wasm32")]
        #[doc(hidden)]
        mod __switchyard_affinity {
            use super::*;
            $crate::__generate!(affinity);
            $crate::__host!(|_| None);
            use exports::switchyard::policy::affinity as wit;

            ::std::thread_local! {
                static PLUGIN: ::core::cell::RefCell<Option<($plugin, Vec<String>)>> =
                    const { ::core::cell::RefCell::new(None) };
            }

            struct Export;

            impl wit::Guest for Export {
                fn init(config: String) -> Result<Vec<String>, String> {
                    let (plugin, headers) = <$plugin as $crate::Affinity>::new(&config, &Host)?;
                    PLUGIN.with_borrow_mut(|p| *p = Some((plugin, headers.clone())));
                    Ok(headers)
                }

                fn key(
                    method: String,
                    host: String,
                    path: String,
                    client_ip: String,
                    headers: Option<Vec<Option<String>>>,
                ) -> Option<String> {
                    PLUGIN.with_borrow_mut(|p| {
                        let (plugin, names) = p.as_mut()?;
                        let request = $crate::Request::new(
                            &method,
                            &host,
                            &path,
                            &client_ip,
                            names,
                            headers.as_deref().unwrap_or_default(),
                        );
                        $crate::Affinity::key(plugin, &request, &Host)
                    })
                }

                fn pinned(key: String, upstream: String) -> Option<String> {
                    PLUGIN.with_borrow_mut(|p| {
                        let (plugin, _) = p.as_mut()?;
                        $crate::Affinity::pinned(plugin, &key, &upstream, &Host)
                    })
                }
            }

            export!(Export);
        }
    };
}

/// Exports a [`crate::Failover`] implementation as the plugin's `failover-plugin` world.
#[macro_export]
macro_rules! failover {
    ($plugin:ty) => {
        // Bindings exist only for Wasm: natively, the crate still builds (and its logic can
        // be unit-tested) without exporting anything.
        #[cfg(target_arch = "wasm32")]
        #[doc(hidden)]
        mod __switchyard_failover {
            use super::*;
            $crate::__generate!(failover);
            $crate::__host!(|_| None);
            use exports::switchyard::policy::failover as wit;

            ::std::thread_local! {
                static PLUGIN: ::core::cell::RefCell<Option<$plugin>> =
                    const { ::core::cell::RefCell::new(None) };
            }

            struct Export;

            impl wit::Guest for Export {
                fn init(config: String) -> Result<(), String> {
                    let plugin = <$plugin as $crate::Failover>::new(&config, &Host)?;
                    PLUGIN.with_borrow_mut(|p| *p = Some(plugin));
                    Ok(())
                }

                fn decide(attempt: wit::Attempt) -> wit::Decision {
                    let outcome = match attempt.outcome {
                        wit::Outcome::ConnectFailed => $crate::Outcome::ConnectFailed,
                        wit::Outcome::TimedOut => $crate::Outcome::TimedOut,
                        wit::Outcome::Broken => $crate::Outcome::Broken,
                        wit::Outcome::Status(s) => $crate::Outcome::Status(s),
                    };
                    let attempt = $crate::Attempt {
                        number: attempt.number,
                        upstream: attempt.upstream,
                        outcome,
                        sent: attempt.sent,
                        idempotent: attempt.idempotent,
                        upstreams: attempt.upstreams,
                        untried: attempt.untried,
                    };
                    PLUGIN.with_borrow_mut(|p| match p {
                        None => wit::Decision::Accept,
                        Some(plugin) => match $crate::Failover::decide(plugin, &attempt, &Host) {
                            $crate::Decision::Accept => wit::Decision::Accept,
                            $crate::Decision::RetrySame => wit::Decision::RetrySame,
                            $crate::Decision::RetryOther => wit::Decision::RetryOther,
                            $crate::Decision::GiveUp(s) => wit::Decision::GiveUp(s),
                        },
                    })
                }
            }

            export!(Export);
        }
    };
}
