//! From the file as written to a [`Config`] the gateway can trust. Every rejection names
//! the place in the file and what would have been valid there.

use std::collections::HashSet;
use std::net::{SocketAddr, ToSocketAddrs};
use std::path::Path;
use std::time::Duration;

use http::{HeaderName, HeaderValue, Method};
use switchyard_plugins::BalancerKind;
use toml::Spanned;

use super::plugins::{self, PolicyRef};
use super::raw::{RawConfig, RawRoute, RawService, RawTimeouts};
use super::transform::{self, RawRouteTransform};
use super::{
    AffinityConfig, BalancerChoice, Config, ConfigError, FailoverChoice, HashKey, HostMatch,
    PathMatch, PluginConfig, PolicyKind, RetryConfig, RouteConfig, RouteTarget, ServiceConfig,
    Timeouts, UpstreamConfig,
};

/// The admin listener when the file does not say otherwise: loopback only.
pub const DEFAULT_ADMIN: &str = "127.0.0.1:9901";
const MAX_WORKERS: usize = 1024;
const MAX_CONNECTIONS_CAP: usize = 10_000_000;
const MAX_WEIGHT: u32 = 10_000;
const MAX_RETRY_ATTEMPTS: u32 = 10;
const DEFAULT_RETRY_ATTEMPTS: u32 = 2;
const DEFAULT_AFFINITY_MAX_AGE: Duration = Duration::from_secs(3600);
const DEFAULT_AFFINITY_MAX_ENTRIES: usize = 100_000;

pub(super) struct Ctx<'a> {
    text: &'a str,
    origin: &'a str,
    pub(super) base_dir: &'a Path,
}

impl Ctx<'_> {
    pub(super) fn err<T>(
        &self,
        span: Option<std::ops::Range<usize>>,
        message: String,
    ) -> Result<T, ConfigError> {
        Err(ConfigError::at(self.text, self.origin, span, message))
    }

    pub(super) fn err_at<T, V>(&self, at: &Spanned<V>, message: String) -> Result<T, ConfigError> {
        self.err(Some(at.span()), message)
    }
}

pub fn validate(
    raw: RawConfig,
    text: &str,
    origin: &str,
    base_dir: &Path,
) -> Result<Config, ConfigError> {
    let cx = Ctx {
        text,
        origin,
        base_dir,
    };
    let listen = listen_addrs(&cx, &raw)?;
    let admin = admin_addr(&cx, raw.admin.as_ref())?;
    let workers = match &raw.workers {
        Some(w) if *w.get_ref() > MAX_WORKERS => {
            return cx.err_at(
                w,
                format!("workers must be 0 (one per core) to {MAX_WORKERS}"),
            );
        }
        Some(w) => *w.get_ref(),
        None => 0,
    };
    let max_connections = match &raw.max_connections {
        Some(m) if !(1..=MAX_CONNECTIONS_CAP).contains(m.get_ref()) => {
            return cx.err_at(
                m,
                format!(
                    "max_connections must be 1 to {MAX_CONNECTIONS_CAP} (leave it out for no cap)"
                ),
            );
        }
        Some(m) => Some(*m.get_ref()),
        None => None,
    };
    let client_timeout = client_timeout(&cx, raw.client_timeout.as_ref())?;
    let requests = super::edge::request_rules(&cx, &raw)?;
    let plugin_cache = match raw.plugin_cache.as_ref().map(|c| c.get_ref().as_str()) {
        None => super::PluginCache::Default,
        Some("off") => super::PluginCache::Off,
        Some("") => {
            return cx.err(
                raw.plugin_cache.as_ref().map(Spanned::span),
                "plugin_cache is empty: write a directory or \"off\"".to_owned(),
            );
        }
        Some(dir) => super::PluginCache::Dir(cx.base_dir.join(dir)),
    };
    let defaults = merge_timeouts(Timeouts::default(), &raw.timeouts);

    let mut plugins = plugins::plugins(&cx, &raw.plugins)?;
    let mut services = Vec::with_capacity(raw.services.len());
    for (name, service) in &raw.services {
        services.push(service_config(&cx, name, service, defaults, &mut plugins)?);
    }
    let mut routes = Vec::with_capacity(raw.routes.len());
    let mut route_names = HashSet::new();
    for (i, route) in raw.routes.iter().enumerate() {
        let compiled = route_config(&cx, i, route, &services, &mut plugins)?;
        if !route_names.insert(compiled.name.clone()) {
            let span = route.name.as_ref().map(Spanned::span);
            return cx.err(
                span,
                format!(
                    "duplicate route name `{}`; route names must be unique",
                    compiled.name
                ),
            );
        }
        routes.push(compiled);
    }
    if routes.is_empty() {
        return cx.err(
            None,
            "no routes: add at least one [[route]] with a `service`".to_owned(),
        );
    }
    let warnings = warnings(&routes, &services, &plugins);
    Ok(Config {
        listen,
        admin,
        workers,
        max_connections,
        client_timeout,
        requests,
        routes,
        services,
        plugins,
        plugin_cache,
        warnings,
    })
}

