//! `nl-import status`: the runs in a state file, per source (API and `--source`), with their
//! progress, what they sent and what is pending, and whether the same command would resume
//! them. Opens the file read-only, so it works while an import runs. A run stored as
//! `running` whose process holds no lock (it was killed) is shown as `interrupted`.

use std::io::Write;
use std::path::Path;

use anyhow::{Context, Result};

use crate::checkpoint::{Checkpoint, RunInfo, RunStatus};
use crate::exit;

/// Prints the runs of the state file at `state` (a table per source, or JSON).
pub fn run(state: &Path, json: bool, stdout: &mut dyn Write) -> Result<u8> {
    crate::lock::check_single_name(state)?;
    let mut runs = Checkpoint::open_read_only(state)?.runs()?;
    // The connection is closed now (see `lock::holder`). Read before the lock is looked
    // at: a run that was `running` then and whose lock is free now has stopped since.
    mark_dead_runs(state, &mut runs)?;
    if json {
        serde_json::to_writer_pretty(&mut *stdout, &runs)?;
        writeln!(stdout)?;
        return Ok(exit::SUCCESS);
    }
    if runs.is_empty() {
        writeln!(stdout, "no runs in {}", state.display())?;
        return Ok(exit::SUCCESS);
    }
    let mut scopes: Vec<&str> = runs.iter().map(|r| r.scope.as_str()).collect();
    scopes.dedup();
    scopes.sort_unstable();
    scopes.dedup();
    for scope in scopes {
        let (api, source) = scope.split_once('|').unwrap_or((scope, ""));
        let source = if source.is_empty() { "(none)" } else { source };
        writeln!(stdout, "source {source} at {api}")?;
        writeln!(
            stdout,
            "{:>5}  {:<11}  {:<20}  {:>9}  {:>9}  {:>9}  {:>9}  {:>9}  {:>8}  {:<9}  input",
            "run",
            "status",
            "started",
            "settled",
            "imported",
            "unchanged",
            "rejected",
            "pending",
            "requests",
            "resumable"
        )?;
        // The last ten runs of the source, oldest first.
        let of_scope: Vec<&RunInfo> = runs.iter().filter(|r| r.scope == scope).collect();
        for run in &of_scope[of_scope.len().saturating_sub(10)..] {
            // Settled: imported, unchanged or rejected (the figure a resumed run starts
            // from). Pending is known once the file was read to its end: until then the
            // rows read but not settled are the summary's, not the state file's.
            let settled = run.imported + run.unchanged + run.rejected;
            writeln!(
                stdout,
                "{:>5}  {:<11}  {:<20}  {:>9}  {:>9}  {:>9}  {:>9}  {:>9}  {:>8}  {:<9}  {}",
                format!("#{}", run.id),
                run.status.as_str(),
                run.started_at,
                settled,
                run.imported,
                run.unchanged,
                run.rejected,
                run.rows_total.map_or("?".to_owned(), |total| total
                    .saturating_sub(settled)
                    .to_string()),
                run.requests,
                if run.status.resumable() { "yes" } else { "no" },
                run.input
            )?;
            if let Some(message) = &run.message {
                writeln!(stdout, "       {message}")?;
            }
        }
        writeln!(stdout)?;
    }
    Ok(exit::SUCCESS)
}

/// Shows as `interrupted` each `running` run whose process holds no lock (it was killed).
fn mark_dead_runs(state: &Path, runs: &mut [RunInfo]) -> Result<()> {
    if runs.iter().any(|r| r.status == RunStatus::Running) {
        let holder = crate::lock::holder(state)
            .with_context(|| format!("cannot see whether a run holds `{}`", state.display()))?;
        // The holder's pid, when its note names one: other `running` runs are dead too.
        let live_pid = holder.as_deref().map(holder_pid);
        for run in runs.iter_mut().filter(|r| r.status == RunStatus::Running) {
            let live = match live_pid {
                None => false,
                Some(None) => true,
                Some(Some(pid)) => run.pid == Some(pid),
            };
            if !live {
                run.status = RunStatus::Interrupted;
                run.message.get_or_insert_with(|| {
                    "its process is gone (killed, or the machine stopped): run the same command again to resume".to_owned()
                });
            }
        }
    }
    Ok(())
}

/// The pid in a lock holder's note (`pid 123 started …`).
fn holder_pid(note: &str) -> Option<i64> {
    note.strip_prefix("pid ")?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_holders_pid_is_read_from_its_note() {
        assert_eq!(
            holder_pid("pid 4242 started 2026-01-01T00:00:00Z"),
            Some(4242)
        );
        assert_eq!(holder_pid(""), None);
        assert_eq!(holder_pid("pid unknown: it is starting up"), None);
    }
}
