//! The client side of the proxy: our own HTTP/1.1 server connection. It reads a request
//! head, hands it to the data path with the body still on the socket, and writes the
//! answer, all in the connection's own task. Heads are parsed once and forwarded from the
//! received bytes; nothing per request goes through a header map, a channel or a second
//! task. See `tests/bench/instructions.sh` for what that saves against hyper's server.

mod body;
mod idle;
mod io;
mod request;
mod response;
mod spare;
mod stop;

use std::pin::pin;
use std::time::Duration;

use arc_swap::ArcSwap;
use http::Method;
use switchyard_plugins::FieldSpan;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

use super::h1::head::head_may_end;
pub use body::ClientBody;
use idle::IdleClock;
use io::ClientIo;
use request::BadRequest;
pub use request::{RequestHead, parse as parse_head, path_of};
use response::Recipient;
pub use stop::StopSignal;

use super::ClientConn;
use super::respond::{LocalReply, Reply};
use crate::snapshot::Snapshot;

/// A request body up to this size that no upstream read (a refused request) is read and
/// dropped, so the connection can go on; a longer one closes it.
const DISCARD_LIMIT: u64 = 1 << 20;
/// After a refusal that closes the connection, what the client still sends is read and
/// dropped for this long at most, so that closing with unread bytes (a TCP reset) does
/// not destroy the answer before the client reads it.
const LINGER: Duration = Duration::from_secs(2);
const LINGER_BYTES: usize = 4 << 20;

/// Buffers one request uses, from the worker's spares (see [`spare`]).
#[derive(Default)]
struct Scratch {
    response_fields: Vec<FieldSpan>,
    upstream_head: Vec<u8>,
    out: Vec<u8>,
}

/// Serves requests on one client connection until either side ends it.
pub async fn serve(
    snapshots: &ArcSwap<Snapshot>,
    client: &ClientConn,
    stream: TcpStream,
    stop: &StopSignal,
) {
    // Read per connection: a reload applies to connections accepted after it.
    let client_timeout = snapshots.load().config.client_timeout;
    let mut io = ClientIo::new(stream, client_timeout);
    // Where the request head's fields are found: a few bytes per field, kept.
    let mut request_fields = Vec::new();
    let mut stopped = pin!(stop.wait());
    let mut idle = IdleClock::new(client_timeout);
    let mut answered = 0u64;
    while !stop.is_stopping() {
        let waited = tokio::select! {
            biased;
            waited = next_head(&mut io, &mut request_fields) => waited,
            () = idle.unused(answered) => {
                tracing::debug!(peer = %client.peer, "closing a client connection unused for client_timeout");
                return;
            }
            () = stopped.as_mut() => return,
        };
        let head = match waited {
            Ok(Some(head)) => head,
            Ok(None) => {
                tracing::debug!(peer = %client.peer, "client closed the connection");
                return;
            }
            Err(bad) => {
                tracing::debug!(peer = %client.peer, status = %bad.status, why = bad.why, "bad request");
                refuse_and_close(&mut io, &mut Vec::new(), bad).await;
                return;
            }
        };
        let mut scratch = spare::scratch();
        let kept = exchange(
            snapshots,
            client,
            &mut io,
            &mut scratch,
            &request_fields,
            &head,
            stop,
        )
        .await;
        spare::give_scratch(scratch);
        if !kept {
            let _ = io.stream.shutdown().await;
            return;
        }
        answered += 1;
    }
}

/// One request and its answer; true when the connection can carry the next one.
async fn exchange(
    snapshots: &ArcSwap<Snapshot>,
    client: &ClientConn,
    io: &mut ClientIo,
    scratch: &mut Scratch,
    request_fields: &[FieldSpan],
    head: &RequestHead,
    stop: &StopSignal,
) -> bool {
    let mut body = ClientBody::new(io, head.framing, head.expect_continue, !head.http10);
    let reply = super::handle(
        snapshots,
        client,
        super::Exchange {
            request: head,
            request_fields,
            body: &mut body,
            response_fields: &mut scratch.response_fields,
            upstream_head: &mut scratch.upstream_head,
        },
    )
    .await;
    let body_done = body.is_complete() || body.discard(DISCARD_LIMIT).await;
    let to = Recipient {
        http10: head.http10,
        head_request: head.method == Method::HEAD,
        keep_alive: head.keep_alive && body_done && !stop.is_stopping(),
    };
    let kept = response::send(io, &mut scratch.out, reply, &scratch.response_fields, &to).await;
    if !body_done {
        linger(io).await;
    }
    kept
}

/// Reads until a whole request head is buffered. `Ok(None)`: the connection ended first.
async fn next_head(
    io: &mut ClientIo,
    fields: &mut Vec<FieldSpan>,
) -> Result<Option<RequestHead>, BadRequest> {
    // Pipelined: the next head may be buffered already.
    let mut worth_parsing = !io.buf.is_empty();
    loop {
        if worth_parsing && let Some(head) = request::parse(&mut io.buf, fields)? {
            return Ok(Some(head));
        }
        let before = io.buf.len();
        match io.read_more_when_ready().await {
            Ok(0) | Err(_) => return Ok(None),
            Ok(_) => {}
        }
        // A head ends with a line feed: a read without one cannot complete it, so a head
        // trickling in byte by byte is not parsed again for each byte.
        worth_parsing = head_may_end(&io.buf, before, request::MAX_REQUEST_HEAD);
    }
}

async fn refuse_and_close(io: &mut ClientIo, out: &mut Vec<u8>, bad: BadRequest) {
    let to = Recipient {
        http10: false,
        head_request: false,
        keep_alive: false,
    };
    let refusal = Reply::Local(LocalReply {
        status: bad.status,
        headers: Vec::new(),
        body: format!("switchyard: {}\n", bad.why).into(),
    });
    let _ = response::send(io, out, refusal, &[], &to).await;
    linger(io).await;
}

/// Closes our side, then reads and drops what the client still sends (bounded), so its
/// unread bytes do not turn our close into a reset that could destroy the answer.
async fn linger(io: &mut ClientIo) {
    let _ = io.stream.shutdown().await;
    let _ = tokio::time::timeout(LINGER, async {
        let mut dropped = 0;
        while dropped < LINGER_BYTES {
            io.buf.clear();
            match io.read_more().await {
                Ok(0) | Err(_) => return,
                Ok(n) => dropped += n,
            }
        }
    })
    .await;
}
