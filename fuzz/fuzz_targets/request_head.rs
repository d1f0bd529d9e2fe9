//! Feeds arbitrary bytes as the first request head of a cleartext connection: the listener's own
//! head reader, which picks event-stream subscriptions for its lean path
//! (`listener/sniff.rs`), then the `Host` rule (`host.rs`) and the subscription reading of a
//! `GET` on the hub (`transport/select.rs`). Checks that the listener and the router agree: a
//! head taken for the lean path is an HTTP/1.1 `GET` on the hub whose reading never selects a
//! polling transport (a poll's response ends, so it must be left to hyper).

#![no_main]

use herald_server::fuzzing;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|head: &[u8]| {
    let reading = fuzzing::request_head(head);
    if reading.lean_stream {
        assert!(reading.host.is_some(), "a lean stream is HTTP/1.1, so the Host rule applies: {reading:?}");
        match &reading.streams {
            Some(Ok(true)) | Some(Err(_)) => {}
            other => panic!("the listener took a head for a stream that the router reads as {other:?}"),
        }
    }
});
