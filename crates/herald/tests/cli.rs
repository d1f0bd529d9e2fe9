//! End to end: the `herald` command line (publish, subscribe, configuration errors, help).

mod common;

use std::process::Stdio;
use std::time::Duration;

use common::{within, TestHub};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::process::Command;

fn herald() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_herald"));
    command.env("HERALD_LOG", "warn").kill_on_drop(true);
    command
}

#[tokio::test]
async fn publish_prints_the_id_and_subscribe_prints_events() {
    let hub = TestHub::start(&[]).await;
    let hub_url = hub.hub_url().to_string();
    let mut subscriber = herald()
        .args(["subscribe", "--json", "--hub", &hub_url, "-m", "cli-topic", "--last-event-id", "earliest"])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(subscriber.stdout.take().unwrap()).lines();

    let output = herald()
        .args([
            "publish",
            "--hub",
            &hub_url,
            "-t",
            "cli-topic",
            "-d",
            "from the CLI",
            "--type",
            "note",
            "--id",
            "cli-1",
        ])
        .output()
        .await
        .unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    assert_eq!(String::from_utf8(output.stdout).unwrap(), "cli-1\n");

    let mut from_stdin = herald()
        .args(["publish", "--hub", &hub_url, "-t", "cli-topic", "-d", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = from_stdin.stdin.take().unwrap();
    stdin.write_all("line 1\nline 2 ✓".as_bytes()).await.unwrap();
    drop(stdin);
    let generated = from_stdin.wait_with_output().await.unwrap();
    assert!(generated.status.success());
    let generated_id = String::from_utf8(generated.stdout).unwrap().trim().to_owned();

    let first = within(lines.next_line()).await.unwrap().unwrap();
    assert_eq!(first, r#"{"data":"from the CLI","id":"cli-1","type":"note"}"#);
    let second: serde_json::Value = serde_json::from_str(&within(lines.next_line()).await.unwrap().unwrap()).unwrap();
    assert_eq!(second["data"], "line 1\nline 2 ✓");
    assert_eq!(second["id"], generated_id.as_str());
    assert_eq!(second["type"], "message");
}

#[tokio::test]
async fn refused_publish_exits_with_the_hubs_reason() {
    let hub = TestHub::start(&[]).await;
    let output = herald()
        .args(["publish", "--hub", hub.hub_url().as_str(), "-t", "t", "--type", "mercure"])
        .output()
        .await
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert!(stderr.contains("400") && stderr.contains("reserved"), "{stderr}");
}

#[tokio::test]
async fn configuration_comes_from_file_env_and_flags_with_clear_errors() {
    let dir = std::env::temp_dir().join(format!("herald-cli-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let good = dir.join("good.toml");
    std::fs::write(&good, "history_size = 2\nretry = \"1500ms\"\nretry_jitter = 0\ndemo_clock = false\n").unwrap();
    // The file sets retry and history; the environment overrides retry; the flag overrides both.
    let hub = TestHub::start_with(&[], &["--config", good.to_str().unwrap()]).await;
    let mut response = hub.client.get(hub.subscribe_url(&[("match", "t")])).send().await.unwrap();
    assert_eq!(&within(response.chunk()).await.unwrap().unwrap()[..], b"retry: 1500\n\n");
    for i in 0..3 {
        hub.publish("t", &i.to_string()).await;
    }
    let mut source = hub.event_source(&["t"]).last_event_id("earliest");
    let kept: Vec<_> = common::take(&mut source, 2).await.into_iter().map(|e| e.data).collect();
    assert_eq!(kept, ["1", "2"], "history_size = 2 from the file");

    let mut env_child = herald()
        .args(["serve", "--addr", "127.0.0.1:0", "--store", "memory", "--config", good.to_str().unwrap()])
        .env("HERALD_RETRY", "2500ms")
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let line = within(BufReader::new(env_child.stdout.take().unwrap()).lines().next_line()).await.unwrap().unwrap();
    let base = line.split_whitespace().find(|w| w.starts_with("http://")).unwrap().to_owned();
    let url = format!("{base}.well-known/mercure?match=t");
    let mut response = reqwest::get(&url).await.unwrap();
    assert_eq!(&within(response.chunk()).await.unwrap().unwrap()[..], b"retry: 2500\n\n");
    env_child.kill().await.unwrap();

    let typo = dir.join("typo.toml");
    std::fs::write(&typo, "histroy_size = 2\n").unwrap();
    let bad_cases: [(&[&str], &str); 4] = [
        (&["--config", typo.to_str().unwrap()], "unknown field `histroy_size`"),
        (&["--config", "/nonexistent/herald.toml"], "cannot read config file"),
        (&["--cors-origin", "app.example.com"], "invalid CORS origin"),
        (&["--heartbeat", "soon"], "soon"),
    ];
    for (args, message) in bad_cases {
        let output = tokio::time::timeout(
            Duration::from_secs(30),
            herald().args(["serve", "--store", "memory", "--addr", "127.0.0.1:0"]).args(args).output(),
        )
        .await
        .unwrap()
        .unwrap();
        assert!(!output.status.success(), "{args:?} should fail");
        let stderr = String::from_utf8(output.stderr).unwrap();
        assert!(stderr.contains(message), "{args:?}: {stderr}");
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

#[tokio::test]
async fn a_busy_port_is_reported_with_a_hint() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let output = herald().args(["serve", "--store", "memory", "--addr", &addr]).output().await.unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert!(stderr.contains(&format!("cannot listen on {addr}")) && stderr.contains("--addr"), "{stderr}");
}

#[tokio::test]
async fn help_explains_every_command() {
    let output = herald().arg("--help").output().await.unwrap();
    let help = String::from_utf8(output.stdout).unwrap();
    for command in ["serve", "publish", "subscribe"] {
        assert!(help.contains(command), "{help}");
    }
    let output = herald().args(["serve", "--help"]).output().await.unwrap();
    let help = String::from_utf8(output.stdout).unwrap();
    for flag in
        ["--addr", "--history-size", "--heartbeat", "--cors-origin", "HERALD_ADDR", "--no-demo", "--long-poll-max"]
    {
        assert!(help.contains(flag), "serve --help should mention {flag}");
    }
}

#[tokio::test]
async fn an_exposed_hub_needs_a_key_or_an_explicit_no_auth() {
    let dir = tempfile::tempdir().unwrap();
    let serve = |extra: &[&str]| {
        let mut command = herald();
        command.args(["serve", "--no-demo", "--addr", "0.0.0.0:0", "--data-dir"]).arg(dir.path()).args(extra);
        command.stdout(Stdio::piped()).stderr(Stdio::piped()).kill_on_drop(true);
        command.spawn().unwrap()
    };
    let refused = within(serve(&[]).wait_with_output()).await.unwrap();
    assert!(!refused.status.success());
    let message = String::from_utf8_lossy(&refused.stderr);
    assert!(message.contains("--jwt-key") && message.contains("--no-auth"), "{message}");
    for extra in [&["--no-auth"][..], &["--jwt-key", "exposed-secret"]] {
        let mut hub = serve(extra);
        let mut lines = BufReader::new(hub.stdout.take().unwrap()).lines();
        let line = within(lines.next_line()).await.unwrap().unwrap_or_default();
        assert!(line.starts_with("Herald listening on http://0.0.0.0:"), "{extra:?}: {line:?}");
        hub.kill().await.unwrap();
    }
}