const CLIENT_TIMEOUT: Duration = Duration::from_secs(30);
const CLIENT_TIMEOUT_RANGE: std::ops::RangeInclusive<Duration> =
    Duration::from_secs(1)..=Duration::from_secs(3600);

fn client_timeout(cx: &Ctx<'_>, raw: Option<&Spanned<String>>) -> Result<Duration, ConfigError> {
    let Some(raw) = raw else {
        return Ok(CLIENT_TIMEOUT);
    };
    match humantime::parse_duration(raw.get_ref()) {
        Ok(d) if CLIENT_TIMEOUT_RANGE.contains(&d) => Ok(d),
        Ok(_) => cx.err_at(raw, "client_timeout must be from 1s to 1h".to_owned()),
        Err(e) => cx.err_at(
            raw,
            format!("client_timeout: {e}; write a duration such as \"30s\""),
        ),
    }
}

fn listen_addrs(cx: &Ctx<'_>, raw: &RawConfig) -> Result<Vec<SocketAddr>, ConfigError> {
    if raw.listen.get_ref().is_empty() {
        return cx.err_at(
            &raw.listen,
            "listen is empty: give at least one address such as \"127.0.0.1:8080\"".into(),
        );
    }
    let mut seen = HashSet::new();
    let mut out = Vec::new();
    for addr in raw.listen.get_ref() {
        let parsed = socket_addr(cx, addr)?;
        if parsed.port() != 0 && !seen.insert(parsed) {
            return cx.err_at(addr, format!("listen address `{parsed}` is given twice"));
        }
        out.push(parsed);
    }
    Ok(out)
}

fn admin_addr(
    cx: &Ctx<'_>,
    raw: Option<&Spanned<String>>,
) -> Result<Option<SocketAddr>, ConfigError> {
    match raw {
        None => Ok(DEFAULT_ADMIN.parse().ok()),
        Some(s) if s.get_ref() == "off" => Ok(None),
        Some(s) => socket_addr(cx, s).map(Some),
    }
}

/// A listen address: an IP literal and a port, no name resolution.
fn socket_addr(cx: &Ctx<'_>, s: &Spanned<String>) -> Result<SocketAddr, ConfigError> {
    s.get_ref().parse().or_else(|_| {
        cx.err_at(
            s,
            format!(
                "`{}` is not an IP:PORT address (e.g. \"127.0.0.1:8080\" or \"[::1]:8080\")",
                s.get_ref()
            ),
        )
    })
}

/// An upstream address: IP:PORT, or HOST:PORT resolved once here (off the hot path).
fn upstream_addr(cx: &Ctx<'_>, s: &Spanned<String>) -> Result<SocketAddr, ConfigError> {
    let text = s.get_ref();
    if let Ok(addr) = text.parse() {
        return Ok(addr);
    }
    let Some((host, port)) = text.rsplit_once(':') else {
        return cx.err_at(
            s,
            format!(
                "upstream address `{text}` has no port: write HOST:PORT, e.g. \"10.0.0.1:8080\""
            ),
        );
    };
    if host.is_empty() || port.parse::<u16>().is_err() {
        return cx.err_at(
            s,
            format!("upstream address `{text}` is not HOST:PORT with a port from 1 to 65535"),
        );
    }
    match text.to_socket_addrs().map(|mut it| it.next()) {
        Ok(Some(addr)) => Ok(addr),
        Ok(None) => cx.err_at(s, format!("upstream host `{host}` resolved to no address")),
        Err(e) => cx.err_at(s, format!("cannot resolve upstream host `{host}`: {e}")),
    }
}

