//! Decoding the chunked transfer coding (RFC 9112 §7.1) from a buffer that fills bit by bit.
//! Chunk extensions and trailer fields are read and dropped; data is handed out as slices
//! of the buffer, never copied.

use bytes::{Bytes, BytesMut};

use super::H1Error;

/// A chunk-size line or a trailer field longer than this is refused.
const MAX_LINE: usize = 8 * 1024;

#[derive(Debug, Default)]
pub struct ChunkedDecoder {
    state: State,
}

#[derive(Debug, Default)]
enum State {
    /// At the start of a chunk-size line.
    #[default]
    Size,
    /// This many data bytes left in the chunk, then CRLF.
    Data(u64),
    /// The CRLF after a chunk's data.
    DataEnd,
    /// After the last chunk: trailer lines up to an empty one.
    Trailers,
    Done,
}

pub enum Decoded {
    Data(Bytes),
    /// The buffer holds no complete next step; read more.
    NeedMore,
    End,
}

impl ChunkedDecoder {
    pub fn is_done(&self) -> bool {
        matches!(self.state, State::Done)
    }

    pub fn decode(&mut self, buf: &mut BytesMut) -> Result<Decoded, H1Error> {
        loop {
            match self.state {
                State::Done => return Ok(Decoded::End),
                State::Size => {
                    let Some(line) = take_line(buf)? else {
                        return Ok(Decoded::NeedMore);
                    };
                    let size = chunk_size(&line)?;
                    self.state = if size == 0 {
                        State::Trailers
                    } else {
                        State::Data(size)
                    };
                }
                State::Data(left) => {
                    if buf.is_empty() {
                        return Ok(Decoded::NeedMore);
                    }
                    let n = usize::try_from(left).unwrap_or(usize::MAX).min(buf.len());
                    let rest = left - n as u64;
                    self.state = if rest == 0 {
                        State::DataEnd
                    } else {
                        State::Data(rest)
                    };
                    return Ok(Decoded::Data(buf.split_to(n).freeze()));
                }
                State::DataEnd => {
                    let Some(line) = take_line(buf)? else {
                        return Ok(Decoded::NeedMore);
                    };
                    if !line.is_empty() {
                        return Err(H1Error::BadChunk("chunk data longer than its size"));
                    }
                    self.state = State::Size;
                }
                State::Trailers => {
                    let Some(line) = take_line(buf)? else {
                        return Ok(Decoded::NeedMore);
                    };
                    if line.is_empty() {
                        self.state = State::Done;
                    }
                }
            }
        }
    }
}

/// One line without its line ending, consumed from `buf`; `None` until it is complete.
fn take_line(buf: &mut BytesMut) -> Result<Option<BytesMut>, H1Error> {
    match buf.iter().position(|b| *b == b'\n') {
        Some(end) => {
            let mut line = buf.split_to(end + 1);
            line.truncate(end);
            if line.last() == Some(&b'\r') {
                line.truncate(end - 1);
            }
            Ok(Some(line))
        }
        None if buf.len() > MAX_LINE => Err(H1Error::BadChunk("line too long")),
        None => Ok(None),
    }
}

fn chunk_size(line: &[u8]) -> Result<u64, H1Error> {
    let digits = line
        .split(|b| *b == b';')
        .next()
        .unwrap_or_default()
        .trim_ascii();
    if digits.is_empty() || digits.len() > 15 {
        return Err(H1Error::BadChunk("bad chunk size"));
    }
    let mut size = 0u64;
    for d in digits {
        let v = match d {
            b'0'..=b'9' => d - b'0',
            b'a'..=b'f' => d - b'a' + 10,
            b'A'..=b'F' => d - b'A' + 10,
            _ => return Err(H1Error::BadChunk("bad chunk size")),
        };
        size = size * 16 + u64::from(v);
    }
    Ok(size)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Feeds `wire` in pieces of `step` bytes; returns the data and whether the end was seen.
    fn decode_in_steps(wire: &[u8], step: usize) -> Result<(Vec<u8>, bool), H1Error> {
        let mut decoder = ChunkedDecoder::default();
        let mut buf = BytesMut::new();
        let mut data = Vec::new();
        let mut fed = 0;
        loop {
            match decoder.decode(&mut buf)? {
                Decoded::Data(d) => data.extend_from_slice(&d),
                Decoded::End => return Ok((data, true)),
                Decoded::NeedMore if fed >= wire.len() => return Ok((data, false)),
                Decoded::NeedMore => {
                    let end = (fed + step).min(wire.len());
                    buf.extend_from_slice(&wire[fed..end]);
                    fed = end;
                }
            }
        }
    }

    #[test]
    fn decodes_whatever_the_pieces() {
        let wire =
            b"5;ext=1\r\nhello\r\n1A\r\nabcdefghijklmnopqrstuvwxyz\r\n0\r\nx-trailer: 1\r\n\r\n";
        for step in [1, 2, 3, 7, 64, wire.len()] {
            let (data, ended) = decode_in_steps(wire, step).unwrap();
            assert_eq!(data, b"helloabcdefghijklmnopqrstuvwxyz", "step {step}");
            assert!(ended, "step {step}");
        }
    }

    #[test]
    fn waits_for_an_unfinished_body_and_refuses_broken_ones() {
        let (data, ended) = decode_in_steps(b"5\r\nhel", 2).unwrap();
        assert_eq!(data, b"hel");
        assert!(!ended);
        assert!(decode_in_steps(b"zz\r\n", 4).is_err());
        assert!(decode_in_steps(b"2\r\nabc\r\n", 4).is_err());
        assert!(decode_in_steps(b"ffffffffffffffffff\r\n", 4).is_err());
        assert!(decode_in_steps(&[b'1'; MAX_LINE + 10], 4096).is_err());
    }
}
