//! The evidence and control endpoints under `/__sandbox/` (final contents with write counts,
//! the request log, the settings in force, reset) and the same evidence from the library
//! through [`SharedState`], plus a restart that keeps the state.

use std::net::SocketAddr;
use std::time::Duration;

use naturalead_sandbox::{
    Config, ConflictMode, DEFAULT_ACCOUNT_ID, FaultAction, Faults, HeaderStyle, KeySpec, LeadInput,
    Limits, NO_SYNC_KEY, Sandbox, ScriptedFault, SharedState, TEST_KEY, messages,
};
use reqwest::Method;
use serde_json::{Value, json};

use super::{Api, clean, client, config, error, lead, leads, send};

/// The log entries as JSON, each without its `at_ms` (checked separately).
fn without_time(log: &Value) -> Vec<Value> {
    log.as_array()
        .unwrap_or_else(|| panic!("the log is not an array: {log}"))
        .iter()
        .map(|e| {
            let mut e = e.clone();
            e.as_object_mut()
                .expect("a log entry is an object")
                .remove("at_ms")
                .expect("every entry has at_ms");
            e
        })
        .collect()
}

/// One expected log entry (without `at_ms`).
#[allow(clippy::too_many_arguments)]
fn entry(
    seq: u64,
    method: &str,
    path: &str,
    key_hint: Option<&str>,
    account: Option<&str>,
    status: Option<u16>,
    refused_by: Option<&str>,
    leads: Option<usize>,
) -> Value {
    json!({
        "seq": seq, "method": method, "path": path, "key_hint": key_hint,
        "account": account, "status": status, "refused_by": refused_by,
        "fault": null, "latency_ms": null, "leads": leads,
    })
}

