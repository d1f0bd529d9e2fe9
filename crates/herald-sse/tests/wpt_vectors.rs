//! Vectors from the web-platform-tests `eventsource/format-*` tests: the bytes each test's
//! server sends and what a browser must dispatch, checked whole, split in two at every byte
//! boundary, and fed one byte at a time.
//!
//! Most of those tests serve their stream with `resources/message.py`, which sends the `message`
//! parameter followed by `"\n\n"` (left out with `newline=none`) and one more `"\n"`; the
//! [`message`] and [`message_none`] helpers do the same. The `last-event-id.py` tests reconnect
//! and expect the last event ID to carry over; here the reconnection's response is appended to
//! the first one, which a single parser must read the same way. Rows not named after a WPT file
//! cover further rules of the standard's "event stream interpretation".

use herald_sse::{ParsedEvent, Parser};

struct Vector {
    name: &'static str,
    input: Vec<u8>,
    /// (type, data, lastEventId) of each dispatched event.
    events: &'static [(&'static str, &'static str, &'static str)],
    retry: Option<u64>,
    /// The parser's last event ID string at the end of the stream.
    last_event_id: &'static str,
}

/// What `message.py?message=…` sends.
fn message(text: &str) -> Vec<u8> {
    format!("{text}\n\n\n").into_bytes()
}

/// What `message.py?message=…&newline=none` sends.
fn message_none(text: &str) -> Vec<u8> {
    format!("{text}\n").into_bytes()
}

