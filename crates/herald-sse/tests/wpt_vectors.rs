//! Vectors from the web-platform-tests `eventsource/format-*` tests: the bytes each test's
//! server sends and what a browser must dispatch, checked whole and split at every byte.

use herald_sse::{ParsedEvent, Parser};

struct Vector {
    name: &'static str,
    input: &'static [u8],
    /// (type, data, lastEventId) of each dispatched event.
    events: &'static [(&'static str, &'static str, &'static str)],
    retry: Option<u64>,
}

const VECTORS: &[Vector] = &[
    Vector {
        name: "format-bom: a second BOM is part of the field name",
        input: b"\xEF\xBB\xBFdata: 1\n\n\xEF\xBB\xBFdata: 2\n\ndata: 3\n\n",
        events: &[("message", "1", ""), ("message", "3", "")],
        retry: None,
    },
    Vector {
        name: "format-bom-2: only the very first BOM is skipped",
        input: b"\xEF\xBB\xBF\xEF\xBB\xBFdata: 1\n\ndata: 2\n\ndata: 3\n\n",
        events: &[("message", "2", ""), ("message", "3", "")],
        retry: None,
    },
    Vector {
        name: "partial BOM is content, not a BOM",
        input: b"\xEF\xBBdata: 1\n\ndata: 2\n\n",
        events: &[("message", "2", "")],
        retry: None,
    },
    Vector {
        name: "format-comments",
        input: b"data:1\r:\0\n:\r\ndata:2\n:xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\r\
data:3\n:data:fail\r:yyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyy\ndata:4\n\n",
        events: &[("message", "1\n2\n3\n4", "")],
        retry: None,
    },
    Vector { name: "comment-only stream", input: b":hello\n:\n\n:world\n\n", events: &[], retry: None },
    Vector {
        name: "format-data-before-final-empty-line: an unfinished event is discarded",
        input: b"retry:1000\ndata:test1\n\nid:test\ndata:test2",
        events: &[("message", "test1", "")],
        retry: Some(1000),
    },
    Vector {
        name: "format-field-data",
        input: b"data:\n\ndata\ndata\n\ndata:test\n\n",
        events: &[("message", "", ""), ("message", "\n", ""), ("message", "test", "")],
        retry: None,
    },
    Vector {
        name: "format-field-event-empty: empty type means message",
        input: b"event: \ndata:data\n\n",
        events: &[("message", "data", "")],
        retry: None,
    },
    Vector {
        name: "format-field-event: the type applies to one event only",
        input: b"event:test\ndata:x\n\ndata:x\n\n",
        events: &[("test", "x", ""), ("message", "x", "")],
        retry: None,
    },
    Vector {
        name: "format-field-id: the last event id persists across events",
        input: b"id: 1\ndata: a\n\ndata: b\n\nid: 2\ndata: c\n\n",
        events: &[("message", "a", "1"), ("message", "b", "1"), ("message", "c", "2")],
        retry: None,
    },
    Vector {
        name: "format-field-id-2: an empty id resets the last event id",
        input: b"id: 1\ndata: a\n\nid\ndata: b\n\nid:\ndata: c\n\n",
        events: &[("message", "a", "1"), ("message", "b", ""), ("message", "c", "")],
        retry: None,
    },
    Vector {
        name: "format-field-id-null: an id containing NUL is ignored",
        input: b"id: 1\ndata: a\n\nid: 2\0x\ndata: b\n\n",
        events: &[("message", "a", "1"), ("message", "b", "1")],
        retry: None,
    },
    Vector {
        name: "an event without data still sets the last event id",
        input: b"id: x\n\ndata: y\n\n",
        events: &[("message", "y", "x")],
        retry: None,
    },
    Vector {
        name: "format-field-parsing",
        input: b"data:\0\ndata:  2\rData:1\ndata\0:2\ndata:1\r\0data:4\nda-ta:3\rdata_5\ndata:3\rdata:\r\n data:32\ndata:4\n\n",
        events: &[("message", "\0\n 2\n1\n3\n\n4", "")],
        retry: None,
    },
    Vector {
        name: "format-field-retry-bogus",
        input: b"retry:3000\nretry:1000x\ndata:x\n\n",
        events: &[("message", "x", "")],
        retry: Some(3000),
    },
    Vector {
        name: "retry with two leading spaces is bogus",
        input: b"retry:  2000\nretry: 700\nretry:  800\ndata:x\n\n",
        events: &[("message", "x", "")],
        retry: Some(700),
    },
    Vector {
        name: "format-field-retry-empty",
        input: b"retry\nretry:\ndata:test\n\n",
        events: &[("message", "test", "")],
        retry: None,
    },
    Vector { name: "format-field-retry", input: b"retry:03000\ndata:x\n\n", events: &[("message", "x", "")], retry: Some(3000) },
    Vector {
        name: "format-field-unknown",
        input: b"data:test\n data\ndata\nfoobar:xxx\njustsometext\n:thisisacommentyay\ndata:test\n\n",
        events: &[("message", "test\n\ntest", "")],
        retry: None,
    },
    Vector {
        name: "format-leading-space: only one space is removed",
        input: b"data:\ttest\rdata: \ndata:test\n\ndata:  two\n\n",
        events: &[("message", "\ttest\n\ntest", ""), ("message", " two", "")],
        retry: None,
    },
    Vector {
        name: "format-newlines: CR, LF and CRLF",
        input: b"data:test\r\ndata\ndata:test\r\n\r",
        events: &[("message", "test\n\ntest", "")],
        retry: None,
    },
    Vector {
        name: "CR CR is two line ends, not one",
        input: b"data:a\r\rdata:b\r\n\r\n",
        events: &[("message", "a", ""), ("message", "b", "")],
        retry: None,
    },
    Vector { name: "format-null-character", input: b"data:\0\n\n\n\n", events: &[("message", "\0", "")], retry: None },
    Vector { name: "format-utf-8", input: b"data:ok\xE2\x80\xA6\n\n", events: &[("message", "ok\u{2026}", "")], retry: None },
    Vector {
        name: "multibyte and astral characters",
        input: "event: ✓\ndata: 日本語 🚀\nid: é\n\n".as_bytes(),
        events: &[("✓", "日本語 🚀", "é")],
        retry: None,
    },
    Vector {
        name: "invalid UTF-8 becomes U+FFFD",
        input: b"data:a\xFFb\xE2\x82\n\n",
        events: &[("message", "a\u{FFFD}b\u{FFFD}", "")],
        retry: None,
    },
];

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

