//! Rate limits at the boundary, for each of the four tiers (Global per IP, API Key per key,
//! Sync per key, Account across keys), in both header styles, and the headers on every
//! answer under `/api`.

use std::collections::BTreeMap;
use std::time::Duration;

use naturalead_sandbox::{Config, HeaderStyle, KeySpec, Limits, SharedState, TEST_KEY, messages};
use reqwest::{Method, RequestBuilder};
use serde_json::json;

use super::{Api, Reply, config, error, send, sleep_past};

const WINDOW: Duration = Duration::from_secs(1);
const LIMIT: u32 = 5;

/// Production limits with one tier shrunk to `LIMIT` per `WINDOW`.
fn one_tier(set: impl FnOnce(&mut Limits)) -> Config {
    let mut limits = Limits::default();
    set(&mut limits);
    config(limits, WINDOW)
}

/// Checks draft-6 headers: the limit, the remaining budget and a reset within the window.
#[track_caller]
fn assert_draft6(r: &Reply, limit: u32, remaining: u32, window: Duration) {
    assert_eq!(r.num("ratelimit-limit"), u64::from(limit), "{r:?}");
    assert_eq!(r.num("ratelimit-remaining"), u64::from(remaining), "{r:?}");
    let reset = r.num("ratelimit-reset");
    assert!(
        (1..=window.as_secs()).contains(&reset),
        "RateLimit-Reset {reset} outside 1..={}",
        window.as_secs()
    );
}

/// Checks a tier's refusal: 429, its exact message, `Retry-After` within the window and the
/// headers of the refusing tier at zero.
#[track_caller]
fn assert_refused(r: &Reply, message: &str, limit: u32, window: Duration) {
    assert_eq!(r.status, 429, "{r:?}");
    assert_eq!(r.json(), error(message));
    let retry = r.num("retry-after");
    assert!(
        (1..=window.as_secs()).contains(&retry),
        "Retry-After {retry} outside 1..={}",
        window.as_secs()
    );
    assert_draft6(r, limit, 0, window);
}

/// Sends `LIMIT` requests made by `make` (each must pass with `ok` and count the headers
/// down to 0), then one more that the tier must refuse with `message`.
async fn run_to_the_limit(make: impl Fn(u32) -> RequestBuilder, ok: u16, message: &str) {
    for i in 0..LIMIT {
        let r = send(make(i)).await;
        assert_eq!(r.status, ok, "request {} of {LIMIT}: {r:?}", i + 1);
        assert_draft6(&r, LIMIT, LIMIT - 1 - i, WINDOW);
        assert_eq!(r.header("retry-after"), None, "Retry-After only on 429");
    }
    let r = send(make(LIMIT)).await;
    assert_refused(&r, message, LIMIT, WINDOW);
}

fn new_account_keys(state: &SharedState, n: usize) -> Vec<String> {
    let account = SharedState::new_account_id();
    (0..n)
        .map(|_| state.add_key(KeySpec::for_account(account.clone())))
        .collect()
}

#[tokio::test]
async fn global_tier_counts_per_ip_and_refuses_before_authentication() {
    let api = Api::start(one_tier(|l| l.global_per_ip = LIMIT)).await;
    let other_key = api.state().add_key(KeySpec::default());
    run_to_the_limit(
        |_| api.req(Method::GET, "/leads", Some(TEST_KEY)),
        200,
        messages::RATE_GLOBAL,
    )
    .await;

    // The IP is over its budget whatever key, or none, the request carries.
    let r = send(api.req(Method::GET, "/leads", Some(&other_key))).await;
    assert_refused(&r, messages::RATE_GLOBAL, LIMIT, WINDOW);
    let r = send(api.req(Method::GET, "/leads", None)).await;
    assert_refused(&r, messages::RATE_GLOBAL, LIMIT, WINDOW);
    // Outside /api too: the Global tier covers every request.
    let r = send(
        api.client
            .get(format!("{}/nothing", api.sandbox.root_url())),
    )
    .await;
    assert_eq!(r.status, 429);
    assert_eq!(r.json(), error(messages::RATE_GLOBAL));

    sleep_past(WINDOW).await;
    let r = send(api.req(Method::GET, "/leads", Some(TEST_KEY))).await;
    assert_eq!(r.status, 200, "{r:?}");
    assert_draft6(&r, LIMIT, LIMIT - 1, WINDOW);
}

