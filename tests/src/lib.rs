//! Test harness: real upstream HTTP servers on loopback, a real gateway started on a real
//! config file, and a small HTTP/1.1 client. Every test builds on these.

#![allow(clippy::unwrap_used)]

pub mod client;
pub mod plugins;
pub mod polyglot;
pub mod upstream;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use switchyard::{Gateway, Options};

pub use client::Client;
pub use upstream::Upstream;

/// Prefix every test config starts with: ephemeral ports for the proxy and admin listeners,
/// and compiled plugins cached beside the config (always in a temporary directory), never
/// in the developer's home.
pub const LISTEN_ANY: &str = "listen = [\"127.0.0.1:0\"]\nadmin = \"127.0.0.1:0\"\nworkers = 2\nplugin_cache = \"plugin-cache\"\n";

/// A gateway serving a config file in its own temp directory.
pub struct TestGateway {
    pub gateway: Gateway,
    pub config_path: PathBuf,
    _dir: tempfile::TempDir,
}

impl TestGateway {
    /// Writes `body` (after [`LISTEN_ANY`]) and starts a gateway watching it.
    pub fn start(body: &str) -> TestGateway {
        Self::start_with_plugins(body, &[])
    }

    /// Like [`TestGateway::start`], with Wasm plugins copied into the config's directory
    /// first, each given as `(crate, file name)` (see [`plugins::wasm`]).
    pub fn start_with_plugins(body: &str, plugins: &[(&str, &str)]) -> TestGateway {
        let dir = tempfile::tempdir().unwrap();
        for (krate, file) in plugins {
            plugins::install(krate, dir.path(), file);
        }
        let config_path = dir.path().join("switchyard.toml");
        std::fs::write(&config_path, format!("{LISTEN_ANY}{body}")).unwrap();
        let gateway = Gateway::start(Options::file(&config_path)).unwrap();
        TestGateway {
            gateway,
            config_path,
            _dir: dir,
        }
    }

    /// Like [`TestGateway::start`], with component files copied into the config's directory
    /// first, each given as `(source path, file name)`; the error is the start-up failure.
    pub fn start_with_plugins_from(
        body: &str,
        plugins: &[(&std::path::Path, &str)],
    ) -> Result<TestGateway, String> {
        let dir = tempfile::tempdir().unwrap();
        for (source, file) in plugins {
            std::fs::copy(source, dir.path().join(file)).unwrap();
        }
        let config_path = dir.path().join("switchyard.toml");
        std::fs::write(&config_path, format!("{LISTEN_ANY}{body}")).unwrap();
        let gateway = Gateway::start(Options::file(&config_path)).map_err(|e| format!("{e:#}"))?;
        Ok(TestGateway {
            gateway,
            config_path,
            _dir: dir,
        })
    }

    /// One catch-all route to service `web` over `upstreams` (weight 1 each), plus `extra`
    /// appended to the `[service.web]` table.
    pub fn single_service(balancer: &str, upstreams: &[&Upstream], extra: &str) -> TestGateway {
        let set: Vec<_> = upstreams.iter().map(|u| (u.addr, 1)).collect();
        Self::start(&format!(
            "[[route]]\nservice = \"web\"\n{}{extra}",
            service_toml("web", balancer, &set)
        ))
    }

    /// The directory holding the config (and any plugin files).
    pub fn dir(&self) -> &std::path::Path {
        self._dir.path()
    }

    pub fn addr(&self) -> SocketAddr {
        self.gateway.listen_addrs()[0]
    }

    pub fn admin(&self) -> SocketAddr {
        self.gateway.admin_addr().unwrap()
    }

    /// Replaces the config the way deploy tools do: write a temp file, rename it over.
    pub fn replace_config(&self, body: &str) {
        let tmp = self.config_path.with_extension("toml.tmp");
        std::fs::write(&tmp, format!("{LISTEN_ANY}{body}")).unwrap();
        std::fs::rename(&tmp, &self.config_path).unwrap();
    }

    /// Rewrites the config file in place (truncate + write), as many editors do.
    pub fn rewrite_config_in_place(&self, body: &str) {
        std::fs::write(&self.config_path, format!("{LISTEN_ANY}{body}")).unwrap();
    }

    pub fn generation(&self) -> u64 {
        self.gateway.shared().snapshots.load().generation
    }

    pub async fn status(&self) -> serde_json::Value {
        let r = Client::new(self.admin()).get("/status").await.unwrap();
        serde_json::from_slice(&r.body).unwrap()
    }
}

/// Polls `check` until it holds or `limit` passes; returns how long it took.
pub async fn eventually<F, Fut>(limit: Duration, mut check: F) -> Option<Duration>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let start = Instant::now();
    while start.elapsed() < limit {
        if check().await {
            return Some(start.elapsed());
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    None
}

/// Resident memory of this process (the gateway under test runs in it), in KiB.
pub fn rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let line = status.lines().find(|l| l.starts_with("VmRSS:")).unwrap();
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

/// Open file descriptors of this process.
pub fn open_fds() -> usize {
    std::fs::read_dir("/proc/self/fd").unwrap().count()
}

/// Whether `task` finishes within half a second (a request to a held upstream never does).
pub async fn finishes_soon<T>(task: &tokio::task::JoinHandle<T>) -> bool {
    for _ in 0..100 {
        if task.is_finished() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    false
}

/// Sends `n` requests one after another, each on a new connection, to a gateway one of whose
/// upstreams is held: a request that does not finish soon landed there and is left pending.
/// Returns who served the finished ones, and the pending ones.
pub async fn requests_around_a_hold(
    addr: SocketAddr,
    n: usize,
) -> (
    std::collections::HashMap<String, usize>,
    Vec<tokio::task::JoinHandle<String>>,
) {
    let mut held = Vec::new();
    let mut served = std::collections::HashMap::new();
    for _ in 0..n {
        let pending = tokio::spawn(async move {
            Client::new(addr)
                .get("/")
                .await
                .unwrap()
                .served_by()
                .to_owned()
        });
        if finishes_soon(&pending).await {
            *served.entry(pending.await.unwrap()).or_default() += 1;
        } else {
            held.push(pending);
        }
    }
    (served, held)
}

/// `[[route]]` + `[service.NAME]` text for a service over the given upstreams.
pub fn service_toml(name: &str, balancer: &str, upstreams: &[(SocketAddr, u32)]) -> String {
    let ups: Vec<String> = upstreams
        .iter()
        .map(|(a, w)| format!("{{ addr = \"{a}\", weight = {w} }}"))
        .collect();
    format!(
        "[service.{name}]\nbalancer = \"{balancer}\"\nupstreams = [{}]\n",
        ups.join(", ")
    )
}
