//! Upload: one batch to `POST /leads/sync` and what became of each of its leads, with the
//! pacing, the retries, the tolerant reading of the answer and the splitting of a batch the
//! server refused as a whole.

use std::fmt;
use std::ops::Range;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use rand::SeedableRng;
use rand::rngs::StdRng;
use serde_json::Value;
use tokio_util::sync::CancellationToken;

use crate::body::Body;
use crate::lead::ErrorClass;
use crate::pacing::{Pacer, RateHeaders};
use crate::retry::{RetryPolicy, StatusAction, classify_status, parse_retry_after};
use crate::stats::Stats;

/// An API key; its `Debug` and `Display` never show it.
#[derive(Clone)]
pub struct ApiKey(String);

impl ApiKey {
    /// Wraps a key read from the environment or a file (surrounding whitespace removed).
    pub fn new(key: &str) -> ApiKey {
        ApiKey(key.trim().to_owned())
    }

    /// The key itself, for the request header only.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for ApiKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ApiKey(<redacted>)")
    }
}

impl fmt::Display for ApiKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

/// One lead of a batch: its row, its `lead_id` and where its JSON payload (serialised once)
/// lies in the batch's [`Body`].
#[derive(Debug, Clone)]
pub struct BatchLead {
    /// 1-based data row.
    pub row: u64,
    /// The lead's `lead_id`, to match per-lead errors that carry no index.
    pub lead_id: String,
    /// The lead's JSON in the batch's body, exactly as sent.
    pub json: Range<usize>,
}

impl AsRef<BatchLead> for BatchLead {
    fn as_ref(&self) -> &BatchLead {
        self
    }
}

/// What became of one lead.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Settled {
    /// The API created or updated it.
    Accepted,
    /// The API refused it (`rejected_by_api` or `duplicate_in_account`) with this message.
    Rejected(ErrorClass, String),
    /// Its batch ran out of retries; the row stays resumable.
    GaveUp(String),
}

/// Why a batch stopped without an outcome for its leads (they stay pending).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Stop {
    /// 401 or 403: the key cannot do this; the whole run stops.
    #[error("HTTP {status}: {message}")]
    Auth {
        /// The HTTP status.
        status: u16,
        /// The API's message.
        message: String,
    },
    /// 404 or a redirect: the URL does not lead to the sync endpoint; the whole run stops.
    /// The message names the status (`HTTP 404: …`).
    #[error("{0}")]
    NotFound(String),
    /// Nothing of this session was answered yet and the API cannot be reached (connection
    /// refused, unknown host, TLS or proxy failure): the whole run stops at once. The
    /// message says why and names the fix when there is one.
    #[error("{0}")]
    Unreachable(String),
    /// The run was interrupted before the batch could be (re)sent.
    #[error("interrupted")]
    Interrupted,
}

/// Why a delete did not get the API's answer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DeleteError {
    /// The API refused it (a status never retried); `Stop::Auth` for 401 and 403.
    #[error(transparent)]
    Stopped(#[from] Stop),
    /// Refused as a request (4xx other than 401, 403, 404).
    #[error("HTTP {status}: {message}")]
    Refused {
        /// The HTTP status.
        status: u16,
        /// The API's message.
        message: String,
    },
    /// Retries exhausted.
    #[error("gave up after {attempts} attempts; last: {last}")]
    GaveUp {
        /// Attempts made.
        attempts: u32,
        /// The last problem.
        last: String,
    },
}

/// The API's answer to a bulk delete (`{"total", "deleted", "notFound"}`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize)]
pub struct DeleteAnswer {
    /// Ids processed.
    pub total: u64,
    /// Leads removed.
    pub deleted: u64,
    /// Ids that matched no lead of the account.
    #[serde(rename = "notFound")]
    pub not_found: u64,
}

/// Sends batches; shared by every upload task.
#[derive(Debug)]
pub struct Uploader {
    client: reqwest::Client,
    url: String,
    key: ApiKey,
    pacer: Arc<Pacer>,
    policy: RetryPolicy,
    cancel: CancellationToken,
    stats: Arc<Stats>,
    /// Whether any request of this session got an HTTP answer.
    answered: AtomicBool,
}

