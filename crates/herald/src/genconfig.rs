//! `herald genconfig`: a commented configuration file with every setting of `herald serve`, each
//! at its default.
//!
//! The file is written from the settings' definition: the arguments that [`config::settings`]
//! lists, which are the keys the reader of `--config` accepts. Each one's help, flag, variable,
//! type and default come from its clap argument, so a new setting appears here by itself, and
//! the file always reads back (`herald check-config` and the tests check that).

use clap::builder::PossibleValue;
use clap::{Arg, ArgAction, Command, CommandFactory};

use crate::cli::Cli;
use crate::config::{self, ValueKind};

/// Longest comment line, `# ` included.
const WIDTH: usize = 80;

/// Prints the file on standard output.
pub(crate) fn run() -> Result<(), String> {
    crate::print(generate().as_bytes())
}

/// The whole file.
pub(crate) fn generate() -> String {
    let settings = config::settings();
    let mut out = String::new();
    header(&mut out, &settings);
    let args: Vec<&Arg> = settings.get_arguments().filter(|arg| !arg.is_hide_set()).collect();
    // Settings without a help heading first, then one section per heading, in the order of
    // their first settings.
    let mut headings: Vec<Option<&str>> = Vec::new();
    for arg in &args {
        if !headings.contains(&arg.get_help_heading()) {
            headings.push(arg.get_help_heading());
        }
    }
    headings.sort_by_key(Option::is_some);
    for heading in headings {
        if let Some(heading) = heading {
            let rule = format!("# {}\n", "-".repeat(WIDTH - 2));
            out.push('\n');
            out.push_str(&rule);
            out.push_str(&format!("# {heading}\n"));
            out.push_str(&rule);
        }
        for arg in args.iter().filter(|arg| arg.get_help_heading() == heading) {
            out.push('\n');
            entry(&mut out, arg);
        }
    }
    out
}

/// What the file is and how it is read; the flags of `herald serve` that it cannot set.
fn header(out: &mut String, settings: &Command) {
    let version = Cli::command().get_version().map(|v| format!(" {v}")).unwrap_or_default();
    comment(
        out,
        &format!(
            "Configuration of `herald serve`, written by `herald genconfig` (herald{version}).\n\nUse it with `herald \
             serve --config FILE` (or HERALD_CONFIG=FILE), and check it with `herald check-config FILE`. Each \
             setting below comes with its help, its flag and its environment variable; flags win over the \
             variables, which win over this file, which wins over the built-in defaults. The settings are at \
             their defaults; those without one are commented out: remove the `#` and give a value to set them."
        ),
    );
    let mut serve = Cli::command();
    serve.build();
    let elsewhere: Vec<String> = serve
        .find_subcommand("serve")
        .into_iter()
        .flat_map(Command::get_arguments)
        .filter(|arg| !arg.is_hide_set() && arg.get_long().is_some())
        .filter(|arg| !matches!(arg.get_action(), ArgAction::Help | ArgAction::Version))
        .filter(|arg| settings.get_arguments().all(|setting| setting.get_id() != arg.get_id()))
        .map(|arg| match arg.get_env() {
            Some(env) => format!("{} ({})", flag(arg), env.to_string_lossy()),
            None => flag(arg),
        })
        .collect();
    if !elsewhere.is_empty() {
        out.push_str("#\n");
        comment(out, &format!("Not set in this file: {}.", elsewhere.join(", ")));
    }
}