fn merge_timeouts(base: Timeouts, raw: &RawTimeouts) -> Timeouts {
    Timeouts {
        connect: raw.connect.unwrap_or(base.connect),
        request: raw.request.unwrap_or(base.request),
        idle: raw.idle.unwrap_or(base.idle),
        upstream_idle: raw.upstream_idle.unwrap_or(base.upstream_idle),
    }
}

fn service_config(
    cx: &Ctx<'_>,
    name: &str,
    raw: &Spanned<RawService>,
    defaults: Timeouts,
    plugins: &mut [PluginConfig],
) -> Result<ServiceConfig, ConfigError> {
    let service = raw.get_ref();
    if !valid_name(name) {
        return cx.err_at(
            raw,
            format!("service name `{name}` may only use letters, digits, `-`, `_` and `.`"),
        );
    }
    let balancer = match &service.balancer {
        None => BalancerChoice::Native(BalancerKind::RoundRobin),
        Some(b) => {
            let natives = BalancerKind::ALL.map(BalancerKind::name);
            match plugins::policy_ref(cx, b, PolicyKind::Balancer, &natives, plugins)? {
                PolicyRef::Native(n) => match n.parse::<BalancerKind>() {
                    Ok(kind) => BalancerChoice::Native(kind),
                    Err(e) => return cx.err_at(b, format!("service `{name}`: {e}")),
                },
                PolicyRef::Plugin(i) => BalancerChoice::Plugin(i),
            }
        }
    };
    // A plugin may place by the key too, and its fallback may be `hash`.
    let (uses_key, accepts_key, shown) = match balancer {
        BalancerChoice::Native(kind) => (kind.uses_key(), kind.uses_key(), kind.name()),
        BalancerChoice::Plugin(i) => (plugins[i].fallback.uses_key(), true, "a plugin"),
    };
    let hash_key = match (&service.hash_key, accepts_key) {
        (None, _) => uses_key.then_some(HashKey::ClientIp),
        (Some(k), true) => Some(hash_key(cx, k)?),
        (Some(k), false) => {
            return cx.err_at(k, format!("service `{name}`: hash_key only applies to balancer = \"hash\" or a plugin (this service uses \"{shown}\")"));
        }
    };
    let affinity = match &service.affinity {
        None => None,
        Some(a) => {
            let PolicyRef::Plugin(plugin) =
                plugins::policy_ref(cx, &a.kind, PolicyKind::Affinity, &[], plugins)?
            else {
                return cx.err_at(
                    &a.kind,
                    format!("service `{name}`: affinity kind must be {{ plugin = \"NAME\" }}"),
                );
            };
            let max_entries = match &a.max_entries {
                None => DEFAULT_AFFINITY_MAX_ENTRIES,
                Some(n) if *n.get_ref() >= 1 => *n.get_ref(),
                Some(n) => return cx.err_at(n, "max_entries must be at least 1".to_owned()),
            };
            Some(AffinityConfig {
                plugin,
                max_age: a.max_age.unwrap_or(DEFAULT_AFFINITY_MAX_AGE),
                max_entries,
            })
        }
    };
    let retry = match &service.retry {
        None => RetryConfig {
            attempts: 0,
            failover: FailoverChoice::Default,
        },
        Some(r) => {
            let attempts = match &r.attempts {
                None => DEFAULT_RETRY_ATTEMPTS,
                Some(n) if *n.get_ref() <= MAX_RETRY_ATTEMPTS => *n.get_ref(),
                Some(n) => {
                    return cx.err_at(
                        n,
                        format!("retry attempts must be from 0 to {MAX_RETRY_ATTEMPTS}"),
                    );
                }
            };
            let failover = match &r.failover {
                None => FailoverChoice::Default,
                Some(f) => {
                    match plugins::policy_ref(cx, f, PolicyKind::Failover, &["default"], plugins)? {
                        PolicyRef::Native(_) => FailoverChoice::Default,
                        PolicyRef::Plugin(i) => FailoverChoice::Plugin(i),
                    }
                }
            };
            RetryConfig { attempts, failover }
        }
    };
    if service.upstreams.get_ref().is_empty() {
        return cx.err_at(
            &service.upstreams,
            format!("service `{name}` has no upstreams"),
        );
    }
    let mut ids = HashSet::new();
    let mut upstreams = Vec::new();
    for up in service.upstreams.get_ref() {
        let addr = upstream_addr(cx, &up.addr)?;
        let id = up.addr.get_ref().clone();
        if !ids.insert(id.clone()) {
            return cx.err_at(
                &up.addr,
                format!("service `{name}` lists upstream `{id}` twice"),
            );
        }
        let weight = match &up.weight {
            None => 1,
            Some(w) if (1..=MAX_WEIGHT).contains(w.get_ref()) => *w.get_ref(),
            Some(w) => return cx.err_at(w, format!("weight must be from 1 to {MAX_WEIGHT}")),
        };
        upstreams.push(UpstreamConfig {
            id,
            addr,
            weight,
            tier: up.tier,
        });
    }
    let timeouts = service
        .timeouts
        .as_ref()
        .map_or(defaults, |t| merge_timeouts(defaults, t));
    Ok(ServiceConfig {
        name: name.to_owned(),
        balancer,
        hash_key,
        timeouts,
        upstreams,
        affinity,
        retry,
    })
}

