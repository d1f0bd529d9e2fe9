//! The rights a token grants: which topics it may publish to and read privately.
//!
//! Two claim formats are understood, and a token may carry both (the rights add up):
//! - Mercure 1.0's `authorization_details` (RFC 9396): objects of type
//!   `https://mercure.rocks/authorization-detail` with `actions` (`publish`, `subscribe`; other
//!   actions grant nothing) and `topics` (`{"match": …, "match_type": "exact" | "urlpattern"}`,
//!   `*` matching every topic). Details of other types are for other resources and ignored.
//!   A malformed Mercure detail makes the whole token invalid: acting on the other entries would
//!   silently change what the token grants.
//! - The legacy `mercure` claim: `{"publish": [selectors], "subscribe": [selectors]}`, where a
//!   selector is `*`, a topic, or a URI template.

use herald_core::Matcher;
use serde::Deserialize;
use serde_json::Value;
use url::Url;

/// The `type` of a Mercure authorization detail.
pub const DETAIL_TYPE: &str = "https://mercure.rocks/authorization-detail";
/// Most Mercure authorization details, and topics in one, that a token may carry.
const MAX_DETAILS: usize = 32;
const MAX_TOPICS: usize = 256;
/// Longest topic selector in a token, in bytes.
const MAX_SELECTOR: usize = 4096;

/// The claims Herald reads; others are ignored.
///
/// The claims set must be a JSON object of valid UTF-8 throughout (RFC 7519 §7.2), and so must
/// the `mercure` claim. Reading a struct alone would not check that: serde also reads a struct
/// from an array, by position, and skips the members it does not know without checking their
/// strings. So the other members are collected (`_others`), which reads them in full and
/// accepts an object only; the values are not used.
#[derive(Debug, Default, Deserialize)]
pub(super) struct Claims {
    #[serde(default)]
    pub mercure: Option<LegacyClaim>,
    #[serde(default)]
    pub authorization_details: Option<Vec<Value>>,
    pub exp: Option<u64>,
    /// Checked by the JWT library only when it reads the value as a time (see
    /// [`Claims::check_nbf`]).
    #[serde(default)]
    nbf: Option<Value>,
    pub sub: Option<String>,
    #[serde(flatten)]
    _others: serde_json::Map<String, Value>,
}

impl Claims {
    /// Refuses an `nbf` that is not a time: the JWT library enforces `nbf` only when it can read
    /// it as seconds since the epoch, and takes the token as if it had none otherwise (a string,
    /// a negative number, one past 2^64), which would let a token in before its time.
    pub(super) fn check_nbf(&self) -> Result<(), String> {
        match &self.nbf {
            None => Ok(()),
            Some(nbf) if nbf.as_f64().is_some_and(|s| s.is_finite() && s >= 0.0 && s < u64::MAX as f64) => Ok(()),
            Some(nbf) => Err(format!("\"nbf\" {nbf} is not a time in seconds since the epoch")),
        }
    }
}

/// The legacy `mercure` claim.
#[derive(Debug, Default, Deserialize)]
pub(super) struct LegacyClaim {
    #[serde(default)]
    pub publish: Option<Vec<String>>,
    #[serde(default)]
    pub subscribe: Option<Vec<String>>,
    #[serde(flatten)]
    _others: serde_json::Map<String, Value>,
}

/// What a valid token allows.
#[derive(Debug, Default)]
pub(super) struct Grants {
    pub publish: Vec<Matcher>,
    pub subscribe: Vec<Matcher>,
    /// The `payload` of each `subscribe` detail that has one, with its topics, in the token's
    /// order (the legacy claim's `payload` last, for every topic).
    pub payloads: Vec<(Vec<Matcher>, std::sync::Arc<Value>)>,
}

