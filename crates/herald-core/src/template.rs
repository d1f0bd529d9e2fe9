//! Matching topics against RFC 6570 URI templates (the Mercure 0.x `topic=` selector).
//!
//! A template is turned into an anchored regular expression: literals match themselves and each
//! `{…}` expression matches what its operator could expand to. Only matching is needed (the hub
//! never expands templates), so variable names are checked for syntax and otherwise ignored.

use regex::Regex;

/// A compiled URI template.
#[derive(Debug)]
pub struct UriTemplate {
    regex: Regex,
}

impl UriTemplate {
    /// Compiles `template`, or says what is wrong with it.
    pub fn parse(template: &str) -> Result<Self, String> {
        let mut pattern = String::from("^");
        let mut rest = template;
        while let Some(open) = rest.find(['{', '}']) {
            if rest.as_bytes()[open] == b'}' {
                return Err("\"}\" without a matching \"{\"".into());
            }
            pattern.push_str(&regex::escape(&rest[..open]));
            let after = &rest[open + 1..];
            let close = after.find('}').ok_or("\"{\" without a matching \"}\"")?;
            pattern.push_str(&expression_regex(&after[..close])?);
            rest = &after[close + 1..];
        }
        pattern.push_str(&regex::escape(rest));
        pattern.push('$');
        let regex = Regex::new(&pattern).map_err(|e| e.to_string())?;
        Ok(Self { regex })
    }

    /// True when some expansion of the template equals `topic`.
    pub fn matches(&self, topic: &str) -> bool {
        self.regex.is_match(topic)
    }
}

/// The regex for one `{…}` expression (without braces).
fn expression_regex(expr: &str) -> Result<String, String> {
    let (operator, vars) = match expr.chars().next() {
        Some(c @ ('+' | '#' | '.' | '/' | ';' | '?' | '&')) => (Some(c), &expr[1..]),
        Some(c @ ('=' | ',' | '!' | '@' | '|')) => {
            return Err(format!("operator {c:?} is reserved for future extensions"))
        }
        _ => (None, expr),
    };
    if vars.is_empty() {
        return Err("empty expression \"{}\"".into());
    }
    for var in vars.split(',') {
        check_varspec(var)?;
    }
    // Simple and label/path/parameter expansions percent-encode reserved characters, so a value
    // never contains the delimiters that end its URI component; `+` and `#` allow them.
    Ok(match operator {
        None => "[^/?#]*".into(),
        Some('+') => ".*".into(),
        Some('#') => "(?:#.*)?".into(),
        Some('.') => r"(?:\.[^/?#]*)*".into(),
        Some('/') => "(?:/[^/?#]*)*".into(),
        Some(';') => "(?:;[^/?#]*)*".into(),
        Some('?') => r"(?:\?[^#]*)?".into(),
        Some(_) => "(?:&[^#]*)?".into(),
    })
}

/// Checks `name`, `name*` or `name:N` with RFC 6570 variable-name characters.
fn check_varspec(var: &str) -> Result<(), String> {
    let name = var.strip_suffix('*').unwrap_or(var);
    let name = match name.split_once(':') {
        Some((n, len)) if !len.is_empty() && len.len() <= 4 && len.bytes().all(|b| b.is_ascii_digit()) => n,
        Some(_) => return Err(format!("bad prefix modifier in {var:?}")),
        None => name,
    };
    let valid = !name.is_empty()
        && name
            .split('.')
            .all(|part| !part.is_empty() && part.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'%'));
    if valid {
        Ok(())
    } else {
        Err(format!("bad variable name {var:?}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(t: &str, topic: &str) -> bool {
        UriTemplate::parse(t).unwrap().matches(topic)
    }

    #[test]
    fn simple_expansion_stays_within_one_segment() {
        assert!(m("https://example.com/books/{id}", "https://example.com/books/1"));
        assert!(m("https://example.com/books/{id}", "https://example.com/books/"));
        assert!(!m("https://example.com/books/{id}", "https://example.com/books/1/2"));
        assert!(!m("https://example.com/books/{id}.json", "https://example.com/books/1.xml"));
        assert!(m("https://example.com/books/{id}.json", "https://example.com/books/1.json"));
    }

    #[test]
    fn operators_allow_what_they_expand_to() {
        assert!(m("https://example.com/{+path}", "https://example.com/a/b/c"));
        assert!(m("https://example.com/a{/segments*}", "https://example.com/a/b/c"));
        assert!(m("https://example.com/search{?q,lang}", "https://example.com/search?q=x&lang=fr"));
        assert!(m("https://example.com/search{?q}", "https://example.com/search"));
        assert!(m("https://example.com/x{#frag}", "https://example.com/x#top"));
        assert!(m("https://example.com/{a}{.ext}", "https://example.com/file.tar.gz"));
        assert!(m("/m{;p}", "/m;p=1"));
        assert!(m("/q?a=1{&b}", "/q?a=1&b=2"));
    }

    #[test]
    fn literals_are_not_regex() {
        assert!(!m("https://example.com/a.b/{id}", "https://example.com/aXb/1"));
        assert!(m("https://example.com/(x)/{id}", "https://example.com/(x)/1"));
    }

    #[test]
    fn malformed_templates_are_refused() {
        for t in ["/a/{id", "/a/id}", "/a/{}", "/a/{=x}", "/a/{bad name}", "/a/{x:abc}"] {
            assert!(UriTemplate::parse(t).is_err(), "{t} should be refused");
        }
    }
}
