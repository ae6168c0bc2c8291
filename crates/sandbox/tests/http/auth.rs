//! Authentication and scopes: both key headers and their precedence, the exact 401 bodies
//! for missing, malformed, unknown, revoked and expired keys, and the two-field 403.

use naturalead_sandbox::{KeySpec, KeyStatus, NO_SYNC_KEY, TEST_KEY, messages, scopes};
use reqwest::Method;
use serde_json::json;

use super::{Api, Reply, clean, error, lead, leads, send};

fn forbidden(scope: &str) -> serde_json::Value {
    json!({
        "error": "Forbidden",
        "message": format!("API key does not have the required scope (requires: {scope}).")
    })
}

#[tokio::test]
async fn x_api_key_and_bearer_both_authenticate() {
    let api = Api::default().await;
    let r = send(api.req(Method::GET, "/leads", Some(TEST_KEY))).await;
    assert_eq!((r.status, r.json()), (200, json!([])));
    let r = send(api.client.get(api.url("/leads")).bearer_auth(TEST_KEY)).await;
    assert_eq!((r.status, r.json()), (200, json!([])));
    let r = send(
        api.client
            .post(api.url("/leads/sync"))
            .header("Authorization", format!("Bearer {TEST_KEY}"))
            .json(&leads(&[lead(1)])),
    )
    .await;
    assert_eq!((r.status, r.json()), (200, clean(1, 0)));
    // A live-prefixed key works the same way.
    let live = api
        .state()
        .add_key(KeySpec::default().with_environment(naturalead_sandbox::Environment::Live));
    assert!(live.starts_with("nl_live_"));
    assert_eq!(api.get(&live, "/leads").await.status, 200);
}

#[tokio::test]
async fn x_api_key_wins_over_bearer() {
    let api = Api::default().await;
    let both = |x: &str, bearer: &str| {
        api.client
            .post(api.url("/leads/sync"))
            .header("X-API-Key", x)
            .bearer_auth(bearer)
            .json(&leads(&[]))
    };
    // The X-API-Key value decides, whatever the Bearer token says.
    let r = send(both(TEST_KEY, NO_SYNC_KEY)).await;
    assert_eq!((r.status, r.json()), (200, clean(0, 0)));
    let r = send(both(NO_SYNC_KEY, TEST_KEY)).await;
    assert_eq!(
        (r.status, r.json()),
        (403, forbidden(scopes::LEADS_SYNC_CREATE))
    );
    let unknown = format!("nl_test_{}", "9".repeat(64));
    let r = send(both(&unknown, TEST_KEY)).await;
    assert_eq!((r.status, r.json()), (401, error(messages::INVALID_KEY)));
}

#[tokio::test]
async fn missing_key_is_401_authentication_required() {
    let api = Api::default().await;
    let cases = [
        (Method::GET, "/leads"),
        (Method::GET, "/leads/1"),
        (Method::POST, "/leads"),
        (Method::POST, "/leads/sync"),
        (Method::DELETE, "/leads/sync"),
    ];
    for (method, path) in cases {
        let r = send(api.req(method.clone(), path, None).json(&leads(&[lead(1)]))).await;
        assert_eq!(r.status, 401, "{method} {path}");
        assert_eq!(
            r.json(),
            json!({"error": "Authentication required. Provide an API key via X-API-Key header or Authorization: Bearer header."}),
            "{method} {path}"
        );
        assert_eq!(r.json(), error(messages::AUTH_REQUIRED));
    }
    assert!(api.state().leads().is_empty());

    // An empty X-API-Key or an Authorization header of another scheme is no key either.
    let no_key = [
        api.req(Method::GET, "/leads", None).header("X-API-Key", ""),
        api.req(Method::GET, "/leads", None)
            .header("Authorization", "Basic dXNlcjpwYXNz"),
        api.req(Method::GET, "/leads", None)
            .header("Authorization", "Bearer "),
    ];
    for req in no_key {
        let r = send(req).await;
        assert_eq!((r.status, r.json()), (401, error(messages::AUTH_REQUIRED)));
    }
    // An empty X-API-Key leaves the Bearer token to decide.
    let r = send(
        api.req(Method::GET, "/leads", None)
            .header("X-API-Key", "")
            .bearer_auth(TEST_KEY),
    )
    .await;
    assert_eq!((r.status, r.json()), (200, json!([])));
}

