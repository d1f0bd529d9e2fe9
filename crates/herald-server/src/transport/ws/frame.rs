//! RFC 6455 framing (section 5): reading a frame's header from the bytes a client sent, and
//! writing the header of a frame the hub sends.
//!
//! Kept apart from the socket so that the rules a frame must follow (reserved bits, opcodes,
//! masking, control frame limits, lengths) live in one small, pure, fuzzable place. The payload
//! is never copied here: the reader says how long it is and where it starts, the writer builds
//! only the 2 to 10 header bytes that go in front of a (possibly shared) payload.

use std::fmt;

/// Frame opcodes (section 5.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Opcode {
    Continuation,
    Text,
    Binary,
    Close,
    Ping,
    Pong,
}

impl Opcode {
    fn from_bits(bits: u8) -> Option<Self> {
        Some(match bits {
            0x0 => Self::Continuation,
            0x1 => Self::Text,
            0x2 => Self::Binary,
            0x8 => Self::Close,
            0x9 => Self::Ping,
            0xA => Self::Pong,
            _ => return None,
        })
    }

    fn bits(self) -> u8 {
        match self {
            Self::Continuation => 0x0,
            Self::Text => 0x1,
            Self::Binary => 0x2,
            Self::Close => 0x8,
            Self::Ping => 0x9,
            Self::Pong => 0xA,
        }
    }

    /// Close, ping and pong: at most 125 bytes, never fragmented, allowed between the fragments
    /// of a message.
    pub(crate) fn is_control(self) -> bool {
        matches!(self, Self::Close | Self::Ping | Self::Pong)
    }
}

/// A frame header as a client sent it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Header {
    pub(crate) fin: bool,
    /// RSV1: with permessage-deflate, set on the first frame of a compressed message.
    pub(crate) compressed: bool,
    pub(crate) opcode: Opcode,
    pub(crate) mask: [u8; 4],
    /// Payload length.
    pub(crate) len: u64,
    /// Header length: the payload starts this many bytes after the frame's first byte.
    pub(crate) header_len: usize,
}

/// Why a frame header breaks the protocol: the connection fails with close code 1002.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum HeaderError {
    /// RSV2 or RSV3 set, or RSV1 without a negotiated extension that defines it (or on a
    /// control frame, where permessage-deflate does not allow it).
    ReservedBits,
    /// An opcode RFC 6455 does not define.
    UnknownOpcode(u8),
    /// A control frame that is fragmented or longer than 125 bytes.
    BadControlFrame,
    /// A client frame without a mask (section 5.1).
    Unmasked,
    /// A 64-bit length with its most significant bit set.
    BadLength,
}

impl fmt::Display for HeaderError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::ReservedBits => "reserved bits set",
            Self::UnknownOpcode(_) => "unknown opcode",
            Self::BadControlFrame => "bad control frame",
            Self::Unmasked => "client frames must be masked",
            Self::BadLength => "bad frame length",
        })
    }
}

/// Reads the header at the start of `buf`, a client's (masked) frame. `Ok(None)` while `buf`
/// holds less than the whole header. `rsv1_allowed`: permessage-deflate was negotiated, so RSV1
/// may be set on a text or binary frame (whether it may on this one, a continuation, is for the
/// caller, which knows the message).
pub(crate) fn read_header(buf: &[u8], rsv1_allowed: bool) -> Result<Option<Header>, HeaderError> {
    let [first, second, ..] = *buf else {
        return Ok(None);
    };
    let fin = first & 0x80 != 0;
    let compressed = first & 0x40 != 0;
    if first & 0x30 != 0 {
        return Err(HeaderError::ReservedBits);
    }
    let opcode = Opcode::from_bits(first & 0x0F).ok_or(HeaderError::UnknownOpcode(first & 0x0F))?;
    if compressed && (!rsv1_allowed || opcode.is_control()) {
        return Err(HeaderError::ReservedBits);
    }
    if second & 0x80 == 0 {
        return Err(HeaderError::Unmasked);
    }
    let (len, len_bytes) = match second & 0x7F {
        126 => match buf.get(2..4) {
            Some(b) => (u64::from(u16::from_be_bytes([b[0], b[1]])), 2),
            None => return Ok(None),
        },
        127 => match buf.get(2..10) {
            Some(b) => {
                let mut bytes = [0; 8];
                bytes.copy_from_slice(b);
                let len = u64::from_be_bytes(bytes);
                if len >> 63 != 0 {
                    return Err(HeaderError::BadLength);
                }
                (len, 8)
            }
            None => return Ok(None),
        },
        short => (u64::from(short), 0),
    };
    if opcode.is_control() && (!fin || len > 125) {
        return Err(HeaderError::BadControlFrame);
    }
    let mask_at = 2 + len_bytes;
    let Some(mask) = buf.get(mask_at..mask_at + 4) else {
        return Ok(None);
    };
    Ok(Some(Header {
        fin,
        compressed,
        opcode,
        mask: [mask[0], mask[1], mask[2], mask[3]],
        len,
        header_len: mask_at + 4,
    }))
}

/// Unmasks (or masks: the operation is its own inverse) `data` with `mask` (section 5.3).
pub(crate) fn apply_mask(data: &mut [u8], mask: [u8; 4]) {
    let word = u64::from_ne_bytes([mask[0], mask[1], mask[2], mask[3], mask[0], mask[1], mask[2], mask[3]]);
    let mut chunks = data.chunks_exact_mut(8);
    for chunk in &mut chunks {
        let mut bytes = [0; 8];
        bytes.copy_from_slice(chunk);
        chunk.copy_from_slice(&(u64::from_ne_bytes(bytes) ^ word).to_ne_bytes());
    }
    for (i, byte) in chunks.into_remainder().iter_mut().enumerate() {
        *byte ^= mask[i % 4];
    }
}

