//! The command line, with the values of `herald serve --config FILE` as defaults.
//!
//! Precedence, highest first: flags, `HERALD_*` variables, the file, the built-in defaults. clap
//! applies all of it: each key of the file names an argument of [`ServerConfig`] by its id (the
//! flag name with `_` for `-`), and its value replaces that argument's default before the
//! command line is parsed. So this needs two parses: the first finds the file. Unknown keys and
//! values of the wrong type are errors, so a typo never silently leaves a setting at its default.

use std::ffi::OsString;
use std::path::{Path, PathBuf};

use clap::error::ErrorKind;
use clap::parser::ValueSource;
use clap::{value_parser, Arg, ArgAction, ArgMatches, Args, Command, CommandFactory, FromArgMatches};
use herald_server::ServerConfig;

use crate::cli::Cli;

/// Keys that files may still use for the argument they name, with the opposite value: `demo =
/// false` is `no_demo = true`.
const INVERTED_KEYS: [(&str, &str); 2] = [("demo", "no_demo"), ("demo_clock", "no_demo")];

/// Parses the command line, `args` starting with the program's name.
pub(crate) fn parse<I, T>(args: I) -> Result<Cli, clap::Error>
where
    I: IntoIterator<Item = T>,
    T: Into<OsString>,
{
    let args: Vec<OsString> = args.into_iter().map(Into::into).collect();
    let matches = Cli::command().try_get_matches_from(&args)?;
    let Some(("serve", serve)) = matches.subcommand() else {
        return Cli::from_arg_matches(&matches);
    };
    let Some(path) = serve.get_one::<PathBuf>("config_file") else {
        return Cli::from_arg_matches(&matches);
    };
    let defaults = file_defaults(path, serve)?;
    let command = Cli::command().mut_subcommand("serve", |mut serve| {
        for (id, values) in defaults {
            serve = serve.mut_arg(id, |arg| arg.default_values(values));
        }
        serve
    });
    Cli::from_arg_matches(&command.try_get_matches_from(&args)?)
}

/// The file's values as the defaults of `herald serve`'s arguments: (argument id, values).
/// `given` holds what the command line and environment gave.
fn file_defaults(path: &Path, given: &ArgMatches) -> Result<Vec<(String, Vec<String>)>, clap::Error> {
    let invalid =
        |problem: String| error(ErrorKind::InvalidValue, format!("invalid config file {}: {problem}", path.display()));
    let text = std::fs::read_to_string(path)
        .map_err(|e| error(ErrorKind::Io, format!("cannot read config file {}: {e}", path.display())))?;
    let table: toml::Table = text.parse().map_err(|e: toml::de::Error| invalid(e.to_string()))?;
    let mut settings = ServerConfig::augment_args(Command::new("herald serve").disable_help_flag(true));
    settings.build();
    let mut defaults = Vec::new();
    for (key, value) in &table {
        let (id, inverted) = match INVERTED_KEYS.iter().find(|(old, _)| old == key) {
            Some((_, id)) => (*id, true),
            None => (key.as_str(), false),
        };
        let Some(arg) = settings.get_arguments().find(|arg| arg.get_id() == id) else {
            return Err(error(
                ErrorKind::UnknownArgument,
                format!(
                    "invalid config file {}: unknown field `{key}`: correct or remove it (keys are the flag names \
                     that `herald serve --help` lists, with `_` for `-`)",
                    path.display()
                ),
            ));
        };
        let values = values(arg, value, inverted).map_err(|expected| invalid(format!("`{key}` must be {expected}")))?;
        check(arg, &values).map_err(|reason| invalid(format!("`{key}`: {reason}")))?;
        if !replaced(&settings, arg, given) {
            defaults.push((id.to_owned(), values));
        }
    }
    Ok(defaults)
}

/// The TOML `value` as `arg`'s values, or what the value should have been.
fn values(arg: &Arg, value: &toml::Value, inverted: bool) -> Result<Vec<String>, String> {
    use toml::Value;
    let id = arg.get_id();
    let example = match (arg.get_default_values().first(), arg.get_value_names()) {
        (Some(default), _) => default.to_string_lossy().into_owned(),
        (None, Some([name, ..])) => name.to_string(),
        (None, _) => "…".to_owned(),
    };
    match (arg.get_action(), value) {
        (ArgAction::SetTrue, Value::Boolean(on)) => Ok(vec![(*on != inverted).to_string()]),
        (ArgAction::SetTrue, _) => Err(format!("true or false, e.g. `{id} = true`")),
        (ArgAction::Append, Value::Array(items)) => items
            .iter()
            .map(|item| item.as_str().map(str::to_owned))
            .collect::<Option<_>>()
            .ok_or_else(|| format!("a list of strings, e.g. `{id} = [\"{example}\"]`")),
        (ArgAction::Append, _) => Err(format!("a list of strings, e.g. `{id} = [\"{example}\"]`")),
        (_, Value::Integer(n)) if is_integer(arg) => Ok(vec![n.to_string()]),
        _ if is_integer(arg) => Err(format!("a number without quotes, e.g. `{id} = {example}`")),
        (_, Value::String(text)) => Ok(vec![text.clone()]),
        _ => Err(format!("a string in quotes, e.g. `{id} = \"{example}\"`")),
    }
}

