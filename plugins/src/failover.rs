//! The failover slot: what happens after an attempt to reach an upstream failed.

/// How an attempt ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AttemptOutcome {
    ConnectFailed,
    TimedOut,
    /// The connection broke before a response head arrived.
    Broken,
    /// The upstream answered with this (5xx) status.
    Status(u16),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Attempt {
    /// 1 for the first try.
    pub number: u32,
    /// Index of the upstream tried, in the service's upstream order.
    pub upstream: u32,
    pub outcome: AttemptOutcome,
    /// Whether any of the request reached the upstream.
    pub sent: bool,
    pub idempotent: bool,
    pub upstreams: u32,
    pub untried: u32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailoverDecision {
    /// Pass the upstream's answer (or the gateway's own error) to the client.
    Accept,
    RetrySame,
    RetryOther,
    GiveUp(u16),
}

pub trait Failover: Send + Sync + 'static {
    fn decide(&self, attempt: &Attempt) -> FailoverDecision;
}

/// The built-in policy: never retry beyond what the data path always does (resending a
/// request that provably never left the gateway).
#[derive(Debug, Default)]
pub struct NoRetry;

impl Failover for NoRetry {
    fn decide(&self, _attempt: &Attempt) -> FailoverDecision {
        FailoverDecision::Accept
    }
}
