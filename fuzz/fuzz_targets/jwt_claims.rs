//! Signs a token whose claims are the input's bytes (HS256, with the key the hub verifies with)
//! under one of a few headers, and feeds it to the hub's authorization (`auth/`) for both roles,
//! to reach the claims reading (`auth/claims.rs`). Checks that a token is accepted only with an
//! acceptable header (HS256, no `typ` or an access-token one), with claims that are a JSON object, never
//! expired or not yet valid, with its `exp` reported as given; and that the same token with one
//! signature byte changed is refused.

#![no_main]

use std::sync::LazyLock;
use std::time::{SystemTime, UNIX_EPOCH};

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use herald_fuzz::keys;
use herald_server::fuzzing::Auth;
use jsonwebtoken::{Algorithm, EncodingKey};
use libfuzzer_sys::fuzz_target;
use serde_json::Value;

/// The leeway the hub allows on `exp` and `nbf`, plus a margin for the clock moving on.
const LEEWAY: u64 = 30 + 5;

/// Headers, and whether the hub may accept a token carrying each.
const HEADERS: [(&str, bool); 7] = [
    (r#"{"alg":"HS256","typ":"JWT"}"#, true),
    (r#"{"alg":"HS256"}"#, true),
    (r#"{"typ":"at+jwt","alg":"HS256"}"#, true),
    (r#"{"alg":"HS256","typ":"application/at+JWT"}"#, true),
    (r#"{"alg":"HS256","typ":"JOSE"}"#, false),
    (r#"{"alg":"HS512","typ":"JWT"}"#, false),
    (r#"{"alg":"none"}"#, false),
];

static AUTH: LazyLock<Auth> = LazyLock::new(|| {
    Auth::new(keys::hmac(keys::SECRET), keys::hmac(keys::SUBSCRIBER_SECRET)).expect("the fixed keys are usable")
});

fn token(header: &str, claims: &[u8], secret: &[u8], tamper: Option<usize>) -> String {
    let message = format!("{}.{}", URL_SAFE_NO_PAD.encode(header), URL_SAFE_NO_PAD.encode(claims));
    let signature = jsonwebtoken::crypto::sign(message.as_bytes(), &EncodingKey::from_secret(secret), Algorithm::HS256)
        .expect("HMAC signing does not fail");
    let mut signature = URL_SAFE_NO_PAD.decode(signature).expect("the signature is base64url");
    if let Some(at) = tamper {
        let len = signature.len();
        signature[at % len] ^= 1 << (at % 8);
    }
    format!("{message}.{}", URL_SAFE_NO_PAD.encode(signature))
}

fn check(accepted: bool, header_ok: bool, claims: &[u8], role: &str) {
    if !accepted {
        return;
    }
    assert!(header_ok, "{role}: accepted under a header it must refuse");
    let claims: Value = serde_json::from_slice(claims).expect("accepted claims are JSON");
    assert!(claims.is_object(), "{role}: accepted claims that are not a JSON object (RFC 7519): {claims}");
    let now = SystemTime::now().duration_since(UNIX_EPOCH).expect("the clock is past 1970").as_secs();
    if let Some(exp) = claims.get("exp").and_then(Value::as_u64) {
        assert!(exp + LEEWAY >= now, "{role}: accepted a token expired at {exp}");
    }
    if let Some(nbf) = claims.get("nbf").and_then(Value::as_f64) {
        assert!(nbf <= (now + LEEWAY) as f64, "{role}: accepted a token not valid before {nbf}");
    }
}

fuzz_target!(|input: &[u8]| {
    let Some((&choice, claims)) = input.split_first() else {
        return;
    };
    let (header, header_ok) = HEADERS[usize::from(choice) % HEADERS.len()];
    let bearer = |token: String| format!("Bearer {token}").into_bytes();

    let publisher = bearer(token(header, claims, keys::SECRET, None));
    let published = AUTH.publisher(&[("authorization", &publisher)], None);
    check(published.is_ok(), header_ok, claims, "publisher");

    let subscriber = bearer(token(header, claims, keys::SUBSCRIBER_SECRET, None));
    let subscribed = AUTH.subscriber(&[("authorization", &subscriber)], None);
    check(subscribed.is_ok(), header_ok, claims, "subscriber");
    if let Ok(expires) = subscribed {
        let exp = serde_json::from_slice::<Value>(claims).ok().and_then(|c| c.get("exp").and_then(Value::as_u64));
        assert_eq!(expires, exp, "the subscription ends at the token's exp");
    }

    // Each role's token under the other role's key, and with a signature byte changed.
    let tampered = bearer(token(header, claims, keys::SECRET, Some(usize::from(choice) + claims.len())));
    let crossed = bearer(token(header, claims, keys::SECRET, None));
    assert!(AUTH.publisher(&[("authorization", &tampered)], None).is_err(), "a tampered token was accepted");
    assert!(AUTH.subscriber(&[("authorization", &crossed)], None).is_err(), "the publishers' key let a subscriber in");
});
