//! Faults at the boundary: latency (fixed, range, scope), scripted statuses for the N-th
//! sync request (with `Retry-After` on a 429), seeded random 500/503, a 429 storm,
//! connections dropped before and after the leads were applied, slow and trickled answers,
//! and setting faults over `PUT /__sandbox/faults` and from the library.

use std::time::{Duration, Instant};

use naturalead_sandbox::{
    Config, FaultAction, FaultKind, Faults, Latency, LatencyScope, Limits, RandomFailures,
    ScriptedFault, Storm, TEST_KEY, Trickle, messages,
};
use reqwest::{Client, Method};
use serde_json::json;

use super::{Api, Reply, clean, error, lead, leads, send, try_send};

fn with_faults(faults: Faults) -> Config {
    Config {
        faults,
        ..Config::default()
    }
}

/// The fault of each logged request, in order.
fn logged_faults(api: &Api) -> Vec<Option<FaultKind>> {
    api.state().requests().iter().map(|e| e.fault).collect()
}

/// The external ids stored, by id.
fn stored_ids(api: &Api) -> Vec<String> {
    api.state()
        .leads()
        .iter()
        .map(|l| l.lead.external_id.clone().unwrap())
        .collect()
}

#[tokio::test]
async fn scripted_statuses_answer_the_nth_sync_request_without_processing_it() {
    let api = Api::start(with_faults(Faults::script([
        ScriptedFault::at(2, FaultAction::status(503)),
        ScriptedFault::at(3, FaultAction::status(500)).times(2),
        ScriptedFault::at(5, FaultAction::too_many_requests(Some(3))),
        ScriptedFault::at(6, FaultAction::raw(502, r#"{"error": "Bad Gat"#)),
        ScriptedFault::at(8, FaultAction::status(500)),
    ])))
    .await;
    let one = |n| leads(&[lead(n)]);

    // 1: normal.
    assert_eq!(api.sync(TEST_KEY, &one(1)).await.json(), clean(1, 0));
    // Requests that are not admitted sync requests do not advance the count.
    assert_eq!(
        send(api.req(Method::POST, "/leads/sync", None))
            .await
            .status,
        401
    );
    assert_eq!(
        api.sync(api.sandbox.no_sync_key(), &one(9)).await.status,
        403
    );
    assert_eq!(api.get(TEST_KEY, "/leads").await.status, 200);

    // 2: 503, no Retry-After, the rate-limit headers as usual.
    let r = api.sync(TEST_KEY, &one(2)).await;
    assert_eq!((r.status, r.json()), (503, error(messages::UNAVAILABLE)));
    assert_eq!(
        r.json(),
        json!({"error": "Service temporarily unavailable"})
    );
    assert_eq!(r.header("retry-after"), None);
    assert_eq!(
        (r.num("ratelimit-limit"), r.num("ratelimit-remaining")),
        (50, 48)
    );
    // 3 and 4: 500 with the documented "Failed to {action}".
    for _ in 0..2 {
        let r = api.sync(TEST_KEY, &one(3)).await;
        assert_eq!(
            (r.status, r.json()),
            (500, json!({"error": "Failed to sync leads"}))
        );
        assert_eq!(r.header("retry-after"), None);
    }
    // 5: 429 with the Sync message and Retry-After.
    let r = api.sync(TEST_KEY, &one(5)).await;
    assert_eq!((r.status, r.json()), (429, error(messages::RATE_SYNC)));
    assert_eq!(r.header("retry-after"), Some("3"));
    // 6: a raw, truncated body.
    let r = api.sync(TEST_KEY, &one(6)).await;
    assert_eq!((r.status, r.text.as_str()), (502, r#"{"error": "Bad Gat"#));
    assert_eq!(r.header("content-type"), Some("application/json"));
    // 7: normal again.
    assert_eq!(api.sync(TEST_KEY, &one(7)).await.json(), clean(1, 0));
    // 8: DELETE /api/leads/sync is a sync request too.
    let r = send(
        api.req(Method::DELETE, "/leads/sync", Some(TEST_KEY))
            .json(&json!({"lead_ids": ["crm-001"]})),
    )
    .await;
    assert_eq!((r.status, r.json()), (500, error(messages::SYNC_FAILED)));

    assert_eq!(
        stored_ids(&api),
        ["crm-001", "crm-007"],
        "faulted requests store nothing"
    );
    assert!(api.state().leads().iter().all(|l| l.write_count == 1));
    use FaultKind::Respond;
    assert_eq!(
        logged_faults(&api),
        [
            None,
            None,
            None,
            None,
            Some(Respond),
            Some(Respond),
            Some(Respond),
            Some(Respond),
            Some(Respond),
            None,
            Some(Respond)
        ]
    );
    let statuses: Vec<_> = api.state().requests().iter().map(|e| e.status).collect();
    assert_eq!(
        statuses,
        [200, 401, 403, 200, 503, 500, 500, 429, 502, 200, 500].map(Some)
    );
    assert!(
        api.state()
            .requests()
            .iter()
            .all(|e| e.refused_by.is_none()),
        "a fault's 429 is not a tier's refusal"
    );
}

#[tokio::test]
async fn apply_then_respond_stores_the_leads_but_answers_as_told() {
    let body = r#"{"created": 1, "updated": 0, "failed": 0, "err"#;
    let api = Api::start(with_faults(Faults::script([ScriptedFault::at(
        1,
        FaultAction::ApplyThenRespond {
            status: 200,
            body: body.to_owned(),
        },
    )])))
    .await;
    let r = api.sync(TEST_KEY, &leads(&[lead(1), lead(2)])).await;
    assert_eq!((r.status, r.text.as_str()), (200, body));
    assert_eq!(stored_ids(&api), ["crm-001", "crm-002"]);
    // Sent again, as a client that could not read the answer would: updates.
    let r = api.sync(TEST_KEY, &leads(&[lead(1), lead(2)])).await;
    assert_eq!((r.status, r.json()), (200, clean(0, 2)));
    assert!(api.state().leads().iter().all(|l| l.write_count == 2));
    assert_eq!(
        logged_faults(&api),
        [Some(FaultKind::ApplyThenRespond), None]
    );
}

#[tokio::test]
async fn a_connection_dropped_before_processing_stores_nothing_and_after_stores_the_lead() {
    let api = Api::start(with_faults(Faults::script([
        ScriptedFault::at(1, FaultAction::DropBefore),
        ScriptedFault::at(2, FaultAction::DropAfter),
    ])))
    .await;
    let body = leads(&[lead(1)]);

    let e = try_send(api.sync_req(TEST_KEY, &body))
        .await
        .expect_err("dropped before processing: no answer");
    assert!(!e.is_timeout() && e.status().is_none(), "{e:?}");
    assert!(api.state().leads().is_empty(), "nothing was stored");

    let e = try_send(api.sync_req(TEST_KEY, &body))
        .await
        .expect_err("dropped after processing: no answer");
    assert!(!e.is_timeout() && e.status().is_none(), "{e:?}");
    let stored = api.state().leads();
    assert_eq!(stored.len(), 1, "the lead IS stored");
    assert_eq!(
        (stored[0].lead.external_id.as_deref(), stored[0].write_count),
        (Some("crm-001"), 1)
    );

    // The client's retry on a fresh connection updates the same lead.
    let r = api.sync(TEST_KEY, &body).await;
    assert_eq!((r.status, r.json()), (200, clean(0, 1)));
    assert_eq!(api.state().leads()[0].write_count, 2);

    let log: Vec<_> = api
        .state()
        .requests()
        .iter()
        .map(|e| (e.seq, e.status, e.fault, e.leads))
        .collect();
    assert_eq!(
        log,
        [
            (1, None, Some(FaultKind::DropBefore), Some(1)),
            (2, None, Some(FaultKind::DropAfter), Some(1)),
            (3, Some(200), None, Some(1)),
        ]
    );
}

#[tokio::test]
async fn slow_answers_come_after_the_leads_are_applied() {
    let api = Api::start(with_faults(Faults::script([
        ScriptedFault::at(
            1,
            FaultAction::Slow {
                delay_ms: 600,
                trickle: None,
            },
        ),
        ScriptedFault::at(
            2,
            FaultAction::Slow {
                delay_ms: 300,
                trickle: None,
            },
        ),
        ScriptedFault::at(
            3,
            FaultAction::Slow {
                delay_ms: 0,
                trickle: Some(Trickle {
                    chunk_bytes: 4,
                    interval_ms: 10,
                }),
            },
        ),
    ])))
    .await;

    // A client that gives up first times out, yet the lead was stored.
    let impatient = Client::builder()
        .no_proxy()
        .timeout(Duration::from_millis(150))
        .build()
        .unwrap();
    let e = impatient
        .post(api.url("/leads/sync"))
        .header("X-API-Key", TEST_KEY)
        .json(&leads(&[lead(1)]))
        .send()
        .await
        .expect_err("the answer comes after the client's timeout");
    assert!(e.is_timeout(), "{e:?}");
    assert_eq!(stored_ids(&api), ["crm-001"]);

    // A patient client gets the real answer, late.
    let t = Instant::now();
    let r = api.sync(TEST_KEY, &leads(&[lead(2)])).await;
    let took = t.elapsed();
    assert_eq!((r.status, r.json()), (200, clean(1, 0)));
    assert!(took >= Duration::from_millis(300), "{took:?}");

    // A trickled body arrives whole, in 4-byte pieces 10 ms apart, without Content-Length.
    let t = Instant::now();
    let r = api.sync(TEST_KEY, &leads(&[lead(3)])).await;
    let took = t.elapsed();
    let want = r#"{"created":1,"updated":0,"failed":0,"errors":[]}"#;
    assert_eq!((r.status, r.text.as_str()), (200, want));
    assert_eq!(r.header("content-length"), None);
    assert_eq!(r.num("ratelimit-limit"), 50, "headers kept");
    let pieces = want.len().div_ceil(4) as u32;
    assert!(
        took >= Duration::from_millis(10) * (pieces - 1),
        "{took:?} for {pieces} pieces"
    );
    assert_eq!(stored_ids(&api), ["crm-001", "crm-002", "crm-003"]);
    // Logged by seq: the first request may still be sleeping on the server.
    let log = api.state().requests();
    for seq in [2, 3] {
        let e = log.iter().find(|e| e.seq == seq).unwrap();
        assert_eq!(
            (e.status, e.fault),
            (Some(200), Some(FaultKind::Slow)),
            "{e:?}"
        );
    }
}

/// Sends `n` requests made by `make`; returns the latency each got, as logged, and checks
/// that each answer took at least that long.
async fn latencies(api: &Api, n: usize, make: impl Fn() -> reqwest::RequestBuilder) -> Vec<u64> {
    let mut out = Vec::new();
    for _ in 0..n {
        let t = Instant::now();
        let r: Reply = send(make()).await;
        let took = t.elapsed();
        let e = api.state().requests().pop().unwrap();
        assert_eq!(e.status, Some(r.status));
        let ms = e
            .latency_ms
            .unwrap_or_else(|| panic!("no latency on {e:?}"));
        assert_eq!(e.fault, Some(FaultKind::Latency));
        assert!(took >= Duration::from_millis(ms), "{took:?} < {ms} ms");
        out.push(ms);
    }
    out
}

#[tokio::test]
async fn latency_fixed_or_drawn_from_a_range_for_sync_or_every_request() {
    let api = Api::start(with_faults(Faults {
        latency: Some(Latency::fixed(200)),
        ..Faults::default()
    }))
    .await;
    // Scope `sync` (the default): admitted sync requests only.
    let got = latencies(&api, 2, || api.sync_req(TEST_KEY, &leads(&[lead(1)]))).await;
    assert_eq!(got, [200, 200]);
    for r in [
        api.get(TEST_KEY, "/leads").await,
        send(api.req(Method::POST, "/leads/sync", None)).await,
    ] {
        assert!(r.status == 200 || r.status == 401);
        let e = api.state().requests().pop().unwrap();
        assert_eq!((e.latency_ms, e.fault), (None, None), "{e:?}");
    }

    // A range, for every request under /api whatever its outcome; set from the library.
    let range = Faults {
        latency: Some(Latency::range(80, 20)),
        latency_scope: LatencyScope::All,
        ..Faults::default()
    };
    api.state().set_faults(range.clone());
    let got = latencies(&api, 8, || api.req(Method::GET, "/leads", Some(TEST_KEY))).await;
    assert!(got.iter().all(|ms| (20..=80).contains(ms)), "{got:?}");
    assert!(
        got.iter().any(|&ms| ms != got[0]),
        "drawn, not fixed: {got:?}"
    );
    let unauthenticated = latencies(&api, 2, || api.req(Method::GET, "/leads", None)).await;
    assert!(unauthenticated.iter().all(|ms| (20..=80).contains(ms)));

    // The same seed and faults draw the same latencies.
    api.state().set_faults(range);
    let again = latencies(&api, 8, || api.req(Method::GET, "/leads", Some(TEST_KEY))).await;
    assert_eq!(again, got);
}

/// Sends one lead per sync request, `n` times; the statuses, each body checked.
async fn statuses(api: &Api, n: usize) -> Vec<u16> {
    let mut out = Vec::new();
    for i in 0..n {
        let r = api.sync(TEST_KEY, &leads(&[lead(i)])).await;
        match r.status {
            200 => {
                let b = r.json();
                assert_eq!(b["failed"], 0, "{b}");
                assert_eq!(
                    b["created"].as_u64().unwrap() + b["updated"].as_u64().unwrap(),
                    1
                );
            }
            500 => assert_eq!(r.json(), error(messages::SYNC_FAILED)),
            503 => assert_eq!(r.json(), error(messages::UNAVAILABLE)),
            other => panic!("unexpected {other}: {r:?}"),
        }
        out.push(r.status);
    }
    out
}

#[tokio::test]
async fn random_failures_are_seeded_and_repeatable() {
    const N: usize = 40;
    let faults = Faults {
        random: Some(RandomFailures::new(0.5)),
        ..Faults::default()
    };
    let start = |seed| {
        Api::start(Config {
            seed,
            limits: Limits {
                sync_per_key: 1000,
                ..Limits::default()
            },
            ..with_faults(faults.clone())
        })
    };
    let api = start(42).await;
    let first = statuses(&api, N).await;
    let count = |s: &[u16], status| s.iter().filter(|&&x| x == status).count();
    let ok = count(&first, 200);
    assert!(
        count(&first, 500) > 0 && count(&first, 503) > 0,
        "{first:?}"
    );
    assert!(
        (8..=32).contains(&ok),
        "{ok} of {N} passed at rate 0.5: {first:?}"
    );
    // Only the requests that passed stored their lead.
    let want: Vec<_> = (0..N)
        .filter(|&i| first[i] == 200)
        .map(|i| format!("crm-{i:03}"))
        .collect();
    assert_eq!(stored_ids(&api), want);
    let random = logged_faults(&api)
        .iter()
        .filter(|f| **f == Some(FaultKind::Random))
        .count();
    assert_eq!(random, N - ok);

    // Another sandbox with the same seed fails the same requests...
    let twin = start(42).await;
    assert_eq!(statuses(&twin, N).await, first);
    // ...and so does this one once the faults are set again over HTTP.
    let r = api
        .put_faults(serde_json::to_string(&faults).unwrap())
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(statuses(&api, N).await, first);
    // Another seed fails others.
    let other = start(43).await;
    assert_ne!(statuses(&other, N).await, first);

    // Rate 1 with a single status: every sync request gets it; rate 0: none does.
    api.state().set_faults(Faults {
        random: Some(RandomFailures {
            rate: 1.0,
            statuses: vec![503],
        }),
        ..Faults::default()
    });
    assert_eq!(statuses(&api, 5).await, [503; 5]);
    api.state().set_faults(Faults {
        random: Some(RandomFailures::new(0.0)),
        ..Faults::default()
    });
    assert_eq!(statuses(&api, 5).await, [200; 5]);
}

#[tokio::test]
async fn a_429_storm_refuses_every_sync_request_for_its_duration() {
    let api = Api::default().await;
    let storm = json!({"storm": {"duration_ms": 700, "retry_after_secs": 1}});
    let set_at = Instant::now();
    let r = api.put_faults(storm.to_string()).await;
    assert_eq!(r.status, 200);

    for n in 1..=3 {
        let r = api.sync(TEST_KEY, &leads(&[lead(n)])).await;
        assert_eq!(
            (r.status, r.json()),
            (429, error(messages::RATE_SYNC)),
            "{n}"
        );
        assert_eq!(r.header("retry-after"), Some("1"));
        // Other endpoints are not in the storm.
        assert_eq!(api.get(TEST_KEY, "/leads").await.status, 200);
    }
    tokio::time::sleep_until((set_at + Duration::from_millis(800)).into()).await;
    let r = api.sync(TEST_KEY, &leads(&[lead(1)])).await;
    assert_eq!(
        (r.status, r.json()),
        (200, clean(1, 0)),
        "the storm is over"
    );
    let storms = logged_faults(&api)
        .iter()
        .filter(|f| **f == Some(FaultKind::Storm))
        .count();
    assert_eq!(storms, 3);

    // A storm that starts at the 2nd sync request, without Retry-After, set from the library.
    api.state().set_faults(Faults {
        storm: Some(Storm {
            start_at_request: Some(2),
            duration_ms: 500,
            retry_after_secs: None,
        }),
        ..Faults::default()
    });
    let r = api.sync(TEST_KEY, &leads(&[lead(2)])).await;
    assert_eq!((r.status, r.json()), (200, clean(1, 0)), "before the storm");
    let began = Instant::now();
    for n in 3..=4 {
        let r = api.sync(TEST_KEY, &leads(&[lead(n)])).await;
        assert_eq!((r.status, r.json()), (429, error(messages::RATE_SYNC)));
        assert_eq!(r.header("retry-after"), None);
    }
    tokio::time::sleep_until((began + Duration::from_millis(600)).into()).await;
    let r = api.sync(TEST_KEY, &leads(&[lead(3)])).await;
    assert_eq!(
        (r.status, r.json()),
        (200, clean(1, 0)),
        "the storm is over"
    );
    assert_eq!(stored_ids(&api), ["crm-001", "crm-002", "crm-003"]);
}

#[tokio::test]
async fn faults_set_over_http_read_back_and_count_from_when_set() {
    let api = Api::default().await;
    // No faults at first.
    let r = api.admin_get("/faults").await;
    assert_eq!(
        (r.status, r.json()),
        (
            200,
            json!({"latency": null, "latency_scope": "sync", "script": [], "random": null, "storm": null})
        )
    );
    // Two sync requests before the faults are set do not count.
    for n in 1..=2 {
        assert_eq!(
            api.sync(TEST_KEY, &leads(&[lead(n)])).await.json(),
            clean(1, 0)
        );
    }
    let body = json!({
        "latency": {"min_ms": 0, "max_ms": 0},
        "latency_scope": "all",
        "script": [
            {"nth": 1, "action": {"kind": "respond", "status": 500}},
            {"nth": 2, "times": 2, "action": {"kind": "respond", "status": 429, "retry_after_secs": 2}},
            {"nth": 4, "action": {"kind": "drop_before"}},
            {"nth": 5, "action": {"kind": "drop_after"}},
            {"nth": 6, "action": {"kind": "apply_then_respond", "status": 200, "body": "{}"}},
            {"nth": 7, "action": {"kind": "slow", "delay_ms": 10, "trickle": {"chunk_bytes": 3, "interval_ms": 1}}}
        ],
        "random": {"rate": 0.0},
        "storm": {"start_at_request": 100, "duration_ms": 1}
    });
    let want = Faults {
        latency: Some(Latency::fixed(0)),
        latency_scope: LatencyScope::All,
        script: vec![
            ScriptedFault::at(1, FaultAction::status(500)),
            ScriptedFault::at(2, FaultAction::too_many_requests(Some(2))).times(2),
            ScriptedFault::at(4, FaultAction::DropBefore),
            ScriptedFault::at(5, FaultAction::DropAfter),
            ScriptedFault::at(
                6,
                FaultAction::ApplyThenRespond {
                    status: 200,
                    body: "{}".to_owned(),
                },
            ),
            ScriptedFault::at(
                7,
                FaultAction::Slow {
                    delay_ms: 10,
                    trickle: Some(Trickle {
                        chunk_bytes: 3,
                        interval_ms: 1,
                    }),
                },
            ),
        ],
        random: Some(RandomFailures {
            rate: 0.0,
            statuses: vec![500, 503],
        }),
        storm: Some(Storm {
            start_at_request: Some(100),
            duration_ms: 1,
            retry_after_secs: None,
        }),
    };
    let r = api.put_faults(body.to_string()).await;
    assert_eq!(r.status, 200);
    let echoed = r.json();
    assert_eq!(echoed, serde_json::to_value(&want).unwrap());
    assert_eq!(api.state().faults(), want);
    assert_eq!(api.admin_get("/faults").await.json(), echoed);

    // The N counts from the PUT: the next sync request is the 1st.
    let r = api.sync(TEST_KEY, &leads(&[lead(3)])).await;
    assert_eq!((r.status, r.json()), (500, error(messages::SYNC_FAILED)));
    for _ in 0..2 {
        let r = api.sync(TEST_KEY, &leads(&[lead(3)])).await;
        assert_eq!((r.status, r.header("retry-after")), (429, Some("2")));
    }
    assert!(
        try_send(api.sync_req(TEST_KEY, &leads(&[lead(3)])))
            .await
            .is_err()
    );
    assert!(
        try_send(api.sync_req(TEST_KEY, &leads(&[lead(4)])))
            .await
            .is_err()
    );
    let r = api.sync(TEST_KEY, &leads(&[lead(5)])).await;
    assert_eq!((r.status, r.text.as_str()), (200, "{}"));
    let r = api.sync(TEST_KEY, &leads(&[lead(6)])).await;
    assert_eq!((r.status, r.json()), (200, clean(1, 0)));
    assert_eq!(
        stored_ids(&api),
        ["crm-001", "crm-002", "crm-004", "crm-005", "crm-006"]
    );

    // A body that is not a Faults is refused and changes nothing.
    for bad in [
        "{",
        r#"{"script": [{"nth": 1, "action": {"kind": "explode"}}]}"#,
        r#"{"latency": 5}"#,
    ] {
        let r = api.put_faults(bad).await;
        assert_eq!(r.status, 400, "{bad}");
        let msg = r.json()["error"].as_str().unwrap().to_owned();
        assert!(msg.starts_with("invalid faults: "), "{msg}");
        assert_eq!(r.json().as_object().unwrap().len(), 1);
        assert_eq!(api.state().faults(), want, "{bad}");
    }

    // Cleared from the library, cleared over HTTP.
    api.state().set_faults(Faults::none());
    assert_eq!(
        api.admin_get("/faults").await.json(),
        serde_json::to_value(Faults::default()).unwrap()
    );
    let r = api.sync(TEST_KEY, &leads(&[lead(7)])).await;
    assert_eq!((r.status, r.json()), (200, clean(1, 0)));
}
