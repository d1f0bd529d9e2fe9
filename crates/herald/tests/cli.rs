//! End to end: the `herald` command line (publish, subscribe, configuration errors, help, the
//! generated configuration file, its checker, completions and manual pages).

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
    for command in ["serve", "publish", "subscribe", "genconfig", "check-config", "completions", "man"] {
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

/// Runs `herald` with `args` to its end: (success, stdout, stderr).
async fn run(args: &[&str]) -> (bool, String, String) {
    let output = within(herald().args(args).output()).await.unwrap();
    let text = |bytes: Vec<u8>| String::from_utf8(bytes).unwrap();
    (output.status.success(), text(output.stdout), text(output.stderr))
}

/// `herald genconfig`'s output.
async fn generated_config() -> String {
    let (ok, config, stderr) = run(&["genconfig"]).await;
    assert!(ok, "{stderr}");
    config
}

#[tokio::test]
async fn the_generated_config_is_valid_and_a_hub_starts_with_it() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("herald.toml");
    std::fs::write(&path, generated_config().await).unwrap();
    let path = path.to_str().unwrap();
    let (ok, stdout, stderr) = run(&["check-config", path]).await;
    assert!(ok, "{stderr}");
    assert_eq!(stdout, format!("{path} is valid\n"));

    // The flags TestHub adds (--addr, --data-dir) win over the file's.
    let hub = TestHub::start_with(&[], &["--config", path]).await;
    let response = hub.client.get(hub.base.join("/healthz").unwrap()).send().await.unwrap();
    assert_eq!(response.status(), 200);
}

#[tokio::test]
async fn the_generated_config_has_every_setting_of_serve() {
    use clap::Args;

    let config = generated_config().await;
    // The comments, with their line breaks undone, to find help texts in.
    let prose = config.lines().map(|line| line.trim_start_matches('#').trim()).collect::<Vec<_>>().join(" ");
    let settings = herald_server::ServerConfig::augment_args(clap::Command::new("serve"));
    let mut count = 0;
    for arg in settings.get_arguments().filter(|arg| !arg.is_hide_set()) {
        count += 1;
        let key = arg.get_id().as_str();
        let long = format!("--{}", arg.get_long().unwrap());
        assert!(config.contains(&format!("# Flag: {long}")), "{long} missing");
        let env = arg.get_env().unwrap().to_str().unwrap();
        assert!(config.contains(&format!("# Environment: {env}")), "{env} missing");
        let help = arg.get_long_help().or(arg.get_help()).unwrap().to_string();
        let help = help.split_whitespace().collect::<Vec<_>>().join(" ");
        assert!(prose.contains(&help), "the help of {long} is missing: {help}");
        let set = config.lines().find(|line| line.starts_with(&format!("{key} = ")));
        let commented = config.lines().find(|line| line.starts_with(&format!("# {key} = ")));
        match arg.get_default_values() {
            [] if !matches!(arg.get_action(), clap::ArgAction::SetTrue) => {
                assert!(set.is_none() && commented.is_some(), "{key} has no default: it should be commented out")
            }
            _ => assert!(set.is_some(), "{key} should be set to its default"),
        }
    }
    assert!(count > 30, "only {count} settings");
    for default in ["addr = \"127.0.0.1:8080\"", "history_size = 10000", "heartbeat = \"15s\"", "no_demo = false"] {
        assert!(config.lines().any(|line| line == default), "{default} missing");
    }

    // Every flag `herald serve --help` shows is there too, those of the binary (--config, --log)
    // as not set in the file.
    let (ok, help, _) = run(&["serve", "--help"]).await;
    assert!(ok);
    let flags: Vec<&str> = help
        .lines()
        .filter_map(|line| line.trim_start().split([' ', ',', '=']).find(|word| word.starts_with("--")))
        .filter(|flag| !["--help", "--version"].contains(flag))
        // A wrapped help line may start with a flag it names, as in `--data-dir)`: not a flag's line.
        .filter(|flag| flag[2..].chars().all(|c| c.is_ascii_alphanumeric() || c == '-'))
        .collect();
    assert!(flags.len() > count, "{flags:?}");
    for flag in flags {
        assert!(config.contains(&format!("{flag} ")) || config.contains(&format!("{flag}\n")), "{flag} missing");
    }
}