/// True when `arg` takes a whole number.
fn is_integer(arg: &Arg) -> bool {
    let parsed = arg.get_value_parser().type_id();
    let integers: [clap::builder::ValueParser; 4] =
        [value_parser!(u64).into(), value_parser!(usize).into(), value_parser!(u32).into(), value_parser!(u16).into()];
    integers.iter().any(|integer| integer.type_id() == parsed)
}

/// Runs `values` through `arg`'s parser, as the real parse will; the error says why they fail.
fn check(arg: &Arg, values: &[String]) -> Result<(), String> {
    let probe = Command::new("herald serve")
        .no_binary_name(true)
        .disable_help_flag(true)
        .arg(arg.clone().env(None::<&str>).default_values(values));
    probe.try_get_matches_from(std::iter::empty::<&str>()).map(drop).map_err(|e| {
        let text = e.to_string();
        let text = text.strip_prefix("error: ").unwrap_or(&text);
        text.split("\n\nFor more information").next().unwrap_or(text).trim().to_owned()
    })
}

/// True when a flag or variable gave `arg`'s setting in another form: an argument of an exclusive
/// group `arg` belongs to, e.g. `--jwt-key` for the file's `jwt_key_file`. The file's value then
/// gives way instead of joining it.
fn replaced(settings: &Command, arg: &Arg, given: &ArgMatches) -> bool {
    let explicit = |id: &clap::Id| {
        matches!(given.value_source(id.as_str()), Some(ValueSource::CommandLine | ValueSource::EnvVariable))
    };
    settings
        .get_groups()
        .filter(|group| {
            !clap::ArgGroup::clone(group).is_multiple() && group.get_args().any(|member| member == arg.get_id())
        })
        .flat_map(|group| group.get_args())
        .any(explicit)
}

