//! HTTP-level tests of the sandbox: real TCP, real reqwest, every documented status, header,
//! body and message at the boundary, plus faults, the evidence endpoints and a restart.
//!
//! Each test starts its own sandbox on `127.0.0.1:0` with scaled-down windows (1–2 s), so
//! the whole binary runs in a few seconds. The behaviours are split by topic into the
//! modules under `tests/http/`; this file holds the shared helpers.

#[path = "http/auth.rs"]
mod auth;
#[path = "http/evidence.rs"]
mod evidence;
#[path = "http/faults.rs"]
mod faults;
#[path = "http/leads.rs"]
mod leads;
#[path = "http/rate_limits.rs"]
mod rate_limits;
#[path = "http/sync.rs"]
mod sync;
#[path = "http/tls.rs"]
mod tls;

use std::time::Duration;

use naturalead_sandbox::{Config, Limits, Sandbox, SharedState};
use reqwest::header::HeaderMap;
use reqwest::{Client, Method, RequestBuilder};
use serde_json::{Value, json};

/// A running sandbox and a client that talks to it.
pub(crate) struct Api {
    pub(crate) sandbox: Sandbox,
    pub(crate) client: Client,
}

impl Api {
    /// Starts a sandbox with `config` on a free loopback port.
    pub(crate) async fn start(config: Config) -> Api {
        let sandbox = Sandbox::start(config).await.expect("sandbox starts");
        Api {
            sandbox,
            client: client(),
        }
    }

    /// Starts a sandbox with the documented defaults.
    pub(crate) async fn default() -> Api {
        Api::start(Config::default()).await
    }

    pub(crate) fn state(&self) -> &SharedState {
        self.sandbox.state()
    }

    /// `path` under the API's base URL, e.g. `/leads/sync`.
    pub(crate) fn url(&self, path: &str) -> String {
        format!("{}{path}", self.sandbox.base_url())
    }

    /// `path` under the evidence prefix, e.g. `/leads` for `/__sandbox/leads`.
    pub(crate) fn admin(&self, path: &str) -> String {
        format!("{}/__sandbox{path}", self.sandbox.root_url())
    }

    /// A request to the API, with `key` in `X-API-Key` when given.
    pub(crate) fn req(&self, method: Method, path: &str, key: Option<&str>) -> RequestBuilder {
        let r = self.client.request(method, self.url(path));
        match key {
            Some(key) => r.header("X-API-Key", key),
            None => r,
        }
    }

    /// `POST /api/leads/sync` with a JSON body, as a request to send.
    pub(crate) fn sync_req(&self, key: &str, body: &Value) -> RequestBuilder {
        self.req(Method::POST, "/leads/sync", Some(key)).json(body)
    }

    /// `POST /api/leads/sync` with a JSON body.
    pub(crate) async fn sync(&self, key: &str, body: &Value) -> Reply {
        send(self.sync_req(key, body)).await
    }

    /// `GET /api/leads` (or another GET under `/api`).
    pub(crate) async fn get(&self, key: &str, path: &str) -> Reply {
        send(self.req(Method::GET, path, Some(key))).await
    }

    /// `GET /__sandbox{path}`, without a key.
    pub(crate) async fn admin_get(&self, path: &str) -> Reply {
        send(self.client.get(self.admin(path))).await
    }

    /// `PUT /__sandbox/faults` with a raw body.
    pub(crate) async fn put_faults(&self, body: impl Into<reqwest::Body>) -> Reply {
        send(
            self.client
                .put(self.admin("/faults"))
                .header("Content-Type", "application/json")
                .body(body),
        )
        .await
    }
}

/// A client that never goes through a proxy and never hangs a test for long.
pub(crate) fn client() -> Client {
    Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(10))
        .build()
        .expect("reqwest client")
}

/// A config with the given limits and window, everything else default.
pub(crate) fn config(limits: Limits, window: Duration) -> Config {
    Config {
        limits,
        window,
        ..Config::default()
    }
}

/// An answer, read whole.
#[derive(Debug)]
pub(crate) struct Reply {
    pub(crate) status: u16,
    pub(crate) headers: HeaderMap,
    pub(crate) text: String,
}

impl Reply {
    /// The body as JSON; panics with the body when it is not.
    pub(crate) fn json(&self) -> Value {
        serde_json::from_str(&self.text)
            .unwrap_or_else(|e| panic!("body is not JSON ({e}): {:?}", self.text))
    }

    /// A header as text, if present.
    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .get(name)
            .map(|v| v.to_str().expect("header is ASCII"))
    }

    /// A header that must be present and an integer.
    pub(crate) fn num(&self, name: &str) -> u64 {
        let v = self
            .header(name)
            .unwrap_or_else(|| panic!("no {name} header on {} {:?}", self.status, self.text));
        v.parse()
            .unwrap_or_else(|_| panic!("{name} is not an integer: {v:?}"))
    }
}

/// Sends a request; a transport error is returned as such.
pub(crate) async fn try_send(req: RequestBuilder) -> reqwest::Result<Reply> {
    let resp = req.send().await?;
    let status = resp.status().as_u16();
    let headers = resp.headers().clone();
    let text = resp.text().await?;
    Ok(Reply {
        status,
        headers,
        text,
    })
}

/// Sends a request that must get an answer.
pub(crate) async fn send(req: RequestBuilder) -> Reply {
    try_send(req)
        .await
        .unwrap_or_else(|e| panic!("transport error: {e:?}"))
}

/// A sync body of the given leads.
pub(crate) fn leads(leads: &[Value]) -> Value {
    json!({ "leads": leads })
}

/// A valid lead with an external id and a phone derived from `n`.
pub(crate) fn lead(n: usize) -> Value {
    json!({ "lead_id": format!("crm-{n:03}"), "phone": format!("+1415555{n:04}"), "name": format!("Lead {n}") })
}

/// The `{"created", "updated", "failed", "errors"}` body of a sync with no failures.
pub(crate) fn clean(created: usize, updated: usize) -> Value {
    json!({ "created": created, "updated": updated, "failed": 0, "errors": [] })
}

/// The `{"error": msg}` body.
pub(crate) fn error(msg: &str) -> Value {
    json!({ "error": msg })
}

/// Sleeps past a rate-limit window, with slack so that every counted request has left it.
pub(crate) async fn sleep_past(window: Duration) {
    tokio::time::sleep(window + Duration::from_millis(150)).await;
}
