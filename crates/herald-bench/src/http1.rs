//! A minimal HTTP/1.1 client side for long-lived responses: the response head, then the body
//! decoded incrementally (chunked, fixed length, or up to the close), chunk by chunk as it
//! arrives, with no copy of the payload; or, for short answers, the whole body at once.

use tokio::io::AsyncReadExt;
use tokio::net::TcpStream;

/// Longest response head accepted.
const MAX_HEAD: usize = 64 * 1024;

/// A response's status and how its body is delimited.
#[derive(Debug)]
pub(crate) struct Head {
    pub status: u16,
    pub body: Body,
    /// The `Retry-After` header in seconds, when it is one.
    pub retry_after: Option<u64>,
}

/// Reads a response head from `stream`. Bytes read past the head stay at the start of `buf`.
pub(crate) async fn read_head(stream: &mut TcpStream, buf: &mut Vec<u8>) -> std::io::Result<Head> {
    buf.clear();
    loop {
        let mut headers = [httparse::EMPTY_HEADER; 32];
        let mut response = httparse::Response::new(&mut headers);
        match response.parse(buf) {
            Ok(httparse::Status::Complete(len)) => {
                let retry_after = response
                    .headers
                    .iter()
                    .find(|h| h.name.eq_ignore_ascii_case("retry-after"))
                    .and_then(|h| std::str::from_utf8(h.value).ok()?.trim().parse().ok());
                let head =
                    Head { status: response.code.unwrap_or(0), body: Body::for_headers(response.headers), retry_after };
                buf.drain(..len);
                return Ok(head);
            }
            Ok(httparse::Status::Partial) if buf.len() < MAX_HEAD => {}
            Ok(httparse::Status::Partial) => return Err(invalid("response head too long")),
            Err(e) => return Err(invalid(&format!("bad response head: {e}"))),
        }
        buf.reserve(4096);
        if stream.read_buf(buf).await? == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
    }
}

/// Reads a whole response from `stream`: its status and its body. `None` if the target closed
/// the connection before the response was complete. Bytes past the body are dropped (the
/// request was the only one in flight).
pub(crate) async fn read_response(stream: &mut TcpStream, buf: &mut Vec<u8>) -> Result<Option<(u16, Vec<u8>)>, String> {
    let head = match read_head(stream, buf).await {
        Ok(head) => head,
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => return Ok(None),
        Err(e) => return Err(format!("answer: {e}")),
    };
    let mut body_kind = head.body;
    let mut body = Vec::new();
    let mut finished = body_kind.is_empty();
    loop {
        finished |= body_kind.feed(buf, &mut |piece| body.extend_from_slice(piece)).map_err(|e| e.to_string())?;
        buf.clear();
        if finished {
            break;
        }
        if stream.read_buf(buf).await.map_err(|e| format!("answer body: {e}"))? == 0 {
            return Ok(None);
        }
    }
    Ok(Some((head.status, body)))
}

/// An incremental body decoder.
#[derive(Debug)]
pub(crate) enum Body {
    Chunked(Chunked),
    Length(u64),
    UntilClose,
}

