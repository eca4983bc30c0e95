//! The one TOML file that drives the gateway: its validated, typed form.
//!
//! `raw` mirrors the file (serde, spans kept for error locations), `validate` turns it into
//! the types below or a [`ConfigError`] naming file, line and column. Nothing here touches
//! the runtime.

mod edge;
mod error;
mod plugins;
mod raw;
mod transform;
mod validate;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use http::{HeaderName, HeaderValue, Method};
use switchyard_plugins::BalancerKind;

pub use edge::{EscapedSlashes, PathRules, RequestRules};
pub use error::ConfigError;
pub use plugins::{
    DEFAULT_INIT_DEADLINE as DEFAULT_PLUGIN_INIT_DEADLINE, DEFAULT_MEMORY as DEFAULT_PLUGIN_MEMORY,
    MAX_MEMORY as MAX_PLUGIN_MEMORY,
};
pub use transform::{HeaderEdits, LocationPart, PathRewrite, Redirect, Transform};

/// A validated configuration.
#[derive(Debug, Clone)]
pub struct Config {
    pub listen: Vec<SocketAddr>,
    pub admin: Option<SocketAddr>,
    /// Worker threads, one runtime and one listener socket each; 0 means one per core.
    pub workers: usize,
    /// Client connections each listener keeps open at most (across workers); more are
    /// accepted and closed at once, and counted. `None`: no cap but the open-file limit.
    pub max_connections: Option<usize>,
    /// A client connection with no new request head and nothing in flight for this long is
    /// closed (idle keep-alive, slowloris).
    pub client_timeout: Duration,
    /// Path normalisation, trusted proxies, field names with `_`.
    pub requests: RequestRules,
    pub routes: Vec<RouteConfig>,
    /// Sorted by name.
    pub services: Vec<ServiceConfig>,
    /// Sorted by name.
    pub plugins: Vec<PluginConfig>,
    /// Where compiled plugins are cached.
    pub plugin_cache: PluginCache,
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
    pub target: RouteTarget,
    /// A router plugin (index into [`Config::plugins`]) that picks the service per request.
    pub router: Option<usize>,
    /// Path and header changes; `None` (the common case) costs the data path nothing.
    pub transform: Option<Box<Transform>>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RouteTarget {
    /// Index into [`Config::services`]: where the route sends, and the router's fallback.
    Service(usize),
    /// The route answers itself.
    Redirect(Redirect),
}

impl RouteConfig {
    pub fn service(&self) -> Option<usize> {
        match self.target {
            RouteTarget::Service(i) => Some(i),
            RouteTarget::Redirect(_) => None,
        }
    }
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

impl PathMatch {
    /// Whether a (normalised) path matches. A prefix matches whole segments: `/api`
    /// matches `/api` and `/api/x`, not `/apiary` (a prefix ending in `/` ends a segment).
    pub fn matches(&self, path: &str) -> bool {
        match self {
            PathMatch::Any => true,
            PathMatch::Exact(p) => path == p,
            PathMatch::Prefix(p) => {
                path.starts_with(p.as_str())
                    && (p.ends_with('/')
                        || path.len() == p.len()
                        || path.as_bytes()[p.len()] == b'/')
            }
        }
    }
}

#[derive(Debug, Clone)]
pub struct ServiceConfig {
    pub name: String,
    pub balancer: BalancerChoice,
    /// What the `hash` balancer (or a balancer plugin) hashes; `None` when nothing uses it.
    pub hash_key: Option<HashKey>,
    pub timeouts: Timeouts,
    pub upstreams: Vec<UpstreamConfig>,
    pub affinity: Option<AffinityConfig>,
    pub retry: RetryConfig,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BalancerChoice {
    Native(BalancerKind),
    /// Index into [`Config::plugins`].
    Plugin(usize),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AffinityConfig {
    /// Index into [`Config::plugins`].
    pub plugin: usize,
    /// How long a pin lasts after its last use.
    pub max_age: Duration,
    /// Pins kept per service; the least recently used go first.
    pub max_entries: usize,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryConfig {
    /// Extra tries after the first, at most.
    pub attempts: u32,
    pub failover: FailoverChoice,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailoverChoice {
    /// Built in: try another upstream when a connection could not be made (nothing was sent).
    Default,
    /// Index into [`Config::plugins`].
    Plugin(usize),
}

/// A Wasm policy component and how it is run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PluginConfig {
    pub name: String,
    /// Resolved against the config file's directory.
    pub path: PathBuf,
    /// Given to the plugin at construction.
    pub config: String,
    /// Which slot uses it; `None` when no slot names it (it is then not loaded).
    pub kind: Option<PolicyKind>,
    pub on_failure: OnFailure,
    /// What serves when a balancer plugin fails open.
    pub fallback: BalancerKind,
    /// Linear memory limit in bytes.
    pub memory: u64,
    /// Longest a single call may run.
    pub deadline: Duration,
    /// Longest instantiation plus `init` may run (language runtimes start up there).
    pub init_deadline: Duration,
}

/// Where compiled plugin artifacts are kept between loads.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum PluginCache {
    /// `$SWITCHYARD_CACHE_DIR`, else `$XDG_CACHE_HOME/switchyard`, else `~/.cache/switchyard`.
    #[default]
    Default,
    /// Resolved against the config file's directory.
    Dir(PathBuf),
    /// Every load compiles.
    Off,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PolicyKind {
    Router,
    Balancer,
    Affinity,
    Failover,
}

impl PolicyKind {
    pub fn slot(self) -> &'static str {
        match self {
            PolicyKind::Router => "router",
            PolicyKind::Balancer => "balancer",
            PolicyKind::Affinity => "affinity",
            PolicyKind::Failover => "failover",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OnFailure {
    /// Decide with the slot's native policy instead.
    FailOpen,
    /// Answer 503.
    FailClosed,
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
    /// From the end of sending the request to receiving the upstream's response head, per
    /// try. A slow upload does not count against it.
    pub request: Duration,
    /// How long an unused pooled upstream connection is kept.
    pub idle: Duration,
    /// The longest an upstream may go without taking request bytes or sending response
    /// bytes in the middle of a message (a stalled upstream frees both sockets).
    pub upstream_idle: Duration,
}

impl Default for Timeouts {
    fn default() -> Self {
        Self {
            connect: Duration::from_secs(5),
            request: Duration::from_secs(60),
            idle: Duration::from_secs(60),
            upstream_idle: Duration::from_secs(60),
        }
    }
}

impl Config {
    /// Parses and validates `text`; `origin` names the file in error messages.
    /// Plugin paths are taken relative to the current directory.
    pub fn parse(text: &str, origin: &str) -> Result<Config, ConfigError> {
        Self::parse_in(text, origin, Path::new("."))
    }

    /// Like [`Config::parse`], with plugin paths relative to `base_dir`.
    pub fn parse_in(text: &str, origin: &str, base_dir: &Path) -> Result<Config, ConfigError> {
        let raw: raw::RawConfig =
            toml::from_str(text).map_err(|e| ConfigError::from_toml(&e, text, origin))?;
        validate::validate(raw, text, origin, base_dir)
    }

    /// Reads and validates a config file. Blocking (file read, DNS for host names).
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let origin = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|e| ConfigError::Io {
            file: origin.clone(),
            message: e.to_string(),
        })?;
        let base = path.parent().unwrap_or(Path::new("."));
        Self::parse_in(&text, &origin, base)
    }

    pub fn service(&self, name: &str) -> Option<&ServiceConfig> {
        self.services.iter().find(|s| s.name == name)
    }

    /// The plugin files this config loads, for the watcher.
    pub fn plugin_files(&self) -> impl Iterator<Item = &Path> {
        self.plugins
            .iter()
            .filter(|p| p.kind.is_some())
            .map(|p| p.path.as_path())
    }
}

#[cfg(test)]
mod tests {
    use super::PathMatch;

    #[test]
    fn prefixes_match_whole_segments() {
        let api = PathMatch::Prefix("/api".into());
        assert!(api.matches("/api") && api.matches("/api/x"));
        assert!(!api.matches("/apiary"));
        let v1 = PathMatch::Prefix("/v1/".into());
        assert!(v1.matches("/v1/x") && !v1.matches("/v1"));
        assert!(PathMatch::Prefix("/".into()).matches("/anything"));
    }
}
