//! Property tests of the encoder and the parser together: for arbitrary events (ids, types and
//! payloads full of CR, LF, CRLF, colons, spaces, NULs and BOMs, any `retry`), what the encoder
//! writes the parser reads back, whole or cut into chunks anywhere; and every value the encoder
//! refuses (a line break in an id, a type or a comment, a NUL in an id) is refused with nothing
//! written.

use bytes::BytesMut;
use herald_sse::{encode_comment, encode_control, encode_retry, EncodeError, Frame, ParsedEvent, Parser};
use proptest::prelude::*;

/// Pieces that trouble encoders and parsers, and arbitrary characters between them.
fn text(line_breaks: bool, nul: bool) -> impl Strategy<Value = String> {
    let mut pieces: Vec<BoxedStrategy<String>> = vec![
        "[a-z]{1,4}".boxed(),
        Just(" ".to_owned()).boxed(),
        Just(":".to_owned()).boxed(),
        Just("data:".to_owned()).boxed(),
        Just("id: 9".to_owned()).boxed(),
        Just("\u{FEFF}".to_owned()).boxed(),
        Just("\u{E9}\u{1F680}".to_owned()).boxed(),
        any::<char>()
            .prop_filter("no line break or NUL", |c| !matches!(c, '\r' | '\n' | '\0'))
            .prop_map(String::from)
            .boxed(),
    ];
    if line_breaks {
        pieces.extend(["\r", "\n", "\r\n", "\n\r", "\r\r"].map(|s| Just(s.to_owned()).boxed()));
    }
    if nul {
        pieces.push(Just("\0".to_owned()).boxed());
    }
    prop::collection::vec(proptest::strategy::Union::new(pieces), 0..12).prop_map(|pieces| pieces.concat())
}

/// An event the encoder accepts: single-line id (no NUL) and type, any payload, any `retry`.
#[derive(Debug, Clone)]
struct Event {
    id: Option<String>,
    event: Option<String>,
    data: String,
    retry: Option<u64>,
}

impl Event {
    fn frame(&self) -> Frame<'_> {
        Frame { id: self.id.as_deref(), event: self.event.as_deref(), data: &self.data, retry: self.retry }
    }
}

fn event() -> impl Strategy<Value = Event> {
    (
        proptest::option::of(text(false, false)),
        proptest::option::of(text(false, true)),
        text(true, true),
        proptest::option::of(any::<u64>()),
    )
        .prop_map(|(id, event, data, retry)| Event { id, event, data, retry })
}

/// What a browser dispatches for `event`, the last event ID before it being `last_id`.
fn expected(event: &Event, last_id: &str) -> ParsedEvent {
    ParsedEvent {
        event_type: event.event.clone().filter(|t| !t.is_empty()).unwrap_or_else(|| "message".into()),
        data: event.data.replace("\r\n", "\n").replace('\r', "\n"),
        last_event_id: event.id.clone().unwrap_or_else(|| last_id.to_owned()),
    }
}

/// One item of a stream: an event, or something a hub writes between events.
#[derive(Debug, Clone)]
enum Item {
    Event(Event),
    Comment(String),
    Retry(u64),
    Control(Option<u64>, Option<String>),
}

fn item() -> impl Strategy<Value = Item> {
    prop_oneof![
        4 => event().prop_map(Item::Event),
        1 => text(false, true).prop_map(Item::Comment),
        1 => any::<u64>().prop_map(Item::Retry),
        1 => (proptest::option::of(any::<u64>()), proptest::option::of(text(false, false)))
            .prop_map(|(retry, id)| Item::Control(retry, id)),
    ]
}

