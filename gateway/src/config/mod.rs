//! The one TOML file that drives the gateway: its validated, typed form.
//!
//! `raw` mirrors the file (serde, spans kept for error locations), `validate` turns it into
//! the types below or a [`ConfigError`] naming file, line and column. Nothing here touches
//! the runtime.

mod error;
mod raw;
mod validate;

use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use http::{HeaderName, HeaderValue, Method};
use switchyard_plugins::BalancerKind;

pub use error::ConfigError;

/// A validated configuration.
#[derive(Debug, Clone)]
pub struct Config {
    pub listen: Vec<SocketAddr>,
    pub admin: Option<SocketAddr>,
    /// Worker threads, one runtime and one listener socket each; 0 means one per core.
    pub workers: usize,
    pub routes: Vec<RouteConfig>,
    /// Sorted by name.
    pub services: Vec<ServiceConfig>,
    /// Problems that do not stop the config from loading (e.g. a shadowed route).
    pub warnings: Vec<String>,
}

#[derive(Debug, Clone)]
pub struct RouteConfig {
    pub name: String,
    pub host: Option<HostMatch>,
    pub path: PathMatch,
    /// Empty: any method.
    pub methods: Vec<Method>,
    pub headers: Vec<(HeaderName, HeaderValue)>,
    /// Index into [`Config::services`].
    pub service: usize,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HostMatch {
    /// Lower-cased host without port.
    Exact(String),
    /// `*.example.com` stored as `.example.com`: matches any subdomain, not the apex.
    Suffix(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PathMatch {
    Any,
    Prefix(String),
    Exact(String),
}

#[derive(Debug, Clone)]
pub struct ServiceConfig {
    pub name: String,
    pub balancer: BalancerKind,
    /// What the `hash` balancer hashes; `None` for other balancers.
    pub hash_key: Option<HashKey>,
    pub timeouts: Timeouts,
    pub upstreams: Vec<UpstreamConfig>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HashKey {
    ClientIp,
    Header(HeaderName),
    Cookie(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UpstreamConfig {
    /// The address as written: the upstream's stable identity across reloads and instances.
    pub id: String,
    pub addr: SocketAddr,
    pub weight: u32,
    /// Failover tier, 0 = primary. Only the lowest configured tier serves until health
    /// checking lands.
    pub tier: u32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timeouts {
    /// TCP connect to an upstream.
    pub connect: Duration,
    /// From sending the request to receiving the upstream's response head, per try.
    pub request: Duration,
    /// How long an unused pooled upstream connection is kept.
    pub idle: Duration,
}

impl Default for Timeouts {
    fn default() -> Self {
        Self {
            connect: Duration::from_secs(5),
            request: Duration::from_secs(60),
            idle: Duration::from_secs(60),
        }
    }
}

impl Config {
    /// Parses and validates `text`; `origin` names the file in error messages.
    pub fn parse(text: &str, origin: &str) -> Result<Config, ConfigError> {
        let raw: raw::RawConfig =
            toml::from_str(text).map_err(|e| ConfigError::from_toml(&e, text, origin))?;
        validate::validate(raw, text, origin)
    }

    /// Reads and validates a config file. Blocking (file read, DNS for host names).
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let origin = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|e| ConfigError::Io {
            file: origin.clone(),
            message: e.to_string(),
        })?;
        Self::parse(&text, &origin)
    }

    pub fn service(&self, name: &str) -> Option<&ServiceConfig> {
        self.services.iter().find(|s| s.name == name)
    }
}
