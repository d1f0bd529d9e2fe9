//! Topic matchers: what a subscription selects.
//!
//! Three kinds exist. `exact` compares bytes (the Mercure default, and the only kind the hub can
//! index by topic). `urlpattern` follows the URL Pattern standard, evaluated with a linear-time
//! regex engine so hostile patterns cannot stall the hub. The 0.x `topic=` form is kept for
//! deployed clients: `*` selects everything, and a value containing `{` is an RFC 6570 URI
//! template. The value `*` means "every topic" whatever the kind. Bayeux channel patterns
//! (`/chat/*`, `/chat/**`) are the fourth: every topic one segment, or any number of segments,
//! below a prefix.

use std::fmt;

use url::Url;
use urlpattern::{UrlPattern, UrlPatternInit, UrlPatternMatchInput};

use crate::template::UriTemplate;
use crate::text::first_forbidden_char;

/// A compiled topic matcher.
#[derive(Debug)]
pub enum Matcher {
    /// Matches every topic (`*`).
    Any,
    /// Byte-for-byte comparison.
    Exact(Box<str>),
    /// RFC 6570 URI template, from the 0.x `topic=` parameter.
    Template(Box<UriTemplate>),
    /// URL Pattern, resolved against the hub's URL.
    UrlPattern(Box<UrlPatternMatcher>),
    /// Every topic below a path prefix: one segment (`/a/*`) or any number (`/a/**`).
    Below(Box<Below>),
}

/// The topics below a prefix, as Bayeux channel patterns select them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Below {
    /// The prefix, ending with `/`.
    prefix: Box<str>,
    /// Any depth (`**`), rather than exactly one segment (`*`).
    deep: bool,
}

impl Below {
    fn matches(&self, topic: &str) -> bool {
        match topic.strip_prefix(&*self.prefix) {
            Some(rest) if !rest.is_empty() => self.deep || !rest.contains('/'),
            _ => false,
        }
    }
}

/// Why a matcher was refused. Every variant maps to `400 Bad Request`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MatcherError {
    /// An empty matcher.
    Empty,
    /// A control or format character in it.
    ForbiddenChar(char),
    /// A URI template that does not parse, and why.
    BadTemplate(String),
    /// A URL pattern that does not parse, and why.
    BadUrlPattern(String),
}

impl fmt::Display for MatcherError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Empty => write!(f, "topic matcher must not be empty"),
            Self::ForbiddenChar(c) => {
                write!(f, "topic matcher contains the forbidden character U+{:04X}", *c as u32)
            }
            Self::BadTemplate(why) => write!(f, "invalid URI template: {why}"),
            Self::BadUrlPattern(why) => write!(f, "invalid URL pattern: {why}"),
        }
    }
}

impl std::error::Error for MatcherError {}

fn check_text(value: &str) -> Result<(), MatcherError> {
    if value.is_empty() {
        return Err(MatcherError::Empty);
    }
    match first_forbidden_char(value) {
        Some(c) => Err(MatcherError::ForbiddenChar(c)),
        None => Ok(()),
    }
}

impl Matcher {
    /// An `exact` matcher (`match=` or `match_exact=`).
    pub fn exact(value: &str) -> Result<Self, MatcherError> {
        check_text(value)?;
        Ok(if value == "*" { Self::Any } else { Self::Exact(value.into()) })
    }

    /// A `urlpattern` matcher (`match_urlpattern=`); relative patterns resolve against `hub_url`.
    pub fn url_pattern(value: &str, hub_url: &Url) -> Result<Self, MatcherError> {
        check_text(value)?;
        if value == "*" {
            return Ok(Self::Any);
        }
        UrlPatternMatcher::new(value, hub_url).map(|m| Self::UrlPattern(Box::new(m)))
    }

    /// The 0.x `topic=` parameter: `*`, a URI template (contains `{`), or an exact topic.
    pub fn legacy_topic(value: &str) -> Result<Self, MatcherError> {
        check_text(value)?;
        if value.contains('{') {
            let template = UriTemplate::parse(value).map_err(MatcherError::BadTemplate)?;
            return Ok(Self::Template(Box::new(template)));
        }
        Self::exact(value)
    }

    /// A channel pattern: `PREFIX/*` selects every topic one segment below `PREFIX`, and
    /// `PREFIX/**` every topic any number of segments below it (`/a/**` selects `/a/b` and
    /// `/a/b/c`, never `/a` itself). A value that ends with neither is an exact matcher.
    pub fn channel_pattern(value: &str) -> Result<Self, MatcherError> {
        check_text(value)?;
        let (prefix, deep) = if let Some(prefix) = value.strip_suffix("/**") {
            (prefix, true)
        } else if let Some(prefix) = value.strip_suffix("/*") {
            (prefix, false)
        } else {
            return Self::exact(value);
        };
        Ok(Self::Below(Box::new(Below { prefix: format!("{prefix}/").into(), deep })))
    }

    /// True when `topic` is selected.
    pub fn matches(&self, topic: &str) -> bool {
        match self {
            Self::Any => true,
            Self::Exact(t) => **t == *topic,
            Self::Template(t) => t.matches(topic),
            Self::UrlPattern(p) => p.matches(topic),
            Self::Below(b) => b.matches(topic),
        }
    }

