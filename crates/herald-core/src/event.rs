//! Updates as publishers send them, and events as the hub stores and sends them.
//!
//! An [`Update`] is what a publisher asks for; [`Update::validate`] applies the Mercure rules
//! (topics, ids and types free of control and format characters, the reserved `*` topic, the
//! hub's reserved namespace, the reserved `mercure` type). An [`Event`] is an accepted update
//! with its position in the hub-wide log and its event-stream frame, encoded exactly once and
//! shared by every subscriber.

use std::borrow::Cow;
use std::fmt;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};

use bytes::Bytes;
use url::Url;

use crate::text::first_forbidden_char;

/// The path under which the hub lives; topics resolving into it are reserved for the hub.
pub const HUB_PATH: &str = "/.well-known/mercure";

/// A publish request, before validation.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Update {
    /// The canonical topic first, then alternate topics.
    pub topics: Vec<String>,
    /// The payload.
    pub data: String,
    /// The publisher's id; the hub generates one when absent.
    pub id: Option<String>,
    /// The event-stream `event` field.
    pub event_type: Option<String>,
    /// The event-stream `retry` field, in milliseconds.
    pub retry: Option<u64>,
    /// Only subscribers allowed to read one of the topics receive a private update.
    pub private: bool,
}

/// Why an update was refused. Every variant maps to `400 Bad Request`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UpdateError {
    /// No topic at all.
    NoTopic,
    /// An empty topic.
    EmptyTopic,
    /// A control or format character in a topic.
    ForbiddenCharInTopic(char),
    /// The topic `*`, reserved for the wildcard matcher.
    WildcardTopic,
    /// A topic inside the hub's own namespace.
    ReservedTopic(String),
    /// An id starting with `#`, reserved for hub-generated ids.
    IdStartsWithHash,
    /// The id `earliest`, reserved as a cursor.
    ReservedId,
    /// A control or format character in the id.
    ForbiddenCharInId(char),
    /// A control or format character in the type.
    ForbiddenCharInType(char),
    /// The type `mercure`, reserved for hub events.
    ReservedType,
    /// The event-stream encoder refused a field (cannot happen after validation).
    Unencodable(String),
}

impl fmt::Display for UpdateError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NoTopic => write!(f, "missing \"topic\": give at least one topic"),
            Self::EmptyTopic => write!(f, "\"topic\" must not be empty"),
            Self::ForbiddenCharInTopic(c) => {
                write!(f, "\"topic\" contains the forbidden character U+{:04X}", *c as u32)
            }
            Self::WildcardTopic => write!(f, "\"topic\" must not be \"*\" (reserved for the wildcard matcher)"),
            Self::ReservedTopic(t) => write!(f, "topic {t:?} is inside the hub's reserved namespace {HUB_PATH}"),
            Self::IdStartsWithHash => write!(f, "\"id\" must not start with \"#\" (reserved for hub-generated ids)"),
            Self::ReservedId => write!(f, "\"id\" must not be \"earliest\" (reserved)"),
            Self::ForbiddenCharInId(c) => {
                write!(f, "\"id\" contains the forbidden character U+{:04X}", *c as u32)
            }
            Self::ForbiddenCharInType(c) => {
                write!(f, "\"type\" contains the forbidden character U+{:04X}", *c as u32)
            }
            Self::ReservedType => write!(f, "\"type\" must not be \"mercure\" (reserved for hub events)"),
            Self::Unencodable(why) => write!(f, "{why}"),
        }
    }
}

impl std::error::Error for UpdateError {}

/// An update that passed [`Update::validate`]: only such an update can be published.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValidUpdate(Update);

impl ValidUpdate {
    /// The update.
    pub fn get(&self) -> &Update {
        &self.0
    }

    /// The update, to build the event from.
    pub fn into_inner(self) -> Update {
        self.0
    }
}

impl Update {
    /// An update of `data` on one topic, with every other field left to the hub (a generated
    /// id, type `message`, public).
    pub fn new(topic: impl Into<String>, data: impl Into<String>) -> Self {
        Self { topics: vec![topic.into()], data: data.into(), ..Self::default() }
    }

    /// An update the hub itself publishes in its reserved namespace (subscription events, with
    /// the reserved type `mercure`): no publisher can produce one, so the rules that keep
    /// publishers out of that namespace do not apply. The caller builds it whole.
    pub fn into_hub_event(self) -> ValidUpdate {
        ValidUpdate(self)
    }

    /// Validates the update, so that it can be published.
    pub fn into_valid(self, hub_url: &Url) -> Result<ValidUpdate, UpdateError> {
        self.validate(hub_url)?;
        Ok(ValidUpdate(self))
    }

