//! `naive-hub [--addr HOST:PORT] [--capacity N]`: serves the naive hub until killed.

use std::process::ExitCode;

use axum::serve::ListenerExt;

const USAGE: &str = "usage: naive-hub [--addr HOST:PORT] [--capacity UPDATES_PER_TOPIC]
  --addr      where to listen (default 127.0.0.1:3000)
  --capacity  updates each topic's broadcast channel holds for slow subscribers (default 1024)";

#[tokio::main]
async fn main() -> ExitCode {
    let Some((addr, capacity)) = parse_args(std::env::args().skip(1)) else {
        eprintln!("{USAGE}");
        return ExitCode::from(2);
    };
    let listener = match tokio::net::TcpListener::bind(&addr).await {
        Ok(listener) => listener,
        Err(e) => {
            eprintln!("naive-hub: cannot listen on {addr}: {e}");
            return ExitCode::FAILURE;
        }
    };
    match listener.local_addr() {
        Ok(local) => println!("naive-hub listening on http://{local}{}", naive_hub::HUB_PATH),
        Err(e) => eprintln!("naive-hub: {e}"),
    }
    // Small events go out at once rather than waiting for the previous segment's
    // acknowledgement, as axum's documentation shows.
    let listener = listener.tap_io(|tcp| {
        if let Err(e) = tcp.set_nodelay(true) {
            eprintln!("naive-hub: cannot set TCP_NODELAY: {e}");
        }
    });
    if let Err(e) = axum::serve(listener, naive_hub::app(capacity)).await {
        eprintln!("naive-hub: {e}");
        return ExitCode::FAILURE;
    }
    ExitCode::SUCCESS
}

/// The address and channel capacity the flags ask for; `None` for anything else.
fn parse_args(mut args: impl Iterator<Item = String>) -> Option<(String, usize)> {
    let mut addr = "127.0.0.1:3000".to_owned();
    let mut capacity = naive_hub::DEFAULT_CAPACITY;
    while let Some(flag) = args.next() {
        let value = args.next()?;
        match flag.as_str() {
            "--addr" => addr = value,
            "--capacity" => capacity = value.parse().ok().filter(|&n| n > 0)?,
            _ => return None,
        }
    }
    Some((addr, capacity))
}
