//! The forever frame (`transport=htmlfile`), for legacy browsers: a `text/html` page that never
//! ends, loaded in a hidden iframe. It opens with a script defining `e(m)`, which calls
//! `parent[callback](m)`, and 1 KiB of padding (browsers run a streamed page's scripts only after
//! its first kilobyte or so), then sends one `<script>e({…});</script>` chunk per event, with
//! the JSON event message made safe inside a script element.

use crate::metrics::connections::Transport;
use std::sync::{Arc, LazyLock};

use bytes::Bytes;
use herald_core::{Event, Format};

use super::json;
use super::stream::{gather, StreamFormat};

const HEARTBEAT: Bytes = Bytes::from_static(b"<script>e({\"type\":\"heartbeat\"});</script>\n");
/// Bytes of padding after the prelude's script.
const PADDING: usize = 1024;
/// The callback's name when the request gives none.
pub(crate) const DEFAULT_CALLBACK: &str = "herald";
/// Longest callback name accepted.
const MAX_CALLBACK_LEN: usize = 64;

/// The `<script>` chunk of each event, as a registered format of the hub's events.
static SCRIPT: LazyLock<Format> = LazyLock::new(|| Format::register("htmlfile", encode));

/// The forever frame, calling `parent[callback]` with each message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct HtmlFile {
    callback: String,
}

impl HtmlFile {
    /// The format for `callback` (default [`DEFAULT_CALLBACK`]), which must be a plain
    /// JavaScript identifier so that it cannot inject script.
    pub(crate) fn new(callback: Option<String>) -> Result<Self, String> {
        let callback = callback.unwrap_or_else(|| DEFAULT_CALLBACK.to_owned());
        let mut chars = callback.chars();
        let starts_well = chars.next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_' || c == '$');
        let plain = chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '$');
        if starts_well && plain && callback.len() <= MAX_CALLBACK_LEN {
            Ok(Self { callback })
        } else {
            Err(format!(
                "callback={callback:?}: give a JavaScript identifier of at most {MAX_CALLBACK_LEN} letters, digits, _ or $"
            ))
        }
    }
}

impl StreamFormat for HtmlFile {
    const CONTENT_TYPE: &'static str = "text/html; charset=utf-8";
    const TRANSPORT: Transport = Transport::HtmlFile;

    fn prelude(&self, _position: Option<&str>) -> Bytes {
        let callback = &self.callback;
        let mut page = format!(
            "<!DOCTYPE html><html><head><meta charset=\"utf-8\"><title>Herald</title></head><body>\n\
             <script>function e(m){{try{{window.parent[\"{callback}\"](m)}}catch(x){{}}}}</script>\n<!--"
        );
        page.push_str(&" ".repeat(PADDING));
        page.push_str("-->\n");
        Bytes::from(page)
    }

    fn heartbeat(&self) -> Bytes {
        HEARTBEAT
    }

    fn batch(&self, events: &[Arc<Event>]) -> Bytes {
        gather(events, |e| e.encoded(&SCRIPT), b"")
    }
}

/// `<script>e({…});</script>`: `<` is written `\u003c`, so no `</script>` or `<!--` can occur,
/// and the line separators U+2028 and U+2029, which older JavaScript engines refuse in source,
/// are escaped too.
fn encode(event: &Event) -> Bytes {
    let message = json::message(event);
    let json = String::from_utf8_lossy(&message);
    let mut chunk = String::with_capacity(json.len() + 32);
    chunk.push_str("<script>e(");
    for c in json.chars() {
        match c {
            '<' => chunk.push_str("\\u003c"),
            '\u{2028}' => chunk.push_str("\\u2028"),
            '\u{2029}' => chunk.push_str("\\u2029"),
            c => chunk.push(c),
        }
    }
    chunk.push_str(");</script>\n");
    Bytes::from(chunk)
}

#[cfg(test)]
mod tests {
    use herald_core::Update;

    use super::*;

    #[test]
    fn a_chunk_cannot_close_its_element_and_is_encoded_once() {
        let update =
            Update { topics: vec!["t".into()], data: "</script><!-- \u{2028}\u{2029} é".into(), ..Default::default() };
        let event = Arc::new(Event::new(1, "x".into(), 0, update).unwrap());
        let frame = HtmlFile::new(None).unwrap();
        let chunk = frame.batch(std::slice::from_ref(&event));
        let text = std::str::from_utf8(&chunk).unwrap();
        let inner = text.strip_prefix("<script>e(").unwrap().strip_suffix(");</script>\n").unwrap();
        assert!(!inner.contains('<') && !inner.contains('\u{2028}') && !inner.contains('\u{2029}'), "{inner}");
        let json: serde_json::Value = serde_json::from_str(inner).unwrap();
        assert_eq!(json["data"], "</script><!-- \u{2028}\u{2029} é");
        assert_eq!(frame.batch(std::slice::from_ref(&event)).as_ptr(), chunk.as_ptr(), "encoded once");
    }

    #[test]
    fn callbacks_are_plain_identifiers() {
        assert!(HtmlFile::new(Some("$on_event2".into())).is_ok());
        for bad in ["alert(1)", "1a", "", "a.b", &"a".repeat(65)] {
            assert!(HtmlFile::new(Some(bad.to_owned())).is_err(), "{bad}");
        }
        assert!(std::str::from_utf8(&HtmlFile::new(None).unwrap().prelude(None)).unwrap().contains("[\"herald\"]"));
    }
}
