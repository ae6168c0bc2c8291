//! The end of an import: the exit code and the message that explains it (one rule for the
//! run and the dry run), `summary.json` (also printed with `--json`), and the human summary
//! on stdout and stderr.

use std::io::Write;
use std::path::PathBuf;

use anyhow::Result;
use serde::Serialize;

use super::deletes::Deletion;
use crate::checkpoint::RunStatus;
use crate::config::{ImportConfig, RejectBudget};
use crate::exit;
use crate::metrics::Metrics;
use crate::output::{self, Event, Level};
use crate::report::{ClassCounts, ReportPaths};
use crate::stats::Counts;

/// The `summary.json` of an import (also printed with `--json`).
#[derive(Debug, Serialize)]
pub struct ImportSummary {
    /// Always `import`.
    pub command: &'static str,
    /// The run in the state file.
    pub run_id: i64,
    /// How the run stands: done, incomplete, interrupted, stopped.
    pub status: RunStatus,
    /// Whether the same command continues it.
    pub resumable: bool,
    /// The process's exit code.
    pub exit_code: u8,
    /// Always false here (a `--dry-run` summary says true).
    pub dry_run: bool,
    /// The input file.
    pub input: PathBuf,
    /// Where the leads went (`sandbox` for `--sandbox`).
    pub api: String,
    /// Data rows read so far, every session of the run;
    /// `imported + unchanged + rejected + pending`.
    pub rows_read: u64,
    /// Leads the API accepted.
    pub imported: u64,
    /// Valid rows not sent: the API already accepted the same payload (see `--full`).
    pub unchanged: u64,
    /// Rows rejected, locally or by the API (`gave_up` included).
    pub rejected: u64,
    /// Rows read but not settled (in flight when stopped): a resume sends them.
    pub pending: u64,
    /// Leads accepted in this session that the state file did not know.
    pub new: u64,
    /// Leads accepted in this session whose payload differed from the last accepted one.
    pub changed: u64,
    /// What `--delete-missing` did.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub deletion: Option<Deletion>,
    /// Rejected rows by class.
    pub rejected_by_class: serde_json::Map<String, serde_json::Value>,
    /// This session alone.
    pub session: SessionStats,
    /// Why the run stopped early, if it did.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// The state and report files.
    pub state_file: PathBuf,
    /// The report files.
    pub reports: ReportPaths,
    /// Per error class: count, an example, the fix, the columns involved.
    pub rejections: crate::report::RejectionSummary,
    /// How the input was read: format, sheet, encoding and why, lines skipped.
    pub reading: crate::source::SourceReport,
    /// What the mapping decided, counted over the rows validated in this session.
    pub mapping: crate::mapping::MappingSummary,
}

/// What one session (process) of a run did.
#[derive(Debug, Default, Serialize)]
pub struct SessionStats {
    /// When it started (RFC 3339).
    pub started_at: String,
    /// Wall time in milliseconds.
    pub duration_ms: u64,
    /// Whether it continued an earlier session.
    pub resumed: bool,
    /// Rows skipped because an earlier session settled them.
    pub rows_skipped: u64,
    /// The session's counters.
    #[serde(flatten)]
    pub counts: Counts,
    /// Pauses ordered by the server.
    pub pauses: u64,
    /// Answers whose `RateLimit` headers showed another client spending the key's budget.
    pub shared_budget_signals: u64,
    /// Requests allowed per window.
    pub rate: u32,
    /// The window, in seconds.
    pub rate_window_secs: f64,
    /// Requests sent as a share of what the quota allowed over the session's sending time.
    pub quota_used: f64,
    /// The rate policy kept: `--rate`/`--rate-window`, and the server's stricter ones.
    pub rate_policy: Option<crate::pacing::RatePolicy>,
    /// Leads accepted per minute over the session.
    pub leads_per_minute: f64,
}

