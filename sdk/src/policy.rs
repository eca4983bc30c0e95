//! The four policy kinds and the values they exchange with the gateway.

use crate::Host;

/// A request as a router or affinity policy sees it.
#[derive(Debug, Clone, Copy)]
pub struct Request<'a> {
    pub method: &'a str,
    /// Host without port; empty when the request had none.
    pub host: &'a str,
    /// Path and query, as received.
    pub path: &'a str,
    pub client_ip: &'a str,
    pub(crate) names: &'a [String],
    pub(crate) values: &'a [Option<String>],
}

impl<'a> Request<'a> {
    /// Builds a request (the macros do this; tests can too). `names` are the headers the
    /// policy declared, `values` their values in the same order.
    pub fn new(
        method: &'a str,
        host: &'a str,
        path: &'a str,
        client_ip: &'a str,
        names: &'a [String],
        values: &'a [Option<String>],
    ) -> Self {
        Request {
            method,
            host,
            path,
            client_ip,
            names,
            values,
        }
    }

    /// The value of a header the policy declared (case-insensitive); `None` when absent or
    /// not declared.
    pub fn header(&self, name: &str) -> Option<&'a str> {
        header(self.names, self.values, name)
    }
}

fn header<'a>(names: &[String], values: &'a [Option<String>], name: &str) -> Option<&'a str> {
    let i = names.iter().position(|n| n.eq_ignore_ascii_case(name))?;
    values.get(i)?.as_deref()
}

/// A response a router gives directly.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Response {
    pub fn text(status: u16, body: &str) -> Self {
        Response {
            status,
            headers: vec![("content-type".into(), "text/plain; charset=utf-8".into())],
            body: body.as_bytes().to_vec(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Routing {
    /// Send to the service of this name.
    Service(String),
    /// Answer directly.
    Respond(Response),
    /// Use the route's own service.
    Default,
}

/// Picks the service for requests of routes that name this plugin as `router`.
pub trait Router: Sized + 'static {
    /// `config` is the plugin's `config` from the gateway's TOML. Return the names of the
    /// headers `route` needs: only those are passed, which keeps every call cheap.
    fn new(config: &str, host: &dyn Host) -> Result<(Self, Vec<String>), String>;
    fn route(&mut self, request: &Request<'_>, host: &dyn Host) -> Routing;
}

/// An upstream as configured, given whenever the set changes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Upstream {
    pub id: String,
    pub addr: String,
    pub weight: u32,
    pub tier: u32,
}

/// Live state of one upstream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Load {
    pub healthy: bool,
    /// 0 closed, 1 open, 2 half-open.
    pub circuit: u8,
    pub in_flight: u32,
    pub ewma_micros: u32,
    pub weight: u32,
}

/// How a balancer reads live state: `Packed` gets every upstream's state with each call
/// (best when you scan them all); `Sampled` gets none and asks the host for the few it
/// looks at (best for power-of-two-choices or hashing over large sets).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LoadView {
    Sampled,
    Packed,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BalancerOptions {
    pub loads: LoadView,
    /// Request headers `pick` needs.
    pub headers: Vec<String>,
}

impl BalancerOptions {
    pub fn packed() -> Self {
        BalancerOptions {
            loads: LoadView::Packed,
            headers: Vec::new(),
        }
    }

    pub fn sampled() -> Self {
        BalancerOptions {
            loads: LoadView::Sampled,
            headers: Vec::new(),
        }
    }
}

/// What a balancer knows about the request it places.
#[derive(Debug, Clone, Copy)]
pub struct Pick<'a> {
    /// Hash of the service's `hash_key` (client IP, header, cookie) when configured.
    pub key_hash: Option<u64>,
    pub(crate) names: &'a [String],
    pub(crate) values: &'a [Option<String>],
}

impl<'a> Pick<'a> {
    pub fn new(key_hash: Option<u64>, names: &'a [String], values: &'a [Option<String>]) -> Self {
        Pick {
            key_hash,
            names,
            values,
        }
    }

    /// The value of a header the balancer declared.
    pub fn header(&self, name: &str) -> Option<&'a str> {
        header(self.names, self.values, name)
    }
}

/// The upstreams' live state, in set order, however the balancer asked to receive it.
pub struct Loads<'a> {
    words: &'a [u32],
    count: usize,
    host: &'a dyn Host,
}

/// Words per upstream in the packed view: flags, in-flight, EWMA µs, weight.
const WORDS: usize = 4;

impl<'a> Loads<'a> {
    pub fn new(words: &'a [u32], count: usize, host: &'a dyn Host) -> Self {
        Loads { words, count, host }
    }