impl Body {
    fn for_headers(headers: &[httparse::Header<'_>]) -> Self {
        let value = |name: &str| headers.iter().find(|h| h.name.eq_ignore_ascii_case(name)).map(|h| h.value);
        if value("transfer-encoding").is_some_and(|v| v.to_ascii_lowercase().ends_with(b"chunked")) {
            return Body::Chunked(Chunked::default());
        }
        match value("content-length").and_then(|v| std::str::from_utf8(v).ok()?.trim().parse().ok()) {
            Some(length) => Body::Length(length),
            None => Body::UntilClose,
        }
    }

    /// Decodes `input`, passing each piece of body to `out`; returns `true` once the body is
    /// complete (bytes after its end are ignored).
    pub(crate) fn feed<'a>(&mut self, input: &'a [u8], out: &mut impl FnMut(&'a [u8])) -> std::io::Result<bool> {
        match self {
            Body::Chunked(chunked) => chunked.feed(input, out),
            Body::Length(remaining) => {
                let take = input.len().min(usize::try_from(*remaining).unwrap_or(usize::MAX));
                if take > 0 {
                    out(&input[..take]);
                }
                *remaining -= take as u64;
                Ok(*remaining == 0)
            }
            Body::UntilClose => {
                out(input);
                Ok(false)
            }
        }
    }

    /// Whether a body delimited this way is already complete before any byte (an empty body).
    pub(crate) fn is_empty(&self) -> bool {
        matches!(self, Body::Length(0))
    }
}

/// The `Transfer-Encoding: chunked` state machine.
#[derive(Debug, Default)]
pub(crate) struct Chunked {
    state: ChunkState,
    size: u64,
}

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
enum ChunkState {
    /// Reading hex digits of the next chunk size.
    #[default]
    Size,
    /// Skipping a chunk extension up to the end of the size line.
    Extension,
    /// Expecting the LF of the size line.
    SizeLf,
    /// Inside a chunk, `size` bytes to go.
    Data,
    /// Expecting the CR (then LF) after a chunk's data.
    DataCr,
    DataLf,
    /// The last chunk was read; trailers and the final CRLF follow and are ignored.
    Done,
}

impl Chunked {
    fn feed<'a>(&mut self, mut input: &'a [u8], out: &mut impl FnMut(&'a [u8])) -> std::io::Result<bool> {
        while !input.is_empty() && self.state != ChunkState::Done {
            if self.state == ChunkState::Data {
                let take = input.len().min(usize::try_from(self.size).unwrap_or(usize::MAX));
                out(&input[..take]);
                input = &input[take..];
                self.size -= take as u64;
                if self.size == 0 {
                    self.state = ChunkState::DataCr;
                }
                continue;
            }
            let byte = input[0];
            input = &input[1..];
            self.state = match (self.state, byte) {
                (ChunkState::Size, b'\r') => ChunkState::SizeLf,
                (ChunkState::Size, b';' | b' ' | b'\t') => ChunkState::Extension,
                (ChunkState::Size, digit) => {
                    let value = (digit as char).to_digit(16).ok_or_else(|| invalid("bad chunk size"))?;
                    self.size = self.size.checked_mul(16).ok_or_else(|| invalid("chunk too large"))? + u64::from(value);
                    ChunkState::Size
                }
                (ChunkState::Extension, b'\r') => ChunkState::SizeLf,
                (ChunkState::Extension, _) => ChunkState::Extension,
                (ChunkState::SizeLf, b'\n') if self.size == 0 => ChunkState::Done,
                (ChunkState::SizeLf, b'\n') => ChunkState::Data,
                (ChunkState::DataCr, b'\r') => ChunkState::DataLf,
                (ChunkState::DataLf, b'\n') => ChunkState::Size,
                _ => return Err(invalid("bad chunked encoding")),
            };
        }
        Ok(self.state == ChunkState::Done)
    }
}

fn invalid(message: &str) -> std::io::Error {
    std::io::Error::new(std::io::ErrorKind::InvalidData, message.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode_in_pieces(body: &mut Body, wire: &[u8], piece: usize) -> (Vec<u8>, bool) {
        let mut decoded = Vec::new();
        let mut done = false;
        for part in wire.chunks(piece) {
            done = body.feed(part, &mut |bytes| decoded.extend_from_slice(bytes)).expect("valid encoding");
        }
        (decoded, done)
    }

    #[test]
    fn chunked_body_split_anywhere() {
        let wire = b"5\r\nhello\r\n7;ext=1\r\n, world\r\n0\r\n\r\n";
        for piece in 1..wire.len() {
            let (decoded, done) = decode_in_pieces(&mut Body::Chunked(Chunked::default()), wire, piece);
            assert_eq!(decoded, b"hello, world", "pieces of {piece}");
            assert!(done);
        }
    }

    #[test]
    fn chunked_body_stays_open_until_the_last_chunk() {
        let (decoded, done) = decode_in_pieces(&mut Body::Chunked(Chunked::default()), b"a\r\n0123456789\r\n", 4);
        assert_eq!(decoded, b"0123456789");
        assert!(!done);
    }

    #[test]
    fn bad_chunk_size_is_an_error() {
        let mut body = Body::Chunked(Chunked::default());
        assert!(body.feed(b"zz\r\n", &mut |_| {}).is_err());
    }

    #[test]
    fn fixed_length_body_ends_at_its_length() {
        let (decoded, done) = decode_in_pieces(&mut Body::Length(5), b"helloEXTRA", 3);
        assert_eq!(decoded, b"hello");
        assert!(done);
    }
}
