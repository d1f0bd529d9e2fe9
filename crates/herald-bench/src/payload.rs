//! Message payloads: a sequence number and the send time, padded to the configured size.
//!
//! A payload reads `<k> <t> xxxx…`: `k` the message's index in the run (its topic is
//! `k % topics`, its publisher `k % publishers`), `t` the microseconds since the run's clock
//! started when it was sent. Publishers and subscribers live in one process and share the clock,
//! so the difference is the publish-to-receive latency with no clock skew.

use std::time::Instant;

use crate::config::PayloadStyle;

/// The run's time origin.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Clock {
    origin: Instant,
}

impl Clock {
    pub(crate) fn start() -> Self {
        Self { origin: Instant::now() }
    }

    /// Microseconds since the clock started.
    pub(crate) fn now_us(&self) -> u64 {
        u64::try_from(self.origin.elapsed().as_micros()).unwrap_or(u64::MAX)
    }
}

/// The payload of message `k` sent at `sent_us`, `size` bytes long (longer if the numbers need it).
pub(crate) fn encode(k: u64, sent_us: u64, size: usize, style: PayloadStyle) -> String {
    let mut text = format!("{k} {sent_us} ");
    match style {
        PayloadStyle::Filler => {
            if text.len() < size {
                text.push_str(&"x".repeat(size - text.len()));
            }
        }
        PayloadStyle::Json => json_filler(&mut text, k, size),
    }
    text
}

/// Fills `text` up to `size` bytes with JSON-like records (a ticker's quotes, say): repeated keys,
/// varying numbers and symbols, as compressible as typical event payloads.
fn json_filler(text: &mut String, k: u64, size: usize) {
    use std::fmt::Write as _;
    const SYMBOLS: [&str; 8] = ["ACME", "GLOBX", "INITECH", "UMBRC", "HOOLI", "STARK", "WAYNE", "TYRELL"];
    const SIDES: [&str; 3] = ["buy", "sell", "hold"];
    // A small xorshift, seeded by the message: every message differs, runs repeat.
    let mut state = k.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    let numbers = text.len();
    text.push('[');
    while text.len() < size {
        let r = next();
        let _ = write!(
            text,
            r#"{{"symbol":"{}","price":{}.{:02},"volume":{},"side":"{}","seq":{}}},"#,
            SYMBOLS[(r % 8) as usize],
            10 + (r >> 8) % 990,
            (r >> 20) % 100,
            (r >> 27) % 100_000,
            SIDES[((r >> 44) % 3) as usize],
            r >> 48,
        );
    }
    // Records are cut at the size (never the numbers): the text is ASCII, so any byte is a
    // boundary.
    text.truncate(size.max(numbers));
}

/// The message index and send time in `payload`, or `None` if it is not one of ours.
pub(crate) fn decode(payload: &[u8]) -> Option<(u64, u64)> {
    let mut fields = payload.split(|&b| b == b' ');
    let k = number(fields.next()?)?;
    let sent = number(fields.next()?)?;
    Some((k, sent))
}

fn number(digits: &[u8]) -> Option<u64> {
    if digits.is_empty() || digits.len() > 19 {
        return None;
    }
    digits.iter().try_fold(0u64, |n, &d| d.is_ascii_digit().then(|| n * 10 + u64::from(d - b'0')))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_at_the_requested_size() {
        let text = encode(42, 123_456, 100, PayloadStyle::Filler);
        assert_eq!(text.len(), 100);
        assert_eq!(decode(text.as_bytes()), Some((42, 123_456)));
    }

    #[test]
    fn small_sizes_still_carry_the_numbers() {
        let text = encode(7, 9, 1, PayloadStyle::Filler);
        assert_eq!(text, "7 9 ");
        assert_eq!(decode(text.as_bytes()), Some((7, 9)));
    }

    #[test]
    fn json_payloads_are_the_requested_size_and_vary() {
        let a = encode(1, 5, 1024, PayloadStyle::Json);
        let b = encode(2, 5, 1024, PayloadStyle::Json);
        assert_eq!((a.len(), b.len()), (1024, 1024));
        assert_eq!(decode(a.as_bytes()), Some((1, 5)));
        assert!(a.contains(r#""symbol":"#));
        assert_ne!(a[4..], b[4..]);
    }

    #[test]
    fn foreign_payloads_are_refused() {
        assert_eq!(decode(b"hello world"), None);
        assert_eq!(decode(b"12"), None);
        assert_eq!(decode(b""), None);
        assert_eq!(decode(b"99999999999999999999 1"), None);
    }
}