fn row(name: &'static str, input: Vec<u8>, events: &'static [(&'static str, &'static str, &'static str)]) -> Vector {
    let last_event_id = events.last().map_or("", |e| e.2);
    Vector { name, input, events, retry: None, last_event_id }
}

impl Vector {
    fn retry(mut self, ms: u64) -> Self {
        self.retry = Some(ms);
        self
    }

    fn last_id(mut self, id: &'static str) -> Self {
        self.last_event_id = id;
        self
    }
}

fn vectors() -> Vec<Vector> {
    let long = "x".repeat(2 * 1024);
    let comments = format!("data:1\r:\0\n:\r\ndata:2\n:{long}\rdata:3\n:data:fail\r:{long}\ndata:4\n");
    let mut vectors = vec![
        row("format-bom: a BOM after the start is part of the field name", message("\u{FEFF}data:1\n\n\u{FEFF}data:2\n\ndata:3"), &[
            ("message", "1", ""),
            ("message", "3", ""),
        ]),
        row("format-bom-2: only the very first BOM is skipped", message("\u{FEFF}\u{FEFF}data:1\n\ndata:2\n\ndata:3"), &[
            ("message", "2", ""),
            ("message", "3", ""),
        ]),
        row("format-comments", message_none(&comments), &[("message", "1\n2\n3\n4", "")]),
        row(
            "format-data-before-final-empty-line: an unfinished event and its id are discarded",
            message_none("retry:1000\ndata:test1\n\nid:test\ndata:test2"),
            &[("message", "test1", "")],
        )
        .retry(1000),
        row("format-field-data", message("data:\n\ndata\ndata\n\ndata:test"), &[
            ("message", "", ""),
            ("message", "\n", ""),
            ("message", "test", ""),
        ]),
        row("format-field-event-empty: an empty type means message", message("event: \ndata:data"), &[(
            "message", "data", "",
        )]),
        row("format-field-event: the type applies to one event only", message("event:test\ndata:x\n\ndata:x"), &[
            ("test", "x", ""),
            ("message", "x", ""),
        ]),
        row(
            "format-field-id: the last event id carries over to the reconnection",
            "id: \u{2026}\nretry: 200\ndata: hello\n\ndata: \u{2026}\n\n".into(),
            &[("message", "hello", "\u{2026}"), ("message", "\u{2026}", "\u{2026}")],
        )
        .retry(200),
        row(
            "format-field-id-2: and to the one after",
            "id: \u{2026}\nretry: 200\ndata: hello\n\ndata: \u{2026}\n\ndata: \u{2026}\n\n".into(),
            &[("message", "hello", "\u{2026}"), ("message", "\u{2026}", "\u{2026}"), ("message", "\u{2026}", "\u{2026}")],
        )
        .retry(200),
        row("format-field-id-3: the id persists", "id: 1\ndata: 1\n\ndata:2\n\n".into(), &[
            ("message", "1", "1"),
            ("message", "2", "1"),
        ]),
        row("format-field-id-3: the id changes and persists", "id: 1\ndata: 1\n\nid: 2\ndata:2\n\ndata:3\n\n".into(), &[
            ("message", "1", "1"),
            ("message", "2", "2"),
            ("message", "3", "2"),
        ]),
        row("format-field-id-3: an empty id resets it", "id: 1\ndata: 1\n\nid:\ndata:2\n\ndata:3\n\n".into(), &[
            ("message", "1", "1"),
            ("message", "2", ""),
            ("message", "3", ""),
        ]),
        row(
            "format-field-parsing",
            message_none(
                "data:\0\ndata:  2\rData:1\ndata\0:2\ndata:1\r\0data:4\nda-ta:3\rdata_5\ndata:3\rdata:\r\n data:32\ndata:4\n",
            ),
            &[("message", "\0\n 2\n1\n3\n\n4", "")],
        ),
        row("format-field-retry-bogus", message("retry:2000\nretry:1000x\ndata:x"), &[("message", "x", "")]).retry(2000),
        row("format-field-retry-empty", message("retry\ndata:test"), &[("message", "test", "")]),
        row("format-field-retry: leading zeros, decimal", message("retry:02000\ndata:x"), &[("message", "x", "")])
            .retry(2000),
        row(
            "format-field-unknown",
            message("data:test\n data\ndata\nfoobar:xxx\njustsometext\n:thisisacommentyay\ndata:test"),
            &[("message", "test\n\ntest", "")],
        ),
        row("format-leading-space: only one space is removed", message("data:\ttest\rdata: \ndata:test"), &[(
            "message",
            "\ttest\n\ntest",
            "",
        )]),
        row("format-newlines: CR, LF and CRLF", message_none("data:test\r\ndata\ndata:test\r\n\r"), &[(
            "message",
            "test\n\ntest",
            "",
        )]),
        row("format-null-character", message("data:\0\n\n"), &[("message", "\0", "")]),
        row("format-utf-8", message("data:ok\u{2026}"), &[("message", "ok\u{2026}", "")]),
        // Beyond the WPT files.
        row("a partial BOM is content, not a BOM", b"\xEF\xBBdata: 1\n\ndata: 2\n\n".to_vec(), &[("message", "2", "")]),
        row("a BOM alone", b"\xEF\xBB\xBF".to_vec(), &[]),
        row("a BOM inside a value is kept", "data: \u{FEFF}x\n\n".into(), &[("message", "\u{FEFF}x", "")]),
        row("a comment-only stream", b":hello\n:\n\n: world\r\n\r\n:".to_vec(), &[]),
        row("an id on its own still sets the last event id", b"id: x\n\ndata: y\n\n".to_vec(), &[("message", "y", "x")]),
        row("an id with NUL is ignored, not a reset", b"id: 1\ndata: a\n\nid: 2\0x\ndata: b\n\n".to_vec(), &[
            ("message", "a", "1"),
            ("message", "b", "1"),
        ]),
        row("a type without data is dropped", b"event: x\n\ndata: y\n\n".to_vec(), &[("message", "y", "")]),
        row("an unfinished event after an id-only one", b"id: 1\n\nid: 2\ndata: z".to_vec(), &[]).last_id("1"),
        row("retry with one leading space is valid, with two it is bogus", b"retry: 700\nretry:  800\n".to_vec(), &[])
            .retry(700),
        row("retry with sign, point or trailing space is bogus", b"retry: 5\nretry: +6\nretry: 7.0\nretry: 8 \n".to_vec(), &[])
            .retry(5),
        row("retry takes effect without dispatch", b"retry: 1\nretry: 12\ndata: x".to_vec(), &[]).retry(12),
        row("the value keeps colons after the first", b"data::a: b\n\n".to_vec(), &[("message", ":a: b", "")]),
        row("field names are case-sensitive", b"Event: x\nDATA: y\ndata: z\n\n".to_vec(), &[("message", "z", "")]),
        row("CR CR is two line ends", b"data:a\r\rdata:b\r\n\r\n".to_vec(), &[("message", "a", ""), ("message", "b", "")]),
        row("LF CR is two line ends", b"data:a\n\rdata:b\n\r".to_vec(), &[("message", "a", ""), ("message", "b", "")]),
        row("a CRLF ends a blank line once", b"data:a\r\n\r\ndata:b\r\n\r\n".to_vec(), &[
            ("message", "a", ""),
            ("message", "b", ""),
        ]),
        row("multibyte and astral characters", "event: \u{2713}\ndata: \u{65E5}\u{672C} \u{1F680}\nid: \u{E9}\n\n".into(), &[
            ("\u{2713}", "\u{65E5}\u{672C} \u{1F680}", "\u{E9}"),
        ]),
        row("invalid UTF-8 becomes U+FFFD", b"data:a\xFFb\xE2\x82\n\n".to_vec(), &[("message", "a\u{FFFD}b\u{FFFD}", "")]),
        row("a truncated sequence before CR is replaced, the CR still ends the line", b"data:\xF0\x9F\x9A\rdata:\xC3\n\n".to_vec(), &[
            ("message", "\u{FFFD}\n\u{FFFD}", ""),
        ]),
        row("invalid UTF-8 in a field name makes it unknown", b"d\xFFata: x\ndata: y\n\n".to_vec(), &[("message", "y", "")]),
    ];
    // format-field-id-null: an id containing U+0000 anywhere is ignored, before and after reconnecting.
    for (name, id) in [
        ("format-field-id-null: NUL NUL", "\0\0"),
        ("format-field-id-null: x NUL", "x\0"),
        ("format-field-id-null: NUL x", "\0x"),
        ("format-field-id-null: x NUL x", "x\0x"),
        ("format-field-id-null: space NUL", " \0"),
    ] {
        let input = format!("id: {id}\nretry: 200\ndata: hello\n\nid: {id}\nretry: 200\ndata: hello\n\n");
        vectors.push(row(name, input.into(), &[("message", "hello", ""), ("message", "hello", "")]).retry(200));
    }
    vectors
}

fn expected(v: &Vector) -> Vec<ParsedEvent> {
    v.events
        .iter()
        .map(|(t, d, id)| ParsedEvent { event_type: (*t).into(), data: (*d).into(), last_event_id: (*id).into() })
        .collect()
}

fn run(chunks: &[&[u8]]) -> (Vec<ParsedEvent>, Option<u64>, String) {
    let mut parser = Parser::new();
    let mut events = Vec::new();
    for chunk in chunks {
        events.extend(parser.feed(chunk));
    }
    parser.finish();
    (events, parser.retry(), parser.last_event_id().to_owned())
}

fn check(v: &Vector, chunks: &[&[u8]], how: &str) {
    let (events, retry, last_event_id) = run(chunks);
    assert_eq!(events, expected(v), "{}: {how}", v.name);
    assert_eq!(retry, v.retry, "{}: {how}", v.name);
    assert_eq!(last_event_id, v.last_event_id, "{}: {how}", v.name);
}

#[test]
fn enough_vectors() {
    let vectors = vectors();
    assert!(vectors.len() >= 40, "{} vectors", vectors.len());
    let mut names: Vec<_> = vectors.iter().map(|v| v.name).collect();
    names.sort_unstable();
    names.dedup();
    assert_eq!(names.len(), vectors.len(), "vector names are unique");
}

#[test]
fn whole_input() {
    for v in &vectors() {
        check(v, &[&v.input], "whole");
    }
}

#[test]
fn split_at_every_byte_boundary() {
    for v in &vectors() {
        for at in 0..=v.input.len() {
            let (head, tail) = v.input.split_at(at);
            check(v, &[head, tail], &format!("split at {at}"));
        }
    }
}

#[test]
fn one_byte_at_a_time() {
    for v in &vectors() {
        let chunks: Vec<&[u8]> = v.input.chunks(1).collect();
        check(v, &chunks, "one byte at a time");
    }
}

#[test]
fn empty_chunks_change_nothing() {
    for v in &vectors() {
        let mut chunks: Vec<&[u8]> = vec![b""];
        for byte in v.input.chunks(1) {
            chunks.extend([byte, b"", b""]);
        }
        check(v, &chunks, "with empty chunks between bytes");
    }
}

#[test]
fn events_arrive_with_the_chunk_that_completes_them() {
    let mut parser = Parser::new();
    assert!(parser.feed(b"data: a\n").is_empty());
    assert_eq!(parser.feed(b"\ndata: b\n\ndata: c\n\nda").len(), 3);
    assert!(parser.feed(b"ta: d\n").is_empty());
    let events = parser.feed(b"\n");
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].data, "d");
}
