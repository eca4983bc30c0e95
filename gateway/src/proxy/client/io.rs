//! A client connection's socket with its read buffer.

use std::future::poll_fn;
use std::io;
use std::time::Duration;

use bytes::BytesMut;
use tokio::net::TcpStream;

use super::spare;
use crate::proxy::h1::socket::{self, MIN_READ, StallTimer};

pub struct ClientIo {
    pub stream: TcpStream,
    /// Received and not yet consumed: the next request head, or body bytes.
    pub buf: BytesMut,
    read_size: usize,
    /// `client_timeout`: a client that takes none of an answer for this long is given up on.
    write_stall: Duration,
    /// The same limit on a client that stops sending a body it announced.
    read_stall: StallTimer,
}

impl ClientIo {
    pub fn new(stream: TcpStream, client_timeout: Duration) -> Self {
        Self {
            stream,
            buf: BytesMut::new(),
            read_size: MIN_READ,
            write_stall: client_timeout,
            read_stall: StallTimer::new(client_timeout),
        }
    }

    /// Reads what is available into `buf`; `Ok(0)` at end of stream. Without a deadline:
    /// the caller bounds the wait (the idle clock between requests, linger's timeout).
    pub async fn read_more(&mut self) -> io::Result<usize> {
        poll_fn(|cx| socket::poll_read_into(&self.stream, &mut self.buf, &mut self.read_size, cx))
            .await
    }

    /// [`read_more`](Self::read_more) between requests: a connection with nothing buffered
    /// gives its read buffer back to the worker's spares while it waits, and takes one
    /// once the socket is readable, so an idle connection holds no buffer.
    pub async fn read_more_when_ready(&mut self) -> io::Result<usize> {
        if self.buf.is_empty() {
            spare::give_read_buffer(std::mem::take(&mut self.buf));
            // The socket's own waker slot: cheaper than a `readable()` future's waiter.
            poll_fn(|cx| self.stream.poll_read_ready(cx)).await?;
            self.buf = spare::read_buffer();
        }
        self.read_more().await
    }

    /// [`read_more`](Self::read_more) inside a message (a body): `TimedOut` when the client
    /// sends nothing for `client_timeout`.
    pub async fn read_more_within(&mut self) -> io::Result<usize> {
        poll_fn(|cx| {
            socket::poll_read_within(
                &self.stream,
                &mut self.buf,
                &mut self.read_size,
                &mut self.read_stall,
                cx,
            )
        })
        .await
    }

    pub async fn write_all(&mut self, bytes: &[u8]) -> io::Result<()> {
        socket::write_all(&self.stream, bytes, self.write_stall).await
    }
}
