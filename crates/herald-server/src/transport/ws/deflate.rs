//! The DEFLATE side of permessage-deflate (RFC 7692 section 7.2): compressing a message the hub
//! sends, inflating one a client sent, both without context takeover.
//!
//! The hub never carries a compression context from one message to the next (it answers
//! `server_no_context_takeover` and `client_no_context_takeover`), so each message is a
//! self-contained DEFLATE stream. That is what lets an event be compressed once and the very
//! same bytes go to every subscriber, and lets a connection keep no (de)compressor between
//! messages: each thread keeps one compressor per window kind and one inflater, reset for each
//! message. The compression itself is `miniz_oxide`'s.
//!
//! A client that limits the hub's window below 32 KiB (`server_max_window_bits` under 15)
//! gets messages compressed with run-length matches only (distance 1), which any window size
//! can decode; everyone else gets the full window.

use std::cell::RefCell;

use miniz_oxide::deflate::core::{
    compress_to_output, create_comp_flags_from_zip_params, CompressionStrategy, CompressorOxide, TDEFLFlush,
    TDEFLStatus,
};
use miniz_oxide::inflate::stream::{inflate as inflate_stream, InflateState};
use miniz_oxide::{DataFormat, MZError, MZFlush, MZStatus};

/// The hub's compression window, as the negotiation left it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Window {
    /// 32 KiB (`server_max_window_bits` 15 or not limited).
    Full,
    /// The client asked for less: matches at distance 1 only.
    Narrow,
}

/// zlib's default level: the compression of an event is shared by all its subscribers, so a
/// good ratio is worth more than the few microseconds it costs once.
const LEVEL: i32 = 6;
/// What a sync flush ends with, and what section 7.2.1 has the sender remove (and the receiver
/// put back).
const TRAILER: [u8; 4] = [0x00, 0x00, 0xFF, 0xFF];

thread_local! {
    static COMPRESSORS: RefCell<[Option<Box<CompressorOxide>>; 2]> = const { RefCell::new([None, None]) };
    static INFLATER: RefCell<Option<Box<InflateState>>> = const { RefCell::new(None) };
}

fn compressor(window: Window) -> Box<CompressorOxide> {
    let strategy = match window {
        Window::Full => CompressionStrategy::Default,
        Window::Narrow => CompressionStrategy::RLE,
    };
    // Negative window bits: a raw DEFLATE stream, no zlib header.
    let flags = create_comp_flags_from_zip_params(LEVEL, -15, strategy as i32);
    Box::new(CompressorOxide::new(flags))
}

/// `data` as the payload of a compressed message: raw DEFLATE, sync-flushed, with the final
/// `00 00 FF FF` removed. `None` if compression failed (then the message goes uncompressed).
pub(crate) fn compress(data: &[u8], window: Window) -> Option<Vec<u8>> {
    let slot = match window {
        Window::Full => 0,
        Window::Narrow => 1,
    };
    COMPRESSORS.with(|compressors| {
        let mut compressors = compressors.borrow_mut();
        let compressor = compressors[slot].get_or_insert_with(|| compressor(window));
        compressor.reset();
        let mut out = Vec::with_capacity(data.len() / 2 + 16);
        let (status, consumed) = compress_to_output(compressor, data, TDEFLFlush::Sync, |chunk| {
            out.extend_from_slice(chunk);
            true
        });
        if status != TDEFLStatus::Okay || consumed != data.len() || !out.ends_with(&TRAILER) {
            return None;
        }
        out.truncate(out.len() - TRAILER.len());
        Some(out)
    })
}

/// Why a compressed message could not be inflated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum InflateError {
    /// It inflates to more than the limit (close code 1009).
    TooBig,
    /// It is not valid DEFLATE data (close code 1007).
    Corrupt,
}

