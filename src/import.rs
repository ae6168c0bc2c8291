//! `nl-import import`: the whole pipeline, from file to Naturalead. A reader thread runs the
//! validation [`Pipeline`] and cuts valid leads into batches; upload tasks send them, paced
//! and retried; the coordinating task commits each outcome to the [`Checkpoint`], moves the
//! frontier, and handles Ctrl-C and fatal answers. Reports are written from the state file
//! at the end, so a resumed run reports every row of the file, not just its own.

use std::collections::BTreeSet;
use std::io::{IsTerminal, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime};

use anyhow::{Context, Result, anyhow, bail};
use csv::ByteRecord;
use serde::Serialize;
use tokio::sync::{Notify, mpsc};
use tokio::task::JoinSet;

use crate::checkpoint::{BatchRecord, Checkpoint, RunCounters, RunSpec, RunStatus};
use crate::config::{ImportConfig, Target};
use crate::exit;
use crate::fsutil::create_private_dir;
use crate::lead::{ErrorClass, Problem};
use crate::lock::{LockError, RunLock};
use crate::mapping::Mapping;
use crate::pacing::Pacer;
use crate::pipeline::{IndexKeys, Outcome, Pipeline};
use crate::report::{ClassCounts, RejectedRow, RejectionSummary, ReportPaths, write_json};
use crate::source::{FieldDecoder, SourceError};
use crate::upload::{ApiKey, BatchLead, Settled, Stop, UploadSettings, Uploader};
use rustc_hash::FxHashMap;

/// Local rejections buffered before they are committed without a batch outcome.
const REJECTION_FLUSH: usize = 4096;

/// A batch on its way from the reader to an upload task.
#[derive(Debug)]
struct PendingBatch {
    /// Set by the coordinator when it dispatches the batch.
    seq: u64,
    leads: Vec<BatchLead>,
    keys: Vec<IndexKeys>,
    records: Vec<ByteRecord>,
    /// Payload hash of each lead (the delta state once accepted).
    hashes: Vec<u64>,
    /// Whether each lead is new to the delta state (else changed).
    new: Vec<bool>,
}

impl PendingBatch {
    fn first_row(&self) -> u64 {
        self.leads.first().map_or(u64::MAX, |l| l.row)
    }
}

/// What the reader thread hands over.
enum Handover {
    /// Rows in file order: rejections, maybe a full batch, and the lowest row not yet
    /// handed over (everything before it is in this or an earlier handover).
    Rows {
        rejections: Vec<RejectedRow>,
        batch: Option<PendingBatch>,
        /// Valid rows whose payload the API already holds: not sent.
        unchanged: Vec<(u64, IndexKeys)>,
        /// `lead_id`s in the export that are not in `batch` (unchanged and rejected rows).
        seen: Vec<String>,
        low_water: u64,
        last_row: u64,
    },
    /// The end of the file (or of reading): rows read in all, and a read error if any.
    End {
        rows_read: u64,
        error: Option<SourceError>,
    },
}

/// Live counters for the progress display.
#[derive(Debug, Default)]
struct Progress {
    read: AtomicU64,
    imported: AtomicU64,
    unchanged: AtomicU64,
    rejected: AtomicU64,
}

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
    pub rejections: RejectionSummary,
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
    /// Leads settled by the API in this session (accepted or refused).
    pub leads_sent: u64,
    /// Leads accepted in this session.
    pub leads_imported: u64,
    /// Requests sent (every attempt).
    pub requests: u64,
    /// Attempts after the first.
    pub retries: u64,
    /// 429 answers.
    pub throttled: u64,
    /// Batches split after a whole-request refusal.
    pub splits: u64,
    /// Answers that did not account for every lead (sent again).
    pub unknown_outcomes: u64,
    /// Transport errors.
    pub transport_errors: u64,
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

