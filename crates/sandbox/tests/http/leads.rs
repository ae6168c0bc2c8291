//! The plain leads endpoints over HTTP: `POST /api/leads` (201, 400, 409), `GET /api/leads`
//! with `skip`/`limit` and filters, and `GET /api/leads/:id` with its 404, account-scoped.

use naturalead_sandbox::{KeySpec, SharedState, TEST_KEY, messages};
use reqwest::Method;
use serde_json::{Value, json};

use super::{Api, clean, error, lead, leads, send};

fn ids(v: &Value) -> Vec<u64> {
    v.as_array()
        .unwrap_or_else(|| panic!("not an array: {v}"))
        .iter()
        .map(|l| l["id"].as_u64().unwrap())
        .collect()
}

#[tokio::test]
async fn create_lead_is_201_with_the_lead_object() {
    let api = Api::default().await;
    let create = |body: Value| api.req(Method::POST, "/leads", Some(TEST_KEY)).json(&body);
    let r = send(create(json!({
        "name": "Jane Smith", "phone": "+14155551234", "email": "jane@example.com",
        "tags": ["inbound", "demo"]
    })))
    .await;
    assert_eq!(r.status, 201, "{r:?}");
    let body = r.json();
    let stored = api.state().leads();
    assert_eq!(stored.len(), 1);
    assert_eq!(stored[0].write_count, 1);
    assert_eq!(body, serde_json::to_value(&stored[0].lead).unwrap());
    assert_eq!(body["id"], 1);
    assert_eq!(body["status"], "new");
    assert_eq!(body["source"], "api");
    assert_eq!(body["tags"], json!(["inbound", "demo"]));
    assert_eq!(body["accountId"], naturalead_sandbox::DEFAULT_ACCOUNT_ID);

    let r = send(create(json!({"name": "Again", "phone": "+14155551234"}))).await;
    assert_eq!((r.status, r.json()), (409, error(messages::PHONE_TAKEN)));
    let r = send(create(json!({"name": "No phone"}))).await;
    assert_eq!(
        (r.status, r.json()),
        (400, json!({"error": "phone is required"}))
    );
    let r = send(create(json!({"phone": "+14155550000", "status": "won"}))).await;
    assert_eq!((r.status, r.json()), (400, error(messages::INVALID_STATUS)));
    assert_eq!(api.state().leads().len(), 1);

    // Ids are sequential within the account.
    let r = send(create(json!({"phone": "+14155550001"}))).await;
    assert_eq!((r.status, r.json()["id"].clone()), (201, json!(2)));
}

#[tokio::test]
async fn list_pages_with_skip_and_limit() {
    let api = Api::default().await;
    let batch: Vec<Value> = (1..=7).map(lead).collect();
    assert_eq!(api.sync(TEST_KEY, &leads(&batch)).await.json(), clean(7, 0));

    let r = api.get(TEST_KEY, "/leads").await;
    assert_eq!(r.status, 200);
    assert_eq!(ids(&r.json()), [1, 2, 3, 4, 5, 6, 7], "plain array, by id");
    assert_eq!(
        r.json()[0],
        serde_json::to_value(&api.state().leads()[0].lead).unwrap()
    );
    let cases = [
        ("?limit=3", vec![1, 2, 3]),
        ("?skip=2&limit=3", vec![3, 4, 5]),
        ("?skip=5", vec![6, 7]),
        ("?skip=7", vec![]),
        ("?skip=0&limit=100", vec![1, 2, 3, 4, 5, 6, 7]),
    ];
    for (query, want) in cases {
        let r = api.get(TEST_KEY, &format!("/leads{query}")).await;
        assert_eq!((r.status, ids(&r.json())), (200, want), "{query}");
    }
    for query in ["?limit=0", "?limit=abc", "?skip=-1"] {
        let r = api.get(TEST_KEY, &format!("/leads{query}")).await;
        assert_eq!(
            (r.status, r.json()),
            (400, error(messages::BAD_PAGINATION)),
            "{query}"
        );
    }
    // With a filter the answer is {leads, total}.
    let tagged = leads(&[json!({"lead_id": "crm-001", "phone": "+14155550001", "tags": ["vip"]})]);
    assert_eq!(api.sync(TEST_KEY, &tagged).await.json(), clean(0, 1));
    let r = api.get(TEST_KEY, "/leads?tags=vip,hot").await;
    assert_eq!(r.status, 200);
    assert_eq!(r.json()["total"], 1);
    assert_eq!(ids(&r.json()["leads"]), [1]);
}

#[tokio::test]
async fn get_one_lead_or_404_lead_not_found() {
    let api = Api::default().await;
    assert_eq!(
        api.sync(TEST_KEY, &leads(&[lead(1), lead(2)])).await.json(),
        clean(2, 0)
    );
    let r = api.get(TEST_KEY, "/leads/2").await;
    assert_eq!(r.status, 200);
    assert_eq!(r.json()["id"], 2);
    assert_eq!(r.json()["externalId"], "crm-002");
    for missing in ["/leads/3", "/leads/0", "/leads/abc", "/leads/crm-001"] {
        let r = api.get(TEST_KEY, missing).await;
        assert_eq!(
            (r.status, r.json()),
            (404, json!({"error": "Lead not found"})),
            "{missing}"
        );
    }
    // Another account sees neither the lead nor its existence.
    let other = api
        .state()
        .add_key(KeySpec::for_account(SharedState::new_account_id()));
    let r = api.get(&other, "/leads/1").await;
    assert_eq!((r.status, r.json()), (404, error(messages::LEAD_NOT_FOUND)));
    let r = api.get(&other, "/leads").await;
    assert_eq!((r.status, r.json()), (200, json!([])));
}
