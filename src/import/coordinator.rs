//! The coordinator: one task that owns the state file during a session. It takes what
//! the reader hands over, dispatches batches to upload tasks (at most `--concurrency` in
//! flight), settles each outcome (accepted, refused, gave up) and hands it with the
//! frontier to the `committer`, which writes it on a thread of its own (the coordinator
//! waits for every commit before the session ends). It stops everything when the run is
//! cancelled or the API refuses the key, and at the end of a complete run applies
//! `--delete-missing` and records how the session ended.

use std::collections::BTreeSet;
use std::io::Write;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow};
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinSet;

use super::batch::{
    ByteBudget, Collected, Handover, IN_FLIGHT_BYTES, ImportPipeline, PendingBatch, ReaderSetup,
    read_batches,
};
use super::committer::{Committer, Step};
use super::deletes::{self, Deletion};
use super::plan::InputStamp;
use super::shutdown::{Reason, Shutdown};
use crate::checkpoint::{
    AcceptedLead, BatchRecord, Checkpoint, Rejection, RunStatus, SettledRow, StateFileGone,
};
use crate::config::ImportConfig;
use crate::lead::{ErrorClass, Problem};
use crate::output::{self, Event};
use crate::report::RejectedRow;
use crate::source::{FieldDecoder, SourceError};
use crate::stats::{Counts, Stats};
use crate::upload::{BatchOutcome, Settled, Stop, Uploader};

/// Settled rows buffered before they are committed without a batch outcome.
const FLUSH_ROWS: usize = 4096;

/// Bytes of rejected rows buffered before they are committed without a batch outcome
/// (well under [`IN_FLIGHT_BYTES`], so that the reader always finds room).
const FLUSH_BYTES: usize = 8 << 20;

/// How long requests in flight when a run is stopped may take to be answered before they
/// are abandoned (their rows stay pending and are sent again by the next run).
pub(super) const IN_FLIGHT_GRACE: Duration = Duration::from_secs(1);

/// Closes the budget when dropped: the reader never waits for a coordinator that is gone.
struct CloseOnDrop(Arc<ByteBudget>);

impl Drop for CloseOnDrop {
    fn drop(&mut self) {
        self.0.close();
    }
}

/// The warning that the run is stopping: interrupted, or at its time budget.
fn say_stopping(shutdown: &Shutdown, stderr: &mut dyn Write) {
    let (why, reason) = match shutdown.reason() {
        Some(Reason::TimeBudget) => ("time budget (--max-duration) reached", "max_duration"),
        _ => ("interrupted", "signal"),
    };
    // A blank line first ends the progress line on a terminal.
    let newline = if output::is_json() { "" } else { "\n" };
    let _ = Event::warn(
        "interrupt",
        format!("{newline}{why}: finishing the requests in flight (press Ctrl-C to quit at once)"),
    )
    .with("reason", reason)
    .write_to(stderr);
}

/// Sleeps until `at`, or forever when there is no such moment.
async fn sleep_until_some(at: Option<tokio::time::Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

/// How a session ended.
#[derive(Debug)]
pub(super) struct SessionEnd {
    /// The run's status now.
    pub status: RunStatus,
    /// Why it stopped early, if it did.
    pub message: Option<String>,
    /// The last row read.
    pub rows_read: u64,
    /// Rows skipped because an earlier session settled them.
    pub rows_skipped: u64,
    /// What `--delete-missing` did.
    pub deletion: Option<Deletion>,
    /// Time from the first possible request to the last answer.
    pub sending: Duration,
    /// Whether the input changed while it was read (an export still being written may mix
    /// old and new content: a person should look).
    pub input_changed: bool,
    /// Pauses the server ordered (filled in from the pacer).
    pub pauses: u64,
    /// Answers showing another client spending the key's budget (from the pacer).
    pub shared_budget: u64,
    /// The rate policy kept (from the pacer).
    pub rate_policy: Option<crate::pacing::RatePolicy>,
    /// Requests the pace allowed over `sending` (from the pacer).
    pub requests_allowed: f64,
}

/// A batch back from its upload task.
struct TaskDone {
    batch: PendingBatch,
    outcome: BatchOutcome,
}

/// What a coordinator starts from.
pub(super) struct Setup<'a> {
    /// The configuration.
    pub cfg: &'a ImportConfig,
    /// The state file.
    pub checkpoint: &'a mut Checkpoint,
    /// The run.
    pub run_id: i64,
    /// The delta scope, for `--delete-missing`.
    pub scope: String,
    /// To decode the records of rows the API refuses, for the report.
    pub decoder: FieldDecoder,
    /// This session's counters.
    pub stats: Arc<Stats>,
    /// Counters of earlier sessions (added to this one's when committed).
    pub earlier: Counts,
    /// The next batch sequence number.
    pub next_seq: u64,
    /// The input as it was when the run started (no deleting after it changed).
    pub stamp: &'a InputStamp,
}