/// Runs an import; returns the exit code.
pub fn run(cfg: &ImportConfig, stdout: &mut dyn Write, stderr: &mut dyn Write) -> Result<u8> {
    let started_at = humantime::format_rfc3339_seconds(SystemTime::now()).to_string();
    let started = Instant::now();
    let input = &cfg.input;
    let (source, mapping, validator) = input.open()?;
    let reading = source.report();
    if !cfg.quiet {
        for notice in reading
            .get()
            .opening_notices(&input.csv.display().to_string())
        {
            writeln!(stderr, "{notice}")?;
        }
    }
    if input.print_mapping {
        write!(stdout, "{}", mapping.table(input.default_region))?;
        return Ok(exit::SUCCESS);
    }
    if !cfg.quiet {
        write!(stderr, "{}", mapping.brief(input.default_region))?;
    }
    let mapping_stats = validator.stats();
    // Reports are written at the end: find out now, before anything is sent, whether they
    // can be written at all.
    probe_report_dir(&input.report_dir).context(
        "nothing was sent: the report directory cannot be written (fix --report-dir or its permissions, then run the same command again)",
    )?;
    let input_path = std::fs::canonicalize(&input.csv)
        .with_context(|| format!("cannot open `{}`", input.csv.display()))?;
    let stamp = InputStamp::take(&input_path);
    let (fingerprint, line_estimate) = fingerprint(&input_path)?;
    let api_label = match &cfg.target {
        Target::Sandbox => "sandbox".to_owned(),
        Target::Api { base_url, .. } => base_url.clone(),
    };
    let config = describe_config(cfg, &mapping, &source, &api_label);
    let spec = RunSpec {
        input: input_path.display().to_string(),
        fingerprint,
        config_hash: format!("{:032x}", xxhash_rust::xxh3::xxh3_128(config.as_bytes())),
        config,
        scope: format!("{api_label}|{}", cfg.source.as_deref().unwrap_or("")),
    };
    let id_column = mapping.column_of(&crate::mapping::Target::LeadId);
    if cfg.dry_run {
        return dry_run(
            cfg,
            &spec,
            id_column,
            (source, &mapping, validator),
            stdout,
            stderr,
        );
    }

    // One run at a time per state file; a lock left by a killed run is taken over.
    if let Some(dir) = cfg.state.parent().filter(|d| !d.as_os_str().is_empty()) {
        create_private_dir(dir)
            .with_context(|| format!("cannot create the state directory `{}`", dir.display()))?;
    }
    let _lock = match RunLock::acquire(&cfg.state) {
        Ok(lock) => {
            if let Some(stale) = &lock.stale {
                tracing::warn!(
                    "taking over the lock `{}` left by a run that ended without releasing it ({stale})",
                    lock.path().display()
                );
            }
            lock
        }
        Err(LockError::Held(holder)) => {
            writeln!(
                stderr,
                "nl-import: another run is using `{}` ({}); nothing was done. Wait for it to finish, or use another --state file",
                cfg.state.display(),
                if holder.is_empty() {
                    "starting up"
                } else {
                    &holder
                }
            )?;
            return Ok(exit::LOCKED);
        }
        Err(LockError::Io(e)) => return Err(e),
    };
    let mut checkpoint = Checkpoint::open(&cfg.state)?;
    let (run_id, resume) = match checkpoint.unfinished_run(&spec.input)? {
        Some(run) if cfg.restart => {
            checkpoint.abandon(run.id)?;
            (checkpoint.begin_run(&spec)?, None)
        }
        Some(run) if run.fingerprint == spec.fingerprint && run.config_hash == spec.config_hash => {
            let state = checkpoint.resume(run.id, validator.has_id_column())?;
            (run.id, Some(state))
        }
        Some(run) => {
            let what = if run.fingerprint != spec.fingerprint {
                "the file has changed since"
            } else {
                "the configuration (mapping, region, encoding, delimiter, source or API URL) differs from"
            };
            bail!(
                "`{}` holds an unfinished run (#{}, started {}, {} rows imported) of `{}`, and {what} that run. \
                 Run the same command as then to finish it, pass --restart to abandon it and start over, \
                 or use another --state file",
                cfg.state.display(),
                run.id,
                run.started_at,
                run.imported,
                spec.input
            );
        }
        None => (checkpoint.begin_run(&spec)?, None),
    };
    let resumed = resume.is_some();
    let resume = resume.unwrap_or_default();
    let decoder = source.decoder();
    let headers = source.headers().to_vec();
    let index = if resumed {
        resume.index
    } else {
        crate::pipeline::DuplicateIndex::new(validator.has_id_column())
    };
    let skip = resume.skip;
    let earlier = resume.counters;
    let delta = if cfg.full {
        None
    } else {
        Some(checkpoint.delta_hashes(&spec.scope)?)
    };
    if resumed && !cfg.quiet {
        writeln!(
            stderr,
            "resuming run #{run_id}: {} leads imported and {} rows rejected before; rows up to {} are settled",
            resume.imported, resume.rejected, skip.through
        )?;
    }
    let pipeline = Pipeline::resume(source, validator, input.threads, index, skip);

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    let mut session = SessionStats {
        started_at,
        resumed,
        rate: cfg.pace.rate,
        rate_window_secs: cfg.pace.window.as_secs_f64(),
        ..SessionStats::default()
    };
    let progress = Arc::new(Progress::default());
    progress.imported.store(resume.imported, Ordering::Relaxed);
    progress.rejected.store(resume.rejected, Ordering::Relaxed);
    let outcome = runtime.block_on(async {
        let sandbox = match &cfg.target {
            Target::Sandbox => Some(
                naturalead_sandbox::Sandbox::start(naturalead_sandbox::Config::default())
                    .await
                    .context("cannot start the sandbox")?,
            ),
            Target::Api { .. } => None,
        };
        let (base_url, key) = match (&cfg.target, &sandbox) {
            (Target::Api { base_url, key }, _) => (base_url.clone(), key.clone()),
            (Target::Sandbox, Some(sb)) => (sb.base_url(), ApiKey::new(sb.test_key())),
            (Target::Sandbox, None) => unreachable!("started above"),
        };
        let coordinator = Coordinator {
            cfg,
            checkpoint: &mut checkpoint,
            run_id,
            decoder,
            progress: Arc::clone(&progress),
            earlier,
            next_seq: resume.next_seq,
            reader: Some(ReaderSetup {
                batch_size: cfg.batch_size,
                delta,
                id_column,
            }),
            scope: spec.scope.clone(),
            buffered: Collected::default(),
            new: 0,
            changed: 0,
            stamp: &stamp,
        };
        let outcome = coordinator
            .run(pipeline, base_url, key, line_estimate, stderr)
            .await;
        if let Some(sb) = sandbox {
            let leads = sb.state().leads().len();
            if !cfg.quiet && outcome.is_ok() {
                let _ = writeln!(
                    stderr,
                    "sandbox: now holds {leads} leads (it stops with this process)"
                );
            }
            sb.shutdown().await;
        }
        outcome
    })?;
    drop(runtime);

    // A file that changed while it was read (an export still being written) may have mixed
    // old and new content: say so, and let a person look.
    let input_changed = stamp.changed();
    // The run is recorded; if its report cannot be written (a full disk), say what holds.
    let report_failed = |e: anyhow::Error| {
        e.context(format!(
            "run #{run_id} is recorded in the state file `{}` ({}), but its report could not be written; make room or fix --report-dir, then run the same command again (leads the API already holds unchanged are not sent again)",
            cfg.state.display(),
            outcome.status.as_str()
        ))
    };

    // Reports from the state file: every rejected row of the run, every session.
    let (rejected_csv, counts) = (|| -> Result<_> {
        let mut report = input.open_report(&headers, &mapping)?;
        // The state file does not keep line numbers: read them from the input again.
        if !input_changed && let Ok(again) = crate::source::Source::open(&input.csv, &input.source)
        {
            report.find_lines_in(again);
        }
        checkpoint.for_each_rejection(run_id, |row| {
            report.add(&row).context("cannot write the report")
        })?;
        report.finish().context("cannot write rejected.csv")
    })()
    .map_err(report_failed)?;
    let info = checkpoint
        .runs()?
        .into_iter()
        .find(|r| r.id == run_id)
        .ok_or_else(|| anyhow!("run #{run_id} vanished from the state file"))?;

    let elapsed = started.elapsed();
    session.duration_ms = u64::try_from(elapsed.as_millis()).unwrap_or(u64::MAX);
    session.rows_skipped = outcome.rows_skipped;
    session.leads_sent = outcome.leads_settled;
    session.leads_imported = outcome.leads_imported;
    session.requests = outcome.requests;
    session.retries = outcome.retries;
    session.throttled = outcome.throttled;
    session.splits = outcome.splits;
    session.unknown_outcomes = outcome.unknown_outcomes;
    session.transport_errors = outcome.transport_errors;
    session.pauses = outcome.pauses;
    session.shared_budget_signals = outcome.shared_budget_signals;
    session.quota_used = outcome.quota_used;
    session.rate_policy = Some(outcome.rate_policy.clone());
    session.leads_per_minute =
        outcome.leads_imported as f64 * 60.0 / elapsed.as_secs_f64().max(1e-9);

    let rejected = counts.total_rows();
    let rows_read = outcome.rows_read.max(info.frontier);
    let settled = info.imported + info.unchanged + rejected;
    let rows_read = rows_read.max(settled);
    let over_rejects = cfg
        .max_rejects
        .is_some_and(|budget| budget.exceeded(rejected, rows_read));
    let deletion_refused = outcome
        .deletion
        .as_ref()
        .is_some_and(|d| d.refused.is_some());
    let exit_code = match outcome.status {
        RunStatus::Interrupted => exit::INTERRUPTED,
        _ if input_changed => exit::FATAL,
        RunStatus::Stopped | RunStatus::Incomplete | RunStatus::Running | RunStatus::Abandoned => {
            exit::FATAL
        }
        RunStatus::Done if over_rejects || deletion_refused => exit::BUDGET,
        RunStatus::Done if rejected == 0 => exit::SUCCESS,
        RunStatus::Done => exit::REJECTED,
    };
    let mut message = outcome.message.clone();
    if over_rejects {
        message = Some(format!(
            "{rejected} rows rejected, more than --max-rejects {} allows",
            cfg.max_rejects.map_or(String::new(), |b| match b {
                crate::config::RejectBudget::Rows(n) => n.to_string(),
                crate::config::RejectBudget::Share(p) => format!("{}%", p * 100.0),
            })
        ));
    }
    if let Some(refused) = outcome.deletion.as_ref().and_then(|d| d.refused.clone()) {
        message = Some(refused);
    }
    if input_changed {
        message = Some(format!(
            "`{}` changed while it was being read (its size or modification time is not what it was when the run started): what was read is imported and recorded, but it may mix old and new content{}. Check the file, then import it again (add --restart if nl-import says the file has changed)",
            input.csv.display(),
            if cfg.delete_missing {
                "; --delete-missing was skipped"
            } else {
                ""
            }
        ));
    }
    let reading = reading.get();
    if !cfg.quiet {
        for notice in reading.closing_notices(&input.csv.display().to_string()) {
            writeln!(stderr, "{notice}")?;
        }
    }
    let summary = ImportSummary {
        command: "import",
        run_id,
        status: outcome.status,
        resumable: outcome.status.resumable(),
        exit_code,
        dry_run: false,
        input: input.csv.clone(),
        api: api_label,
        rows_read,
        imported: info.imported,
        unchanged: info.unchanged,
        rejected,
        pending: rows_read - settled,
        new: outcome.new,
        changed: outcome.changed,
        deletion: outcome.deletion.clone(),
        rejected_by_class: counts.rows_by_class(),
        session,
        message,
        state_file: cfg.state.clone(),
        rejections: counts.summary(),
        reports: ReportPaths {
            rejected_xlsx: ReportPaths::xlsx_beside(&rejected_csv),
            rejected_csv,
            summary_json: input.report_dir.join("summary.json"),
            valid_jsonl: None,
        },
        reading,
        mapping: mapping.summary(&mapping_stats, input.default_region),
    };
    write_json(&summary.reports.summary_json, &summary)
        .context("cannot write summary.json")
        .map_err(report_failed)?;
    print_summary(cfg, &summary, &counts, stdout, stderr)?;
    Ok(exit_code)
}