    /// Number of upstreams in the current set.
    pub fn len(&self) -> usize {
        self.count
    }

    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    pub fn get(&self, index: usize) -> Option<Load> {
        if index >= self.count {
            return None;
        }
        match self.words.get(index * WORDS..index * WORDS + WORDS) {
            Some(&[flags, in_flight, ewma_micros, weight]) => Some(Load {
                healthy: flags & 1 == 1,
                circuit: ((flags >> 1) & 3) as u8,
                in_flight,
                ewma_micros,
                weight,
            }),
            _ => self.host.upstream_load(index),
        }
    }
}

/// Picks one upstream of a service whose `balancer = { plugin = "..." }`.
pub trait Balancer: Sized + 'static {
    fn new(config: &str, host: &dyn Host) -> Result<(Self, BalancerOptions), String>;
    /// Called after `new` and whenever the service's upstream set changes.
    fn set_upstreams(&mut self, generation: u64, upstreams: Vec<Upstream>);
    /// An index into the last set, or `None` when nothing should serve (the gateway answers
    /// 503).
    fn pick(&mut self, request: &Pick<'_>, loads: &Loads<'_>, host: &dyn Host) -> Option<usize>;
}

/// Keeps a client on one upstream: name the client, the gateway remembers the pin.
pub trait Affinity: Sized + 'static {
    /// Returns the headers `key` needs.
    fn new(config: &str, host: &dyn Host) -> Result<(Self, Vec<String>), String>;
    /// The key identifying this client, or `None` to balance the request normally.
    fn key(&mut self, request: &Request<'_>, host: &dyn Host) -> Option<String>;
    /// `key` was just pinned to upstream `upstream` (its id): a `Set-Cookie` value to send.
    fn pinned(&mut self, _key: &str, _upstream: &str, _host: &dyn Host) -> Option<String> {
        None
    }
}

/// How an attempt to reach an upstream ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    ConnectFailed,
    TimedOut,
    Broken,
    Status(u16),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Attempt {
    /// 1 for the first try.
    pub number: u32,
    pub upstream: u32,
    pub outcome: Outcome,
    pub sent: bool,
    pub idempotent: bool,
    pub upstreams: u32,
    pub untried: u32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    Accept,
    RetrySame,
    RetryOther,
    GiveUp(u16),
}

/// Decides what happens after a failed attempt (connection failure, timeout, broken
/// connection, or a 5xx answer).
pub trait Failover: Sized + 'static {
    fn new(config: &str, host: &dyn Host) -> Result<Self, String>;
    fn decide(&mut self, attempt: &Attempt, host: &dyn Host) -> Decision;
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Level;

    /// A host for native unit tests: fixed random numbers, one sampled load.
    struct FakeHost;

    impl Host for FakeHost {
        fn log(&self, _level: Level, _message: &str) {}
        fn monotonic_now(&self) -> u64 {
            0
        }
        fn random(&self) -> u64 {
            4
        }
        fn store_get(&self, _key: &str) -> Option<Vec<u8>> {
            None
        }
        fn store_set(&self, _key: &str, _value: &[u8]) -> Result<(), String> {
            Ok(())
        }
        fn store_remove(&self, _key: &str) {}
        fn store_increment(&self, _key: &str, delta: i64) -> Result<i64, String> {
            Ok(delta)
        }
        fn upstream_load(&self, index: usize) -> Option<Load> {
            (index == 1).then_some(Load {
                healthy: true,
                circuit: 0,
                in_flight: 9,
                ewma_micros: 0,
                weight: 1,
            })
        }
    }

    #[test]
    fn packed_words_unpack_and_sampled_asks_the_host() {
        let words = [1, 3, 250, 2, 0b101, 0, 0, 1];
        let packed = Loads::new(&words, 2, &FakeHost);
        assert_eq!(
            packed.get(0),
            Some(Load {
                healthy: true,
                circuit: 0,
                in_flight: 3,
                ewma_micros: 250,
                weight: 2
            })
        );
        assert_eq!(
            packed.get(1).map(|l| (l.healthy, l.circuit)),
            Some((true, 2))
        );
        assert_eq!(packed.get(2), None);
        let sampled = Loads::new(&[], 2, &FakeHost);
        assert_eq!(sampled.get(1).map(|l| l.in_flight), Some(9));
        assert_eq!(sampled.get(0), None);
    }

    #[test]
    fn declared_headers_are_found_case_insensitively() {
        let names = vec!["x-user-id".to_owned(), "x-canary".to_owned()];
        let values = vec![Some("alice".to_owned()), None];
        let r = Request::new("GET", "h", "/", "127.0.0.1", &names, &values);
        assert_eq!(r.header("X-User-Id"), Some("alice"));
        assert_eq!(r.header("x-canary"), None);
        assert_eq!(r.header("undeclared"), None);
    }
}