#[test]
fn whole_input() {
    for v in VECTORS {
        let (events, retry, _) = run(&[v.input]);
        assert_eq!(events, expected(v), "{}", v.name);
        assert_eq!(retry, v.retry, "{}", v.name);
    }
}

#[test]
fn split_at_every_byte_boundary() {
    for v in VECTORS {
        // The last event id after the whole stream (its last dispatch may have had no data).
        let (_, _, whole_id) = run(&[v.input]);
        for at in 0..=v.input.len() {
            let (head, tail) = v.input.split_at(at);
            let (events, retry, id) = run(&[head, tail]);
            assert_eq!(events, expected(v), "{} split at {at}", v.name);
            assert_eq!(retry, v.retry, "{} split at {at}", v.name);
            assert_eq!(id, whole_id, "{} split at {at}", v.name);
        }
    }
}

#[test]
fn one_byte_at_a_time() {
    for v in VECTORS {
        let chunks: Vec<&[u8]> = v.input.chunks(1).collect();
        let (events, retry, _) = run(&chunks);
        assert_eq!(events, expected(v), "{}", v.name);
        assert_eq!(retry, v.retry, "{}", v.name);
    }
}

#[test]
fn unfinished_event_does_not_change_the_last_event_id() {
    let (events, _, id) = run(&[b"id: 1\ndata: a\n\nid: 2\ndata: b"]);
    assert_eq!(events.len(), 1);
    assert_eq!(id, "1");
}