/// The `summary.json` of a dry run (also printed with `--json`).
#[derive(Debug, Serialize)]
pub struct DryRunSummary {
    /// Always `import`.
    pub command: &'static str,
    /// Always true.
    pub dry_run: bool,
    /// The exit code (the one the run would have, with everything accepted).
    pub exit_code: u8,
    /// The input file.
    pub input: PathBuf,
    /// Data rows read.
    pub rows_read: u64,
    /// Leads that would be sent: `new + changed`.
    pub would_send: u64,
    /// Of those, leads the state file does not know.
    pub new: u64,
    /// Of those, leads whose payload changed.
    pub changed: u64,
    /// Valid rows that would not be sent.
    pub unchanged: u64,
    /// Rows rejected.
    pub rejected: u64,
    /// Sync requests the leads would take.
    pub requests: u64,
    /// What `--delete-missing` would do.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub deletion: Option<Deletion>,
    /// Rejected rows by class.
    pub rejected_by_class: serde_json::Map<String, serde_json::Value>,
    /// Why the exit code is 4, if it is.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// The report files.
    pub reports: ReportPaths,
    /// Per error class: count, an example, the fix, the columns involved.
    pub rejections: crate::report::RejectionSummary,
    /// How the input was read.
    pub reading: crate::source::SourceReport,
}

/// How a run (or a dry run) ended, as far as the exit code goes.
pub(super) struct Ending<'a> {
    /// The run's status.
    pub status: RunStatus,
    /// Rows rejected, every session.
    pub rejected: u64,
    /// Rows read, every session.
    pub rows_read: u64,
    /// What `--delete-missing` did.
    pub deletion: Option<&'a Deletion>,
    /// Whether the input changed while it was read.
    pub input_changed: bool,
    /// Why the run stopped early, if it did.
    pub message: Option<String>,
}

/// The exit code of an ending and the message that explains it: one rule for the run and
/// the dry run.
pub(super) fn verdict(cfg: &ImportConfig, ending: Ending<'_>) -> (u8, Option<String>) {
    let over_rejects = cfg
        .max_rejects
        .is_some_and(|budget| budget.exceeded(ending.rejected, ending.rows_read));
    let deletion_refused = ending.deletion.is_some_and(|d| d.refused.is_some());
    let code = match ending.status {
        RunStatus::Interrupted => exit::INTERRUPTED,
        _ if ending.input_changed => exit::FATAL,
        RunStatus::Stopped | RunStatus::Incomplete | RunStatus::Running | RunStatus::Abandoned => {
            exit::FATAL
        }
        RunStatus::Done if over_rejects || deletion_refused => exit::BUDGET,
        RunStatus::Done if ending.rejected == 0 => exit::SUCCESS,
        RunStatus::Done => exit::REJECTED,
    };
    let mut message = ending.message;
    if over_rejects {
        message = Some(format!(
            "{} rows rejected, more than --max-rejects {} allows",
            ending.rejected,
            cfg.max_rejects.map_or(String::new(), |b| match b {
                RejectBudget::Rows(n) => n.to_string(),
                RejectBudget::Share(p) => format!("{}%", p * 100.0),
            })
        ));
    }
    if let Some(refused) = ending.deletion.and_then(|d| d.refused.clone()) {
        message = Some(refused);
    }
    if ending.input_changed {
        message = Some(format!(
            "`{}` changed while it was being read (its size or modification time is not what it was when the run started): what was read is imported and recorded, but it may mix old and new content{}. Check the file, then import it again (add --restart if nl-import says the file has changed)",
            cfg.input.csv.display(),
            if cfg.delete_missing {
                "; --delete-missing was skipped"
            } else {
                ""
            }
        ));
    }
    (code, message)
}

