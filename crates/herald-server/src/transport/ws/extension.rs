//! Negotiating permessage-deflate (RFC 7692 section 7.1) from a client's
//! `Sec-WebSocket-Extensions` offers.
//!
//! The offers are read in the client's order of preference; the first permessage-deflate offer
//! the hub can honour is accepted, the others (and every other extension) declined. The answer
//! always carries `server_no_context_takeover` (the hub compresses each message on its own, which
//! is what lets one compressed event be shared by all subscribers) and
//! `client_no_context_takeover` (section 7.1.1.2 lets a server ask it even when not offered: the
//! hub then never keeps an inflater per connection between messages). A `server_max_window_bits`
//! offer is accepted with the same value, and honoured (see [`super::deflate::Window`]);
//! `client_max_window_bits` needs no answer, since the hub inflates any window. An offer with an
//! unknown, repeated or malformed parameter is declined, as section 7.1 requires.

use super::deflate::Window;

/// What was agreed: the hub may send, and the client may send, compressed messages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Deflate {
    /// How the hub compresses.
    pub(crate) window: Window,
    /// The `Sec-WebSocket-Extensions` response header value.
    pub(crate) response: String,
}

const NAME: &str = "permessage-deflate";

/// The agreement for the offers in `headers` (each a `Sec-WebSocket-Extensions` header value),
/// or `None` when no permessage-deflate offer can be accepted.
pub(crate) fn negotiate<'a>(headers: impl IntoIterator<Item = &'a str>) -> Option<Deflate> {
    headers.into_iter().flat_map(split_outside_quotes(',')).find_map(|offer| {
        let mut parts = split_outside_quotes(';')(offer);
        let name = parts.next()?.trim();
        if !name.eq_ignore_ascii_case(NAME) {
            return None;
        }
        accept(parts)
    })
}

/// Accepts one permessage-deflate offer, given its parameters, if it can be honoured.
fn accept<'a>(params: impl Iterator<Item = &'a str>) -> Option<Deflate> {
    let (mut server_no_context, mut client_no_context) = (false, false);
    let (mut server_bits, mut client_bits) = (None, None);
    for param in params {
        let (name, value) = match param.split_once('=') {
            Some((name, value)) => (name.trim(), Some(unquote(value.trim())?)),
            None => (param.trim(), None),
        };
        match name.to_ascii_lowercase().as_str() {
            "server_no_context_takeover" if !server_no_context && value.is_none() => server_no_context = true,
            "client_no_context_takeover" if !client_no_context && value.is_none() => client_no_context = true,
            "server_max_window_bits" if server_bits.is_none() => server_bits = Some(window_bits(value?)?),
            // Without a value: the client merely supports the hub limiting its window.
            "client_max_window_bits" if client_bits.is_none() => {
                client_bits = Some(match value {
                    Some(value) => Some(window_bits(value)?),
                    None => None,
                });
            }
            _ => return None,
        }
    }
    let mut response = format!("{NAME}; server_no_context_takeover; client_no_context_takeover");
    let window = match server_bits {
        None | Some(15) => Window::Full,
        Some(_) => Window::Narrow,
    };
    if let Some(bits) = server_bits {
        response.push_str(&format!("; server_max_window_bits={bits}"));
    }
    Some(Deflate { window, response })
}

/// A window size parameter's value: 8 to 15, in plain digits.
fn window_bits(value: &str) -> Option<u8> {
    if value.is_empty() || value.len() > 2 || !value.bytes().all(|b| b.is_ascii_digit()) || value.starts_with('0') {
        return None;
    }
    value.parse().ok().filter(|bits| (8..=15).contains(bits))
}

/// A parameter value, token or quoted string (RFC 6455 section 9.1; the quoted form must hold a
/// token too, so no escapes are needed).
fn unquote(value: &str) -> Option<&str> {
    let inner = match value.strip_prefix('"') {
        Some(rest) => rest.strip_suffix('"')?,
        None => value,
    };
    let token =
        !inner.is_empty() && inner.bytes().all(|b| b.is_ascii_graphic() && !b"()<>@,;:\\\"/[]?={}".contains(&b));
    token.then_some(inner)
}

/// Splits on `separator` outside quoted strings.
fn split_outside_quotes(separator: char) -> impl Fn(&str) -> std::vec::IntoIter<&str> {
    move |text: &str| {
        let mut parts = Vec::new();
        let (mut start, mut quoted) = (0, false);
        for (i, c) in text.char_indices() {
            if c == '"' {
                quoted = !quoted;
            } else if c == separator && !quoted {
                parts.push(&text[start..i]);
                start = i + 1;
            }
        }
        parts.push(&text[start..]);
        parts.into_iter()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answer(offers: &[&str]) -> Option<String> {
        negotiate(offers.iter().copied()).map(|d| d.response)
    }

    const BASE: &str = "permessage-deflate; server_no_context_takeover; client_no_context_takeover";

    #[test]
    fn browsers_offers_are_accepted_without_context_takeover() {
        // Chromium's and Firefox's offer, and the `ws` package's.
        assert_eq!(answer(&["permessage-deflate; client_max_window_bits"]).as_deref(), Some(BASE));
        assert_eq!(answer(&["permessage-deflate"]).as_deref(), Some(BASE));
        assert_eq!(answer(&["PerMessage-Deflate ; Server_No_Context_Takeover"]).as_deref(), Some(BASE));
        let deflate = negotiate(["permessage-deflate; client_max_window_bits=10"]).unwrap();
        assert_eq!((deflate.window, deflate.response.as_str()), (Window::Full, BASE));
    }

    #[test]
    fn the_servers_window_is_limited_when_asked() {
        let deflate = negotiate(["permessage-deflate; server_max_window_bits=8"]).unwrap();
        assert_eq!(deflate.window, Window::Narrow);
        assert_eq!(deflate.response, format!("{BASE}; server_max_window_bits=8"));
        let deflate = negotiate(["permessage-deflate; server_max_window_bits=\"15\""]).unwrap();
        assert_eq!(deflate.window, Window::Full);
        assert_eq!(deflate.response, format!("{BASE}; server_max_window_bits=15"));
    }

    #[test]
    fn bad_offers_are_declined_and_the_next_one_taken() {
        for bad in [
            "permessage-deflate; server_max_window_bits",
            "permessage-deflate; server_max_window_bits=7",
            "permessage-deflate; server_max_window_bits=16",
            "permessage-deflate; server_max_window_bits=010",
            "permessage-deflate; client_max_window_bits=abc",
            "permessage-deflate; server_no_context_takeover=1",
            "permessage-deflate; server_no_context_takeover; server_no_context_takeover",
            "permessage-deflate; unknown_parameter",
            "x-webkit-deflate-frame",
            "",
        ] {
            assert_eq!(answer(&[bad]), None, "{bad:?}");
        }
        let offers = ["x-foo; a=\"b,c\", permessage-deflate; server_max_window_bits=4, permessage-deflate; server_max_window_bits=10", "permessage-deflate"];
        assert_eq!(answer(&offers), Some(format!("{BASE}; server_max_window_bits=10")));
        assert_eq!(answer(&["permessage-deflate; foo", "permessage-deflate"]).as_deref(), Some(BASE));
    }
}
