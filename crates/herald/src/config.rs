//! The command line, with the values of `herald serve --config FILE` as defaults.
//!
//! Precedence, highest first: flags, `HERALD_*` variables, the file, the built-in defaults. clap
//! applies all of it: each key of the file names an argument of [`ServerConfig`] by its id (the
//! flag name with `_` for `-`), and its value replaces that argument's default before the
//! command line is parsed. So this needs two parses: the first finds the file. Unknown keys and
//! values of the wrong type are errors, so a typo never silently leaves a setting at its default.
//!
//! [`read`] is the one reader of a file's text, for `herald serve` and `herald check-config`
//! alike, and [`settings`] the one list of the keys it accepts, which `herald genconfig` prints.

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::ops::Range;
use std::path::{Path, PathBuf};

use clap::error::ErrorKind;
use clap::parser::ValueSource;
use clap::{value_parser, Arg, ArgAction, ArgMatches, Args, Command, CommandFactory, FromArgMatches};
use herald_server::ServerConfig;

use crate::cli::Cli;

/// Keys that files may still use for the argument they name, with the opposite value: `demo =
/// false` is `no_demo = true`.
const INVERTED_KEYS: [(&str, &str); 2] = [("demo", "no_demo"), ("demo_clock", "no_demo")];

/// One key of a configuration file, read: the argument it sets, and where it is.
#[derive(Debug, Clone)]
pub(crate) struct Setting {
    /// The id of the argument it sets (the key itself, but for the inverted keys).
    pub(crate) id: String,
    /// The value as the argument's values, in the text its parser reads.
    pub(crate) values: Vec<String>,
    /// Where the key is in the file (byte offsets).
    pub(crate) span: Range<usize>,
}

/// Something wrong in a configuration file, and where (byte offsets), when that is known.
#[derive(Debug, Clone)]
pub(crate) struct Problem {
    /// Where in the file.
    pub(crate) span: Option<Range<usize>>,
    /// What is wrong, and what to write instead when that is known.
    pub(crate) message: String,
    kind: ErrorKind,
}

impl Problem {
    /// A problem at `span`.
    pub(crate) fn new(span: Option<Range<usize>>, message: String) -> Self {
        Self { span, message, kind: ErrorKind::InvalidValue }
    }

    /// `FILE:LINE:COLUMN`, or `FILE` when the place is not known; `text` is the file's content.
    pub(crate) fn location(&self, path: &Path, text: &str) -> String {
        match &self.span {
            Some(span) => {
                let (line, column) = line_column(text, span.start);
                format!("{}:{line}:{column}", path.display())
            }
            None => path.display().to_string(),
        }
    }
}

/// The 1-based line and column (in characters) of byte `offset` of `text`.
pub(crate) fn line_column(text: &str, offset: usize) -> (usize, usize) {
    let offset = (0..=offset.min(text.len())).rev().find(|&i| text.is_char_boundary(i)).unwrap_or(0);
    let before = &text[..offset];
    let line_start = before.rfind('\n').map_or(0, |newline| newline + 1);
    (before.matches('\n').count() + 1, before[line_start..].chars().count() + 1)
}

/// The settings a configuration file may give: the arguments of `herald serve` that its keys
/// name (every one but `--config` itself and the global `--log`), built.
pub(crate) fn settings() -> Command {
    let mut settings = ServerConfig::augment_args(Command::new("herald serve").disable_help_flag(true));
    settings.build();
    settings
}

/// Reads a configuration file's text: each key as the setting it gives, in the file's order,
/// or every problem found (a syntax error stops the reading at once).
pub(crate) fn read(text: &str) -> Result<Vec<Setting>, Vec<Problem>> {
    type Table = BTreeMap<toml::Spanned<String>, toml::Spanned<toml::Value>>;
    let table: Table = toml::from_str(text).map_err(|e: toml::de::Error| {
        // The parser's message may take several lines: one is enough after the location.
        let message = e.message().trim().lines().map(str::trim).collect::<Vec<_>>().join("; ");
        vec![Problem::new(e.span(), message)]
    })?;
    let mut entries: Vec<_> = table.into_iter().collect();
    entries.sort_by_key(|(key, _)| key.span().start);
    let settings = settings();
    let (mut read, mut problems) = (Vec::new(), Vec::new());
    for (key, value) in &entries {
        match setting(&settings, key, value) {
            Ok(setting) => read.push(setting),
            Err(problem) => problems.push(problem),
        }
    }
    if problems.is_empty() {
        Ok(read)
    } else {
        Err(problems)
    }
}

