//! Taking client messages out of the bytes a WebSocket connection delivers (RFC 6455 sections
//! 5 and 6, RFC 7692 section 6): frames put together into messages, unmasked, inflated when
//! compressed, text checked to be UTF-8 (as each fragment arrives, so bad text fails at once),
//! control frames handed over between fragments, limits applied before anything is buffered.
//!
//! It does no I/O, so that it can be fuzzed and tested on plain bytes: [`super::socket`] feeds it
//! what it reads. While idle it holds no buffer: the input is let go once it has been used up.

use super::deflate::{self, InflateError};
use super::frame::{self, HeaderError, Opcode};

/// Close codes (RFC 6455 section 7.4.1) for connections failed while reading.
pub(crate) const PROTOCOL_ERROR: u16 = 1002;
pub(crate) const INVALID_DATA: u16 = 1007;
pub(crate) const TOO_BIG: u16 = 1009;

/// A message from the client, or a control frame.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Incoming {
    Text(String),
    Binary(Vec<u8>),
    /// A ping, with its payload (to send back in the pong).
    Ping(Vec<u8>),
    Pong,
    /// The client closes, with its status code if it gave one (a valid one: others fail the
    /// connection).
    Close(Option<u16>),
}

/// Why the connection must be failed: the close frame to send.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Failure {
    pub(crate) code: u16,
    pub(crate) reason: &'static str,
}

impl Failure {
    const fn new(code: u16, reason: &'static str) -> Self {
        Self { code, reason }
    }
}

impl From<HeaderError> for Failure {
    fn from(e: HeaderError) -> Self {
        Self::new(
            PROTOCOL_ERROR,
            match e {
                HeaderError::ReservedBits => "reserved bits set",
                HeaderError::UnknownOpcode(_) => "unknown opcode",
                HeaderError::BadControlFrame => "control frames must be final and at most 125 bytes",
                HeaderError::Unmasked => "client frames must be masked",
                HeaderError::BadLength => "bad frame length",
            },
        )
    }
}

const TOO_BIG_FAILURE: Failure = Failure::new(TOO_BIG, "message too big");

/// A message whose fragments are arriving.
#[derive(Debug)]
struct Partial {
    text: bool,
    compressed: bool,
    data: Vec<u8>,
    /// How much of an uncompressed text's data is known to be valid UTF-8 (a character may be
    /// cut between two fragments).
    checked: usize,
}

/// The reading side of a connection.
#[derive(Debug)]
pub(crate) struct Reader {
    /// permessage-deflate was negotiated: RSV1 marks compressed messages.
    deflate: bool,
    max_message: usize,
    /// Bytes read and not yet taken; `input[..pos]` were taken.
    input: Vec<u8>,
    pos: usize,
    /// Bytes the frame being read still needs (a hint for how much to read).
    want: usize,
    /// Bytes of input to throw away before the next frame (the rest of a frame that is not read).
    skip: u64,
    partial: Option<Partial>,
    /// The hub sent its close frame: data messages are skipped, unread.
    closing: bool,
}

impl Reader {
    pub(crate) fn new(deflate: bool, max_message: usize) -> Self {
        Self { deflate, max_message, input: Vec::new(), pos: 0, want: 0, skip: 0, partial: None, closing: false }
    }

    /// Bytes the frame being read still needs, when known.
    pub(crate) fn wants(&self) -> usize {
        self.want
    }

    /// The input, with what was taken already removed, to append newly read bytes to.
    pub(crate) fn input(&mut self) -> &mut Vec<u8> {
        if self.pos > 0 {
            self.input.drain(..self.pos);
            self.pos = 0;
        }
        &mut self.input
    }

    /// From now on data messages are skipped, unread (the hub sent its close frame).
    pub(crate) fn start_closing(&mut self) {
        self.closing = true;
        self.partial = None;
    }

