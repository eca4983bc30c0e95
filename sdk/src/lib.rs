//! Write Switchyard policy plugins in Rust: implement one trait, add one macro line, build
//! for `wasm32-wasip2`.
//!
//! ```ignore
//! use switchyard_sdk::{Balancer, BalancerOptions, Host, Loads, Pick, Upstream};
//!
//! /// Sends each request to the upstream with the fewest requests in flight per unit of weight.
//! struct LeastLoaded { upstreams: Vec<Upstream> }
//!
//! impl Balancer for LeastLoaded {
//!     fn new(_config: &str, _host: &dyn Host) -> Result<(Self, BalancerOptions), String> {
//!         Ok((LeastLoaded { upstreams: Vec::new() }, BalancerOptions::packed()))
//!     }
//!     fn set_upstreams(&mut self, _generation: u64, upstreams: Vec<Upstream>) {
//!         self.upstreams = upstreams;
//!     }
//!     fn pick(&mut self, _request: &Pick<'_>, loads: &Loads<'_>, _host: &dyn Host) -> Option<usize> {
//!         (0..loads.len()).min_by_key(|&i| loads.get(i).map_or(u64::MAX, |l| l.in_flight as u64 * 1000 / l.weight.max(1) as u64))
//!     }
//! }
//!
//! switchyard_sdk::balancer!(LeastLoaded);
//! ```
//!
//! The crate is a `cdylib` built with `cargo build --target wasm32-wasip2 --release`; the
//! `.wasm` it produces is the component the gateway loads (`[plugin.NAME] path = ...`).
//!
//! Every trait method receives a [`Host`]: the gateway's log, clock, random numbers and the
//! key-value store shared by all instances of the plugin. Because it is a trait, a plugin's
//! logic can be unit-tested natively with a fake host.
//!
//! One instance serves many calls: fields of your struct persist between them (per worker
//! thread). State every worker must see goes through [`Host::store_get`] and friends.

#![forbid(unsafe_code)]

mod host;
mod macros;
mod policy;

pub use host::{Host, Level};
pub use policy::*;

#[doc(hidden)]
pub use wit_bindgen;

include!(concat!(env!("OUT_DIR"), "/generate.rs"));
