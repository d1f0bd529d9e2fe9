//! Encoding events, comments and `retry` advice.
//!
//! Values are written after `": "` so a leading space in a value survives parsing. Payload lines
//! end at CRLF, CR or LF, as parsers split them, so each becomes its own `data:` line and a
//! payload can never end an event early or add a field. `id`, `event` and comments are single
//! lines by nature: a line break in them is refused, as is a NUL in an id (browsers ignore such
//! ids, which would silently break resumption).

use std::fmt;

use bytes::{BufMut, Bytes, BytesMut};

/// A value that would break the framing of the event stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EncodeError {
    /// The id contains CR or LF, which would end the `id` line and start a forged field.
    LineBreakInId,
    /// The id contains NUL; browsers ignore such an id, so resuming from it would silently fail.
    NulInId,
    /// The event type contains CR or LF, which would end the `event` line and start a forged field.
    LineBreakInEvent,
    /// The comment contains CR or LF, which would turn the rest of it into fields.
    LineBreakInComment,
}

impl fmt::Display for EncodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::LineBreakInId => "id must not contain CR or LF",
            Self::NulInId => "id must not contain NUL",
            Self::LineBreakInEvent => "event type must not contain CR or LF",
            Self::LineBreakInComment => "comment must not contain CR or LF",
        })
    }
}

impl std::error::Error for EncodeError {}

/// One event to encode.
#[derive(Debug, Clone, Copy, Default)]
pub struct Frame<'a> {
    /// The `id` field, which the client keeps as its last event id and sends back when it
    /// reconnects; `None` writes no `id` line.
    pub id: Option<&'a str>,
    /// The `event` field (the event type); omitted when empty.
    pub event: Option<&'a str>,
    /// The payload, written as one `data:` line for each of its lines.
    pub data: &'a str,
    /// Reconnection time in milliseconds.
    pub retry: Option<u64>,
}

fn has_line_break(s: &str) -> bool {
    s.bytes().any(|b| b == b'\n' || b == b'\r')
}

/// Splits on CRLF, CR and LF; an empty string is one empty line.
fn lines(data: &str) -> impl Iterator<Item = &str> {
    let mut rest = Some(data);
    std::iter::from_fn(move || {
        let current = rest?;
        // CR and LF are ASCII, so a byte search lands on a char boundary and skips UTF-8 decoding.
        match current.bytes().position(|b| b == b'\r' || b == b'\n') {
            Some(i) => {
                let skip = if current[i..].starts_with("\r\n") { 2 } else { 1 };
                rest = Some(&current[i + skip..]);
                Some(&current[..i])
            }
            None => {
                rest = None;
                Some(current)
            }
        }
    })
}

/// Decimal digits of `n`.
fn digits(n: u64) -> usize {
    n.checked_ilog10().map_or(1, |d| d as usize + 1)
}

impl Frame<'_> {
    fn check(&self) -> Result<(), EncodeError> {
        if let Some(id) = self.id {
            if has_line_break(id) {
                return Err(EncodeError::LineBreakInId);
            }
            if id.contains('\0') {
                return Err(EncodeError::NulInId);
            }
        }
        if self.event.is_some_and(has_line_break) {
            return Err(EncodeError::LineBreakInEvent);
        }
        Ok(())
    }

    fn event(&self) -> Option<&str> {
        self.event.filter(|e| !e.is_empty())
    }

    /// Appends the event to `out`, ending with the blank line that dispatches it.
    pub fn encode_into(&self, out: &mut BytesMut) -> Result<(), EncodeError> {
        self.check()?;
        out.reserve(self.encoded_len());
        if let Some(id) = self.id {
            put_field(out, "id", id);
        }
        if let Some(event) = self.event() {
            put_field(out, "event", event);
        }
        if let Some(retry) = self.retry {
            put_retry(out, retry);
        }
        for line in lines(self.data) {
            put_field(out, "data", line);
        }
        out.put_u8(b'\n');
        Ok(())
    }

    /// Encodes the event into its own buffer.
    pub fn encode(&self) -> Result<Bytes, EncodeError> {
        let mut out = BytesMut::with_capacity(self.encoded_len());
        self.encode_into(&mut out)?;
        Ok(out.freeze())
    }

    /// The number of bytes [`Frame::encode_into`] writes.
    pub fn encoded_len(&self) -> usize {
        let field = |name: &str, value_len: usize| name.len() + 2 + value_len + 1;
        let mut len = 1;
        if let Some(id) = self.id {
            len += field("id", id.len());
        }
        if let Some(event) = self.event() {
            len += field("event", event.len());
        }
        if let Some(retry) = self.retry {
            len += field("retry", digits(retry));
        }
        len + lines(self.data).map(|l| field("data", l.len())).sum::<usize>()
    }
}

