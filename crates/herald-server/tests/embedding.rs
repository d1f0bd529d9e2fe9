//! The embedding example (`examples/embedded.rs`, built by `cargo test`), run as its user would
//! run it: its own routes and the hub's answer on one port, its in-process publishes reach an
//! SSE subscriber, a client's publish still needs a token, and SIGTERM ends the open streams and
//! the program.

use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use herald_client::EventSource;
use tokio::io::{AsyncBufReadExt, BufReader, Lines};
use tokio::process::{Child, ChildStdout, Command};
use url::Url;

const WAIT: Duration = Duration::from_secs(30);

/// `target/<profile>/examples/<name>`, next to this test's own `deps/` directory.
fn example(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("the test knows its path");
    let profile_dir = exe.parent().and_then(|deps| deps.parent()).expect("tests run from target/<profile>/deps");
    let path = profile_dir.join("examples").join(name);
    assert!(path.exists(), "{} is missing: `cargo test` builds the examples", path.display());
    path
}

async fn next_line(lines: &mut Lines<BufReader<ChildStdout>>) -> String {
    tokio::time::timeout(WAIT, lines.next_line())
        .await
        .expect("the example prints within the time")
        .expect("its stdout reads")
        .expect("it prints a line before exiting")
}

async fn start(data_dir: &std::path::Path) -> (Child, Lines<BufReader<ChildStdout>>, Url) {
    let mut child = Command::new(example("embedded"))
        .args(["--addr", "127.0.0.1:0", "--publisher-jwt-key", "a publisher secret of 32 bytes..", "--anonymous"])
        .arg("--data-dir")
        .arg(data_dir)
        .stdout(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("the example starts");
    let mut lines = BufReader::new(child.stdout.take().expect("stdout is piped")).lines();
    let banner = next_line(&mut lines).await;
    let url = banner.strip_prefix("shop listening on ").unwrap_or_else(|| panic!("unexpected first line {banner:?}"));
    (child, lines, Url::parse(url).expect("the banner holds a URL"))
}

#[tokio::test]
async fn the_embedding_example_serves_its_routes_and_the_hub_and_publishes_in_process() {
    let data = tempfile::tempdir().expect("a temporary directory");
    let (mut child, mut lines, base) = start(data.path()).await;
    let http = reqwest::Client::new();

    // The application's own page, beside the hub's routes.
    let page = http.get(base.clone()).send().await.expect("GET /");
    assert_eq!(page.status(), 200);
    assert!(page.text().await.expect("the page").contains("<h1>Shop</h1>"));
    let health = http.get(base.join("/healthz").unwrap()).send().await.expect("GET /healthz");
    assert_eq!(health.status(), 200);

    // A watcher of every order, from the start of history, so no publish can come before it.
    let mut watch = base.join("/.well-known/mercure").unwrap();
    watch.query_pairs_mut().append_pair("topic", "/orders/{id}");
    let mut source = EventSource::new(watch).last_event_id("earliest");

    for expected_order in 1..=2u64 {
        let placed = http.post(base.join("/orders").unwrap()).send().await.expect("POST /orders");
        assert_eq!(placed.status(), 200);
        let placed: serde_json::Value = placed.json().await.expect("the order's JSON");
        assert_eq!(placed["order"], expected_order);
        let event = tokio::time::timeout(WAIT, source.next()).await.expect("the event arrives").expect("the stream");
        assert_eq!(event.event_type, "order");
        assert_eq!(Some(event.id.as_str()), placed["event"].as_str(), "the id the publish returned");
        let data: serde_json::Value = serde_json::from_str(&event.data).expect("JSON data");
        assert_eq!(data, serde_json::json!({ "order": expected_order, "status": "received" }));
    }

    // The hub's own publish endpoint keeps its authorization.
    let anonymous = http
        .post(base.join("/.well-known/mercure").unwrap())
        .form(&[("topic", "/orders/9"), ("data", "forged")])
        .send()
        .await
        .expect("POST /.well-known/mercure");
    assert_eq!(anonymous.status(), 401);

    // SIGTERM ends the open event stream and the program, cleanly.
    let pid = child.id().expect("the example runs").to_string();
    let killed = Command::new("kill").args(["-TERM", &pid]).status().await.expect("kill runs");
    assert!(killed.success());
    assert_eq!(next_line(&mut lines).await, "shop stopped");
    let status = tokio::time::timeout(WAIT, child.wait()).await.expect("it exits").expect("its status");
    assert!(status.success(), "exit status {status}");
}
