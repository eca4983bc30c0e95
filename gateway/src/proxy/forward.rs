//! Step 3: send the request to the chosen upstream over a pooled (or new) HTTP/1.1
//! connection and wait for the response head.

use std::net::SocketAddr;
use std::time::Duration;

use http::{Request, Response};
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;
use tokio::time::timeout;

use super::body::RequestBody;
use super::deadline::ResponseTimer;
use super::pool::{self, Sender};
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
    #[error("HTTP/1 handshake with {addr} failed: {source}")]
    Handshake {
        addr: SocketAddr,
        source: hyper::Error,
    },
    #[error("no response from {addr} within the request timeout")]
    Timeout { addr: SocketAddr },
    #[error("exchange with {addr} failed: {source}")]
    Exchange {
        addr: SocketAddr,
        source: hyper::Error,
    },
}

impl ForwardError {
    pub fn is_timeout(&self) -> bool {
        matches!(
            self,
            ForwardError::ConnectTimeout { .. } | ForwardError::Timeout { .. }
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

/// Sends `req` and returns the response head with the connection it came on, which goes
/// back to the pool once the body has been read to the end.
pub async fn exchange(
    addr: SocketAddr,
    key: PoolKey,
    timeouts: &Timeouts,
    timer: &ResponseTimer,
    mut req: Request<RequestBody>,
) -> Result<(Response<Incoming>, Sender), ForwardError> {
    loop {
        let (mut sender, reused) = match pool::take(key) {
            Some(sender) => (sender, true),
            None => (connect(addr, timeouts.connect).await?, false),
        };
        if sender.ready().await.is_err() {
            if reused {
                continue;
            }
            return Err(ForwardError::Timeout { addr });
        }
        match timer
            .limit(timeouts.request, sender.try_send_request(req))
            .await
        {
            None => return Err(ForwardError::Timeout { addr }),
            Some(Ok(response)) => return Ok((response, sender)),
            Some(Err(mut failed)) => match failed.take_message() {
                // A pooled connection the upstream closed as we picked it: the request was
                // never written, so sending it on another connection is always safe.
                // Each pass discards one pooled connection, and a fresh one ends the loop.
                Some(unsent) if reused => req = unsent,
                _ => {
                    return Err(ForwardError::Exchange {
                        addr,
                        source: failed.into_error(),
                    });
                }
            },
        }
    }
}

async fn connect(addr: SocketAddr, limit: Duration) -> Result<Sender, ForwardError> {
    let stream = match timeout(limit, TcpStream::connect(addr)).await {
        Err(_) => return Err(ForwardError::ConnectTimeout { addr }),
        Ok(Err(source)) => return Err(ForwardError::Connect { addr, source }),
        Ok(Ok(stream)) => stream,
    };
    // Small request heads must not wait for Nagle.
    let _ = stream.set_nodelay(true);
    let (sender, conn) = hyper::client::conn::http1::Builder::new()
        .writev(false)
        .handshake(TokioIo::new(stream))
        .await
        .map_err(|source| ForwardError::Handshake { addr, source })?;
    tokio::task::spawn_local(async move {
        if let Err(e) = conn.await {
            tracing::debug!(%addr, error = %e, "upstream connection ended with an error");
        }
    });
    Ok(sender)
}
