//! Strict `application/x-www-form-urlencoded` decoding, for publish bodies and query strings.
//!
//! The usual decoders replace invalid UTF-8 with U+FFFD; the Mercure protocol requires names and
//! values to be valid UTF-8, so this one refuses them instead, naming the offending field.

use std::borrow::Cow;

use percent_encoding::percent_decode;

/// Decodes `input` into (name, value) pairs, in order; `+` is a space.
pub(crate) fn parse(input: &[u8]) -> Result<Vec<(String, String)>, String> {
    input
        .split(|&b| b == b'&')
        .filter(|part| !part.is_empty())
        .map(|part| {
            let (name, value) = match part.iter().position(|&b| b == b'=') {
                Some(eq) => (&part[..eq], &part[eq + 1..]),
                None => (part, &[][..]),
            };
            let name = decode(name).map_err(|_| "a field name is not valid UTF-8".to_owned())?;
            let value = decode(value).map_err(|_| format!("field {name:?} is not valid UTF-8"))?;
            Ok((name, value))
        })
        .collect()
}

fn decode(raw: &[u8]) -> Result<String, std::string::FromUtf8Error> {
    let plus_as_space: Cow<[u8]> = if raw.contains(&b'+') {
        Cow::Owned(raw.iter().map(|&b| if b == b'+' { b' ' } else { b }).collect())
    } else {
        Cow::Borrowed(raw)
    };
    let bytes: Vec<u8> = percent_decode(&plus_as_space).collect();
    String::from_utf8(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_pairs_in_order() {
        let pairs = parse(b"topic=a&topic=b%2Fc&data=x+y%0Az&private&empty=").unwrap();
        let expected = [("topic", "a"), ("topic", "b/c"), ("data", "x y\nz"), ("private", ""), ("empty", "")];
        assert_eq!(pairs.len(), expected.len());
        for ((n, v), (en, ev)) in pairs.iter().zip(expected) {
            assert_eq!((n.as_str(), v.as_str()), (en, ev));
        }
    }

    #[test]
    fn keeps_unicode_and_refuses_invalid_utf8() {
        assert_eq!(parse("data=%C3%A9t%C3%A9".as_bytes()).unwrap()[0].1, "été");
        assert_eq!(parse(b"data=%FF").unwrap_err(), "field \"data\" is not valid UTF-8");
        assert_eq!(parse(b"da%FFta=x").unwrap_err(), "a field name is not valid UTF-8");
        assert_eq!(parse(b"data=\xff").unwrap_err(), "field \"data\" is not valid UTF-8");
    }
}
