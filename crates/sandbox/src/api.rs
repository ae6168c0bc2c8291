//! The API under `/api`: which endpoint a request is, the gate it passes, the faults it
//! gets, the handlers, and the rate-limit headers on every answer.

use std::convert::Infallible;
use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration;

use axum::Json;
use axum::body::{Body, Bytes, to_bytes};
use axum::extract::{Query, Request, State};
use axum::http::header::{CONTENT_LENGTH, CONTENT_TYPE, RETRY_AFTER};
use axum::http::{HeaderValue, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::json;

use crate::auth;
use crate::connection::ConnectionHandle;
use crate::endpoint::Endpoint;
use crate::error::ApiError;
use crate::faults::{FaultAction, FaultKind, Planned, Trickle};
use crate::log::LoggedRequest;
use crate::messages;
use crate::ratelimit;
use crate::state::SharedState;
use crate::store::{StoredLead, SyncRefusal};
use crate::validate::{self, LeadError};

/// How a request ends.
enum Answer {
    Respond(Response),
    /// Close the connection without a response.
    Drop,
}

/// Every request outside `/__sandbox/`.
pub(crate) async fn handle(State(state): State<SharedState>, req: Request) -> Response {
    // When the request arrived: what the rate-limit windows count (see `admit`).
    let arrived = tokio::time::Instant::now();
    let conn = req.extensions().get::<ConnectionHandle>().cloned();
    let ip = conn
        .as_ref()
        .map_or(IpAddr::V4(Ipv4Addr::LOCALHOST), |c| c.peer.ip());
    let (parts, body) = req.into_parts();
    let endpoint = Endpoint::classify(&parts.method, parts.uri.path());
    let body = to_bytes(body, state.config().max_body_bytes).await;
    let adm = state.admit(ip, auth::presented_key(&parts.headers), &endpoint, arrived);

    let fault_kind = adm
        .fault
        .as_ref()
        .map(|p| p.kind)
        .or(adm.latency.map(|_| FaultKind::Latency));
    let mut log = LogGuard::new(
        state.clone(),
        LoggedRequest {
            seq: adm.seq,
            at_ms: adm.at_ms,
            method: parts.method.to_string(),
            path: parts.uri.path().to_owned(),
            key_hint: adm.key_hint.clone(),
            account: adm.account.clone(),
            status: None,
            refused_by: adm.refused_by,
            fault: fault_kind,
            latency_ms: adm
                .latency
                .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX)),
            leads: body.as_ref().ok().and_then(|b| endpoint.count_leads(b)),
        },
    );

    if let Some(delay) = adm.latency {
        tokio::time::sleep(delay).await;
    }
    let answer = match (adm.verdict, body) {
        (Err(e), _) => Answer::Respond(e.into_response()),
        (Ok(_), Err(_)) => Answer::Respond(ApiError::BodyTooLarge.into_response()),
        (Ok(account), Ok(body)) => {
            answer(&state, &endpoint, account, &parts.uri, &body, adm.fault).await
        }
    };
    let mut response = match answer {
        Answer::Respond(r) => r,
        Answer::Drop => {
            log.entry_mut().status = None;
            log.finish(None);
            let Some(conn) = conn else {
                // Only the sandbox's own server can drop a connection.
                return (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "connection drop needs the sandbox server",
                )
                    .into_response();
            };
            conn.drop_now();
            // The connection task drops this future together with the connection.
            let never: Infallible = std::future::pending().await;
            match never {}
        }
    };
    if let Some(rate) = adm.rate {
        ratelimit::write_headers(
            response.headers_mut(),
            &rate,
            adm.config.header_style,
            adm.config.window,
        );
    }
    log.finish(Some(response.status().as_u16()));
    response
}

