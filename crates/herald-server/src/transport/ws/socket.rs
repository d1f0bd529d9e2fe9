//! One upgraded WebSocket connection at the message level (RFC 6455 sections 5 to 7, RFC 7692
//! section 6): client messages in, assembled from their frames, unmasked, inflated and checked;
//! hub frames out, written from the events' shared bytes (gathered, or for a batch of small
//! frames coalesced into one buffer, whichever costs less).
//!
//! Reading is split in two so that it is cancel-safe in a `select!`: [`Socket::read`] only moves
//! bytes from the connection into the [`Reader`]'s input, and [`Socket::next`] (synchronous)
//! takes the next message out of them. While idle a socket holds no buffer at all: a read lands
//! on the stack and only what is left of an incomplete frame is kept.
//!
//! The socket never answers by itself: pings, closes and failures are handed to the caller, which
//! decides what to write and when (the JSON transport and the echo endpoint close differently).

use std::borrow::Cow;
use std::future::poll_fn;
use std::io::{self, IoSlice};
use std::mem::MaybeUninit;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use herald_core::Event;
use hyper::upgrade::Upgraded;
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt, ReadBuf};

use super::deflate::{self, Window};
use super::frame::{Opcode, ServerHeader};
use super::reader::{Failure, Incoming, Reader};
use super::shared_frame;

/// The connection under a socket.
pub(crate) type Io = TokioIo<Upgraded>;

/// Bytes read at once onto the stack while no frame is known to need more.
const STACK_READ: usize = 4096;
/// A batch of frames averaging less than this is copied into one buffer and written from it,
/// larger ones are gathered from their shared bytes. Measured on Linux: the kernel's copy from
/// a gathered write costs about as much per slice as copying a few hundred bytes, so for events
/// of a few hundred bytes (and their 2-byte headers) one contiguous buffer is cheaper per
/// delivery than a slice each; for kilobytes the copy saved wins.
const GATHER_FROM: usize = 1024;
/// While closing, a client silent for this long is not waited for any longer.
const CLOSE_PAUSE: Duration = Duration::from_secs(1);
/// Most bytes read at once into the input for a large frame.
const MAX_READ: usize = 256 * 1024;

/// A WebSocket connection, server side.
pub(crate) struct Socket {
    io: Io,
    /// The hub's compression, when permessage-deflate was negotiated.
    deflate: Option<Window>,
    reader: Reader,
}

impl std::fmt::Debug for Socket {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Socket").field("deflate", &self.deflate).finish_non_exhaustive()
    }
}

impl Socket {
    pub(crate) fn new(io: Io, deflate: Option<Window>, max_message: usize) -> Self {
        Self { io, deflate, reader: Reader::new(deflate.is_some(), max_message) }
    }

    /// Reads what the client sent next; `false` once it closed its side. Cancel-safe: bytes
    /// read are kept.
    pub(crate) async fn read(&mut self) -> io::Result<bool> {
        poll_fn(|cx| self.poll_read(cx)).await
    }

