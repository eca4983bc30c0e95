//! One keep-alive connection to an upstream, driven by the task of the request using it.

use std::future::poll_fn;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::task::{Context, Poll, Waker, ready};

use bytes::BytesMut;
use http::{HeaderMap, Method};
use http_body::Body;
use tokio::io::{AsyncWriteExt, Interest};
use tokio::net::TcpStream;

use super::H1Error;
use super::head::{self, Head, RequestFraming};
use crate::proxy::body::RequestBody;

/// First read size; doubled while reads fill it (large bodies), halved when they do not.
const MIN_READ: usize = 4 * 1024;
const MAX_READ: usize = 64 * 1024;

pub struct UpstreamConn {
    stream: TcpStream,
    addr: SocketAddr,
    /// Received and not yet consumed.
    pub(super) buf: BytesMut,
    read_size: usize,
    /// The request head is written here first: one `send` for a bodiless request.
    out: Vec<u8>,
}

/// Where a failed round trip stopped, which decides whether it may be retried elsewhere.
pub struct Roundtrip {
    pub error: H1Error,
    /// Writing the request failed: the upstream has no complete request to act on.
    pub unsent: bool,
    /// The connection closed without a byte of answer (a reused connection the upstream
    /// had just timed out, typically).
    pub unanswered: bool,
}

impl UpstreamConn {
    pub fn new(stream: TcpStream, addr: SocketAddr) -> Self {
        Self {
            stream,
            addr,
            buf: BytesMut::new(),
            read_size: MIN_READ,
            out: Vec::with_capacity(512),
        }
    }

    /// Whether an idle connection can carry a request: nothing arrived while it sat in the
    /// pool, neither the upstream closing it nor stray bytes. Asks the reactor's readiness
    /// first, so a quiet connection costs no system call.
    pub fn idle_and_open(&mut self) -> bool {
        if !self.buf.is_empty() {
            return false;
        }
        let mut cx = Context::from_waker(Waker::noop());
        match self.stream.poll_read_ready(&mut cx) {
            Poll::Pending => true,
            Poll::Ready(Err(_)) => false,
            Poll::Ready(Ok(())) => {
                let mut probe = [0u8; 1];
                matches!(self.stream.try_read(&mut probe), Err(e) if e.kind() == io::ErrorKind::WouldBlock)
            }
        }
    }

    /// Sends the request (head, then the body streamed) and reads the response head.
    pub async fn roundtrip(
        &mut self,
        method: &Method,
        target: &str,
        headers: &HeaderMap,
        body: &mut RequestBody,
    ) -> Result<Head, Roundtrip> {
        let framing = if body.is_end_stream() {
            RequestFraming::None
        } else if headers.contains_key(http::header::CONTENT_LENGTH) {
            RequestFraming::Length
        } else {
            RequestFraming::Chunked
        };
        head::write_request(&mut self.out, method, target, headers, framing, self.addr);
        let unsent = |error: H1Error| Roundtrip {
            error,
            unsent: true,
            unanswered: true,
        };
        self.stream
            .write_all(&self.out)
            .await
            .map_err(|e| unsent(e.into()))?;
        if framing != RequestFraming::None {
            self.send_body(body, framing == RequestFraming::Chunked)
                .await
                .map_err(unsent)?;
        }
        self.read_head(method).await
    }

    async fn send_body(&mut self, body: &mut RequestBody, chunked: bool) -> Result<(), H1Error> {
        while let Some(frame) = poll_fn(|cx| Pin::new(&mut *body).poll_frame(cx)).await {
            let frame = frame.map_err(H1Error::ClientBody)?;
            // Trailers are dropped: few upstreams want them and HTTP/1 proxies may drop them.
            let Ok(data) = frame.into_data() else {
                continue;
            };
            if data.is_empty() {
                continue;
            }
            if chunked {
                self.out.clear();
                use std::io::Write as _;
                let _ = write!(self.out, "{:x}\r\n", data.len());
                self.stream.write_all(&self.out).await?;
                self.stream.write_all(&data).await?;
                self.stream.write_all(b"\r\n").await?;
            } else {
                self.stream.write_all(&data).await?;
            }
        }
        if chunked {
            self.stream.write_all(b"0\r\n\r\n").await?;
        }
        Ok(())
    }

    async fn read_head(&mut self, method: &Method) -> Result<Head, Roundtrip> {
        let mut answered = !self.buf.is_empty();
        loop {
            let failed = |error: H1Error, answered: bool| Roundtrip {
                error,
                unsent: false,
                unanswered: !answered,
            };
            match head::parse_response(&mut self.buf, method) {
                Ok(Some(head)) => return Ok(head),
                Ok(None) => {}
                Err(e) => return Err(failed(e, true)),
            }
            match poll_fn(|cx| self.poll_read_more(cx)).await {
                Ok(0) if answered => {
                    return Err(failed(
                        H1Error::Malformed("connection closed mid-head"),
                        true,
                    ));
                }
                Ok(0) => return Err(failed(H1Error::ClosedBeforeAnswer, false)),
                Ok(_) => answered = true,
                Err(e) => return Err(failed(e.into(), answered)),
            }
        }
    }

    /// Reads what is available into `buf`; `Ok(0)` at end of stream.
    pub(super) fn poll_read_more(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<usize>> {
        loop {
            // The reactor's readiness first: a socket with nothing to read costs no syscall.
            ready!(self.stream.poll_read_ready(cx))?;
            self.buf.reserve(self.read_size);
            let room = self.buf.capacity() - self.buf.len();
            match self.stream.try_read_buf(&mut self.buf) {
                Ok(n) => {
                    if n < room {
                        // A short read drained the socket (what tokio's own `poll_read`
                        // assumes too): forget the readiness now rather than learn it
                        // from an EAGAIN, one system call later.
                        let _ = self.stream.try_io(Interest::READABLE, || {
                            Err::<(), _>(io::ErrorKind::WouldBlock.into())
                        });
                    }
                    if n >= self.read_size {
                        self.read_size = (self.read_size * 2).min(MAX_READ);
                    } else if n < self.read_size / 4 {
                        self.read_size = (self.read_size / 2).max(MIN_READ);
                    }
                    return Poll::Ready(Ok(n));
                }
                // Readiness was stale; `try_read_buf` cleared it, so the next poll waits.
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                Err(e) => return Poll::Ready(Err(e)),
            }
        }
    }
}
