//! A WebSocket subscriber that offers permessage-deflate (RFC 7692), for `--ws-deflate`: the
//! WebSocket library the plain subscriber uses has no compression, so this one does its own
//! handshake and framing, just enough of them for a subscriber: it sends its subscribe message
//! and pongs (masked, uncompressed), and reads text, ping and close frames, inflating compressed
//! messages. The target must accept the offer with `server_no_context_takeover` (each message
//! inflates on its own), as Herald does; a target that declines it fails the subscriber, so a
//! run never measures an uncompressed stream by mistake.

use std::sync::atomic::Ordering;

use miniz_oxide::inflate::stream::{inflate as inflate_stream, InflateState, MinReset};
use miniz_oxide::{DataFormat, MZError, MZFlush, MZStatus};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::oneshot;

use super::ws::herald_event_data;
use super::{End, Session};
use crate::tracker::Tracker;

/// What the subscriber offers.
const OFFER: &str = "permessage-deflate; client_max_window_bits";
/// Put after a message's compressed bytes: the `00 00 FF FF` the sender removed (section
/// 7.2.2), then an empty final block, so that the result is a complete DEFLATE stream.
const TAIL: [u8; 6] = [0x00, 0x00, 0xFF, 0xFF, 0x03, 0x00];
/// Largest message accepted from the target.
const MAX_MESSAGE: usize = 16 << 20;

pub(super) async fn receive(
    session: &mut Session<'_>,
    mut stream: TcpStream,
    tracker: &mut Tracker,
    stop: &mut oneshot::Receiver<()>,
) -> Result<End, String> {
    let endpoints = &session.shared.endpoints;
    let url = url::Url::parse(&endpoints.ws_url(&session.topic)).map_err(|e| format!("url: {e}"))?;
    let host = url.host_str().unwrap_or("localhost");
    let authority = url.port().map_or_else(|| host.to_owned(), |port| format!("{host}:{port}"));
    let path = match url.query() {
        Some(query) => format!("{}?{query}", url.path()),
        None => url.path().to_owned(),
    };
    let mut request = format!(
        "GET {path} HTTP/1.1\r\nHost: {authority}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: aGVyYWxkLWJlbmNoLWtleQ==\r\nSec-WebSocket-Version: 13\r\n\
         Sec-WebSocket-Extensions: {OFFER}\r\n"
    );
    if let Some(token) = endpoints.subscribe_token() {
        request.push_str(&format!("Authorization: Bearer {token}\r\n"));
    }
    request.push_str("\r\n");
    stream.write_all(request.as_bytes()).await.map_err(|e| format!("upgrade: {e}"))?;
    let mut buf = Vec::with_capacity(4096);
    let head_len = read_head(&mut stream, &mut buf).await?;
    check_answer(&buf[..head_len])?;
    buf.drain(..head_len);
    let counter = &session.shared.bytes_received;
    counter.fetch_add(head_len as u64, Ordering::Relaxed);

    let herald = endpoints.ws_subscribe_message(&session.topic);
    if let Some(message) = &herald {
        send(&mut stream, 0x1, message.as_bytes()).await.map_err(|e| format!("subscribe: {e}"))?;
    } else {
        session.mark_ready();
    }
    let mut chunk = vec![0; 16 * 1024];
    loop {
        let mut at = 0;
        while let Some(frame) = take_frame(&buf, &mut at)? {
            match frame {
                Frame::Close => return Ok(End::Closed),
                Frame::Ping(payload) => send(&mut stream, 0xA, &payload).await.map_err(|e| format!("pong: {e}"))?,
                Frame::Other => {}
                Frame::Text(text) => {
                    let text = String::from_utf8(text).map_err(|_| "a text message that is not UTF-8".to_owned())?;
                    if !session.ready {
                        if !endpoints.is_ws_subscribe_ack(&text) {
                            return Err(format!("subscription refused: {text}"));
                        }
                        session.mark_ready();
                        continue;
                    }
                    let payload = if herald.is_some() { herald_event_data(&text) } else { Some(text.as_str().into()) };
                    match payload {
                        Some(payload) => session.deliver(tracker, [payload.as_bytes()]),
                        None => tracker.foreign += 1,
                    }
                    if session.satisfied() {
                        return Ok(End::Done);
                    }
                }
            }
        }
        buf.drain(..at);
        let n = tokio::select! {
            biased;
            read = stream.read(&mut chunk) => read.map_err(|e| format!("read: {e}"))?,
            _ = &mut *stop => return Ok(End::Stopped),
        };
        if n == 0 {
            return Ok(End::Closed);
        }
        counter.fetch_add(n as u64, Ordering::Relaxed);
        buf.extend_from_slice(&chunk[..n]);
    }
}

