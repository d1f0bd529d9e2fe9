//! Incremental event-stream parsing, following the WHATWG HTML standard to the letter.
//!
//! Input arrives in arbitrary chunks: a line, a UTF-8 sequence, the BOM or a CRLF pair may be
//! split anywhere, and the result never depends on where. Lines are decoded as UTF-8 with
//! replacement characters; one leading BOM is skipped; lines end at CRLF, CR or LF; `:` starts a
//! comment; one space after the field's colon is removed; `id` values containing NUL and
//! non-digit `retry` values are ignored; an empty line dispatches the event, and an event that
//! is not finished when the stream ends is discarded.

const BOM: &[u8] = b"\xEF\xBB\xBF";

/// An event as a browser's `EventSource` would dispatch it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParsedEvent {
    /// `message` unless the stream gave an `event` field.
    pub event_type: String,
    pub data: String,
    /// The last event ID string when this event was dispatched.
    pub last_event_id: String,
}

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
enum Start {
    /// This many leading bytes matched the BOM so far.
    #[default]
    Unknown,
    Matched(usize),
    Done,
}

/// An incremental `text/event-stream` parser.
#[derive(Debug, Default)]
pub struct Parser {
    start: Start,
    /// The current, unterminated line.
    line: Vec<u8>,
    /// The previous chunk ended with CR: a leading LF in the next one belongs to it.
    after_cr: bool,
    data: String,
    event_type: String,
    id_buffer: String,
    last_event_id: String,
    retry: Option<u64>,
}

impl Parser {
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
            self.line.extend_from_slice(&bytes[..end]);
            self.end_line(&mut events);
            let crlf = bytes[end] == b'\r' && bytes.get(end + 1) == Some(&b'\n');
            if bytes[end] == b'\r' && end + 1 == bytes.len() {
                self.after_cr = true;
            }
            bytes = &bytes[end + if crlf { 2 } else { 1 }..];
        }
        self.line.extend_from_slice(bytes);
        events
    }

    /// The stream ended: an event without its final blank line is discarded.
    pub fn finish(&mut self) {
        self.line.clear();
        self.data.clear();
        self.event_type.clear();
        self.after_cr = false;
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
        let mut matched = match self.start {
            Start::Done => return chunk,
            Start::Unknown => 0,
            Start::Matched(n) => n,
        };
        let mut rest = chunk;
        while matched < BOM.len() {
            match rest.first() {
                None => {
                    self.start = Start::Matched(matched);
                    return rest;
                }
                Some(&b) if b == BOM[matched] => {
                    matched += 1;
                    rest = &rest[1..];
                }
                Some(_) => {
                    // Not a BOM after all: the bytes held back are ordinary line content.
                    self.line.extend_from_slice(&BOM[..matched]);
                    break;
                }
            }
        }
        self.start = Start::Done;
        rest
    }

    fn end_line(&mut self, events: &mut Vec<ParsedEvent>) {
        let line = std::mem::take(&mut self.line);
        self.process_line(&String::from_utf8_lossy(&line), events);
        self.line = line;
        self.line.clear();
    }

    fn process_line(&mut self, line: &str, events: &mut Vec<ParsedEvent>) {
        if line.is_empty() {
            return self.dispatch(events);
        }
        if line.starts_with(':') {
            return;
        }
        let (field, value) = match line.split_once(':') {
            Some((field, value)) => (field, value.strip_prefix(' ').unwrap_or(value)),
            None => (line, ""),
        };
        match field {
            "event" => value.clone_into(&mut self.event_type),
            "data" => {
                self.data.push_str(value);
                self.data.push('\n');
            }
            "id" if !value.contains('\0') => value.clone_into(&mut self.id_buffer),
            "retry" if !value.is_empty() && value.bytes().all(|b| b.is_ascii_digit()) => {
                // Digits too many for u64 still mean "a very long time".
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
        let event_type =
            if self.event_type.is_empty() { "message".to_owned() } else { std::mem::take(&mut self.event_type) };
        events.push(ParsedEvent {
            event_type,
            data: std::mem::take(&mut self.data),
            last_event_id: self.last_event_id.clone(),
        });
    }
}
