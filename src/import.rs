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
use crate::mapping::Mapping;
use crate::pacing::Pacer;
use crate::pipeline::{IndexKeys, Outcome, Pipeline};
use crate::report::{ClassCounts, RejectedRow, ReportPaths, ReportWriter, write_json};
use crate::source::{FieldDecoder, SourceError};
use crate::upload::{ApiKey, BatchLead, Settled, Stop, UploadSettings, Uploader};

/// Local rejections buffered before they are committed without a batch outcome.
const REJECTION_FLUSH: usize = 4096;

/// A batch on its way from the reader to an upload task.
#[derive(Debug)]
struct PendingBatch {
    seq: u64,
    leads: Vec<BatchLead>,
    keys: Vec<IndexKeys>,
    records: Vec<ByteRecord>,
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
    /// The input file.
    pub input: PathBuf,
    /// Where the leads went (`sandbox` for `--sandbox`).
    pub api: String,
    /// Data rows read so far, every session of the run; `imported + rejected + pending`.
    pub rows_read: u64,
    /// Leads the API accepted.
    pub imported: u64,
    /// Rows rejected, locally or by the API (`gave_up` included).
    pub rejected: u64,
    /// Rows read but not settled (in flight when stopped): a resume sends them.
    pub pending: u64,
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
    /// Leads accepted per minute over the session.
    pub leads_per_minute: f64,
}

