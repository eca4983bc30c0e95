//! Building a new snapshot and swapping it in. Always off the hot path (a blocking thread),
//! one at a time, all or nothing: a config that fails to parse, validate or build leaves the
//! serving snapshot untouched and is recorded with its error.

use std::fmt::Write as _;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use serde::Serialize;

use crate::config::{Config, ServiceConfig};
use crate::gateway::Shared;
use crate::snapshot::Snapshot;

/// What the last reload did, as `/status` and `POST /reload` report it.
#[derive(Debug, Clone, Serialize)]
pub struct ReloadReport {
    pub ok: bool,
    /// The generation serving after this reload (unchanged when it failed).
    pub generation: u64,
    /// What changed, or why the file was rejected (with file:line:column).
    pub detail: String,
    pub warnings: Vec<String>,
    /// Seconds since the Unix epoch.
    pub at: u64,
}

impl Shared {
    /// Reads the config source again and swaps in a new snapshot if it is valid. Blocking.
    pub fn reload(&self) -> ReloadReport {
        let _one_at_a_time = self.reload_lock.lock();
        let current = self.snapshots.load_full();
        let report = match self.load_config() {
            Err(e) => self.reject(&current, e.to_string()),
            Ok(config) => {
                let generation = current.generation + 1;
                let detail = describe_changes(&current.config, &config)
                    + &self.restart_notes(&current.config, &config);
                let warnings = config.warnings.clone();
                // Even if the build fails, watch what this config names, so fixing a broken
                // plugin file it points at triggers the next reload.
                self.watch_files_of(&config);
                match Snapshot::build(config, generation, &self.state, self.workers) {
                    Err(e) => self.reject(&current, e.to_string()),
                    Ok(next) => {
                        let detail = detail + &plugin_changes(&current, &next);
                        let next = Arc::new(next);
                        self.snapshots.store(Arc::clone(&next));
                        self.state.retain_loads(|s, u| next.names(s, u));
                        self.state.retain_named(
                            |p| next.config.plugins.iter().any(|c| c.name == p),
                            |s| next.config.service(s).is_some(),
                        );
                        self.reloads_ok
                            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        tracing::info!(generation, changes = %detail, "config reloaded");
                        for w in &warnings {
                            tracing::warn!(generation, "{w}");
                        }
                        ReloadReport {
                            ok: true,
                            generation,
                            detail,
                            warnings,
                            at: unix_now(),
                        }
                    }
                }
            }
        };
        *self.last_reload.lock() = Some(report.clone());
        report
    }

    fn reject(&self, current: &Snapshot, error: String) -> ReloadReport {
        self.reloads_failed
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        tracing::error!(generation = current.generation, %error, "config rejected; the previous config keeps serving");
        ReloadReport {
            ok: false,
            generation: current.generation,
            detail: error,
            warnings: Vec::new(),
            at: unix_now(),
        }
    }

    /// Listeners, the admin address and the worker count are fixed at start.
    fn restart_notes(&self, old: &Config, new: &Config) -> String {
        let mut notes = String::new();
        if old.listen != new.listen || old.admin != new.admin || old.workers != new.workers {
            notes.push_str("; listen/admin/workers changes take effect at the next restart");
        }
        notes
    }
}

pub fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// A one-line summary such as `services +[b] -[c] ~[a]; routes 2 -> 3`.
pub fn describe_changes(old: &Config, new: &Config) -> String {
    let names = |c: &Config| {
        c.services
            .iter()
            .map(|s| s.name.clone())
            .collect::<Vec<_>>()
    };
    let (old_names, new_names) = (names(old), names(new));
    let added: Vec<_> = new_names
        .iter()
        .filter(|n| !old_names.contains(n))
        .cloned()
        .collect();
    let removed: Vec<_> = old_names
        .iter()
        .filter(|n| !new_names.contains(n))
        .cloned()
        .collect();
    let changed: Vec<_> = new
        .services
        .iter()
        .filter(|s| old.service(&s.name).is_some_and(|o| !same_service(o, s)))
        .map(|s| s.name.clone())
        .collect();
    let mut out = String::new();
    if added.is_empty() && removed.is_empty() && changed.is_empty() {
        out.push_str("services unchanged");
    } else {
        let _ = write!(out, "services +{added:?} -{removed:?} ~{changed:?}");
    }
    let route_names = |c: &Config| c.routes.iter().map(|r| r.name.clone()).collect::<Vec<_>>();
    if route_names(old) != route_names(new) {
        let _ = write!(out, "; routes {} -> {}", old.routes.len(), new.routes.len());
    }
    out
}

fn same_service(a: &ServiceConfig, b: &ServiceConfig) -> bool {
    a.balancer == b.balancer
        && a.hash_key == b.hash_key
        && a.timeouts == b.timeouts
        && a.upstreams == b.upstreams
        && a.affinity == b.affinity
        && a.retry == b.retry
}

/// `; plugins ~[lb]` for plugins loaded from a different file content than before.
fn plugin_changes(old: &Snapshot, new: &Snapshot) -> String {
    let digest = |s: &Snapshot, name: &str| {
        s.plugins
            .iter()
            .flatten()
            .find(|p| &*p.name == name)
            .map(|p| p.digest)
    };
    let changed: Vec<&str> = new
        .plugins
        .iter()
        .flatten()
        .filter(|p| digest(old, &p.name) != Some(p.digest))
        .map(|p| &*p.name)
        .collect();
    if changed.is_empty() {
        String::new()
    } else {
        format!("; plugins loaded ~{changed:?}")
    }
}