/// The coordinator's state for one session.
pub(super) struct Coordinator<'a> {
    cfg: &'a ImportConfig,
    checkpoint: &'a mut Checkpoint,
    run_id: i64,
    scope: String,
    decoder: FieldDecoder,
    stats: Arc<Stats>,
    earlier: Counts,
    next_seq: u64,
    stamp: &'a InputStamp,
    /// Settled rows not committed yet.
    buffered: Collected,
    /// Batches in flight, by first row and sequence number.
    in_flight: BTreeSet<(u64, u64)>,
    /// Every row before it has been handed over by the reader.
    low_water: u64,
    rows_read: u64,
    read_error: Option<SourceError>,
    stop: Option<Stop>,
    gave_up: u64,
    /// Commits on a thread of its own while batches are dispatched; `None` before and
    /// after (the state file is then written here).
    committer: Option<Committer>,
}

impl<'a> Coordinator<'a> {
    /// A coordinator for the run `setup` names.
    pub(super) fn new(setup: Setup<'a>) -> Coordinator<'a> {
        let Setup {
            cfg,
            checkpoint,
            run_id,
            scope,
            decoder,
            stats,
            earlier,
            next_seq,
            stamp,
        } = setup;
        Coordinator {
            cfg,
            checkpoint,
            run_id,
            scope,
            decoder,
            stats,
            earlier,
            next_seq,
            stamp,
            buffered: Collected::default(),
            in_flight: BTreeSet::new(),
            low_water: 1,
            rows_read: 0,
            read_error: None,
            stop: None,
            gave_up: 0,
            committer: None,
        }
    }

    /// Runs the session: reads `pipeline` on a thread of its own, sends through
    /// `uploader`, commits every outcome, until the file is read and every batch settled,
    /// or the run is stopped. A stop is prompt: reading stops (a validation worker busy
    /// with a huge row is not waited for), requests in flight get [`IN_FLIGHT_GRACE`] to
    /// be answered and are then abandoned (their rows stay pending, sent again later).
    pub(super) async fn run(
        mut self,
        mut pipeline: ImportPipeline,
        reader: ReaderSetup,
        uploader: Arc<Uploader>,
        shutdown: &Shutdown,
        stderr: &mut dyn Write,
    ) -> Result<SessionEnd> {
        let cfg = self.cfg;
        self.committer = Some(
            Committer::start(self.checkpoint, self.run_id)
                .map_err(|e| state_write_error(e, self.checkpoint))?,
        );
        let cancel = shutdown.token().clone();
        let stopper = pipeline.stopper();
        let budget = ByteBudget::new(IN_FLIGHT_BYTES);
        // However this function returns, a reader waiting for room is let go.
        let _close = CloseOnDrop(Arc::clone(&budget));
        let (tx, mut rx) = mpsc::channel::<Handover>(cfg.concurrency.max(2));
        let (skipped_tx, skipped_rx) = oneshot::channel();
        let reader_budget = Arc::clone(&budget);
        std::thread::Builder::new()
            .name("reader".into())
            .spawn(move || {
                read_batches(&mut pipeline, &tx, &reader_budget, &reader);
                let _ = skipped_tx.send(pipeline.rows_skipped());
            })
            .context("cannot start the reading thread")?;
        let sending_started = Instant::now();
        let mut tasks: JoinSet<TaskDone> = JoinSet::new();
        let mut reading = true;
        let mut abandon_at: Option<tokio::time::Instant> = None;
        let mut abandoned = false;
        loop {
            // Said once, whenever the cancellation is seen: here rather than in the select
            // below, which a stop that lands while a batch is settled would skip.
            if cancel.is_cancelled() && abandon_at.is_none() {
                abandon_at = Some(tokio::time::Instant::now() + IN_FLIGHT_GRACE);
                if !cfg.quiet {
                    say_stopping(shutdown, stderr);
                }
            }
            let stopping = self.stop.is_some() || cancel.is_cancelled();
            if stopping && reading {
                stopper.stop();
                budget.close();
                rx.close();
                reading = false;
            }
            if !reading && tasks.is_empty() {
                break;
            }
            tokio::select! {
                biased;
                // Wakes the loop, whose top says it and starts the grace.
                () = cancel.cancelled(), if abandon_at.is_none() => {}
                () = sleep_until_some(abandon_at), if !abandoned && !tasks.is_empty() => {
                    // Not answered in time: their rows stay pending. Once: the tasks are
                    // joined below (this branch comes first and would fire forever).
                    abandoned = true;
                    tasks.abort_all();
                }
                Some(joined) = tasks.join_next(), if !tasks.is_empty() => {
                    match joined {
                        Ok(done) => self.on_done(done, &mut tasks)?,
                        // Aborted after a fatal answer or the grace: its rows stay pending.
                        Err(e) if e.is_cancelled() => {}
                        Err(e) => return Err(anyhow!("an upload task failed: {e}")),
                    }
                }
                handover = rx.recv(), if reading && tasks.len() < cfg.concurrency => {
                    reading = self.on_handover(handover, &mut tasks, &uploader)?;
                }
            }
        }
        self.commit_the_rest()?;
        // The reading thread has ended, or ends at its next step; one stopped while a
        // worker is inside a huge row is not waited for.
        let rows_skipped = if self.complete(shutdown) {
            skipped_rx.await.unwrap_or_else(|_| stopper.rows_skipped())
        } else {
            stopper.rows_skipped()
        };
        let sending = sending_started.elapsed();
        let input_changed = self.stamp.changed();
        let deletion =
            if cfg.delete_missing && self.complete(shutdown) && self.gave_up == 0 && !input_changed
            {
                Some(self.delete_missing(&uploader, stderr).await?)
            } else {
                None
            };
        let (status, message) = self.ending(shutdown);
        let complete = self.complete(shutdown);
        debug_assert!(!complete || self.in_flight.is_empty());
        self.checkpoint.finish(
            self.run_id,
            status,
            complete.then_some(self.rows_read),
            message.as_deref(),
        )?;
        Ok(SessionEnd {
            status,
            message,
            rows_read: self.rows_read,
            rows_skipped,
            deletion,
            sending,
            input_changed,
            pauses: 0,
            shared_budget: 0,
            rate_policy: None,
            requests_allowed: 1.0,
        })
    }

    /// Commits whatever is buffered (it is settled) with the final frontier, and waits for
    /// every commit; the state file is written here from then on.
    fn commit_the_rest(&mut self) -> Result<()> {
        self.commit(None)?;
        match self.committer.take() {
            Some(mut committer) => committer
                .finish()
                .map_err(|e| state_write_error(e, self.checkpoint)),
            None => Ok(()),
        }
    }

    /// Whether the whole file was read and nothing stopped the session.
    fn complete(&self, shutdown: &Shutdown) -> bool {
        self.read_error.is_none() && self.stop.is_none() && shutdown.reason().is_none()
    }

    /// Takes a handover from the reader; `Ok(false)` when reading is over.
    fn on_handover(
        &mut self,
        handover: Option<Handover>,
        tasks: &mut JoinSet<TaskDone>,
        uploader: &Arc<Uploader>,
    ) -> Result<bool> {
        match handover {
            Some(Handover::Rows {
                rows,
                batch,
                low_water,
                last_row,
            }) => {
                self.rows_read = self.rows_read.max(last_row);
                self.buffered.extend(rows);
                if let Some(mut batch) = batch {
                    batch.seq = self.next_seq;
                    self.next_seq += 1;
                    self.in_flight.insert((batch.first_row(), batch.seq));
                    let uploader = Arc::clone(uploader);
                    tasks.spawn(async move {
                        let outcome = uploader.send(&batch.body, &batch.leads, batch.seq).await;
                        TaskDone { batch, outcome }
                    });
                }
                self.low_water = low_water;
                if self.buffered.len() >= FLUSH_ROWS || self.buffered.bytes >= FLUSH_BYTES {
                    self.commit(None)?;
                }
                Ok(true)
            }
            Some(Handover::End { rows_read, error }) => {
                self.rows_read = self.rows_read.max(rows_read);
                if error.is_none() {
                    self.low_water = rows_read + 1;
                }
                self.read_error = error;
                Ok(false)
            }
            None => Ok(false),
        }
    }

    /// Takes a batch back from its upload task: settles and commits it, or stops the run.
    fn on_done(&mut self, done: TaskDone, tasks: &mut JoinSet<TaskDone>) -> Result<()> {
        let TaskDone { batch, outcome } = done;
        match outcome.settled {
            Ok(settled) => {
                self.in_flight.remove(&(batch.first_row(), batch.seq));
                let (record, rejections) = self.settle(&batch, &settled, outcome.requests);
                self.gave_up += record.gave_up;
                self.buffered.rejections.extend(rejections);
                // The batch's memory counts until it is committed.
                self.buffered.held.push(batch.held);
                self.commit(Some(record))
            }
            Err(Stop::Interrupted) => Ok(()),
            Err(other) => {
                if self.stop.is_none() {
                    self.stop = Some(other);
                    // Nothing more is sent: settle what is known, leave the rest pending.
                    self.commit(None)?;
                    tasks.abort_all();
                }
                Ok(())
            }
        }
    }

    /// The run's status and message as this session leaves it.
    fn ending(&self, shutdown: &Shutdown) -> (RunStatus, Option<String>) {
        match (&self.stop, &self.read_error, shutdown.reason()) {
            (Some(Stop::Auth { status, message }), _, _) => (
                RunStatus::Stopped,
                Some(format!(
                    "the API refused the key (HTTP {status}: {message}); {}. Nothing more was sent",
                    if *status == 401 {
                        "check NATURALEAD_API_KEY / --api-key-file: the key may be mistyped, revoked or expired"
                    } else {
                        "the key needs the leads:sync_create scope: ask an account Owner or Integrator for a sync key"
                    }
                )),
            ),
            (Some(Stop::NotFound(message)), _, _) => (
                RunStatus::Stopped,
                Some(format!(
                    "the API answered {message} for the sync endpoint: check --api-url (it should end in /api)"
                )),
            ),
            (Some(Stop::Unreachable(message)), _, _) => (
                RunStatus::Stopped,
                Some(format!(
                    "cannot reach {}: {message}. Every unsent row is still pending: run the same command again once it is fixed",
                    match &self.cfg.target {
                        crate::config::Target::Api { base_url, .. } => base_url.as_str(),
                        crate::config::Target::Sandbox => "the sandbox",
                    }
                )),
            ),
            (_, Some(error), _) => (
                RunStatus::Interrupted,
                Some(format!("reading stopped: {error}")),
            ),
            (_, _, Some(Reason::TimeBudget)) => (
                RunStatus::Interrupted,
                Some("stopped at the time budget (--max-duration)".to_owned()),
            ),
            (_, _, Some(Reason::Signal)) | (Some(Stop::Interrupted), _, _) => {
                (RunStatus::Interrupted, Some("interrupted".to_owned()))
            }
            _ if self.gave_up > 0 => (
                RunStatus::Incomplete,
                Some(format!(
                    "{} leads were not accepted after {} attempts each (gave_up)",
                    self.gave_up, self.cfg.policy.max_attempts
                )),
            ),
            _ => (RunStatus::Done, None),
        }
    }

    /// `--delete-missing`: removes the leads of the scope that no row of this run's
    /// export identifies, unless that is unsafe (see [`deletes::plan`]).
    async fn delete_missing(
        &mut self,
        uploader: &Uploader,
        stderr: &mut dyn Write,
    ) -> Result<Deletion> {
        // Leads accepted in this run count as known too.
        self.checkpoint.merge_payloads()?;
        let seen = self.checkpoint.seen_by_run(self.run_id)?;
        let missing = self.checkpoint.missing(&self.scope, &seen.keys)?;
        let plan = deletes::plan(&seen, missing, self.cfg.max_delete_ratio);
        let result = deletes::execute(
            self.checkpoint,
            uploader,
            (&self.scope, self.run_id),
            plan,
            &self.cfg.input.report_dir,
            stderr,
        )
        .await;
        // The delete requests are counted in the run's totals too.
        self.commit(None)?;
        result
    }

    /// Turns a batch's per-lead outcome into what is committed: the batch record and the
    /// rows the API refused or gave up on.
    fn settle(
        &mut self,
        batch: &PendingBatch,
        settled: &[Settled],
        attempts: u64,
    ) -> (BatchRecord, Vec<Rejection>) {
        let mut record = BatchRecord {
            seq: batch.seq,
            leads: batch.leads.len() as u64,
            attempts,
            ..BatchRecord::default()
        };
        let mut rejections = Vec::new();
        for (i, (pending, outcome)) in batch.leads.iter().zip(settled).enumerate() {
            let (lead, meta) = (&pending.lead, pending);
            let row = SettledRow {
                row: lead.row,
                keys: meta.keys,
            };
            let (class, message) = match outcome {
                Settled::Accepted => {
                    record.accepted += 1;
                    record.settled.push(row);
                    record.accepted_leads.push(AcceptedLead {
                        key: meta.key,
                        lead_id: lead.lead_id.clone(),
                        hash: meta.hash,
                        payload: batch.payload(i),
                    });
                    Stats::add(
                        if meta.new {
                            &self.stats.new
                        } else {
                            &self.stats.changed
                        },
                        1,
                    );
                    continue;
                }
                Settled::Rejected(class, message) => {
                    record.refused += 1;
                    record.settled.push(row);
                    (*class, message.clone())
                }
                Settled::GaveUp(message) => {
                    record.gave_up += 1;
                    (ErrorClass::GaveUp, message.clone())
                }
            };
            let field = if class == ErrorClass::DuplicateInAccount {
                "phone"
            } else {
                ""
            };
            rejections.push(Rejection {
                row: RejectedRow {
                    row: lead.row,
                    line: 0,
                    problems: vec![Problem::new(class, field, message)],
                    original: self.decoder.decode_lossy(&meta.record),
                },
                lead_key: Some(meta.key),
            });
        }
        Stats::add(&self.stats.leads_imported, record.accepted);
        Stats::add(&self.stats.leads_sent, record.accepted + record.refused);
        Stats::add(&self.stats.leads_gave_up, record.gave_up);
        Stats::add(&self.stats.rejected, rejections.len() as u64);
        (record, rejections)
    }

    /// Commits a settled batch (if any) with everything buffered: rejections, and the
    /// unchanged rows as a record of their own; with the frontier and the run's counters.
    fn commit(&mut self, batch: Option<BatchRecord>) -> Result<()> {
        let buffered = std::mem::take(&mut self.buffered);
        let mut records: Vec<BatchRecord> = batch.into_iter().collect();
        if !buffered.unchanged.is_empty() {
            records.push(BatchRecord {
                seq: self.next_seq,
                leads: buffered.unchanged.len() as u64,
                unchanged: buffered.unchanged.len() as u64,
                settled: buffered.unchanged,
                ..BatchRecord::default()
            });
            self.next_seq += 1;
        }
        let step = Step {
            batches: records,
            rejections: buffered.rejections,
            frontier: frontier(self.low_water, &self.in_flight),
            totals: self.earlier.plus(self.stats.snapshot()),
            held: buffered.held,
        };
        match &mut self.committer {
            Some(committer) => committer.commit(step),
            None => step.commit_to(self.checkpoint, self.run_id),
        }
        .map_err(|e| state_write_error(e, self.checkpoint))
    }
}

/// An error writing the state file, saying that the run can be resumed (one that says the
/// file is gone says enough).
fn state_write_error(e: anyhow::Error, checkpoint: &Checkpoint) -> anyhow::Error {
    if e.is::<StateFileGone>() {
        e
    } else {
        e.context(format!(
            "cannot write the state file `{}` (the run stays resumable from its last commit)",
            checkpoint.path().display()
        ))
    }
}

/// Every row before the reader's low-water mark and before the first row of the oldest
/// batch in flight is settled.
fn frontier(low_water: u64, in_flight: &BTreeSet<(u64, u64)>) -> u64 {
    let oldest = in_flight.first().map_or(u64::MAX, |(row, _)| *row);
    low_water.min(oldest).saturating_sub(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_frontier_stops_before_the_oldest_batch_in_flight() {
        let mut in_flight = BTreeSet::new();
        assert_eq!(frontier(51, &in_flight), 50);
        in_flight.insert((21, 3));
        in_flight.insert((11, 2));
        assert_eq!(frontier(51, &in_flight), 10);
        assert_eq!(frontier(5, &in_flight), 4);
    }
}