/// Runs an import; returns the exit code.
pub fn run(cfg: &ImportConfig, stdout: &mut dyn Write, stderr: &mut dyn Write) -> Result<u8> {
    let started_at = humantime::format_rfc3339_seconds(SystemTime::now()).to_string();
    let started = Instant::now();
    let input = &cfg.input;
    let (source, mapping, validator) = input.open()?;
    if input.print_mapping {
        write!(stdout, "{}", mapping.table())?;
        return Ok(exit::SUCCESS);
    }
    let input_path = std::fs::canonicalize(&input.csv)
        .with_context(|| format!("cannot open `{}`", input.csv.display()))?;
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

    // Reports from the state file: every rejected row of the run, every session.
    create_private_dir(&input.report_dir).with_context(|| {
        format!(
            "cannot create report directory `{}`",
            input.report_dir.display()
        )
    })?;
    let mut report = ReportWriter::create(&input.report_dir, &headers)
        .with_context(|| format!("cannot write in `{}`", input.report_dir.display()))?;
    checkpoint.for_each_rejection(run_id, |row| {
        report.add(&row).context("cannot write the report")
    })?;
    let (rejected_csv, counts) = report.finish().context("cannot write rejected.csv")?;
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
    session.leads_per_minute =
        outcome.leads_imported as f64 * 60.0 / elapsed.as_secs_f64().max(1e-9);

    let rejected = counts.total_rows();
    let rows_read = outcome.rows_read.max(info.frontier);
    let settled = info.imported + rejected;
    let summary = ImportSummary {
        command: "import",
        run_id,
        status: outcome.status,
        resumable: outcome.status.resumable(),
        input: input.csv.clone(),
        api: api_label,
        rows_read: rows_read.max(settled),
        imported: info.imported,
        rejected,
        pending: rows_read.saturating_sub(settled),
        rejected_by_class: counts.rows_by_class(),
        session,
        message: outcome.message.clone(),
        state_file: cfg.state.clone(),
        reports: ReportPaths {
            rejected_csv,
            summary_json: input.report_dir.join("summary.json"),
            valid_jsonl: None,
        },
    };
    write_json(&summary.reports.summary_json, &summary).context("cannot write summary.json")?;
    print_summary(cfg, &summary, &counts, stdout, stderr)?;

    Ok(match outcome.status {
        RunStatus::Interrupted => exit::INTERRUPTED,
        RunStatus::Stopped | RunStatus::Incomplete | RunStatus::Running | RunStatus::Abandoned => {
            exit::FATAL
        }
        RunStatus::Done if rejected == 0 => exit::SUCCESS,
        RunStatus::Done => exit::REJECTED,
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
        "imported {} (run #{}, {}): {} rows read = {} imported + {} rejected + {} pending",
        summary.input.display(),
        summary.run_id,
        summary.status.as_str(),
        summary.rows_read,
        summary.imported,
        summary.rejected,
        summary.pending
    )?;
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
}

struct Coordinator<'a> {
    cfg: &'a ImportConfig,
    checkpoint: &'a mut Checkpoint,
    run_id: i64,
    decoder: FieldDecoder,
    progress: Arc<Progress>,
    earlier: RunCounters,
    next_seq: u64,
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
        let batch_size = cfg.batch_size;
        let first_seq = self.next_seq;
        let reader_skipped = Arc::clone(&skipped);
        let reader_progress = Arc::clone(&self.progress);
        let reader = tokio::task::spawn_blocking(move || {
            read_batches(&mut pipeline, &tx, batch_size, first_seq, &reader_progress);
            reader_skipped.store(pipeline.rows_skipped(), Ordering::Relaxed);
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
        let mut buffered: Vec<RejectedRow> = Vec::new();
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
                        let _ = writeln!(
                            stderr,
                            "\ninterrupted: finishing the requests in flight (press Ctrl-C again to quit at once)"
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
                            buffered.extend(api_rejections);
                            let frontier = frontier(low_water, &in_flight);
                            self.commit(Some(&record), &mut buffered, frontier, &uploader)?;
                        }
                        Err(Stop::Interrupted) => {}
                        Err(other) => {
                            if stop.is_none() {
                                stop = Some(other);
                                // Nothing more is sent: settle what is known, leave the
                                // rest pending.
                                let frontier = frontier(low_water, &in_flight);
                                self.commit(None, &mut buffered, frontier, &uploader)?;
                                tasks.abort_all();
                            }
                        }
                    }
                }
                handover = rx.recv(), if reading && tasks.len() < cfg.concurrency => {
                    match handover {
                        Some(Handover::Rows { rejections, batch, low_water: lw, last_row }) => {
                            rows_read = rows_read.max(last_row);
                            self.progress.rejected.fetch_add(rejections.len() as u64, Ordering::Relaxed);
                            buffered.extend(rejections);
                            if let Some(batch) = batch {
                                in_flight.insert((batch.first_row(), batch.seq));
                                let uploader = Arc::clone(&uploader);
                                tasks.spawn(async move {
                                    let (result, attempts) = uploader.send(&batch.leads, batch.seq).await;
                                    (batch, result, attempts)
                                });
                            }
                            low_water = lw;
                            if buffered.len() >= REJECTION_FLUSH {
                                let frontier = frontier(low_water, &in_flight);
                                self.commit(None, &mut buffered, frontier, &uploader)?;
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
        self.commit(None, &mut buffered, frontier, &uploader)?;
        let _ = reader.await;
        display.abort();
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
                    "the API answered 404 ({message}) for the sync endpoint: check --api-url (it should end in /api)"
                )),
            ),
            (_, Some(error)) => (
                RunStatus::Interrupted,
                Some(format!("reading stopped: {error}")),
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
        let allowed = sending.as_secs_f64() / cfg.pace.period().as_secs_f64() + 1.0;
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
        })
    }

    /// Turns a batch's per-lead outcome into what is committed: the batch record and the
    /// rows the API refused or gave up on.
    fn settle(
        &self,
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
                    continue;
                }
                Settled::Rejected(class, message) => {
                    record.refused += 1;
                    record.settled.push((lead.row, batch.keys[i]));
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
            rejections.push(RejectedRow {
                row: lead.row,
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

    fn commit(
        &mut self,
        batch: Option<&BatchRecord>,
        buffered: &mut Vec<RejectedRow>,
        frontier: u64,
        uploader: &Uploader,
    ) -> Result<()> {
        let stats = &uploader.stats;
        let counters = RunCounters {
            requests: self.earlier.requests + stats.requests.load(Ordering::Relaxed),
            retries: self.earlier.retries + stats.retries.load(Ordering::Relaxed),
            throttled: self.earlier.throttled + stats.throttled.load(Ordering::Relaxed),
            splits: self.earlier.splits + stats.splits.load(Ordering::Relaxed),
        };
        self.checkpoint
            .commit(self.run_id, batch, buffered, frontier, counters)
            .with_context(|| {
                format!(
                    "cannot write the state file `{}` (the run stays resumable from its last commit)",
                    self.checkpoint.path().display()
                )
            })?;
        buffered.clear();
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

/// The reader thread: pulls checked rows from the pipeline, serialises valid leads into
/// batches, and hands over rejections and full batches in file order.
fn read_batches(
    pipeline: &mut Pipeline,
    tx: &mpsc::Sender<Handover>,
    batch_size: usize,
    mut seq: u64,
    progress: &Progress,
) {
    let mut open: Option<PendingBatch> = None;
    let mut rejections = Vec::new();
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
                let batch = open.get_or_insert_with(|| {
                    let b = PendingBatch {
                        seq,
                        leads: Vec::with_capacity(batch_size),
                        keys: Vec::with_capacity(batch_size),
                        records: Vec::with_capacity(batch_size),
                    };
                    seq += 1;
                    b
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
                if batch.leads.len() == batch_size {
                    let full = open.take();
                    if !send(Handover::Rows {
                        rejections: std::mem::take(&mut rejections),
                        batch: full,
                        low_water: last_row + 1,
                        last_row,
                    }) {
                        return;
                    }
                }
            }
            Outcome::Rejected { problems, original } => {
                rejections.push(RejectedRow {
                    row: checked.row,
                    problems,
                    original,
                });
                if rejections.len() >= 512 {
                    let low_water = open.as_ref().map_or(last_row + 1, PendingBatch::first_row);
                    if !send(Handover::Rows {
                        rejections: std::mem::take(&mut rejections),
                        batch: None,
                        low_water,
                        last_row,
                    }) {
                        return;
                    }
                }
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
    if (!rejections.is_empty() || open.is_some())
        && !send(Handover::Rows {
            rejections,
            batch: open,
            low_water: last_row + 1,
            last_row,
        })
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
    serde_json::json!({
        "mapping": columns,
        "tag_separator": mapping.tag_separator,
        "default_region": format!("{:?}", cfg.input.default_region),
        "encoding": source.decoder().name(),
        "delimiter": (source.delimiter() as char).to_string(),
        "source": cfg.source,
        "api": api,
    })
    .to_string()
}