/// Inflates the payload of a compressed message (its fragments put together), refusing to
/// produce more than `limit` bytes: a small message that would inflate to gigabytes (a
/// decompression bomb) stops at the limit, with no more memory taken than that.
pub(crate) fn inflate(compressed: &[u8], limit: usize) -> Result<Vec<u8>, InflateError> {
    INFLATER.with(|inflater| {
        let mut inflater = inflater.borrow_mut();
        let state = inflater.get_or_insert_with(|| InflateState::new_boxed(DataFormat::Raw));
        // A full reset zeroes the window: a crafted stream reaching back past its own start
        // must find zeros, not the end of another client's message inflated on this thread.
        state.reset(DataFormat::Raw);
        let mut out = Vec::with_capacity(compressed.len().saturating_mul(3).min(limit).max(64));
        for input in [compressed, &TRAILER[..]] {
            let mut input = input;
            loop {
                if out.len() == out.capacity() {
                    // One byte past the limit shows that the message is over it.
                    if out.len() > limit {
                        return Err(InflateError::TooBig);
                    }
                    let more = out.capacity().max(1024).min(limit + 1 - out.len());
                    out.reserve_exact(more);
                }
                let start = out.len();
                let room = out.capacity() - start;
                out.resize(start + room, 0);
                let result = inflate_stream(state, input, &mut out[start..], MZFlush::None);
                out.truncate(start + result.bytes_written);
                input = &input[result.bytes_consumed..];
                if out.len() > limit {
                    return Err(InflateError::TooBig);
                }
                let room_left = out.len() < out.capacity();
                match result.status {
                    // The sender ended the stream with a final block: what follows is ignored.
                    Ok(MZStatus::StreamEnd) => return Ok(out),
                    // Buf: no progress possible. Either this input is used up (go on with the
                    // next), or the output is full (grow it); anything else is a stuck stream.
                    Ok(_) | Err(MZError::Buf) if input.is_empty() && room_left => break,
                    Ok(_) | Err(MZError::Buf) if !room_left => {}
                    Ok(_) if result.bytes_consumed + result.bytes_written > 0 => {}
                    _ => return Err(InflateError::Corrupt),
                }
            }
        }
        Ok(out)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn json_like(n: usize) -> Vec<u8> {
        let mut data = Vec::new();
        for i in 0..n {
            data.extend_from_slice(format!(r#"{{"type":"event","id":"urn:{i}","data":"price {i}"}}"#).as_bytes());
        }
        data
    }

    #[test]
    fn messages_round_trip_in_both_windows() {
        for window in [Window::Full, Window::Narrow] {
            for data in [Vec::new(), b"a".to_vec(), json_like(1), json_like(500), vec![7; 100_000]] {
                let compressed = compress(&data, window).unwrap();
                assert!(!compressed.ends_with(&TRAILER));
                assert_eq!(inflate(&compressed, data.len()).unwrap(), data, "{window:?}, {} bytes", data.len());
            }
        }
        let data = json_like(100);
        assert!(compress(&data, Window::Full).unwrap().len() < data.len() / 4, "JSON compresses well");
    }

    #[test]
    fn the_narrow_window_only_repeats_the_previous_byte() {
        // Text without runs: the narrow window finds (almost) no matches, the full one many. (The
        // round trip above shows it decodes.)
        let data = json_like(200);
        let full = compress(&data, Window::Full).unwrap();
        let narrow = compress(&data, Window::Narrow).unwrap();
        assert!(narrow.len() > full.len() * 2, "full {} narrow {}", full.len(), narrow.len());
    }

    #[test]
    fn bombs_stop_at_the_limit() {
        let bomb = compress(&vec![0; 10_000_000], Window::Full).unwrap();
        assert!(bomb.len() < 20_000);
        assert_eq!(inflate(&bomb, 1_000_000), Err(InflateError::TooBig));
        assert_eq!(inflate(&bomb, 10_000_000).map(|v| v.len()), Ok(10_000_000));
    }

    #[test]
    fn garbage_is_corrupt() {
        assert_eq!(inflate(&[0xFF, 0xFF, 0xFF, 0xFF], 1000), Err(InflateError::Corrupt));
    }
}