/// Settings of an [`Uploader`].
#[derive(Debug, Clone)]
pub struct UploadSettings {
    /// The API's base URL (`…/api`); `/leads/sync` is appended.
    pub base_url: String,
    /// The key.
    pub key: ApiKey,
    /// Time limit of one request, answer included.
    pub timeout: Duration,
    /// Retries.
    pub policy: RetryPolicy,
    /// Requests in flight at most (sizes the connection pool).
    pub concurrency: usize,
    /// Proxy and trusted certificates.
    pub network: crate::http::Network,
}

/// What became of a batch, and what it cost.
#[derive(Debug)]
pub struct BatchOutcome {
    /// Each lead's outcome in the order sent, or why the batch stopped without one.
    pub settled: Result<Vec<Settled>, Stop>,
    /// Requests spent on it (attempts and split halves).
    pub requests: u64,
}

/// An answer that does not account for everything sent: an unknown outcome, sent again.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct Unclear(pub String);

/// What one request and its retries came to.
enum Exchange<T> {
    /// A 2xx answer, read.
    Success(T),
    /// An answer that is not retried (and not a 2xx).
    Final(Answer),
    /// Retries exhausted.
    GaveUp {
        /// Attempts made.
        attempts: u32,
        /// The last problem.
        last: String,
    },
    /// Cancelled before an answer.
    Interrupted,
    /// Stopped without an answer: the API cannot be reached.
    Stopped(Stop),
}

impl Uploader {
    /// An uploader counting into `stats`; `cancel` is cancelled on Ctrl-C (requests then
    /// stop instead of waiting or retrying).
    pub fn new(
        settings: UploadSettings,
        pacer: Arc<Pacer>,
        cancel: CancellationToken,
        stats: Arc<Stats>,
    ) -> reqwest::Result<Uploader> {
        // Redirects are never followed: one would carry the X-API-Key header to wherever it
        // points (reqwest strips only Authorization and cookies), maybe over plain HTTP.
        let client = settings
            .network
            .client(settings.timeout, settings.concurrency)?;
        tracing::info!("{}", settings.network.describe());
        Ok(Uploader {
            client,
            url: format!("{}/leads/sync", settings.base_url.trim_end_matches('/')),
            key: settings.key,
            pacer,
            policy: settings.policy,
            cancel,
            stats,
            answered: AtomicBool::new(false),
        })
    }

    /// The pacer.
    pub fn pacer(&self) -> &Pacer {
        &self.pacer
    }

    /// Sends `leads`, whose JSON is written in `body`, until every one of them is settled
    /// (accepted, refused, or given up after the retries), splitting the batch if the
    /// server refuses it as a whole. `seed` makes the retry jitter reproducible.
    /// `leads` may be anything that holds a [`BatchLead`] (the caller keeps what else it
    /// knows of each lead beside it).
    pub async fn send<L: AsRef<BatchLead> + Sync>(
        &self,
        body: &Body,
        leads: &[L],
        seed: u64,
    ) -> BatchOutcome {
        let mut state = SendState {
            rng: StdRng::seed_from_u64(seed),
            requests: 0,
        };
        let settled = self.send_part(body, leads, leads.len(), &mut state).await;
        BatchOutcome {
            settled,
            requests: state.requests,
        }
    }

