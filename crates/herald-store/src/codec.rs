//! The on-disk layout of one event: a version byte, then fixed-size fields, then
//! length-prefixed strings. Decoding checks every length, so a damaged record is reported as
//! corrupt instead of being misread.
//!
//! ```text
//! u8 version (1) | u64 published_ms | u8 flags (1 private, 2 type, 4 retry) | [u64 retry]
//! | str id | [str type] | u32 topic count | str topic… | str data        (str = u32 len + UTF-8)
//! ```
//!
//! The store keeps consecutive events together in pages ([`Page`]), each record preceded by its
//! position and its length:
//!
//! ```text
//! (u64 position | u32 length | record)…
//! ```

use std::sync::Arc;

use herald_core::{Event, Update};

const VERSION: u8 = 1;
const PRIVATE: u8 = 1;
const HAS_TYPE: u8 = 2;
const HAS_RETRY: u8 = 4;

/// Serializes `event` (its position is the record's key, not part of the value).
pub fn encode(event: &Event) -> Vec<u8> {
    let mut out = Vec::with_capacity(32 + event.size());
    out.push(VERSION);
    out.extend_from_slice(&event.published_ms.to_be_bytes());
    let flags = (if event.private { PRIVATE } else { 0 })
        | (if event.event_type.is_some() { HAS_TYPE } else { 0 })
        | (if event.retry.is_some() { HAS_RETRY } else { 0 });
    out.push(flags);
    if let Some(retry) = event.retry {
        out.extend_from_slice(&retry.to_be_bytes());
    }
    put_str(&mut out, &event.id);
    if let Some(t) = &event.event_type {
        put_str(&mut out, t);
    }
    out.extend_from_slice(&(event.topics.len() as u32).to_be_bytes());
    for topic in &event.topics {
        put_str(&mut out, topic);
    }
    put_str(&mut out, &event.data);
    out
}

fn put_str(out: &mut Vec<u8>, s: &str) {
    out.extend_from_slice(&(s.len() as u32).to_be_bytes());
    out.extend_from_slice(s.as_bytes());
}

/// Rebuilds the event stored at position `seq`; `None` when the record is damaged.
pub fn decode(seq: u64, bytes: &[u8]) -> Option<Event> {
    let mut r = Reader(bytes);
    if r.u8()? != VERSION {
        return None;
    }
    let published_ms = r.u64()?;
    let flags = r.u8()?;
    let retry = if flags & HAS_RETRY != 0 { Some(r.u64()?) } else { None };
    let id: Arc<str> = r.str()?.into();
    let event_type = if flags & HAS_TYPE != 0 { Some(r.str()?) } else { None };
    let topic_count = r.u32()? as usize;
    // Each topic takes at least 4 bytes: a count larger than that is damage, not a huge event.
    if topic_count > r.0.len() / 4 {
        return None;
    }
    let topics = (0..topic_count).map(|_| r.str()).collect::<Option<Vec<_>>>()?;
    let data = r.str()?;
    if !r.0.is_empty() {
        return None;
    }
    let update = Update { topics, data, id: None, event_type, retry, private: flags & PRIVATE != 0 };
    Event::new(seq, id, published_ms, update).ok()
}

/// The publication time of a record, read without decoding the rest.
pub fn published_ms(bytes: &[u8]) -> Option<u64> {
    let mut r = Reader(bytes);
    (r.u8()? == VERSION).then_some(())?;
    r.u64()
}

/// The id of a record, read without decoding the rest.
pub fn id(bytes: &[u8]) -> Option<&str> {
    let mut r = Reader(bytes);
    (r.u8()? == VERSION).then_some(())?;
    r.u64()?;
    if r.u8()? & HAS_RETRY != 0 {
        r.u64()?;
    }
    let len = r.u32()? as usize;
    std::str::from_utf8(r.take(len)?).ok()
}

/// A page being filled: records appended with their positions, in order.
#[derive(Debug, Default)]
pub struct Page {
    bytes: Vec<u8>,
}

impl Page {
    /// Adds the record of the event at `seq`.
    pub fn push(&mut self, seq: u64, record: &[u8]) {
        self.bytes.extend_from_slice(&seq.to_be_bytes());
        self.bytes.extend_from_slice(&(record.len() as u32).to_be_bytes());
        self.bytes.extend_from_slice(record);
    }

    /// Bytes so far.
    pub fn len(&self) -> usize {
        self.bytes.len()
    }

