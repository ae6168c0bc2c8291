//! The evidence and control endpoints under `/__sandbox/`, a prefix no real client calls:
//! the final contents, the request log, the faults in force, and a reset.
//!
//! | Method and path               | What it does                                               |
//! |-------------------------------|------------------------------------------------------------|
//! | `GET /__sandbox/leads`        | every lead of the default account (`?account=` for another), with `writeCount` |
//! | `GET /__sandbox/requests`     | the request log, oldest first                              |
//! | `GET /__sandbox/config`       | the settings in force                                      |
//! | `GET /__sandbox/faults`       | the faults in force                                        |
//! | `PUT /__sandbox/faults`       | replaces the faults (a JSON [`Faults`](crate::Faults))     |
//! | `POST /__sandbox/reset`       | no leads, empty log and windows, start faults; keys kept   |
//!
//! These endpoints need no key and count against no rate-limit tier.

use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;

use crate::auth::DEFAULT_ACCOUNT_ID;
use crate::faults::Faults;
use crate::state::SharedState;

/// The `/__sandbox` routes (nested by the crate's router).
pub(crate) fn router() -> Router<SharedState> {
    Router::new()
        .route("/leads", get(leads))
        .route("/requests", get(requests))
        .route("/config", get(config))
        .route("/faults", get(faults).put(set_faults))
        .route("/reset", post(reset))
}

#[derive(Debug, Deserialize)]
struct AccountQuery {
    account: Option<String>,
}

async fn leads(State(state): State<SharedState>, Query(q): Query<AccountQuery>) -> Response {
    let account = q.account.as_deref().unwrap_or(DEFAULT_ACCOUNT_ID);
    Json(state.leads_of(account)).into_response()
}

async fn requests(State(state): State<SharedState>) -> Response {
    Json(state.requests()).into_response()
}

async fn config(State(state): State<SharedState>) -> Response {
    let mut config = state.config();
    config.faults = state.faults();
    Json(config).into_response()
}

async fn faults(State(state): State<SharedState>) -> Response {
    Json(state.faults()).into_response()
}

async fn set_faults(State(state): State<SharedState>, body: axum::body::Bytes) -> Response {
    match serde_json::from_slice::<Faults>(&body) {
        Ok(faults) => {
            state.set_faults(faults.clone());
            Json(faults).into_response()
        }
        Err(e) => (
            StatusCode::BAD_REQUEST,
            Json(serde_json::json!({ "error": format!("invalid faults: {e}") })),
        )
            .into_response(),
    }
}

async fn reset(State(state): State<SharedState>) -> Response {
    state.reset();
    StatusCode::NO_CONTENT.into_response()
}