    /// Sends `leads`, a part of the batch of `total` leads written in `origin` (the whole
    /// batch is sent as written; a split half gets a body of its own, no larger).
    fn send_part<'a, L: AsRef<BatchLead> + Sync>(
        &'a self,
        origin: &'a Body,
        leads: &'a [L],
        total: usize,
        state: &'a mut SendState,
    ) -> std::pin::Pin<Box<dyn Future<Output = Result<Vec<Settled>, Stop>> + Send + 'a>> {
        Box::pin(async move {
            let body = if leads.len() == total {
                origin.bytes()
            } else {
                origin.part(leads.iter().map(|l| &l.as_ref().json))
            };
            let ids: Vec<&str> = leads.iter().map(|l| l.as_ref().lead_id.as_str()).collect();
            let label = format!(
                "batch of {} (rows {}…)",
                leads.len(),
                leads.first().map_or(0, |l| l.as_ref().row)
            );
            let read = |body: &str| interpret_sync(body, &ids);
            let answer = match self
                .exchange(reqwest::Method::POST, body, &label, state, read)
                .await
            {
                Exchange::Success(settled) => return Ok(settled),
                Exchange::Final(answer) => answer,
                Exchange::GaveUp { attempts, last } => {
                    return Ok(vec![
                        Settled::GaveUp(format!(
                            "gave up after {attempts} attempts; last: {last}"
                        ));
                        leads.len()
                    ]);
                }
                Exchange::Interrupted => return Err(Stop::Interrupted),
                Exchange::Stopped(stop) => return Err(stop),
            };
            let message = self.stop_for(&answer)?;
            match refusal(answer.status, &message, leads.len()) {
                Refusal::Split => {
                    Stats::add(&self.stats.splits, 1);
                    let (a, b) = leads.split_at(leads.len() / 2);
                    let mut settled = self.send_part(origin, a, total, state).await?;
                    settled.extend(self.send_part(origin, b, total, state).await?);
                    Ok(settled)
                }
                Refusal::Each(class) => Ok(vec![
                    Settled::Rejected(
                        class,
                        format!("HTTP {}: {message}", answer.status)
                    );
                    leads.len()
                ]),
            }
        })
    }

    /// The [`Stop`] a final answer means (401, 403, 404, 3xx), or its message (another
    /// refusal, for the caller to judge).
    fn stop_for(&self, answer: &Answer) -> Result<String, Stop> {
        let message = error_message(&answer.body);
        match classify_status(answer.status) {
            StatusAction::StopAuth => Err(Stop::Auth {
                status: answer.status,
                message,
            }),
            StatusAction::StopNotFound => Err(Stop::NotFound(match &answer.location {
                Some(to) => format!(
                    "HTTP {}: a redirect to `{to}`, not followed so that the key goes to --api-url only",
                    answer.status
                ),
                None => format!("HTTP {}: {message}", answer.status),
            })),
            _ => Ok(message),
        }
    }

    /// One request to the sync endpoint, paced, and sent again after a retryable answer
    /// (429, 408, 5xx, a transport error, or a 2xx that `read` cannot make sense of) until
    /// the policy's attempts run out; every wait ends early when the run is cancelled.
    async fn exchange<T>(
        &self,
        method: reqwest::Method,
        body: Bytes,
        label: &str,
        state: &mut SendState,
        read: impl Fn(&str) -> Result<T, Unclear>,
    ) -> Exchange<T> {
        let mut attempts = 0u32;
        loop {
            if self.cancel.is_cancelled() {
                return Exchange::Interrupted;
            }
            let Some(sent_at) = self.unless_cancelled(self.pacer.acquire()).await else {
                return Exchange::Interrupted;
            };
            attempts += 1;
            state.requests += 1;
            Stats::add(&self.stats.requests, 1);
            if attempts > 1 {
                Stats::add(&self.stats.retries, 1);
            }
            let (problem, retry_after) = match self.attempt(method.clone(), body.clone()).await {
                Err(e) => {
                    Stats::add(&self.stats.transport_errors, 1);
                    let failure = crate::http::explain(&e);
                    if failure.unreachable && !self.answered.load(Ordering::Relaxed) {
                        return Exchange::Stopped(Stop::Unreachable(failure.message));
                    }
                    (failure.message, None)
                }
                Ok(answer) => {
                    self.answered.store(true, Ordering::Relaxed);
                    self.pacer.observe(&answer.rate, sent_at);
                    match classify_status(answer.status) {
                        StatusAction::Success => match read(&answer.body) {
                            Ok(value) => return Exchange::Success(value),
                            Err(why) => {
                                Stats::add(&self.stats.unknown_outcomes, 1);
                                tracing::warn!(
                                    "the answer to {label} did not account for everything sent ({why}); sending it again"
                                );
                                (format!("unclear answer: {why}"), None)
                            }
                        },
                        StatusAction::Retry => {
                            if answer.status == 429 {
                                Stats::add(&self.stats.throttled, 1);
                                if let Some(wait) = answer.retry_after {
                                    self.pacer.pause(wait);
                                }
                            }
                            (
                                format!("HTTP {}: {}", answer.status, error_message(&answer.body)),
                                answer.retry_after,
                            )
                        }
                        _ => return Exchange::Final(answer),
                    }
                }
            };
            if !self.policy.may_retry(attempts) {
                return Exchange::GaveUp {
                    attempts,
                    last: problem,
                };
            }
            let wait = self.policy.delay(attempts, retry_after, &mut state.rng);
            tracing::info!(
                "{label}: {problem}; attempt {} in {:.1}s",
                attempts + 1,
                wait.as_secs_f64()
            );
            if self
                .unless_cancelled(tokio::time::sleep(wait))
                .await
                .is_none()
            {
                return Exchange::Interrupted;
            }
        }
    }

    /// Waits for `wait` (a pace or a backoff, which may be long: `Retry-After`), unless the
    /// run is cancelled first (`None`): Ctrl-C must not wait out a server's pause.
    async fn unless_cancelled<T>(&self, wait: impl Future<Output = T>) -> Option<T> {
        tokio::select! {
            value = wait => Some(value),
            () = self.cancel.cancelled() => None,
        }
    }

    /// Deletes leads by `lead_id` (`DELETE /leads/sync`), paced, retried and cancelled like
    /// a batch; returns the API's counts. An answer whose counts do not add up to the ids
    /// sent is unclear and sent again (deleting twice is harmless: the second time they
    /// are `notFound`).
    pub async fn delete(&self, lead_ids: &[String]) -> Result<DeleteAnswer, DeleteError> {
        let body = Bytes::from(serde_json::json!({ "lead_ids": lead_ids }).to_string());
        let mut state = SendState {
            rng: StdRng::seed_from_u64(lead_ids.len() as u64),
            requests: 0,
        };
        let label = format!("delete of {} leads", lead_ids.len());
        let n = lead_ids.len() as u64;
        let read = |body: &str| interpret_delete(body, n);
        match self
            .exchange(reqwest::Method::DELETE, body, &label, &mut state, read)
            .await
        {
            Exchange::Success(answer) => Ok(answer),
            Exchange::Final(answer) => {
                let message = self.stop_for(&answer)?;
                Err(DeleteError::Refused {
                    status: answer.status,
                    message,
                })
            }
            Exchange::GaveUp { attempts, last } => Err(DeleteError::GaveUp { attempts, last }),
            Exchange::Interrupted => Err(Stop::Interrupted.into()),
            Exchange::Stopped(stop) => Err(stop.into()),
        }
    }

    /// Finds out, with one empty delete (`{"lead_ids": []}`, which deletes nothing), whether
    /// the key may delete: `Err` with [`Stop::Auth`] when it lacks the scope (403) or is
    /// refused (401). A 2xx, or a 400 about the empty list, means the request passed the
    /// key and scope checks.
    pub async fn probe_delete(&self) -> Result<(), DeleteError> {
        match self.delete(&[]).await {
            Ok(_) => Ok(()),
            Err(DeleteError::Refused {
                status: 400 | 422, ..
            }) => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// One request; `body` is shared, not copied.
    async fn attempt(&self, method: reqwest::Method, body: Bytes) -> reqwest::Result<Answer> {
        let response = self
            .client
            .request(method, &self.url)
            .header("X-API-Key", self.key.expose())
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .body(body)
            .send()
            .await?;
        let status = response.status().as_u16();
        let headers = response.headers();
        let text = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
        let rate = RateHeaders::parse(|name| text(name));
        let retry_after = text("retry-after").and_then(|v| parse_retry_after(v, SystemTime::now()));
        let location = text("location").map(|l| crate::text::server_text(&self.redact(l)));
        let body = self.redact(&response.text().await?);
        Ok(Answer {
            status,
            rate,
            retry_after,
            location,
            body,
        })
    }

    /// `text` from the server without the key in it: a server that echoes the key it was
    /// given (in an error, a per-lead message) must not put it in our logs, reports or
    /// state file.
    fn redact(&self, text: &str) -> String {
        let key = self.key.expose();
        let digits = key
            .strip_prefix("nl_live_")
            .or_else(|| key.strip_prefix("nl_test_"))
            .unwrap_or(key);
        let mut text = text.to_owned();
        for secret in [key, digits] {
            if secret.len() >= 16 && text.contains(secret) {
                text = text.replace(secret, "<redacted>");
            }
        }
        text
    }
}

/// Per-batch state across its attempts and split halves.
struct SendState {
    rng: StdRng,
    requests: u64,
}

struct Answer {
    status: u16,
    rate: RateHeaders,
    retry_after: Option<Duration>,
    /// Where a redirect points (never followed).
    location: Option<String>,
    body: String,
}

/// The message of an error body (`{"error": ...}` or `{"message": ...}`), or the body itself
/// (an HTML page: its title), on one line and cut short.
pub fn error_message(body: &str) -> String {
    if let Ok(Value::Object(map)) = serde_json::from_str::<Value>(body) {
        for key in ["error", "message", "detail", "msg"] {
            if let Some(Value::String(s)) = map.get(key) {
                return crate::text::server_text(s);
            }
        }
    }
    match crate::text::server_text(body) {
        text if text.is_empty() => "(empty body)".to_owned(),
        text => text,
    }
}

/// What to do with a batch refused as a whole.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// Split it in halves: some lead in it is the reason.
    Split,
    /// Settle each lead as refused with this class.
    Each(ErrorClass),
}

