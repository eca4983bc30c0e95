//! Switchyard's policy contract and its native built-in policies.
//!
//! The data path only ever talks to the traits defined here; a native built-in and a
//! sandboxed Wasm component implement the same ones, so the proxy never knows which it calls.
//! This crate never depends on the gateway.

#![forbid(unsafe_code)]

pub mod affinity;
pub mod balancer;
pub mod failover;
pub mod load;
pub mod request;
pub mod router;

pub use affinity::{Affinity, AffinityKey};
pub use balancer::{Balancer, BalancerKind, BuildError, PickContext, Target};
pub use failover::{Attempt, AttemptOutcome, Failover, FailoverDecision, NoRetry};
pub use load::{InFlight, UpstreamLoad};
pub use request::{FieldSpan, Headers, RequestView};
pub use router::{LocalResponse, Router, Routing};