/// Creates the report directory (owner-only) and a file in it, removed at once.
fn probe_report_dir(dir: &Path) -> Result<()> {
    create_private_dir(dir)
        .with_context(|| format!("cannot create report directory `{}`", dir.display()))?;
    let probe = crate::fsutil::AtomicFile::create(&dir.join("summary.json"))
        .with_context(|| format!("cannot write in `{}`", dir.display()))?;
    drop(probe);
    Ok(())
}

/// The input's size and modification time when the run started, to notice a file that
/// changes while it is read.
#[derive(Debug)]
struct InputStamp {
    path: PathBuf,
    stamp: Option<(u64, Option<SystemTime>)>,
}

impl InputStamp {
    fn take(path: &Path) -> InputStamp {
        InputStamp {
            path: path.to_owned(),
            stamp: std::fs::metadata(path)
                .ok()
                .map(|m| (m.len(), m.modified().ok())),
        }
    }

    /// Whether the file's size or modification time moved since [`InputStamp::take`].
    fn changed(&self) -> bool {
        InputStamp::take(&self.path).stamp != self.stamp
    }
}

/// `--dry-run`: reads, validates and compares with the delta state like an import, and
/// reports what would be sent and deleted. Sends nothing and changes no state.
fn dry_run(
    cfg: &ImportConfig,
    spec: &RunSpec,
    id_column: Option<usize>,
    (source, mapping, validator): (
        crate::source::Source,
        &crate::mapping::Mapping,
        crate::validate::Validator,
    ),
    stdout: &mut dyn Write,
    stderr: &mut dyn Write,
) -> Result<u8> {
    let input = &cfg.input;
    let checkpoint = if cfg.state.exists() {
        Some(Checkpoint::open_read_only(&cfg.state)?)
    } else {
        None
    };
    let delta = match (&checkpoint, cfg.full) {
        (Some(cp), false) => cp.delta_hashes(&spec.scope)?,
        _ => FxHashMap::default(),
    };
    let reading = source.report();
    let headers = source.headers().to_vec();
    let mut report = input.open_report(&headers, mapping)?;
    let mut seen: rustc_hash::FxHashSet<u128> = rustc_hash::FxHashSet::default();
    let (mut rows_read, mut new, mut changed, mut unchanged) = (0u64, 0u64, 0u64, 0u64);
    for checked in Pipeline::start(source, validator, input.threads) {
        let checked = checked?;
        rows_read += 1;
        match checked.outcome {
            Outcome::Valid(lead) => {
                let json = serde_json::to_string(&lead)?;
                let id = xxhash_rust::xxh3::xxh3_128(lead.lead_id.as_bytes());
                seen.insert(id);
                match delta.get(&id) {
                    Some(&hash) if hash == xxhash_rust::xxh3::xxh3_64(json.as_bytes()) => {
                        unchanged += 1;
                    }
                    Some(_) => changed += 1,
                    None => new += 1,
                }
            }
            Outcome::Rejected { problems, original } => {
                if let Some(id) = id_column.and_then(|c| original.get(c)) {
                    seen.insert(xxhash_rust::xxh3::xxh3_128(id.trim().as_bytes()));
                }
                report
                    .add(&RejectedRow {
                        row: checked.row,
                        line: checked.line,
                        problems,
                        original,
                    })
                    .context("cannot write the report")?;
            }
        }
    }
    let (rejected_csv, counts) = report.finish().context("cannot write rejected.csv")?;
    let rejected = counts.total_rows();
    let send = new + changed;
    let requests = send.div_ceil(cfg.batch_size as u64);
    let mut deletion = None;
    if cfg.delete_missing {
        // The delta state knows every lead the API accepted for this source.
        let known = delta.len() as u64;
        let missing = delta.keys().filter(|id| !seen.contains(*id)).count() as u64;
        let ratio = if known == 0 {
            0.0
        } else {
            missing as f64 / known as f64
        };
        deletion = Some(Deletion {
            known,
            missing,
            deleted: 0,
            refused: (ratio > cfg.max_delete_ratio).then(|| {
                format!(
                    "--delete-missing would be refused: {missing} of {known} known leads ({:.1}%) are not in this export, more than --max-delete-ratio {:.1}%",
                    ratio * 100.0,
                    cfg.max_delete_ratio * 100.0
                )
            }),
        });
    }
    let summary = serde_json::json!({
        "command": "import",
        "dry_run": true,
        "input": input.csv,
        "rows_read": rows_read,
        "would_send": send,
        "new": new,
        "changed": changed,
        "unchanged": unchanged,
        "rejected": rejected,
        "requests": requests,
        "deletion": deletion,
        "rejected_by_class": counts.rows_by_class(),
        "reports": {
            "rejected_csv": rejected_csv,
            "rejected_xlsx": ReportPaths::xlsx_beside(&rejected_csv),
            "summary_json": input.report_dir.join("summary.json"),
        },
        "rejections": counts.summary(),
        "reading": reading.get(),
    });
    write_json(&input.report_dir.join("summary.json"), &summary)
        .context("cannot write summary.json")?;
    if !cfg.quiet && rejected > 0 {
        write!(stderr, "{}", counts.table())?;
    }
    if input.json {
        serde_json::to_writer_pretty(&mut *stdout, &summary)?;
        writeln!(stdout)?;
    } else {
        writeln!(
            stdout,
            "dry run of {}: {rows_read} rows read; would send {send} leads ({new} new, {changed} changed) in {requests} requests; {unchanged} unchanged; {rejected} rejected",
            input.csv.display()
        )?;
        if let Some(d) = &deletion {
            writeln!(
                stdout,
                "would delete {} of {} known leads{}",
                if d.refused.is_some() { 0 } else { d.missing },
                d.known,
                d.refused
                    .as_deref()
                    .map_or(String::new(), |r| format!(" ({r})"))
            )?;
        }
        writeln!(stdout, "report:  {}", rejected_csv.display())?;
    }
    let refused = deletion.as_ref().is_some_and(|d| d.refused.is_some());
    let over_rejects = cfg
        .max_rejects
        .is_some_and(|budget| budget.exceeded(rejected, rows_read));
    Ok(if refused || over_rejects {
        exit::BUDGET
    } else if rejected > 0 {
        exit::REJECTED
    } else {
        exit::SUCCESS
    })
}

