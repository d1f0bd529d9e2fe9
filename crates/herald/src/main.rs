//! The `herald` command: run the hub, publish to it, or tail it; write, check and document its
//! configuration.

mod bench;
mod check_config;
mod cli;
mod completions;
mod config;
mod genconfig;
mod manpage;
mod publish;
mod serve;
mod subscribe;
mod token;

use cli::Command;

/// jemalloc keeps many connections' small allocations less fragmented than the system
/// allocator does: idle connections cost less resident memory (figures in bench/RESULTS.md).
#[cfg(feature = "jemalloc")]
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

fn main() -> std::process::ExitCode {
    let cli = config::parse(std::env::args_os()).unwrap_or_else(|error| error.exit());
    init_logging(&cli.log, cli.log_format);
    let result = match cli.command {
        Command::Serve(args) => with_runtime(serve::run(*args)),
        Command::Publish(args) => with_runtime(publish::run(args)),
        Command::Subscribe(args) => with_runtime(subscribe::run(args)),
        Command::Token(args) => token::run(args),
        Command::Bench(args) => with_runtime(bench::run(args)),
        Command::Genconfig => genconfig::run(),
        Command::CheckConfig(args) => check_config::run(&args),
        Command::Completions(args) => completions::run(args.shell),
        Command::Man(args) => manpage::run(&args),
    };
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("error: {message}");
            std::process::ExitCode::FAILURE
        }
    }
}

/// Runs `task` on a new async runtime.
fn with_runtime(task: impl std::future::Future<Output = Result<(), String>>) -> Result<(), String> {
    let runtime = tokio::runtime::Runtime::new().map_err(|e| format!("cannot start the async runtime: {e}"))?;
    runtime.block_on(task)
}

/// Writes `bytes` to standard output.
fn print(bytes: &[u8]) -> Result<(), String> {
    use std::io::Write;
    let mut stdout = std::io::stdout().lock();
    stdout.write_all(bytes).and_then(|()| stdout.flush()).map_err(|e| format!("cannot write to standard output: {e}"))
}

fn init_logging(filter: &str, format: cli::LogFormat) {
    let filter =
        tracing_subscriber::EnvFilter::try_new(filter).unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let logs = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr);
    match format {
        cli::LogFormat::Text => logs.with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr())).init(),
        cli::LogFormat::Json => logs.json().init(),
    }
}
