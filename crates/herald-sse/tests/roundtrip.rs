//! What the encoder writes, the WHATWG parser reads back: the payload (line breaks normalized to
//! LF), the id and the type, for hand-picked payloads that break naive encoders and for every
//! short combination of troublesome fragments.

use herald_sse::{Frame, Parser};

const PAYLOADS: &[&str] = &[
    "",
    "plain",
    " leading space",
    "  two leading spaces",
    "trailing space ",
    "\n",
    "\n\n",
    "a\nb",
    "a\r\nb\rc\nd",
    "ends with newline\n",
    "\r\n\r\n",
    "\r",
    "data: looks like a field",
    "id: 99\n\nevent: forged\ndata: x",
    ": a comment?",
    ":",
    "\u{FEFF}BOM inside",
    "unicode ✓ 日本語 🚀",
    "{\"json\": [1, 2, 3]}",
    "nul \0 inside",
    "tab\tand\u{2028}separator",
];

#[test]
fn parser_reads_back_what_the_encoder_writes() {
    for (i, payload) in PAYLOADS.iter().enumerate() {
        let id = format!("id-{i}");
        let event_type = if i % 2 == 0 { Some("custom") } else { None };
        let frame = Frame { id: Some(&id), event: event_type, data: payload, retry: Some(i as u64) };
        let bytes = frame.encode().unwrap();
        assert_eq!(bytes.len(), frame.encoded_len(), "{payload:?}");
        let mut parser = Parser::new();
        let events = parser.feed(&bytes);
        assert_eq!(events.len(), 1, "{payload:?} gave {events:?}");
        assert_eq!(events[0].data, normalize(payload));
        assert_eq!(events[0].last_event_id, id);
        assert_eq!(events[0].event_type, event_type.unwrap_or("message"));
        assert_eq!(parser.retry(), Some(i as u64));
    }
}

#[test]
fn a_stream_of_frames_parses_into_the_same_sequence() {
    let mut stream = bytes::BytesMut::new();
    for (i, payload) in PAYLOADS.iter().enumerate() {
        herald_sse::encode_comment("keep-alive", &mut stream).unwrap();
        Frame { id: Some(&i.to_string()), data: payload, ..Default::default() }.encode_into(&mut stream).unwrap();
    }
    let mut parser = Parser::new();
    let events: Vec<_> = stream.chunks(7).flat_map(|c| parser.feed(c)).collect();
    assert_eq!(events.len(), PAYLOADS.len());
    for (i, (event, payload)) in events.iter().zip(PAYLOADS).enumerate() {
        assert_eq!(event.data, normalize(payload));
        assert_eq!(event.last_event_id, i.to_string());
    }
}

fn normalize(payload: &str) -> String {
    payload.replace("\r\n", "\n").replace('\r', "\n")
}

/// Every string of up to four pieces drawn from fragments that trouble encoders.
fn generated_payloads() -> Vec<String> {
    const PIECES: &[&str] = &["a", " ", ":", "\r", "\n", "\r\n", "\0", "\u{E9}", "\u{FEFF}", "data:"];
    let mut all = vec![String::new()];
    let mut previous = vec![String::new()];
    for _ in 0..4 {
        let next: Vec<String> =
            previous.iter().flat_map(|p| PIECES.iter().map(move |piece| format!("{p}{piece}"))).collect();
        all.extend(next.iter().cloned());
        previous = next;
    }
    all
}

#[test]
fn generated_payloads_round_trip() {
    let payloads = generated_payloads();
    assert_eq!(payloads.len(), 1 + 10 + 100 + 1000 + 10_000);
    let mut stream = bytes::BytesMut::new();
    for (i, payload) in payloads.iter().enumerate() {
        let id = format!(" {i}");
        let frame = Frame { id: Some(&id), event: Some("t"), data: payload, retry: None };
        let before = stream.len();
        frame.encode_into(&mut stream).unwrap();
        assert_eq!(stream.len() - before, frame.encoded_len(), "{payload:?}");
    }
    let mut parser = Parser::new();
    let events: Vec<_> = stream.chunks(5).flat_map(|c| parser.feed(c)).collect();
    assert_eq!(events.len(), payloads.len());
    for (i, (event, payload)) in events.iter().zip(&payloads).enumerate() {
        assert_eq!(event.data, normalize(payload), "{payload:?}");
        assert_eq!(event.last_event_id, format!(" {i}"), "a leading space in an id survives");
        assert_eq!(event.event_type, "t");
    }
}

#[test]
fn ids_and_types_round_trip() {
    let values = ["", " ", "  two", "a:b", ": c", "\u{FEFF}", "\u{1F680}", "tab\there", "trailing "];
    for id in values {
        for event in values {
            let frame = Frame { id: Some(id), event: Some(event), data: "x", retry: None };
            let events = Parser::new().feed(&frame.encode().unwrap());
            assert_eq!(events.len(), 1, "{frame:?}");
            assert_eq!(events[0].last_event_id, id, "{frame:?}");
            let expected_type = if event.is_empty() { "message" } else { event };
            assert_eq!(events[0].event_type, expected_type, "{frame:?}");
        }
    }
}

#[test]
fn no_id_keeps_the_previous_one() {
    let mut stream = bytes::BytesMut::new();
    Frame { id: Some("7"), data: "a", ..Default::default() }.encode_into(&mut stream).unwrap();
    Frame { data: "b", ..Default::default() }.encode_into(&mut stream).unwrap();
    Frame { id: Some(""), data: "c", ..Default::default() }.encode_into(&mut stream).unwrap();
    let ids: Vec<_> = Parser::new().feed(&stream).into_iter().map(|e| e.last_event_id).collect();
    assert_eq!(ids, ["7", "7", ""]);
}

#[test]
fn comments_and_retry_dispatch_nothing() {
    let mut stream = bytes::BytesMut::new();
    herald_sse::encode_comment("", &mut stream).unwrap();
    herald_sse::encode_comment(" data: x", &mut stream).unwrap();
    herald_sse::encode_retry(2500, &mut stream);
    let mut parser = Parser::new();
    assert!(parser.feed(&stream).is_empty());
    assert_eq!(parser.retry(), Some(2500));
}
