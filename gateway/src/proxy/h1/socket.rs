//! Socket reads into a growing buffer and writes that try the socket before waiting;
//! shared by both sides of the proxy.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll, ready};
use std::time::Duration;

use bytes::BytesMut;
use tokio::io::Interest;
use tokio::net::TcpStream;
use tokio::time::{Instant, Sleep, sleep};

/// First read size; doubled while reads fill it (large bodies), halved when they do not.
pub const MIN_READ: usize = 4 * 1024;
const MAX_READ: usize = 64 * 1024;

/// Reads what is available into `buf`; `Ok(0)` at end of stream. `read_size` adapts to
/// the traffic: small for request/response heads, large while a body streams.
pub fn poll_read_into(
    stream: &TcpStream,
    buf: &mut BytesMut,
    read_size: &mut usize,
    cx: &mut Context<'_>,
) -> Poll<io::Result<usize>> {
    loop {
        // The reactor's readiness first: a socket with nothing to read costs no syscall.
        ready!(stream.poll_read_ready(cx))?;
        buf.reserve(*read_size);
        let room = buf.capacity() - buf.len();
        match stream.try_read_buf(buf) {
            Ok(n) => {
                if n < room {
                    // A short read drained the socket (what tokio's own `poll_read` assumes
                    // too): forget the readiness now rather than learn it from an EAGAIN,
                    // one system call later.
                    let _ = stream.try_io(Interest::READABLE, || {
                        Err::<(), _>(io::ErrorKind::WouldBlock.into())
                    });
                }
                if n >= *read_size {
                    *read_size = (*read_size * 2).min(MAX_READ);
                } else if n < *read_size / 4 {
                    *read_size = (*read_size / 2).max(MIN_READ);
                }
                return Poll::Ready(Ok(n));
            }
            // Readiness was stale; `try_read_buf` cleared it, so the next poll waits.
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
            Err(e) => return Poll::Ready(Err(e)),
        }
    }
}

/// Writes all of `bytes`. Tries the socket first: a socket with room (nearly always) takes
/// the bytes at once, without a future's bookkeeping around the system call. Fails with
/// `TimedOut` when the peer takes nothing for `stall` (it stopped reading); the timer
/// exists only while the socket is full.
pub async fn write_all(stream: &TcpStream, mut bytes: &[u8], stall: Duration) -> io::Result<()> {
    while !bytes.is_empty() {
        match stream.try_write(bytes) {
            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(n) => bytes = &bytes[n..],
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                tokio::time::timeout(stall, stream.writable())
                    .await
                    .map_err(|_| io::Error::from(io::ErrorKind::TimedOut))??;
            }
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// The longest a read may wait for the peer's next byte. Armed only when a read finds the
/// socket empty, so data that is already there costs no timer; the timer is allocated at
/// the first wait and reused (moving a registered deadline later is one store).
#[derive(Debug)]
pub struct StallTimer {
    limit: Duration,
    timer: Option<Pin<Box<Sleep>>>,
    /// A wait is in progress: its deadline is set.
    armed: bool,
}

impl StallTimer {
    pub fn new(limit: Duration) -> Self {
        Self {
            limit,
            timer: None,
            armed: false,
        }
    }

    /// Call after data arrived: the next wait starts a new period.
    pub fn progress(&mut self) {
        self.armed = false;
    }

    /// Polls the wait: `Ready` when the peer has sent nothing for the whole limit.
    pub fn poll_expired(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        let deadline = Instant::now() + self.limit;
        let timer = self
            .timer
            .get_or_insert_with(|| Box::pin(sleep(self.limit)));
        if !self.armed {
            timer.as_mut().reset(deadline);
            self.armed = true;
        }
        let expired = timer.as_mut().poll(cx);
        if expired.is_ready() {
            self.armed = false;
        }
        expired
    }
}

/// [`poll_read_into`], failing with `TimedOut` when the peer sends nothing for the
/// stall timer's limit.
pub fn poll_read_within(
    stream: &TcpStream,
    buf: &mut BytesMut,
    read_size: &mut usize,
    stall: &mut StallTimer,
    cx: &mut Context<'_>,
) -> Poll<io::Result<usize>> {
    if let Poll::Ready(read) = poll_read_into(stream, buf, read_size, cx) {
        stall.progress();
        return Poll::Ready(read);
    }
    ready!(stall.poll_expired(cx));
    Poll::Ready(Err(io::ErrorKind::TimedOut.into()))
}