#[tokio::test]
async fn check_config_and_serve_report_each_problem_at_its_line() {
    let dir = tempfile::tempdir().unwrap();
    let cases = [
        ("syntax", "history_size = 3\n\nheartbeat = \n", "3:13", "invalid string"),
        ("unknown", "history_size = 3\nhistroy_size = 4\n", "2:1", "unknown field `histroy_size`"),
        (
            "value",
            "# a comment\nhistory_size = 3\nretry = \"2s\"\nheartbeat = \"soon\"\n",
            "4:13",
            "`heartbeat`: invalid value 'soon'",
        ),
        ("range", "retry_jitter = 101\n", "1:16", "101 is not in 0..=100"),
        ("type", "\nhistory_size = \"3\"\n", "2:16", "`history_size` must be a number"),
        ("together", "history_size = 3\ntls_cert = \"cert.pem\"\n", "2:1", "--tls-cert needs --tls-key too"),
    ];
    for (name, text, place, message) in cases {
        let path = dir.path().join(format!("{name}.toml"));
        std::fs::write(&path, text).unwrap();
        let path = path.to_str().unwrap();
        let (ok, stdout, stderr) = run(&["check-config", path]).await;
        assert!(!ok && stdout.is_empty(), "{name}: {stdout}");
        let line = stderr.lines().next().unwrap_or_default();
        assert!(line.starts_with(&format!("{path}:{place}: ")) && line.contains(message), "{name}: {stderr}");
        assert!(stderr.contains(&format!("{path} is not valid")), "{name}: {stderr}");
        // `herald serve` reads the file the same way and stops at the same place.
        let (ok, _, stderr) = run(&["serve", "--store", "memory", "--addr", "127.0.0.1:0", "--config", path]).await;
        assert!(!ok, "{name}: serve started");
        assert!(stderr.contains(&format!("{path}:{place}")) || name == "together", "{name}: {stderr}");
        assert!(stderr.contains(message), "{name}: {stderr}");
    }

    let path = dir.path().join("several.toml");
    std::fs::write(&path, "histroy_size = 3\nheartbeat = 5\nanonymous = true\ncors_origins = \"*\"\n").unwrap();
    let path = path.to_str().unwrap();
    let (ok, _, stderr) = run(&["check-config", path]).await;
    assert!(!ok);
    let places: Vec<&str> = stderr.lines().filter_map(|line| line.strip_prefix(path)?.split(' ').next()).collect();
    assert_eq!(places, [":1:1:", ":2:13:", ":4:16:"], "{stderr}");
    assert!(stderr.contains(&format!("{path} is not valid: 3 problems")), "{stderr}");
    let (ok, _, stderr) = run(&["check-config", "/nonexistent/herald.toml"]).await;
    assert!(!ok && stderr.contains("cannot read config file"), "{stderr}");
}

#[tokio::test]
async fn completions_for_each_shell_know_the_commands() {
    for shell in ["bash", "zsh", "fish"] {
        let (ok, script, stderr) = run(&["completions", shell]).await;
        assert!(ok, "{shell}: {stderr}");
        assert!(script.contains("serve") && script.contains("history-size"), "{shell}: {script}");
    }
    let (ok, _, stderr) = run(&["completions", "tcsh"]).await;
    assert!(!ok && stderr.contains("possible values"), "{stderr}");
}

#[tokio::test]
async fn man_pages_cover_every_command() {
    let (ok, page, stderr) = run(&["man"]).await;
    assert!(ok, "{stderr}");
    assert!(page.contains("\n.TH herald 1 "), "{page}");
    for command in ["serve", "genconfig", "check\\-config"] {
        assert!(page.contains(&format!("herald\\-{command}(1)")), "{command}: {page}");
    }
    let (ok, page, stderr) = run(&["man", "serve"]).await;
    assert!(ok, "{stderr}");
    assert!(page.contains("\n.TH herald-serve 1 "), "{page}");
    for flag in ["\\-\\-addr", "\\-\\-config", "\\-\\-history\\-size", "HERALD_HEARTBEAT", "[default: 15s]"] {
        assert!(page.contains(flag), "{flag}: {page}");
    }
    let (ok, _, stderr) = run(&["man", "serv"]).await;
    assert!(!ok && stderr.contains("no command `serv`"), "{stderr}");

    let dir = tempfile::tempdir().unwrap();
    let (ok, listed, stderr) = run(&["man", "--out-dir", dir.path().to_str().unwrap()]).await;
    assert!(ok, "{stderr}");
    for page in ["herald.1", "herald-serve.1", "herald-check-config.1"] {
        let path = dir.path().join(page);
        assert!(listed.contains(path.to_str().unwrap()), "{listed}");
        assert!(std::fs::read_to_string(path).unwrap().contains(".TH "), "{page}");
    }
}
