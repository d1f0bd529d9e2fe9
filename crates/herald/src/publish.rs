//! `herald publish`: send one event from the command line.

use herald_client::Publication;
use tokio::io::AsyncReadExt;

use crate::cli::PublishArgs;

pub(crate) async fn run(args: PublishArgs) -> Result<(), String> {
    let data = if args.data == "-" {
        let mut text = String::new();
        tokio::io::stdin().read_to_string(&mut text).await.map_err(|e| format!("cannot read standard input: {e}"))?;
        text
    } else {
        args.data
    };
    let update = Publication {
        topics: args.topics,
        data,
        id: args.id,
        event_type: args.event_type,
        retry: args.retry,
        private: args.private,
    };
    let id = herald_client::publish_with_token(&reqwest::Client::new(), &args.hub, &update, args.token.as_deref())
        .await
        .map_err(|e| e.to_string())?;
    println!("{id}");
    Ok(())
}
