//! The request log: one entry per API request, for tests to check what the importer did
//! (how many requests, which were refused or faulted, how many leads each carried).
//! Keys appear only as their last 4 characters.

use serde::{Deserialize, Serialize};

use crate::faults::FaultKind;
use crate::ratelimit::Tier;
use crate::state::SharedState;

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

/// Pushes its entry to the log when finished, or, if the request future is dropped first
/// (the client went away, or a fault dropped the connection), with no status.
#[derive(Debug)]
pub(crate) struct LogGuard {
    state: SharedState,
    entry: Option<LoggedRequest>,
}

impl LogGuard {
    pub(crate) fn new(state: SharedState, entry: LoggedRequest) -> Self {
        LogGuard {
            state,
            entry: Some(entry),
        }
    }

    pub(crate) fn entry_mut(&mut self) -> &mut LoggedRequest {
        self.entry
            .as_mut()
            .expect("a log guard holds its entry until finished")
    }

    /// Logs the request with `status` (`None`: no response written).
    pub(crate) fn finish(mut self, status: Option<u16>) {
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
