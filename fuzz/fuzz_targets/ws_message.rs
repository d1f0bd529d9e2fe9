//! Feeds arbitrary text as a WebSocket client message (`transport/ws/protocol.rs`: the JSON
//! reading, and a `publish` or each update of a `publish_batch` turned into an update, limited
//! and validated). Checks that every refusal is answered with a JSON `error` object of code
//! `bad_request` that carries the message's `ref` when it had one, and that a valid update
//! becomes an event whose event-stream frame reads back as the update's data, id, type and retry.

#![no_main]

use herald_server::fuzzing::{self, WsMessage};
use libfuzzer_sys::fuzz_target;
use serde_json::Value;

fuzz_target!(|input: &[u8]| {
    let Ok(text) = std::str::from_utf8(input) else {
        return; // text frames are valid UTF-8: the WebSocket layer refuses others
    };
    match fuzzing::ws_message(text) {
        Ok(WsMessage::Publish(Ok(update))) => herald_fuzz::assert_event_round_trip(&update),
        Ok(WsMessage::PublishBatch(updates)) => updates.iter().flatten().for_each(herald_fuzz::assert_event_round_trip),
        Ok(_) => {}
        Err(answer) => {
            let answer: Value = serde_json::from_str(&answer).expect("the error answer is JSON");
            assert_eq!(answer["type"], "error");
            assert_eq!(answer["code"], "bad_request");
            assert!(answer["message"].is_string());
            if let Ok(request) = serde_json::from_str::<Value>(text) {
                if let Some(reference) = request.get("ref").filter(|r| !herald_fuzz::has_float(r)) {
                    assert_eq!(&answer["ref"], reference, "the answer carries the message's ref");
                }
            }
        }
    }
});