    /// The next message or control frame in the bytes read so far; `Ok(None)` until one is
    /// complete. After a failure the caller closes the connection with the failure's code.
    pub(crate) fn next(&mut self) -> Result<Option<Incoming>, Failure> {
        let next = self.next_frame();
        if self.pos == self.input.len() {
            // All used up: give the memory back while the connection waits.
            self.input = Vec::new();
            self.pos = 0;
        }
        next
    }

    fn next_frame(&mut self) -> Result<Option<Incoming>, Failure> {
        loop {
            if self.skip > 0 {
                let available = self.input.len() - self.pos;
                let skipped = usize::try_from(self.skip).map_or(available, |skip| skip.min(available));
                self.pos += skipped;
                self.skip -= skipped as u64;
                if self.skip > 0 {
                    self.want = 0;
                    return Ok(None);
                }
            }
            let available = &self.input[self.pos..];
            let Some(header) = frame::read_header(available, self.deflate)? else {
                self.want = 0;
                return Ok(None);
            };
            let is_data = !header.opcode.is_control();
            if is_data && self.closing {
                // Closing: what the client still sends is not read.
                self.skip = header.header_len as u64 + header.len;
                continue;
            }
            let so_far = self.partial.as_ref().map_or(0, |p| p.data.len() as u64);
            if is_data && so_far + header.len > self.max_message as u64 {
                self.partial = None;
                self.closing = true;
                self.skip = header.header_len as u64 + header.len;
                return Err(TOO_BIG_FAILURE);
            }
            // Fits in memory: under the message limit (or 125 bytes for a control frame).
            let total = header.header_len + header.len as usize;
            if available.len() < total {
                self.want = total - available.len();
                return Ok(None);
            }
            self.want = 0;
            let (start, end) = (self.pos + header.header_len, self.pos + total);
            self.pos = end;
            let payload = &mut self.input[start..end];
            frame::apply_mask(payload, header.mask);
            let payload = &self.input[start..end];
            match header.opcode {
                Opcode::Ping => return Ok(Some(Incoming::Ping(payload.to_vec()))),
                Opcode::Pong => return Ok(Some(Incoming::Pong)),
                Opcode::Close => return close_frame(payload).map(|code| Some(Incoming::Close(code))),
                Opcode::Text | Opcode::Binary => {
                    if self.partial.is_some() {
                        return Err(Failure::new(PROTOCOL_ERROR, "a new message started before the last one ended"));
                    }
                    let mut partial = Partial {
                        text: header.opcode == Opcode::Text,
                        compressed: header.compressed,
                        data: payload.to_vec(),
                        checked: 0,
                    };
                    if header.fin {
                        return self.finish(partial).map(Some);
                    }
                    check_utf8(&mut partial, false)?;
                    self.partial = Some(partial);
                }
                Opcode::Continuation => {
                    if header.compressed {
                        // RFC 7692 section 6.1: only a message's first frame has RSV1.
                        return Err(Failure::new(PROTOCOL_ERROR, "RSV1 set on a continuation frame"));
                    }
                    let Some(mut partial) = self.partial.take() else {
                        return Err(Failure::new(PROTOCOL_ERROR, "a continuation frame without a message"));
                    };
                    partial.data.extend_from_slice(payload);
                    if header.fin {
                        return self.finish(partial).map(Some);
                    }
                    check_utf8(&mut partial, false)?;
                    self.partial = Some(partial);
                }
            }
        }
    }

    /// A whole message: inflated if compressed, checked if text.
    fn finish(&mut self, mut message: Partial) -> Result<Incoming, Failure> {
        if message.compressed {
            message.data = deflate::inflate(&message.data, self.max_message).map_err(|e| match e {
                InflateError::TooBig => {
                    self.closing = true;
                    TOO_BIG_FAILURE
                }
                InflateError::Corrupt => Failure::new(INVALID_DATA, "invalid compressed data"),
            })?;
        }
        if !message.text {
            return Ok(Incoming::Binary(message.data));
        }
        check_utf8(&mut message, true)?;
        // Checked just above; the error branch is not taken.
        String::from_utf8(message.data)
            .map(Incoming::Text)
            .map_err(|_| Failure::new(INVALID_DATA, "text must be UTF-8"))
    }
}

