//! The affinity slot: which client a request belongs to, so the gateway can keep sending that
//! client to the upstream it was pinned to. The policy names the client; the gateway's pin
//! table remembers the upstream.

use crate::request::RequestView;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AffinityKey {
    /// Balance normally, pin nothing.
    None,
    Key(String),
    /// The policy could not decide and is configured to fail closed: answer 503.
    Refuse,
}

pub trait Affinity: Send + Sync + 'static {
    fn key(&self, request: &RequestView<'_>) -> AffinityKey;
    /// `key` was just pinned to the upstream with id `upstream`: the `Set-Cookie` value to
    /// send to the client, if any.
    fn pinned(&self, key: &str, upstream: &str) -> Option<String>;
}
