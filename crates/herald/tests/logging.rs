//! `--log-format json`: every log line the hub writes is one JSON object, for log shippers.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

#[test]
fn json_logs_are_one_object_per_line() {
    let data = tempfile::tempdir().expect("a temporary directory");
    let mut child = Command::new(env!("CARGO_BIN_EXE_herald"))
        .args(["--log-format", "json", "serve", "--addr", "127.0.0.1:0", "--no-demo", "--data-dir"])
        .arg(data.path())
        .env("HERALD_LOG", "info")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the herald binary starts");
    let stderr = child.stderr.take().expect("stderr is piped");
    let (lines, arriving) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if lines.send(line).is_err() {
                break;
            }
        }
    });
    let mut seen = Vec::new();
    // The hub warns that publishing is open (no key): read up to that line.
    while let Ok(line) = arriving.recv_timeout(std::time::Duration::from_secs(30)) {
        let entry: serde_json::Value =
            serde_json::from_str(&line).unwrap_or_else(|e| panic!("not one JSON object ({e}): {line:?}"));
        assert!(entry["timestamp"].is_string() && entry["fields"]["message"].is_string(), "{entry}");
        let warned = entry["level"] == "WARN";
        seen.push(entry);
        if warned {
            break;
        }
    }
    let _ = child.kill();
    let _ = child.wait();
    assert!(seen.iter().any(|e| e["level"] == "INFO" && e["fields"]["message"] == "configuration"), "{seen:?}");
    assert!(seen.iter().any(|e| e["level"] == "WARN"), "{seen:?}");
}