/// Reads until the end of the response head; its length.
async fn read_head(stream: &mut TcpStream, buf: &mut Vec<u8>) -> Result<usize, String> {
    let mut chunk = [0; 4096];
    loop {
        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            return Ok(end + 4);
        }
        if buf.len() > 64 * 1024 {
            return Err("upgrade: response head too long".into());
        }
        let n = stream.read(&mut chunk).await.map_err(|e| format!("upgrade: {e}"))?;
        if n == 0 {
            return Err("upgrade: connection closed".into());
        }
        buf.extend_from_slice(&chunk[..n]);
    }
}

/// Checks that the target switched protocols and accepted the offer without its context
/// takeover.
fn check_answer(head: &[u8]) -> Result<(), String> {
    let mut headers = [httparse::EMPTY_HEADER; 32];
    let mut response = httparse::Response::new(&mut headers);
    response.parse(head).map_err(|e| format!("upgrade: {e}"))?;
    if response.code != Some(101) {
        return Err(format!("upgrade: status {:?}", response.code));
    }
    let accepted = response
        .headers
        .iter()
        .filter(|h| h.name.eq_ignore_ascii_case("sec-websocket-extensions"))
        .filter_map(|h| std::str::from_utf8(h.value).ok())
        .any(|v| {
            let v = v.to_ascii_lowercase();
            v.starts_with("permessage-deflate") && v.contains("server_no_context_takeover")
        });
    if accepted {
        Ok(())
    } else {
        Err("upgrade: permessage-deflate (with server_no_context_takeover) was not accepted".into())
    }
}

enum Frame {
    Text(Vec<u8>),
    Ping(Vec<u8>),
    Close,
    Other,
}

/// Takes the next whole frame from `buf[*at..]` (the target's frames are unmasked), moving `at`
/// past it, and inflates a compressed text message. Fragmented messages are not expected from a
/// hub and are refused.
fn take_frame(buf: &[u8], at: &mut usize) -> Result<Option<Frame>, String> {
    let buf = &buf[*at..];
    let [first, second, ..] = buf[..] else {
        return Ok(None);
    };
    let (len, header) = match second & 0x7F {
        126 if buf.len() >= 4 => (usize::from(u16::from_be_bytes([buf[2], buf[3]])), 4),
        127 if buf.len() >= 10 => {
            let mut bytes = [0; 8];
            bytes.copy_from_slice(&buf[2..10]);
            (usize::try_from(u64::from_be_bytes(bytes)).unwrap_or(usize::MAX), 10)
        }
        126 | 127 => return Ok(None),
        n => (usize::from(n), 2),
    };
    if len > MAX_MESSAGE {
        return Err(format!("a {len}-byte frame"));
    }
    if buf.len() < header + len {
        return Ok(None);
    }
    let payload = &buf[header..header + len];
    *at += header + len;
    if first & 0x80 == 0 {
        return Err("a fragmented message".into());
    }
    Ok(Some(match first & 0x0F {
        0x1 if first & 0x40 != 0 => Frame::Text(inflate(payload)?),
        0x1 => Frame::Text(payload.to_vec()),
        0x8 => Frame::Close,
        0x9 => Frame::Ping(payload.to_vec()),
        _ => Frame::Other,
    }))
}

