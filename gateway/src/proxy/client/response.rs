//! Answers to the client: an upstream's head and body streamed through, or the gateway's
//! own short answer. Small answers leave in one write, head and body together.

use std::future::poll_fn;
use std::task::Poll;

use bytes::Bytes;
use http::StatusCode;
use switchyard_plugins::FieldSpan;

use super::io::ClientIo;
use crate::proxy::date::write_date_field;
use crate::proxy::headers::{self, ClientFraming};
use crate::proxy::respond::{LocalReply, Reply, Upstreamed};
use crate::proxy::wire::{push_decimal, push_hex};

/// Body pieces up to this size are copied behind the head (one write); larger ones are
/// written from where they are.
const COALESCE: usize = 16 * 1024;

/// What the response must respect of the request it answers.
pub struct Recipient {
    pub http10: bool,
    pub head_request: bool,
    /// The connection may carry another request after this answer.
    pub keep_alive: bool,
}

impl Recipient {
    fn connection_field(&self, keep_alive: bool) -> Option<&'static str> {
        match (keep_alive, self.http10) {
            (false, _) => Some("close"),
            (true, true) => Some("keep-alive"),
            (true, false) => None,
        }
    }
}

/// Sends `reply`; true when the connection can carry the next request.
pub async fn send(
    io: &mut ClientIo,
    out: &mut Vec<u8>,
    reply: Reply,
    fields: &[FieldSpan],
    to: &Recipient,
) -> bool {
    out.clear();
    match reply {
        Reply::Local(local) => {
            write_local(out, &local, to);
            io.write_all(out).await.is_ok() && to.keep_alive
        }
        Reply::Upstream(upstreamed) => stream_upstream(io, out, upstreamed, fields, to).await,
    }
}

fn write_local(out: &mut Vec<u8>, local: &LocalReply, to: &Recipient) {
    let status = local.status;
    let bodiless = to.head_request
        || status.is_informational()
        || status == StatusCode::NO_CONTENT
        || status == StatusCode::NOT_MODIFIED;
    headers::status_line(
        out,
        status,
        status.canonical_reason().unwrap_or("").as_bytes(),
    );
    write_date_field(out);
    let mut typed = false;
    for (name, value) in &local.headers {
        if !headers::own_answer_may_carry(name) {
            continue;
        }
        typed |= name.eq_ignore_ascii_case("content-type");
        out.extend_from_slice(name.as_bytes());
        out.extend_from_slice(b": ");
        out.extend_from_slice(value.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    if !typed {
        out.extend_from_slice(b"content-type: text/plain; charset=utf-8\r\n");
    }
    if status != StatusCode::NO_CONTENT && !status.is_informational() {
        out.extend_from_slice(b"content-length: ");
        push_decimal(out, local.body.len() as u64);
        out.extend_from_slice(b"\r\n");
    }
    if let Some(connection) = to.connection_field(to.keep_alive) {
        out.extend_from_slice(b"connection: ");
        out.extend_from_slice(connection.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b"\r\n");
    if !bodiless {
        out.extend_from_slice(&local.body);
    }
}

async fn stream_upstream(
    io: &mut ClientIo,
    out: &mut Vec<u8>,
    upstreamed: Upstreamed,
    fields: &[FieldSpan],
    to: &Recipient,
) -> bool {
    let Upstreamed {
        head,
        mut body,
        in_flight,
        additions,
    } = upstreamed;
    let framing = ClientFraming::of(&head, to.http10);
    let keep_alive = to.keep_alive && framing != ClientFraming::UntilClose;
    headers::write_client(
        out,
        &head,
        fields,
        framing,
        &additions,
        to.connection_field(keep_alive),
    );
    // The head's bytes share the upstream read buffer's allocation: let it go for reuse.
    drop(head);
    let chunked = framing == ClientFraming::Chunked;
    loop {
        // Ask once; only when the upstream has nothing more yet is what is gathered sent.
        let piece = match poll_fn(|cx| Poll::Ready(body.poll_next(cx))).await {
            Poll::Ready(piece) => piece,
            Poll::Pending => {
                if flush(io, out).await.is_err() {
                    return false;
                }
                poll_fn(|cx| body.poll_next(cx)).await
            }
        };
        match piece {
            Some(Ok(data)) => {
                if frame(io, out, data, chunked).await.is_err() {
                    return false;
                }
            }
            None => break,
            Some(Err(e)) => {
                // Too late for a status: what was sent stands, and the cut-short framing
                // (missing bytes or last chunk) tells the client it is incomplete.
                tracing::warn!(error = %e, "upstream response body failed");
                let _ = flush(io, out).await;
                return false;
            }
        }
    }
    // The upstream's part is over (its connection is pooled already).
    drop(in_flight);
    if chunked {
        out.extend_from_slice(b"0\r\n\r\n");
    }
    flush(io, out).await.is_ok() && keep_alive
}

/// Adds one body piece to the answer, framed; large pieces go out without a copy.
async fn frame(
    io: &mut ClientIo,
    out: &mut Vec<u8>,
    data: Bytes,
    chunked: bool,
) -> std::io::Result<()> {
    if data.is_empty() {
        return Ok(());
    }
    if chunked {
        push_hex(out, data.len() as u64);
        out.extend_from_slice(b"\r\n");
    }
    if out.len() + data.len() <= COALESCE {
        out.extend_from_slice(&data);
    } else {
        flush(io, out).await?;
        io.write_all(&data).await?;
    }
    if chunked {
        out.extend_from_slice(b"\r\n");
    }
    Ok(())
}

async fn flush(io: &mut ClientIo, out: &mut Vec<u8>) -> std::io::Result<()> {
    if !out.is_empty() {
        io.write_all(out).await?;
        out.clear();
    }
    Ok(())
}
