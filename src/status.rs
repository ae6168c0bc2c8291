//! `nl-import status`: the runs in a state file, their progress and whether the same
//! command would resume them. Opens the file read-only, so it works while an import runs.

use std::io::Write;
use std::path::Path;

use anyhow::Result;

use crate::checkpoint::Checkpoint;
use crate::exit;

/// Prints the runs of the state file at `state` (a table, or JSON).
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
    writeln!(
        stdout,
        "{:>4}  {:<11}  {:<20}  {:>9}  {:>9}  {:>9}  {:>8}  {:<9}  input",
        "run", "status", "started", "read", "imported", "rejected", "requests", "resumable"
    )?;
    for run in &runs {
        let read = run.rows_total.unwrap_or(run.frontier);
        writeln!(
            stdout,
            "{:>4}  {:<11}  {:<20}  {:>9}  {:>9}  {:>9}  {:>8}  {:<9}  {}",
            run.id,
            run.status.as_str(),
            run.started_at,
            read,
            run.imported,
            run.rejected,
            run.requests,
            if run.status.resumable() { "yes" } else { "no" },
            run.input
        )?;
        if let Some(message) = &run.message {
            writeln!(stdout, "      {message}")?;
        }
    }
    Ok(exit::SUCCESS)
}
