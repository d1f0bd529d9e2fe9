//! `herald check-config FILE`: every problem of a configuration file, with its line, without
//! starting the hub.
//!
//! The file goes through the reader that `herald serve --config` uses ([`config::read`]: TOML
//! syntax, unknown keys, values of the wrong type or that their flag's parser refuses), then,
//! with the built-in defaults for what it does not set, through the checks `herald serve` makes
//! before it binds: [`ServerConfig::validate`](herald_server::ServerConfig::validate) (settings
//! that do not go together, JWT key files) and the loading of the TLS certificate and key.
//! Those checks name no line; the line given is that of the key whose removal makes the problem
//! go away.

use std::cmp::Reverse;
use std::path::Path;

use crate::cli::CheckConfigArgs;
use crate::config::{self, Problem, Setting};

/// Prints each problem as `FILE:LINE:COLUMN: message` on standard error, or that the file is
/// valid; an error when it is not.
pub(crate) fn run(args: &CheckConfigArgs) -> Result<(), String> {
    let path = args.file.as_path();
    let text = std::fs::read_to_string(path).map_err(|e| format!("cannot read config file {}: {e}", path.display()))?;
    let problems = problems(&text);
    if problems.is_empty() {
        return crate::print(format!("{} is valid\n", path.display()).as_bytes());
    }
    for problem in &problems {
        eprintln!("{}: {}", problem.location(path, &text), problem.message);
    }
    Err(not_valid(path, problems.len()))
}

fn not_valid(path: &Path, problems: usize) -> String {
    match problems {
        1 => format!("{} is not valid: 1 problem", path.display()),
        n => format!("{} is not valid: {n} problems", path.display()),
    }
}

/// The problems of a configuration file's text, in the order of the file; none when `herald
/// serve --config` would start with it (the environment aside).
pub(crate) fn problems(text: &str) -> Vec<Problem> {
    let settings = match config::read(text) {
        Ok(settings) => settings,
        Err(problems) => return problems,
    };
    // The checks stop at the first problem, and once a key is gone the next problem could be of
    // its removal: so this one only.
    match check(&settings) {
        Ok(()) => Vec::new(),
        Err(message) => {
            let span = culprit(&settings, &message).map(|i| settings[i].span.clone());
            vec![Problem::new(span, message)]
        }
    }
}

/// What `herald serve` checks of a configuration before it opens the store and binds.
fn check(settings: &[Setting]) -> Result<(), String> {
    let config = config::server_config(settings)?.validate().map_err(|e| e.to_string())?;
    if let Some(tls) = &config.tls {
        herald_server::tls::load(tls)?;
    }
    Ok(())
}

/// The setting that causes `message`: of those without which the check says something else,
/// preferably one without which it passes, then one whose value the message quotes, then the
/// first in the file.
fn culprit(settings: &[Setting], message: &str) -> Option<usize> {
    (0..settings.len())
        .filter_map(|i| {
            let others: Vec<Setting> =
                settings.iter().enumerate().filter(|&(j, _)| j != i).map(|(_, setting)| setting.clone()).collect();
            let outcome = check(&others);
            if outcome.as_ref().err().is_some_and(|other| other == message) {
                return None;
            }
            let quoted = settings[i].values.iter().any(|value| !value.is_empty() && message.contains(value.as_str()));
            Some((outcome.is_ok(), quoted, Reverse(i)))
        })
        .max()
        .map(|(_, _, Reverse(i))| i)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `(line, message)` of each problem of `text`.
    fn lines(text: &str) -> Vec<(Option<usize>, String)> {
        problems(text)
            .into_iter()
            .map(|problem| (problem.span.map(|span| config::line_column(text, span.start).0), problem.message))
            .collect()
    }

    #[test]
    fn each_problem_has_its_line() {
        let found = lines("addr = \"127.0.0.1:9\"\nhistroy_size = 3\nheartbeat = \"soon\"\nanonymous = 1\n");
        assert_eq!(found.len(), 3, "{found:?}");
        assert_eq!(found[0].0, Some(2));
        assert!(found[0].1.contains("unknown field `histroy_size`"), "{found:?}");
        assert_eq!(found[1].0, Some(3));
        assert!(found[1].1.contains("`heartbeat`: invalid value 'soon'"), "{found:?}");
        assert_eq!(found[2].0, Some(4));
        assert!(found[2].1.contains("`anonymous` must be true or false"), "{found:?}");

        let syntax = problems("history_size = 3\nheartbeat = \n");
        assert_eq!(syntax.len(), 1);
        assert_eq!(
            syntax[0].span.clone().map(|span| config::line_column("history_size = 3\nheartbeat = \n", span.start).0),
            Some(2)
        );
    }

    #[test]
    fn checks_across_settings_name_the_key_to_change() {
        let found = lines("anonymous = true\nmax_connections = 5\nmax_connections_per_ip = 0\n");
        assert_eq!(found, [(Some(3), "--max-connections and --max-connections-per-ip must be at least 1".to_owned())]);
        let found = lines("history_size = 3\naddr = \"0.0.0.0:8080\"\n");
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].0, Some(2), "{found:?}");
        let found = lines("tls_key = \"/nonexistent/k.pem\"\ntls_cert = \"/nonexistent/c.pem\"\n");
        assert_eq!(found[0].0, Some(2), "{found:?}");
        assert!(found[0].1.contains("/nonexistent/c.pem"), "{found:?}");
        let found = lines("tls_cert = \"c.pem\"\n");
        assert_eq!(
            found,
            [(Some(1), "--tls-cert needs --tls-key too: give the certificate's private key (PEM)".into())]
        );
    }

    #[test]
    fn a_valid_file_has_no_problem() {
        assert_eq!(lines("history_size = 3\ncors_origins = [\"https://app.example\"]\ndemo = false\n"), []);
        assert_eq!(lines(""), []);
    }
}