/// Decides about a whole-request refusal (409, 400, 413 and other 4xx) of a batch of `n`.
/// A 409 or a 400 that names a lead-level rule is split down to the offending leads; a
/// single lead takes the refusal as its own. A 400 about the request's shape (our fault,
/// not the leads') and other statuses refuse every lead.
pub fn refusal(status: u16, message: &str, n: usize) -> Refusal {
    let lower = message.to_ascii_lowercase();
    let about_request = lower.starts_with("leads ")
        || lower.starts_with("source ")
        || lower.starts_with("request body")
        || lower.contains("maximum 100")
        || lower.contains("invalid json");
    let splittable = match status {
        409 | 413 => true,
        400 | 422 => !about_request,
        _ => false,
    };
    if splittable && n > 1 {
        return Refusal::Split;
    }
    if status == 409 || is_phone_conflict(&lower) {
        Refusal::Each(ErrorClass::DuplicateInAccount)
    } else {
        Refusal::Each(ErrorClass::RejectedByApi)
    }
}

fn is_phone_conflict(lower_message: &str) -> bool {
    lower_message.contains("already exists")
}

/// Reads a 2xx sync answer for leads `ids` (in the order sent), tolerantly: counts may be
/// absent; an `errors` entry may carry `error` or `message`, an `index` or only a `lead_id`.
/// Every lead not named in `errors` is accepted, but only if the answer accounts for every
/// lead; otherwise `Err` says why and the batch must be sent again.
pub fn interpret_sync(body: &str, ids: &[&str]) -> Result<Vec<Settled>, Unclear> {
    read_sync(body, ids).map_err(Unclear)
}