#[tokio::test]
async fn api_key_tier_counts_per_key() {
    let api = Api::start(one_tier(|l| l.per_key = LIMIT)).await;
    let keys = new_account_keys(api.state(), 2);
    run_to_the_limit(
        |_| api.req(Method::GET, "/leads", Some(&keys[0])),
        200,
        messages::RATE_API_KEY,
    )
    .await;
    // A sync request with the same key is refused by the API Key tier first.
    let r = api.sync(&keys[0], &json!({"leads": []})).await;
    assert_refused(&r, messages::RATE_API_KEY, LIMIT, WINDOW);

    // Another key of the same account has its own window.
    let r = api.get(&keys[1], "/leads").await;
    assert_eq!(r.status, 200, "{r:?}");
    assert_draft6(&r, LIMIT, LIMIT - 1, WINDOW);

    sleep_past(WINDOW).await;
    let r = api.get(&keys[0], "/leads").await;
    assert_eq!(r.status, 200, "{r:?}");
    assert_draft6(&r, LIMIT, LIMIT - 1, WINDOW);
}

#[tokio::test]
async fn sync_tier_counts_sync_requests_per_key() {
    let api = Api::start(one_tier(|l| l.sync_per_key = LIMIT)).await;
    let keys = new_account_keys(api.state(), 2);
    let empty = json!({"leads": []});
    run_to_the_limit(|_| api.sync_req(&keys[0], &empty), 200, messages::RATE_SYNC).await;
    // DELETE /api/leads/sync shares the tier.
    let r = send(
        api.req(Method::DELETE, "/leads/sync", Some(&keys[0]))
            .json(&json!({"lead_ids": ["x"]})),
    )
    .await;
    assert_refused(&r, messages::RATE_SYNC, LIMIT, WINDOW);

    // Other endpoints with the same key are not limited by the Sync tier...
    let r = api.get(&keys[0], "/leads").await;
    assert_eq!(r.status, 200, "{r:?}");
    // ...and another key of the account syncs on its own budget.
    let r = api.sync(&keys[1], &empty).await;
    assert_eq!(r.status, 200, "{r:?}");
    assert_draft6(&r, LIMIT, LIMIT - 1, WINDOW);

    sleep_past(WINDOW).await;
    let r = api.sync(&keys[0], &empty).await;
    assert_eq!(r.status, 200, "{r:?}");
    assert_draft6(&r, LIMIT, LIMIT - 1, WINDOW);
}

#[tokio::test]
async fn account_tier_counts_across_the_keys_of_one_account() {
    let api = Api::start(one_tier(|l| l.per_account = LIMIT)).await;
    let keys = new_account_keys(api.state(), 3);
    // Alternate two keys: neither is near its own limit, the account is.
    run_to_the_limit(
        |i| api.req(Method::GET, "/leads", Some(&keys[i as usize % 2])),
        200,
        messages::RATE_ACCOUNT,
    )
    .await;
    // A third key of the same account, never used, is refused too.
    let r = api.get(&keys[2], "/leads").await;
    assert_refused(&r, messages::RATE_ACCOUNT, LIMIT, WINDOW);
    // A key of another account is not.
    let r = api.get(TEST_KEY, "/leads").await;
    assert_eq!(r.status, 200, "{r:?}");
    assert_draft6(&r, LIMIT, LIMIT - 1, WINDOW);

    sleep_past(WINDOW).await;
    let r = api.get(&keys[2], "/leads").await;
    assert_eq!(r.status, 200, "{r:?}");
    assert_draft6(&r, LIMIT, LIMIT - 1, WINDOW);
}

