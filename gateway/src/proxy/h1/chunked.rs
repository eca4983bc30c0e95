//! Decoding the chunked transfer coding (RFC 9112 §7.1) from a buffer that fills bit by bit.
//! Chunk extensions and trailer fields are read and dropped; data is handed out as slices
//! of the buffer, never copied.
//!
//! Strict where NGINX and HAProxy are (each answers 400 to all of these): no whitespace
//! before a size, no bare CR anywhere in a size line, no size beyond [`MAX_SIZE_DIGITS`]
//! significant digits (leading zeros are fine), bounded extensions, and trailer lines that
//! are fields (`name: value`), bounded in number and size. A request smuggled into a
//! trailer section (`0\r\nGET /x HTTP/1.1\r\n`) is refused, never swallowed.

use bytes::{Bytes, BytesMut};

use super::H1Error;

/// A chunk-size line (size and extensions) longer than this is refused.
const MAX_SIZE_LINE: usize = 4 * 1024;
/// A trailer field longer than this is refused.
const MAX_TRAILER_LINE: usize = 8 * 1024;
/// At most this many trailer fields, and this many bytes of them.
const MAX_TRAILERS: u32 = 32;
const MAX_TRAILER_BYTES: usize = 16 * 1024;
/// Significant hex digits of a chunk size: 10 is just under 1 TiB per chunk, more than the
/// gateway will ever stream in one; a larger size is an attack or a broken peer.
pub const MAX_SIZE_DIGITS: usize = 10;

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
    /// After the last chunk: trailer lines up to an empty one; how many and how long so far.
    Trailers {
        lines: u32,
        bytes: usize,
    },
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
                    let Some(line) = take_line(buf, MAX_SIZE_LINE)? else {
                        return Ok(Decoded::NeedMore);
                    };
                    let size = chunk_size(&line)?;
                    self.state = if size == 0 {
                        State::Trailers { lines: 0, bytes: 0 }
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
                    let Some(line) = take_line(buf, MAX_SIZE_LINE)? else {
                        return Ok(Decoded::NeedMore);
                    };
                    if !line.is_empty() {
                        return Err(H1Error::BadChunk("chunk data longer than its size"));
                    }
                    self.state = State::Size;
                }
                State::Trailers { lines, bytes } => {
                    let Some(line) = take_line(buf, MAX_TRAILER_LINE)? else {
                        return Ok(Decoded::NeedMore);
                    };
                    if line.is_empty() {
                        self.state = State::Done;
                        continue;
                    }
                    let (lines, bytes) = (lines + 1, bytes + line.len());
                    if lines > MAX_TRAILERS || bytes > MAX_TRAILER_BYTES {
                        return Err(H1Error::BadChunk("too many or too large trailer fields"));
                    }
                    if !is_field_line(&line) {
                        return Err(H1Error::BadChunk("a trailer line that is not a field"));
                    }
                    self.state = State::Trailers { lines, bytes };
                }
            }
        }
    }
}

/// One line without its line ending (LF, or CRLF), consumed from `buf`; `None` until it is
/// complete. A CR anywhere else in the line is refused: peers disagree on what a bare CR
/// means, which is how requests are smuggled.
fn take_line(buf: &mut BytesMut, max: usize) -> Result<Option<BytesMut>, H1Error> {
    match buf.iter().take(max + 2).position(|b| *b == b'\n') {
        Some(end) => {
            let mut line = buf.split_to(end + 1);
            line.truncate(end);
            if line.last() == Some(&b'\r') {
                line.truncate(end - 1);
            }
            if line.len() > max {
                return Err(H1Error::BadChunk("line too long"));
            }
            if line.contains(&b'\r') {
                return Err(H1Error::BadChunk("bare CR in a chunk line"));
            }
            Ok(Some(line))
        }
        None if buf.len() > max + 1 => Err(H1Error::BadChunk("line too long")),
        None => Ok(None),
    }
}

/// `chunk-size [ BWS ; chunk-ext ]`: hex digits from the first byte on.
fn chunk_size(line: &[u8]) -> Result<u64, H1Error> {
    let digits_end = line
        .iter()
        .position(|b| !b.is_ascii_hexdigit())
        .unwrap_or(line.len());
    let (digits, rest) = line.split_at(digits_end);
    if digits.is_empty() {
        return Err(H1Error::BadChunk("bad chunk size"));
    }
    let significant = digits
        .iter()
        .position(|d| *d != b'0')
        .map_or(&[][..], |first| &digits[first..]);
    if significant.len() > MAX_SIZE_DIGITS {
        return Err(H1Error::BadChunk("chunk size too large"));
    }
    let extensions = rest.trim_ascii_start();
    if !extensions.is_empty()
        && (extensions[0] != b';' || extensions.iter().any(|b| is_control(*b)))
    {
        return Err(H1Error::BadChunk("bad chunk size or extension"));
    }
    let mut size = 0u64;
    for d in significant {
        let v = match d {
            b'0'..=b'9' => d - b'0',
            b'a'..=b'f' => d - b'a' + 10,
            _ => d - b'A' + 10,
        };
        size = size * 16 + u64::from(v);
    }
    Ok(size)
}