fn parse_in_chunks(stream: &[u8], cuts: &[usize]) -> (Vec<ParsedEvent>, Parser) {
    let mut cuts: Vec<usize> = cuts.iter().map(|c| c % (stream.len() + 1)).collect();
    cuts.sort_unstable();
    let mut parser = Parser::new();
    let mut events = Vec::new();
    let mut start = 0;
    for cut in cuts.into_iter().chain([stream.len()]) {
        events.extend(parser.feed(&stream[start..cut]));
        start = cut;
    }
    (events, parser)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn an_encoded_event_parses_back(event in event()) {
        let frame = event.frame();
        let bytes = frame.encode().expect("the strategy only makes encodable events");
        prop_assert_eq!(bytes.len(), frame.encoded_len());
        let mut parser = Parser::new();
        let events = parser.feed(&bytes);
        prop_assert_eq!(events, vec![expected(&event, "")]);
        prop_assert_eq!(parser.retry(), event.retry);
        prop_assert_eq!(parser.last_event_id(), event.id.as_deref().unwrap_or(""));
    }

    #[test]
    fn a_stream_cut_anywhere_parses_to_the_same_events(
        items in prop::collection::vec(item(), 1..8),
        cuts in prop::collection::vec(any::<usize>(), 0..16),
    ) {
        let mut stream = BytesMut::new();
        let mut want = Vec::new();
        let (mut last_id, mut retry) = (String::new(), None);
        for item in &items {
            match item {
                Item::Event(event) => {
                    event.frame().encode_into(&mut stream).expect("encodable");
                    let parsed = expected(event, &last_id);
                    last_id.clone_from(&parsed.last_event_id);
                    retry = event.retry.or(retry);
                    want.push(parsed);
                }
                Item::Comment(text) => encode_comment(text, &mut stream).expect("a single-line comment"),
                Item::Retry(ms) => {
                    encode_retry(*ms, &mut stream);
                    retry = Some(*ms);
                }
                Item::Control(ms, id) => {
                    encode_control(*ms, id.as_deref(), &mut stream).expect("a valid id");
                    retry = ms.or(retry);
                    if let Some(id) = id {
                        last_id.clone_from(id);
                    }
                }
            }
        }
        let (whole, _) = parse_in_chunks(&stream, &[]);
        prop_assert_eq!(&whole, &want);
        let (chunked, parser) = parse_in_chunks(&stream, &cuts);
        prop_assert_eq!(&chunked, &want);
        prop_assert_eq!(parser.last_event_id(), last_id.as_str());
        prop_assert_eq!(parser.retry(), retry);
        let mut bytewise = Parser::new();
        let one_by_one: Vec<ParsedEvent> = stream.chunks(1).flat_map(|b| bytewise.feed(b)).collect();
        prop_assert_eq!(one_by_one, want);
    }

    #[test]
    fn field_injection_is_refused(
        before in text(false, false),
        after in text(true, true),
        line_break in prop::sample::select(vec!["\r", "\n", "\r\n"]),
        data in text(true, true),
    ) {
        let bad = format!("{before}{line_break}{after}");
        let with_nul = format!("{before}\0{}", after.replace(['\r', '\n'], ""));
        let refused = [
            (Frame { id: Some(&bad), data: &data, ..Default::default() }, EncodeError::LineBreakInId),
            (Frame { id: Some(&with_nul), data: &data, ..Default::default() }, EncodeError::NulInId),
            (Frame { event: Some(&bad), data: &data, ..Default::default() }, EncodeError::LineBreakInEvent),
        ];
        for (frame, error) in refused {
            let mut out = BytesMut::from(&b"kept"[..]);
            prop_assert_eq!(frame.encode_into(&mut out), Err(error.clone()));
            prop_assert_eq!(&out[..], b"kept", "nothing written on error");
            prop_assert_eq!(frame.encode(), Err(error));
        }
        let mut out = BytesMut::new();
        prop_assert_eq!(encode_comment(&bad, &mut out), Err(EncodeError::LineBreakInComment));
        prop_assert_eq!(encode_control(Some(1), Some(&bad), &mut out), Err(EncodeError::LineBreakInId));
        prop_assert_eq!(encode_control(None, Some(&with_nul), &mut out), Err(EncodeError::NulInId));
        prop_assert!(out.is_empty());
    }
}
