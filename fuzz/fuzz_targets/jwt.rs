//! Feeds an arbitrary token to the hub's authorization (`auth/`): in the `Authorization`
//! header (raw, or after `Bearer `), in either token cookie (with an allowed `Origin`), or as
//! the query string, for both roles, against fixed keys of every kind the hub takes (HS256,
//! RS256, ES256, EdDSA). Checks that no such token is ever accepted: none was signed with
//! these keys.

#![no_main]

use std::sync::LazyLock;

use herald_fuzz::keys;
use herald_server::fuzzing::Auth;
use libfuzzer_sys::fuzz_target;

static AUTHORIZERS: LazyLock<[Auth; 2]> = LazyLock::new(|| {
    let auth = |publisher, subscriber| Auth::new(publisher, subscriber).expect("the fixed keys are usable");
    [auth(keys::hmac(keys::SECRET), keys::rsa()), auth(keys::ec(), keys::ed25519())]
});

fuzz_target!(|input: &[u8]| {
    let Some((&mode, token)) = input.split_first() else {
        return;
    };
    let origin: (&str, &[u8]) = ("origin", b"http://localhost");
    let bearer = [b"Bearer ".as_slice(), token].concat();
    let cookie = |name: &str| [name.as_bytes(), b"=", token].concat();
    let cookies = [cookie("mercureAuthorization"), cookie("__Secure-mercure_access_token")];
    let query = std::str::from_utf8(token).ok();
    let (headers, query): (Vec<(&str, &[u8])>, Option<&str>) = match mode % 5 {
        0 => (vec![("authorization", token)], None),
        1 => (vec![("authorization", &bearer)], None),
        2 => (vec![("cookie", &cookies[0]), origin], None),
        3 => (vec![("cookie", &cookies[1]), origin], None),
        _ => (vec![], query),
    };
    for auth in AUTHORIZERS.iter() {
        let published = auth.publisher(&headers, query);
        assert!(published.is_err(), "a forged token was allowed to publish: {published:?}");
        let subscribed = auth.subscriber(&headers, query);
        assert!(subscribed.is_err(), "a forged token was allowed to subscribe: {subscribed:?}");
    }
});