    /// The single topic an exact matcher selects, so the hub can index it.
    pub fn exact_topic(&self) -> Option<&str> {
        match self {
            Self::Exact(t) => Some(t),
            _ => None,
        }
    }
}

/// A compiled URL pattern plus the base used to resolve relative topics.
pub struct UrlPatternMatcher {
    pattern: UrlPattern,
    base: Url,
}

impl fmt::Debug for UrlPatternMatcher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UrlPatternMatcher").field("base", &self.base.as_str()).finish_non_exhaustive()
    }
}

impl UrlPatternMatcher {
    fn new(value: &str, hub_url: &Url) -> Result<Self, MatcherError> {
        let bad = |e: urlpattern::Error| MatcherError::BadUrlPattern(e.to_string());
        let init =
            UrlPatternInit::parse_constructor_string::<regex::Regex>(value, Some(hub_url.clone())).map_err(bad)?;
        let pattern = <UrlPattern>::parse(init, Default::default()).map_err(bad)?;
        Ok(Self { pattern, base: hub_url.clone() })
    }

    fn matches(&self, topic: &str) -> bool {
        // A topic that is not a URL reference never matches a URL pattern.
        let Ok(url) = self.base.join(topic) else {
            return false;
        };
        self.pattern.test(UrlPatternMatchInput::Url(url)).unwrap_or(false)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hub() -> Url {
        Url::parse("https://hub.example/.well-known/mercure").unwrap()
    }

    #[test]
    fn exact_is_byte_for_byte() {
        let m = Matcher::exact("https://example.com/a").unwrap();
        assert!(m.matches("https://example.com/a"));
        assert!(!m.matches("https://example.com/A"));
        assert!(!m.matches("https://example.com/a/"));
        assert_eq!(m.exact_topic(), Some("https://example.com/a"));
    }

    #[test]
    fn star_matches_everything_in_every_form() {
        for m in [Matcher::exact("*"), Matcher::legacy_topic("*"), Matcher::url_pattern("*", &hub())] {
            let m = m.unwrap();
            assert!(m.matches("anything") && m.matches("https://x/y"));
            assert_eq!(m.exact_topic(), None);
        }
    }

    #[test]
    fn legacy_topic_uses_templates_when_braces_appear() {
        let m = Matcher::legacy_topic("https://example.com/books/{id}").unwrap();
        assert!(m.matches("https://example.com/books/1"));
        assert!(!m.matches("https://example.com/books/1/reviews"));
        assert!(!m.matches("https://example.com/authors/1"));
        let plain = Matcher::legacy_topic("https://example.com/books/1").unwrap();
        assert_eq!(plain.exact_topic(), Some("https://example.com/books/1"));
        assert!(matches!(Matcher::legacy_topic("https://x/{id"), Err(MatcherError::BadTemplate(_))));
    }

    #[test]
    fn url_patterns_match_absolute_and_relative_topics() {
        let m = Matcher::url_pattern("https://example.com/books/:id", &hub()).unwrap();
        assert!(m.matches("https://example.com/books/42"));
        assert!(!m.matches("https://example.com/books/42/x"));
        assert!(!m.matches("https://other.example/books/42"));
        let rel = Matcher::url_pattern("/rooms/:room", &hub()).unwrap();
        assert!(rel.matches("/rooms/lobby"));
        assert!(rel.matches("https://hub.example/rooms/lobby"));
        assert!(!rel.matches("https://elsewhere.example/rooms/lobby"));
        assert!(matches!(Matcher::url_pattern("https://x/(", &hub()), Err(MatcherError::BadUrlPattern(_))));
    }

    #[test]
    fn channel_patterns_select_one_segment_or_any_depth() {
        let one = Matcher::channel_pattern("/chat/*").unwrap();
        assert!(one.matches("/chat/lobby"));
        assert!(!one.matches("/chat/lobby/x"));
        assert!(!one.matches("/chat/") && !one.matches("/chat") && !one.matches("/chatter/x"));
        let deep = Matcher::channel_pattern("/chat/**").unwrap();
        assert!(deep.matches("/chat/lobby") && deep.matches("/chat/lobby/x/y"));
        assert!(!deep.matches("/chat") && !deep.matches("/other/lobby"));
        let root = Matcher::channel_pattern("/**").unwrap();
        assert!(root.matches("/a") && root.matches("/a/b"));
        let plain = Matcher::channel_pattern("/chat/lobby").unwrap();
        assert_eq!(plain.exact_topic(), Some("/chat/lobby"));
    }

    #[test]
    fn forbidden_characters_and_empty_values_are_refused() {
        assert_eq!(Matcher::exact("").unwrap_err(), MatcherError::Empty);
        assert_eq!(Matcher::exact("a\u{0}").unwrap_err(), MatcherError::ForbiddenChar('\0'));
        assert_eq!(Matcher::legacy_topic("a\u{202e}").unwrap_err(), MatcherError::ForbiddenChar('\u{202e}'));
    }
}
