//! Closing a connection whose client is still sending: the client must receive the hub's answer
//! (a `413`, a WebSocket close frame), not a TCP reset that throws it away. The hub reads and
//! discards what the client still sends for a moment before it closes.

mod common;

use common::{within, TestHub};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

async fn connect(hub: &TestHub) -> TcpStream {
    TcpStream::connect((hub.base.host_str().unwrap(), hub.base.port().unwrap())).await.unwrap()
}

/// Reads until the hub closes; an error (a reset) fails the test.
async fn read_to_end(stream: &mut TcpStream) -> Vec<u8> {
    let mut all = Vec::new();
    within(stream.read_to_end(&mut all)).await.expect("the hub closes cleanly, without a reset");
    all
}

#[tokio::test]
async fn an_oversized_websocket_frame_gets_its_close_code_not_a_reset() {
    let hub = TestHub::start(&[]).await;
    let mut stream = connect(&hub).await;
    let upgrade = "GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
                   Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n";
    stream.write_all(upgrade.as_bytes()).await.unwrap();
    let mut head = Vec::new();
    while !head.ends_with(b"\r\n\r\n") {
        let mut byte = [0u8; 1];
        within(stream.read_exact(&mut byte)).await.unwrap();
        head.push(byte[0]);
    }
    assert!(head.starts_with(b"HTTP/1.1 101"), "{}", String::from_utf8_lossy(&head));
    // A masked text frame declaring 100 MiB, and the first 64 KiB of it in the same write.
    let mut frame = vec![0x81, 0x80 | 127];
    frame.extend_from_slice(&(100u64 << 20).to_be_bytes());
    frame.extend_from_slice(&[1, 2, 3, 4]);
    frame.extend(std::iter::repeat_n(b'x', 64 * 1024));
    stream.write_all(&frame).await.unwrap();
    let answer = read_to_end(&mut stream).await;
    // The close frame: opcode 8, then the code 1009 (message too big).
    let close = answer.windows(4).any(|w| w[0] == 0x88 && w[2..4] == 1009u16.to_be_bytes());
    assert!(close, "no 1009 close frame in {answer:?}");
}

#[tokio::test]
async fn an_oversized_chunked_publish_gets_413_not_a_reset() {
    let hub = TestHub::start(&[]).await;
    let mut stream = connect(&hub).await;
    let head = "POST /.well-known/mercure HTTP/1.1\r\nHost: x\r\n\
                Content-Type: application/x-www-form-urlencoded\r\nTransfer-Encoding: chunked\r\n\r\n";
    stream.write_all(head.as_bytes()).await.unwrap();
    // 50 MiB in 64 KiB chunks, written before reading anything, as a simple client does: the hub
    // answers once 1 MiB is past, and reads on (discarding) until the client is done.
    let chunk = format!("10000\r\n{}\r\n", "x".repeat(64 * 1024));
    for written in 0..800 {
        let sent = stream.write_all(chunk.as_bytes()).await;
        assert!(sent.is_ok(), "the hub stopped reading after {written} chunks: {sent:?}");
    }
    let answer = read_to_end(&mut stream).await;
    let text = String::from_utf8_lossy(&answer);
    assert!(text.starts_with("HTTP/1.1 413"), "{text}");
    assert_eq!(hub.state.hub.stats().published, 0);
}