fn hash_key(cx: &Ctx<'_>, raw: &Spanned<String>) -> Result<HashKey, ConfigError> {
    let text = raw.get_ref();
    let invalid =
        || format!("hash_key `{text}` is not valid: use client_ip, header:NAME or cookie:NAME");
    match text.split_once(':') {
        None if text == "client_ip" => Ok(HashKey::ClientIp),
        Some(("header", name)) => match HeaderName::from_bytes(name.as_bytes()) {
            Ok(h) => Ok(HashKey::Header(h)),
            Err(_) => cx.err_at(raw, invalid()),
        },
        Some(("cookie", name)) if !name.is_empty() && !name.contains([';', '=', ' ']) => {
            Ok(HashKey::Cookie(name.to_owned()))
        }
        _ => cx.err_at(raw, invalid()),
    }
}

fn route_config(
    cx: &Ctx<'_>,
    index: usize,
    raw: &RawRoute,
    services: &[ServiceConfig],
    plugins: &mut [PluginConfig],
) -> Result<RouteConfig, ConfigError> {
    let name = raw
        .name
        .as_ref()
        .map_or_else(|| format!("route-{}", index + 1), |n| n.get_ref().clone());
    let target = match (&raw.service, &raw.redirect) {
        (Some(service), None) => RouteTarget::Service(service_index(cx, &name, service, services)?),
        (None, Some(redirect)) => RouteTarget::Redirect(transform::redirect(cx, redirect)?),
        (Some(service), Some(_)) => {
            return cx.err_at(
                service,
                format!("route `{name}` both redirects and names a service; keep one"),
            );
        }
        (None, None) => {
            return cx.err(
                raw.name.as_ref().map(Spanned::span),
                format!("route `{name}` needs a `service` to send to (or a `redirect`)"),
            );
        }
    };
    let host = raw.host.as_ref().map(|h| host_match(cx, h)).transpose()?;
    let path = match (&raw.path_prefix, &raw.path) {
        (Some(_), Some(p)) => {
            return cx.err_at(
                p,
                format!("route `{name}` sets both path and path_prefix; keep one"),
            );
        }
        (Some(p), None) => PathMatch::Prefix(path_text(cx, p)?),
        (None, Some(p)) => PathMatch::Exact(path_text(cx, p)?),
        (None, None) => PathMatch::Any,
    };
    let methods = raw
        .methods
        .iter()
        .map(|m| match Method::from_bytes(m.get_ref().as_bytes()) {
            Ok(method) if m.get_ref().bytes().all(|b| b.is_ascii_uppercase()) => Ok(method),
            _ => cx.err_at(
                m,
                format!(
                    "`{}` is not an HTTP method; write it in capitals, e.g. \"GET\"",
                    m.get_ref()
                ),
            ),
        })
        .collect::<Result<_, _>>()?;
    let headers = raw
        .headers
        .iter()
        .map(|(k, v)| {
            let name = HeaderName::from_bytes(k.as_bytes());
            let value = HeaderValue::from_str(v.get_ref());
            match (name, value) {
                (Ok(n), Ok(v)) => Ok((n, v)),
                (Err(_), _) => cx.err_at(v, format!("`{k}` is not a valid header name")),
                (_, Err(_)) => cx.err_at(
                    v,
                    format!("the value for header `{k}` is not a valid header value"),
                ),
            }
        })
        .collect::<Result<_, _>>()?;
    let router = match &raw.router {
        None => None,
        Some(r) => match plugins::policy_ref(cx, r, PolicyKind::Router, &[], plugins)? {
            PolicyRef::Plugin(i) => Some(i),
            PolicyRef::Native(_) => None,
        },
    };
    if let (Some(at), RouteTarget::Redirect(_)) = (&raw.router, &target) {
        return cx.err_at(
            at,
            format!("route `{name}` redirects, so it cannot also have a router"),
        );
    }
    let transform = transform::transform(
        cx,
        &name,
        &path,
        RawRouteTransform {
            strip_prefix: raw.strip_prefix.as_ref(),
            rewrite_path: raw.rewrite_path.as_ref(),
            request_headers: raw.request_headers.as_ref(),
            response_headers: raw.response_headers.as_ref(),
            add_request_id: raw.add_request_id,
        },
    )?;
    Ok(RouteConfig {
        name,
        host,
        path,
        methods,
        headers,
        target,
        router,
        transform,
    })
}