/// Parses `limit=3, remaining=2, reset=1` into its three numbers.
fn draft7(r: &Reply) -> BTreeMap<String, u64> {
    let v = r
        .header("ratelimit")
        .unwrap_or_else(|| panic!("no RateLimit header: {r:?}"));
    v.split(',')
        .map(|item| {
            let (k, n) = item
                .trim()
                .split_once('=')
                .unwrap_or_else(|| panic!("bad RateLimit item {item:?} in {v:?}"));
            (k.to_owned(), n.parse().expect("a number"))
        })
        .collect()
}

#[tokio::test]
async fn draft7_style_sends_combined_headers_only() {
    let window = Duration::from_secs(2);
    let limits = Limits {
        sync_per_key: 3,
        ..Limits::default()
    };
    let api = Api::start(Config {
        header_style: HeaderStyle::Draft7,
        ..config(limits, window)
    })
    .await;
    let empty = json!({"leads": []});
    let check = |r: &Reply, remaining: u64| {
        let rl = draft7(r);
        assert_eq!(
            rl.keys().collect::<Vec<_>>(),
            ["limit", "remaining", "reset"]
        );
        assert_eq!((rl["limit"], rl["remaining"]), (3, remaining), "{r:?}");
        assert!((1..=2).contains(&rl["reset"]), "{r:?}");
        assert_eq!(r.header("ratelimit-policy"), Some("3;w=2"));
        for separate in ["ratelimit-limit", "ratelimit-remaining", "ratelimit-reset"] {
            assert_eq!(r.header(separate), None, "{separate} in draft-7 style");
        }
    };
    for remaining in [2, 1, 0] {
        let r = api.sync(TEST_KEY, &empty).await;
        assert_eq!(r.status, 200);
        check(&r, remaining);
    }
    let r = api.sync(TEST_KEY, &empty).await;
    assert_eq!(r.status, 429);
    assert_eq!(r.json(), error(messages::RATE_SYNC));
    assert!((1..=2).contains(&r.num("retry-after")), "{r:?}");
    check(&r, 0);

    // Once the window has moved, the key syncs again, with a fresh budget.
    sleep_past(window).await;
    let r = api.sync(TEST_KEY, &empty).await;
    assert_eq!(r.status, 200, "{r:?}");
    check(&r, 2);
}

/// Sleeps until `ms` milliseconds after `t0`.
async fn at(t0: tokio::time::Instant, ms: u64) {
    tokio::time::sleep_until(t0 + Duration::from_millis(ms)).await;
}

#[tokio::test]
async fn the_window_slides_request_by_request_and_retry_after_is_exact() {
    // Sync tier: 3 per 2 s. A and B at 0 ms, C at 500 ms.
    let window = Duration::from_secs(2);
    let api = Api::start(config(
        Limits {
            sync_per_key: 3,
            ..Limits::default()
        },
        window,
    ))
    .await;
    let empty = json!({"leads": []});
    let t0 = tokio::time::Instant::now();
    for remaining in [2, 1] {
        let r = api.sync(TEST_KEY, &empty).await;
        assert_eq!(r.status, 200);
        assert_draft6(&r, 3, remaining, window);
    }
    at(t0, 500).await;
    let r = api.sync(TEST_KEY, &empty).await;
    assert_eq!((r.status, r.num("ratelimit-remaining")), (200, 0));
    // D at 500 ms: A frees a slot at 2000 ms, ~1.5 s away, so Retry-After is 2.
    let r = api.sync(TEST_KEY, &empty).await;
    assert_refused(&r, messages::RATE_SYNC, 3, window);
    assert_eq!((r.num("retry-after"), r.num("ratelimit-reset")), (2, 2));

    // E at 2100 ms: A and B have left, C has not, and the refused D never counted, so
    // one slot is left after E. (A fixed window would have reset entirely.)
    at(t0, 2100).await;
    let r = api.sync(TEST_KEY, &empty).await;
    assert_eq!(r.status, 200, "{r:?}");
    assert_draft6(&r, 3, 1, window);
    let r = api.sync(TEST_KEY, &empty).await;
    assert_eq!((r.status, r.num("ratelimit-remaining")), (200, 0));
    // G: C leaves at ~2500 ms, ~0.4 s away: Retry-After 1.
    let r = api.sync(TEST_KEY, &empty).await;
    assert_refused(&r, messages::RATE_SYNC, 3, window);
    assert_eq!(r.num("retry-after"), 1);
    // Waiting Retry-After is enough.
    tokio::time::sleep(Duration::from_secs(r.num("retry-after")) + Duration::from_millis(50)).await;
    let r = api.sync(TEST_KEY, &empty).await;
    assert_eq!((r.status, r.num("ratelimit-remaining")), (200, 0), "{r:?}");
}

