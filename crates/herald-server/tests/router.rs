//! The axum application called directly, one request at a time, with no socket: routes, content
//! types, the publish form's own refusals, and CORS.

mod common;

use axum::body::Body;
use axum::http::{header, Method, Request, StatusCode};
use axum::response::Response;
use herald_server::AppState;
use serde_json::Value;
use tower::ServiceExt;

/// The router of a memory-only hub with the demo publishers off, plus `args`.
fn app(args: &[&str]) -> axum::Router {
    let dir = tempfile::tempdir().unwrap();
    let config = common::config(dir.path(), &[&["--no-demo", "--store", "memory"], args].concat());
    herald_server::router(AppState::new(config).expect("the hub starts"))
}

/// Calls the router with `request`, naming the host as every HTTP/1.1 client does.
async fn call(app: &axum::Router, mut request: Request<Body>) -> Response {
    request.headers_mut().entry(header::HOST).or_insert(header::HeaderValue::from_static("hub.example"));
    app.clone().oneshot(request).await.expect("the router always answers")
}

fn get(uri: &str) -> Request<Body> {
    Request::get(uri).body(Body::empty()).unwrap()
}

fn post_form(body: &str) -> Request<Body> {
    Request::post("/.well-known/mercure")
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(Body::from(body.to_owned()))
        .unwrap()
}

async fn text(response: Response) -> String {
    let bytes = axum::body::to_bytes(response.into_body(), 1 << 20).await.expect("a readable body");
    String::from_utf8(bytes.to_vec()).expect("a UTF-8 body")
}

fn content_type(response: &Response) -> &str {
    response.headers().get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("")
}

#[tokio::test]
async fn a_request_without_host_is_400() {
    let app = app(&[]);
    let response = app.clone().oneshot(get("/healthz")).await.expect("the router always answers");
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    assert!(text(response).await.contains("missing Host header"));
}

#[tokio::test]
async fn healthz_answers_ok() {
    let response = call(&app(&[]), get("/healthz")).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(text(response).await, "ok\n");
}

#[tokio::test]
async fn an_unknown_path_is_404() {
    let app = app(&[]);
    for path in ["/nope", "/.well-known/mercure/subscriptions", "/healthz/x"] {
        assert_eq!(call(&app, get(path)).await.status(), StatusCode::NOT_FOUND, "{path}");
    }
}

#[tokio::test]
async fn a_publish_with_another_content_type_is_415_with_a_hint() {
    let app = app(&[]);
    let request = Request::post("/.well-known/mercure")
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from("{\"topic\":\"t\"}"))
        .unwrap();
    let response = call(&app, request).await;
    assert_eq!(response.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);
    assert_eq!(content_type(&response), "text/plain; charset=utf-8");
    let message = text(response).await;
    assert!(message.contains("Content-Type: application/x-www-form-urlencoded"), "{message}");
    let untyped = Request::post("/.well-known/mercure").body(Body::from("topic=t")).unwrap();
    assert_eq!(call(&app, untyped).await.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);
    // The type's parameters and case do not matter.
    let request = Request::post("/.well-known/mercure")
        .header(header::CONTENT_TYPE, "Application/X-WWW-Form-URLEncoded; charset=UTF-8")
        .body(Body::from("topic=t"))
        .unwrap();
    assert_eq!(call(&app, request).await.status(), StatusCode::OK);
}

#[tokio::test]
async fn a_body_over_the_limit_is_413() {
    let app = app(&["--max-body-bytes", "64"]);
    let response = call(&app, post_form(&format!("topic=t&data={}", "x".repeat(100)))).await;
    assert_eq!(response.status(), StatusCode::PAYLOAD_TOO_LARGE);
    assert!(text(response).await.contains("larger than 64 bytes"));
}

#[tokio::test]
async fn a_subscription_without_a_matcher_is_400() {
    let response = call(&app(&[]), get("/.well-known/mercure")).await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    assert_eq!(content_type(&response), "text/plain; charset=utf-8");
    assert!(text(response).await.contains("missing topic matcher"));
}

#[tokio::test]
async fn a_publish_is_answered_with_its_id_and_polled_back() {
    let app = app(&[]);
    let response = call(&app, post_form("topic=t&data=hello&id=first")).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(content_type(&response), "text/plain; charset=utf-8");
    assert_eq!(text(response).await, "first");
    let response = call(&app, get("/.well-known/mercure?match=t&transport=poll&last_event_id=earliest")).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(content_type(&response), "application/json");
    assert_eq!(response.headers()["mercure-last-event-id"], "earliest");
    let batch: Value = serde_json::from_str(&text(response).await).unwrap();
    assert_eq!(batch["events"][0]["data"], "hello");
    assert_eq!(batch["last_event_id"], "first");
}

#[tokio::test]
async fn the_javascript_client_is_served_as_javascript() {
    let app = app(&[]);
    let response = call(&app, get("/herald.js")).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(content_type(&response), "text/javascript; charset=utf-8");
    assert_eq!(response.headers()[header::CACHE_CONTROL], "no-cache");
    assert!(text(response).await.contains("export class EventSource"));
    let types = call(&app, get("/herald.d.ts")).await;
    assert_eq!(content_type(&types), "application/typescript; charset=utf-8");
}

#[tokio::test]
async fn cors_answers_configured_origins_only() {
    let preflight = |origin: &str| {
        Request::builder()
            .method(Method::OPTIONS)
            .uri("/.well-known/mercure")
            .header(header::ORIGIN, origin)
            .header(header::ACCESS_CONTROL_REQUEST_METHOD, "POST")
            .header(header::ACCESS_CONTROL_REQUEST_HEADERS, "authorization, content-type")
            .body(Body::empty())
            .unwrap()
    };
    let app_with_cors = app(&["--cors-origin", "https://app.example"]);
    let ok = call(&app_with_cors, preflight("https://app.example")).await;
    assert!(ok.status().is_success());
    let headers = ok.headers();
    assert_eq!(headers[header::ACCESS_CONTROL_ALLOW_ORIGIN], "https://app.example");
    assert_eq!(headers[header::ACCESS_CONTROL_ALLOW_CREDENTIALS], "true");
    let methods = headers[header::ACCESS_CONTROL_ALLOW_METHODS].to_str().unwrap();
    assert!(methods.contains("POST"), "{methods}");
    let allowed = headers[header::ACCESS_CONTROL_ALLOW_HEADERS].to_str().unwrap().to_ascii_lowercase();
    assert!(allowed.contains("authorization") && allowed.contains("content-type"), "{allowed}");
    let other = call(&app_with_cors, preflight("https://evil.example")).await;
    assert!(other.headers().get(header::ACCESS_CONTROL_ALLOW_ORIGIN).is_none());

    // `*` allows any origin, without credentials.
    let any = call(&app(&["--cors-origin", "*"]), preflight("https://elsewhere.example")).await;
    assert_eq!(any.headers()[header::ACCESS_CONTROL_ALLOW_ORIGIN], "*");
    assert!(any.headers().get(header::ACCESS_CONTROL_ALLOW_CREDENTIALS).is_none());

    // Without a configured origin, cross-origin access stays off.
    let request = Request::get("/healthz").header(header::ORIGIN, "https://app.example").body(Body::empty()).unwrap();
    let response = call(&app(&[]), request).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert!(response.headers().get(header::ACCESS_CONTROL_ALLOW_ORIGIN).is_none());
}