/// The longest header the hub writes: 2 bytes and a 64-bit length (server frames are unmasked).
pub(crate) const MAX_HEADER: usize = 10;

/// The header of a final (unfragmented, unmasked) server frame of `len` payload bytes, with RSV1
/// set when the payload is compressed.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ServerHeader {
    bytes: [u8; MAX_HEADER],
    len: u8,
}

impl ServerHeader {
    pub(crate) fn new(opcode: Opcode, compressed: bool, len: usize) -> Self {
        let mut bytes = [0; MAX_HEADER];
        bytes[0] = 0x80 | if compressed { 0x40 } else { 0 } | opcode.bits();
        let header_len = if len < 126 {
            // Fits in the 7-bit length.
            bytes[1] = len as u8;
            2
        } else if let Ok(short) = u16::try_from(len) {
            bytes[1] = 126;
            bytes[2..4].copy_from_slice(&short.to_be_bytes());
            4
        } else {
            bytes[1] = 127;
            bytes[2..10].copy_from_slice(&(len as u64).to_be_bytes());
            10
        };
        Self { bytes, len: header_len }
    }

    pub(crate) fn as_bytes(&self) -> &[u8] {
        &self.bytes[..usize::from(self.len)]
    }
}

/// Whether a peer may send `code` in a close frame (section 7.4): the codes RFC 6455 and the IANA
/// registry define for use on the wire, and the ranges left to libraries and applications. 1004,
/// 1005, 1006 and 1015 are reserved (never sent), the rest of 1000 to 2999 is unassigned.
pub(crate) fn close_code_allowed(code: u16) -> bool {
    matches!(code, 1000..=1003 | 1007..=1014 | 3000..=4999)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn masked(first: u8, payload_len_field: &[u8]) -> Vec<u8> {
        let mut frame = vec![first, 0x80 | payload_len_field[0]];
        frame.extend_from_slice(&payload_len_field[1..]);
        frame.extend_from_slice(&[1, 2, 3, 4]);
        frame
    }

    #[test]
    fn headers_are_read_with_every_length_form() {
        let h = read_header(&masked(0x81, &[5]), false).unwrap().unwrap();
        assert_eq!((h.fin, h.compressed, h.opcode, h.len, h.header_len), (true, false, Opcode::Text, 5, 6));
        assert_eq!(h.mask, [1, 2, 3, 4]);
        let h = read_header(&masked(0x02, &[126, 1, 0]), false).unwrap().unwrap();
        assert_eq!((h.fin, h.opcode, h.len, h.header_len), (false, Opcode::Binary, 256, 8));
        let h = read_header(&masked(0xC1, &[127, 0, 0, 0, 0, 0, 1, 0, 0]), true).unwrap().unwrap();
        assert_eq!((h.compressed, h.len, h.header_len), (true, 65536, 14));
    }

    #[test]
    fn partial_headers_ask_for_more() {
        let frame = masked(0x81, &[127, 0, 0, 0, 0, 0, 1, 0, 0]);
        for end in 0..frame.len() {
            assert_eq!(read_header(&frame[..end], false), Ok(None), "{end} bytes");
        }
    }

    #[test]
    fn protocol_violations_are_refused() {
        assert_eq!(read_header(&masked(0xA1, &[0]), true), Err(HeaderError::ReservedBits));
        assert_eq!(read_header(&masked(0xC1, &[0]), false), Err(HeaderError::ReservedBits));
        assert_eq!(read_header(&masked(0xC9, &[0]), true), Err(HeaderError::ReservedBits));
        assert_eq!(read_header(&masked(0x83, &[0]), false), Err(HeaderError::UnknownOpcode(3)));
        assert_eq!(read_header(&masked(0x09, &[0]), false), Err(HeaderError::BadControlFrame));
        assert_eq!(read_header(&masked(0x89, &[126, 0, 126]), false), Err(HeaderError::BadControlFrame));
        assert_eq!(read_header(&[0x81, 0x00], false), Err(HeaderError::Unmasked));
        let huge = masked(0x82, &[127, 0x80, 0, 0, 0, 0, 0, 0, 0]);
        assert_eq!(read_header(&huge, false), Err(HeaderError::BadLength));
    }

    #[test]
    fn masking_is_its_own_inverse() {
        let original: Vec<u8> = (0..=100).collect();
        let mut data = original.clone();
        apply_mask(&mut data, [0x12, 0x34, 0x56, 0x78]);
        assert_eq!(data[0], 0x12);
        assert_eq!(data[5], 5 ^ 0x34);
        assert_eq!(data[99], 99 ^ 0x78);
        apply_mask(&mut data, [0x12, 0x34, 0x56, 0x78]);
        assert_eq!(data, original);
    }

    #[test]
    fn server_headers_use_the_shortest_length() {
        assert_eq!(ServerHeader::new(Opcode::Text, false, 5).as_bytes(), [0x81, 5]);
        assert_eq!(ServerHeader::new(Opcode::Text, true, 126).as_bytes(), [0xC1, 126, 0, 126]);
        assert_eq!(ServerHeader::new(Opcode::Close, false, 65536).as_bytes(), [0x88, 127, 0, 0, 0, 0, 0, 1, 0, 0]);
    }

    #[test]
    fn close_codes() {
        for code in [1000, 1001, 1003, 1007, 1011, 1012, 1013, 3000, 4999] {
            assert!(close_code_allowed(code), "{code}");
        }
        for code in [0, 999, 1004, 1005, 1006, 1015, 1016, 1100, 2000, 2999, 5000, 65535] {
            assert!(!close_code_allowed(code), "{code}");
        }
    }
}
