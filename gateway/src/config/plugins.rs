//! `[plugin.NAME]` tables and the policy slots that name them (`balancer`, `router`,
//! `[service.X.affinity] kind`, `[service.X.retry] failover`).

use std::collections::BTreeMap;
use std::time::Duration;

use switchyard_plugins::BalancerKind;
use toml::Spanned;

use super::raw::{RawPlugin, RawPolicy};
use super::validate::{Ctx, valid_name};
use super::{ConfigError, OnFailure, PluginConfig, PolicyKind};

/// Measured: a componentize-js 0.23 component starts at 9 MiB of linear memory and a
/// componentize-py 0.25 one at 12 MiB; a JavaScript balancer taking the packed load list
/// grows ~1 KiB per call and reached 16 MiB after ~6,700 calls (32 MiB: ~40,000), each time
/// discarding its instance. 64 MiB keeps that to one recycle per ~55,000 calls per worker.
/// Rust and C plugins use 1-2 MiB; the cap is a limit, not a reservation (memory untouched
/// is not resident).
pub const DEFAULT_MEMORY: u64 = 64 * 1024 * 1024;
/// Every plugin instance takes a slot of this size in the pooling allocator.
pub const MAX_MEMORY: u64 = 1024 * 1024 * 1024;
pub const DEFAULT_DEADLINE: Duration = Duration::from_millis(10);
const MAX_DEADLINE: Duration = Duration::from_secs(1);
/// Instantiating a JavaScript or Python component and running its `init` takes 1-100 ms
/// (measured); a call's 10 ms would time out a correct plugin, and an `init` that fails
/// would be reported as a timeout instead of by its own message.
pub const DEFAULT_INIT_DEADLINE: Duration = Duration::from_secs(1);
const MAX_INIT_DEADLINE: Duration = Duration::from_secs(30);

/// What a policy slot names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PolicyRef {
    Native(String),
    /// Index into the plugin list.
    Plugin(usize),
}

pub fn plugins(
    cx: &Ctx<'_>,
    raw: &BTreeMap<String, Spanned<RawPlugin>>,
) -> Result<Vec<PluginConfig>, ConfigError> {
    raw.iter()
        .map(|(name, table)| plugin(cx, name, table))
        .collect()
}

fn plugin(
    cx: &Ctx<'_>,
    name: &str,
    table: &Spanned<RawPlugin>,
) -> Result<PluginConfig, ConfigError> {
    let raw = table.get_ref();
    if !valid_name(name) {
        return cx.err_at(
            table,
            format!("plugin name `{name}` may only use letters, digits, `-`, `_` and `.`"),
        );
    }
    let path = cx.base_dir.join(raw.path.get_ref());
    if let Err(e) = std::fs::metadata(&path) {
        return cx.err_at(
            &raw.path,
            format!("plugin `{name}`: cannot read {}: {e}", path.display()),
        );
    }
    let config = match &raw.config {
        None => String::new(),
        Some(toml::Value::String(s)) => s.clone(),
        Some(other) => serde_json::to_string(other).unwrap_or_default(),
    };
    let on_failure = match raw.on_failure.as_ref().map(|s| (s, s.get_ref().as_str())) {
        None | Some((_, "fail_open")) => OnFailure::FailOpen,
        Some((_, "fail_closed")) => OnFailure::FailClosed,
        Some((at, other)) => {
            return cx.err_at(
                at,
                format!("plugin `{name}`: on_failure `{other}` is not valid; use fail_open or fail_closed"),
            );
        }
    };
    let fallback = match &raw.fallback {
        None => BalancerKind::RoundRobin,
        Some(f) => match f.get_ref().parse::<BalancerKind>() {
            Ok(kind) => kind,
            Err(e) => return cx.err_at(f, format!("plugin `{name}`: fallback: {e}")),
        },
    };
    let memory = match &raw.memory {
        None => DEFAULT_MEMORY,
        Some(m) if (64 * 1024..=MAX_MEMORY).contains(&m.get_ref().as_u64()) => m.get_ref().as_u64(),
        Some(m) => {
            return cx.err_at(
                m,
                format!("plugin `{name}`: memory must be from 64KiB to 1GiB"),
            );
        }
    };
    let deadline = match raw.deadline {
        None => DEFAULT_DEADLINE,
        Some(d) if d >= Duration::from_millis(1) && d <= MAX_DEADLINE => d,
        Some(_) => {
            return cx.err_at(
                table,
                format!("plugin `{name}`: deadline must be from 1ms to 1s"),
            );
        }
    };
    let init_deadline = match raw.init_deadline {
        None => DEFAULT_INIT_DEADLINE,
        Some(d) if d >= Duration::from_millis(1) && d <= MAX_INIT_DEADLINE => d,
        Some(_) => {
            return cx.err_at(
                table,
                format!("plugin `{name}`: init_deadline must be from 1ms to 30s"),
            );
        }
    };
    Ok(PluginConfig {
        name: name.to_owned(),
        path,
        config,
        kind: None,
        on_failure,
        fallback,
        memory,
        deadline,
        init_deadline,
    })
}

/// Resolves a slot to a built-in (one of `natives`) or a plugin, and records which kind of
/// slot the plugin fills: a plugin implements one policy kind.
pub fn policy_ref(
    cx: &Ctx<'_>,
    raw: &RawPolicy,
    kind: PolicyKind,
    natives: &[&str],
    plugins: &mut [PluginConfig],
) -> Result<PolicyRef, ConfigError> {
    let slot = kind.slot();
    let forms = if natives.is_empty() {
        "{ plugin = \"NAME\" }".to_owned()
    } else {
        format!("one of {} or {{ plugin = \"NAME\" }}", natives.join(", "))
    };
    match raw.get_ref() {
        toml::Value::String(name) if natives.contains(&name.as_str()) => {
            Ok(PolicyRef::Native(name.clone()))
        }
        toml::Value::String(name) => {
            cx.err_at(raw, format!("unknown {slot} `{name}`; valid: {forms}"))
        }
        toml::Value::Table(t) if t.len() == 1 && t.contains_key("plugin") => {
            let Some(name) = t.get("plugin").and_then(toml::Value::as_str) else {
                return cx.err_at(raw, format!("{slot}: `plugin` takes a plugin name"));
            };
            let Some(index) = plugins.iter().position(|p| p.name == name) else {
                let known: Vec<&str> = plugins.iter().map(|p| p.name.as_str()).collect();
                let known = if known.is_empty() {
                    "none are defined".to_owned()
                } else {
                    known.join(", ")
                };
                return cx.err_at(
                    raw,
                    format!("{slot} names plugin `{name}`, which is not defined; plugins: {known}"),
                );
            };
            match plugins[index].kind {
                Some(other) if other != kind => cx.err_at(
                    raw,
                    format!(
                        "plugin `{name}` is already used as a {} and cannot also be a {slot}; a plugin implements one policy kind",
                        other.slot()
                    ),
                ),
                _ => {
                    plugins[index].kind = Some(kind);
                    Ok(PolicyRef::Plugin(index))
                }
            }
        }
        _ => cx.err_at(raw, format!("{slot} must be {forms}")),
    }
}