fn print_summary(
    cfg: &ImportConfig,
    summary: &ImportSummary,
    counts: &ClassCounts,
    stdout: &mut dyn Write,
    stderr: &mut dyn Write,
) -> Result<()> {
    if !cfg.quiet && counts.total_rows() > 0 {
        write!(stderr, "{}", counts.table())?;
    }
    if !cfg.quiet {
        for line in summary.mapping.notices() {
            writeln!(stderr, "note: {line}")?;
        }
    }
    if let Some(message) = &summary.message {
        writeln!(stderr, "nl-import: {message}")?;
    }
    if summary.resumable && summary.status != RunStatus::Done {
        writeln!(
            stderr,
            "nl-import: run #{} is resumable: run the same command again to continue",
            summary.run_id
        )?;
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
        writeln!(
            stdout,
            "deleted: {} of {} leads missing from the export ({} known)",
            d.deleted, d.missing, d.known
        )?;
    }
    writeln!(
        stdout,
        "session: {} requests ({} retries, {} throttled, {} splits), {:.0} leads/min, quota used {:.0}%, {:.1}s",
        s.requests,
        s.retries,
        s.throttled,
        s.splits,
        s.leads_per_minute,
        s.quota_used * 100.0,
        s.duration_ms as f64 / 1000.0
    )?;
    writeln!(
        stdout,
        "report:  {}",
        summary.reports.rejected_csv.display()
    )?;
    writeln!(
        stdout,
        "workbook: {}",
        summary.reports.rejected_xlsx.display()
    )?;
    writeln!(
        stdout,
        "summary: {}",
        summary.reports.summary_json.display()
    )?;
    Ok(())
}

/// What the coordinator ended with.
#[derive(Debug)]
struct SessionOutcome {
    status: RunStatus,
    message: Option<String>,
    rows_read: u64,
    rows_skipped: u64,
    leads_settled: u64,
    leads_imported: u64,
    requests: u64,
    retries: u64,
    throttled: u64,
    splits: u64,
    unknown_outcomes: u64,
    transport_errors: u64,
    pauses: u64,
    shared_budget_signals: u64,
    quota_used: f64,
    rate_policy: crate::pacing::RatePolicy,
    new: u64,
    changed: u64,
    deletion: Option<Deletion>,
}

/// What `--delete-missing` did.
#[derive(Debug, Clone, Serialize)]
pub struct Deletion {
    /// Leads of the source the state file knew of.
    pub known: u64,
    /// Those not in this export.
    pub missing: u64,
    /// Those deleted.
    pub deleted: u64,
    /// Why nothing (or not everything) was deleted.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refused: Option<String>,
}

