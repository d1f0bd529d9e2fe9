//! Incremental event-stream parsing, following the WHATWG HTML standard to the letter.
//!
//! Input arrives in arbitrary chunks: a line, a UTF-8 sequence, the BOM or a CRLF pair may be
//! split anywhere, and the result never depends on where. Lines are cut on raw bytes (CR and LF
//! never occur inside a UTF-8 sequence) and each complete line is decoded as UTF-8 with
//! replacement characters, which gives the same text as decoding the whole stream first. One
//! leading BOM is skipped; lines end at CRLF, CR or LF; `:` starts a comment; one space after the
//! field's colon is removed; `id` values containing NUL and non-digit `retry` values are
//! ignored; an empty line dispatches the event, and an event that is not finished when the
//! stream ends is discarded.

const BOM: &[u8] = b"\xEF\xBB\xBF";

/// An event as a browser's `EventSource` would dispatch it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParsedEvent {
    /// `message` unless the stream gave a non-empty `event` field.
    pub event_type: String,
    /// The data buffer without its final LF.
    pub data: String,
    /// The last event ID string when this event was dispatched.
    pub last_event_id: String,
}

/// An incremental `text/event-stream` parser.
///
/// After [`Parser::finish`] the same parser may read the stream of a reconnection: the
/// reconnection time and the last event ID carry over, as they do in browsers.
#[derive(Debug, Default)]
pub struct Parser {
    /// The start of the stream (and so a possible BOM) is behind us.
    past_start: bool,
    /// Bytes of the BOM matched so far, held back until the BOM is complete or refuted.
    bom_matched: usize,
    /// The current, unterminated line.
    line: Vec<u8>,
    /// The last byte seen ended a line with CR: a LF right after it belongs to that line end.
    after_cr: bool,
    data: String,
    event_type: String,
    id_buffer: String,
    last_event_id: String,
    retry: Option<u64>,
}

impl Parser {
    /// A parser at the start of a stream.
    pub fn new() -> Self {
        Self::default()
    }

    /// Parses the next chunk; returns the events it completed, in order.
    pub fn feed(&mut self, chunk: &[u8]) -> Vec<ParsedEvent> {
        let mut events = Vec::new();
        let mut bytes = self.skip_bom(chunk);
        if self.after_cr && !bytes.is_empty() {
            self.after_cr = false;
            if bytes[0] == b'\n' {
                bytes = &bytes[1..];
            }
        }
        while let Some(end) = bytes.iter().position(|&b| b == b'\r' || b == b'\n') {
            if self.line.is_empty() {
                self.process_line(&bytes[..end], &mut events);
            } else {
                self.line.extend_from_slice(&bytes[..end]);
                let line = std::mem::take(&mut self.line);
                self.process_line(&line, &mut events);
                self.line = line;
                self.line.clear();
            }
            let mut next = end + 1;
            if bytes[end] == b'\r' {
                match bytes.get(next) {
                    Some(b'\n') => next += 1,
                    Some(_) => {}
                    None => self.after_cr = true,
                }
            }
            bytes = &bytes[next..];
        }
        self.line.extend_from_slice(bytes);
        events
    }

    /// The stream ended: an event without its final blank line is discarded, including an `id`
    /// it set. The reconnection time and the last event ID string are kept.
    pub fn finish(&mut self) {
        self.past_start = false;
        self.bom_matched = 0;
        self.line.clear();
        self.after_cr = false;
        self.data.clear();
        self.event_type.clear();
        self.id_buffer.clone_from(&self.last_event_id);
    }

    /// The reconnection time set by the last valid `retry` field, in milliseconds.
    pub fn retry(&self) -> Option<u64> {
        self.retry
    }

    /// The last event ID string, as of the last dispatch.
    pub fn last_event_id(&self) -> &str {
        &self.last_event_id
    }

