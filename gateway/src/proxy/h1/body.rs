//! A response body read straight off the upstream connection; at its end the connection
//! goes back to the worker's pool when it can carry another request.

use std::task::{Context, Poll, ready};
use std::time::Duration;

use bytes::Bytes;

use super::H1Error;
use super::chunked::{ChunkedDecoder, Decoded};
use super::conn::UpstreamConn;
use super::head::{Head, ResponseFraming};
use super::socket::StallTimer;
use crate::proxy::pool;
use crate::runtime_state::PoolKey;

pub struct ResponseBody {
    /// `None` once the body ended (the connection is pooled or closed).
    conn: Option<UpstreamConn>,
    framing: Framing,
    reusable: bool,
    pool_key: PoolKey,
    idle: Duration,
    /// `upstream_idle`: the longest gap allowed inside the body.
    stall: StallTimer,
}

enum Framing {
    Length(u64),
    Chunked(ChunkedDecoder),
    UntilClose,
}

impl ResponseBody {
    pub fn new(
        conn: UpstreamConn,
        head: &Head,
        pool_key: PoolKey,
        idle: Duration,
        upstream_idle: Duration,
    ) -> Self {
        let framing = match head.framing {
            ResponseFraming::Empty => Framing::Length(0),
            ResponseFraming::Length(n) => Framing::Length(n),
            ResponseFraming::Chunked => Framing::Chunked(ChunkedDecoder::default()),
            ResponseFraming::UntilClose => Framing::UntilClose,
        };
        Self {
            conn: Some(conn),
            framing,
            reusable: head.reusable,
            pool_key,
            idle,
            stall: StallTimer::new(upstream_idle),
        }
    }

    /// The body is complete: the connection is pooled if it may carry another request.
    fn finish(&mut self) {
        if let Some(conn) = self.conn.take()
            && self.reusable
            && conn.buf.is_empty()
        {
            pool::put(self.pool_key, conn, self.idle);
        }
    }

    /// The next piece of the body; `None` at its end.
    pub fn poll_next(&mut self, cx: &mut Context<'_>) -> Poll<Option<Result<Bytes, H1Error>>> {
        let polled = self.poll_piece(cx);
        if let Poll::Ready(Some(Err(_))) = &polled {
            // A broken body: the connection is in an unknown state.
            self.conn = None;
        }
        polled
    }

    fn poll_piece(&mut self, cx: &mut Context<'_>) -> Poll<Option<Result<Bytes, H1Error>>> {
        loop {
            let until_close = matches!(self.framing, Framing::UntilClose);
            let Some(conn) = self.conn.as_mut() else {
                return Poll::Ready(None);
            };
            let data = match &mut self.framing {
                Framing::Length(0) => None,
                Framing::Length(left) if !conn.buf.is_empty() => {
                    let n = usize::try_from(*left)
                        .unwrap_or(usize::MAX)
                        .min(conn.buf.len());
                    *left -= n as u64;
                    Some(conn.buf.split_to(n).freeze())
                }
                Framing::Chunked(decoder) => match decoder.decode(&mut conn.buf)? {
                    Decoded::Data(data) => Some(data),
                    Decoded::End => None,
                    Decoded::NeedMore => {
                        if ready!(read(conn, &mut self.stall, cx))? == 0 {
                            return Poll::Ready(Some(Err(H1Error::ClosedMidBody)));
                        }
                        continue;
                    }
                },
                Framing::UntilClose if !conn.buf.is_empty() => Some(conn.buf.split().freeze()),
                Framing::Length(_) | Framing::UntilClose => {
                    if ready!(read(conn, &mut self.stall, cx))? == 0 {
                        if until_close {
                            self.conn = None;
                            return Poll::Ready(None);
                        }
                        return Poll::Ready(Some(Err(H1Error::ClosedMidBody)));
                    }
                    continue;
                }
            };
            if self.is_complete() {
                self.finish();
            }
            return Poll::Ready(data.map(Ok));
        }
    }

    fn is_complete(&self) -> bool {
        matches!(self.framing, Framing::Length(0))
            || matches!(&self.framing, Framing::Chunked(d) if d.is_done())
    }
}

/// Reads more of the body; an upstream that stalls past `upstream_idle` has failed.
fn read(
    conn: &mut UpstreamConn,
    stall: &mut StallTimer,
    cx: &mut Context<'_>,
) -> Poll<Result<usize, H1Error>> {
    conn.poll_read_within(stall, cx).map_err(|e| {
        if e.kind() == std::io::ErrorKind::TimedOut {
            H1Error::Stalled
        } else {
            e.into()
        }
    })
}

impl Drop for ResponseBody {
    fn drop(&mut self) {
        // A body nobody had to read (HEAD, 204, Content-Length: 0) still frees its
        // connection; one dropped half-read leaves it mid-response, so it closes.
        if self.is_complete() {
            self.finish();
        }
    }
}
