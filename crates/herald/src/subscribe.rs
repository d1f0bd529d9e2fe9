//! `herald subscribe`: print events as they arrive, resuming by itself after a disconnection.

use std::io::Write;

use herald_client::EventSource;

use crate::cli::SubscribeArgs;

pub(crate) async fn run(args: SubscribeArgs) -> Result<(), String> {
    let mut url = args.hub.clone();
    {
        let mut query = url.query_pairs_mut();
        for m in &args.matchers {
            query.append_pair("match", m);
        }
    }
    let mut source = EventSource::new(url);
    if let Some(id) = args.last_event_id {
        source = source.last_event_id(id);
    }
    if let Some(token) = &args.token {
        source = source.header("authorization", &format!("Bearer {token}")).map_err(|e| e.to_string())?;
    }
    let stdout = std::io::stdout();
    loop {
        let event = source.next().await.map_err(|e| e.to_string())?;
        let mut out = stdout.lock();
        let written = if args.json {
            let line = serde_json::json!({"id": event.id, "type": event.event_type, "data": event.data});
            writeln!(out, "{line}")
        } else {
            writeln!(out, "id: {}\nevent: {}\n{}\n", event.id, event.event_type, event.data)
        };
        // A closed pipe (e.g. `herald subscribe | head`) ends the command quietly.
        if written.and_then(|()| out.flush()).is_err() {
            return Ok(());
        }
    }
}
