//! What the encoder writes, the WHATWG parser reads back: the payload (line breaks normalized to
//! LF), the id and the type, for payloads chosen to break naive encoders.

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
        let normalized = payload.replace("\r\n", "\n").replace('\r', "\n");
        assert_eq!(events[0].data, normalized);
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
        assert_eq!(event.data, payload.replace("\r\n", "\n").replace('\r', "\n"));
        assert_eq!(event.last_event_id, i.to_string());
    }
}
