//! One keep-alive connection to an upstream, driven by the task of the request using it.

use std::future::poll_fn;
use std::io;
use std::net::SocketAddr;
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use bytes::BytesMut;
use http::Method;
use switchyard_plugins::FieldSpan;
use tokio::net::TcpStream;

use super::head::{self, Head};
use super::socket::{self, MIN_READ, StallTimer};
use super::{H1Error, RequestFraming, UpstreamRequest};
use crate::proxy::client::ClientBody;
use crate::proxy::wire::push_hex;

/// Request body pieces up to this size are sent with their chunk framing in one write.
const COALESCE: usize = 16 * 1024;

pub struct UpstreamConn {
    stream: TcpStream,
    addr: SocketAddr,
    /// Received and not yet consumed.
    pub(super) buf: BytesMut,
    read_size: usize,
    /// The request head is written here first: one `send` for a bodiless request.
    out: Vec<u8>,
}

/// What [`UpstreamConn::read_head`] read.
pub enum Answer {
    Final(Head),
    /// An informational head for the client, in [`UpstreamConn::interim`].
    Interim,
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

    /// Sends the request: the head, then the body streamed. Each write waits at most
    /// `stall` for the upstream to take bytes; each read of the client's body at most the
    /// client's own `client_timeout`. So a slow upload that keeps moving is never cut off,
    /// whatever the request timeout, which only limits the wait for the answer.
    pub async fn send(
        &mut self,
        req: &UpstreamRequest<'_>,
        body: Option<&mut ClientBody<'_>>,
        stall: Duration,
    ) -> Result<(), Roundtrip> {
        let unsent = |error: H1Error| Roundtrip {
            error,
            unsent: true,
            unanswered: true,
        };
        let head = if req.host_missing {
            // HTTP/1.0 without Host: name the upstream, in the one write of the head.
            use std::io::Write as _;
            self.out.clear();
            self.out.extend_from_slice(req.head);
            // Rare (HTTP/1.0 clients only): `fmt` is fine here.
            let _ = write!(self.out, "host: {}\r\n\r\n", self.addr);
            &self.out[..]
        } else {
            req.head
        };
        socket::write_all(&self.stream, head, stall)
            .await
            .map_err(|e| unsent(e.into()))?;
        if let Some(body) = body
            && req.framing != RequestFraming::None
        {
            self.send_body(body, req.framing == RequestFraming::Chunked, stall)
                .await
                .map_err(unsent)?;
        }
        Ok(())
    }

    async fn send_body(
        &mut self,
        body: &mut ClientBody<'_>,
        chunked: bool,
        stall: Duration,
    ) -> Result<(), H1Error> {
        while let Some(data) = body.next().await {
            let data = data?;
            if data.is_empty() {
                continue;
            }
            if chunked {
                // Size line, data and CRLF in one write when small; the data uncopied when not.
                self.out.clear();
                push_hex(&mut self.out, data.len() as u64);
                self.out.extend_from_slice(b"\r\n");
                if data.len() <= COALESCE {
                    self.out.extend_from_slice(&data);
                    self.out.extend_from_slice(b"\r\n");
                    socket::write_all(&self.stream, &self.out, stall).await?;
                } else {
                    socket::write_all(&self.stream, &self.out, stall).await?;
                    socket::write_all(&self.stream, &data, stall).await?;
                    socket::write_all(&self.stream, b"\r\n", stall).await?;
                }
            } else {
                socket::write_all(&self.stream, &data, stall).await?;
            }
        }
        if chunked {
            socket::write_all(&self.stream, b"0\r\n\r\n", stall).await?;
        }
        Ok(())
    }

    /// Reads the response head, whose fields go to `fields`; or, when `pass_interim`, a
    /// `100`/`103` head for the client, then found in [`interim`](Self::interim).
    /// Unbounded here: the caller limits it by the request timeout.
    pub async fn read_head(
        &mut self,
        method: &Method,
        fields: &mut Vec<FieldSpan>,
        pass_interim: bool,
    ) -> Result<Answer, Roundtrip> {
        let mut answered = !self.buf.is_empty();
        let mut worth_parsing = answered;
        loop {
            let failed = |error: H1Error, answered: bool| Roundtrip {
                error,
                unsent: false,
                unanswered: !answered,
            };
            if worth_parsing {
                self.out.clear();
                let interim = pass_interim.then_some(&mut self.out);
                match head::parse_response(&mut self.buf, method, fields, interim) {
                    Ok(Some(head)) => return Ok(Answer::Final(head)),
                    Ok(None) if !self.out.is_empty() => return Ok(Answer::Interim),
                    Ok(None) => {}
                    Err(e) => return Err(failed(e, true)),
                }
            }
            let before = self.buf.len();
            let read = poll_fn(|cx| self.poll_read_more(cx)).await;
            worth_parsing = head::head_may_end(&self.buf, before, head::MAX_HEAD);
            match read {
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

    /// The informational head [`read_head`](Self::read_head) last handed out.
    pub fn interim(&self) -> &[u8] {
        &self.out
    }

    /// Reads what is available into `buf`; `Ok(0)` at end of stream.
    fn poll_read_more(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<usize>> {
        socket::poll_read_into(&self.stream, &mut self.buf, &mut self.read_size, cx)
    }

    /// [`poll_read_more`](Self::poll_read_more) inside a response body: `TimedOut` when
    /// the upstream sends nothing for the stall timer's limit.
    pub(super) fn poll_read_within(
        &mut self,
        stall: &mut StallTimer,
        cx: &mut Context<'_>,
    ) -> Poll<io::Result<usize>> {
        socket::poll_read_within(&self.stream, &mut self.buf, &mut self.read_size, stall, cx)
    }
}
