//! `POST /api/leads/sync` over HTTP: request validation with exact 400 bodies, partial
//! failures without rollback, upsert on `lead_id`, phone collisions in the three modes
//! (per lead, whole-request 409, strict 400), and `DELETE /api/leads/sync`.

use naturalead_sandbox::{Config, ConflictMode, LeadInput, TEST_KEY, messages};
use reqwest::Method;
use serde_json::{Value, json};

use super::{Api, clean, error, lead, leads, send};

#[tokio::test]
async fn malformed_requests_are_400_with_exact_bodies() {
    let api = Api::default().await;
    let raw = |body: &'static str| {
        api.req(Method::POST, "/leads/sync", Some(TEST_KEY))
            .header("Content-Type", "application/json")
            .body(body)
    };
    let cases = [
        (raw(r#"{"leads": [{"phone": "+1"}"#), messages::INVALID_JSON),
        (raw("not json"), messages::INVALID_JSON),
        (raw("[]"), messages::BODY_NOT_OBJECT),
        (raw("{}"), messages::LEADS_REQUIRED),
        (raw(r#"{"source": "hubspot"}"#), messages::LEADS_REQUIRED),
        (
            raw(r#"{"leads": {"0": {"phone": "+1"}}}"#),
            messages::LEADS_NOT_ARRAY,
        ),
        (raw(r#"{"leads": "+1"}"#), messages::LEADS_NOT_ARRAY),
        (raw(r#"{"leads": null}"#), messages::LEADS_REQUIRED),
        (raw(""), messages::LEADS_REQUIRED),
        (
            raw(r#"{"source": 5, "leads": [{"phone": "+1"}]}"#),
            messages::SOURCE_NOT_STRING,
        ),
    ];
    for (req, msg) in cases {
        let r = send(req).await;
        assert_eq!((r.status, r.json()), (400, error(msg)), "{msg}");
    }
    let too_many: Vec<Value> = (0..101).map(lead).collect();
    let r = api.sync(TEST_KEY, &leads(&too_many)).await;
    assert_eq!(r.status, 400);
    assert_eq!(r.json(), json!({"error": "Maximum 100 leads per request"}));
    assert!(api.state().leads().is_empty(), "a 400 stores nothing");
}

#[tokio::test]
async fn exactly_100_leads_are_accepted() {
    let api = Api::default().await;
    let hundred: Vec<Value> = (0..100).map(lead).collect();
    let r = api.sync(TEST_KEY, &leads(&hundred)).await;
    assert_eq!((r.status, r.json()), (200, clean(100, 0)));
    let stored = api.state().leads();
    assert_eq!(stored.len(), 100);
    assert!(stored.iter().all(|l| l.write_count == 1));
    let log = api.state().requests();
    assert_eq!(log.last().unwrap().leads, Some(100));
}

#[tokio::test]
async fn partial_failure_reports_each_bad_lead_and_keeps_the_good_ones() {
    let api = Api::default().await;
    let body = leads(&[
        json!({"lead_id": "ok-1", "phone": "+14155550001", "name": "Ann"}),
        json!({"lead_id": "no-phone", "name": "Bob"}),
        json!({"lead_id": "bad-status", "phone": "+14155550003", "status": "won"}),
        json!({"lead_id": "bad-tags", "phone": "+14155550004", "tags": "vip,hot"}),
        json!({"lead_id": "bad-cf", "phone": "+14155550005", "customFields": ["acme"]}),
        json!({"lead_id": "ok-2", "phone": "+14155550006", "tags": ["vip"],
               "customFields": {"company": "Acme", "deal_value": 50000}}),
    ]);
    let r = api.sync(TEST_KEY, &body).await;
    assert_eq!(
        r.status, 200,
        "a well-formed request is 200 even with failures"
    );
    assert_eq!(
        r.json(),
        json!({
            "created": 2, "updated": 0, "failed": 4,
            "errors": [
                {"index": 1, "lead_id": "no-phone", "error": messages::PHONE_REQUIRED},
                {"index": 2, "lead_id": "bad-status", "error": messages::INVALID_STATUS},
                {"index": 3, "lead_id": "bad-tags", "error": messages::TAGS_NOT_ARRAY},
                {"index": 4, "lead_id": "bad-cf", "error": messages::CUSTOM_FIELDS_NOT_OBJECT},
            ]
        })
    );
    let stored = api.state().leads();
    let ids: Vec<_> = stored
        .iter()
        .map(|l| l.lead.external_id.as_deref().unwrap())
        .collect();
    assert_eq!(
        ids,
        ["ok-1", "ok-2"],
        "succeeded leads are kept, no rollback"
    );
    assert!(stored.iter().all(|l| l.write_count == 1));
    assert_eq!(stored[1].lead.custom_fields["deal_value"], 50000);
    assert_eq!(stored[1].lead.tags, ["vip"]);

    // Every lead failing is still a 200 with the breakdown.
    let r = api
        .sync(TEST_KEY, &leads(&[json!({"lead_id": "x"}), json!("+1")]))
        .await;
    assert_eq!(
        (r.status, r.json()),
        (
            200,
            json!({"created": 0, "updated": 0, "failed": 2, "errors": [
                {"index": 0, "lead_id": "x", "error": messages::PHONE_REQUIRED},
                {"index": 1, "error": messages::LEAD_NOT_OBJECT},
            ]})
        )
    );

    // Re-syncing only the fixed leads completes the set.
    let fixed = leads(&[
        json!({"lead_id": "no-phone", "name": "Bob", "phone": "+14155550002"}),
        json!({"lead_id": "bad-status", "phone": "+14155550003", "status": "qualified"}),
        json!({"lead_id": "bad-tags", "phone": "+14155550004", "tags": ["vip", "hot"]}),
        json!({"lead_id": "bad-cf", "phone": "+14155550005", "customFields": {"company": "Acme"}}),
    ]);
    let r = api.sync(TEST_KEY, &fixed).await;
    assert_eq!((r.status, r.json()), (200, clean(4, 0)));
    assert_eq!(api.state().leads().len(), 6);
}

#[tokio::test]
async fn upsert_on_lead_id_replaces_fields_sent_and_keeps_the_rest() {
    let api = Api::default().await;
    let first = json!({"source": "hubspot", "leads": [{
        "lead_id": "hs_12345", "name": "Alice Johnson", "phone": "+14155551234",
        "email": "alice@example.com", "status": "contacted", "tags": ["enterprise"],
        "customFields": {"company": "Acme Corp", "deal_value": 50000}
    }]});
    let r = api.sync(TEST_KEY, &first).await;
    assert_eq!((r.status, r.json()), (200, clean(1, 0)));
    let created = api.state().leads()[0].clone();
    assert_eq!(created.write_count, 1);
    assert_eq!(created.lead.source, "hubspot");

    let second = leads(&[json!({
        "lead_id": "hs_12345", "phone": "+14155551234", "name": "Alice J.",
        "tags": ["inbound", "vip"]
    })]);
    let r = api.sync(TEST_KEY, &second).await;
    assert_eq!((r.status, r.json()), (200, clean(0, 1)));

    let stored = api.state().leads();
    assert_eq!(stored.len(), 1, "an update, not a second lead");
    let s = &stored[0];
    assert_eq!(s.write_count, 2);
    assert_eq!(s.lead.id, created.lead.id);
    assert_eq!(s.lead.external_id.as_deref(), Some("hs_12345"));
    // Sent: replaced.
    assert_eq!(s.lead.name, "Alice J.");
    assert_eq!(s.lead.tags, ["inbound", "vip"]);
    // Not sent: kept.
    assert_eq!(s.lead.email, "alice@example.com");
    assert_eq!(
        serde_json::to_value(s.lead.status).unwrap(),
        json!("contacted")
    );
    assert_eq!(
        Value::Object(s.lead.custom_fields.clone()),
        json!({"company": "Acme Corp", "deal_value": 50000})
    );
    assert_eq!(s.lead.source, "hubspot");
    assert_eq!(s.lead.created_at, created.lead.created_at);

    // The API's view of the lead is the same, without the sandbox's writeCount.
    let r = api.get(TEST_KEY, &format!("/leads/{}", s.lead.id)).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.json(), serde_json::to_value(&s.lead).unwrap());
    assert!(r.json().get("writeCount").is_none());

    // Sending the same sync again gives the same end state (idempotent).
    let r = api.sync(TEST_KEY, &second).await;
    assert_eq!((r.status, r.json()), (200, clean(0, 1)));
    let again = &api.state().leads()[0];
    assert_eq!(again.write_count, 3);
    assert_eq!(
        (&again.lead.name, &again.lead.tags),
        (&s.lead.name, &s.lead.tags)
    );
}

#[tokio::test]
async fn a_phone_of_another_lead_fails_that_lead_alone() {
    let api = Api::default().await;
    let r = api
        .sync(
            TEST_KEY,
            &leads(&[json!({"lead_id": "owner", "phone": "+14155550100"})]),
        )
        .await;
    assert_eq!((r.status, r.json()), (200, clean(1, 0)));
    api.state()
        .insert_lead(LeadInput::new("+14155550200").with_name("Seeded"))
        .unwrap();

    let body = leads(&[
        json!({"lead_id": "intruder", "phone": "+14155550100"}),
        json!({"lead_id": "fine", "phone": "+14155550300"}),
        json!({"lead_id": "intruder-2", "phone": "+14155550200"}),
    ]);
    let r = api.sync(TEST_KEY, &body).await;
    assert_eq!(
        (r.status, r.json()),
        (
            200,
            json!({"created": 1, "updated": 0, "failed": 2, "errors": [
                {"index": 0, "lead_id": "intruder", "error": "A lead with this phone number already exists"},
                {"index": 2, "lead_id": "intruder-2", "error": messages::PHONE_TAKEN},
            ]})
        )
    );
    let stored = api.state().leads();
    assert_eq!(stored.len(), 3);
    let owner = stored
        .iter()
        .find(|l| l.lead.phone == "+14155550100")
        .unwrap();
    assert_eq!(owner.lead.external_id.as_deref(), Some("owner"));
    assert_eq!(owner.write_count, 1, "the owner is untouched");
}

#[tokio::test]
async fn whole_request_409_mode_applies_nothing() {
    let api = Api::start(Config {
        conflict_mode: ConflictMode::WholeRequest409,
        ..Config::default()
    })
    .await;
    api.state()
        .insert_lead(LeadInput::new("+14155550100").with_lead_id("owner"))
        .unwrap();
    let body = leads(&[
        json!({"lead_id": "new-1", "phone": "+14155550101"}),
        json!({"lead_id": "intruder", "phone": "+14155550100"}),
    ]);
    let r = api.sync(TEST_KEY, &body).await;
    assert_eq!(
        (r.status, r.json()),
        (
            409,
            json!({"error": "A lead with this phone number already exists"})
        )
    );
    let stored = api.state().leads();
    assert_eq!(stored.len(), 1, "nothing applied");
    assert_eq!(stored[0].write_count, 0);

    // Without the colliding lead the request goes through.
    let r = api
        .sync(
            TEST_KEY,
            &leads(&body.as_object().unwrap()["leads"].as_array().unwrap()[..1]),
        )
        .await;
    assert_eq!((r.status, r.json()), (200, clean(1, 0)));
}

#[tokio::test]
async fn strict_validation_fails_the_whole_request_with_400() {
    let api = Api::start(Config {
        strict_validation: true,
        ..Config::default()
    })
    .await;
    let body = leads(&[
        lead(1),
        json!({"lead_id": "bad", "phone": "+14155550999", "tags": "vip"}),
        json!({"lead_id": "worse", "status": "won"}),
    ]);
    let r = api.sync(TEST_KEY, &body).await;
    assert_eq!(
        (r.status, r.json()),
        (400, json!({"error": "tags must be an array"})),
        "the first failing lead's message"
    );
    assert!(api.state().leads().is_empty(), "nothing applied");
    let r = api.sync(TEST_KEY, &leads(&[lead(1), lead(2)])).await;
    assert_eq!((r.status, r.json()), (200, clean(2, 0)));
}

#[tokio::test]
async fn bulk_delete_by_external_id() {
    let api = Api::default().await;
    let r = api.sync(TEST_KEY, &leads(&[lead(1), lead(2)])).await;
    assert_eq!(r.status, 200);
    let r = send(
        api.req(Method::DELETE, "/leads/sync", Some(TEST_KEY))
            .json(&json!({"lead_ids": ["crm-001", "crm-404"]})),
    )
    .await;
    assert_eq!(
        (r.status, r.json()),
        (200, json!({"total": 2, "deleted": 1, "notFound": 1}))
    );
    let stored = api.state().leads();
    assert_eq!(stored.len(), 1);
    assert_eq!(stored[0].lead.external_id.as_deref(), Some("crm-002"));
    let r = send(
        api.req(Method::DELETE, "/leads/sync", Some(TEST_KEY))
            .json(&json!({})),
    )
    .await;
    assert_eq!(
        (r.status, r.json()),
        (400, error(messages::LEAD_IDS_REQUIRED))
    );
    for (body, msg) in [
        (json!({"lead_ids": "crm-002"}), messages::LEAD_IDS_NOT_ARRAY),
        (
            json!({"lead_ids": ["crm-002", 2]}),
            messages::LEAD_IDS_NOT_ARRAY,
        ),
        (json!(["crm-002"]), messages::BODY_NOT_OBJECT),
    ] {
        let r = send(
            api.req(Method::DELETE, "/leads/sync", Some(TEST_KEY))
                .json(&body),
        )
        .await;
        assert_eq!((r.status, r.json()), (400, error(msg)), "{body}");
    }
    assert_eq!(api.state().leads().len(), 1, "a 400 deletes nothing");
    // An empty list is not an error.
    let r = send(
        api.req(Method::DELETE, "/leads/sync", Some(TEST_KEY))
            .json(&json!({"lead_ids": []})),
    )
    .await;
    assert_eq!(
        (r.status, r.json()),
        (200, json!({"total": 0, "deleted": 0, "notFound": 0}))
    );
}
