//! End to end: HTTPS with a certificate made for the test, HTTP/2 over TLS (several event streams
//! on one connection), cleartext HTTP/2 by prior knowledge, and refusing to start on bad files.

mod common;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use common::{within, TestHub};
use http_body_util::{BodyExt, Empty};
use hyper::body::{Bytes, Incoming};
use hyper::client::conn::http2::SendRequest;
use hyper::{Request, Response, StatusCode, Version};
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use tokio_rustls::rustls;

/// A self-signed certificate for `localhost` and 127.0.0.1, written as PEM files.
struct TestCert {
    dir: tempfile::TempDir,
    cert_pem: String,
    cert_der: rustls::pki_types::CertificateDer<'static>,
}

impl TestCert {
    fn new() -> Self {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let made = rcgen::generate_simple_self_signed(vec!["localhost".to_owned(), "127.0.0.1".to_owned()])
            .expect("rcgen makes a certificate");
        let cert_pem = made.cert.pem();
        std::fs::write(dir.path().join("cert.pem"), &cert_pem).expect("cert written");
        std::fs::write(dir.path().join("key.pem"), made.key_pair.serialize_pem()).expect("key written");
        Self { dir, cert_pem, cert_der: made.cert.der().clone() }
    }

    fn cert(&self) -> PathBuf {
        self.dir.path().join("cert.pem")
    }

    fn key(&self) -> PathBuf {
        self.dir.path().join("key.pem")
    }

    /// `herald serve` flags for this certificate.
    fn args(&self) -> Vec<String> {
        let path = |p: &Path| p.to_str().expect("temporary paths are UTF-8").to_owned();
        vec!["--tls-cert".into(), path(&self.cert()), "--tls-key".into(), path(&self.key())]
    }

    /// A reqwest client that trusts this certificate.
    fn reqwest_client(&self) -> reqwest::Client {
        let cert = reqwest::Certificate::from_pem(self.cert_pem.as_bytes()).expect("PEM parses");
        reqwest::Client::builder().add_root_certificate(cert).build().expect("client builds")
    }

    /// Opens one TLS connection to `port` offering only `h2`, and checks the hub chose it.
    async fn connect_h2(&self, port: u16) -> tokio_rustls::client::TlsStream<TcpStream> {
        let mut roots = rustls::RootCertStore::empty();
        roots.add(self.cert_der.clone()).expect("the certificate is a usable root");
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut config = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .expect("default versions")
            .with_root_certificates(roots)
            .with_no_client_auth();
        config.alpn_protocols = vec![b"h2".to_vec()];
        let tcp = TcpStream::connect(("127.0.0.1", port)).await.expect("TCP connects");
        let name = rustls::pki_types::ServerName::try_from("localhost").expect("valid name");
        let tls = tokio_rustls::TlsConnector::from(Arc::new(config)).connect(name, tcp).await.expect("TLS handshake");
        assert_eq!(tls.get_ref().1.alpn_protocol(), Some(&b"h2"[..]), "the hub negotiates HTTP/2 by ALPN");
        tls
    }
}

/// An HTTP/2 client connection over `io`; every request sent through it shares that one connection.
async fn h2_handshake<I>(io: I) -> SendRequest<Empty<Bytes>>
where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let (sender, connection) =
        hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(io)).await.expect("HTTP/2 handshake");
    tokio::spawn(connection);
    sender
}

async fn subscribe(sender: &mut SendRequest<Empty<Bytes>>, uri: &str) -> Response<Incoming> {
    sender.ready().await.expect("connection ready");
    let request = Request::get(uri).body(Empty::new()).expect("request builds");
    let response = within(sender.send_request(request)).await.expect("response");
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.version(), Version::HTTP_2);
    response
}

/// Reads an event stream until `needle` appears; returns what was read.
async fn read_until(body: &mut Incoming, needle: &str) -> String {
    let mut text = String::new();
    within(async {
        while !text.contains(needle) {
            let frame = body.frame().await.expect("the stream stays open").expect("a frame");
            if let Ok(data) = frame.into_data() {
                text.push_str(&String::from_utf8_lossy(&data));
            }
        }
    })
    .await;
    text
}

#[tokio::test]
async fn http2_over_tls_carries_several_event_streams_on_one_connection() {
    let cert = TestCert::new();
    let args = cert.args();
    let mut hub = TestHub::start(&args.iter().map(String::as_str).collect::<Vec<_>>()).await;
    assert_eq!(hub.base.scheme(), "https", "the printed address says https");
    hub.client = cert.reqwest_client();
    let port = hub.base.port().expect("the address has a port");

    // reqwest, like browsers, gets HTTP/2 by ALPN.
    let health = hub.client.get(hub.base.join("/healthz").unwrap()).send().await.expect("GET /healthz over TLS");
    assert_eq!((health.status().as_u16(), health.version()), (200, Version::HTTP_2));

    // Three subscriptions as three streams of one HTTP/2 connection over one TLS session.
    let mut sender = h2_handshake(cert.connect_h2(port).await).await;
    let uri = format!("https://localhost:{port}/.well-known/mercure?match=t");
    let mut streams = Vec::new();
    for _ in 0..3 {
        streams.push(subscribe(&mut sender, &uri).await.into_body());
    }
    for body in &mut streams {
        read_until(body, "retry:").await;
    }
    let first = hub.publish("t", "over one connection").await;
    let second = hub.publish("t", "and again").await;
    for body in &mut streams {
        let text = read_until(body, "data: and again").await;
        let (a, b) = (text.find("data: over one connection").expect("first event"), text.find("data: and again"));
        assert!(b.is_some_and(|b| a < b), "in order: {text}");
        assert!(text.contains(&format!("id: {first}")) && text.contains(&format!("id: {second}")), "{text}");
    }
}

