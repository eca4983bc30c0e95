//! The router slot: which service serves a request that matched a route.
//!
//! A route without a router sends to its own `service`; a route naming a router plugin lets
//! it choose any service, answer directly, or defer to the route's own service.

use crate::request::RequestView;

/// A response the policy gives instead of proxying.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocalResponse {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl LocalResponse {
    /// The answer of a fail-closed policy that could not decide.
    pub fn unavailable(why: &str) -> Self {
        LocalResponse {
            status: 503,
            headers: vec![(
                "content-type".to_owned(),
                "text/plain; charset=utf-8".to_owned(),
            )],
            body: format!("switchyard: {why}\n").into_bytes(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Routing {
    /// Index of the service in the snapshot's service list.
    Service(usize),
    Respond(LocalResponse),
    /// The route's own service.
    Default,
}

pub trait Router: Send + Sync + 'static {
    fn route(&self, request: &RequestView<'_>) -> Routing;
}
