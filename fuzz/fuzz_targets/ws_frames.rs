//! Feeds arbitrary bytes as what a WebSocket client sends (`transport/ws/reader.rs` and
//! `frame.rs`: frame headers, masking, fragmentation, control frames, UTF-8 across fragments,
//! close frames, limits; with the first byte's low bit set, permessage-deflate too, so
//! compressed messages are inflated within the limit). Checks that the bytes read whole and
//! read in small pieces give the same messages and the same failure, that no message is over
//! the limit, that control payloads are at most 125 bytes, and that a failure is one of the
//! close codes a reader may give (1002, 1007, 1009) and comes last.

#![no_main]

use herald_server::fuzzing::{self, WsFrame};
use libfuzzer_sys::fuzz_target;

const MAX_MESSAGE: usize = 4096;

fuzz_target!(|input: &[u8]| {
    let Some((&settings, bytes)) = input.split_first() else {
        return;
    };
    let deflate = settings & 1 == 1;
    let chunk = usize::from(settings >> 1) % 17 + 1;
    let whole = fuzzing::ws_frames(bytes, bytes.len().max(1), deflate, MAX_MESSAGE);
    let pieces = fuzzing::ws_frames(bytes, chunk, deflate, MAX_MESSAGE);
    assert_eq!(whole, pieces, "read in pieces of {chunk}");
    for (i, frame) in whole.iter().enumerate() {
        match frame {
            WsFrame::Text(text) => assert!(text.len() <= MAX_MESSAGE),
            WsFrame::Binary(data) => assert!(data.len() <= MAX_MESSAGE),
            WsFrame::Ping(payload) => assert!(payload.len() <= 125),
            WsFrame::Close(code) => assert!(code.is_none_or(|c| (1000..5000).contains(&c))),
            WsFrame::Failed(code) => {
                assert!([1002, 1007, 1009].contains(code), "close code {code}");
                assert_eq!(i, whole.len() - 1, "nothing after a failure");
            }
            WsFrame::Pong => {}
        }
    }
});