struct Coordinator<'a> {
    cfg: &'a ImportConfig,
    checkpoint: &'a mut Checkpoint,
    run_id: i64,
    decoder: FieldDecoder,
    progress: Arc<Progress>,
    earlier: RunCounters,
    next_seq: u64,
    /// The reader's settings (taken when it starts).
    reader: Option<ReaderSetup>,
    /// The delta scope, for `--delete-missing`.
    scope: String,
    /// Settled rows not committed yet: rejections, unchanged rows, `lead_id`s seen.
    buffered: Collected,
    /// New and changed leads accepted in this session.
    new: u64,
    changed: u64,
    /// The input as it was when the run started (no deleting after it changed).
    stamp: &'a InputStamp,
}

/// The result of one upload task.
type TaskResult = (PendingBatch, Result<Vec<Settled>, Stop>, u64);

impl Coordinator<'_> {
    async fn run(
        mut self,
        mut pipeline: Pipeline,
        base_url: String,
        key: ApiKey,
        line_estimate: u64,
        stderr: &mut dyn Write,
    ) -> Result<SessionOutcome> {
        let cfg = self.cfg;
        let interrupted = Arc::new(AtomicBool::new(false));
        let interrupt = Arc::new(Notify::new());
        let signals = tokio::spawn(watch_signals(
            Arc::clone(&interrupted),
            Arc::clone(&interrupt),
        ));
        let pacer = Arc::new(Pacer::new(cfg.pace));
        let uploader = Arc::new(
            Uploader::new(
                UploadSettings {
                    base_url,
                    key,
                    source: cfg.source.clone(),
                    timeout: cfg.timeout,
                    policy: cfg.policy,
                    concurrency: cfg.concurrency,
                    network: cfg.network.clone(),
                },
                Arc::clone(&pacer),
                Arc::clone(&interrupted),
            )
            .context("cannot set up the HTTP client")?,
        );

        // The reader: validation pipeline → handovers, on a blocking thread.
        let stopper = pipeline.stopper();
        let skipped = Arc::new(AtomicU64::new(0));
        let (tx, mut rx) = mpsc::channel::<Handover>(cfg.concurrency.max(2));
        let setup = self.reader.take().expect("the reader starts once");
        let reader_skipped = Arc::clone(&skipped);
        let reader_progress = Arc::clone(&self.progress);
        let reader = tokio::task::spawn_blocking(move || {
            read_batches(&mut pipeline, &tx, &setup, &reader_progress);
            reader_skipped.store(pipeline.rows_skipped(), Ordering::Relaxed);
        });
        let budget_hit = Arc::new(AtomicBool::new(false));
        let timer = cfg.max_duration.map(|limit| {
            let (interrupted, interrupt, hit) = (
                Arc::clone(&interrupted),
                Arc::clone(&interrupt),
                Arc::clone(&budget_hit),
            );
            tokio::spawn(async move {
                tokio::time::sleep(limit).await;
                hit.store(true, Ordering::SeqCst);
                interrupted.store(true, Ordering::SeqCst);
                interrupt.notify_one();
            })
        });

        let display = tokio::spawn(show_progress(
            Arc::clone(&self.progress),
            Arc::clone(&uploader),
            line_estimate,
            cfg.quiet,
        ));

        let sending_started = Instant::now();
        let mut tasks: JoinSet<TaskResult> = JoinSet::new();
        let mut in_flight: BTreeSet<(u64, u64)> = BTreeSet::new();
        let mut low_water = 1u64;
        let mut reading = true;
        let mut rows_read = 0u64;
        let mut read_error: Option<SourceError> = None;
        let mut stop: Option<Stop> = None;
        let mut leads_settled = 0u64;
        let mut leads_imported = 0u64;
        let mut gave_up = 0u64;

        loop {
            let stopping = stop.is_some() || interrupted.load(Ordering::Relaxed);
            if stopping && reading {
                stopper.stop();
                rx.close();
                reading = false;
            }
            if !reading && tasks.is_empty() {
                break;
            }
            tokio::select! {
                biased;
                () = interrupt.notified(), if !stopping => {
                    if !cfg.quiet {
                        let why = if budget_hit.load(Ordering::SeqCst) {
                            "time budget (--max-duration) reached"
                        } else {
                            "interrupted"
                        };
                        let _ = writeln!(
                            stderr,
                            "\n{why}: finishing the requests in flight (press Ctrl-C to quit at once)"
                        );
                    }
                }
                Some(joined) = tasks.join_next(), if !tasks.is_empty() => {
                    let (batch, result, attempts) = match joined {
                        Ok(done) => done,
                        // Aborted after a fatal answer: its rows stay pending.
                        Err(e) if e.is_cancelled() => continue,
                        Err(e) => return Err(anyhow!("an upload task failed: {e}")),
                    };
                    match result {
                        Ok(settled) => {
                            in_flight.remove(&(batch.first_row(), batch.seq));
                            let (record, api_rejections, accepted) =
                                self.settle(&batch, &settled, attempts);
                            leads_settled += record.accepted + record.refused;
                            leads_imported += accepted;
                            gave_up += record.gave_up;
                            self.buffered.rejections.extend(api_rejections);
                            let frontier = frontier(low_water, &in_flight);
                            self.commit(Some(record), frontier, &uploader)?;
                        }
                        Err(Stop::Interrupted) => {}
                        Err(other) => {
                            if stop.is_none() {
                                stop = Some(other);
                                // Nothing more is sent: settle what is known, leave the
                                // rest pending.
                                let frontier = frontier(low_water, &in_flight);
                                self.commit(None, frontier, &uploader)?;
                                tasks.abort_all();
                            }
                        }
                    }
                }
                handover = rx.recv(), if reading && tasks.len() < cfg.concurrency => {
                    match handover {
                        Some(Handover::Rows { rejections, batch, unchanged, seen, low_water: lw, last_row }) => {
                            rows_read = rows_read.max(last_row);
                            self.progress.rejected.fetch_add(rejections.len() as u64, Ordering::Relaxed);
                            self.progress.unchanged.fetch_add(unchanged.len() as u64, Ordering::Relaxed);
                            self.buffered.rejections.extend(rejections);
                            self.buffered.unchanged.extend(unchanged);
                            self.buffered.seen.extend(seen);
                            if let Some(mut batch) = batch {
                                batch.seq = self.next_seq;
                                self.next_seq += 1;
                                in_flight.insert((batch.first_row(), batch.seq));
                                let uploader = Arc::clone(&uploader);
                                tasks.spawn(async move {
                                    let (result, attempts) = uploader.send(&batch.leads, batch.seq).await;
                                    (batch, result, attempts)
                                });
                            }
                            low_water = lw;
                            if self.buffered.len() >= REJECTION_FLUSH {
                                let frontier = frontier(low_water, &in_flight);
                                self.commit(None, frontier, &uploader)?;
                            }
                        }
                        Some(Handover::End { rows_read: total, error }) => {
                            rows_read = rows_read.max(total);
                            read_error = error;
                            reading = false;
                            if read_error.is_none() {
                                low_water = total + 1;
                            }
                        }
                        None => reading = false,
                    }
                }
            }
        }
        // Whatever was buffered is settled: commit it with the final frontier.
        let frontier = frontier(low_water, &in_flight);
        self.commit(None, frontier, &uploader)?;
        let _ = reader.await;
        display.abort();
        if let Some(timer) = timer {
            timer.abort();
        }

        let was_interrupted = interrupted.load(Ordering::Relaxed);
        let complete_so_far = read_error.is_none() && stop.is_none() && !was_interrupted;
        let deletion =
            if cfg.delete_missing && complete_so_far && gave_up == 0 && !self.stamp.changed() {
                Some(self.delete_missing(&uploader, stderr).await?)
            } else {
                None
            };
        signals.abort();
        let was_interrupted = interrupted.load(Ordering::Relaxed);
        let complete = read_error.is_none() && stop.is_none() && !was_interrupted;
        let (status, message) = match (&stop, &read_error) {
            (Some(Stop::Auth { status, message }), _) => (
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
            (Some(Stop::NotFound(message)), _) => (
                RunStatus::Stopped,
                Some(format!(
                    "the API answered {message} for the sync endpoint: check --api-url (it should end in /api)"
                )),
            ),
            (Some(Stop::Unreachable(message)), _) => (
                RunStatus::Stopped,
                Some(format!(
                    "cannot reach {}: {message}. Every unsent row is still pending: run the same command again once it is fixed",
                    match &cfg.target {
                        Target::Api { base_url, .. } => base_url.as_str(),
                        Target::Sandbox => "the sandbox",
                    }
                )),
            ),
            (_, Some(error)) => (
                RunStatus::Interrupted,
                Some(format!("reading stopped: {error}")),
            ),
            _ if was_interrupted && budget_hit.load(Ordering::SeqCst) => (
                RunStatus::Interrupted,
                Some("stopped at the time budget (--max-duration)".to_owned()),
            ),
            _ if was_interrupted => (RunStatus::Interrupted, Some("interrupted".to_owned())),
            _ if gave_up > 0 => (
                RunStatus::Incomplete,
                Some(format!(
                    "{gave_up} leads were not accepted after {} attempts each (gave_up)",
                    cfg.policy.max_attempts
                )),
            ),
            _ => (RunStatus::Done, None),
        };
        debug_assert!(!complete || in_flight.is_empty());
        self.checkpoint.finish(
            self.run_id,
            status,
            complete.then_some(rows_read),
            message.as_deref(),
        )?;
        let sending = sending_started.elapsed();
        let requests = uploader.stats.requests.load(Ordering::Relaxed);
        // Over a time t the pace allows one request at once and one per period after it.
        let allowed = sending.as_secs_f64() / pacer.pace().period().as_secs_f64() + 1.0;
        Ok(SessionOutcome {
            status,
            message,
            rows_read,
            rows_skipped: skipped.load(Ordering::Relaxed),
            leads_settled,
            leads_imported,
            requests,
            retries: uploader.stats.retries.load(Ordering::Relaxed),
            throttled: uploader.stats.throttled.load(Ordering::Relaxed),
            splits: uploader.stats.splits.load(Ordering::Relaxed),
            unknown_outcomes: uploader.stats.unknown_outcomes.load(Ordering::Relaxed),
            transport_errors: uploader.stats.transport_errors.load(Ordering::Relaxed),
            pauses: pacer.stats.pauses.load(Ordering::Relaxed),
            shared_budget_signals: pacer.stats.shared_budget.load(Ordering::Relaxed),
            quota_used: (requests as f64 / allowed).min(1.0),
            rate_policy: pacer.policy(),
            new: self.new,
            changed: self.changed,
            deletion,
        })
    }

    /// `--delete-missing`: removes the leads of the scope that this run's export did not
    /// hold, unless they are too many.
    async fn delete_missing(
        &mut self,
        uploader: &Uploader,
        stderr: &mut dyn Write,
    ) -> Result<Deletion> {
        let (known, missing) = self.checkpoint.missing_count(&self.scope, self.run_id)?;
        let ratio = if known == 0 {
            0.0
        } else {
            missing as f64 / known as f64
        };
        let mut deletion = Deletion {
            known,
            missing,
            deleted: 0,
            refused: None,
        };
        if ratio > self.cfg.max_delete_ratio {
            deletion.refused = Some(format!(
                "--delete-missing refused: {missing} of the {known} leads imported for this source ({:.1}%) are not in this export, more than --max-delete-ratio {:.1}%. A truncated export? Nothing was deleted; check the file, or raise --max-delete-ratio if the shrink is real",
                ratio * 100.0,
                self.cfg.max_delete_ratio * 100.0
            ));
            return Ok(deletion);
        }
        while deletion.deleted < missing {
            let ids = self.checkpoint.missing(&self.scope, self.run_id, 100)?;
            if ids.is_empty() {
                break;
            }
            match uploader.delete(&ids).await {
                Ok(()) => {
                    self.checkpoint.forget(&self.scope, self.run_id, &ids)?;
                    deletion.deleted += ids.len() as u64;
                }
                Err(message) => {
                    let _ = writeln!(
                        stderr,
                        "nl-import: deleting missing leads stopped: {message}"
                    );
                    deletion.refused = Some(format!(
                        "deleting missing leads stopped after {} of {missing}: {message}",
                        deletion.deleted
                    ));
                    break;
                }
            }
        }
        Ok(deletion)
    }

    /// Turns a batch's per-lead outcome into what is committed: the batch record and the
    /// rows the API refused or gave up on.
    fn settle(
        &mut self,
        batch: &PendingBatch,
        settled: &[Settled],
        attempts: u64,
    ) -> (BatchRecord, Vec<RejectedRow>, u64) {
        let mut record = BatchRecord {
            seq: batch.seq,
            leads: batch.leads.len() as u64,
            attempts,
            ..BatchRecord::default()
        };
        let mut rejections = Vec::new();
        for (i, outcome) in settled.iter().enumerate() {
            let lead = &batch.leads[i];
            let (class, message) = match outcome {
                Settled::Accepted => {
                    record.accepted += 1;
                    record.settled.push((lead.row, batch.keys[i]));
                    record
                        .accepted_leads
                        .push((lead.lead_id.clone(), batch.hashes[i]));
                    if batch.new[i] {
                        self.new += 1;
                    } else {
                        self.changed += 1;
                    }
                    continue;
                }
                Settled::Rejected(class, message) => {
                    record.refused += 1;
                    record.settled.push((lead.row, batch.keys[i]));
                    record.seen.push(lead.lead_id.clone());
                    (*class, message.clone())
                }
                Settled::GaveUp(message) => {
                    record.gave_up += 1;
                    record.seen.push(lead.lead_id.clone());
                    (ErrorClass::GaveUp, message.clone())
                }
            };
            let field = if class == ErrorClass::DuplicateInAccount {
                "phone"
            } else {
                ""
            };
            rejections.push(RejectedRow {
                row: lead.row,
                line: 0,
                problems: vec![Problem::new(class, field, message)],
                original: self.decoder.decode_lossy(&batch.records[i]),
            });
        }
        self.progress
            .imported
            .fetch_add(record.accepted, Ordering::Relaxed);
        self.progress
            .rejected
            .fetch_add(rejections.len() as u64, Ordering::Relaxed);
        let accepted = record.accepted;
        (record, rejections, accepted)
    }

    /// Commits a settled batch (if any) with everything buffered: rejections, and the
    /// unchanged rows and seen `lead_id`s as a record of their own.
    fn commit(
        &mut self,
        batch: Option<BatchRecord>,
        frontier: u64,
        uploader: &Uploader,
    ) -> Result<()> {
        let buffered = std::mem::take(&mut self.buffered);
        let mut records: Vec<BatchRecord> = batch.into_iter().collect();
        if !buffered.unchanged.is_empty() || !buffered.seen.is_empty() {
            records.push(BatchRecord {
                seq: self.next_seq,
                leads: buffered.unchanged.len() as u64,
                unchanged: buffered.unchanged.len() as u64,
                settled: buffered.unchanged,
                seen: buffered.seen,
                ..BatchRecord::default()
            });
            self.next_seq += 1;
        }
        let stats = &uploader.stats;
        let counters = RunCounters {
            requests: self.earlier.requests + stats.requests.load(Ordering::Relaxed),
            retries: self.earlier.retries + stats.retries.load(Ordering::Relaxed),
            throttled: self.earlier.throttled + stats.throttled.load(Ordering::Relaxed),
            splits: self.earlier.splits + stats.splits.load(Ordering::Relaxed),
        };
        self.checkpoint
            .commit(self.run_id, &records, &buffered.rejections, frontier, counters)
            .with_context(|| {
                format!(
                    "cannot write the state file `{}` (the run stays resumable from its last commit)",
                    self.checkpoint.path().display()
                )
            })?;
        Ok(())
    }
}