/// Writes the human summary (stdout) and the class table and message (stderr), or the
/// JSON summary with `--json`; with `--log-format json`, stderr has the summary's figures
/// as an event too.
pub(super) fn print(
    cfg: &ImportConfig,
    summary: &ImportSummary,
    counts: &ClassCounts,
    stdout: &mut dyn Write,
    stderr: &mut dyn Write,
) -> Result<()> {
    if !cfg.quiet && counts.total_rows() > 0 {
        output::rejects(counts).write_to(stderr)?;
    }
    if !cfg.quiet {
        for line in summary.mapping.notices() {
            Event::info("mapping_note", line.clone())
                .with_text(format!("note: {line}"))
                .write_to(stderr)?;
        }
    }
    if let Some(message) = &summary.message {
        let level = match summary.exit_code {
            exit::FATAL => Level::Error,
            _ => Level::Warn,
        };
        Event::new(level, "outcome", format!("nl-import: {message}"))
            .with("exit_code", summary.exit_code)
            .write_to(stderr)?;
    }
    if summary.resumable && summary.status != RunStatus::Done {
        Event::info(
            "resumable",
            format!(
                "nl-import: run #{} is resumable: run the same command again to continue",
                summary.run_id
            ),
        )
        .with("run_id", summary.run_id)
        .write_to(stderr)?;
    }
    if output::is_json() && !cfg.quiet {
        summary_event(summary).write_to(stderr)?;
    }
    if cfg.input.json {
        serde_json::to_writer_pretty(&mut *stdout, summary)?;
        writeln!(stdout)?;
        return Ok(());
    }
    let s = &summary.session;
    writeln!(
        stdout,
        "imported {} (run #{}, {}): {} rows read = {} imported + {} unchanged + {} rejected + {} pending",
        summary.input.display(),
        summary.run_id,
        summary.status.as_str(),
        summary.rows_read,
        summary.imported,
        summary.unchanged,
        summary.rejected,
        summary.pending
    )?;
    writeln!(
        stdout,
        "sent this session: {} new, {} changed",
        summary.new, summary.changed
    )?;
    if let Some(d) = &summary.deletion {
        print_deletion(d, stdout)?;
    }
    writeln!(
        stdout,
        "session: {} requests ({} retries, {} throttled, {} splits), {:.0} leads/min, quota used {:.0}%, {:.1}s",
        s.counts.requests,
        s.counts.retries,
        s.counts.throttled,
        s.counts.splits,
        s.leads_per_minute,
        s.quota_used * 100.0,
        s.duration_ms as f64 / 1000.0
    )?;
    summary.reports.write_lines(stdout, true)?;
    Ok(())
}

/// The figures of `--metrics-file` (the exit code, duration and times are added when it is
/// written).
pub(super) fn metrics(cfg: &ImportConfig, summary: &ImportSummary) -> Metrics {
    let mut m = Metrics::new("import", Some(cfg.source.as_deref().unwrap_or_default()));
    let s = &summary.session;
    m.gauge(
        "rows_read",
        "Data rows read in the run, every session (imported + unchanged + rejected + pending).",
        summary.rows_read as f64,
    )
    .gauge(
        "rows_imported",
        "Leads the API accepted in the run.",
        summary.imported as f64,
    )
    .gauge(
        "rows_unchanged",
        "Valid rows not sent because the API already holds the same payload.",
        summary.unchanged as f64,
    )
    .gauge(
        "rows_pending",
        "Rows read but not settled (a resume sends them).",
        summary.pending as f64,
    );
    m.rejected_by_class(&summary.rejected_by_class);
    m.gauge(
        "leads_new",
        "Leads accepted in the last session that the state file did not know.",
        summary.new as f64,
    )
    .gauge(
        "leads_changed",
        "Leads accepted in the last session whose payload had changed.",
        summary.changed as f64,
    )
    .gauge(
        "requests",
        "Requests sent in the last session, retries included.",
        s.counts.requests as f64,
    )
    .gauge(
        "throttled_requests",
        "Answers 429 (Too Many Requests) in the last session; should stay 0.",
        s.counts.throttled as f64,
    )
    .gauge(
        "retries",
        "Attempts after the first in the last session.",
        s.counts.retries as f64,
    )
    .gauge(
        "transport_errors",
        "Connections refused or dropped and timeouts in the last session.",
        s.counts.transport_errors as f64,
    )
    .gauge(
        "quota_used_ratio",
        "Requests sent as a share of what the rate limit allowed over the sending time.",
        s.quota_used,
    );
    if let Some(d) = &summary.deletion {
        m.gauge(
            "leads_deleted",
            "Leads --delete-missing deleted in the last session.",
            d.deleted as f64,
        );
    }
    m
}

