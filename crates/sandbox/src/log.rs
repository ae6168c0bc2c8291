//! The request log's entry: one per API request, for tests to check what the importer did
//! (how many requests, which were refused or faulted, how many leads each carried).
//! Keys appear only as their last 4 characters. A plain type: the state keeps the log, the
//! API handler writes to it.

use serde::{Deserialize, Serialize};

use crate::faults::FaultKind;
use crate::ratelimit::Tier;

/// One request as the sandbox saw it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LoggedRequest {
    /// Admission order, from 1: the order requests passed the gate, which for requests
    /// a few milliseconds apart may differ from the order of `at_ms`.
    pub seq: u64,
    /// Arrival time (when the rate-limit windows counted it), in milliseconds since the
    /// sandbox's state was created.
    pub at_ms: u64,
    /// HTTP method.
    pub method: String,
    /// Path, without the query string.
    pub path: String,
    /// Last 4 characters of the key presented, if any (the docs' `keyHint`).
    pub key_hint: Option<String>,
    /// The account of a key that authenticated.
    pub account: Option<String>,
    /// Status answered; `None` when no response was written (a dropped connection, or a
    /// client that went away first).
    pub status: Option<u16>,
    /// The tier that refused the request with 429, if one did.
    pub refused_by: Option<Tier>,
    /// The fault injected, if any (`latency` when only latency was added).
    pub fault: Option<FaultKind>,
    /// Latency added, in milliseconds.
    pub latency_ms: Option<u64>,
    /// Leads in a sync body, ids in a delete body, 1 for `POST /api/leads`; `None` when
    /// the body did not have that shape.
    pub leads: Option<usize>,
}
