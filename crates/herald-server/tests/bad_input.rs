//! Malformed, oversized and hostile requests get the documented 4xx and a plain message, and the
//! hub keeps delivering to everyone else (against a hub served in process).

mod common;

use common::{take, within, TestHub};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

#[tokio::test]
async fn every_bad_publish_is_refused_and_nothing_is_lost() {
    let hub =
        TestHub::start(&["--max-body-bytes", "2048", "--max-field-bytes", "1024", "--max-topics-per-publish", "3"])
            .await;
    let mut watcher = hub.event_source(&["*"]).last_event_id("earliest");
    hub.publish("t", "first").await;

    let long_topic = format!("topic={}", "x".repeat(1500));
    let many_topics = "topic=a&topic=b&topic=c&topic=d";
    let oversize = format!("topic=t&data={}", "x".repeat(3000));
    let cases: Vec<(&str, Vec<u8>, u16, &str)> = vec![
        ("missing topic", b"data=x".to_vec(), 400, "missing \"topic\""),
        ("empty topic", b"topic=&data=x".to_vec(), 400, "must not be empty"),
        ("wildcard topic", b"topic=*".to_vec(), 400, "reserved for the wildcard"),
        ("reserved topic", b"topic=/.well-known/mercure/subscriptions/x".to_vec(), 400, "reserved namespace"),
        ("encoded reserved topic", b"topic=/.well-known/%256Dercure/x".to_vec(), 400, "reserved namespace"),
        ("control character in topic", b"topic=a%0Ab".to_vec(), 400, "U+000A"),
        ("LF in id", b"topic=t&id=a%0Adata:%20forged".to_vec(), 400, "\"id\" contains"),
        ("CR in id", b"topic=t&id=a%0Db".to_vec(), 400, "\"id\" contains"),
        ("NUL in id", b"topic=t&id=a%00b".to_vec(), 400, "\"id\" contains"),
        ("id starting with #", b"topic=t&id=%231".to_vec(), 400, "must not start with"),
        ("id earliest", b"topic=t&id=earliest".to_vec(), 400, "reserved"),
        ("CRLF in type", b"topic=t&type=a%0D%0Adata:x".to_vec(), 400, "\"type\" contains"),
        ("format character in type", "topic=t&type=a%E2%80%8Bb".as_bytes().to_vec(), 400, "U+200B"),
        ("type mercure", b"topic=t&type=mercure".to_vec(), 400, "reserved for hub events"),
        ("negative retry", b"topic=t&retry=-5".to_vec(), 400, "digits only"),
        ("non-digit retry", b"topic=t&retry=10s".to_vec(), 400, "digits only"),
        ("huge retry", b"topic=t&retry=999999999999999999999999".to_vec(), 400, "too large"),
        ("non-UTF-8 data", b"topic=t&data=%FF%FE".to_vec(), 400, "not valid UTF-8"),
        ("raw non-UTF-8 bytes", b"topic=t&data=\xc3\x28".to_vec(), 400, "not valid UTF-8"),
        ("oversize body", oversize.into_bytes(), 413, "larger than 2048 bytes"),
        ("oversize field", long_topic.into_bytes(), 413, "longer than 1024 bytes"),
        ("too many topics", many_topics.as_bytes().to_vec(), 413, "more than 3 topics"),
    ];
    for (name, body, status, message) in cases {
        let (got_status, got_body) = hub.post_form(body).await;
        assert_eq!(got_status, status, "{name}: {got_body}");
        assert!(got_body.contains(message), "{name}: {got_body:?} should mention {message:?}");
        assert!(got_body.len() < 200 && got_body.ends_with('\n'), "{name}: short plain message, got {got_body:?}");
    }

    // Wrong content type: 415 with a hint.
    let response =
        hub.client.post(hub.hub_url()).header("content-type", "application/json").body("{}").send().await.unwrap();
    assert_eq!(response.status(), 415);
    assert_eq!(response.headers()["content-type"], "text/plain; charset=utf-8");
    assert!(response.text().await.unwrap().contains("application/x-www-form-urlencoded"));

    // Nothing refused was recorded, and the hub still delivers.
    hub.publish("t", "last").await;
    let got: Vec<_> = take(&mut watcher, 2).await.into_iter().map(|e| e.data).collect();
    assert_eq!(got, ["first", "last"]);
}

#[tokio::test]
async fn bad_subscriptions_get_400_with_a_reason() {
    let hub = TestHub::start(&["--max-matchers", "2"]).await;
    let cases: [(&[(&str, &str)], &str); 7] = [
        (&[], "missing topic matcher"),
        (&[("match_regex", "x")], "unsupported matcher parameter"),
        (&[("Matcher", "x")], "unsupported matcher parameter"),
        (&[("match", "a\u{0}")], "forbidden character"),
        (&[("match_urlpattern", "https://x/(")], "invalid URL pattern"),
        (&[("topic", "https://x/{id")], "invalid URI template"),
        (&[("match", "a"), ("match", "b"), ("match", "c")], "more than 2 topic matchers"),
    ];
    for (params, message) in cases {
        let response = hub.client.get(hub.subscribe_url(params)).send().await.unwrap();
        assert_eq!(response.status(), 400, "{params:?}");
        let body = response.text().await.unwrap();
        assert!(body.contains(message), "{params:?}: {body:?}");
    }
    let raw = hub.base.join("/.well-known/mercure?match=%FF").unwrap();
    assert_eq!(hub.client.get(raw).send().await.unwrap().status(), 400);
}

#[tokio::test]
async fn a_subscriber_that_stops_reading_is_cut_off_alone() {
    const EVENTS: usize = 3000;
    let hub = TestHub::start(&["--queue-capacity", "8"]).await;
    // A raw connection that sends its request and then reads nothing: the socket buffers fill,
    // then its queue overflows and the hub must close it without slowing anyone else.
    let mut stalled = TcpStream::connect((hub.base.host_str().unwrap(), hub.base.port().unwrap())).await.unwrap();
    let request = "GET /.well-known/mercure?match=t HTTP/1.1\r\nHost: localhost\r\nAccept: text/event-stream\r\n\r\n";
    stalled.write_all(request.as_bytes()).await.unwrap();
    let mut healthy = hub.event_source(&["t"]).last_event_id("earliest");
    let reader = tokio::spawn(async move { take(&mut healthy, EVENTS).await });
    hub.wait_for_subscribers(2).await;
    let payload = "x".repeat(16 * 1024);
    for _ in 0..EVENTS {
        hub.publish("t", &payload).await;
    }
    let got = within(reader).await.unwrap();
    assert_eq!(got.len(), EVENTS);
    assert!(got.iter().all(|e| e.data == payload));

    // The stalled connection was closed by the hub: reading it now reaches the end of the
    // stream well before all the events.
    let mut received = Vec::new();
    match within(stalled.read_to_end(&mut received)).await {
        Ok(_) => {}
        Err(e) => assert_eq!(e.kind(), std::io::ErrorKind::ConnectionReset, "{e}"),
    }
    let frames = received.windows(6).filter(|w| w == b"data: ").count();
    assert!(frames < EVENTS / 2, "stalled client got {frames} events before being cut off");
}