    /// Checks the update against the protocol's rules; `hub_url` resolves relative topics.
    pub fn validate(&self, hub_url: &Url) -> Result<(), UpdateError> {
        if self.topics.is_empty() {
            return Err(UpdateError::NoTopic);
        }
        for topic in &self.topics {
            if topic.is_empty() {
                return Err(UpdateError::EmptyTopic);
            }
            if let Some(c) = first_forbidden_char(topic) {
                return Err(UpdateError::ForbiddenCharInTopic(c));
            }
            if topic == "*" {
                return Err(UpdateError::WildcardTopic);
            }
            if is_reserved_topic(topic, hub_url) {
                return Err(UpdateError::ReservedTopic(topic.clone()));
            }
        }
        if let Some(id) = &self.id {
            if id.starts_with('#') {
                return Err(UpdateError::IdStartsWithHash);
            }
            if id == "earliest" {
                return Err(UpdateError::ReservedId);
            }
            if let Some(c) = first_forbidden_char(id) {
                return Err(UpdateError::ForbiddenCharInId(c));
            }
        }
        if let Some(t) = &self.event_type {
            if let Some(c) = first_forbidden_char(t) {
                return Err(UpdateError::ForbiddenCharInType(c));
            }
            if t == "mercure" {
                return Err(UpdateError::ReservedType);
            }
        }
        Ok(())
    }
}

/// True when `topic`, resolved against the hub's URL, names the hub path or a path below it.
///
/// Dot segments are removed by the URL parser and percent-encoded unreserved characters are
/// decoded before comparing, so `/.well-known/%6Dercure/x` and `/a/../.well-known/mercure` are
/// caught too. A topic that is not a URL reference cannot name a hub path.
pub fn is_reserved_topic(topic: &str, hub_url: &Url) -> bool {
    let Ok(resolved) = hub_url.join(topic) else {
        return false;
    };
    let path = decode_unreserved(resolved.path());
    let hub_path = hub_url.path().trim_end_matches('/');
    path == hub_path || path.strip_prefix(hub_path).is_some_and(|rest| rest.starts_with('/'))
}

/// Decodes `%XX` escapes of RFC 3986 unreserved characters, leaving every other escape as is.
fn decode_unreserved(path: &str) -> String {
    let bytes = path.as_bytes();
    let mut out = String::with_capacity(path.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            let hex = &path[i + 1..i + 3];
            if let Ok(v) = u8::from_str_radix(hex, 16) {
                let c = v as char;
                if c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '_' | '~') {
                    out.push(c);
                    i += 3;
                    continue;
                }
            }
        }
        // Paths from the URL parser are ASCII, so byte-wise copying is exact.
        out.push(bytes[i] as char);
        i += 1;
    }
    out
}

/// A wire format whose per-event encoding is made once and shared by every subscriber.
///
/// The event-stream frame is built when the event is; other formats (the transports' JSON, say)
/// are registered by the crate that defines them, each with its encoder, and every event caches
/// its encoding in the format's slot on first use. Core thus keeps the encode-once guarantee for
/// formats it knows nothing about.
#[derive(Debug)]
pub struct Format {
    name: &'static str,
    encode: fn(&Event) -> Bytes,
    /// The format's slot in each event's cache; `None` when every slot was taken (then each
    /// use encodes anew, which is correct but slower).
    slot: Option<usize>,
}

/// Formats that can cache their encoding on each event.
pub const FORMAT_SLOTS: usize = 6;

static NEXT_SLOT: AtomicUsize = AtomicUsize::new(0);

impl Format {
    /// Registers a format named `name` (for logs) whose encoder is `encode`. Call it once per
    /// format, e.g. in a `LazyLock`.
    pub fn register(name: &'static str, encode: fn(&Event) -> Bytes) -> Self {
        let slot = NEXT_SLOT.fetch_add(1, Ordering::Relaxed);
        let slot = (slot < FORMAT_SLOTS).then_some(slot);
        if slot.is_none() {
            tracing::warn!(format = name, "no cache slot left: events are encoded for every use");
        }
        Self { name, encode, slot }
    }

    /// The format's name.
    pub fn name(&self) -> &'static str {
        self.name
    }
}

/// An accepted update: its place in the hub-wide log and its wire encodings.
#[derive(Debug)]
pub struct Event {
    /// Position in the hub-wide log; strictly increasing in publish order.
    pub seq: u64,
    /// The event's id: the publisher's, or one the hub generated.
    pub id: Arc<str>,
    /// The canonical topic first, then alternate topics.
    pub topics: Vec<String>,
    /// The event-stream `event` field, if the publisher gave a type.
    pub event_type: Option<String>,
    /// The payload.
    pub data: String,
    /// The reconnection delay to advise, in milliseconds.
    pub retry: Option<u64>,
    /// Only subscribers allowed to read one of the topics receive it.
    pub private: bool,
    /// When the hub accepted it, in milliseconds since the Unix epoch (for retention by age).
    pub published_ms: u64,
    /// When this process built it, on the monotonic clock: for an event published here, when
    /// the hub accepted it (the start of its publish-to-write delay).
    pub created: std::time::Instant,
    sse: Bytes,
    /// The encodings of registered [`Format`]s, each built on first use.
    encodings: [OnceLock<Bytes>; FORMAT_SLOTS],
}