fn read_sync(body: &str, ids: &[&str]) -> Result<Vec<Settled>, String> {
    let value: Value =
        serde_json::from_str(body).map_err(|e| format!("the body is not JSON ({e})"))?;
    let Value::Object(map) = value else {
        return Err("the body is not a JSON object".to_owned());
    };
    let mut settled = vec![Settled::Accepted; ids.len()];
    let mut failed = 0u64;
    match map.get("errors") {
        None | Some(Value::Null) => {}
        Some(Value::Array(errors)) => {
            for entry in errors {
                let position = match entry.get("index").and_then(Value::as_u64) {
                    Some(i) if (i as usize) < ids.len() => {
                        let i = i as usize;
                        // An index that contradicts the entry's lead_id cannot be trusted.
                        match entry.get("lead_id").and_then(Value::as_str) {
                            Some(id) if id != ids[i] => {
                                return Err(format!(
                                    "errors entry index {i} names lead_id `{id}`, which was sent at another position"
                                ));
                            }
                            _ => i,
                        }
                    }
                    Some(i) => return Err(format!("errors entry index {i} is out of range")),
                    None => {
                        let Some(id) = entry.get("lead_id").and_then(Value::as_str) else {
                            return Err("an errors entry names no lead".to_owned());
                        };
                        ids.iter()
                            .position(|x| *x == id)
                            .ok_or_else(|| format!("errors entry names unknown lead_id `{id}`"))?
                    }
                };
                let message = crate::text::server_text(
                    ["error", "message", "detail", "msg"]
                        .iter()
                        .find_map(|k| entry.get(*k).and_then(Value::as_str))
                        .unwrap_or("the API refused this lead"),
                );
                let class = if is_phone_conflict(&message.to_ascii_lowercase()) {
                    ErrorClass::DuplicateInAccount
                } else {
                    ErrorClass::RejectedByApi
                };
                if settled[position] == Settled::Accepted {
                    failed += 1;
                }
                settled[position] = Settled::Rejected(class, message);
            }
        }
        Some(_) => return Err("`errors` is not an array".to_owned()),
    }
    let count = |key: &str| map.get(key).and_then(Value::as_u64);
    let n = ids.len() as u64;
    if let Some(f) = count("failed")
        && f != failed
    {
        return Err(format!(
            "`failed` says {f} but `errors` names {failed} leads"
        ));
    }
    match (count("created"), count("updated")) {
        (Some(c), Some(u)) if c + u + failed != n => Err(format!(
            "created {c} + updated {u} + failed {failed} is not the {n} leads sent"
        )),
        // One count without the other: the missing one is zero, and they must still add up.
        (Some(c), None) | (None, Some(c)) if c + failed != n => Err(format!(
            "the counts ({c} + {failed} failed) are not the {n} leads sent"
        )),
        _ => match count("total") {
            Some(t) if t != n => Err(format!("`total` says {t} but {n} leads were sent")),
            _ => Ok(settled),
        },
    }
}

