//! `--dry-run`: reads, validates and compares with the delta state exactly as a run does
//! (the same [`Payload`], [`compare`], [`deletes::plan`] and [`summary::verdict`]), and
//! reports what would be sent and deleted. Sends nothing and changes no state.

use std::io::Write;

use anyhow::{Context, Result};

use super::batch::{Change, Payload, compare};
use super::deletes::{self, Deletion};
use super::plan::Input;
use super::summary::{self, DryRunSummary, Ending};
use crate::checkpoint::delta::{Missing, Seen};
use crate::checkpoint::{Checkpoint, RunStatus, lead_key};
use crate::config::ImportConfig;
use crate::pipeline::{Outcome, Pipeline};
use crate::report::{RejectedRow, ReportPaths, write_json};

/// New, changed and unchanged valid rows.
#[derive(Default)]
struct Tally {
    rows_read: u64,
    new: u64,
    changed: u64,
    unchanged: u64,
}

/// Runs the dry run; returns the exit code the run would have.
pub(super) fn run(
    cfg: &ImportConfig,
    input: Input,
    stdout: &mut dyn Write,
    stderr: &mut dyn Write,
) -> Result<u8> {
    let Input {
        source,
        mapping,
        validator,
        spec,
        ..
    } = input;
    let checkpoint = if cfg.state.exists() {
        Some(Checkpoint::open_read_only(&cfg.state)?)
    } else {
        None
    };
    let delta = match (&checkpoint, cfg.full) {
        (Some(cp), false) => Some(cp.delta(&spec.scope)?),
        _ => None,
    };
    let reading = source.report();
    let mut report = cfg.input.open_report(source.headers(), &mapping)?;
    let mut seen = Seen::default();
    let mut tally = Tally::default();
    for checked in Pipeline::start(source, validator, cfg.input.threads) {
        let checked = checked?;
        tally.rows_read += 1;
        match lead_key(&checked.keys) {
            Some(key) => {
                seen.keys.insert(key);
            }
            None => seen.unidentified.push(checked.row),
        }
        match checked.outcome {
            Outcome::Valid(lead) => {
                match compare(delta.as_ref(), &Payload::of(&lead, &checked.keys)) {
                    Change::New => tally.new += 1,
                    Change::Changed => tally.changed += 1,
                    Change::Unchanged => tally.unchanged += 1,
                }
            }
            Outcome::Rejected { problems, original } => {
                let row = RejectedRow {
                    row: checked.row,
                    line: checked.line,
                    problems,
                    original,
                };
                report.add(&row).context("cannot write the report")?;
            }
        }
    }
    let (rejected_csv, counts) = report.finish().context("cannot write rejected.csv")?;
    let deletion = if cfg.delete_missing {
        Some(preview_deletion(
            cfg,
            checkpoint.as_ref(),
            &spec.scope,
            &seen,
        )?)
    } else {
        None
    };
    let rejected = counts.total_rows();
    let (exit_code, message) = summary::verdict(
        cfg,
        Ending {
            status: RunStatus::Done,
            rejected,
            rows_read: tally.rows_read,
            deletion: deletion.as_ref(),
            input_changed: false,
            message: None,
        },
    );
    let send = tally.new + tally.changed;
    let summary = DryRunSummary {
        command: "import",
        dry_run: true,
        exit_code,
        input: cfg.input.csv.clone(),
        rows_read: tally.rows_read,
        would_send: send,
        new: tally.new,
        changed: tally.changed,
        unchanged: tally.unchanged,
        rejected,
        requests: send.div_ceil(cfg.batch_size as u64),
        deletion,
        rejected_by_class: counts.rows_by_class(),
        message,
        rejections: counts.summary(),
        reports: ReportPaths {
            rejected_xlsx: ReportPaths::xlsx_beside(&rejected_csv),
            rejected_csv,
            summary_json: cfg.input.report_dir.join("summary.json"),
            valid_jsonl: None,
        },
        reading: reading.get(),
    };
    write_json(&summary.reports.summary_json, &summary).context("cannot write summary.json")?;
    summary::print_dry_run(cfg, &summary, &counts, stdout, stderr)?;
    Ok(exit_code)
}

/// The plan a run would make, with its list written as `deleted-preview.csv`.
fn preview_deletion(
    cfg: &ImportConfig,
    checkpoint: Option<&Checkpoint>,
    scope: &str,
    seen: &Seen,
) -> Result<Deletion> {
    let missing = match checkpoint {
        Some(cp) => cp.missing(scope, &seen.keys)?,
        None => Missing::default(),
    };
    let plan = deletes::plan(seen, missing, cfg.max_delete_ratio);
    let mut deletion = plan.deletion;
    if let Some(refused) = &mut deletion.refused {
        *refused = refused.replacen(
            "--delete-missing refused",
            "--delete-missing would be refused",
            1,
        );
    }
    deletion.deleted = plan.leads.len() as u64;
    let payloads: Vec<String> = plan.leads.into_iter().filter_map(|l| l.payload).collect();
    let path = cfg.input.report_dir.join("deleted-preview.csv");
    deletion.file = Some(deletes::write_leads_csv(&path, &payloads)?);
    Ok(deletion)
}