#[tokio::test]
async fn cleartext_http2_by_prior_knowledge_streams_events() {
    let hub = TestHub::start(&[]).await;
    let port = hub.base.port().expect("the address has a port");
    let tcp = TcpStream::connect(("127.0.0.1", port)).await.expect("TCP connects");
    let mut sender = h2_handshake(tcp).await;
    let uri = format!("http://127.0.0.1:{port}/.well-known/mercure?match=t");
    let mut streams =
        vec![subscribe(&mut sender, &uri).await.into_body(), subscribe(&mut sender, &uri).await.into_body()];
    for body in &mut streams {
        read_until(body, "retry:").await;
    }
    let id = hub.publish("t", "h2c").await;
    for body in &mut streams {
        let text = read_until(body, "data: h2c").await;
        assert!(text.contains(&format!("id: {id}")), "{text}");
    }
}

#[tokio::test]
async fn bad_tls_files_stop_the_hub_with_a_message_naming_the_file() {
    let cert = TestCert::new();
    let other = TestCert::new();
    let dir = tempfile::tempdir().expect("a temporary directory");
    let garbage = dir.path().join("garbage.pem");
    std::fs::write(&garbage, "not PEM at all\n").expect("written");
    let missing = dir.path().join("missing.pem");
    let path = |p: &Path| p.to_str().expect("UTF-8 path").to_owned();
    let (cert_file, key_file, other_key) = (path(&cert.cert()), path(&cert.key()), path(&other.key()));
    let cases: [(Vec<String>, &[&str]); 6] = [
        (vec!["--tls-cert".into(), path(&missing), "--tls-key".into(), key_file.clone()], &[&path(&missing)]),
        (
            vec!["--tls-cert".into(), path(&garbage), "--tls-key".into(), key_file.clone()],
            &[&path(&garbage), "CERTIFICATE"],
        ),
        (vec!["--tls-cert".into(), cert_file.clone(), "--tls-key".into(), path(&garbage)], &[&path(&garbage), "key"]),
        // The key of another certificate.
        (
            vec!["--tls-cert".into(), cert_file.clone(), "--tls-key".into(), other_key.clone()],
            &[&other_key, &cert_file],
        ),
        (vec!["--tls-cert".into(), cert_file.clone()], &["--tls-key"]),
        (vec!["--tls-key".into(), key_file.clone()], &["--tls-cert"]),
    ];
    for (args, expected) in cases {
        let data = tempfile::tempdir().expect("a temporary directory");
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let Err(stderr) = TestHub::try_start_in(data.path(), &args).await else {
            panic!("the hub started with {args:?}");
        };
        for part in expected {
            assert!(stderr.contains(part), "{args:?}: expected {part:?} in {stderr:?}");
        }
    }
}

/// Reads until the hub closes `stream`; returns what came and how long it took.
async fn read_to_close(stream: &mut TcpStream) -> (Vec<u8>, std::time::Duration) {
    let start = std::time::Instant::now();
    let mut bytes = Vec::new();
    let _ = within(tokio::io::AsyncReadExt::read_to_end(stream, &mut bytes)).await;
    (bytes, start.elapsed())
}

#[tokio::test]
async fn failed_and_stalled_handshakes_disturb_no_one() {
    let cert = TestCert::new();
    let mut args = cert.args();
    args.extend(["--header-read-timeout".into(), "1s".into()]);
    let mut hub = TestHub::start(&args.iter().map(String::as_str).collect::<Vec<_>>()).await;
    hub.client = cert.reqwest_client();
    let port = hub.base.port().expect("the address has a port");

    // One client never starts its handshake, another speaks plain HTTP to the TLS port.
    let mut stalled = TcpStream::connect(("127.0.0.1", port)).await.expect("TCP connects");
    let mut plain = TcpStream::connect(("127.0.0.1", port)).await.expect("TCP connects");
    tokio::io::AsyncWriteExt::write_all(&mut plain, b"GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n").await.unwrap();
    let (answer, _) = read_to_close(&mut plain).await;
    assert!(!answer.starts_with(b"HTTP/1.1 200"), "plain HTTP is not served on the TLS port");

    // Meanwhile a real client subscribes and receives.
    let mut sender = h2_handshake(cert.connect_h2(port).await).await;
    let mut body =
        subscribe(&mut sender, &format!("https://localhost:{port}/.well-known/mercure?match=t")).await.into_body();
    read_until(&mut body, "retry:").await;
    hub.publish("t", "unaffected").await;
    read_until(&mut body, "data: unaffected").await;

    let (_, waited) = read_to_close(&mut stalled).await;
    assert!(waited < std::time::Duration::from_secs(3), "a stalled handshake is cut after the header timeout");
    let metrics = hub.metrics().await;
    assert!(metrics.contains("herald_limit_rejections_total{limit=\"header_timeout\"} 1"), "{metrics}");
}

#[tokio::test]
async fn with_tls_a_connection_over_the_limit_is_closed_at_once() {
    let cert = TestCert::new();
    let mut args = cert.args();
    args.extend(["--max-connections".into(), "1".into()]);
    let hub = TestHub::start(&args.iter().map(String::as_str).collect::<Vec<_>>()).await;
    let port = hub.base.port().expect("the address has a port");
    let mut sender = h2_handshake(cert.connect_h2(port).await).await;
    let _open = subscribe(&mut sender, &format!("https://localhost:{port}/.well-known/mercure?match=t")).await;
    let mut refused = TcpStream::connect(("127.0.0.1", port)).await.expect("TCP connects");
    let (answer, waited) = read_to_close(&mut refused).await;
    assert!(answer.is_empty() && waited < std::time::Duration::from_secs(1), "closed at once, without an answer");
}