/// An error about the configuration, shown with `herald serve`'s usage.
fn error(kind: ErrorKind, message: String) -> clap::Error {
    let mut command = Cli::command();
    command.build();
    command.find_subcommand_mut("serve").expect("serve is a subcommand").error(kind, message)
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;
    use std::time::Duration;

    use herald_server::{ConnectionLimits, TlsFiles};

    use super::*;
    use crate::cli::Command as Subcommand;

    /// Tests that set `HERALD_*` variables run one at a time, and no other test reads them.
    static ENV: Mutex<()> = Mutex::new(());

    fn serve(argv: &[&str]) -> Result<ServerConfig, clap::Error> {
        match parse([&["herald", "serve"], argv].concat())?.command {
            Subcommand::Serve(args) => Ok(args.config),
            _ => unreachable!("parsed serve"),
        }
    }

    fn file(text: &str) -> (tempfile::TempDir, String) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("herald.toml");
        std::fs::write(&path, text).unwrap();
        (dir, path.to_str().unwrap().to_owned())
    }

    #[test]
    fn flags_win_over_the_environment_which_wins_over_the_file() {
        let _env = ENV.lock().unwrap_or_else(|e| e.into_inner());
        let (_dir, path) =
            file("heartbeat = \"5s\"\nhistory_size = 3\ncors_origins = [\"https://file.example\"]\nanonymous = true\n");
        let config = serve(&["--config", &path]).unwrap();
        assert_eq!(config.heartbeat, Duration::from_secs(5));
        assert_eq!(config.hub.retention.max_events, Some(3));
        assert_eq!(config.cors_origins, ["https://file.example"]);
        assert!(config.auth.anonymous);

        let vars = [
            ("HERALD_HEARTBEAT", "6s"),
            ("HERALD_HISTORY_SIZE", "4"),
            ("HERALD_CORS_ORIGINS", "https://env.example,https://env2.example"),
            ("HERALD_ANONYMOUS", "false"),
        ];
        for (name, value) in vars {
            std::env::set_var(name, value);
        }
        let from_env = serve(&["--config", &path]);
        let from_flags = serve(&[
            "--config",
            &path,
            "--heartbeat",
            "7s",
            "--history-size",
            "5",
            "--cors-origin",
            "https://flag.example",
            "--anonymous",
        ]);
        for (name, _) in vars {
            std::env::remove_var(name);
        }
        let config = from_env.unwrap();
        assert_eq!(config.heartbeat, Duration::from_secs(6));
        assert_eq!(config.hub.retention.max_events, Some(4));
        assert_eq!(config.cors_origins, ["https://env.example", "https://env2.example"]);
        assert!(!config.auth.anonymous);
        let config = from_flags.unwrap();
        assert_eq!(config.heartbeat, Duration::from_secs(7));
        assert_eq!(config.hub.retention.max_events, Some(5));
        assert_eq!(config.cors_origins, ["https://flag.example"]);
        assert!(config.auth.anonymous);
    }

    #[test]
    fn an_empty_command_line_gives_the_defaults() {
        let _env = ENV.lock().unwrap_or_else(|e| e.into_inner());
        let command = Cli::command().mut_subcommand("serve", |serve| serve.mut_args(|arg| arg.env(None::<&str>)));
        let cli = Cli::from_arg_matches(&command.try_get_matches_from(["herald", "serve"]).unwrap()).unwrap();
        let Subcommand::Serve(args) = cli.command else { unreachable!("parsed serve") };
        assert_eq!(args.config, ServerConfig::default());
        assert_eq!(args.config_file, None);
    }

    #[test]
    fn file_keys_are_checked() {
        let _env = ENV.lock().unwrap_or_else(|e| e.into_inner());
        let error = |text: &str| serve(&["--config", &file(text).1]).unwrap_err().to_string();
        let unknown = error("histroy_size = 3");
        assert!(unknown.contains("unknown field `histroy_size`") && unknown.contains("herald.toml"), "{unknown}");
        for (text, message) in [
            ("history_size = \"3\"", "`history_size` must be a number"),
            ("heartbeat = 5", "`heartbeat` must be a string"),
            ("anonymous = \"yes\"", "`anonymous` must be true or false"),
            ("cors_origins = \"*\"", "`cors_origins` must be a list of strings"),
            ("heartbeat = \"soon\"", "`heartbeat`: invalid value 'soon'"),
            ("store = \"dsk\"", "possible values: disk, memory"),
            ("history_size = -1", "`history_size`: invalid value '-1'"),
            ("config_file = \"other.toml\"", "unknown field `config_file`"),
            ("heartbeat = ", "invalid config file"),
        ] {
            let message_seen = error(text);
            assert!(message_seen.contains(message), "{text}: {message_seen}");
        }
        let missing = serve(&["--config", "/nonexistent/herald.toml"]).unwrap_err().to_string();
        assert!(missing.contains("cannot read config file"), "{missing}");
    }

    #[test]
    fn demo_false_in_the_file_turns_the_demos_off() {
        let _env = ENV.lock().unwrap_or_else(|e| e.into_inner());
        for (text, demo) in [("demo = false", false), ("demo_clock = false", false), ("demo = true", true)] {
            assert_eq!(serve(&["--config", &file(text).1]).unwrap().demo, demo, "{text}");
        }
        assert!(!serve(&["--config", &file("no_demo = true").1]).unwrap().demo);
        assert!(!serve(&["--config", &file("demo = true").1, "--no-demo"]).unwrap().demo);
    }

    #[test]
    fn a_key_given_as_a_flag_replaces_the_files_key_file() {
        let _env = ENV.lock().unwrap_or_else(|e| e.into_inner());
        let (_dir, path) = file("jwt_key_file = \"/nonexistent/key.pem\"\n");
        let config = serve(&["--config", &path, "--jwt-key", "flag-secret"]).unwrap();
        assert_eq!(config.auth.jwt_key_file, None);
        assert!(config.validate().unwrap().auth.publisher_key.is_some());
        let both = serve(&["--config", &file("jwt_key = \"a\"\njwt_key_file = \"b\"\n").1]).unwrap();
        assert_eq!(both.validate().unwrap_err().to_string(), "give --jwt-key or --jwt-key-file, not both");
    }

    #[test]
    fn tls_and_connection_limits_come_from_the_file_and_flags_win() {
        let _env = ENV.lock().unwrap_or_else(|e| e.into_inner());
        let (_dir, path) =
            file("tls_cert = \"c.pem\"\ntls_key = \"k.pem\"\nmax_connections = 5\nidle_timeout = \"1m\"\n");
        let validated = |extra: &[&str]| {
            serve(&[&["--config", path.as_str()], extra].concat()).unwrap().validate().map_err(|e| e.to_string())
        };
        let config = validated(&["--max-connections", "7", "--header-read-timeout", "3s"]).unwrap();
        assert_eq!(config.tls, Some(TlsFiles { cert: "c.pem".into(), key: "k.pem".into() }));
        let expected = ConnectionLimits {
            max_connections: 7,
            max_connections_per_ip: 256,
            header_read_timeout: Duration::from_secs(3),
            idle_timeout: Duration::from_secs(60),
            max_header_bytes: 8192,
            max_accept_rate: None,
        };
        assert_eq!(config.connections, expected);
        assert!(validated(&["--max-connections-per-ip", "0"]).unwrap_err().contains("at least 1"));
    }

    #[test]
    fn every_setting_is_named_after_its_flag_and_variable() {
        let settings = ServerConfig::augment_args(Command::new("herald serve"));
        for arg in settings.get_arguments() {
            let id = arg.get_id().as_str();
            let long = arg.get_long().expect("every setting has a flag");
            match id {
                "cors_origins" => assert_eq!(long, "cors-origin"),
                _ => assert_eq!(long.replace('-', "_"), id),
            }
            let env = arg.get_env().map(|env| env.to_string_lossy().into_owned());
            match id {
                "ws_echo" => assert_eq!(env, None),
                _ => assert_eq!(env, Some(format!("HERALD_{}", id.to_uppercase())), "{id}"),
            }
        }
    }
}
