//! `GET /openapi.yaml`: the hub serves the OpenAPI document of its HTTP API, byte for byte the
//! asset in the source tree, and every path the document lists is one the hub serves.
//! (`tests/openapi/run.sh` validates the document and checks the hub's answers against it.)

mod common;

use common::{within, TestHub};

const DOCUMENT: &str = include_str!("../../herald-server/assets/openapi.yaml");

/// The paths of the document's `paths:` object: its keys, two spaces in.
fn documented_paths(document: &str) -> Vec<&str> {
    document
        .lines()
        .skip_while(|line| *line != "paths:")
        .skip(1)
        .take_while(|line| line.is_empty() || line.starts_with(' '))
        .filter_map(|line| line.strip_prefix("  /").map(|_| line.trim().trim_end_matches(':')))
        .collect()
}

#[tokio::test]
async fn the_document_is_served_as_it_is_in_the_source_tree() {
    let hub = TestHub::start(&["--store", "memory"]).await;
    let url = hub.base.join("/openapi.yaml").expect("joins");
    let response = within(hub.client.get(url).send()).await.expect("GET /openapi.yaml");
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], "application/yaml");
    assert_eq!(response.headers()["cache-control"], "no-cache");
    let body = within(response.bytes()).await.expect("the body");
    assert!(body == DOCUMENT.as_bytes(), "the served document differs from assets/openapi.yaml");
    assert!(DOCUMENT.starts_with("openapi: 3.1.0\n"), "an OpenAPI 3.1 document");
}

#[tokio::test]
async fn every_documented_path_is_served() {
    let paths = documented_paths(DOCUMENT);
    for expected in ["/.well-known/mercure", "/ws", "/healthz", "/metrics", "/openapi.yaml", "/herald.js", "/"] {
        assert!(paths.contains(&expected), "{expected} is documented; found {paths:?}");
    }
    // With the demos, whose endpoints are documented too.
    let hub = TestHub::start_with(&[], &["--store", "memory", "--subscriptions", "--demo-poker-pace", "1s"]).await;
    for path in paths {
        // Path parameters filled in: a matcher type where one is named, a value elsewhere.
        let path = path.replace("{match_type}", "exact").replace("{match}", "x").replace("{subscriber}", "s");
        let url = hub.base.join(&path).expect("joins");
        // Without parameters the hub and the WebSocket path answer 400 at once: no stream opens.
        // The one POST-only path: sitting down at the poker table.
        let request = if path == "/poker/sit" { hub.client.post(url) } else { hub.client.get(url) };
        let response = within(request.send()).await.expect("request a documented path");
        let status = response.status().as_u16();
        assert!(![404, 405].contains(&status), "{path} answered {status}: documented but not served");
    }
}