    fn poll_read(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<bool>> {
        let io = Pin::new(&mut self.io);
        let want = self.reader.wants();
        let input = self.reader.input();
        if want > STACK_READ {
            // A large frame: straight into the input.
            let start = input.len();
            input.resize(start + want.min(MAX_READ), 0);
            let mut buf = ReadBuf::new(&mut input[start..]);
            let result = io.poll_read(cx, &mut buf);
            let filled = buf.filled().len();
            input.truncate(start + filled);
            return result.map_ok(|()| filled > 0);
        }
        // Uninitialized: this runs at every wake-up of the connection, events included, and
        // zeroing 4 KiB each time would cost more than the read.
        let mut stack = [MaybeUninit::<u8>::uninit(); STACK_READ];
        let mut buf = ReadBuf::uninit(&mut stack);
        let result = io.poll_read(cx, &mut buf);
        input.extend_from_slice(buf.filled());
        let filled = buf.filled().len();
        result.map_ok(|()| filled > 0)
    }

    /// The next message or control frame in the bytes read so far; `Ok(None)` until one is
    /// complete. After a failure the caller closes the connection with the failure's code.
    pub(crate) fn next(&mut self) -> Result<Option<Incoming>, Failure> {
        self.reader.next()
    }

    /// Sends one unfragmented, uncompressed frame.
    pub(crate) async fn send(&mut self, opcode: Opcode, payload: &[u8]) -> io::Result<()> {
        let header = ServerHeader::new(opcode, false, payload.len());
        self.write_all(&mut [IoSlice::new(header.as_bytes()), IoSlice::new(payload)]).await?;
        self.io.flush().await
    }

    /// Sends a text or binary message, compressed whenever permessage-deflate was negotiated
    /// (even when that does not make it smaller: the conformance runner's client reads only
    /// compressed messages correctly on such a connection).
    pub(crate) async fn send_message(&mut self, text: bool, payload: &[u8]) -> io::Result<()> {
        let opcode = if text { Opcode::Text } else { Opcode::Binary };
        let compressed = self.deflate.and_then(|window| deflate::compress(payload, window));
        match compressed {
            Some(compressed) => {
                let header = ServerHeader::new(opcode, true, compressed.len());
                self.write_all(&mut [IoSlice::new(header.as_bytes()), IoSlice::new(&compressed)]).await?;
                self.io.flush().await
            }
            _ => self.send(opcode, payload).await,
        }
    }

    /// Sends events, each as its shared JSON text frame (compressed once per event when
    /// permessage-deflate was negotiated), in one write. Large frames are gathered from the
    /// shared bytes as they are; a batch of small ones is copied into one buffer first (see
    /// [`GATHER_FROM`]).
    pub(crate) async fn send_events(&mut self, events: &[Arc<Event>]) -> io::Result<()> {
        let deflate = self.deflate;
        let frame = |event| match deflate {
            Some(window) => shared_frame::deflated(event, window),
            None => shared_frame::plain(event),
        };
        match events {
            // One event (the common case while a subscriber keeps up): its shared frame as is.
            [event] => self.io.write_all(&frame(event)).await?,
            _ => {
                let frames: Vec<Cow<'_, Bytes>> = events.iter().map(|event| frame(event)).collect();
                let total: usize = frames.iter().map(|frame| frame.len()).sum();
                if total < GATHER_FROM * frames.len() {
                    let mut joined = Vec::with_capacity(total);
                    frames.iter().for_each(|frame| joined.extend_from_slice(frame));
                    self.io.write_all(&joined).await?;
                } else {
                    let mut slices: Vec<IoSlice<'_>> = frames.iter().map(|frame| IoSlice::new(frame)).collect();
                    self.write_all(&mut slices).await?;
                }
            }
        }
        self.io.flush().await
    }

    /// Sends a close frame with `code` and `reason` (cut to fit in 125 bytes); from then on
    /// the client's data messages are skipped.
    pub(crate) async fn close(&mut self, code: Option<u16>, reason: &str) -> io::Result<()> {
        self.reader.start_closing();
        let mut payload = Vec::with_capacity(2 + reason.len());
        if let Some(code) = code {
            payload.extend_from_slice(&code.to_be_bytes());
            let mut cut = reason.len().min(123);
            while !reason.is_char_boundary(cut) {
                cut -= 1;
            }
            payload.extend_from_slice(&reason.as_bytes()[..cut]);
        }
        self.send(Opcode::Close, &payload).await
    }

    /// After the hub's close frame: reads (and discards) what the client still sends until its
    /// close frame, its end of the stream, a pause of [`CLOSE_PAUSE`] or `limit` in all, then
    /// ends the connection. Closing with unread bytes would reset the connection, and the
    /// client could lose the close frame before reading it.
    pub(crate) async fn finish_closing(mut self, limit: Duration) {
        let wait = async {
            loop {
                match self.next() {
                    Ok(Some(Incoming::Close(_))) | Err(_) => return,
                    Ok(Some(_)) => {}
                    Ok(None) => match tokio::time::timeout(CLOSE_PAUSE, self.read()).await {
                        Ok(Ok(true)) => {}
                        Ok(Ok(false) | Err(_)) | Err(_) => return,
                    },
                }
            }
        };
        let _ = tokio::time::timeout(limit, wait).await;
        let _ = tokio::time::timeout(limit, self.io.shutdown()).await;
    }

    /// Ends the connection after the client's close frame was answered.
    pub(crate) async fn shutdown(mut self, limit: Duration) {
        let _ = tokio::time::timeout(limit, self.io.shutdown()).await;
    }

    /// Writes every slice, in as few system calls as the connection allows.
    async fn write_all(&mut self, mut slices: &mut [IoSlice<'_>]) -> io::Result<()> {
        if !self.io.is_write_vectored() {
            let mut joined = Vec::with_capacity(slices.iter().map(|s| s.len()).sum());
            for slice in slices.iter() {
                joined.extend_from_slice(slice);
            }
            return self.io.write_all(&joined).await;
        }
        IoSlice::advance_slices(&mut slices, 0);
        while !slices.is_empty() {
            let n = self.io.write_vectored(slices).await?;
            if n == 0 {
                return Err(io::ErrorKind::WriteZero.into());
            }
            IoSlice::advance_slices(&mut slices, n);
        }
        Ok(())
    }
}