thread_local! {
    /// One inflater per thread, reset for each message (the target keeps no context either):
    /// ten thousand subscribers each with their own would take 400 MB.
    static INFLATER: std::cell::RefCell<Box<InflateState>> =
        std::cell::RefCell::new(InflateState::new_boxed(DataFormat::Raw));
}

fn inflate(compressed: &[u8]) -> Result<Vec<u8>, String> {
    INFLATER.with(|state| {
        let mut state = state.borrow_mut();
        // Without zeroing the window: it costs more than the message, and the target is trusted
        // (a stream reaching back past its own start could read an earlier message).
        state.reset_as(MinReset);
        let mut out = vec![0; (compressed.len() * 4).clamp(256, MAX_MESSAGE)];
        let mut written = 0;
        for input in [compressed, &TAIL[..]] {
            let mut input = input;
            loop {
                let result = inflate_stream(&mut state, input, &mut out[written..], MZFlush::None);
                input = &input[result.bytes_consumed..];
                written += result.bytes_written;
                match result.status {
                    Ok(MZStatus::StreamEnd) => {
                        out.truncate(written);
                        return Ok(out);
                    }
                    Ok(_) | Err(MZError::Buf) if written == out.len() => {
                        if out.len() >= MAX_MESSAGE {
                            return Err("inflate: message too big".into());
                        }
                        out.resize((out.len() * 2).min(MAX_MESSAGE), 0);
                    }
                    Ok(_) | Err(MZError::Buf) if input.is_empty() => break,
                    Ok(_) => {}
                    Err(e) => return Err(format!("inflate: {e:?}")),
                }
            }
        }
        out.truncate(written);
        Ok(out)
    })
}

/// Sends a final, masked, uncompressed frame.
async fn send(stream: &mut TcpStream, opcode: u8, payload: &[u8]) -> std::io::Result<()> {
    let mask = [0x5A, 0x17, 0xC3, 0x8E];
    let mut frame = vec![0x80 | opcode];
    match payload.len() {
        n if n < 126 => frame.push(0x80 | n as u8),
        n if n < 65536 => {
            frame.push(0x80 | 126);
            frame.extend_from_slice(&(n as u16).to_be_bytes());
        }
        n => {
            frame.push(0x80 | 127);
            frame.extend_from_slice(&(n as u64).to_be_bytes());
        }
    }
    frame.extend_from_slice(&mask);
    frame.extend(payload.iter().enumerate().map(|(i, b)| b ^ mask[i % 4]));
    stream.write_all(&frame).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compressed_and_plain_text_frames_are_read() {
        let text = b"{\"type\":\"event\",\"data\":\"hello hello hello hello\"}";
        let mut compressed = miniz_oxide::deflate::compress_to_vec(text, 6);
        // A raw DEFLATE stream ending in a final block inflates as well with the tail appended.
        let mut buf = vec![0xC1, compressed.len() as u8];
        buf.append(&mut compressed);
        buf.extend_from_slice(&[0x81, 2, b'h', b'i']);
        buf.extend_from_slice(&[0x89, 0]);
        let mut at = 0;
        assert!(matches!(take_frame(&buf, &mut at), Ok(Some(Frame::Text(t))) if t == text));
        assert!(matches!(take_frame(&buf, &mut at), Ok(Some(Frame::Text(t))) if t == b"hi"));
        assert!(matches!(take_frame(&buf, &mut at), Ok(Some(Frame::Ping(p))) if p.is_empty()));
        assert!(matches!(take_frame(&buf, &mut at), Ok(None)));
        assert_eq!(at, buf.len());
    }

    #[test]
    fn only_an_accepted_offer_passes() {
        let ok = b"HTTP/1.1 101 Switching Protocols\r\nSec-WebSocket-Extensions: permessage-deflate; server_no_context_takeover\r\n\r\n";
        assert!(check_answer(ok).is_ok());
        let declined = b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n";
        assert!(check_answer(declined).is_err());
    }
}
