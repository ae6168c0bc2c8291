//! A faithful local stand-in for the Naturalead lead sync API, for tests, demos and
//! rehearsals: start it in-process with [`Sandbox::start`] (or [`Sandbox::start_tls`] for
//! HTTPS with a self-signed certificate), or as a process with `nl-import sandbox`
//! (`--tls`).
//!
//! # Layout
//!
//! Dependencies point one way, from the server down to plain data:
//! `server` (accept loop, TLS, connections) → the router in this file → `admin` and `api`
//! (handlers, the request log guard) → `state` (the one lock: the admission gate, leads,
//! windows, faults, log) → `endpoint`, `auth`, `ratelimit`, `faults`, `store`, `validate`,
//! `log`, `error`, `config`, `connection`, `tls`, `messages`, `clock`.
//!
//! # What it serves
//!
//! Under `/api`, as documented: `POST` and `DELETE /api/leads/sync`, `POST /api/leads`,
//! `GET /api/leads` (`skip`, `limit`, `statuses`, `tags`) and `GET /api/leads/:id`.
//! Authentication by `X-API-Key` (which wins) or `Authorization: Bearer`; keys are
//! `nl_live_`/`nl_test_` + 64 hex, carry scopes, and are kept only as SHA-256 hashes. Every
//! status, body and message the docs give is answered exactly (see [`messages`]).
//!
//! Rate limits: four tiers, each an exact sliding window (default 60 s) — Global per IP
//! (1000), API Key per key (500), Account across keys (2000) and Sync per key (50) — checked
//! in that order after authentication. `RateLimit-Limit`, `-Remaining` and `-Reset` go on
//! every answer under `/api` (or, with [`HeaderStyle::Draft7`], the combined `RateLimit:` and
//! `RateLimit-Policy:`), `Retry-After` on each 429 with the refusing tier's message.
//!
//! Under `/__sandbox/` (a prefix no real client calls) are the evidence and control
//! endpoints: see [`admin`](crate#evidence-endpoints) below.
//!
//! # Where the docs are silent: our decisions
//!
//! These are the sandbox's choices, not the API's documented behaviour (the importer relies
//! on as little of them as it can):
//!
//! - **Sync response.** A well-formed request gets `200` with
//!   `{"created": n, "updated": n, "failed": n, "errors": [{"index": i, "lead_id": "...",
//!   "error": "message"}]}`, even when every lead failed. `400` with `{"error": "..."}` only
//!   for a malformed request: invalid JSON, no `leads`, `leads` not an array, more than 100
//!   leads. Leads that succeed are kept when others fail (no rollback).
//! - **Per-lead validation.** Checked in this order, first problem wins: object, `lead_id`
//!   (a non-empty string when present), `phone` (required, non-empty string), `name`,
//!   `email`, `status` (the enum), `tags` (array of strings), `customFields` (object of
//!   strings, numbers and booleans). `null` counts as not sent. Phones are stored and
//!   compared as the exact string sent (the API does not normalise).
//! - **Upsert.** A lead with a known `lead_id` (stored as `externalId`) is updated: the
//!   fields sent replace the stored ones, those left out are kept. Without `lead_id` a lead
//!   is a plain create, not idempotent.
//! - **Phone collisions.** A phone that belongs to another lead of the account fails that
//!   lead alone with `"A lead with this phone number already exists"`.
//!   [`ConflictMode::WholeRequest409`] instead fails the whole request with 409 and applies
//!   nothing; `strict_validation` likewise fails a whole request with 400 and the first
//!   failing lead's message, so that a client's batch splitting can be tested.
//! - **Headers.** The tier with the least remaining budget fills `RateLimit-*` (the refusing
//!   tier on a 429). 401, 403 and 429 answers still count against the tiers they passed; the
//!   refusing tier does not count the request it refused.
//! - **When a request counts.** At the instant it arrived, before it waits for anything in
//!   the sandbox (the request log's `at_ms` is that instant too): a sync that keeps the
//!   sandbox busy while its store grows must not push the requests behind it into a later
//!   window, which a rate limiter in front of a real API would not do either.
//! - **Bulk delete** answers `{"total", "deleted", "notFound"}` for the ids of the caller's
//!   account; unknown ids are counted, not errors.
//!
//! # Faults
//!
//! Faults are data ([`Faults`]), set at start ([`Config::faults`]) or at any time
//! ([`SharedState::set_faults`], `PUT /__sandbox/faults`): latency, "the N-th sync request
//! answers 429/500/503 or a raw body", a seeded probability of 5xx, a 429 storm, a connection
//! dropped before the request is processed or after it was applied, and a slow or trickled
//! response.
//!
//! # Evidence endpoints
//!
//! `GET /__sandbox/leads` (final contents with `writeCount`), `GET /__sandbox/requests` (the
//! request log: time, key hint, status, refusing tier, fault, lead count),
//! `GET /__sandbox/config`, `GET`/`PUT /__sandbox/faults`, `POST /__sandbox/reset`. The same
//! evidence is available in-process from [`SharedState`].

mod admin;
mod api;
mod auth;
pub mod cli;
mod clock;
mod config;
mod connection;
mod endpoint;
mod error;
mod faults;
mod log;
pub mod messages;
mod ratelimit;
mod server;
mod state;
mod store;
mod tls;
mod validate;

use axum::Router;

pub use auth::{
    DEFAULT_ACCOUNT_ID, Environment, KeyError, KeySpec, KeyStatus, NO_SYNC_KEY, TEST_KEY,
    is_well_formed, key_hint, scopes,
};
pub use config::{Config, ConflictMode, HeaderStyle, Limits};
pub use faults::{
    FaultAction, FaultKind, Faults, Latency, LatencyScope, RandomFailures, ScriptedFault, Storm,
    Trickle,
};
pub use log::LoggedRequest;
pub use ratelimit::Tier;
pub use server::Sandbox;
pub use state::SharedState;
pub use store::{DeleteOutcome, Lead, StoredLead, SyncError, SyncOutcome};
pub use tls::{TLS_NAMES, TlsIdentity};
pub use validate::{LeadError, LeadInput, LeadStatus, MAX_LEADS_PER_SYNC};

/// The whole application: `/__sandbox/` evidence routes, everything else to the API.
fn router(state: SharedState) -> Router {
    Router::new()
        .nest("/__sandbox", admin::router())
        .fallback(api::handle)
        .with_state(state)
}
