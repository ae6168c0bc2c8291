//! The state file written on a thread of its own while a session runs. The coordinator
//! hands every settled step over ([`Step`]) and goes on dispatching batches; the thread
//! commits the steps in the order they came, those that queued up while it was busy
//! together in one transaction (a group commit), and the WAL's checkpoints, with their
//! fsyncs, happen on that thread too. A step keeps its share of the in-flight budget until
//! it is committed, so the reader waits when the thread falls behind.
//!
//! What a kill can cost is unchanged in kind: the steps not committed yet are settled rows
//! that a resumed run reads and sends again (the endpoint upserts on `lead_id`); no step is
//! committed before an earlier one, so the frontier never passes a row that is not settled.

use std::thread::JoinHandle;

use anyhow::{Context, Result, anyhow};
use crossbeam_channel::{Receiver, Sender, unbounded};

use super::batch::Held;
use crate::checkpoint::{BatchRecord, Checkpoint, Rejection};
use crate::stats::Counts;

/// Steps committed in one transaction at most (a group stays a few MB of WAL).
const GROUP_STEPS: usize = 64;

/// One commit of the coordinator.
#[derive(Debug, Default)]
pub(super) struct Step {
    /// Settled batches (and unchanged rows, as a record of their own).
    pub batches: Vec<BatchRecord>,
    /// Rows rejected, locally or by the API.
    pub rejections: Vec<Rejection>,
    /// Every row up to it is settled.
    pub frontier: u64,
    /// The counters of every session so far.
    pub totals: Counts,
    /// The in-flight budget of what it holds, given back once it is committed.
    pub held: Vec<Held>,
}

impl Step {
    /// Takes a later step in: its rows, its frontier and its counters (which count this
    /// step's too).
    fn absorb(&mut self, later: Step) {
        self.batches.extend(later.batches);
        self.rejections.extend(later.rejections);
        self.frontier = self.frontier.max(later.frontier);
        self.totals = later.totals;
        self.held.extend(later.held);
    }

    /// Commits it to `checkpoint` for `run`, in one transaction.
    pub(super) fn commit_to(&self, checkpoint: &mut Checkpoint, run: i64) -> Result<()> {
        checkpoint.commit(
            run,
            &self.batches,
            &self.rejections,
            self.frontier,
            &self.totals,
        )
    }
}

/// The committing thread of a session. Dropping it lets the thread commit what is queued
/// and waits for it.
#[derive(Debug)]
pub(super) struct Committer {
    steps: Option<Sender<Step>>,
    thread: Option<JoinHandle<Result<()>>>,
}

impl Committer {
    /// Starts the thread for `run`, on a connection of its own to `checkpoint`'s file.
    pub(super) fn start(checkpoint: &Checkpoint, run: i64) -> Result<Committer> {
        let mut writer = checkpoint.writer()?;
        let (steps, queued) = unbounded();
        let thread = std::thread::Builder::new()
            .name("committer".into())
            .spawn(move || commit_in_order(&mut writer, run, &queued))
            .context("cannot start the committing thread")?;
        Ok(Committer {
            steps: Some(steps),
            thread: Some(thread),
        })
    }

    /// Queues `step`. `Err` once the thread has stopped on an error, with that error:
    /// nothing after the step it failed on is committed.
    pub(super) fn commit(&mut self, step: Step) -> Result<()> {
        if let Some(steps) = &self.steps
            && steps.send(step).is_ok()
        {
            return Ok(());
        }
        self.finish()?;
        Err(anyhow!(
            "the state file is no longer written in this session"
        ))
    }

    /// Commits everything queued and stops the thread; the first error it met, if any.
    pub(super) fn finish(&mut self) -> Result<()> {
        self.steps = None;
        match self.thread.take().map(JoinHandle::join) {
            None => Ok(()),
            Some(Ok(result)) => result,
            Some(Err(_)) => Err(anyhow!("the thread writing the state file panicked")),
        }
    }
}

