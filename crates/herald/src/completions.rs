//! `herald completions SHELL`: the shell's completion script for every command and flag,
//! generated from the command-line definition.

use clap::CommandFactory;
use clap_complete::Shell;

use crate::cli::Cli;

/// Prints the script for `shell` on standard output.
pub(crate) fn run(shell: Shell) -> Result<(), String> {
    crate::print(&script(shell))
}

/// The completion script for `shell`.
pub(crate) fn script(shell: Shell) -> Vec<u8> {
    let mut script = Vec::new();
    clap_complete::generate(shell, &mut Cli::command(), "herald", &mut script);
    script
}

#[cfg(test)]
mod tests {
    use clap::ValueEnum;

    use super::*;

    #[test]
    fn every_shell_gets_a_script_with_the_commands() {
        for shell in Shell::value_variants() {
            let script = String::from_utf8(script(*shell)).unwrap();
            assert!(script.contains("serve") && script.contains("check-config"), "{shell}");
        }
    }
}
