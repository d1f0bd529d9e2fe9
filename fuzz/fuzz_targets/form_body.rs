//! Feeds arbitrary bytes as a publish request body: the strict form decoder (`form.rs`), then
//! the publish form's reading into an update, the limits and validation
//! (`transport/publish_form.rs`, `herald_core::Update::into_valid`). Checks that decoded pairs,
//! encoded again, decode to the same pairs, and that a body accepted as a valid update becomes
//! an event whose event-stream frame reads back as the update's data, id, type and retry.

#![no_main]

use herald_server::fuzzing;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|body: &[u8]| {
    if let Ok(pairs) = fuzzing::form_pairs(body) {
        let encoded = url::form_urlencoded::Serializer::new(String::new()).extend_pairs(&pairs).finish();
        assert_eq!(fuzzing::form_pairs(encoded.as_bytes()).as_ref(), Ok(&pairs), "{encoded:?}");
    }
    if let Ok(update) = fuzzing::publish_form(body) {
        herald_fuzz::assert_event_round_trip(&update);
    }
});