/// One key of the file as the setting it gives.
fn setting(
    settings: &Command,
    key: &toml::Spanned<String>,
    value: &toml::Spanned<toml::Value>,
) -> Result<Setting, Problem> {
    let name = key.get_ref();
    let (id, inverted) = match INVERTED_KEYS.iter().find(|(old, _)| old == name) {
        Some((_, id)) => (*id, true),
        None => (name.as_str(), false),
    };
    let Some(arg) = settings.get_arguments().find(|arg| arg.get_id() == id) else {
        return Err(Problem {
            span: Some(key.span()),
            message: format!(
                "unknown field `{name}`: correct or remove it (keys are the flag names that `herald serve \
                 --help` lists, with `_` for `-`)"
            ),
            kind: ErrorKind::UnknownArgument,
        });
    };
    let invalid = |message| Problem::new(Some(value.span()), message);
    let values =
        values(arg, value.get_ref(), inverted).map_err(|expected| invalid(format!("`{name}` must be {expected}")))?;
    check(arg, &values).map_err(|reason| invalid(format!("`{name}`: {reason}")))?;
    Ok(Setting { id: id.to_owned(), values, span: key.span() })
}

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
    let command = Cli::command().mut_subcommand("serve", |serve| with_defaults(serve, &defaults));
    Cli::from_arg_matches(&command.try_get_matches_from(&args)?)
}

/// `command` with `settings`' values as its arguments' defaults.
pub(crate) fn with_defaults(mut command: Command, settings: &[Setting]) -> Command {
    for setting in settings {
        command = command.mut_arg(&setting.id, |arg| arg.default_values(&setting.values));
    }
    command
}

/// The configuration that a file's `settings` give, with the built-in defaults for the rest and
/// the environment ignored; not yet validated.
pub(crate) fn server_config(settings: &[Setting]) -> Result<ServerConfig, String> {
    let command = ServerConfig::augment_args(Command::new("herald serve").no_binary_name(true))
        .mut_args(|arg| arg.env(None::<&str>));
    let matches =
        with_defaults(command, settings).try_get_matches_from(std::iter::empty::<&str>()).map_err(|e| e.to_string())?;
    ServerConfig::from_arg_matches(&matches).map_err(|e| e.to_string())
}

/// The file's settings that become the defaults of `herald serve`'s arguments. `given` holds
/// what the command line and environment gave.
fn file_defaults(path: &Path, given: &ArgMatches) -> Result<Vec<Setting>, clap::Error> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| error(ErrorKind::Io, format!("cannot read config file {}: {e}", path.display())))?;
    let read = read(&text).map_err(|problems| {
        let more = match problems.len() {
            0 | 1 => String::new(),
            n => format!(" (and {} more: `herald check-config {}` lists them all)", n - 1, path.display()),
        };
        match problems.first() {
            Some(first) => error(
                first.kind,
                format!("invalid config file {}: {}{more}", first.location(path, &text), first.message),
            ),
            None => error(ErrorKind::InvalidValue, format!("invalid config file {}", path.display())),
        }
    })?;
    let settings = settings();
    Ok(read.into_iter().filter(|setting| !replaced(&settings, &setting.id, given)).collect())
}

/// The TOML type of a setting's value in a file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ValueKind {
    /// `true` or `false`: a flag without a value.
    Switch,
    /// A list of strings: a repeatable flag.
    List,
    /// A whole number, without quotes.
    Integer,
    /// A string, in quotes.
    Text,
}

impl ValueKind {
    /// The type `arg`'s value has in a file.
    pub(crate) fn of(arg: &Arg) -> Self {
        match arg.get_action() {
            ArgAction::SetTrue => Self::Switch,
            ArgAction::Append => Self::List,
            _ if is_integer(arg) => Self::Integer,
            _ => Self::Text,
        }
    }
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
    match (ValueKind::of(arg), value) {
        (ValueKind::Switch, Value::Boolean(on)) => Ok(vec![(*on != inverted).to_string()]),
        (ValueKind::Switch, _) => Err(format!("true or false, e.g. `{id} = true`")),
        (ValueKind::List, Value::Array(items)) => items
            .iter()
            .map(|item| item.as_str().map(str::to_owned))
            .collect::<Option<_>>()
            .ok_or_else(|| format!("a list of strings, e.g. `{id} = [\"{example}\"]`")),
        (ValueKind::List, _) => Err(format!("a list of strings, e.g. `{id} = [\"{example}\"]`")),
        (ValueKind::Integer, Value::Integer(n)) => Ok(vec![n.to_string()]),
        (ValueKind::Integer, _) => Err(format!("a number without quotes, e.g. `{id} = {example}`")),
        (ValueKind::Text, Value::String(text)) => Ok(vec![text.clone()]),
        (ValueKind::Text, _) => Err(format!("a string in quotes, e.g. `{id} = \"{example}\"`")),
    }
}