/// Every row before the reader's low-water mark and before the first row of the oldest
/// batch in flight is settled.
fn frontier(low_water: u64, in_flight: &BTreeSet<(u64, u64)>) -> u64 {
    let oldest = in_flight
        .iter()
        .map(|(row, _)| *row)
        .min()
        .unwrap_or(u64::MAX);
    low_water.min(oldest).saturating_sub(1)
}

/// The rows a reader thread has collected but not handed over yet.
#[derive(Default)]
struct Collected {
    rejections: Vec<RejectedRow>,
    unchanged: Vec<(u64, IndexKeys)>,
    seen: Vec<String>,
}

impl Collected {
    fn len(&self) -> usize {
        self.rejections.len() + self.unchanged.len()
    }

    fn is_empty(&self) -> bool {
        self.len() == 0 && self.seen.is_empty()
    }

    fn handover(&mut self, batch: Option<PendingBatch>, low_water: u64, last_row: u64) -> Handover {
        let taken = std::mem::take(self);
        Handover::Rows {
            rejections: taken.rejections,
            batch,
            unchanged: taken.unchanged,
            seen: taken.seen,
            low_water,
            last_row,
        }
    }
}

/// What the reader needs besides the pipeline.
struct ReaderSetup {
    batch_size: usize,
    /// Payload hashes the API accepted before, by `lead_id` hash; `None` sends everything.
    delta: Option<FxHashMap<u128, u64>>,
    /// The column holding `lead_id`s, to mark rejected rows as present in the export.
    id_column: Option<usize>,
}

