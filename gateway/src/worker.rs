//! A worker thread: its own single-threaded tokio runtime, its own listener sockets, its own
//! upstream connection pool. Nothing on the request path is shared with other workers except
//! the snapshot (one `ArcSwap` load per request) and per-upstream atomics.

use std::cell::Cell;
use std::convert::Infallible;
use std::net::TcpListener as StdListener;
use std::rc::Rc;
use std::sync::Arc;
use std::time::Duration;

use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Notify, watch};
use tokio::task::LocalSet;

use crate::gateway::Shared;
use crate::idle_watch::{Activity, Tracked};
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
}

async fn run(
    shared: Arc<Shared>,
    listeners: Vec<StdListener>,
    mut shutdown: watch::Receiver<bool>,
) {
    let connections = Rc::new(Connections::default());
    for std_listener in listeners {
        match TcpListener::from_std(std_listener) {
            Ok(l) => {
                tokio::task::spawn_local(accept_loop(
                    Arc::clone(&shared),
                    l,
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
    shutdown: watch::Receiver<bool>,
    connections: Rc<Connections>,
) {
    let mut stop = shutdown.clone();
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, peer)) => {
                    let _ = stream.set_nodelay(true);
                    let conn = Rc::new(ConnCtx {
                        shared: Arc::clone(&shared),
                        client: ClientConn::new(peer, "http"),
                        activity: Rc::default(),
                    });
                    connections.live.set(connections.live.get() + 1);
                    let connections = Rc::clone(&connections);
                    tokio::task::spawn_local(serve(conn, stream, shutdown.clone(), connections));
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

/// Per client connection; requests clone the `Rc`, never the `Arc` inside (no atomics).
struct ConnCtx {
    shared: Arc<Shared>,
    client: ClientConn,
    activity: Rc<Activity>,
}

async fn serve(
    ctx: Rc<ConnCtx>,
    stream: TcpStream,
    mut shutdown: watch::Receiver<bool>,
    connections: Rc<Connections>,
) {
    let activity = Rc::clone(&ctx.activity);
    let peer = ctx.client.peer;
    // Read per connection: a reload applies to connections accepted after it.
    let client_timeout = ctx.shared.snapshots.load().config.client_timeout;
    let service = service_fn(move |req| {
        let ctx = Rc::clone(&ctx);
        let busy = ctx.activity.begin();
        async move {
            let response = proxy::handle(&ctx.shared.snapshots, &ctx.client, req).await;
            Ok::<_, Infallible>(response.map(|body| Tracked::new(body, busy)))
        }
    });
    let conn = http1::Builder::new()
        .writev(false)
        .serve_connection(TokioIo::new(stream), service);
    tokio::pin!(conn);
    let result = tokio::select! {
        biased;
        r = conn.as_mut() => r,
        () = activity.unused_for(client_timeout) => {
            tracing::debug!(%peer, "closing a client connection unused for client_timeout");
            Ok(())
        }
        _ = shutdown.wait_for(|stop| *stop) => {
            // Finish the exchange in progress, then close instead of keeping alive.
            conn.as_mut().graceful_shutdown();
            conn.await
        }
    };
    if let Err(e) = result {
        tracing::debug!(error = %e, "client connection ended with an error");
    }
    connections.live.set(connections.live.get() - 1);
    if connections.live.get() == 0 {
        connections.drained.notify_waiters();
    }
}