fn service_index(
    cx: &Ctx<'_>,
    route: &str,
    raw: &Spanned<String>,
    services: &[ServiceConfig],
) -> Result<usize, ConfigError> {
    if let Some(i) = services.iter().position(|s| &s.name == raw.get_ref()) {
        return Ok(i);
    }
    let known: Vec<_> = services.iter().map(|s| s.name.as_str()).collect();
    let known = if known.is_empty() {
        "none are defined".to_owned()
    } else {
        known.join(", ")
    };
    cx.err_at(
        raw,
        format!(
            "route `{route}` names service `{}`, which is not defined; services: {known}",
            raw.get_ref()
        ),
    )
}

fn host_match(cx: &Ctx<'_>, raw: &Spanned<String>) -> Result<HostMatch, ConfigError> {
    let lowered = raw.get_ref().to_ascii_lowercase();
    // `example.com.` and `example.com` name one host; requests are matched without the dot.
    let host = lowered.strip_suffix('.').unwrap_or(&lowered).to_owned();
    let (wildcard, bare) = match host.strip_prefix("*.") {
        Some(rest) => (true, rest),
        None => (false, host.as_str()),
    };
    let ok = !bare.is_empty()
        && bare
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.')
        && !bare.starts_with('.');
    if !ok {
        return cx.err_at(raw, format!("host `{}` is not a host name: write e.g. \"api.example.com\" or \"*.example.com\" (no port, no scheme)", raw.get_ref()));
    }
    Ok(if wildcard {
        HostMatch::Suffix(format!(".{bare}"))
    } else {
        HostMatch::Exact(host)
    })
}

pub(super) fn path_text(cx: &Ctx<'_>, raw: &Spanned<String>) -> Result<String, ConfigError> {
    let p = raw.get_ref();
    if !p.starts_with('/') || p.contains(['?', '#', ' ']) {
        return cx.err_at(
            raw,
            format!("path `{p}` must start with `/` and hold no query, fragment or space"),
        );
    }
    Ok(p.clone())
}

pub(super) fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
}