/// The summary's figures as a stderr event (for `--log-format json`, where a log shipper
/// may be all that reads the run).
fn summary_event(summary: &ImportSummary) -> Event {
    let s = &summary.session;
    Event::new(
        if summary.exit_code == exit::FATAL {
            Level::Error
        } else {
            Level::Info
        },
        "summary",
        format!(
            "run #{} {}: {} rows read = {} imported + {} unchanged + {} rejected + {} pending",
            summary.run_id,
            summary.status.as_str(),
            summary.rows_read,
            summary.imported,
            summary.unchanged,
            summary.rejected,
            summary.pending
        ),
    )
    .with("command", summary.command)
    .with("run_id", summary.run_id)
    .with("status", summary.status)
    .with("exit_code", summary.exit_code)
    .with("input", &summary.input)
    .with("rows_read", summary.rows_read)
    .with("rows_settled", summary.rows_read - summary.pending)
    .with("imported", summary.imported)
    .with("unchanged", summary.unchanged)
    .with("rejected", summary.rejected)
    .with("pending", summary.pending)
    .with("rejected_by_class", &summary.rejected_by_class)
    .with("requests", s.counts.requests)
    .with("throttled", s.counts.throttled)
    .with("quota_used", s.quota_used)
    .with("duration_ms", s.duration_ms)
    .with("summary_json", &summary.reports.summary_json)
}

fn print_deletion(d: &Deletion, stdout: &mut dyn Write) -> Result<()> {
    let mut line = format!(
        "deleted: {} of {} leads missing from the export ({} known)",
        d.deleted, d.missing, d.known
    );
    if d.not_found > 0 {
        line.push_str(&format!(
            "; {} not found in the account (deleted there already)",
            d.not_found
        ));
    }
    if d.kept_without_payload > 0 {
        line.push_str(&format!(
            "; {} kept: recorded by an older nl-import without the payload that would restore them (a --full run records it)",
            d.kept_without_payload
        ));
    }
    writeln!(stdout, "{line}")?;
    if let Some(file) = &d.file {
        writeln!(
            stdout,
            "undo:    nl-import import {} (with the same --source) restores them",
            file.display()
        )?;
    }
    Ok(())
}

/// Writes the dry run's summary: JSON with `--json`, else a few lines.
pub(super) fn print_dry_run(
    cfg: &ImportConfig,
    summary: &DryRunSummary,
    counts: &ClassCounts,
    stdout: &mut dyn Write,
    stderr: &mut dyn Write,
) -> Result<()> {
    if !cfg.quiet && summary.rejected > 0 {
        output::rejects(counts).write_to(stderr)?;
    }
    if let Some(message) = &summary.message {
        Event::warn("outcome", format!("nl-import: {message}"))
            .with("exit_code", summary.exit_code)
            .write_to(stderr)?;
    }
    if cfg.input.json {
        serde_json::to_writer_pretty(&mut *stdout, summary)?;
        writeln!(stdout)?;
        return Ok(());
    }
    writeln!(
        stdout,
        "dry run of {}: {} rows read; would send {} leads ({} new, {} changed) in {} requests; {} unchanged; {} rejected",
        cfg.input.csv.display(),
        summary.rows_read,
        summary.would_send,
        summary.new,
        summary.changed,
        summary.requests,
        summary.unchanged,
        summary.rejected
    )?;
    if let Some(d) = &summary.deletion {
        writeln!(
            stdout,
            "would delete {} of {} known leads{}",
            d.deleted,
            d.known,
            d.refused
                .as_deref()
                .map_or(String::new(), |r| format!(" ({r})"))
        )?;
        if let Some(file) = &d.file {
            writeln!(stdout, "preview: {}", file.display())?;
        }
    }
    summary.reports.write_lines(stdout, false)?;
    Ok(())
}