#[tokio::test]
async fn refusals_count_against_the_tiers_they_passed() {
    let limits = Limits {
        per_key: 10,
        sync_per_key: 2,
        ..Limits::default()
    };
    let api = Api::start(config(limits, Duration::from_secs(2))).await;
    let empty = json!({"leads": []});
    for _ in 0..2 {
        assert_eq!(api.sync(TEST_KEY, &empty).await.status, 200);
    }
    // Two 429s from the Sync tier: each passed the API Key tier first and counts there.
    for _ in 0..2 {
        let r = api.sync(TEST_KEY, &empty).await;
        assert_refused(&r, messages::RATE_SYNC, 2, Duration::from_secs(2));
    }
    // A GET is not under the Sync tier: the API Key tier (10) is now the tightest.
    let r = api.get(TEST_KEY, "/leads").await;
    assert_eq!(r.status, 200);
    assert_draft6(&r, 10, 10 - 5, Duration::from_secs(2));
}

#[tokio::test]
async fn headers_are_on_200_401_403_and_404_answers_and_refusals_count() {
    let limits = Limits {
        global_per_ip: 50,
        sync_per_key: 10,
        ..Limits::default()
    };
    let window = Duration::from_secs(2);
    let api = Api::start(config(limits, window)).await;

    // 401 without a key: only the Global tier was checked, and it counted the request.
    let r = send(api.req(Method::GET, "/leads", None)).await;
    assert_eq!(r.status, 401);
    assert_draft6(&r, 50, 49, window);
    let r = send(api.req(Method::GET, "/leads", Some("nl_test_nope"))).await;
    assert_eq!(r.status, 401);
    assert_draft6(&r, 50, 48, window);
    assert_eq!(r.header("retry-after"), None);

    // 403: the request passed (and counts in) every tier, Sync being the tightest.
    let r = api
        .sync(api.sandbox.no_sync_key(), &json!({"leads": []}))
        .await;
    assert_eq!(r.status, 403);
    assert_draft6(&r, 10, 9, window);
    let r = api
        .sync(api.sandbox.no_sync_key(), &json!({"leads": []}))
        .await;
    assert_draft6(&r, 10, 8, window);

    // 200 and 404 under /api.
    let r = api.get(TEST_KEY, "/leads").await;
    assert_eq!(r.status, 200);
    assert_draft6(&r, 50, 45, window);
    let r = api.get(TEST_KEY, "/leads/404").await;
    assert_eq!(r.status, 404);
    assert_draft6(&r, 50, 44, window);
    // 400 too.
    let r = send(
        api.req(Method::POST, "/leads/sync", Some(TEST_KEY))
            .body("{"),
    )
    .await;
    assert_eq!(r.status, 400);
    assert_draft6(&r, 10, 9, window);
}
