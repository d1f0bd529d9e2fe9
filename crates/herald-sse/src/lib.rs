//! The Server-Sent Events wire format (`text/event-stream`), with no I/O.
//!
//! [`Frame`] encodes an event the way a hub sends it: one `data:` line per payload line, and a
//! refusal of any `id`, `event` or comment value that would inject extra fields. [`Parser`]
//! reads a stream incrementally, exactly as the WHATWG HTML standard's "event stream
//! interpretation" says a browser does; clients and tests use it to see what a browser sees.

mod encode;
mod parse;

pub use encode::{encode_comment, encode_control, encode_retry, EncodeError, Frame};
pub use parse::{ParsedEvent, Parser};

/// The examples of the crate's README, compiled (and run, unless marked `no_run`) as doctests.
#[doc = include_str!("../README.md")]
#[cfg(doctest)]
pub struct ReadmeDoctests;