#[tokio::test]
async fn bad_keys_are_401_invalid_or_expired() {
    let api = Api::default().await;
    let revoked = api.state().add_key(KeySpec::default());
    let expired = api.state().add_key(KeySpec::default());
    let born_expired = api
        .state()
        .add_key(KeySpec::default().with_status(KeyStatus::Expired));
    // They work until their status changes.
    assert_eq!(api.get(&revoked, "/leads").await.status, 200);
    assert!(api.state().set_key_status(&revoked, KeyStatus::Revoked));
    assert!(api.state().set_key_status(&expired, KeyStatus::Expired));

    let hex = "0123456789abcdef".repeat(4);
    let bad = [
        ("malformed: short", "nl_test_abc".to_owned()),
        ("malformed: no prefix", hex.clone()),
        ("malformed: other prefix", format!("nl_prod_{hex}")),
        ("malformed: uppercase hex", TEST_KEY.to_uppercase()),
        ("malformed: 65 hex", format!("{TEST_KEY}0")),
        (
            "not an nl_ token",
            "eyJhbGciOiJIUzI1NiJ9.e30.sig".to_owned(),
        ),
        ("unknown", format!("nl_live_{hex}")),
        ("revoked", revoked.clone()),
        ("expired", expired),
        ("created expired", born_expired),
    ];
    let want = json!({"error": "Invalid or expired API key"});
    for (what, key) in &bad {
        for bearer in [false, true] {
            let req = api
                .client
                .post(api.url("/leads/sync"))
                .json(&leads(&[lead(1)]));
            let req = if bearer {
                req.bearer_auth(key)
            } else {
                req.header("X-API-Key", key.as_str())
            };
            let r: Reply = send(req).await;
            assert_eq!(
                (r.status, r.json()),
                (401, want.clone()),
                "{what} (bearer: {bearer})"
            );
        }
    }
    assert!(api.state().leads().is_empty(), "no bad key wrote anything");

    // A revoked key that is reactivated works again (the sandbox's knob, not an API feature).
    assert!(api.state().set_key_status(&revoked, KeyStatus::Active));
    assert_eq!(api.get(&revoked, "/leads").await.status, 200);
}

#[tokio::test]
async fn missing_scope_is_403_with_the_two_field_body() {
    let api = Api::default().await;
    let key = api.sandbox.no_sync_key();
    let r = api.sync(key, &leads(&[lead(1)])).await;
    assert_eq!(r.status, 403);
    assert_eq!(
        r.json(),
        json!({"error":"Forbidden","message":"API key does not have the required scope (requires: leads:sync_create)."})
    );
    assert!(api.state().leads().is_empty(), "a 403 writes nothing");

    let r = send(
        api.req(Method::DELETE, "/leads/sync", Some(key))
            .json(&json!({"lead_ids": ["crm-001"]})),
    )
    .await;
    assert_eq!(
        (r.status, r.json()),
        (403, forbidden(scopes::LEADS_SYNC_DELETE))
    );

    // The same key may do what its scopes allow.
    assert_eq!(api.get(key, "/leads").await.status, 200);
    let r = send(
        api.req(Method::POST, "/leads", Some(key))
            .json(&json!({"phone": "+14155550100"})),
    )
    .await;
    assert_eq!(r.status, 201, "{r:?}");

    // A key with only the sync scope cannot list.
    let sync_only = api
        .state()
        .add_key(KeySpec::default().with_scopes(&[scopes::LEADS_SYNC_CREATE]));
    assert_eq!(api.sync(&sync_only, &leads(&[lead(2)])).await.status, 200);
    let r = api.get(&sync_only, "/leads").await;
    assert_eq!((r.status, r.json()), (403, forbidden(scopes::LEADS_VIEW)));
}
