//! A worker thread: its own single-threaded tokio runtime, its own listener sockets, its own
//! upstream connection pool. Nothing on the request path is shared with other workers except
//! the snapshot (one `ArcSwap` load per request) and per-upstream atomics.

use std::cell::Cell;
use std::net::TcpListener as StdListener;
use std::rc::Rc;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::{Notify, watch};
use tokio::task::LocalSet;

use crate::gateway::Shared;
use crate::listeners::ListenerLoad;
use crate::proxy::client::StopSignal;
use crate::proxy::{self, ClientConn};

/// How long in-flight exchanges may take to finish once shutdown starts.
const DRAIN_DEADLINE: Duration = Duration::from_secs(10);

thread_local! {
    static WORKER_INDEX: Cell<Option<usize>> = const { Cell::new(None) };
}

/// The index of the worker running on this thread; `None` on other threads.
pub fn current() -> Option<usize> {
    WORKER_INDEX.get()
}

pub fn spawn(
    index: usize,
    shared: Arc<Shared>,
    listeners: Vec<StdListener>,
    shutdown: watch::Receiver<bool>,
) -> std::io::Result<std::thread::JoinHandle<()>> {
    std::thread::Builder::new()
        .name(format!("switchyard-worker-{index}"))
        .spawn(move || {
            WORKER_INDEX.set(Some(index));
            let runtime = match tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            {
                Ok(rt) => rt,
                Err(e) => {
                    tracing::error!(error = %e, "worker runtime failed to start");
                    return;
                }
            };
            LocalSet::new().block_on(&runtime, run(shared, listeners, shutdown));
        })
}

/// Counts live client connections so shutdown can wait for them.
#[derive(Default)]
struct Connections {
    live: Cell<usize>,
    drained: Notify,
    stop: StopSignal,
}

async fn run(
    shared: Arc<Shared>,
    listeners: Vec<StdListener>,
    mut shutdown: watch::Receiver<bool>,
) {
    let connections = Rc::new(Connections::default());
    // The sockets are in the order of the addresses, as their loads are.
    for (std_listener, load) in listeners.into_iter().zip(shared.listener_loads.clone()) {
        match TcpListener::from_std(std_listener) {
            Ok(l) => {
                tokio::task::spawn_local(accept_loop(
                    Arc::clone(&shared),
                    l,
                    load,
                    shutdown.clone(),
                    Rc::clone(&connections),
                ));
            }
            Err(e) => tracing::error!(error = %e, "cannot register listener with the runtime"),
        }
    }
    tokio::task::spawn_local(async {
        let mut tick = tokio::time::interval(Duration::from_secs(1));
        loop {
            tick.tick().await;
            proxy::pool::evict_expired();
        }
    });
    let _ = shutdown.wait_for(|stop| *stop).await;
    // Idle connections close now; busy ones after the answer in progress.
    connections.stop.stop();
    let _ = tokio::time::timeout(DRAIN_DEADLINE, async {
        while connections.live.get() > 0 {
            connections.drained.notified().await;
        }
    })
    .await;
}

async fn accept_loop(
    shared: Arc<Shared>,
    listener: TcpListener,
    load: Arc<ListenerLoad>,
    shutdown: watch::Receiver<bool>,
    connections: Rc<Connections>,
) {
    let mut stop = shutdown;
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, peer)) => {
                    // Accepted and closed beyond the cap: a client learns at once, where a
                    // connection left in the backlog would hang until its own timeout.
                    let max = shared.snapshots.load().config.max_connections;
                    let Some(admitted) = load.admit(max) else {
                        tracing::debug!(%peer, "max_connections reached: connection closed");
                        continue;
                    };
                    let _ = stream.set_nodelay(true);
                    let shared = Arc::clone(&shared);
                    let connections = Rc::clone(&connections);
                    connections.live.set(connections.live.get() + 1);
                    tokio::task::spawn_local(async move {
                        let client = ClientConn::new(peer, "http");
                        proxy::client::serve(&shared.snapshots, &client, stream, &connections.stop)
                            .await;
                        drop(admitted);
                        connections.live.set(connections.live.get() - 1);
                        if connections.live.get() == 0 {
                            connections.drained.notify_waiters();
                        }
                    });
                }
                Err(e) => {
                    // Out of file descriptors and the like: back off instead of spinning.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            },
            _ = stop.wait_for(|stop| *stop) => return,
        }
    }
}