impl Drop for Committer {
    fn drop(&mut self) {
        let _ = self.finish();
    }
}

/// The thread: commits the steps in the order they were queued, grouping those that wait,
/// until the coordinator lets go or a commit fails.
fn commit_in_order(writer: &mut Checkpoint, run: i64, queued: &Receiver<Step>) -> Result<()> {
    while let Ok(mut group) = queued.recv() {
        for _ in 1..GROUP_STEPS {
            match queued.try_recv() {
                Ok(next) => group.absorb(next),
                Err(_) => break,
            }
        }
        group.commit_to(writer, run)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::checkpoint::{RunInfo, RunSpec};
    use crate::import::batch::ByteBudget;

    fn open(dir: &tempfile::TempDir) -> (Checkpoint, i64) {
        let mut checkpoint = Checkpoint::open(&dir.path().join("state.db")).unwrap();
        let run = checkpoint
            .begin_run(&RunSpec {
                input: "/in.csv".into(),
                fingerprint: "f".into(),
                config_hash: "h".into(),
                config: "{}".into(),
                scope: "s".into(),
            })
            .unwrap();
        (checkpoint, run)
    }

    fn run_info(checkpoint: &Checkpoint, run: i64) -> RunInfo {
        checkpoint
            .runs()
            .unwrap()
            .into_iter()
            .find(|r| r.id == run)
            .unwrap()
    }

    /// Step `i`: one batch of `i` accepted leads, the frontier at `10 i`, `i` requests so
    /// far, holding `i` bytes of `budget`.
    fn step(i: u64, budget: &Arc<ByteBudget>) -> Step {
        Step {
            batches: vec![BatchRecord {
                seq: i,
                leads: i,
                accepted: i,
                ..BatchRecord::default()
            }],
            frontier: 10 * i,
            totals: Counts {
                requests: i,
                ..Counts::default()
            },
            held: vec![budget.take(i as usize).unwrap()],
            ..Step::default()
        }
    }

    #[test]
    fn every_step_is_committed_in_order_and_gives_its_budget_back() {
        let dir = tempfile::tempdir().unwrap();
        let (checkpoint, run) = open(&dir);
        let budget = ByteBudget::new(1 << 20);
        let mut committer = Committer::start(&checkpoint, run).unwrap();
        // More steps than one group takes, queued faster than they are committed.
        let steps = 3 * GROUP_STEPS as u64;
        for i in 1..=steps {
            committer.commit(step(i, &budget)).unwrap();
        }
        committer.finish().unwrap();
        let info = run_info(&checkpoint, run);
        assert_eq!(info.imported, steps * (steps + 1) / 2);
        assert_eq!(info.frontier, 10 * steps);
        assert_eq!(info.requests, steps);
        assert_eq!(budget.in_use(), 0);
    }

    #[test]
    fn a_commit_that_fails_stops_the_thread_and_is_reported() {
        let dir = tempfile::tempdir().unwrap();
        let (checkpoint, run) = open(&dir);
        let budget = ByteBudget::new(1 << 20);
        let mut committer = Committer::start(&checkpoint, run).unwrap();
        committer.commit(step(1, &budget)).unwrap();
        // Waits for the first commit, so that the next one finds the file gone.
        committer.finish().unwrap();
        let mut committer = Committer::start(&checkpoint, run).unwrap();
        std::fs::remove_file(checkpoint.path()).unwrap();
        committer.commit(step(2, &budget)).unwrap();
        let err = committer.finish().unwrap_err();
        assert!(err.is::<crate::checkpoint::StateFileGone>(), "{err:#}");
        // Nothing is committed after it, and saying so does not need the file.
        let err = committer.commit(step(3, &budget)).unwrap_err();
        assert!(format!("{err}").contains("no longer written"), "{err:#}");
        assert_eq!(budget.in_use(), 0);
        assert_eq!(run_info(&checkpoint, run).frontier, 10);
    }
}