/// Reads a 2xx bulk-delete answer for `n` ids: `{"total", "deleted", "notFound"}`, whose
/// counts must add up (`deleted + notFound = total = n`); `Err` says why not.
pub fn interpret_delete(body: &str, n: u64) -> Result<DeleteAnswer, Unclear> {
    read_delete(body, n).map_err(Unclear)
}

fn read_delete(body: &str, n: u64) -> Result<DeleteAnswer, String> {
    let value: Value =
        serde_json::from_str(body).map_err(|e| format!("the body is not JSON ({e})"))?;
    let count = |key: &str| {
        value
            .get(key)
            .and_then(Value::as_u64)
            .ok_or_else(|| format!("`{key}` is missing or not a count"))
    };
    let answer = DeleteAnswer {
        total: count("total")?,
        deleted: count("deleted")?,
        not_found: count("notFound")?,
    };
    if answer.total != n || answer.deleted + answer.not_found != n {
        return Err(format!(
            "total {} = deleted {} + notFound {} is not the {n} ids sent",
            answer.total, answer.deleted, answer.not_found
        ));
    }
    Ok(answer)
}

#[cfg(test)]
mod tests {
    use super::*;

    const IDS: [&str; 3] = ["a", "b", "c"];

    #[test]
    fn a_clean_answer_accepts_every_lead() {
        let body = r#"{"created":2,"updated":1,"failed":0,"errors":[]}"#;
        assert_eq!(
            interpret_sync(body, &IDS).unwrap(),
            vec![Settled::Accepted; 3]
        );
        // Counts are optional.
        assert_eq!(
            interpret_sync("{}", &IDS).unwrap(),
            vec![Settled::Accepted; 3]
        );
    }