    /// Whether no record was added.
    pub fn is_empty(&self) -> bool {
        self.bytes.is_empty()
    }

    /// The page as stored.
    pub fn into_bytes(self) -> Vec<u8> {
        self.bytes
    }
}

/// The records of a stored page with their positions, in order; `None` when the page is damaged
/// (a length past its end, or positions that do not increase).
pub fn page_records(bytes: &[u8]) -> Option<Vec<(u64, &[u8])>> {
    let mut r = Reader(bytes);
    let mut records = Vec::new();
    while !r.0.is_empty() {
        let seq = r.u64()?;
        if records.last().is_some_and(|&(last, _)| last >= seq) {
            return None;
        }
        let len = r.u32()? as usize;
        records.push((seq, r.take(len)?));
    }
    Some(records)
}

struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        if self.0.len() < n {
            return None;
        }
        let (head, rest) = self.0.split_at(n);
        self.0 = rest;
        Some(head)
    }

    fn u8(&mut self) -> Option<u8> {
        self.take(1).map(|b| b[0])
    }

    fn u32(&mut self) -> Option<u32> {
        self.take(4).and_then(|b| b.try_into().ok()).map(u32::from_be_bytes)
    }

    fn u64(&mut self) -> Option<u64> {
        self.take(8).and_then(|b| b.try_into().ok()).map(u64::from_be_bytes)
    }

    fn str(&mut self) -> Option<String> {
        let len = self.u32()? as usize;
        let bytes = self.take(len)?;
        String::from_utf8(bytes.to_vec()).ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(private: bool, event_type: Option<&str>, retry: Option<u64>) -> Event {
        let update = Update {
            topics: vec!["https://example.com/a".into(), "/b/ü".into()],
            data: "line 1\nline 2 🚀".into(),
            id: None,
            event_type: event_type.map(Into::into),
            retry,
            private,
        };
        Event::new(42, Arc::from("urn:uuid:x"), 1_700_000_000_123, update).unwrap()
    }

    #[test]
    fn round_trips_every_field() {
        for original in [event(false, None, None), event(true, Some("price"), Some(2500))] {
            let bytes = encode(&original);
            assert_eq!(published_ms(&bytes), Some(original.published_ms));
            assert_eq!(id(&bytes), Some(&*original.id));
            let back = decode(42, &bytes).unwrap();
            assert_eq!(back.seq, 42);
            assert_eq!(back.id, original.id);
            assert_eq!(back.topics, original.topics);
            assert_eq!(back.data, original.data);
            assert_eq!(back.event_type, original.event_type);
            assert_eq!(back.retry, original.retry);
            assert_eq!(back.private, original.private);
            assert_eq!(back.published_ms, original.published_ms);
            assert_eq!(back.sse_frame(), original.sse_frame());
        }
    }

    #[test]
    fn pages_round_trip_and_damaged_pages_are_refused() {
        let records: [&[u8]; 3] = [b"one", b"", b"three"];
        let mut page = Page::default();
        for (i, record) in records.iter().enumerate() {
            page.push(10 + i as u64, record);
        }
        let bytes = page.into_bytes();
        let back = page_records(&bytes).unwrap();
        assert_eq!(back, [(10, &b"one"[..]), (11, &b""[..]), (12, &b"three"[..])]);
        assert_eq!(page_records(&[]).unwrap(), []);
        for cut in 1..bytes.len() {
            if ![15, 27].contains(&cut) {
                assert!(page_records(&bytes[..cut]).is_none(), "truncated at {cut}");
            }
        }
        let mut backwards = Page::default();
        backwards.push(5, b"a");
        backwards.push(5, b"b");
        assert!(page_records(&backwards.into_bytes()).is_none());
    }

    #[test]
    fn damaged_records_are_refused() {
        let bytes = encode(&event(true, Some("t"), Some(1)));
        for cut in 0..bytes.len() {
            assert!(decode(1, &bytes[..cut]).is_none(), "truncated at {cut}");
        }
        let mut extra = bytes.clone();
        extra.push(0);
        assert!(decode(1, &extra).is_none());
        let mut version = bytes.clone();
        version[0] = 9;
        assert!(decode(1, &version).is_none());
        let mut huge_count = encode(&event(false, None, None));
        let at = 1 + 8 + 1 + 4 + "urn:uuid:x".len();
        huge_count[at..at + 4].copy_from_slice(&u32::MAX.to_be_bytes());
        assert!(decode(1, &huge_count).is_none());
    }
}
