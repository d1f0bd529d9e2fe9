//! An event as a WebSocket frame, made once per event (and compression window) and shared by
//! every subscriber that receives it that way: plain, or compressed for those that negotiated
//! permessage-deflate with that window.
//!
//! The frame (header and payload) is cached on the event like its other encodings, built on
//! first use, so an event nobody receives compressed is never compressed, and a subscriber's
//! write is the one shared slice. The payload is the
//! event's JSON message (see [`crate::transport::json`]); when compressing it would not make it
//! smaller (short events), the cached frame is the plain text frame, which permessage-deflate
//! allows for any message.

use std::borrow::Cow;
use std::sync::LazyLock;

use bytes::{Bytes, BytesMut};
use herald_core::{Event, Format};

use super::deflate::{self, Window};
use super::frame::{Opcode, ServerHeader};
use crate::transport::json;

static PLAIN: LazyLock<Format> = LazyLock::new(|| Format::register("ws-text", plain_frame));
static FULL: LazyLock<Format> = LazyLock::new(|| Format::register("ws-deflate", |e| encode(e, Window::Full)));
static NARROW: LazyLock<Format> =
    LazyLock::new(|| Format::register("ws-deflate-narrow", |e| encode(e, Window::Narrow)));

/// The event's shared text frame, uncompressed.
pub(crate) fn plain(event: &Event) -> Cow<'_, Bytes> {
    event.encoded(&PLAIN)
}

fn plain_frame(event: &Event) -> Bytes {
    framed(false, &json::message(event))
}

/// The event's shared frame for subscribers whose hub side compresses with `window`.
pub(crate) fn deflated(event: &Event, window: Window) -> Cow<'_, Bytes> {
    event.encoded(match window {
        Window::Full => &FULL,
        Window::Narrow => &NARROW,
    })
}

fn encode(event: &Event, window: Window) -> Bytes {
    let json = json::message(event);
    let (compressed, payload) = match deflate::compress(&json, window) {
        Some(compressed) if compressed.len() < json.len() => (true, Cow::Owned(compressed)),
        _ => (false, Cow::Borrowed(&json[..])),
    };
    framed(compressed, &payload)
}

/// A final text frame holding `payload` (compressed, RSV1 set, or not).
fn framed(compressed: bool, payload: &[u8]) -> Bytes {
    let header = ServerHeader::new(Opcode::Text, compressed, payload.len());
    let mut frame = BytesMut::with_capacity(header.as_bytes().len() + payload.len());
    frame.extend_from_slice(header.as_bytes());
    frame.extend_from_slice(payload);
    frame.freeze()
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use herald_core::Update;

    use super::*;

    fn event(data: &str) -> Event {
        Event::new(1, Arc::from("id-1"), 0, Update::new("/t", data)).unwrap()
    }

    /// A final text frame's RSV1 bit and payload.
    fn parse(frame: &[u8]) -> (bool, &[u8]) {
        assert_eq!(frame[0] & 0xBF, 0x81, "final text frame");
        let payload = match frame[1] {
            126 => &frame[4..],
            127 => &frame[10..],
            n => {
                assert_eq!(usize::from(n), frame.len() - 2);
                &frame[2..]
            }
        };
        (frame[0] & 0x40 != 0, payload)
    }

    #[test]
    fn the_frame_is_compressed_once_and_shared() {
        let event = event(&"{\"price\": 17.5, \"symbol\": \"ACME\"} ".repeat(40));
        let frame = deflated(&event, Window::Full);
        assert!(matches!(frame, Cow::Borrowed(_)), "cached on the event");
        assert_eq!(frame.as_ptr(), deflated(&event, Window::Full).as_ptr(), "compressed once");
        let (compressed, payload) = parse(&frame);
        assert!(compressed);
        let inflated = deflate::inflate(payload, 1 << 20).unwrap();
        assert_eq!(inflated, json::message(&event).to_vec());
        let narrow = deflated(&event, Window::Narrow);
        assert_ne!(narrow.as_ptr(), frame.as_ptr(), "one frame per window");
        let (compressed, payload) = parse(&narrow);
        assert!(compressed);
        assert_eq!(deflate::inflate(payload, 1 << 20).unwrap(), inflated);
    }

    #[test]
    fn the_plain_frame_is_made_once_and_holds_the_json_message() {
        let event = event("hello");
        let frame = plain(&event);
        assert!(matches!(frame, Cow::Borrowed(_)), "cached on the event");
        assert_eq!(frame.as_ptr(), plain(&event).as_ptr());
        assert_eq!(parse(&frame), (false, &json::message(&event)[..]));
    }

    #[test]
    fn incompressible_events_go_uncompressed() {
        // Distinct characters: nothing to gain.
        let data: String = (0x100..0x300).filter_map(char::from_u32).collect();
        let event = event(&data);
        let frame = deflated(&event, Window::Narrow);
        let (compressed, payload) = parse(&frame);
        if compressed {
            assert_eq!(deflate::inflate(payload, 1 << 20).unwrap(), json::message(&event).to_vec());
        } else {
            assert_eq!(payload, &json::message(&event)[..]);
        }
    }
}
