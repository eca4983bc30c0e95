//! A running gateway: the shared state every thread sees, and the threads themselves
//! (workers, plus one control thread for the admin listener, file watching and signals).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::thread::JoinHandle;
use std::time::Instant;

use anyhow::Context as _;
use arc_swap::ArcSwap;
use parking_lot::Mutex;
use tokio::sync::{mpsc, watch};

use crate::config::{Config, ConfigError};
use crate::listeners::ListenerLoad;
use crate::reload::ReloadReport;
use crate::runtime_state::RuntimeState;
use crate::snapshot::Snapshot;
use crate::{admin, listeners, watch as file_watch, worker};

/// Where the configuration comes from.
#[derive(Debug, Clone)]
pub enum ConfigSource {
    /// A file, read again on every reload and watched when [`Options::watch`] is set.
    File(PathBuf),
    /// Built-in text (the demo); `origin` names it in error messages.
    Inline { text: String, origin: String },
}

/// How to start a gateway. Overrides win over the file, on every reload too.
#[derive(Debug, Clone)]
pub struct Options {
    pub source: ConfigSource,
    pub listen: Option<Vec<SocketAddr>>,
    /// `Some(None)` turns the admin listener off.
    pub admin: Option<Option<SocketAddr>>,
    pub workers: Option<usize>,
    /// Reload when the config file changes.
    pub watch: bool,
    /// Reload on SIGHUP (process-wide, so only one gateway per process should ask).
    pub sighup: bool,
}

impl Options {
    pub fn file(path: impl Into<PathBuf>) -> Self {
        Self {
            source: ConfigSource::File(path.into()),
            listen: None,
            admin: None,
            workers: None,
            watch: true,
            sighup: false,
        }
    }
}

/// What every thread of one gateway shares.
pub struct Shared {
    /// The one snapshot the data path reads, swapped whole on reload.
    pub snapshots: ArcSwap<Snapshot>,
    pub state: RuntimeState,
    pub(crate) reload_lock: Mutex<()>,
    pub(crate) last_reload: Mutex<Option<ReloadReport>>,
    pub(crate) reloads_ok: AtomicU64,
    pub(crate) reloads_failed: AtomicU64,
    pub(crate) draining: AtomicBool,
    pub(crate) started: Instant,
    pub(crate) workers: usize,
    pub(crate) listen: Vec<SocketAddr>,
    /// Parallel to `listen`: each address's open connections, across workers.
    pub(crate) listener_loads: Vec<Arc<ListenerLoad>>,
    source: ConfigSource,
    /// The config file and the plugin files it names; `None` when not watching.
    watch: Option<file_watch::FileWatch>,
    overrides: (
        Option<Vec<SocketAddr>>,
        Option<Option<SocketAddr>>,
        Option<usize>,
    ),
}

impl Shared {
    /// Reads and validates the source with the command-line overrides applied. Blocking.
    pub(crate) fn load_config(&self) -> Result<Config, ConfigError> {
        let mut config = match &self.source {
            ConfigSource::File(path) => Config::load(path)?,
            ConfigSource::Inline { text, origin } => Config::parse(text, origin)?,
        };
        let (listen, admin, workers) = &self.overrides;
        if let Some(l) = listen {
            config.listen.clone_from(l);
        }
        if let Some(a) = admin {
            config.admin = *a;
        }
        if let Some(w) = workers {
            config.workers = *w;
        }
        Ok(config)
    }

    pub(crate) fn config_path(&self) -> String {
        match &self.source {
            ConfigSource::File(p) => p.display().to_string(),
            ConfigSource::Inline { origin, .. } => origin.clone(),
        }
    }

    /// Points the watcher at the files `config` reads (the config itself and its plugins).
    pub(crate) fn watch_files_of(&self, config: &Config) {
        let (Some(watch), ConfigSource::File(path)) = (&self.watch, &self.source) else {
            return;
        };
        let mut files = vec![path.clone()];
        files.extend(config.plugin_files().map(std::path::Path::to_path_buf));
        if let Err(e) = watch.set_files(&files) {
            tracing::warn!(error = %e, "cannot watch the plugin files; edit the config or send SIGHUP to reload them");
        }
    }

    pub fn reloads(&self) -> (u64, u64) {
        (
            self.reloads_ok.load(Ordering::Relaxed),
            self.reloads_failed.load(Ordering::Relaxed),
        )
    }
}

pub struct Gateway {
    shared: Arc<Shared>,
    listen: Vec<SocketAddr>,
    admin: Option<SocketAddr>,
    shutdown: watch::Sender<bool>,
    threads: Vec<JoinHandle<()>>,
}

