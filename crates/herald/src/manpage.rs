//! `herald man`: manual pages in roff, generated from the command-line definition.
//!
//! One page per command, as `man` expects: herald(1) lists the commands, and herald-serve(1),
//! herald-publish(1), … give each one's options, environment variables and defaults.
//! `herald man` prints herald(1), `herald man serve` prints herald-serve(1), and `herald man
//! --out-dir DIR` writes them all, for packaging.

use std::path::Path;

use clap::{Command, CommandFactory};
use clap_mangen::roff::{bold, roman, Roff};
use clap_mangen::Man;

use crate::cli::{Cli, ManArgs};

/// Prints the page asked for, or writes every page.
pub(crate) fn run(args: &ManArgs) -> Result<(), String> {
    if let Some(dir) = &args.out_dir {
        return write_all(dir);
    }
    let command = top();
    let page = match args.command.as_deref() {
        None => page(&command, None),
        Some(name) => match command.find_subcommand(name) {
            Some(sub) if !sub.is_hide_set() => page(&command, Some(sub)),
            _ => {
                let names: Vec<&str> = subcommands(&command).map(Command::get_name).collect();
                return Err(format!("no command `{name}`: the pages are of {}", names.join(", ")));
            }
        },
    };
    crate::print(&page?)
}

/// `herald`, built (so that each command knows its full name and the global flags).
fn top() -> Command {
    let mut command = Cli::command().disable_help_subcommand(true);
    command.build();
    command
}

/// The commands that have a page of their own.
fn subcommands(top: &Command) -> impl Iterator<Item = &Command> {
    top.get_subcommands().filter(|sub| !sub.is_hide_set())
}

/// The page of `herald`, or of its command `sub`, in roff.
fn page(top: &Command, sub: Option<&Command>) -> Result<Vec<u8>, String> {
    let mut page = Vec::new();
    let source = format!("{} {}", top.get_name(), top.get_version().unwrap_or_default());
    Man::new(sub.unwrap_or(top).clone())
        .source(source.trim_end())
        .render(&mut page)
        .map_err(|e| format!("cannot render the manual page: {e}"))?;
    // The other pages, with the way to read them.
    let pages: Vec<String> = match sub {
        None => subcommands(top).map(|sub| format!("{}-{}(1)", top.get_name(), sub.get_name())).collect(),
        Some(_) => vec![format!("{}(1)", top.get_name())],
    };
    let mut see_also = Roff::new();
    see_also.control("SH", ["SEE ALSO"]).text([roman(pages.join(", "))]);
    see_also.control("PP", []).text([
        roman("Each page is printed by "),
        bold("herald man"),
        roman(" [COMMAND], e.g. "),
        bold("herald man serve | man -l -"),
        roman("."),
    ]);
    see_also.to_writer(&mut page).map_err(|e| format!("cannot render the manual page: {e}"))?;
    Ok(page)
}

/// Writes `herald.1` and a page per command into `dir`, and prints their paths.
fn write_all(dir: &Path) -> Result<(), String> {
    std::fs::create_dir_all(dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    let top = top();
    let mut written = String::new();
    for sub in std::iter::once(None).chain(subcommands(&top).map(Some)) {
        let name = match sub {
            None => format!("{}.1", top.get_name()),
            Some(sub) => format!("{}-{}.1", top.get_name(), sub.get_name()),
        };
        let path = dir.join(name);
        std::fs::write(&path, page(&top, sub)?).map_err(|e| format!("cannot write {}: {e}", path.display()))?;
        written.push_str(&format!("{}\n", path.display()));
    }
    crate::print(written.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_command_has_a_page_with_its_flags() {
        let top = top();
        let main = String::from_utf8(page(&top, None).unwrap()).unwrap();
        assert!(main.contains("\n.TH herald 1 ") && main.contains("herald\\-serve(1)"), "{main}");
        let serve = String::from_utf8(page(&top, top.find_subcommand("serve")).unwrap()).unwrap();
        assert!(
            serve.contains("\n.TH herald-serve 1 ")
                && serve.contains(&format!("\"herald {}\"", env!("CARGO_PKG_VERSION"))),
            "{serve}"
        );
        assert!(serve.contains("\\-\\-history\\-size") && serve.contains("HERALD_ADDR"), "{serve}");
    }
}