fn put_field(out: &mut BytesMut, name: &str, value: &str) {
    out.put_slice(name.as_bytes());
    out.put_slice(b": ");
    out.put_slice(value.as_bytes());
    out.put_u8(b'\n');
}

/// Writes `retry: ms` in decimal without allocating.
fn put_retry(out: &mut BytesMut, ms: u64) {
    let mut digits = [0u8; 20];
    let mut start = digits.len();
    let mut rest = ms;
    loop {
        start -= 1;
        digits[start] = b'0' + (rest % 10) as u8;
        rest /= 10;
        if rest == 0 {
            break;
        }
    }
    out.put_slice(b"retry: ");
    out.put_slice(&digits[start..]);
    out.put_u8(b'\n');
}

/// Appends a comment line (`: text`, or `:` alone for an empty text), e.g. a heartbeat.
pub fn encode_comment(text: &str, out: &mut BytesMut) -> Result<(), EncodeError> {
    if has_line_break(text) {
        return Err(EncodeError::LineBreakInComment);
    }
    if text.is_empty() {
        out.put_slice(b":\n");
    } else {
        out.put_slice(b": ");
        out.put_slice(text.as_bytes());
        out.put_u8(b'\n');
    }
    Ok(())
}

/// Appends `retry: ms` and a blank line, so the advice is processed on its own.
pub fn encode_retry(ms: u64, out: &mut BytesMut) {
    put_retry(out, ms);
    out.put_u8(b'\n');
}

