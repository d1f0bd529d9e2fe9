//! Checks shared by the fuzz targets in `fuzz_targets/`.

use std::sync::Arc;

use herald_core::{Event, ValidUpdate};
use herald_sse::Parser;

/// Whether a JSON value holds a float: floats may not survive a JSON round trip exactly (that is
/// serde_json's doing, not Herald's), so targets compare only values without one.
pub fn has_float(value: &serde_json::Value) -> bool {
    use serde_json::Value;
    match value {
        Value::Number(n) => n.is_f64(),
        Value::Array(items) => items.iter().any(has_float),
        Value::Object(fields) => fields.values().any(has_float),
        _ => false,
    }
}

/// Line breaks as the event-stream parser reads them back: CRLF, CR and LF all become LF.
pub fn normalize_line_breaks(text: &str) -> String {
    text.replace("\r\n", "\n").replace('\r', "\n")
}

/// A validated update always becomes an event (the encoder never refuses it), and the
/// event-stream parser reads back from its frame the data, id, type and retry it was given.
pub fn assert_event_round_trip(update: &ValidUpdate) {
    let update = update.get().clone();
    let id: Arc<str> = update.id.as_deref().unwrap_or("urn:uuid:01890a5d-ac96-774b-bcce-b302099a8057").into();
    let event = Event::new(1, id.clone(), 0, update.clone())
        .unwrap_or_else(|e| panic!("a validated update must encode, but {update:?} gave {e}"));
    let mut parser = Parser::new();
    let events = parser.feed(event.sse_frame());
    assert_eq!(events.len(), 1, "one frame, one event: {:?}", event.sse_frame());
    assert_eq!(events[0].data, normalize_line_breaks(&update.data));
    assert_eq!(events[0].last_event_id, *id);
    let event_type = update.event_type.as_deref().filter(|t| !t.is_empty()).unwrap_or("message");
    assert_eq!(events[0].event_type, event_type);
    assert_eq!(parser.retry(), update.retry);
}

/// Fixed keys the JWT targets verify with. Only public keys are kept: no token made by the
/// fuzzer can be signed with them, so the hub must refuse every one.
pub mod keys {
    use herald_server::auth::{KeyConfig, KeyMaterial};

    /// The HMAC secret (HS256) of the targets' publishers.
    pub const SECRET: &[u8] = b"fuzzing-publisher-secret";
    /// The HMAC secret (HS256) of the targets' subscribers.
    pub const SUBSCRIBER_SECRET: &[u8] = b"fuzzing-subscriber-secret";

    fn pem(pem: &[u8], algorithm: &str) -> KeyConfig {
        KeyConfig { material: KeyMaterial::Pem(pem.to_vec()), algorithm: Some(algorithm.to_owned()) }
    }

    /// An HS256 key with `secret`.
    pub fn hmac(secret: &[u8]) -> KeyConfig {
        KeyConfig { material: KeyMaterial::Secret(secret.to_vec()), algorithm: None }
    }

    /// An RS256 public key.
    pub fn rsa() -> KeyConfig {
        pem(include_bytes!("../keys/rsa.pub.pem"), "RS256")
    }

    /// An ES256 (P-256) public key.
    pub fn ec() -> KeyConfig {
        pem(include_bytes!("../keys/ec.pub.pem"), "ES256")
    }

    /// An Ed25519 public key.
    pub fn ed25519() -> KeyConfig {
        pem(include_bytes!("../keys/ed25519.pub.pem"), "EdDSA")
    }
}
