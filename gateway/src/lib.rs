//! Switchyard gateway library: config, snapshots, the proxy data path, the admin listener
//! and hot reload. The `switchyard` binary is a thin CLI over it; tests drive it directly.

#![deny(unsafe_code)]

mod admin;
pub mod config;
pub mod demo;
mod gateway;
mod listeners;
mod pins;
pub mod proxy;
mod reload;
pub mod runtime_state;
pub mod snapshot;
pub mod wasm;
mod watch;
mod worker;

pub use gateway::{ConfigSource, Gateway, Options, Shared};
pub use reload::ReloadReport;
