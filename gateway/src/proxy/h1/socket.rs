//! Socket reads into a growing buffer and writes that try the socket before waiting;
//! shared by both sides of the proxy.

use std::io;
use std::task::{Context, Poll, ready};
use std::time::Duration;

use bytes::BytesMut;
use tokio::io::Interest;
use tokio::net::TcpStream;

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
/// the bytes at once, without a future's bookkeeping around the system call.
pub async fn write_all(stream: &TcpStream, bytes: &[u8]) -> io::Result<()> {
    write_all_within(stream, bytes, None).await
}

/// [`write_all`], failing with `TimedOut` when the peer takes nothing for `stall` (a client
/// that stopped reading). The timer exists only while the socket is full.
pub async fn write_all_within(
    stream: &TcpStream,
    mut bytes: &[u8],
    stall: Option<Duration>,
) -> io::Result<()> {
    while !bytes.is_empty() {
        match stream.try_write(bytes) {
            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(n) => bytes = &bytes[n..],
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => match stall {
                None => stream.writable().await?,
                Some(limit) => tokio::time::timeout(limit, stream.writable())
                    .await
                    .map_err(|_| io::Error::from(io::ErrorKind::TimedOut))??,
            },
            Err(e) => return Err(e),
        }
    }
    Ok(())
}
