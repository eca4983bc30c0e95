//! Switchyard's policy contract and its native built-in policies.
//!
//! The data path only ever talks to the traits defined here; a native built-in and a
//! sandboxed Wasm component implement the same ones, so the proxy never knows which it calls.
//! This crate never depends on the gateway.

#![forbid(unsafe_code)]

pub mod balancer;
pub mod load;

pub use balancer::{Balancer, BalancerKind, BuildError, PickContext, Target};
pub use load::{InFlight, UpstreamLoad};