/// Processes an admitted request, with its fault if it has one.
async fn answer(
    state: &SharedState,
    endpoint: &Endpoint,
    account: Option<String>,
    uri: &Uri,
    body: &Bytes,
    fault: Option<Planned>,
) -> Answer {
    let action = fault.map(|p| p.action);
    match &action {
        Some(FaultAction::Respond {
            status,
            body,
            retry_after_secs,
        }) => return Answer::Respond(canned(*status, body.clone(), *retry_after_secs)),
        Some(FaultAction::DropBefore) => return Answer::Drop,
        _ => {}
    }
    let real = match account {
        Some(account) => process(state, endpoint, &account, uri, body),
        None => ApiError::NotFound.into_response(),
    };
    match action {
        Some(FaultAction::ApplyThenRespond { status, body }) => {
            Answer::Respond(canned(status, Some(body), None))
        }
        Some(FaultAction::DropAfter) => Answer::Drop,
        Some(FaultAction::Slow { delay_ms, trickle }) => {
            tokio::time::sleep(Duration::from_millis(delay_ms)).await;
            Answer::Respond(match trickle {
                Some(t) => trickled(real, t).await,
                None => real,
            })
        }
        _ => Answer::Respond(real),
    }
}

/// The real work of each endpoint.
fn process(
    state: &SharedState,
    endpoint: &Endpoint,
    account: &str,
    uri: &Uri,
    body: &[u8],
) -> Response {
    match endpoint {
        Endpoint::SyncUpsert => match validate::parse_sync_body(body) {
            Err(msg) => ApiError::BadRequest(msg.to_owned()).into_response(),
            Ok(sync) => match state.sync(account, sync) {
                Ok(outcome) => Json(outcome).into_response(),
                Err(SyncRefusal::Invalid(e)) => ApiError::InvalidLead(e).into_response(),
                Err(SyncRefusal::Conflict) => ApiError::PhoneTaken.into_response(),
            },
        },
        Endpoint::SyncDelete => match validate::parse_delete_body(body) {
            Err(msg) => ApiError::BadRequest(msg.to_owned()).into_response(),
            Ok(ids) => Json(state.delete(account, &ids)).into_response(),
        },
        Endpoint::CreateLead => match validate::parse_create_body(body) {
            Err(msg) => ApiError::BadRequest(msg).into_response(),
            Ok(input) => match state.create(account, input) {
                Ok(stored) => (StatusCode::CREATED, Json(stored.lead)).into_response(),
                Err(LeadError::PhoneTaken) => ApiError::PhoneTaken.into_response(),
                Err(e) => ApiError::InvalidLead(e).into_response(),
            },
        },
        Endpoint::ListLeads => list(state, account, uri),
        Endpoint::GetLead(id) => match id.parse::<u64>().ok().and_then(|id| state.get(account, id))
        {
            Some(stored) => Json(stored.lead).into_response(),
            None => ApiError::LeadNotFound.into_response(),
        },
        Endpoint::ApiUnknown | Endpoint::Unknown => ApiError::NotFound.into_response(),
    }
}

/// `GET /api/leads` query parameters, kept as text so that a bad number is our 400
/// rather than the extractor's.
#[derive(Debug, Default, Deserialize)]
struct ListQuery {
    limit: Option<String>,
    skip: Option<String>,
    statuses: Option<String>,
    tags: Option<String>,
}

/// Default page size (documented).
const DEFAULT_LIMIT: usize = 50;
/// Largest page (documented); larger `limit`s are clamped.
const MAX_LIMIT: usize = 100;