impl Grants {
    /// Reads the grants of `claims`; an error makes the token invalid.
    pub(super) fn from_claims(claims: &Claims, hub_url: &Url) -> Result<Self, String> {
        let mut grants = Grants::default();
        if let Some(legacy) = &claims.mercure {
            for (selectors, into) in
                [(&legacy.publish, &mut grants.publish), (&legacy.subscribe, &mut grants.subscribe)]
            {
                for selector in selectors.iter().flatten() {
                    into.push(legacy_selector(selector)?);
                }
            }
        }
        let details = claims.authorization_details.iter().flatten();
        let mercure: Vec<&Value> =
            details.filter(|d| d.get("type").and_then(Value::as_str) == Some(DETAIL_TYPE)).collect();
        if mercure.len() > MAX_DETAILS {
            return Err(format!("more than {MAX_DETAILS} Mercure authorization details"));
        }
        for detail in mercure {
            let (publish, subscribe, topics) = read_detail(detail)?;
            for (granted, into) in [(publish, &mut grants.publish), (subscribe, &mut grants.subscribe)] {
                // Every topic is parsed even when no action is granted: a bad one voids the token.
                for topic in topics {
                    let matcher = topic_matcher(topic, hub_url)?;
                    if granted {
                        into.push(matcher);
                    }
                }
            }
            if let (true, Some(payload)) = (subscribe, detail.get("payload")) {
                let matchers = topics.iter().map(|t| topic_matcher(t, hub_url)).collect::<Result<_, _>>()?;
                grants.payloads.push((matchers, std::sync::Arc::new(payload.clone())));
            }
        }
        if let Some(payload) = claims.mercure.as_ref().and_then(|legacy| legacy._others.get("payload")) {
            grants.payloads.push((vec![Matcher::Any], std::sync::Arc::new(payload.clone())));
        }
        Ok(grants)
    }
}

fn legacy_selector(selector: &str) -> Result<Matcher, String> {
    if selector.len() > MAX_SELECTOR {
        return Err("a topic selector is too long".into());
    }
    Matcher::legacy_topic(selector).map_err(|e| format!("topic selector {selector:?}: {e}"))
}

/// One Mercure detail: whether it grants publish, subscribe, and on which topics.
fn read_detail(detail: &Value) -> Result<(bool, bool, &[Value]), String> {
    let actions = detail
        .get("actions")
        .and_then(Value::as_array)
        .filter(|a| !a.is_empty())
        .ok_or("an authorization detail needs a non-empty \"actions\" array")?;
    let (mut publish, mut subscribe) = (false, false);
    for action in actions {
        match action.as_str().ok_or("authorization detail actions must be strings")? {
            "publish" => publish = true,
            "subscribe" => subscribe = true,
            _ => {}
        }
    }
    let topics = detail
        .get("topics")
        .and_then(Value::as_array)
        .filter(|t| !t.is_empty())
        .ok_or("an authorization detail needs a non-empty \"topics\" array")?;
    if topics.len() > MAX_TOPICS {
        return Err(format!("more than {MAX_TOPICS} topics in an authorization detail"));
    }
    Ok((publish, subscribe, topics))
}

