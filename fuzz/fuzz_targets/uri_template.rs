//! Builds a 0.x `topic=` matcher (`herald_core::Matcher::legacy_topic`: an RFC 6570 URI
//! template when the value contains `{`, else an exact topic) from the input's first line and
//! matches it against each further line as a topic. Checks that a template selects the topic
//! it expands to when every variable is undefined (each expression then expands to nothing).

#![no_main]

use herald_core::Matcher;
use libfuzzer_sys::fuzz_target;

/// The template with each `{…}` expression removed.
fn without_expressions(template: &str) -> String {
    let mut out = String::new();
    let mut rest = template;
    while let Some(open) = rest.find('{') {
        out.push_str(&rest[..open]);
        match rest[open..].find('}') {
            Some(close) => rest = &rest[open + close + 1..],
            None => return out,
        }
    }
    out + rest
}

fuzz_target!(|input: &[u8]| {
    let Ok(text) = std::str::from_utf8(input) else {
        return;
    };
    let mut lines = text.split('\n');
    let template = lines.next().unwrap_or_default();
    let Ok(matcher) = Matcher::legacy_topic(template) else {
        return;
    };
    for topic in lines {
        let _ = matcher.matches(topic);
    }
    let empty_expansion = without_expressions(template);
    assert!(matcher.matches(&empty_expansion), "{template:?} does not select {empty_expansion:?}");
});