/// The reader thread: pulls checked rows from the pipeline, serialises valid leads, sets
/// aside those the API already holds unchanged, cuts the rest into batches, and hands
/// everything over in file order.
fn read_batches(
    pipeline: &mut Pipeline,
    tx: &mpsc::Sender<Handover>,
    setup: &ReaderSetup,
    progress: &Progress,
) {
    let batch_size = setup.batch_size;
    let mut open: Option<PendingBatch> = None;
    let mut collected = Collected::default();
    let mut last_row = 0u64;
    let mut error = None;
    let send = |h: Handover| tx.blocking_send(h).is_ok();
    for checked in pipeline.by_ref() {
        let checked = match checked {
            Ok(c) => c,
            Err(e) => {
                error = Some(e);
                break;
            }
        };
        last_row = checked.row;
        progress.read.store(checked.row, Ordering::Relaxed);
        match checked.outcome {
            Outcome::Valid(lead) => {
                let json = serde_json::to_string(&lead).expect("a lead always serialises");
                let hash = xxhash_rust::xxh3::xxh3_64(json.as_bytes());
                let known = setup.delta.as_ref().and_then(|delta| {
                    delta.get(&xxhash_rust::xxh3::xxh3_128(lead.lead_id.as_bytes()))
                });
                if known == Some(&hash) {
                    collected.unchanged.push((checked.row, checked.keys));
                    collected.seen.push(lead.lead_id);
                } else {
                    let batch = open.get_or_insert_with(|| PendingBatch {
                        seq: 0,
                        leads: Vec::with_capacity(batch_size),
                        keys: Vec::with_capacity(batch_size),
                        records: Vec::with_capacity(batch_size),
                        hashes: Vec::with_capacity(batch_size),
                        new: Vec::with_capacity(batch_size),
                    });
                    batch.leads.push(BatchLead {
                        row: checked.row,
                        lead_id: lead.lead_id,
                        json,
                    });
                    batch.keys.push(checked.keys);
                    batch
                        .records
                        .push(checked.record.expect("a valid row keeps its record"));
                    batch.hashes.push(hash);
                    batch.new.push(known.is_none());
                    if batch.leads.len() == batch_size {
                        let full = open.take();
                        if !send(collected.handover(full, last_row + 1, last_row)) {
                            return;
                        }
                        continue;
                    }
                }
            }
            Outcome::Rejected { problems, original } => {
                if let Some(id) = setup
                    .id_column
                    .and_then(|c| original.get(c))
                    .map(|id| id.trim())
                    .filter(|id| !id.is_empty())
                {
                    collected.seen.push(id.to_owned());
                }
                collected.rejections.push(RejectedRow {
                    row: checked.row,
                    line: checked.line,
                    problems,
                    original,
                });
            }
        }
        if collected.len() >= 512 {
            let low_water = open.as_ref().map_or(last_row + 1, PendingBatch::first_row);
            if !send(collected.handover(None, low_water, last_row)) {
                return;
            }
        }
    }
    // The last, partly filled batch, and the end. A read error stops short of it: the rows
    // in it were read, so they are sent; the error is reported after.
    let rows_read = if error.is_some() {
        last_row
    } else {
        pipeline.rows_read()
    };
    if (!collected.is_empty() || open.is_some())
        && !send(collected.handover(open, last_row + 1, last_row))
    {
        return;
    }
    let _ = send(Handover::End { rows_read, error });
}

