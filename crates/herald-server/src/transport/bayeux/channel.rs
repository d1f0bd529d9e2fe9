//! Bayeux channel names: which are meta, service or broadcast channels, which are patterns, and
//! which names are valid at all.
//!
//! A channel is `/` followed by non-empty segments separated by `/`. The last segment may be
//! `*` (every channel one segment below) or `**` (every channel any depth below); a wildcard
//! anywhere else is refused. Broadcast channels are hub topics byte for byte, so `/chat/lobby`
//! is the topic `/chat/lobby` of every other transport.

/// The meta channels of the protocol.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Meta {
    Handshake,
    Connect,
    Subscribe,
    Unsubscribe,
    Disconnect,
}

impl Meta {
    pub(crate) fn name(self) -> &'static str {
        match self {
            Self::Handshake => "/meta/handshake",
            Self::Connect => "/meta/connect",
            Self::Subscribe => "/meta/subscribe",
            Self::Unsubscribe => "/meta/unsubscribe",
            Self::Disconnect => "/meta/disconnect",
        }
    }
}

/// What a message's `channel` names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    /// A meta channel the hub implements.
    Meta(Meta),
    /// Another name under `/meta/`: none exists.
    UnknownMeta,
    /// Under `/service/`: messages to the server, never broadcast, never subscribable.
    Service,
    /// A broadcast channel (a topic), or a pattern over them.
    Broadcast,
}

/// Classifies a valid channel name.
pub(crate) fn kind(name: &str) -> Kind {
    let meta = [Meta::Handshake, Meta::Connect, Meta::Subscribe, Meta::Unsubscribe, Meta::Disconnect];
    if let Some(m) = meta.into_iter().find(|m| m.name() == name) {
        return Kind::Meta(m);
    }
    if name == "/meta" || name.starts_with("/meta/") {
        Kind::UnknownMeta
    } else if name == "/service" || name.starts_with("/service/") {
        Kind::Service
    } else {
        Kind::Broadcast
    }
}

/// Why a channel name is refused, in a few words for the error's message part.
pub(crate) fn check(name: &str, max_bytes: usize) -> Result<(), &'static str> {
    if name.len() > max_bytes {
        return Err("channel name too long");
    }
    let Some(rest) = name.strip_prefix('/') else {
        return Err("a channel starts with /");
    };
    let segments: Vec<&str> = rest.split('/').collect();
    let last = segments.len() - 1;
    for (i, segment) in segments.iter().enumerate() {
        if segment.is_empty() {
            return Err("empty channel segment");
        }
        if segment.chars().any(|c| c.is_control() || c.is_whitespace()) {
            return Err("control or space character in channel");
        }
        let wildcard = *segment == "*" || *segment == "**";
        if segment.contains('*') && !(wildcard && i == last) {
            return Err("a wildcard is a whole last segment: /a/* or /a/**");
        }
    }
    Ok(())
}

/// Whether a valid name is a pattern (`/a/*`, `/a/**`) rather than one channel.
pub(crate) fn is_pattern(name: &str) -> bool {
    name.ends_with("/*") || name.ends_with("/**")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_checked() {
        for ok in ["/a", "/chat/lobby", "/a/*", "/a/**", "/**", "/a-b_c/d.e~f!"] {
            assert_eq!(check(ok, 100), Ok(()), "{ok}");
        }
        for bad in ["", "a", "/", "/a/", "//a", "/a/*/b", "/a*", "/a/***", "/a b", "/a\n"] {
            assert!(check(bad, 100).is_err(), "{bad:?}");
        }
        assert!(check("/abc", 3).is_err());
    }

    #[test]
    fn kinds() {
        assert_eq!(kind("/meta/connect"), Kind::Meta(Meta::Connect));
        assert_eq!(kind("/meta/other"), Kind::UnknownMeta);
        assert_eq!(kind("/meta/**"), Kind::UnknownMeta);
        assert_eq!(kind("/service/echo"), Kind::Service);
        assert_eq!(kind("/services/x"), Kind::Broadcast);
        assert_eq!(kind("/chat/lobby"), Kind::Broadcast);
    }

    #[test]
    fn patterns_are_told_apart() {
        assert!(is_pattern("/a/*") && is_pattern("/**") && !is_pattern("/a"));
    }
}
