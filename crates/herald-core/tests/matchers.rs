//! Topic matchers on hostile input, as subscribers and tokens can send it: each input here once
//! panicked while the matcher was built, and must now be refused (or compiled) without one.

use herald_core::{Matcher, MatcherError};
use url::Url;

fn hub() -> Url {
    Url::parse("https://hub.example/.well-known/mercure").expect("static URL parses")
}

/// urlpattern 0.6.0 counts IPv6 brackets in a hostname with an unsigned integer and subtracts
/// one for every `]`, so a `]` without its `[` overflowed wherever overflow is checked (debug
/// builds, tests). The URL Pattern standard's count simply goes below zero, which is what the
/// wrapping arithmetic of release builds computes; the workspace's profiles build urlpattern so
/// in every profile (see the root Cargo.toml).
#[test]
fn an_unmatched_bracket_in_a_url_pattern_host_is_no_panic() {
    for pattern in [
        ":protocol://&]host`/:path~http://a/b",
        "https://]/",
        "https://a]b/x",
        "https://]:8080/",
        "https://{]}/",
        "*://]/x",
    ] {
        assert!(
            matches!(Matcher::url_pattern(pattern, &hub()), Err(MatcherError::BadUrlPattern(_))),
            "{pattern:?} is refused"
        );
    }
    // A bracket pair closed twice compiles, as the standard says, and selects no real URL.
    let twice = Matcher::url_pattern("https://[:a]]/", &hub()).expect("compiles");
    assert!(!twice.matches("https://[::1]/"));
    assert!(!twice.matches("https://hub.example/"));
}