impl Gateway {
    /// Loads the config, binds every socket and starts serving. Returns once listening.
    pub fn start(options: Options) -> anyhow::Result<Gateway> {
        // Watch before the first read: a change landing between the two is then never missed.
        let (wake, woken) = mpsc::channel::<()>(1);
        let watcher = match (&options.source, options.watch) {
            (ConfigSource::File(p), true) => Some(
                file_watch::FileWatch::new(std::slice::from_ref(p), wake.clone())
                    .with_context(|| format!("cannot watch {}", p.display()))?,
            ),
            _ => None,
        };
        let mut shared = Shared {
            snapshots: ArcSwap::from_pointee(Snapshot::placeholder()),
            state: RuntimeState::default(),
            reload_lock: Mutex::new(()),
            last_reload: Mutex::new(None),
            reloads_ok: AtomicU64::new(0),
            reloads_failed: AtomicU64::new(0),
            draining: AtomicBool::new(false),
            started: Instant::now(),
            workers: 0,
            listen: Vec::new(),
            listener_loads: Vec::new(),
            source: options.source.clone(),
            watch: watcher,
            overrides: (options.listen.clone(), options.admin, options.workers),
        };
        let config = shared.load_config()?;
        for w in &config.warnings {
            tracing::warn!("{w}");
        }
        let workers = match config.workers {
            0 => std::thread::available_parallelism().map_or(1, |n| n.get()),
            n => n,
        };
        let (listen, per_worker) = listeners::bind(&config.listen, workers)?;
        let admin_listener = config.admin.map(listeners::bind_one).transpose()?;
        let admin = admin_listener
            .as_ref()
            .map(|l| l.local_addr())
            .transpose()?;
        shared.workers = workers;
        shared.listen.clone_from(&listen);
        shared.listener_loads = listen.iter().map(|_| Arc::default()).collect();
        shared.watch_files_of(&config);
        let snapshot = Snapshot::build(config, 1, &shared.state, workers)?;
        shared.snapshots.store(Arc::new(snapshot));
        let shared = Arc::new(shared);

        let (shutdown, stop) = watch::channel(false);
        let mut threads = Vec::with_capacity(workers + 1);
        for (i, sockets) in per_worker.into_iter().enumerate() {
            threads.push(worker::spawn(
                i,
                Arc::clone(&shared),
                sockets,
                stop.clone(),
            )?);
        }
        let control_shared = Arc::clone(&shared);
        let sighup = options.sighup;
        let reloads = Reloads { wake, woken };
        threads.push(
            std::thread::Builder::new()
                .name("switchyard-control".into())
                .spawn(move || control(control_shared, admin_listener, reloads, sighup, stop))
                .context("cannot start the control thread")?,
        );
        tracing::info!(listen = ?listen, admin = ?admin, workers, "switchyard serving");
        Ok(Gateway {
            shared,
            listen,
            admin,
            shutdown,
            threads,
        })
    }

    pub fn listen_addrs(&self) -> &[SocketAddr] {
        &self.listen
    }

    pub fn admin_addr(&self) -> Option<SocketAddr> {
        self.admin
    }

    pub fn shared(&self) -> &Arc<Shared> {
        &self.shared
    }

    /// Stops accepting, lets in-flight exchanges finish (bounded), and joins every thread.
    pub fn shutdown(mut self) {
        self.stop_and_join();
    }

    fn stop_and_join(&mut self) {
        self.shared.draining.store(true, Ordering::Relaxed);
        let _ = self.shutdown.send(true);
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}

impl Drop for Gateway {
    fn drop(&mut self) {
        self.stop_and_join();
    }
}

/// What triggers a reload: file changes (the watcher lives in [`Shared`]), SIGHUP.
struct Reloads {
    wake: mpsc::Sender<()>,
    woken: mpsc::Receiver<()>,
}

/// The control thread: admin listener, config watcher and SIGHUP, on one small runtime.
fn control(
    shared: Arc<Shared>,
    admin: Option<std::net::TcpListener>,
    reloads: Reloads,
    sighup: bool,
    mut stop: watch::Receiver<bool>,
) {
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            tracing::error!(error = %e, "control runtime failed to start");
            return;
        }
    };
    let Reloads { wake, mut woken } = reloads;
    runtime.block_on(async move {
        if let Some(listener) = admin {
            match tokio::net::TcpListener::from_std(listener) {
                Ok(l) => {
                    tokio::spawn(admin::serve(Arc::clone(&shared), l));
                }
                Err(e) => tracing::error!(error = %e, "cannot start the admin listener"),
            }
        }
        if sighup {
            tokio::spawn(forward_sighup(wake.clone()));
        }
        loop {
            tokio::select! {
                _ = stop.wait_for(|s| *s) => break,
                Some(()) = woken.recv() => {
                    tokio::time::sleep(file_watch::DEBOUNCE).await;
                    while woken.try_recv().is_ok() {}
                    let shared = Arc::clone(&shared);
                    let _ = tokio::task::spawn_blocking(move || shared.reload()).await;
                }
            }
        }
    });
}

async fn forward_sighup(wake: mpsc::Sender<()>) {
    use tokio::signal::unix::{SignalKind, signal};
    let mut hangups = match signal(SignalKind::hangup()) {
        Ok(s) => s,
        Err(e) => {
            tracing::error!(error = %e, "cannot listen for SIGHUP");
            return;
        }
    };
    while hangups.recv().await.is_some() {
        tracing::info!("SIGHUP: reloading");
        let _ = wake.try_send(());
    }
}
