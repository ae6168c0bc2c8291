//! The counters of an import session: one set of atomics ([`Stats`]) shared by the reader
//! thread, the upload tasks and the coordinator, read by the progress line; a plain copy
//! ([`Counts`]) is what the state file keeps across sessions and the summary shows.

use std::sync::atomic::{AtomicU64, Ordering};

use serde::Serialize;

macro_rules! counters {
    ($($(#[$doc:meta])* $name:ident,)*) => {
        /// Live counters of one session (each a relaxed atomic: they are read for display
        /// and copied into the state file, never used to synchronise).
        #[derive(Debug, Default)]
        pub struct Stats {
            $($(#[$doc])* pub $name: AtomicU64,)*
        }

        /// The counters at one moment, or summed over sessions.
        #[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
        pub struct Counts {
            $($(#[$doc])* pub $name: u64,)*
        }

        impl Stats {
            /// The counters now.
            pub fn snapshot(&self) -> Counts {
                Counts {
                    $($name: self.$name.load(Ordering::Relaxed),)*
                }
            }
        }

        impl Counts {
            /// Each counter of `self` plus that of `other` (earlier sessions and this one).
            pub fn plus(self, other: Counts) -> Counts {
                Counts {
                    $($name: self.$name + other.$name,)*
                }
            }
        }
    };
}

counters! {
    /// The last data row read.
    rows_read,
    /// Rows taken from the validation pipeline (valid or not; not those skipped as settled
    /// by an earlier session).
    rows_checked,
    /// Valid leads put into batches to send (new or changed).
    leads_queued,
    /// Leads the API accepted.
    leads_imported,
    /// Leads the API settled (accepted or refused; not those that gave up).
    leads_sent,
    /// Leads whose batch gave up after its attempts (`gave_up`).
    leads_gave_up,
    /// Leads accepted that the delta state did not know.
    new,
    /// Leads accepted whose payload differed from the last one accepted.
    changed,
    /// Valid rows not sent: the API already holds the same payload.
    unchanged,
    /// Rows rejected, locally or by the API (`gave_up` included).
    rejected,
    /// Requests sent (every attempt).
    requests,
    /// Attempts after the first, of a batch, a split half or a delete.
    retries,
    /// 429 answers.
    throttled,
    /// Batches split in halves after a whole-request refusal.
    splits,
    /// Answers that did not account for everything sent (sent again).
    unknown_outcomes,
    /// Transport errors (connection refused or dropped, timeouts).
    transport_errors,
}

impl Stats {
    /// Adds `n` to `counter`.
    pub fn add(counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn snapshots_and_sums() {
        let stats = Stats::default();
        Stats::add(&stats.requests, 3);
        Stats::add(&stats.retries, 1);
        let now = stats.snapshot();
        assert_eq!((now.requests, now.retries, now.splits), (3, 1, 0));
        let total = now.plus(now);
        assert_eq!(total.requests, 6);
    }
}
