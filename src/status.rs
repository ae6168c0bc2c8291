//! `nl-import status`: the runs in a state file, per source (API and `--source`), with their
//! progress, what they sent and what is pending, and whether the same command would resume
//! them. Opens the file read-only, so it works while an import runs.

use std::io::Write;
use std::path::Path;

use anyhow::Result;

use crate::checkpoint::{Checkpoint, RunInfo};
use crate::exit;

/// Prints the runs of the state file at `state` (a table per source, or JSON).
pub fn run(state: &Path, json: bool, stdout: &mut dyn Write) -> Result<u8> {
    let checkpoint = Checkpoint::open_read_only(state)?;
    let runs = checkpoint.runs()?;
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
            "read",
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
            let settled = run.imported + run.unchanged + run.rejected;
            let read = run.rows_total.unwrap_or(run.frontier).max(settled);
            writeln!(
                stdout,
                "{:>5}  {:<11}  {:<20}  {:>9}  {:>9}  {:>9}  {:>9}  {:>9}  {:>8}  {:<9}  {}",
                format!("#{}", run.id),
                run.status.as_str(),
                run.started_at,
                read,
                run.imported,
                run.unchanged,
                run.rejected,
                if run.rows_total.is_some() || !run.status.resumable() {
                    (read - settled).to_string()
                } else {
                    format!("{}+", read - settled)
                },
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
