//! A client connection's socket with its read buffer.

use std::future::poll_fn;
use std::io;
use std::time::Duration;

use bytes::BytesMut;
use tokio::net::TcpStream;

use crate::proxy::h1::socket::{self, MIN_READ};

pub struct ClientIo {
    pub stream: TcpStream,
    /// Received and not yet consumed: the next request head, or body bytes.
    pub buf: BytesMut,
    read_size: usize,
    /// A client that takes none of an answer for this long is given up on.
    write_stall: Duration,
}

impl ClientIo {
    pub fn new(stream: TcpStream, write_stall: Duration) -> Self {
        Self {
            stream,
            buf: BytesMut::new(),
            read_size: MIN_READ,
            write_stall,
        }
    }

    /// Reads what is available into `buf`; `Ok(0)` at end of stream.
    pub async fn read_more(&mut self) -> io::Result<usize> {
        poll_fn(|cx| socket::poll_read_into(&self.stream, &mut self.buf, &mut self.read_size, cx))
            .await
    }

    pub async fn write_all(&mut self, bytes: &[u8]) -> io::Result<()> {
        socket::write_all_within(&self.stream, bytes, Some(self.write_stall)).await
    }
}
