//! Feeds arbitrary bytes to the incremental event-stream parser (`herald_sse::Parser::feed`):
//! whole, split in two at a point taken from the input, and in small chunks of a size taken
//! from it. The parser promises that where a stream is cut never changes what it reads, so all
//! three must dispatch the same events and end with the same last event ID and retry. Also
//! checks what a dispatched event can hold: no CR or LF in its type or id, no CR in its data,
//! no NUL in its id.

#![no_main]

use herald_sse::{ParsedEvent, Parser};
use libfuzzer_sys::fuzz_target;

struct Reading {
    events: Vec<ParsedEvent>,
    last_event_id: String,
    retry: Option<u64>,
}

fn read<'a>(chunks: impl Iterator<Item = &'a [u8]>) -> Reading {
    let mut parser = Parser::new();
    let events = chunks.flat_map(|chunk| parser.feed(chunk)).collect();
    let (last_event_id, retry) = (parser.last_event_id().to_owned(), parser.retry());
    // The stream ends: the unfinished event goes, the last event ID stays.
    parser.finish();
    assert_eq!(parser.last_event_id(), last_event_id);
    Reading { events, last_event_id, retry }
}

fuzz_target!(|input: &[u8]| {
    let Some((split, stream)) = input.split_first_chunk::<2>() else {
        return;
    };
    let split = u16::from_le_bytes(*split) as usize;
    let whole = read(std::iter::once(stream));
    let cut = split % (stream.len() + 1);
    let (head, tail) = stream.split_at(cut);
    let halves = read([head, tail].into_iter());
    let small = read(stream.chunks(split % 7 + 1));
    for other in [&halves, &small] {
        assert_eq!(whole.events, other.events);
        assert_eq!(whole.last_event_id, other.last_event_id);
        assert_eq!(whole.retry, other.retry);
    }
    for event in &whole.events {
        assert!(!event.event_type.is_empty());
        assert!(!event.event_type.contains(['\r', '\n']), "{event:?}");
        assert!(!event.last_event_id.contains(['\r', '\n', '\0']), "{event:?}");
        assert!(!event.data.contains('\r'), "{event:?}");
    }
});
