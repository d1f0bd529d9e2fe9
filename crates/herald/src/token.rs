//! `herald token`: mint a JWT for tests and demos.
//!
//! The token carries the Mercure 1.0 `authorization_details` claim (or, with `--legacy`, the
//! 0.x `mercure` claim that older hubs and libraries read), `iat`, `exp` and `jti`, plus `sub`,
//! `aud` and `iss` when given. It is signed with an HMAC secret or a PEM private key, the same
//! kind of key the hub verifies with.

use std::time::{SystemTime, UNIX_EPOCH};

use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{json, Value};

use crate::cli::TokenArgs;

/// The `type` of a Mercure authorization detail.
use herald_server::auth::DETAIL_TYPE;
/// The prefix that makes a selector a URL pattern in `authorization_details`.
const PATTERN_PREFIX: &str = "pattern:";

pub(crate) fn run(args: TokenArgs) -> Result<(), String> {
    println!("{}", mint(&args)?);
    Ok(())
}

fn mint(args: &TokenArgs) -> Result<String, String> {
    if args.publish.is_empty() && args.subscribe.is_empty() {
        return Err(
            "the token would grant nothing: add --publish <topic> and/or --subscribe <topic> (`*` for all)".into()
        );
    }
    let (key, algorithm) = signing_key(args)?;
    let now = SystemTime::now().duration_since(UNIX_EPOCH).map_err(|e| e.to_string())?.as_secs();
    let mut claims = json!({ "iat": now, "jti": format!("urn:uuid:{}", uuid::Uuid::new_v4()) });
    if let Some(ttl) = args.ttl.filter(|ttl| !ttl.is_zero()) {
        claims["exp"] = json!(now.saturating_add(ttl.as_secs().max(1)));
    }
    for (name, value) in [("sub", &args.subject), ("aud", &args.audience), ("iss", &args.issuer)] {
        if let Some(value) = value {
            claims[name] = json!(value);
        }
    }
    let mut header = Header::new(algorithm);
    if args.legacy {
        claims["mercure"] = json!({ "publish": args.publish, "subscribe": args.subscribe });
    } else {
        header.typ = Some("at+jwt".into());
        claims["authorization_details"] = Value::Array(
            [("publish", &args.publish), ("subscribe", &args.subscribe)]
                .into_iter()
                .filter(|(_, selectors)| !selectors.is_empty())
                .map(|(action, selectors)| {
                    json!({ "type": DETAIL_TYPE, "actions": [action], "topics": selectors.iter().map(|s| topic(s)).collect::<Vec<_>>() })
                })
                .collect(),
        );
    }
    jsonwebtoken::encode(&header, &claims, &key).map_err(|e| format!("cannot sign the token: {e}"))
}

/// A topic matcher object: `pattern:<URL pattern>`, or an exact topic (`*` for all).
fn topic(selector: &str) -> Value {
    match selector.strip_prefix(PATTERN_PREFIX) {
        Some(pattern) => json!({ "match": pattern, "match_type": "urlpattern" }),
        None => json!({ "match": selector }),
    }
}

fn signing_key(args: &TokenArgs) -> Result<(EncodingKey, Algorithm), String> {
    let named = args
        .alg
        .as_deref()
        .map(|name| name.parse::<Algorithm>().map_err(|_| format!("unknown JWT algorithm {name:?}")))
        .transpose()?;
    match (&args.key, &args.key_file) {
        (Some(secret), None) => hmac(secret.as_bytes(), named),
        (None, Some(path)) => {
            let bytes = std::fs::read(path).map_err(|e| format!("cannot read key file {}: {e}", path.display()))?;
            if !bytes.starts_with(b"-----BEGIN") {
                let end = bytes.iter().rposition(|b| !b.is_ascii_whitespace()).map_or(0, |i| i + 1);
                return hmac(&bytes[..end], named);
            }
            private_key(&bytes, named).map_err(|e| format!("key file {}: {e}", path.display()))
        }
        (Some(_), Some(_)) => Err("give --key or --key-file, not both".into()),
        (None, None) => Err("give the signing key: --key <secret> or --key-file <PEM private key>".into()),
    }
}

fn hmac(secret: &[u8], named: Option<Algorithm>) -> Result<(EncodingKey, Algorithm), String> {
    let algorithm = named.unwrap_or(Algorithm::HS256);
    if !matches!(algorithm, Algorithm::HS256 | Algorithm::HS384 | Algorithm::HS512) || secret.is_empty() {
        return Err(format!("{algorithm:?} needs a PEM private key (--key-file), a secret signs HS256/384/512"));
    }
    Ok((EncodingKey::from_secret(secret), algorithm))
}

fn private_key(pem: &[u8], named: Option<Algorithm>) -> Result<(EncodingKey, Algorithm), String> {
    use Algorithm::*;
    let rsa = || EncodingKey::from_rsa_pem(pem).ok();
    let ec = || EncodingKey::from_ec_pem(pem).ok();
    let ed = || EncodingKey::from_ed_pem(pem).ok();
    let found = match named {
        Some(a @ (RS256 | RS384 | RS512 | PS256 | PS384 | PS512)) => rsa().map(|k| (k, a)),
        Some(a @ (ES256 | ES384)) => ec().map(|k| (k, a)),
        Some(EdDSA) => ed().map(|k| (k, EdDSA)),
        Some(a) => return Err(format!("{a:?} takes a secret (--key), not a PEM key")),
        None => rsa().map(|k| (k, RS256)).or_else(|| ec().map(|k| (k, ES256))).or_else(|| ed().map(|k| (k, EdDSA))),
    };
    found.ok_or_else(|| "not a PEM private key (RSA, EC P-256/P-384 or Ed25519) for the algorithm".into())
}