    /// Consumes a leading BOM, which may arrive split over several chunks.
    fn skip_bom<'a>(&mut self, chunk: &'a [u8]) -> &'a [u8] {
        if self.past_start {
            return chunk;
        }
        let mut rest = chunk;
        while self.bom_matched < BOM.len() {
            match rest.split_first() {
                None => return rest,
                Some((&b, tail)) if b == BOM[self.bom_matched] => {
                    self.bom_matched += 1;
                    rest = tail;
                }
                Some(_) => {
                    // Not a BOM after all: the bytes held back are the start of the first line.
                    self.line.extend_from_slice(&BOM[..self.bom_matched]);
                    break;
                }
            }
        }
        self.past_start = true;
        rest
    }

    fn process_line(&mut self, line: &[u8], events: &mut Vec<ParsedEvent>) {
        let line = String::from_utf8_lossy(line);
        if line.is_empty() {
            return self.dispatch(events);
        }
        if line.starts_with(':') {
            return;
        }
        let (field, value) = match line.split_once(':') {
            Some((field, value)) => (field, value.strip_prefix(' ').unwrap_or(value)),
            None => (&*line, ""),
        };
        match field {
            "event" => value.clone_into(&mut self.event_type),
            "data" => {
                self.data.push_str(value);
                self.data.push('\n');
            }
            "id" if !value.contains('\0') => value.clone_into(&mut self.id_buffer),
            "retry" if !value.is_empty() && value.bytes().all(|b| b.is_ascii_digit()) => {
                // More digits than a u64 holds still mean "a very long time".
                self.retry = Some(value.parse().unwrap_or(u64::MAX));
            }
            _ => {}
        }
    }

    fn dispatch(&mut self, events: &mut Vec<ParsedEvent>) {
        self.last_event_id.clone_from(&self.id_buffer);
        if self.data.is_empty() {
            self.event_type.clear();
            return;
        }
        self.data.pop();
        let event_type = match std::mem::take(&mut self.event_type) {
            t if t.is_empty() => "message".to_owned(),
            t => t,
        };
        events.push(ParsedEvent {
            event_type,
            data: std::mem::take(&mut self.data),
            last_event_id: self.last_event_id.clone(),
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(input: &[u8]) -> (Vec<ParsedEvent>, Parser) {
        let mut parser = Parser::new();
        let events = parser.feed(input);
        (events, parser)
    }

    #[test]
    fn huge_retry_saturates() {
        let (_, parser) = parse(b"retry: 99999999999999999999999\n");
        assert_eq!(parser.retry(), Some(u64::MAX));
    }

    #[test]
    fn cr_at_chunk_end_then_empty_chunk_then_lf_is_one_line_end() {
        let mut parser = Parser::new();
        assert!(parser.feed(b"data: a\r").is_empty());
        assert!(parser.feed(b"").is_empty());
        assert!(parser.feed(b"\n").is_empty(), "the LF completes the CRLF, it is no blank line");
        assert_eq!(parser.feed(b"\n").len(), 1);
    }

    #[test]
    fn finish_discards_the_unfinished_event_and_its_id() {
        let mut parser = Parser::new();
        assert_eq!(parser.feed(b"id: 1\ndata: a\n\nid: 2\nevent: x\ndata: b").len(), 1);
        parser.finish();
        assert_eq!(parser.last_event_id(), "1");
        // A reconnection's stream: BOM skipped again, id 1 still current, no leftovers.
        let events = parser.feed(b"\xEF\xBB\xBFdata: c\n\n");
        let expected = ParsedEvent { event_type: "message".into(), data: "c".into(), last_event_id: "1".into() };
        assert_eq!(events, [expected]);
    }

    #[test]
    fn long_lines_over_many_chunks() {
        let mut parser = Parser::new();
        parser.feed(b"data: ");
        let chunk = [b'x'; 1000];
        for _ in 0..1000 {
            assert!(parser.feed(&chunk).is_empty());
        }
        let events = parser.feed(b"\n\n");
        assert_eq!(events.len(), 1);
        assert_eq!(events[0].data.len(), 1_000_000);
    }
}
