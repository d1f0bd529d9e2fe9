//! Character rules shared by topics, ids, event types and matchers.
//!
//! The Mercure protocol forbids control characters (C0, DEL, C1) and Unicode format characters
//! (general category `Cf`, such as bidirectional and zero-width controls) in every identifier
//! that travels in a header or an event-stream field: they would break the wire format or let
//! two identifiers that look the same differ.

use unicode_general_category::{get_general_category, GeneralCategory};

/// True when `c` is a C0 or C1 control character, DEL, or a Unicode format character.
pub(crate) fn is_forbidden_char(c: char) -> bool {
    c.is_control() || get_general_category(c) == GeneralCategory::Format
}

/// Returns the first forbidden character in `s`, if any.
pub(crate) fn first_forbidden_char(s: &str) -> Option<char> {
    s.chars().find(|&c| is_forbidden_char(c))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rejects_controls_and_format_characters() {
        for c in ['\0', '\n', '\r', '\t', '\u{7f}', '\u{85}', '\u{9f}', '\u{200b}', '\u{202e}', '\u{feff}'] {
            assert!(is_forbidden_char(c), "{c:?} should be forbidden");
        }
        for c in ['a', ' ', '/', 'é', '中', '🙂', '\u{a0}'] {
            assert!(!is_forbidden_char(c), "{c:?} should be allowed");
        }
        assert_eq!(first_forbidden_char("https://x/a\u{200d}b"), Some('\u{200d}'));
        assert_eq!(first_forbidden_char("https://x/ok"), None);
    }
}