/// First Ctrl-C (or SIGTERM): set `interrupted` and wake the coordinator. Second: exit at
/// once (the state file is consistent after every commit, so the run stays resumable).
async fn watch_signals(interrupted: Arc<AtomicBool>, notify: Arc<Notify>) {
    wait_for_signal().await;
    interrupted.store(true, Ordering::SeqCst);
    notify.notify_one();
    wait_for_signal().await;
    let _ = writeln!(
        std::io::stderr(),
        "\ninterrupted again: exiting now; run the same command to resume"
    );
    std::process::exit(i32::from(exit::INTERRUPTED));
}

async fn wait_for_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

/// Progress on stderr: an indicatif line when stderr is a terminal, a plain log line every
/// ten seconds otherwise (for cron and CI logs).
async fn show_progress(
    progress: Arc<Progress>,
    uploader: Arc<Uploader>,
    line_estimate: u64,
    quiet: bool,
) {
    if quiet {
        return;
    }
    let started = Instant::now();
    let tty = std::io::stderr().is_terminal();
    let bar = tty.then(|| {
        let bar = indicatif::ProgressBar::new(line_estimate.max(1));
        bar.set_style(
            indicatif::ProgressStyle::with_template(
                "{spinner} [{elapsed_precise}] {bar:30} {msg} (ETA {eta})",
            )
            .expect("valid template"),
        );
        bar
    });
    let period = if tty {
        Duration::from_millis(250)
    } else {
        Duration::from_secs(10)
    };
    let mut tick = tokio::time::interval(period);
    tick.tick().await;
    loop {
        tick.tick().await;
        let read = progress.read.load(Ordering::Relaxed);
        let imported = progress.imported.load(Ordering::Relaxed);
        let rejected = progress.rejected.load(Ordering::Relaxed);
        let requests = uploader.stats.requests.load(Ordering::Relaxed);
        let pace = uploader.pacer().pace();
        let minutes = started.elapsed().as_secs_f64() / 60.0;
        let allowed =
            started.elapsed().as_secs_f64() / pace.window.as_secs_f64() * f64::from(pace.rate);
        let quota = if allowed >= 1.0 {
            (requests as f64 / allowed * 100.0).min(100.0)
        } else {
            0.0
        };
        let message = format!(
            "read {read} · imported {imported} · rejected {rejected} · {:.0} leads/min · quota {quota:.0}%",
            imported as f64 / minutes.max(1e-9)
        );
        match &bar {
            Some(bar) => {
                bar.set_position(read.min(line_estimate));
                bar.set_message(message);
            }
            None => {
                let _ = writeln!(std::io::stderr(), "progress: {message}");
            }
        }
    }
}

/// The input's size and content hash (`size:xxh3-128`), and its number of line breaks (an
/// estimate of its rows, for the ETA).
fn fingerprint(path: &Path) -> Result<(String, u64)> {
    let mut file =
        std::fs::File::open(path).with_context(|| format!("cannot open `{}`", path.display()))?;
    let mut hasher = xxhash_rust::xxh3::Xxh3::new();
    let mut buf = vec![0u8; 1 << 20];
    let (mut size, mut lines) = (0u64, 0u64);
    loop {
        let n = file
            .read(&mut buf)
            .with_context(|| format!("cannot read `{}`", path.display()))?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
        size += n as u64;
        lines += buf[..n].iter().filter(|&&b| b == b'\n').count() as u64;
    }
    Ok((
        format!("{size}:{:032x}", hasher.digest128()),
        lines.saturating_sub(1),
    ))
}

/// The settings that shape what is sent, as JSON text: a run resumes only under the same.
fn describe_config(
    cfg: &ImportConfig,
    mapping: &Mapping,
    source: &crate::source::Source,
    api: &str,
) -> String {
    let columns: Vec<String> = mapping
        .headers
        .iter()
        .zip(&mapping.columns)
        .map(|(h, (target, _))| format!("{h} -> {target:?}"))
        .collect();
    let mut config = serde_json::json!({
        "mapping": columns,
        "tag_separator": mapping.tag_separator,
        "default_region": format!("{:?}", cfg.input.default_region),
        "encoding": source.decoder().name(),
        "delimiter": source.delimiter().map(|d| (d as char).to_string()),
        "source": cfg.source,
        "api": api,
    });
    if let Some(sheet) = source.sheet() {
        config["sheet"] = sheet.into();
    }
    // Presets, phone order, value maps, the unknown-status policy: only when they say
    // more than the column list, so runs recorded without them still resume.
    if let Some(rules) = mapping.fingerprint() {
        config["mapping_rules"] = rules;
    }
    config.to_string()
}
