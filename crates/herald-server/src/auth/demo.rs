//! The demo pages' own signing key, for the tokens they mint for their visitors (a poker seat's).
//!
//! The key is random, made at start and never leaves the process. A token signed with it names
//! [`KID`] in its header, and grants only exact topics under [`PREFIX`]: one that grants anything
//! else is refused. So the demos can hand out private rights on a hub that has no keys of its
//! own (the default), without those tokens reaching anything else. Because browsers cannot set
//! headers on a WebSocket, such a token is also read from the `authorization` query parameter.

use std::time::{SystemTime, UNIX_EPOCH};

use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde_json::json;

/// The `kid` naming the demo key.
pub(crate) const KID: &str = "herald-demo";
/// The topics demo tokens may grant start with it.
pub(crate) const PREFIX: &str = "/demo/";

/// The key, able to sign and to verify.
pub(crate) struct DemoKey {
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
}

impl std::fmt::Debug for DemoKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("DemoKey")
    }
}

impl DemoKey {
    /// A new random key, or none when the system gives no random bytes.
    pub(crate) fn generate() -> Option<Self> {
        let mut secret = [0u8; 32];
        if let Err(e) = getrandom::fill(&mut secret) {
            tracing::warn!("the demos cannot mint tokens (no random bytes: {e})");
            return None;
        }
        let mut validation = Validation::new(Algorithm::HS256);
        validation.required_spec_claims = ["exp".to_owned()].into();
        validation.validate_aud = false;
        Some(Self {
            encoding: EncodingKey::from_secret(&secret),
            decoding: DecodingKey::from_secret(&secret),
            validation,
        })
    }

    /// A token for `subject` that may read the private updates of `subscribe` and publish to
    /// `publish` (exact topics under [`PREFIX`]) for `ttl_secs`.
    pub(crate) fn mint(
        &self,
        subject: &str,
        subscribe: &[String],
        publish: &[String],
        ttl_secs: u64,
    ) -> Option<String> {
        let now = SystemTime::now().duration_since(UNIX_EPOCH).ok()?.as_secs();
        let claims = json!({
            "sub": subject,
            "exp": now.checked_add(ttl_secs)?,
            "mercure": { "subscribe": subscribe, "publish": publish },
        });
        let header = Header { kid: Some(KID.to_owned()), ..Header::new(Algorithm::HS256) };
        jsonwebtoken::encode(&header, &claims, &self.encoding).ok()
    }

    pub(super) fn decoding(&self) -> (&DecodingKey, &Validation) {
        (&self.decoding, &self.validation)
    }
}

/// Whether `token`'s header names the demo key.
pub(super) fn names_demo_key(token: &str) -> bool {
    jsonwebtoken::decode_header(token).is_ok_and(|header| header.kid.as_deref() == Some(KID))
}

/// Whether every grant is an exact topic under [`PREFIX`].
pub(super) fn grants_only_demo_topics(matchers: &[herald_core::Matcher]) -> bool {
    matchers.iter().all(|m| m.exact_topic().is_some_and(|topic| topic.starts_with(PREFIX)))
}