#[tokio::test]
async fn leads_endpoint_shows_the_final_contents_with_write_counts() {
    let api = Api::default().await;
    // Written by sync: created, then updated twice.
    assert_eq!(
        api.sync(TEST_KEY, &leads(&[lead(1), lead(2)])).await.json(),
        clean(2, 0)
    );
    for _ in 0..2 {
        assert_eq!(
            api.sync(TEST_KEY, &leads(&[lead(1)])).await.json(),
            clean(0, 1)
        );
    }
    // Written once by POST /api/leads, and one seeded by the test (0 writes).
    let r = send(
        api.req(Method::POST, "/leads", Some(TEST_KEY))
            .json(&json!({"phone": "+14155559999", "name": "Direct"})),
    )
    .await;
    assert_eq!(r.status, 201);
    let seeded = api
        .state()
        .insert_lead(LeadInput::new("+14155558888").with_lead_id("pre"))
        .unwrap();
    assert_eq!((seeded.lead.id, seeded.write_count), (4, 0));

    let r = api.admin_get("/leads").await;
    assert_eq!(r.status, 200);
    let body = r.json();
    let got: Vec<_> = body
        .as_array()
        .unwrap()
        .iter()
        .map(|l| {
            (
                l["id"].as_u64().unwrap(),
                l["externalId"].as_str(),
                l["writeCount"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        got,
        [
            (1, Some("crm-001"), 3),
            (2, Some("crm-002"), 1),
            (3, None, 1),
            (4, Some("pre"), 0)
        ]
    );
    // The same evidence from the library.
    assert_eq!(body, serde_json::to_value(api.state().leads()).unwrap());
    // Each entry is the API's lead object plus `writeCount`.
    for l in body.as_array().unwrap() {
        let mut l = l.clone();
        l.as_object_mut().unwrap().remove("writeCount");
        let r = api.get(TEST_KEY, &format!("/leads/{}", l["id"])).await;
        assert_eq!((r.status, r.json()), (200, l));
    }

    // `?account=` shows another account's leads; unknown accounts are empty.
    let other = SharedState::new_account_id();
    let key = api.state().add_key(KeySpec::for_account(other.clone()));
    let r = api
        .sync(
            &key,
            &leads(&[json!({"lead_id": "x", "phone": "+14155550001"})]),
        )
        .await;
    assert_eq!(r.json(), clean(1, 0));
    let r = api.admin_get(&format!("/leads?account={other}")).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.json().as_array().unwrap().len(), 1);
    assert_eq!(r.json()[0]["accountId"], json!(other));
    assert_eq!(r.json()[0]["id"], 1, "ids are per account");
    assert_eq!(
        r.json(),
        serde_json::to_value(api.state().leads_of(&other)).unwrap()
    );
    assert_eq!(
        api.admin_get("/leads").await.json(),
        body,
        "default unchanged"
    );
    let r = api
        .admin_get(&format!("/leads?account={DEFAULT_ACCOUNT_ID}"))
        .await;
    assert_eq!(r.json(), body);
    let r = api.admin_get("/leads?account=nobody").await;
    assert_eq!((r.status, r.json()), (200, json!([])));
}

#[tokio::test]
async fn request_log_records_time_key_hint_status_and_refusing_tier() {
    let limits = Limits {
        sync_per_key: 2,
        ..Limits::default()
    };
    let api = Api::start(config(limits, Duration::from_secs(2))).await;
    let sync =
        |key: &str, n: usize| api.sync_req(key, &leads(&(1..=n).map(lead).collect::<Vec<_>>()));

    assert_eq!(send(api.req(Method::GET, "/leads", None)).await.status, 401);
    assert_eq!(send(sync(TEST_KEY, 2)).await.status, 200);
    assert_eq!(send(sync(NO_SYNC_KEY, 1)).await.status, 403);
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(send(sync(TEST_KEY, 1)).await.status, 200);
    assert_eq!(send(sync(TEST_KEY, 3)).await.status, 429);
    let r = send(
        api.req(Method::POST, "/leads", Some(TEST_KEY))
            .json(&json!({"phone": "+14155550100"})),
    )
    .await;
    assert_eq!(r.status, 201);
    let r = send(
        api.req(Method::DELETE, "/leads/sync", Some(TEST_KEY))
            .json(&json!({"lead_ids": ["crm-001"]})),
    )
    .await;
    assert_eq!(r.status, 429);
    let outside = send(
        api.client
            .get(format!("{}/nothing", api.sandbox.root_url())),
    )
    .await;
    assert_eq!(outside.status, 404);

    let r = api.admin_get("/requests").await;
    assert_eq!(r.status, 200);
    let log = r.json();
    let acc = Some(DEFAULT_ACCOUNT_ID);
    let (test, no_sync) = (Some("cdef"), Some("3210"));
    let sync_path = "/api/leads/sync";
    assert_eq!(
        without_time(&log),
        [
            entry(1, "GET", "/api/leads", None, None, Some(401), None, None),
            entry(2, "POST", sync_path, test, acc, Some(200), None, Some(2)),
            entry(3, "POST", sync_path, no_sync, acc, Some(403), None, Some(1)),
            entry(4, "POST", sync_path, test, acc, Some(200), None, Some(1)),
            entry(
                5,
                "POST",
                sync_path,
                test,
                acc,
                Some(429),
                Some("sync"),
                Some(3)
            ),
            entry(6, "POST", "/api/leads", test, acc, Some(201), None, Some(1)),
            entry(
                7,
                "DELETE",
                sync_path,
                test,
                acc,
                Some(429),
                Some("sync"),
                Some(1)
            ),
            entry(8, "GET", "/nothing", None, None, Some(404), None, None),
        ]
    );
    // Times: in arrival order, and the pause shows.
    let at: Vec<u64> = log
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["at_ms"].as_u64().unwrap())
        .collect();
    assert!(at.windows(2).all(|w| w[0] <= w[1]), "{at:?}");
    assert!(at[3] - at[2] >= 300, "{at:?}");
    // Keys appear only as their hint.
    assert!(!r.text.contains(&TEST_KEY[8..]) && !r.text.contains(&NO_SYNC_KEY[8..]));
    // The same evidence from the library.
    assert_eq!(log, serde_json::to_value(api.state().requests()).unwrap());
    let refused: Vec<_> = api
        .state()
        .requests()
        .iter()
        .filter_map(|e| e.refused_by)
        .collect();
    assert_eq!(refused, [naturalead_sandbox::Tier::Sync; 2]);
}

#[tokio::test]
async fn evidence_endpoints_need_no_key_are_not_logged_and_count_against_no_tier() {
    let limits = Limits {
        global_per_ip: 2,
        ..Limits::default()
    };
    let api = Api::start(config(limits, Duration::from_secs(2))).await;
    for _ in 0..3 {
        for path in ["/leads", "/requests", "/config", "/faults"] {
            let r = api.admin_get(path).await;
            assert_eq!(r.status, 200, "{path}");
            assert_eq!(r.header("ratelimit-limit"), None, "{path}");
        }
        assert_eq!(api.put_faults("{}").await.status, 200);
    }
    // The IP's whole Global budget is still there.
    for remaining in [1, 0] {
        let r = api.get(TEST_KEY, "/leads").await;
        assert_eq!(r.status, 200);
        assert_eq!(r.num("ratelimit-remaining"), remaining);
    }
    let r = api.get(TEST_KEY, "/leads").await;
    assert_eq!((r.status, r.json()), (429, error(messages::RATE_GLOBAL)));
    // Refused by the API, the evidence endpoints still answer.
    assert_eq!(api.admin_get("/requests").await.status, 200);
    assert_eq!(api.state().requests().len(), 3, "only the API requests");
}

#[tokio::test]
async fn config_endpoint_shows_the_settings_in_force() {
    let start_faults = Faults::script([ScriptedFault::at(100, FaultAction::status(503))]);
    let cfg = Config {
        limits: Limits {
            global_per_ip: 900,
            per_key: 400,
            sync_per_key: 3,
            per_account: 1500,
        },
        window: Duration::from_millis(1500),
        header_style: HeaderStyle::Draft7,
        conflict_mode: ConflictMode::WholeRequest409,
        strict_validation: true,
        faults: start_faults.clone(),
        seed: 7,
        ..Config::default()
    };
    let api = Api::start(cfg.clone()).await;
    let r = api.admin_get("/config").await;
    assert_eq!(r.status, 200);
    let shown = r.json();
    assert_eq!(shown, serde_json::to_value(&cfg).unwrap());
    assert_eq!(
        (
            &shown["limits"],
            &shown["window"],
            &shown["header_style"],
            &shown["conflict_mode"],
            &shown["strict_validation"],
            &shown["seed"],
        ),
        (
            &json!({"global_per_ip": 900, "per_key": 400, "sync_per_key": 3, "per_account": 1500}),
            &json!(1500),
            &json!("draft7"),
            &json!("whole_request409"),
            &json!(true),
            &json!(7),
        )
    );
    assert_eq!(
        shown["faults"]["script"],
        json!([{"nth": 100, "times": 1, "action": {"kind": "respond", "status": 503, "body": null, "retry_after_secs": null}}])
    );
    assert_eq!(api.state().config(), cfg);

    // Settings changed at runtime show, and take effect; faults are not touched by them.
    api.state().update_config(|c| {
        c.limits.sync_per_key = 1;
        c.header_style = HeaderStyle::Draft6;
        c.faults = Faults::none();
    });
    let r = api.admin_get("/config").await;
    assert_eq!(r.json()["limits"]["sync_per_key"], 1);
    assert_eq!(r.json()["header_style"], "draft6");
    assert_eq!(
        r.json()["faults"],
        serde_json::to_value(&start_faults).unwrap()
    );
    let empty = json!({"leads": []});
    let r = api.sync(TEST_KEY, &empty).await;
    assert_eq!((r.status, r.num("ratelimit-limit")), (200, 1));
    assert_eq!(api.sync(TEST_KEY, &empty).await.status, 429);

    // The config endpoint shows the faults in force; `SharedState::config` the start ones.
    api.state().set_faults(Faults::none());
    let r = api.admin_get("/config").await;
    assert_eq!(
        r.json()["faults"],
        serde_json::to_value(Faults::none()).unwrap()
    );
    assert_eq!(api.state().config().faults, start_faults);
}

#[tokio::test]
async fn reset_clears_leads_log_and_windows_and_keeps_keys_and_start_faults() {
    let limits = Limits {
        sync_per_key: 2,
        ..Limits::default()
    };
    let api = Api::start(Config {
        faults: Faults::script([ScriptedFault::at(1, FaultAction::status(503))]),
        ..config(limits, Duration::from_secs(2))
    })
    .await;
    let key = api.state().add_key(KeySpec::default());
    let reset = || async { send(api.client.post(api.admin("/reset"))).await };

    for round in ["http", "library"] {
        // The start fault takes the first sync request; the second fills the window.
        let r = api.sync(&key, &leads(&[lead(1)])).await;
        assert_eq!(
            (r.status, r.json()),
            (503, error(messages::UNAVAILABLE)),
            "{round}"
        );
        let r = api.sync(&key, &leads(&[lead(1)])).await;
        assert_eq!((r.status, r.json()), (200, clean(1, 0)), "{round}");
        assert_eq!(
            api.sync(&key, &leads(&[lead(2)])).await.status,
            429,
            "{round}"
        );
        api.state().set_faults(Faults::none());
        assert_eq!(api.state().leads().len(), 1);
        assert_eq!(api.state().requests().len(), 3);

        if round == "http" {
            let r = reset().await;
            assert_eq!((r.status, r.text.as_str()), (204, ""));
        } else {
            api.state().reset();
        }
        assert_eq!(api.admin_get("/leads").await.json(), json!([]), "{round}");
        assert_eq!(
            api.admin_get("/requests").await.json(),
            json!([]),
            "{round}"
        );
        assert_eq!(
            api.admin_get("/faults").await.json(),
            serde_json::to_value(api.state().config().faults).unwrap(),
            "{round}: the start faults again"
        );
        // The added key still works, and the log restarts from 1.
        let r = api.get(&key, "/leads").await;
        assert_eq!((r.status, r.json()), (200, json!([])), "{round}");
        let log = api.state().requests();
        assert_eq!(
            (log.len(), log[0].seq, log[0].status),
            (1, 1, Some(200)),
            "{round}"
        );
        api.state().reset();
    }
    // Lead ids restart too.
    api.state().set_faults(Faults::none());
    let r = api.sync(TEST_KEY, &leads(&[lead(9)])).await;
    assert_eq!(r.json(), clean(1, 0));
    assert_eq!(api.state().leads()[0].lead.id, 1);
}

#[tokio::test]
async fn a_restart_with_the_same_state_keeps_leads_keys_log_and_windows() {
    let limits = Limits {
        sync_per_key: 2,
        ..Limits::default()
    };
    let api = Api::start(config(limits, Duration::from_secs(2))).await;
    let key = api.state().add_key(KeySpec::default());
    assert_eq!(api.sync(&key, &leads(&[lead(1)])).await.json(), clean(1, 0));
    assert_eq!(api.sync(&key, &leads(&[lead(1)])).await.json(), clean(0, 1));
    let state = api.state().clone();
    api.sandbox.shutdown().await;

    let sandbox = Sandbox::start_with_state(SocketAddr::from(([127, 0, 0, 1], 0)), state)
        .await
        .unwrap();
    let api = Api {
        sandbox,
        client: client(),
    };
    // The window carried over: the key's sync budget is spent.
    let r = api.sync(&key, &leads(&[lead(1)])).await;
    assert_eq!((r.status, r.json()), (429, error(messages::RATE_SYNC)));
    let stored = api.state().leads();
    assert_eq!(stored.len(), 1);
    assert_eq!(stored[0].write_count, 2);
    let log = api.state().requests();
    assert_eq!(
        log.iter().map(|e| (e.seq, e.status)).collect::<Vec<_>>(),
        [(1, Some(200)), (2, Some(200)), (3, Some(429))]
    );
    assert_eq!(api.get(&key, "/leads").await.status, 200);
}
