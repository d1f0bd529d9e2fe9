//! Feeds arbitrary bytes as an NDJSON batch publish body (`transport/publish_batch.rs`: lines
//! split, blank ones skipped, each read as an update object, then limited and validated).
//! Checks that an accepted body yields exactly one update per non-blank line, numbered as the
//! line it came from; that a refusal names a non-blank line of the body (or the batch limit);
//! and that every valid update becomes an event whose event-stream frame reads back as the
//! update's data, id, type and retry.

#![no_main]

use herald_server::fuzzing;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|body: &[u8]| {
    let lines: Vec<&[u8]> = body.split(|&b| b == b'\n').collect();
    let blank = |number: usize| lines[number - 1].iter().all(u8::is_ascii_whitespace);
    let non_blank: Vec<usize> = (1..=lines.len()).filter(|&n| !blank(n)).collect();
    match fuzzing::publish_ndjson(body) {
        Ok(updates) => {
            let numbers: Vec<usize> = updates.iter().map(|(line, _)| *line).collect();
            assert_eq!(numbers, non_blank, "one update per non-blank line, in order");
            for (_, update) in &updates {
                if let Ok(update) = update {
                    herald_fuzz::assert_event_round_trip(update);
                }
            }
        }
        Err(message) => {
            if let Some(rest) = message.strip_prefix("line ") {
                let number: usize = rest.split(':').next().and_then(|n| n.parse().ok()).expect("a line number");
                assert!(number >= 1 && number <= lines.len() && !blank(number), "{message}");
            } else {
                assert!(message.contains("updates in one batch"), "a refusal names its line: {message}");
            }
        }
    }
});