/// One setting: its help, possible values, flag and variable, then the key at its default.
fn entry(out: &mut String, arg: &Arg) {
    if let Some(help) = arg.get_long_help().or_else(|| arg.get_help()) {
        // clap drops the full stop of a one-paragraph help.
        let help = help.to_string();
        let stop = if help.ends_with(['.', '!', '?', ':']) { "" } else { "." };
        comment(out, &format!("{help}{stop}"));
    }
    let kind = ValueKind::of(arg);
    let values: Vec<PossibleValue> = match kind {
        ValueKind::Switch => Vec::new(),
        _ => arg.get_possible_values(),
    };
    if !values.is_empty() {
        let described: Vec<String> = values
            .iter()
            .filter(|value| !value.is_hide_set())
            .map(|value| match value.get_help() {
                Some(help) => format!("`{}`: {help}", value.get_name()),
                None => format!("`{}`", value.get_name()),
            })
            .collect();
        comment(out, &format!("Values: {}", described.join("; ")));
    }
    let mut usage = format!("Flag: {}", flag(arg));
    if kind == ValueKind::List {
        usage.push_str(" (repeatable)");
    }
    comment(out, &usage);
    if let Some(env) = arg.get_env() {
        let mut usage = format!("Environment: {}", env.to_string_lossy());
        if let Some(delimiter) = arg.get_value_delimiter() {
            usage.push_str(&format!(" (values separated by `{delimiter}`)"));
        }
        comment(out, &usage);
    }
    let key = arg.get_id().as_str();
    let defaults: Vec<String> =
        arg.get_default_values().iter().map(|value| value.to_string_lossy().into_owned()).collect();
    match value(kind, &defaults) {
        Some(value) => out.push_str(&format!("{key} = {value}\n")),
        None => out.push_str(&format!("# {key} = {}\n", placeholder(arg, kind))),
    }
}

/// `--flag <VALUE>`, as `--help` shows it.
fn flag(arg: &Arg) -> String {
    let long = arg.get_long().map(|long| format!("--{long}"));
    let short = arg.get_short().map(|short| format!("-{short}"));
    let names = [short, long].into_iter().flatten().collect::<Vec<_>>().join(", ");
    match (arg.get_action().takes_values(), arg.get_value_names()) {
        (true, Some([name, ..])) => format!("{names} <{name}>"),
        (true, _) => format!("{names} <VALUE>"),
        (false, _) => names,
    }
}

/// A default as the TOML value the reader takes back; `None` when there is no default.
fn value(kind: ValueKind, defaults: &[String]) -> Option<toml::Value> {
    use toml::Value;
    match (kind, defaults) {
        (_, []) => None,
        (ValueKind::List, items) => Some(Value::Array(items.iter().cloned().map(Value::String).collect())),
        (ValueKind::Switch, [on, ..]) => Some(Value::Boolean(on == "true")),
        (ValueKind::Integer, [number, ..]) => {
            Some(number.parse().map(Value::Integer).unwrap_or_else(|_| Value::String(number.clone())))
        }
        (ValueKind::Text, [text, ..]) => Some(Value::String(text.clone())),
    }
}

/// What to write after a commented-out key: the value's name, in the form its type takes.
fn placeholder(arg: &Arg, kind: ValueKind) -> String {
    let name = match arg.get_value_names() {
        Some([name, ..]) => name.to_string(),
        _ => "VALUE".to_owned(),
    };
    match kind {
        ValueKind::Switch => "true".to_owned(),
        ValueKind::List => format!("[\"{name}\"]"),
        ValueKind::Integer => name,
        ValueKind::Text => format!("\"{name}\""),
    }
}

/// Appends `text` as `# ` comment lines of at most [`WIDTH`] characters; its paragraphs (blank
/// lines in the help) are kept.
fn comment(out: &mut String, text: &str) {
    for (i, paragraph) in text.split("\n\n").enumerate() {
        if i > 0 {
            out.push_str("#\n");
        }
        let mut line = String::new();
        for word in paragraph.split_whitespace() {
            if !line.is_empty() && 2 + line.chars().count() + 1 + word.chars().count() > WIDTH {
                out.push_str(&format!("# {line}\n"));
                line.clear();
            }
            if !line.is_empty() {
                line.push(' ');
            }
            line.push_str(word);
        }
        if !line.is_empty() {
            out.push_str(&format!("# {line}\n"));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_file_reads_back_as_the_defaults() {
        let settings = config::read(&generate()).unwrap();
        let config = config::server_config(&settings).unwrap();
        assert_eq!(config, herald_server::ServerConfig::default());
    }

    #[test]
    fn comments_are_wrapped() {
        let mut out = String::new();
        comment(&mut out, &format!("{}\n\nnext", "word ".repeat(40)));
        assert!(out.lines().all(|line| line.starts_with('#') && line.chars().count() <= WIDTH), "{out}");
        assert!(out.contains("#\n# next\n"), "{out}");
    }
}