/// True when `arg` takes a whole number.
fn is_integer(arg: &Arg) -> bool {
    let parsed = arg.get_value_parser().type_id();
    let integers: [clap::builder::ValueParser; 5] = [
        value_parser!(u64).into(),
        value_parser!(usize).into(),
        value_parser!(u32).into(),
        value_parser!(u16).into(),
        value_parser!(i32).into(),
    ];
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

/// True when a flag or variable gave the setting of argument `id` in another form: an argument of
/// an exclusive group it belongs to, e.g. `--jwt-key` for the file's `jwt_key_file`. The file's
/// value then gives way instead of joining it.
fn replaced(settings: &Command, id: &str, given: &ArgMatches) -> bool {
    let explicit = |member: &clap::Id| {
        matches!(given.value_source(member.as_str()), Some(ValueSource::CommandLine | ValueSource::EnvVariable))
    };
    settings
        .get_groups()
        .filter(|group| !clap::ArgGroup::clone(group).is_multiple() && group.get_args().any(|member| member == id))
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
            ("store = \"dsk\"", "`dsk` is not a store: use `disk`, `memory`, `redis://"),
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
    fn a_signed_number_is_a_number_in_files_too() {
        let _env = ENV.lock().unwrap_or_else(|e| e.into_inner());
        assert_eq!(serve(&["--config", &file("publish_nice = -5").1]).unwrap().hub.publish_nice, -5);
        let quoted = serve(&["--config", &file("publish_nice = \"-5\"").1]).unwrap_err().to_string();
        assert!(quoted.contains("`publish_nice` must be a number"), "{quoted}");
        let out_of_range = serve(&["--config", &file("publish_nice = 20").1]).unwrap_err().to_string();
        assert!(out_of_range.contains("`publish_nice`: invalid value '20'"), "{out_of_range}");
    }

    #[test]
    fn places_are_lines_and_columns_in_characters() {
        let text = "a = 1\nété = \"x\"\n";
        assert_eq!(line_column(text, 0), (1, 1));
        assert_eq!(line_column(text, 6), (2, 1));
        assert_eq!(line_column(text, text.rfind('=').unwrap()), (2, 5));
        assert_eq!(line_column(text, 8), (2, 2));
        assert_eq!(line_column(text, 7), (2, 1), "inside a character: its start");
        assert_eq!(line_column(text, 1000), (3, 1));
    }

    #[test]
    fn a_files_problems_are_reported_in_its_order_with_their_place() {
        let _env = ENV.lock().unwrap_or_else(|e| e.into_inner());
        let error = serve(&["--config", &file("zz = 1\nhistory_size = 3\naa = 2\n").1]).unwrap_err().to_string();
        assert!(error.contains("herald.toml:1:1: unknown field `zz`"), "{error}");
        assert!(error.contains("(and 1 more: `herald check-config"), "{error}");
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
    fn a_key_set_given_as_a_flag_replaces_the_files_key() {
        let _env = ENV.lock().unwrap_or_else(|e| e.into_inner());
        let (_dir, path) = file("publisher_jwt_key = \"file-secret\"\njwt_jwks_refresh = \"1m\"\n");
        let config = serve(&["--config", &path, "--publisher-jwt-jwks-url", "https://auth.example/jwks.json"]).unwrap();
        assert_eq!(config.auth.publisher_jwt_key, None);
        assert_eq!(config.auth.jwt_jwks_refresh, Duration::from_secs(60));
        let key = config.validate().unwrap().auth.publisher_key.unwrap();
        assert!(
            matches!(key.material, herald_server::auth::KeyMaterial::Jwks(url) if url.as_str() == "https://auth.example/jwks.json")
        );
        let both = serve(&["--config", &file("jwt_key_file = \"k\"\njwt_jwks_url = \"http://a/k\"\n").1]).unwrap();
        assert_eq!(
            both.validate().unwrap_err().to_string(),
            "give --jwt-key (or --jwt-key-file) or --jwt-jwks-url, not both"
        );
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
                // Lists: one value per flag, all of them in the key and the variable.
                "cors_origins" => assert_eq!(long, "cors-origin"),
                "authorization_servers" => assert_eq!(long, "authorization-server"),
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
