//! Step 3: send the request to the chosen upstream over a pooled (or new) HTTP/1.1
//! connection and wait for the response head.

use std::net::SocketAddr;
use std::pin::pin;
use std::time::Duration;

use switchyard_plugins::FieldSpan;
use switchyard_plugins::request::is_idempotent;
use tokio::net::TcpStream;
use tokio::time::{Instant, timeout};

use super::client::ClientBody;
use super::deadline::ReusedTimer;
use super::h1::{
    Answer, H1Error, Head, RequestFraming, ResponseBody, UpstreamConn, UpstreamRequest,
};

/// Informational heads passed to the client per request; later ones are dropped.
const MAX_INTERIM: u32 = 8;
use super::pool;
use crate::config::Timeouts;
use crate::runtime_state::PoolKey;

#[derive(Debug, thiserror::Error)]
pub enum ForwardError {
    #[error("connect to {addr} failed: {source}")]
    Connect {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("connect to {addr} timed out")]
    ConnectTimeout { addr: SocketAddr },
    #[error("no response from {addr} within the request timeout")]
    Timeout { addr: SocketAddr },
    #[error("exchange with {addr} failed: {source}")]
    Exchange { addr: SocketAddr, source: H1Error },
}

impl ForwardError {
    pub fn is_timeout(&self) -> bool {
        matches!(
            self,
            ForwardError::ConnectTimeout { .. } | ForwardError::Timeout { .. }
        )
    }

    /// Whether the client stopped sending its body for `client_timeout`.
    pub fn is_client_timeout(&self) -> bool {
        matches!(
            self,
            ForwardError::Exchange {
                source: H1Error::ClientBody(inner),
                ..
            } if matches!(&**inner, H1Error::Io(e) if e.kind() == std::io::ErrorKind::TimedOut)
        )
    }

    /// Whether the client, not the upstream, broke the exchange (its body was cut short,
    /// malformed or stalled).
    pub fn is_client_fault(&self) -> bool {
        matches!(
            self,
            ForwardError::Exchange {
                source: H1Error::ClientBody(_),
                ..
            }
        )
    }

    /// Whether the request may have reached the upstream (no connection: it cannot have).
    pub fn maybe_sent(&self) -> bool {
        matches!(
            self,
            ForwardError::Timeout { .. } | ForwardError::Exchange { .. }
        )
    }
}

/// Sends `req` (with `body`, if it has one) and returns the response head, its fields in
/// `fields`, with the body still on the connection; the body returns the connection to the
/// pool once read to the end.
pub async fn exchange(
    addr: SocketAddr,
    key: PoolKey,
    timeouts: &Timeouts,
    timer: &ReusedTimer,
    req: &UpstreamRequest<'_>,
    mut body: Option<&mut ClientBody<'_>>,
    fields: &mut Vec<FieldSpan>,
) -> Result<(Head, ResponseBody), ForwardError> {
    let replayable = req.framing == RequestFraming::None;
    loop {
        let (mut conn, reused) = match pool::take(key) {
            Some(conn) => (conn, true),
            None => (connect(addr, timeouts.connect).await?, false),
        };
        let answered = match conn
            .send(req, body.as_deref_mut(), timeouts.upstream_idle)
            .await
        {
            Err(failed) => Err(failed),
            // The request timeout starts once the request is sent: a long upload that
            // keeps moving is not cut off by it.
            Ok(()) => {
                let deadline = Instant::now() + timeouts.request;
                let mut interims = 0;
                loop {
                    let left = deadline.saturating_duration_since(Instant::now());
                    // 100/103 go to an HTTP/1.1 client as they come, a few at most.
                    let pass_interim = interims < MAX_INTERIM
                        && body.as_deref().is_some_and(ClientBody::takes_interim);
                    let read = {
                        let head = pin!(conn.read_head(req.method, fields, pass_interim));
                        timer.limit(left, head).await
                    };
                    match read {
                        None => return Err(ForwardError::Timeout { addr }),
                        Some(Ok(Answer::Interim)) => {
                            interims += 1;
                            if let Some(body) = body.as_deref_mut() {
                                // A client gone now fails the answer's write later.
                                let _ = body.send_interim(conn.interim()).await;
                            }
                        }
                        Some(Ok(Answer::Final(head))) => break Ok(head),
                        Some(Err(failed)) => break Err(failed),
                    }
                }
            }
        };
        match answered {
            Ok(head) => {
                let body =
                    ResponseBody::new(conn, &head, key, timeouts.idle, timeouts.upstream_idle);
                return Ok((head, body));
            }
            // A pooled connection the upstream closed as we used it: it got no request it
            // could act on (nothing was written, or an idempotent request saw not a byte
            // back), so a bodiless request goes again on another connection. Each pass
            // spends one pooled connection; a fresh one ends the loop.
            Err(failed)
                if reused
                    && replayable
                    && (failed.unsent || (failed.unanswered && is_idempotent(req.method))) => {}
            Err(failed) => {
                return Err(ForwardError::Exchange {
                    addr,
                    source: failed.error,
                });
            }
        }
    }
}

async fn connect(addr: SocketAddr, limit: Duration) -> Result<UpstreamConn, ForwardError> {
    let stream = match timeout(limit, TcpStream::connect(addr)).await {
        Err(_) => return Err(ForwardError::ConnectTimeout { addr }),
        Ok(Err(source)) => return Err(ForwardError::Connect { addr, source }),
        Ok(Ok(stream)) => stream,
    };
    // Small request heads must not wait for Nagle.
    let _ = stream.set_nodelay(true);
    Ok(UpstreamConn::new(stream, addr))
}
