//! A real HTTP/1.1 upstream on loopback, with the behaviours tests need.
//!
//! - any path: answers its name (body and `x-served-by`), after its configured delay, and
//!   while "holding" waits until released;
//! - `/sink`: reads the request body to the end and answers the byte count;
//! - `/source/N`: streams N bytes in 64 KiB chunks;
//! - `/headers`: answers the request headers it received, one `name: value` per line;
//! - `/echo` and below: answers what it received, `METHOD TARGET` then the headers as
//!   `/headers` does, with `x-upstream-note: from-upstream` among its response headers.
//!
//! Every answer names the request target it received in `x-received-target`.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use bytes::Bytes;
use http::{Request, Response};
use http_body_util::{BodyExt, StreamBody, combinators::BoxBody};
use hyper::body::{Frame, Incoming};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use tokio::sync::Notify;

pub struct Upstream {
    pub name: String,
    pub addr: SocketAddr,
    state: Arc<State>,
    stop: Arc<Notify>,
}

struct State {
    name: String,
    delay: Duration,
    holding: AtomicBool,
    released: Notify,
    hits: AtomicUsize,
    /// When non-zero, every request is answered with this status.
    fail_with: u16,
}

type Body = BoxBody<Bytes, Infallible>;

impl Upstream {
    pub fn start(name: &str) -> Upstream {
        Self::with_delay(name, Duration::ZERO)
    }

    /// Answers every request with `status` (and its name, like the others).
    pub fn failing(name: &str, status: u16) -> Upstream {
        Self::spawn(name, Duration::ZERO, status)
    }

    pub fn with_delay(name: &str, delay: Duration) -> Upstream {
        Self::spawn(name, delay, 0)
    }

    fn spawn(name: &str, delay: Duration, fail_with: u16) -> Upstream {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let addr = listener.local_addr().unwrap();
        let state = Arc::new(State {
            name: name.to_owned(),
            delay,
            holding: AtomicBool::new(false),
            released: Notify::new(),
            hits: AtomicUsize::new(0),
            fail_with,
        });
        let stop = Arc::new(Notify::new());
        let (st, sp) = (Arc::clone(&state), Arc::clone(&stop));
        std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async move {
                let listener = tokio::net::TcpListener::from_std(listener).unwrap();
                loop {
                    tokio::select! {
                        _ = sp.notified() => break,
                        accepted = listener.accept() => {
                            let Ok((stream, _)) = accepted else { continue };
                            let st = Arc::clone(&st);
                            tokio::spawn(async move {
                                let svc = service_fn(move |req| answer(Arc::clone(&st), req));
                                let _ = http1::Builder::new().serve_connection(TokioIo::new(stream), svc).await;
                            });
                        }
                    }
                }
            });
        });
        Upstream {
            name: name.to_owned(),
            addr,
            state,
            stop,
        }
    }

    /// Requests received so far.
    pub fn hits(&self) -> usize {
        self.state.hits.load(Ordering::SeqCst)
    }

    /// From now on, requests wait until [`Upstream::release`].
    pub fn hold(&self) {
        self.state.holding.store(true, Ordering::SeqCst);
    }

    pub fn release(&self) {
        self.state.holding.store(false, Ordering::SeqCst);
        self.state.released.notify_waiters();
    }
}

impl Drop for Upstream {
    fn drop(&mut self) {
        self.release();
        self.stop.notify_one();
    }
}

async fn answer(state: Arc<State>, req: Request<Incoming>) -> Result<Response<Body>, Infallible> {
    let target = req
        .uri()
        .path_and_query()
        .map_or_else(|| req.uri().to_string(), ToString::to_string);
    let mut response = respond(state, req).await?;
    if let Ok(value) = http::HeaderValue::from_str(&target) {
        response.headers_mut().insert("x-received-target", value);
    }
    Ok(response)
}

async fn respond(state: Arc<State>, req: Request<Incoming>) -> Result<Response<Body>, Infallible> {
    state.hits.fetch_add(1, Ordering::SeqCst);
    if state.fail_with != 0 {
        let mut r = text(&state.name, format!("{} fails", state.name));
        *r.status_mut() = http::StatusCode::from_u16(state.fail_with).unwrap();
        return Ok(r);
    }
    let path = req.uri().path().to_owned();
    if path == "/sink" {
        let mut body = req.into_body();
        let mut total = 0usize;
        while let Some(Ok(frame)) = body.frame().await {
            if let Some(data) = frame.data_ref() {
                total += data.len();
            }
        }
        return Ok(text(&state.name, format!("received {total}")));
    }
    if let Some(n) = path.strip_prefix("/source/") {
        let total: usize = n.parse().unwrap_or(0);
        return Ok(stream_bytes(&state.name, total));
    }
    if path == "/echo" || path.starts_with("/echo/") {
        let target = req
            .uri()
            .path_and_query()
            .map_or_else(String::new, ToString::to_string);
        let mut lines = format!("{} {target}\n", req.method());
        for (k, v) in req.headers() {
            lines.push_str(&format!("{k}: {}\n", v.to_str().unwrap_or("?")));
        }
        let mut response = text(&state.name, lines);
        response.headers_mut().insert(
            "x-upstream-note",
            http::HeaderValue::from_static("from-upstream"),
        );
        return Ok(response);
    }
    if path == "/headers" {
        let lines: String = req
            .headers()
            .iter()
            .map(|(k, v)| format!("{k}: {}\n", v.to_str().unwrap_or("?")))
            .collect();
        return Ok(text(&state.name, lines));
    }
    if !state.delay.is_zero() {
        tokio::time::sleep(state.delay).await;
    }
    while state.holding.load(Ordering::SeqCst) {
        let released = state.released.notified();
        if !state.holding.load(Ordering::SeqCst) {
            break;
        }
        released.await;
    }
    Ok(text(&state.name, state.name.clone()))
}

fn text(name: &str, body: String) -> Response<Body> {
    Response::builder()
        .header("x-served-by", name)
        .body(http_body_util::Full::new(Bytes::from(body)).boxed())
        .unwrap()
}

fn stream_bytes(name: &str, total: usize) -> Response<Body> {
    const CHUNK: usize = 64 * 1024;
    let chunk = Bytes::from(vec![b'x'; CHUNK]);
    let frames = futures_lite_stream(total, chunk);
    Response::builder()
        .header("x-served-by", name)
        .body(BodyExt::boxed(StreamBody::new(frames)))
        .unwrap()
}

/// A stream of `total` bytes as data frames of at most one chunk each, without buffering.
fn futures_lite_stream(
    total: usize,
    chunk: Bytes,
) -> impl futures_core::Stream<Item = Result<Frame<Bytes>, Infallible>> + Send + Sync {
    ChunkStream { left: total, chunk }
}

pub struct ChunkStream {
    pub left: usize,
    pub chunk: Bytes,
}

impl futures_core::Stream for ChunkStream {
    type Item = Result<Frame<Bytes>, Infallible>;

    fn poll_next(
        mut self: std::pin::Pin<&mut Self>,
        _cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Self::Item>> {
        if self.left == 0 {
            return std::task::Poll::Ready(None);
        }
        let n = self.left.min(self.chunk.len());
        self.left -= n;
        std::task::Poll::Ready(Some(Ok(Frame::data(self.chunk.slice(..n)))))
    }
}