/// Things worth an operator's attention that do not stop the config from loading.
fn warnings(
    routes: &[RouteConfig],
    services: &[ServiceConfig],
    plugins: &[PluginConfig],
) -> Vec<String> {
    let mut out = Vec::new();
    for plugin in plugins.iter().filter(|p| p.kind.is_none()) {
        out.push(format!(
            "plugin `{}` is not used by any route or service, so it is not loaded",
            plugin.name
        ));
    }
    for (i, later) in routes.iter().enumerate() {
        if let Some(earlier) = routes[..i].iter().find(|e| shadows(e, later)) {
            out.push(format!(
                "route `{}` can never match: route `{}` before it matches everything it does",
                later.name, earlier.name
            ));
        }
    }
    // A router plugin may send anywhere, so no service is provably unused then.
    let routers = routes.iter().any(|r| r.router.is_some());
    for (i, s) in services.iter().enumerate() {
        if !routers && !routes.iter().any(|r| r.service() == Some(i)) {
            out.push(format!("service `{}` is not used by any route", s.name));
        }
    }
    out
}

/// Whether every request `later` matches is matched by `earlier` first.
fn shadows(earlier: &RouteConfig, later: &RouteConfig) -> bool {
    let host = match (&earlier.host, &later.host) {
        (None, _) => true,
        (Some(a), Some(b)) => {
            a == b
                || matches!((a, b), (HostMatch::Suffix(s), HostMatch::Exact(h) | HostMatch::Suffix(h)) if h.ends_with(s.as_str()))
        }
        (Some(_), None) => false,
    };
    let path = match (&earlier.path, &later.path) {
        (PathMatch::Any, _) => true,
        (PathMatch::Prefix(_), PathMatch::Prefix(b) | PathMatch::Exact(b)) => {
            earlier.path.matches(b)
        }
        (PathMatch::Exact(a), PathMatch::Exact(b)) => a == b,
        _ => false,
    };
    let methods = earlier.methods.is_empty()
        || (!later.methods.is_empty() && later.methods.iter().all(|m| earlier.methods.contains(m)));
    let headers = earlier.headers.iter().all(|h| later.headers.contains(h));
    host && path && methods && headers
}

#[cfg(test)]
mod tests {
    use super::*;

    const BASE: &str = r#"
listen = ["127.0.0.1:8080"]
[[route]]
service = "api"
[service.api]
upstreams = [{ addr = "127.0.0.1:9000" }]
"#;

    #[test]
    fn minimal_config_gets_defaults() {
        let c = Config::parse(BASE, "t.toml").expect("valid");
        assert_eq!(c.admin, Some("127.0.0.1:9901".parse().unwrap()));
        assert_eq!(
            c.services[0].balancer,
            super::super::BalancerChoice::Native(BalancerKind::RoundRobin)
        );
        assert_eq!(c.services[0].timeouts, Timeouts::default());
        assert_eq!(c.routes[0].name, "route-1");
        assert!(c.warnings.is_empty(), "{:?}", c.warnings);
    }

    #[test]
    fn hash_defaults_to_client_ip_and_parses_keys() {
        let text = BASE.replace("[service.api]", "[service.api]\nbalancer = \"hash\"");
        assert_eq!(
            Config::parse(&text, "t").unwrap().services[0].hash_key,
            Some(HashKey::ClientIp)
        );
        let text = BASE.replace(
            "[service.api]",
            "[service.api]\nbalancer = \"hash\"\nhash_key = \"cookie:sid\"",
        );
        assert_eq!(
            Config::parse(&text, "t").unwrap().services[0].hash_key,
            Some(HashKey::Cookie("sid".into()))
        );
    }

    #[test]
    fn shadowed_route_and_unused_service_warn() {
        let text = r#"
listen = ["127.0.0.1:8080"]
[[route]]
name = "all"
path_prefix = "/"
service = "a"
[[route]]
name = "api"
path_prefix = "/api"
service = "a"
[service.a]
upstreams = [{ addr = "127.0.0.1:9000" }]
[service.b]
upstreams = [{ addr = "127.0.0.1:9001" }]
"#;
        let w = Config::parse(text, "t").unwrap().warnings;
        assert!(
            w.iter().any(|m| m.contains("`api` can never match")),
            "{w:?}"
        );
        assert!(w.iter().any(|m| m.contains("`b` is not used")), "{w:?}");
    }

    #[test]
    fn wildcard_host_matches_subdomains_only() {
        let text = BASE.replace("[[route]]", "[[route]]\nhost = \"*.Example.com\"");
        let c = Config::parse(&text, "t").unwrap();
        assert_eq!(
            c.routes[0].host,
            Some(HostMatch::Suffix(".example.com".into()))
        );
    }
}
