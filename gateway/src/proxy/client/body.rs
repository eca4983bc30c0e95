//! The client's request body, read off its connection as the upstream takes it: never
//! buffered whole. Sizes are checked against the head's framing; chunked bodies are decoded
//! (and re-chunked upstream).

use bytes::Bytes;

use super::io::ClientIo;
use crate::proxy::h1::chunked::{ChunkedDecoder, Decoded};
use crate::proxy::h1::{H1Error, RequestFraming};

const CONTINUE: &[u8] = b"HTTP/1.1 100 Continue\r\n\r\n";

pub struct ClientBody<'c> {
    io: &'c mut ClientIo,
    state: State,
    /// The client waits for `100 Continue` before it sends the body.
    send_continue: bool,
    /// An HTTP/1.1 client: it may be sent informational answers.
    takes_interim: bool,
}

enum State {
    Length(u64),
    Chunked(ChunkedDecoder),
    Done,
    Failed,
}

impl<'c> ClientBody<'c> {
    pub fn new(
        io: &'c mut ClientIo,
        framing: RequestFraming,
        expect_continue: bool,
        takes_interim: bool,
    ) -> Self {
        let state = match framing {
            RequestFraming::None | RequestFraming::Length(0) => State::Done,
            RequestFraming::Length(n) => State::Length(n),
            RequestFraming::Chunked => State::Chunked(ChunkedDecoder::default()),
        };
        let send_continue = expect_continue && !matches!(state, State::Done);
        Self {
            io,
            state,
            send_continue,
            takes_interim,
        }
    }

    /// Whether the client may be sent an informational head (`103 Early Hints`).
    pub fn takes_interim(&self) -> bool {
        self.takes_interim
    }

    /// Sends an upstream's informational head to the client, ahead of the answer.
    pub async fn send_interim(&mut self, head: &[u8]) -> std::io::Result<()> {
        self.io.write_all(head).await
    }

    /// How the body goes upstream.
    pub fn framing(&self) -> RequestFraming {
        match self.state {
            State::Length(n) => RequestFraming::Length(n),
            State::Chunked(_) => RequestFraming::Chunked,
            State::Done | State::Failed => RequestFraming::None,
        }
    }

    /// Whether the body was read to its end (or there was none): the connection is then
    /// at the start of the next request.
    pub fn is_complete(&self) -> bool {
        matches!(self.state, State::Done)
    }

    /// The next piece of the body; `None` at its end.
    pub async fn next(&mut self) -> Option<Result<Bytes, H1Error>> {
        let polled = self.next_piece().await;
        if let Some(Err(_)) = &polled {
            self.state = State::Failed;
        }
        polled.map(|piece| piece.map_err(|e| H1Error::ClientBody(Box::new(e))))
    }

    async fn next_piece(&mut self) -> Option<Result<Bytes, H1Error>> {
        if self.send_continue {
            self.send_continue = false;
            // Nothing of the body has come yet: the client is waiting to be asked.
            if self.io.buf.is_empty()
                && let Err(e) = self.io.write_all(CONTINUE).await
            {
                return Some(Err(e.into()));
            }
        }
        loop {
            let data = match &mut self.state {
                State::Done | State::Failed => return None,
                State::Length(left) if !self.io.buf.is_empty() => {
                    let n = usize::try_from(*left)
                        .unwrap_or(usize::MAX)
                        .min(self.io.buf.len());
                    *left -= n as u64;
                    if *left == 0 {
                        self.state = State::Done;
                    }
                    self.io.buf.split_to(n).freeze()
                }
                State::Chunked(decoder) => match decoder.decode(&mut self.io.buf) {
                    Ok(Decoded::Data(data)) => data,
                    Ok(Decoded::End) => {
                        self.state = State::Done;
                        return None;
                    }
                    Ok(Decoded::NeedMore) => {
                        if let Err(e) = self.fill().await {
                            return Some(Err(e));
                        }
                        continue;
                    }
                    Err(e) => return Some(Err(e)),
                },
                State::Length(_) => {
                    if let Err(e) = self.fill().await {
                        return Some(Err(e));
                    }
                    continue;
                }
            };
            return Some(Ok(data));
        }
    }

    async fn fill(&mut self) -> Result<(), H1Error> {
        match self.io.read_more_within().await? {
            0 => Err(H1Error::ClientClosedMidBody),
            _ => Ok(()),
        }
    }

    /// Reads and drops what is left of the body, up to `limit` bytes, so the connection can
    /// carry the next request. False when the body is longer, broken, or the client left.
    pub async fn discard(&mut self, limit: u64) -> bool {
        if self.send_continue {
            // The client holds its body back until asked; it is not asked, the connection
            // closes instead (RFC 9110 §10.1.1).
            return false;
        }
        if let State::Length(left) = self.state
            && left > limit
        {
            return false;
        }
        let mut seen = 0u64;
        while let Some(piece) = self.next().await {
            match piece {
                Ok(data) => seen += data.len() as u64,
                Err(_) => return false,
            }
            if seen > limit {
                return false;
            }
        }
        self.is_complete()
    }
}
