//! Host-side bindings of `wit/`, one module per world. The imports every world shares are
//! generated once (in `balancer`, the world with the most imports) and reused by the others.

#![allow(clippy::all, missing_docs)]

pub mod balancer {
    wasmtime::component::bindgen!({
        world: "balancer-plugin",
        path: "../wit",
    });
}

pub mod router {
    wasmtime::component::bindgen!({
        world: "router-plugin",
        path: "../wit",
        with: {
            "switchyard:policy/host": super::balancer::switchyard::policy::host,
            "switchyard:policy/store": super::balancer::switchyard::policy::store,
            "switchyard:policy/types": super::balancer::switchyard::policy::types,
        },
    });
}

pub mod affinity {
    wasmtime::component::bindgen!({
        world: "affinity-plugin",
        path: "../wit",
        with: {
            "switchyard:policy/host": super::balancer::switchyard::policy::host,
            "switchyard:policy/store": super::balancer::switchyard::policy::store,
            "switchyard:policy/types": super::balancer::switchyard::policy::types,
        },
    });
}

pub mod failover {
    wasmtime::component::bindgen!({
        world: "failover-plugin",
        path: "../wit",
        with: {
            "switchyard:policy/host": super::balancer::switchyard::policy::host,
            "switchyard:policy/store": super::balancer::switchyard::policy::store,
            "switchyard:policy/types": super::balancer::switchyard::policy::types,
        },
    });
}

pub use balancer::switchyard::policy::{host, store, types, upstream_state};