/// Checks the UTF-8 of an uncompressed text message's data, as far as it goes: a character cut
/// at the end is fine until the message is `complete`. Invalid text fails as soon as it arrives.
fn check_utf8(message: &mut Partial, complete: bool) -> Result<(), Failure> {
    if !message.text || (message.compressed && !complete) {
        return Ok(());
    }
    match std::str::from_utf8(&message.data[message.checked..]) {
        Ok(_) => {
            message.checked = message.data.len();
            Ok(())
        }
        Err(e) if e.error_len().is_none() && !complete => {
            message.checked += e.valid_up_to();
            Ok(())
        }
        Err(_) => Err(Failure::new(INVALID_DATA, "text must be UTF-8")),
    }
}

/// The status code of a close frame's payload (section 5.5.1), checked with its reason.
fn close_frame(payload: &[u8]) -> Result<Option<u16>, Failure> {
    match payload {
        [] => Ok(None),
        [_] => Err(Failure::new(PROTOCOL_ERROR, "a close frame of one byte")),
        [high, low, reason @ ..] => {
            let code = u16::from_be_bytes([*high, *low]);
            if !frame::close_code_allowed(code) {
                return Err(Failure::new(PROTOCOL_ERROR, "invalid close code"));
            }
            if std::str::from_utf8(reason).is_err() {
                return Err(Failure::new(INVALID_DATA, "the close reason must be UTF-8"));
            }
            Ok(Some(code))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A client frame: masked with a fixed key.
    fn frame(first: u8, payload: &[u8]) -> Vec<u8> {
        let mask = [0x37, 0xFA, 0x21, 0x3D];
        let mut out = vec![first];
        match payload.len() {
            n if n < 126 => out.push(0x80 | n as u8),
            n if n < 65536 => {
                out.push(0x80 | 126);
                out.extend_from_slice(&(n as u16).to_be_bytes());
            }
            n => {
                out.push(0x80 | 127);
                out.extend_from_slice(&(n as u64).to_be_bytes());
            }
        }
        out.extend_from_slice(&mask);
        let mut masked = payload.to_vec();
        frame::apply_mask(&mut masked, mask);
        out.extend_from_slice(&masked);
        out
    }

    fn read_all(reader: &mut Reader, bytes: &[u8]) -> Vec<Result<Incoming, Failure>> {
        reader.input().extend_from_slice(bytes);
        let mut out = Vec::new();
        loop {
            match reader.next() {
                Ok(Some(message)) => out.push(Ok(message)),
                Ok(None) => return out,
                Err(failure) => {
                    out.push(Err(failure));
                    return out;
                }
            }
        }
    }

    #[test]
    fn fragments_and_controls_in_between() {
        let mut reader = Reader::new(false, 1024);
        let mut bytes = frame(0x01, "h\u{e9}".as_bytes());
        bytes.extend(frame(0x89, b"ping"));
        bytes.extend(frame(0x80, b"llo"));
        bytes.extend(frame(0x82, &[1, 2, 3]));
        bytes.extend(frame(0x88, &[0x03, 0xE8, b'o', b'k']));
        // Byte by byte: every cut of every frame.
        let mut got = Vec::new();
        for byte in &bytes {
            got.extend(read_all(&mut reader, &[*byte]));
        }
        assert_eq!(
            got,
            vec![
                Ok(Incoming::Ping(b"ping".to_vec())),
                Ok(Incoming::Text("h\u{e9}llo".into())),
                Ok(Incoming::Binary(vec![1, 2, 3])),
                Ok(Incoming::Close(Some(1000))),
            ]
        );
        assert_eq!(reader.input.capacity(), 0, "nothing kept once used up");
    }

    #[test]
    fn invalid_utf8_fails_in_the_first_fragment() {
        let mut reader = Reader::new(false, 1024);
        // A character cut between fragments is fine...
        let mut bytes = frame(0x01, &[b'a', 0xC3]);
        bytes.extend(frame(0x80, &[0xA9]));
        assert_eq!(read_all(&mut reader, &bytes), vec![Ok(Incoming::Text("a\u{e9}".into()))]);
        // ...a byte that can start no character fails before the message ends.
        let got = read_all(&mut reader, &frame(0x01, &[b'a', 0xFF]));
        assert_eq!(got, vec![Err(Failure::new(INVALID_DATA, "text must be UTF-8"))]);
    }

    #[test]
    fn protocol_errors() {
        let cases: [(Vec<u8>, u16); 6] = [
            (frame(0x80, b"x"), PROTOCOL_ERROR),
            ([frame(0x01, b"x"), frame(0x81, b"y")].concat(), PROTOCOL_ERROR),
            (frame(0xC1, b"x"), PROTOCOL_ERROR),
            (frame(0x88, &[3]), PROTOCOL_ERROR),
            (frame(0x88, &[0x03, 0xED]), PROTOCOL_ERROR),
            (frame(0x88, &[0x03, 0xE8, 0xFF]), INVALID_DATA),
        ];
        for (bytes, code) in cases {
            let got = read_all(&mut Reader::new(false, 1024), &bytes);
            assert!(matches!(got.last(), Some(Err(f)) if f.code == code), "{bytes:?}: {got:?}");
        }
    }

    #[test]
    fn too_big_is_refused_from_the_header_and_skipped() {
        let mut reader = Reader::new(false, 10);
        let mut bytes = frame(0x81, &[b'a'; 11]);
        bytes.extend(frame(0x88, &[0x03, 0xE8]));
        assert_eq!(read_all(&mut reader, &bytes[..8]), vec![Err(TOO_BIG_FAILURE)]);
        // Closing: the rest of the big frame is skipped, the client's close frame read.
        assert_eq!(read_all(&mut reader, &bytes[8..]), vec![Ok(Incoming::Close(Some(1000)))]);
        // Over fragments.
        let mut reader = Reader::new(false, 10);
        let bytes = [frame(0x01, &[b'a'; 6]), frame(0x80, &[b'a'; 6])].concat();
        assert_eq!(read_all(&mut reader, &bytes), vec![Err(TOO_BIG_FAILURE)]);
    }

    #[test]
    fn compressed_messages_are_inflated_within_the_limit() {
        let text = "{\"type\":\"publish\",\"data\":\"hello\"}".repeat(20);
        let compressed = deflate::compress(text.as_bytes(), deflate::Window::Full).unwrap();
        let (first, second) = compressed.split_at(compressed.len() / 2);
        let mut bytes = frame(0x41, first);
        bytes.extend(frame(0x80, second));
        let mut reader = Reader::new(true, 4096);
        assert_eq!(read_all(&mut reader, &bytes), vec![Ok(Incoming::Text(text.clone()))]);
        // Without the extension, RSV1 is a protocol error.
        let got = read_all(&mut Reader::new(false, 4096), &bytes);
        assert!(matches!(got.last(), Some(Err(f)) if f.code == PROTOCOL_ERROR));
        // RSV1 on a continuation frame too.
        let bad = [frame(0x41, first), frame(0xC0, second)].concat();
        let got = read_all(&mut Reader::new(true, 4096), &bad);
        assert!(matches!(got.last(), Some(Err(f)) if f.code == PROTOCOL_ERROR));
        // A bomb: 40 bytes that would inflate to 1 MB.
        let bomb = deflate::compress(&vec![b'a'; 1_000_000], deflate::Window::Full).unwrap();
        let got = read_all(&mut Reader::new(true, 4096), &frame(0xC1, &bomb));
        assert_eq!(got, vec![Err(TOO_BIG_FAILURE)]);
    }
}