impl Event {
    /// Builds the event and encodes its event-stream frame once. `update` must be validated.
    pub fn new(seq: u64, id: Arc<str>, published_ms: u64, update: Update) -> Result<Self, herald_sse::EncodeError> {
        let frame = herald_sse::Frame {
            id: Some(&id),
            event: update.event_type.as_deref(),
            data: &update.data,
            retry: update.retry,
        };
        let sse = frame.encode()?;
        Ok(Self {
            seq,
            id,
            topics: update.topics,
            event_type: update.event_type,
            data: update.data,
            retry: update.retry,
            private: update.private,
            published_ms,
            created: std::time::Instant::now(),
            sse,
            encodings: Default::default(),
        })
    }

    /// The event in `format`, encoded on first use and shared by every later use.
    pub fn encoded(&self, format: &Format) -> Cow<'_, Bytes> {
        match format.slot {
            Some(slot) => Cow::Borrowed(self.encodings[slot].get_or_init(|| (format.encode)(self))),
            None => Cow::Owned((format.encode)(self)),
        }
    }

    /// The approximate memory and storage footprint, counted against size-based retention.
    pub fn size(&self) -> usize {
        self.sse.len() + self.data.len() + self.topics.iter().map(String::len).sum::<usize>()
    }

    /// The complete `text/event-stream` frame, shared by every SSE subscriber.
    pub fn sse_frame(&self) -> &Bytes {
        &self.sse
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hub() -> Url {
        Url::parse("https://hub.example/.well-known/mercure").unwrap()
    }

    fn update(topic: &str) -> Update {
        Update { topics: vec![topic.into()], ..Default::default() }
    }

    #[test]
    fn reserved_namespace_is_detected_through_encodings_and_dot_segments() {
        for t in [
            "/.well-known/mercure",
            "/.well-known/mercure/subscriptions/x",
            "https://other.example/.well-known/mercure/x",
            "/.well-known/%6Dercure/x",
            "/a/../.well-known/mercure/x",
            "/.well-known/./mercure",
            "subscriptions/x/../../mercure",
        ] {
            assert!(is_reserved_topic(t, &hub()), "{t} should be reserved");
        }
        for t in ["/.well-known/mercurex", "https://example.com/books/1", "urn:isbn:123", "/.well-known/%2Fmercure"] {
            assert!(!is_reserved_topic(t, &hub()), "{t} should not be reserved");
        }
    }

    #[test]
    fn validation_follows_the_protocol() {
        assert_eq!(Update::default().validate(&hub()), Err(UpdateError::NoTopic));
        assert_eq!(update("*").validate(&hub()), Err(UpdateError::WildcardTopic));
        assert_eq!(update("a\nb").validate(&hub()), Err(UpdateError::ForbiddenCharInTopic('\n')));
        assert!(matches!(update("/.well-known/mercure/x").validate(&hub()), Err(UpdateError::ReservedTopic(_))));
        let with = |f: fn(&mut Update)| {
            let mut u = update("https://example.com/a");
            f(&mut u);
            u.validate(&hub())
        };
        assert_eq!(with(|u| u.id = Some("#1".into())), Err(UpdateError::IdStartsWithHash));
        assert_eq!(with(|u| u.id = Some("earliest".into())), Err(UpdateError::ReservedId));
        assert_eq!(with(|u| u.id = Some("a\rb".into())), Err(UpdateError::ForbiddenCharInId('\r')));
        assert_eq!(with(|u| u.event_type = Some("mercure".into())), Err(UpdateError::ReservedType));
        assert!(with(|u| u.event_type = Some("x\u{2028}".into())).is_ok());
        assert_eq!(
            with(|u| u.event_type = Some("x\u{200e}".into())),
            Err(UpdateError::ForbiddenCharInType('\u{200e}'))
        );
        assert_eq!(with(|u| u.id = Some("urn:uuid:1".into())), Ok(()));
    }

    #[test]
    fn event_frame_is_encoded_once_with_all_fields() {
        let u = Update {
            topics: vec!["t".into()],
            data: "a\nb".into(),
            event_type: Some("price".into()),
            retry: Some(1500),
            ..Default::default()
        };
        let ev = Event::new(7, Arc::from("id-7"), 0, u).unwrap();
        assert_eq!(&ev.sse_frame()[..], b"id: id-7\nevent: price\nretry: 1500\ndata: a\ndata: b\n\n");
        static COUNTING: std::sync::LazyLock<Format> = std::sync::LazyLock::new(|| {
            Format::register("counting", |event| {
                ENCODED.fetch_add(1, Ordering::SeqCst);
                Bytes::from(event.data.to_uppercase())
            })
        });
        static ENCODED: AtomicUsize = AtomicUsize::new(0);
        assert_eq!(&ev.encoded(&COUNTING)[..], b"A\nB");
        assert_eq!(&ev.encoded(&COUNTING)[..], b"A\nB");
        assert_eq!(ENCODED.load(Ordering::SeqCst), 1, "encoded once");
    }
}
