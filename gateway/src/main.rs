//! The `switchyard` command line.

use std::io::Write as _;
use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::{Context, bail};
use clap::{Parser, Subcommand};
use switchyard::config::Config;
use switchyard::{ConfigSource, Gateway, Options, demo};

#[derive(Parser)]
#[command(name = "switchyard", version, about = "A programmable edge gateway")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Serve with a config file; it is watched and reloaded on change and on SIGHUP.
    Run {
        #[arg(long, short)]
        config: PathBuf,
        #[command(flatten)]
        overrides: Overrides,
    },
    /// Validate a config file without serving; prints warnings, exits 1 on an error.
    Check { config: PathBuf },
    /// Inspect Wasm plugin components.
    Plugin {
        #[command(subcommand)]
        command: PluginCommand,
    },
    /// Serve a built-in config in front of three in-process demo upstreams.
    Demo {
        #[arg(long, default_value = "127.0.0.1:8080")]
        listen: SocketAddr,
        #[arg(long, default_value = "127.0.0.1:9901")]
        admin: SocketAddr,
    },
}

#[derive(Subcommand)]
enum PluginCommand {
    /// Which policy worlds a component implements, and whether this gateway can load it
    /// (instantiated once, every exported function type-checked).
    Check {
        file: PathBuf,
        /// Where to keep the compiled artifact: a directory, or `off`. Default: the
        /// gateway's cache (`$SWITCHYARD_CACHE_DIR`, `$XDG_CACHE_HOME/switchyard`,
        /// `~/.cache/switchyard`), so a gateway loading the file next starts warm.
        #[arg(long)]
        cache: Option<PathBuf>,
    },
}

#[derive(clap::Args)]
struct Overrides {
    /// Listen here instead of the config's `listen` (repeatable).
    #[arg(long)]
    listen: Vec<SocketAddr>,
    /// Admin listener address instead of the config's, or `off`.
    #[arg(long)]
    admin: Option<String>,
    /// Worker threads instead of the config's (0 = one per core).
    #[arg(long)]
    workers: Option<usize>,
}

fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    match Cli::parse().command {
        Command::Check { config } => check(&config),
        Command::Plugin {
            command: PluginCommand::Check { file, cache },
        } => plugin_check(&file, cache),
        Command::Run { config, overrides } => {
            let mut options = Options::file(config);
            options.sighup = true;
            if !overrides.listen.is_empty() {
                options.listen = Some(overrides.listen);
            }
            options.admin = match overrides.admin.as_deref() {
                None => None,
                Some("off") => Some(None),
                Some(a) => {
                    Some(Some(a.parse().with_context(|| {
                        format!("--admin `{a}` is not IP:PORT or off")
                    })?))
                }
            };
            options.workers = overrides.workers;
            serve(options)
        }
        Command::Demo { listen, admin } => {
            let upstreams = demo::start_upstreams().context("cannot start the demo upstreams")?;
            let text = demo::config_text(listen, admin, &upstreams);
            let mut options = Options::file("demo");
            options.source = ConfigSource::Inline {
                text,
                origin: "<built-in demo config>".into(),
            };
            options.watch = false;
            let gateway = Gateway::start(options)?;
            let proxy = gateway.listen_addrs()[0];
            tracing::info!(
                "demo ready: try `curl -i http://{proxy}/` (round robin), `curl http://{proxy}/weighted` (5:1:1), \
                 `curl -H 'x-user: alice' http://{proxy}/sticky` (hash), status at http://{}/status",
                gateway
                    .admin_addr()
                    .map_or_else(|| "-".into(), |a| a.to_string())
            );
            wait_for_shutdown(gateway)
        }
    }
}

fn check(path: &std::path::Path) -> anyhow::Result<()> {
    let config = Config::load(path).map_err(|e| anyhow::anyhow!("{e}"))?;
    let warnings = config.warnings.clone();
    let (routes, services) = (config.routes.len(), config.services.len());
    let plugins = config.plugin_files().count();
    // Build what a reload would: compile every plugin it uses, instantiate each once and run
    // its `init` with its config, so a plugin that fails at load fails here, by name.
    let state = switchyard::runtime_state::RuntimeState::default();
    switchyard::snapshot::Snapshot::build(config, 0, &state, 1)
        .map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
    let mut out = std::io::stdout().lock();
    for w in &warnings {
        writeln!(out, "warning: {w}")?;
    }
    writeln!(
        out,
        "{}: ok ({routes} routes, {services} services, {plugins} plugins loaded)",
        path.display(),
    )?;
    Ok(())
}

fn plugin_check(path: &std::path::Path, cache: Option<PathBuf>) -> anyhow::Result<()> {
    use switchyard::config::PluginCache;
    let cache = match cache {
        None => PluginCache::Default,
        Some(dir) if dir.as_os_str() == "off" => PluginCache::Off,
        Some(dir) => PluginCache::Dir(dir),
    };
    let worlds = switchyard::wasm::check_file(path, &cache).map_err(|e| anyhow::anyhow!("{e}"))?;
    let mut out = std::io::stdout().lock();
    let mut loadable = false;
    for (kind, verdict) in &worlds {
        match verdict {
            Ok(()) => {
                loadable = true;
                writeln!(
                    out,
                    "{}: implements {} (use it as a {} plugin): loads",
                    path.display(),
                    kind.world(),
                    kind.slot()
                )?;
            }
            Err(why) => writeln!(
                out,
                "{}: exports {} but cannot be loaded: {why}",
                path.display(),
                kind.world()
            )?,
        }
    }
    if !loadable {
        bail!("{}: no world this gateway can load", path.display());
    }
    Ok(())
}

fn serve(options: Options) -> anyhow::Result<()> {
    let gateway = Gateway::start(options)?;
    wait_for_shutdown(gateway)
}

fn wait_for_shutdown(gateway: Gateway) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        use tokio::signal::unix::{SignalKind, signal};
        let (Ok(mut term), Ok(mut int)) = (
            signal(SignalKind::terminate()),
            signal(SignalKind::interrupt()),
        ) else {
            bail!("cannot install signal handlers");
        };
        tokio::select! {
            _ = term.recv() => {},
            _ = int.recv() => {},
        }
        Ok(())
    })?;
    tracing::info!("shutting down: draining in-flight requests");
    gateway.shutdown();
    Ok(())
}
