//! Builds a `urlpattern` topic matcher (`herald_core::Matcher::url_pattern`, the URL Pattern
//! standard, resolved against the hub's URL) from the input's first line and matches it against
//! each further line as a topic. Checks that a pattern written with only literal URL characters
//! selects the URL it spells.

#![no_main]

use herald_core::Matcher;
use libfuzzer_sys::fuzz_target;

/// Characters that are literal in every part of a URL pattern and need no canonicalization.
fn literal(s: &str) -> bool {
    s.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'/' || b == b'_' || b == b'-')
}

fuzz_target!(|input: &[u8]| {
    let Ok(text) = std::str::from_utf8(input) else {
        return;
    };
    let mut lines = text.split('\n');
    let pattern = lines.next().unwrap_or_default();
    let hub = herald_server::fuzzing::hub_url();
    let Ok(matcher) = Matcher::url_pattern(pattern, &hub) else {
        return;
    };
    for topic in lines {
        let _ = matcher.matches(topic);
    }
    if let Some(path) = pattern.strip_prefix("https://example.com/").filter(|p| literal(p)) {
        assert!(matcher.matches(pattern), "{pattern:?} does not select itself");
        assert!(!matcher.matches(&format!("https://other.example/{path}")));
    }
});
