//! Feeds arbitrary text as a Bayeux request body (`transport/bayeux/`: the JSON reading, each
//! message's channel name checked and classified) and as the data of an event delivered to a
//! Bayeux client. Checks that a refused body is answered 400 or 413; that a channel name the hub
//! accepts compiles as a matcher that selects the name itself, or for a pattern (`/a/*`,
//! `/a/**`) a channel below `/a` and never `/a` itself;
//! and that the delivered message is JSON whose `data` is the event's data as JSON when it parses,
//! else the data as a string.

#![no_main]

use herald_core::Matcher;
use herald_server::fuzzing;
use libfuzzer_sys::fuzz_target;
use serde_json::Value;

fuzz_target!(|input: &[u8]| {
    let Ok(text) = std::str::from_utf8(input) else {
        return; // request bodies and event data are UTF-8: the hub refuses others before
    };
    match fuzzing::bayeux_request(text) {
        Err(status) => assert!(status == 400 || status == 413, "refused with {status}"),
        Ok(messages) => {
            for (name, checked) in messages.into_iter().flatten() {
                let Ok(pattern) = checked else { continue };
                let matcher = Matcher::channel_pattern(&name).expect("an accepted channel compiles");
                if pattern {
                    let parent = name.trim_end_matches('*').trim_end_matches('/');
                    assert!(matcher.matches(&format!("{parent}/x")), "{name:?} selects a channel below it");
                    assert!(!matcher.matches(parent), "{name:?} never selects {parent:?} itself");
                } else {
                    assert!(matcher.matches(&name), "{name:?} selects itself");
                }
            }
        }
    }
    let delivered = fuzzing::bayeux_delivery(text);
    if delivered.is_empty() {
        return; // not an event the hub would build (refused by the event-stream encoder)
    }
    let message: Value = serde_json::from_slice(&delivered).expect("the delivered message is JSON");
    assert_eq!(message["channel"], "/fuzz");
    assert_eq!(message["id"], "e");
    let expected = serde_json::from_str::<Value>(text).unwrap_or_else(|_| Value::String(text.to_owned()));
    if !herald_fuzz::has_float(&expected) {
        assert_eq!(message["data"], expected, "data as JSON when it parses, else as text");
    }
});
