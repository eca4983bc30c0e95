//! The file as written. Every table rejects unknown fields; values whose meaning is checked
//! later keep their span so the error can point at them.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::Deserialize;
use toml::Spanned;

pub use super::transform::{RawHeaderEdits, RawRedirect};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawConfig {
    pub listen: Spanned<Vec<Spanned<String>>>,
    #[serde(default)]
    pub admin: Option<Spanned<String>>,
    #[serde(default)]
    pub workers: Option<Spanned<usize>>,
    #[serde(default)]
    pub max_connections: Option<Spanned<usize>>,
    #[serde(default)]
    pub timeouts: RawTimeouts,
    /// Parsed during validation, so a bad value is reported at its place.
    #[serde(default)]
    pub client_timeout: Option<Spanned<String>>,
    #[serde(default)]
    pub plugin_cache: Option<Spanned<String>>,
    #[serde(default)]
    pub normalize_path: Option<bool>,
    #[serde(default)]
    pub merge_slashes: Option<bool>,
    #[serde(default)]
    pub escaped_slashes: Option<Spanned<String>>,
    #[serde(default)]
    pub trusted_proxies: Vec<Spanned<String>>,
    #[serde(default)]
    pub header_underscores: Option<Spanned<String>>,
    #[serde(default, rename = "route")]
    pub routes: Vec<RawRoute>,
    #[serde(default, rename = "service")]
    pub services: BTreeMap<String, Spanned<RawService>>,
    #[serde(default, rename = "plugin")]
    pub plugins: BTreeMap<String, Spanned<RawPlugin>>,
}

/// A policy slot: a built-in name (`"least_conn"`) or `{ plugin = "NAME" }`. Kept as a raw
/// value so validation can say exactly which forms are valid.
pub type RawPolicy = Spanned<toml::Value>;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawPlugin {
    pub path: Spanned<String>,
    /// Passed to the plugin verbatim when a string, as JSON when a table.
    #[serde(default)]
    pub config: Option<toml::Value>,
    #[serde(default)]
    pub on_failure: Option<Spanned<String>>,
    #[serde(default)]
    pub fallback: Option<Spanned<String>>,
    #[serde(default)]
    pub memory: Option<Spanned<bytesize::ByteSize>>,
    #[serde(default, with = "humantime_serde")]
    pub deadline: Option<Duration>,
    #[serde(default, with = "humantime_serde")]
    pub init_deadline: Option<Duration>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawAffinity {
    pub kind: RawPolicy,
    #[serde(default, with = "humantime_serde")]
    pub max_age: Option<Duration>,
    #[serde(default)]
    pub max_entries: Option<Spanned<usize>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawRetry {
    #[serde(default)]
    pub attempts: Option<Spanned<u32>>,
    #[serde(default)]
    pub failover: Option<RawPolicy>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawTimeouts {
    #[serde(default, with = "humantime_serde")]
    pub connect: Option<Duration>,
    #[serde(default, with = "humantime_serde")]
    pub request: Option<Duration>,
    #[serde(default, with = "humantime_serde")]
    pub idle: Option<Duration>,
    #[serde(default, with = "humantime_serde")]
    pub upstream_idle: Option<Duration>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawRoute {
    #[serde(default)]
    pub name: Option<Spanned<String>>,
    #[serde(default)]
    pub host: Option<Spanned<String>>,
    #[serde(default)]
    pub path_prefix: Option<Spanned<String>>,
    #[serde(default)]
    pub path: Option<Spanned<String>>,
    #[serde(default)]
    pub methods: Vec<Spanned<String>>,
    #[serde(default)]
    pub headers: BTreeMap<String, Spanned<String>>,
    /// Required unless the route redirects.
    #[serde(default)]
    pub service: Option<Spanned<String>>,
    #[serde(default)]
    pub router: Option<RawPolicy>,
    #[serde(default)]
    pub strip_prefix: Option<Spanned<String>>,
    #[serde(default)]
    pub rewrite_path: Option<Spanned<String>>,
    #[serde(default)]
    pub request_headers: Option<RawHeaderEdits>,
    #[serde(default)]
    pub response_headers: Option<RawHeaderEdits>,
    #[serde(default)]
    pub add_request_id: bool,
    #[serde(default)]
    pub redirect: Option<RawRedirect>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawService {
    #[serde(default)]
    pub balancer: Option<RawPolicy>,
    #[serde(default)]
    pub hash_key: Option<Spanned<String>>,
    #[serde(default)]
    pub timeouts: Option<RawTimeouts>,
    pub upstreams: Spanned<Vec<RawUpstream>>,
    #[serde(default)]
    pub affinity: Option<RawAffinity>,
    #[serde(default)]
    pub retry: Option<RawRetry>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawUpstream {
    pub addr: Spanned<String>,
    #[serde(default)]
    pub weight: Option<Spanned<u32>>,
    #[serde(default)]
    pub tier: u32,
}