/// Control characters other than horizontal tab.
fn is_control(b: u8) -> bool {
    (b < 0x20 && b != b'\t') || b == 0x7f
}

/// `token ":" value`, the shape of a field line (RFC 9110 §5.6.2, RFC 9112 §5).
fn is_field_line(line: &[u8]) -> bool {
    let Some(colon) = line.iter().position(|b| *b == b':') else {
        return false;
    };
    let (name, value) = (&line[..colon], &line[colon + 1..]);
    !name.is_empty()
        && name.iter().all(|b| is_token_char(*b))
        && !value.iter().any(|b| is_control(*b))
}

pub fn is_token_char(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
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
        assert!(decode_in_steps(&[b'1'; MAX_SIZE_LINE + 10], 4096).is_err());
    }

    fn refused(wire: &[u8]) -> bool {
        [1, 3, wire.len()]
            .iter()
            .all(|step| decode_in_steps(wire, *step).is_err())
    }

    #[test]
    fn refuses_what_nginx_and_haproxy_refuse() {
        assert!(refused(b" 5\r\nhello\r\n0\r\n\r\n"), "leading space");
        assert!(
            refused(b"5\r;x\r\nhello\r\n0\r\n\r\n"),
            "bare CR before extension"
        );
        assert!(
            refused(b"5\r\nhello\r\n0\r\r\n\r\n"),
            "bare CR in the last chunk"
        );
        assert!(refused(b"fffffffffffffff\r\n"), "15 significant digits");
        assert!(refused(b"5 x\r\nhello\r\n0\r\n\r\n"), "junk after the size");
        let long_ext = format!("5;{}\r\nhello\r\n0\r\n\r\n", "a".repeat(MAX_SIZE_LINE));
        assert!(refused(long_ext.as_bytes()), "over-long extension");
        assert!(
            refused(b"0\r\nGET /x HTTP/1.1\r\nHost: a\r\n\r\n"),
            "request in trailers"
        );
        assert!(refused(b"0\r\n folded: x\r\n\r\n"), "folded trailer");
        let many = format!("0\r\n{}\r\n", "a: b\r\n".repeat(MAX_TRAILERS as usize + 1));
        assert!(refused(many.as_bytes()), "too many trailers");
    }

    #[test]
    fn accepts_leading_zeros_whitespace_before_extensions_and_bare_lf() {
        let (data, ended) =
            decode_in_steps(b"0000000000000005 ;a=b\r\nhello\n0\nx-t: 1\n\n", 1).unwrap();
        assert_eq!(data, b"hello");
        assert!(ended);
        let (_, ended) = decode_in_steps(b"ffffffffff\r\n", 64).unwrap();
        assert!(!ended, "10 significant digits are waited on");
    }

    /// Chunked encoding of `data` cut into pieces of the given sizes (0 = the rest).
    fn encode(data: &[u8], cuts: &[usize], extension: bool, trailer: bool) -> Vec<u8> {
        let mut wire = Vec::new();
        let mut rest = data;
        let mut cuts = cuts.iter().cycle();
        while !rest.is_empty() {
            let n = match cuts.next() {
                Some(&c) if c > 0 => c.min(rest.len()),
                _ => rest.len(),
            };
            let ext = if extension { ";name=value" } else { "" };
            wire.extend_from_slice(format!("{n:X}{ext}\r\n").as_bytes());
            wire.extend_from_slice(&rest[..n]);
            wire.extend_from_slice(b"\r\n");
            rest = &rest[n..];
        }
        wire.extend_from_slice(b"0\r\n");
        if trailer {
            wire.extend_from_slice(b"x-checksum: 1\r\n");
        }
        wire.extend_from_slice(b"\r\n");
        wire
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(10_000))]

        #[test]
        fn decoding_an_encoding_gives_the_data_back(
            data in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..300),
            cuts in proptest::collection::vec(0usize..64, 1..6),
            step in 1usize..40,
            extension in proptest::prelude::any::<bool>(),
            trailer in proptest::prelude::any::<bool>(),
        ) {
            let wire = encode(&data, &cuts, extension, trailer);
            let (decoded, ended) = decode_in_steps(&wire, step).unwrap();
            proptest::prop_assert!(ended);
            proptest::prop_assert_eq!(decoded, data);
        }

        #[test]
        fn any_bytes_decode_or_fail_without_panic_or_growth(
            wire in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..200),
            step in 1usize..20,
        ) {
            // Whatever comes back, the data handed out is never more than what was fed.
            if let Ok((data, _)) = decode_in_steps(&wire, step) {
                proptest::prop_assert!(data.len() <= wire.len());
            }
        }
    }
}