/// `GET /api/leads`: by id ascending; a plain array without filters, `{"leads", "total"}`
/// with `statuses` or `tags` (as documented).
fn list(state: &SharedState, account: &str, uri: &Uri) -> Response {
    let q =
        Query::<ListQuery>::try_from_uri(uri).map_or_else(|_| ListQuery::default(), |Query(q)| q);
    let number = |v: &Option<String>, default: usize| match v.as_deref().map(str::trim) {
        None | Some("") => Some(default),
        Some(s) => s.parse::<usize>().ok(),
    };
    let (Some(limit), Some(skip)) = (number(&q.limit, DEFAULT_LIMIT), number(&q.skip, 0)) else {
        return ApiError::BadRequest(messages::BAD_PAGINATION.to_owned()).into_response();
    };
    if limit == 0 {
        return ApiError::BadRequest(messages::BAD_PAGINATION.to_owned()).into_response();
    }
    let list_of = |v: &Option<String>| -> Vec<String> {
        v.as_deref()
            .unwrap_or("")
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .collect()
    };
    let (statuses, tags) = (list_of(&q.statuses), list_of(&q.tags));
    let keep = |l: &StoredLead| {
        let status = serde_json::to_value(l.lead.status).unwrap_or_default();
        (statuses.is_empty() || statuses.iter().any(|s| status == s.as_str()))
            && (tags.is_empty() || l.lead.tags.iter().any(|t| tags.contains(t)))
    };
    let matching: Vec<StoredLead> = state.leads_of(account).into_iter().filter(keep).collect();
    let total = matching.len();
    let page: Vec<_> = matching
        .into_iter()
        .skip(skip)
        .take(limit.min(MAX_LIMIT))
        .map(|s| s.lead)
        .collect();
    if statuses.is_empty() && tags.is_empty() {
        Json(page).into_response()
    } else {
        Json(json!({ "leads": page, "total": total })).into_response()
    }
}

/// A fault's response: `body` sent raw, or the usual JSON body for `status`.
fn canned(status: u16, body: Option<String>, retry_after_secs: Option<u64>) -> Response {
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let body = body.unwrap_or_else(|| {
        let msg = match status.as_u16() {
            500 => messages::SYNC_FAILED,
            503 => messages::UNAVAILABLE,
            429 => messages::RATE_SYNC,
            404 => messages::NOT_FOUND,
            409 => messages::PHONE_TAKEN,
            401 => messages::INVALID_KEY,
            _ => status.canonical_reason().unwrap_or("Error"),
        };
        json!({ "error": msg }).to_string()
    });
    // A raw body that is an HTML page (a proxy's error page) goes out as one.
    let content_type = if body.trim_start().starts_with('<') {
        "text/html; charset=utf-8"
    } else {
        "application/json"
    };
    let mut response = (status, body).into_response();
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    if let Some(secs) = retry_after_secs {
        response
            .headers_mut()
            .insert(RETRY_AFTER, HeaderValue::from(secs));
    }
    response
}

/// The same response with its body sent `chunk_bytes` at a time, `interval_ms` apart.
async fn trickled(response: Response, trickle: Trickle) -> Response {
    let (mut parts, body) = response.into_parts();
    let bytes = to_bytes(body, usize::MAX).await.unwrap_or_default();
    parts.headers.remove(CONTENT_LENGTH);
    let chunk = trickle.chunk_bytes.max(1);
    let interval = Duration::from_millis(trickle.interval_ms);
    let pieces = futures_util::stream::unfold((bytes, 0usize), move |(bytes, pos)| async move {
        if pos >= bytes.len() {
            return None;
        }
        if pos > 0 {
            tokio::time::sleep(interval).await;
        }
        let end = (pos + chunk).min(bytes.len());
        Some((Ok::<_, Infallible>(bytes.slice(pos..end)), (bytes, end)))
    });
    Response::from_parts(parts, Body::from_stream(pieces))
}

/// Pushes its entry to the log when finished, or, if the request future is dropped first
/// (the client went away, or a fault dropped the connection), with no status.
#[derive(Debug)]
struct LogGuard {
    state: SharedState,
    entry: Option<LoggedRequest>,
}

impl LogGuard {
    fn new(state: SharedState, entry: LoggedRequest) -> Self {
        LogGuard {
            state,
            entry: Some(entry),
        }
    }

    fn entry_mut(&mut self) -> &mut LoggedRequest {
        self.entry
            .as_mut()
            .expect("a log guard holds its entry until finished")
    }

    /// Logs the request with `status` (`None`: no response written).
    fn finish(mut self, status: Option<u16>) {
        if let Some(mut e) = self.entry.take() {
            e.status = status;
            self.state.push_log(e);
        }
    }
}

impl Drop for LogGuard {
    fn drop(&mut self) {
        if let Some(e) = self.entry.take() {
            self.state.push_log(e);
        }
    }
}