/// Appends a frame without data: the `retry` advice and/or an `id`, then the blank line. Such a
/// frame dispatches no event, but a WHATWG client still takes its id as the last event id, so a
/// hub can tell a new subscriber where it starts in the stream.
pub fn encode_control(retry_ms: Option<u64>, id: Option<&str>, out: &mut BytesMut) -> Result<(), EncodeError> {
    Frame { id, ..Default::default() }.check()?;
    if let Some(ms) = retry_ms {
        put_retry(out, ms);
    }
    if let Some(id) = id {
        put_field(out, "id", id);
    }
    out.put_u8(b'\n');
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn enc(frame: Frame<'_>) -> String {
        let bytes = frame.encode().unwrap();
        assert_eq!(bytes.len(), frame.encoded_len(), "encoded_len of {frame:?}");
        String::from_utf8(bytes.to_vec()).unwrap()
    }

    #[test]
    fn control_frames_carry_no_data() {
        let mut out = BytesMut::new();
        encode_control(Some(1500), Some("urn:x"), &mut out).unwrap();
        assert_eq!(&out[..], b"retry: 1500\nid: urn:x\n\n");
        let mut parser = crate::Parser::default();
        assert!(parser.feed(&out).is_empty(), "no event is dispatched");
        assert_eq!(parser.last_event_id(), "urn:x");
        assert_eq!(encode_control(None, Some("a\nb"), &mut BytesMut::new()), Err(EncodeError::LineBreakInId));
    }

    #[test]
    fn writes_fields_in_order() {
        let frame = Frame { id: Some("42"), event: Some("price"), data: "a\nb", retry: Some(3000) };
        assert_eq!(enc(frame), "id: 42\nevent: price\nretry: 3000\ndata: a\ndata: b\n\n");
        assert_eq!(enc(Frame { data: "x", ..Default::default() }), "data: x\n\n");
        assert_eq!(enc(Frame { event: Some(""), ..Default::default() }), "data: \n\n");
        assert_eq!(enc(Frame { id: Some(""), retry: Some(0), ..Default::default() }), "id: \nretry: 0\ndata: \n\n");
    }

    #[test]
    fn splits_data_on_every_line_break() {
        assert_eq!(enc(Frame { data: "a\r\nb\rc\nd", ..Default::default() }), "data: a\ndata: b\ndata: c\ndata: d\n\n");
        assert_eq!(enc(Frame { data: "a\n", ..Default::default() }), "data: a\ndata: \n\n");
        assert_eq!(enc(Frame { data: "\r\n\r\n", ..Default::default() }), "data: \ndata: \ndata: \n\n");
        assert_eq!(enc(Frame { data: " lead", ..Default::default() }), "data:  lead\n\n");
        assert_eq!(enc(Frame { data: "\r", ..Default::default() }), "data: \ndata: \n\n");
        assert_eq!(enc(Frame { data: "a\r\rb", ..Default::default() }), "data: a\ndata: \ndata: b\n\n");
        assert_eq!(enc(Frame { data: "a\n\rb", ..Default::default() }), "data: a\ndata: \ndata: b\n\n");
        assert_eq!(
            enc(Frame { data: "data: x\n\nid: 1", ..Default::default() }),
            "data: data: x\ndata: \ndata: id: 1\n\n"
        );
    }

    #[test]
    fn encode_into_appends() {
        let mut out = BytesMut::from(&b"prefix\n"[..]);
        Frame { id: Some("1"), data: "x", ..Default::default() }.encode_into(&mut out).unwrap();
        assert_eq!(out, &b"prefix\nid: 1\ndata: x\n\n"[..]);
    }

    #[test]
    fn refuses_injection() {
        let cases = [
            (Frame { id: Some("1\ndata: x"), ..Default::default() }, EncodeError::LineBreakInId),
            (Frame { id: Some("1\r"), ..Default::default() }, EncodeError::LineBreakInId),
            (Frame { id: Some("a\0b"), ..Default::default() }, EncodeError::NulInId),
            (Frame { event: Some("x\r\nid: 9"), ..Default::default() }, EncodeError::LineBreakInEvent),
            (Frame { event: Some("x\n"), ..Default::default() }, EncodeError::LineBreakInEvent),
            (Frame { event: Some("\r"), ..Default::default() }, EncodeError::LineBreakInEvent),
            (Frame { id: Some("\0"), event: Some("ok"), ..Default::default() }, EncodeError::NulInId),
        ];
        for (frame, err) in cases {
            assert_eq!(frame.encode(), Err(err.clone()));
            let mut out = BytesMut::new();
            assert_eq!(frame.encode_into(&mut out), Err(err));
            assert!(out.is_empty(), "nothing written on error");
        }
        for text in ["a\nb", "a\rb", "\r\n", "x\ndata: forged"] {
            let mut out = BytesMut::new();
            assert_eq!(encode_comment(text, &mut out), Err(EncodeError::LineBreakInComment));
            assert!(out.is_empty());
        }
    }

    #[test]
    fn allowed_oddities_in_id_and_event() {
        assert_eq!(enc(Frame { id: Some(" sp:ace "), data: "d", ..Default::default() }), "id:  sp:ace \ndata: d\n\n");
        assert_eq!(enc(Frame { event: Some(":colon"), data: "d", ..Default::default() }), "event: :colon\ndata: d\n\n");
        assert_eq!(enc(Frame { event: Some("a\0b"), ..Default::default() }), "event: a\0b\ndata: \n\n");
    }

    #[test]
    fn retry_values_at_the_edges() {
        for (ms, text) in [(0, "0"), (9, "9"), (10, "10"), (u64::MAX, "18446744073709551615")] {
            let mut out = BytesMut::new();
            encode_retry(ms, &mut out);
            assert_eq!(out, format!("retry: {text}\n\n").as_bytes());
            assert_eq!(enc(Frame { retry: Some(ms), ..Default::default() }), format!("retry: {text}\ndata: \n\n"));
        }
    }

    #[test]
    fn error_messages() {
        assert_eq!(EncodeError::LineBreakInId.to_string(), "id must not contain CR or LF");
        assert_eq!(EncodeError::NulInId.to_string(), "id must not contain NUL");
        assert_eq!(EncodeError::LineBreakInEvent.to_string(), "event type must not contain CR or LF");
        assert_eq!(EncodeError::LineBreakInComment.to_string(), "comment must not contain CR or LF");
    }

    #[test]
    fn comments_and_retry() {
        let mut out = BytesMut::new();
        encode_comment("", &mut out).unwrap();
        encode_comment("keep-alive", &mut out).unwrap();
        encode_retry(1500, &mut out);
        assert_eq!(&out[..], b":\n: keep-alive\nretry: 1500\n\n");
    }
}