fn topic_matcher(topic: &Value, hub_url: &Url) -> Result<Matcher, String> {
    let object = topic.as_object().ok_or("authorization detail topics must be objects")?;
    let pattern = object.get("match").and_then(Value::as_str).ok_or("a topic needs a string \"match\"")?;
    if pattern.len() > MAX_SELECTOR {
        return Err("a topic matcher is too long".into());
    }
    if pattern == "*" {
        return Ok(Matcher::Any);
    }
    let matcher = match object.get("match_type") {
        None => Matcher::exact(pattern),
        Some(Value::String(t)) if t == "exact" => Matcher::exact(pattern),
        Some(Value::String(t)) if t == "urlpattern" => Matcher::url_pattern(pattern, hub_url),
        Some(other) => return Err(format!("unsupported match_type {other}")),
    };
    matcher.map_err(|e| format!("topic matcher {pattern:?}: {e}"))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn grants(claims: Value) -> Result<Grants, String> {
        let claims: Claims = serde_json::from_value(claims).unwrap();
        Grants::from_claims(&claims, &Url::parse("https://hub.example/.well-known/mercure").unwrap())
    }

    fn detail(actions: Value, topics: Value) -> Value {
        json!({"authorization_details": [{"type": DETAIL_TYPE, "actions": actions, "topics": topics}]})
    }

    #[test]
    fn reads_authorization_details() {
        let g = grants(detail(
            json!(["subscribe", "publish", "future-action"]),
            json!([{"match": "https://example.com/books/:id", "match_type": "urlpattern"}, {"match": "/exact"}]),
        ))
        .unwrap();
        assert_eq!(g.publish.len(), 2);
        assert!(g.subscribe[0].matches("https://example.com/books/1"));
        assert!(g.subscribe[1].matches("/exact") && !g.subscribe[1].matches("/exact/2"));
        let star = grants(detail(json!(["publish"]), json!([{"match": "*", "match_type": "exact"}]))).unwrap();
        assert!(star.publish[0].matches("anything") && star.subscribe.is_empty());
    }

    #[test]
    fn reads_the_legacy_claim() {
        let g = grants(json!({"mercure": {"publish": ["*"], "subscribe": ["/users/{id}", "/exact"]}})).unwrap();
        assert!(g.publish[0].matches("x"));
        assert!(g.subscribe[0].matches("/users/7") && g.subscribe[1].matches("/exact"));
        assert!(grants(json!({"mercure": {}})).unwrap().publish.is_empty());
    }

    #[test]
    fn claims_must_be_a_json_object_of_valid_utf8() {
        let read = |json: &[u8]| serde_json::from_slice::<Claims>(json);
        let ok = read(br#"{"exp":5,"jti":"x","iat":1,"mercure":{"publish":["*"],"extra":[1]}}"#).unwrap();
        assert_eq!(ok.exp, Some(5));
        assert_eq!(ok.mercure.unwrap().publish.unwrap(), ["*"]);
        for bad in [
            &b"[null,null,5]"[..],
            b"[]",
            b"null",
            b"{\"jti\":\"\xf7\xf7\"}",
            b"{\"mercure\":{\"publish\":[\"*\"],\"note\":\"\xff\"}}",
            br#"{"mercure":[["*"],["*"]]}"#,
            br#"{"exp":1,"exp":2}"#,
        ] {
            assert!(read(bad).is_err(), "{}", String::from_utf8_lossy(bad));
        }
    }

    #[test]
    fn an_nbf_that_is_no_time_invalidates_the_token() {
        let nbf = |json: &str| serde_json::from_str::<Claims>(json).unwrap().check_nbf();
        for good in [r#"{}"#, r#"{"nbf":null}"#, r#"{"nbf":0}"#, r#"{"nbf":1700000000}"#, r#"{"nbf":1700000000.5}"#] {
            assert!(nbf(good).is_ok(), "{good}");
        }
        for bad in [
            r#"{"nbf":99999999999999999999999}"#,
            r#"{"nbf":18446744073709551616}"#,
            r#"{"nbf":"99999999999"}"#,
            r#"{"nbf":-1}"#,
            r#"{"nbf":[1]}"#,
            r#"{"nbf":true}"#,
        ] {
            assert!(nbf(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn other_detail_types_are_ignored() {
        let g = grants(json!({"authorization_details": [{"type": "payment", "actions": 5}]})).unwrap();
        assert!(g.publish.is_empty() && g.subscribe.is_empty());
    }

    #[test]
    fn malformed_mercure_details_invalidate_the_token() {
        for bad in [
            detail(json!([]), json!([{"match": "a"}])),
            detail(json!("publish"), json!([{"match": "a"}])),
            detail(json!([1]), json!([{"match": "a"}])),
            detail(json!(["publish"]), json!([])),
            detail(json!(["publish"]), json!(["a"])),
            detail(json!(["publish"]), json!([{"match": 1}])),
            detail(json!(["publish"]), json!([{"match": "a", "match_type": "regex"}])),
            detail(json!(["publish"]), json!([{"match": "(", "match_type": "urlpattern"}])),
            json!({"authorization_details": [{"type": DETAIL_TYPE}]}),
        ] {
            assert!(grants(bad.clone()).is_err(), "{bad}");
        }
        let many: Vec<Value> = (0..300).map(|i| json!({"match": format!("/t/{i}")})).collect();
        assert!(grants(detail(json!(["publish"]), Value::Array(many))).is_err());
    }
}