    #[test]
    fn per_lead_errors_by_index_or_lead_id_with_error_or_message() {
        let body = r#"{"created":1,"updated":0,"failed":2,"errors":[
            {"index":1,"lead_id":"b","error":"A lead with this phone number already exists"},
            {"lead_id":"c","message":"Invalid status. Must be one of: new, contacted, qualified, disqualified","code":"x"}]}"#;
        let settled = interpret_sync(body, &IDS).unwrap();
        assert_eq!(settled[0], Settled::Accepted);
        assert_eq!(
            settled[1],
            Settled::Rejected(
                ErrorClass::DuplicateInAccount,
                "A lead with this phone number already exists".into()
            )
        );
        assert!(
            matches!(&settled[2], Settled::Rejected(ErrorClass::RejectedByApi, m) if m.starts_with("Invalid status"))
        );
    }

    #[test]
    fn an_answer_that_does_not_account_for_every_lead_is_unknown() {
        let cases = [
            // Truncated or not JSON at all.
            r#"{"created":3,"upd"#,
            "",
            "<html>oops</html>",
            r#"[1,2,3]"#,
            // Counts that do not add up to the leads sent.
            r#"{"created":1,"updated":0,"failed":0,"errors":[]}"#,
            r#"{"created":2,"updated":0,"failed":1,"errors":[]}"#,
            r#"{"total":5}"#,
            r#"{"created":1}"#,
            r#"{"updated":2,"failed":0,"errors":[]}"#,
            // Errors that name nothing we sent.
            r#"{"errors":[{"lead_id":"zzz","error":"no"}]}"#,
            r#"{"errors":[{"index":7,"error":"no"}]}"#,
            r#"{"errors":[{"error":"no"}]}"#,
            r#"{"errors":[{"index":0,"lead_id":"b","error":"no"}]}"#,
            r#"{"errors":"everything failed"}"#,
        ];
        for body in cases {
            assert!(interpret_sync(body, &IDS).is_err(), "{body}");
        }
    }

    #[test]
    fn whole_request_refusals_split_down_to_the_lead() {
        let conflict = "A lead with this phone number already exists";
        assert_eq!(refusal(409, conflict, 100), Refusal::Split);
        assert_eq!(
            refusal(409, conflict, 1),
            Refusal::Each(ErrorClass::DuplicateInAccount)
        );
        assert_eq!(refusal(400, "Phone is required", 2), Refusal::Split);
        assert_eq!(
            refusal(400, "Phone is required", 1),
            Refusal::Each(ErrorClass::RejectedByApi)
        );
        assert_eq!(
            refusal(400, conflict, 1),
            Refusal::Each(ErrorClass::DuplicateInAccount)
        );
        // About the request, not a lead: splitting cannot help.
        assert_eq!(
            refusal(400, "Maximum 100 leads per request", 100),
            Refusal::Each(ErrorClass::RejectedByApi)
        );
        assert_eq!(refusal(413, "too large", 100), Refusal::Split);
        assert_eq!(
            refusal(418, "teapot", 100),
            Refusal::Each(ErrorClass::RejectedByApi)
        );
    }

    #[test]
    fn error_messages_are_read_from_the_usual_fields() {
        assert_eq!(
            error_message(r#"{"error":"Invalid API key"}"#),
            "Invalid API key"
        );
        assert_eq!(error_message(r#"{"message":"nope","error":1}"#), "nope");
        assert_eq!(error_message(""), "(empty body)");
        assert_eq!(error_message("Bad Gateway"), "Bad Gateway");
        // Server text is one line, an HTML page its title, a long message cut.
        assert_eq!(
            error_message(
                "<html>\r\n<head><title>413 Request Entity Too Large</title></head>\r\n<body>nginx</body></html>"
            ),
            "413 Request Entity Too Large"
        );
        assert_eq!(error_message(r#"{"error":"two\nlines"}"#), "two lines");
        let long = error_message(&format!(r#"{{"error":"{}"}}"#, "x".repeat(5000)));
        assert_eq!(long.chars().count(), crate::text::MAX_SERVER_TEXT + 1);
    }

    #[test]
    fn answers_that_echo_the_key_are_redacted() {
        let hex = "0123456789abcdef".repeat(4);
        let uploader = Uploader::new(
            UploadSettings {
                base_url: "http://127.0.0.1:9/api".into(),
                key: ApiKey::new(&format!("nl_test_{hex}")),
                timeout: Duration::from_secs(1),
                policy: RetryPolicy::default(),
                concurrency: 1,
                network: crate::http::Network::direct(),
            },
            Arc::new(Pacer::new(crate::pacing::Pace {
                rate: 1,
                window: Duration::from_secs(1),
            })),
            CancellationToken::new(),
            Arc::default(),
        )
        .unwrap();
        let echoed = format!("bad key nl_test_{hex}; digits {hex}; hint {}", &hex[60..]);
        let clean = uploader.redact(&echoed);
        assert!(!clean.contains(&hex), "{clean}");
        assert_eq!(
            clean,
            format!("bad key <redacted>; digits <redacted>; hint {}", &hex[60..])
        );
    }

    #[test]
    fn delete_answers_must_add_up() {
        assert_eq!(
            interpret_delete(r#"{"total":3,"deleted":2,"notFound":1}"#, 3),
            Ok(DeleteAnswer {
                total: 3,
                deleted: 2,
                not_found: 1
            })
        );
        for body in [
            r#"{"total":3,"deleted":3,"notFound":1}"#,
            r#"{"total":2,"deleted":2,"notFound":0}"#,
            r#"{"total":3,"deleted":3}"#,
            r#"{"deleted":3,"notFound":0}"#,
            "",
            "[]",
        ] {
            assert!(interpret_delete(body, 3).is_err(), "{body}");
        }
    }

    #[test]
    fn the_key_never_prints() {
        let key = ApiKey::new(" nl_test_secret \n");
        assert_eq!(key.expose(), "nl_test_secret");
        assert!(!format!("{key:?} {key}").contains("secret"));
    }
}
