//! `nl-import import`: the whole pipeline, from file to Naturalead. One file per job:
//!
//! - `plan`: before anything is sent: the input described and fingerprinted, the report
//!   directory probed, the state file locked, a run resumed or begun;
//! - `batch`: each valid lead serialised once and compared with the delta state on the
//!   validation [`Pipeline`]'s workers; the reader thread cutting the rest into batches;
//! - `coordinator`: the session: batches dispatched to upload tasks, every outcome settled
//!   and committed to the [`Checkpoint`] with the frontier, stops, the deletes at the end;
//! - `deletes`: `--delete-missing`: what is safe to delete, the deletes, `deleted.csv`;
//! - `dry_run`: `--dry-run`, through the same comparison, plan and exit-code rule;
//! - `summary`: the exit code and its message, `summary.json`, the printed summary;
//! - `progress` and `shutdown`: the progress line; Ctrl-C, SIGTERM and
//!   `--max-duration` as one cancellation token.
//!
//! Reports are written from the state file at the end, so a resumed run reports every row
//! of the file, not just its own; then what finished runs no longer need is pruned.

mod batch;
mod committer;
mod coordinator;
mod deletes;
mod dry_run;
mod plan;
mod progress;
mod shutdown;
mod summary;

use std::io::Write;
use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;
use std::time::{Instant, SystemTime};

use anyhow::{Context, Result, anyhow};

pub use deletes::Deletion;
pub use summary::{DryRunSummary, ImportSummary, SessionStats};

use self::batch::{Compare, ReaderSetup};
use self::coordinator::{Coordinator, SessionEnd};
use self::plan::{Input, Session};
use self::progress::ProgressSetup;
use self::shutdown::Shutdown;
use crate::checkpoint::delta::Delta;
use crate::checkpoint::{Checkpoint, ResumeState, Settled};
use crate::config::{ImportConfig, Target};
use crate::exit;
use crate::interrupt::{Interrupt, Interrupted};
use crate::metrics::Metrics;
use crate::output::Event;
use crate::pacing::Pacer;
use crate::pipeline::{DuplicateIndex, Pipeline};
use crate::report::{ReportPaths, write_json};
use crate::source::Source;
use crate::stats::{Counts, Stats};
use crate::upload::{ApiKey, DeleteError, Stop, UploadSettings, Uploader};

/// Runs an import; returns the exit code. Ctrl-C and SIGTERM are taken from the first
/// instant ([`crate::interrupt`]): before the session, the run stops at its next step
/// (exit 130, nothing sent); during it, the session winds down and says what it did.
pub fn run(cfg: &ImportConfig, stdout: &mut dyn Write, stderr: &mut dyn Write) -> Result<u8> {
    let interrupt = crate::interrupt::install();
    match prepare_and_run(cfg, interrupt, stdout, stderr) {
        Err(e) if e.chain().any(|e| e.is::<Interrupted>()) => {
            interrupt.acknowledge();
            crate::interrupt::stopped_event(crate::interrupt::NOTHING_DONE).write_to(stderr)?;
            Ok(exit::INTERRUPTED)
        }
        other => other,
    }
}

fn prepare_and_run(
    cfg: &ImportConfig,
    interrupt: &Interrupt,
    stdout: &mut dyn Write,
    stderr: &mut dyn Write,
) -> Result<u8> {
    let started_at = humantime::format_rfc3339_seconds(SystemTime::now()).to_string();
    let started = Instant::now();
    if let Some(path) = &cfg.input.metrics_file {
        crate::metrics::probe(path)?;
    }
    let (source, mapping, validator) = cfg.input.open()?;
    let region = cfg.input.default_region;
    let reading = source.report();
    if !cfg.quiet {
        for notice in reading
            .get()
            .opening_notices(&cfg.input.csv.display().to_string())
        {
            Event::info("reading", notice).write_to(stderr)?;
        }
    }
    if cfg.input.print_mapping {
        write!(stdout, "{}", mapping.table(region))?;
        return Ok(exit::SUCCESS);
    }
    if !cfg.quiet {
        Event::info("mapping", mapping.brief(region)).write_to(stderr)?;
    }
    let mapping_stats = validator.stats();
    interrupt.check()?;
    let input = plan::describe(cfg, (source, mapping, validator))?;
    interrupt.check()?;
    if cfg.dry_run {
        return dry_run::run(cfg, input, stdout, stderr);
    }
    let Some(_lock) = plan::lock(cfg, stderr)? else {
        if let Some(path) = &cfg.input.metrics_file {
            let labels = Metrics::new("import", Some(cfg.source.as_deref().unwrap_or_default()));
            labels.write_or_warn(path, exit::LOCKED, started.elapsed());
        }
        return Ok(exit::LOCKED);
    };
    interrupt.check()?;
    let mut checkpoint = Checkpoint::open(&cfg.state)?;
    interrupt.check()?;
    let session = plan::start(cfg, &mut checkpoint, &input.spec)?;
    let run_id = session.run_id;
    let resumed = session.resume.is_some();
    let headers = input.source.headers().to_vec();
    let mapping = input.mapping.clone();
    let stats = Arc::new(Stats::default());
    let end = run_session(
        cfg,
        (&mut checkpoint, interrupt),
        session,
        input,
        &stats,
        stderr,
    )?;
    let mut report = Report {
        cfg,
        checkpoint: &mut checkpoint,
        run_id,
        session: SessionStats {
            started_at,
            resumed,
            ..SessionStats::default()
        },
        reading,
        mapping: mapping.summary(&mapping_stats, region),
        columns: mapping,
    };
    report.finish(&headers, end, &stats, started, (stdout, stderr))
}

/// Reads, sends and commits: one session of the run, in an async runtime of its own.
fn run_session(
    cfg: &ImportConfig,
    (checkpoint, interrupt): (&mut Checkpoint, &Interrupt),
    session: Session,
    input: Input,
    stats: &Arc<Stats>,
    stderr: &mut dyn Write,
) -> Result<SessionEnd> {
    let Input {
        mut source,
        validator,
        spec,
        stamp,
        ..
    } = input;
    let resumed = session.resume.is_some();
    let mut resume = session.resume.unwrap_or_default();
    let (index, delta) = load_state(
        cfg,
        checkpoint,
        (resumed.then_some(session.run_id), &spec.scope),
        (&mut source, &mut resume, validator.has_id_column()),
        interrupt,
    )?;
    if resumed && !cfg.quiet {
        say_resuming(session.run_id, &resume, stderr)?;
    }
    let earlier = resume.earlier;
    let shown = Counts {
        leads_imported: resume.imported,
        unchanged: resume.unchanged,
        rejected: resume.rejected,
        ..earlier
    };
    let decoder = source.decoder();
    let pipeline = Pipeline::resume_with(
        source,
        validator,
        cfg.input.threads,
        (index, resume.skip),
        Compare::new(delta),
    );
    let reading = pipeline.reading();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    runtime.block_on(async {
        let sandbox = match &cfg.target {
            Target::Sandbox => Some(
                naturalead_sandbox::Sandbox::start(naturalead_sandbox::Config::default())
                    .await
                    .context("cannot start the sandbox")?,
            ),
            Target::Api { .. } => None,
        };
        let shutdown = Shutdown::start(interrupt.token(), cfg.max_duration);
        let pacer = Arc::new(Pacer::new(cfg.pace).quiet(cfg.quiet));
        let uploader = uploader(cfg, sandbox.as_ref(), &pacer, &shutdown, stats)?;
        if cfg.delete_missing {
            probe_delete_scope(&uploader).await?;
        }
        let display = progress::start(
            Arc::clone(stats),
            Arc::clone(&pacer),
            ProgressSetup {
                earlier: shown,
                reading,
                batch_size: cfg.batch_size,
                interval: cfg.progress_interval,
            },
            cfg.quiet,
        );
        let coordinator = Coordinator::new(coordinator::Setup {
            cfg,
            checkpoint,
            run_id: session.run_id,
            scope: spec.scope.clone(),
            decoder,
            stats: Arc::clone(stats),
            earlier,
            next_seq: resume.next_seq,
            stamp: &stamp,
        });
        let reader = ReaderSetup {
            batch_size: cfg.batch_size,
            source: cfg.source.clone(),
            stats: Arc::clone(stats),
        };
        // From here a signal lets the session wind down (it stops at once if one came
        // while it was being set up).
        interrupt.acknowledge();
        let end = coordinator
            .run(pipeline, reader, uploader, &shutdown, stderr)
            .await;
        if let Some(display) = display {
            display.abort();
        }
        let end = end.map(|end| SessionEnd {
            pauses: pacer.stats.pauses.load(Relaxed),
            shared_budget: pacer.stats.shared_budget.load(Relaxed),
            rate_policy: Some(pacer.policy()),
            // Over a time t the pace allows one request at once and one per period after it.
            requests_allowed: end.sending.as_secs_f64() / pacer.pace().period().as_secs_f64() + 1.0,
            ..end
        });
        if let Some(sb) = sandbox {
            stop_sandbox(sb, !cfg.quiet && end.is_ok(), stderr).await?;
        }
        end
    })
}

/// What the session starts from, loaded side by side: the delta state (unless `--full`),
/// on a connection of its own; when the session resumes `run`, what its batches hold
/// ([`Checkpoint::settled`]: the duplicate index, and counts into `resume`), and the file
/// read past the rows up to its frontier (see [`crate::pipeline::SkipPlan::read_past`]).
fn load_state(
    cfg: &ImportConfig,
    checkpoint: &Checkpoint,
    (run, scope): (Option<i64>, &str),
    (source, resume, track_ids): (&mut Source, &mut ResumeState, bool),
    interrupt: &Interrupt,
) -> Result<(DuplicateIndex, Option<Delta>)> {
    let path = checkpoint.path();
    let (frontier, imported) = (resume.skip.through, resume.imported);
    let skip = &mut resume.skip;
    let (settled, delta) = std::thread::scope(|s| {
        let delta =
            (!cfg.full).then(|| s.spawn(move || Checkpoint::open_read_only(path)?.delta(scope)));
        let skipping = (skip.through > 0)
            .then(|| s.spawn(|| skip.read_past(source, || interrupt.interrupted())));
        let settled = match run {
            Some(run) => checkpoint.settled(run, track_ids, (frontier, imported)),
            None => Ok(Settled {
                index: DuplicateIndex::new(track_ids),
                ..Settled::default()
            }),
        };
        let joined = |name| move |_| anyhow!("loading the {name} failed");
        if let Some(skipping) = skipping {
            skipping.join().map_err(joined("input"))?;
        }
        let delta = match delta {
            Some(delta) => Some(delta.join().map_err(joined("delta state"))??),
            None => None,
        };
        anyhow::Ok((settled?, delta))
    })?;
    resume.unchanged = settled.unchanged;
    resume.next_seq = settled.next_seq;
    resume.skip.rows.extend(settled.after_frontier);
    Ok((settled.index, delta))
}

/// A key that may not delete is found out before hours of importing, not after: one
/// empty delete. Interrupted, the session stops at once and deletes nothing.
async fn probe_delete_scope(uploader: &Uploader) -> Result<()> {
    match uploader.probe_delete().await {
        Ok(()) | Err(DeleteError::Stopped(Stop::Interrupted)) => Ok(()),
        Err(e) => Err(deletes::probe_error(e)),
    }
}

/// Stops the in-process sandbox of `--sandbox`, saying (with `say`) how many leads it held.
async fn stop_sandbox(
    sb: naturalead_sandbox::Sandbox,
    say: bool,
    stderr: &mut dyn Write,
) -> Result<()> {
    let leads = sb.state().leads().len();
    sb.shutdown().await;
    if say {
        Event::info(
            "sandbox",
            format!("sandbox: now holds {leads} leads (it stops with this process)"),
        )
        .with("leads", leads)
        .write_to(stderr)?;
    }
    Ok(())
}

/// What a resumed session starts from, on stderr: the rows settled before (the figure
/// `status` shows), and where reading resumes.
fn say_resuming(run_id: i64, resume: &ResumeState, stderr: &mut dyn Write) -> Result<()> {
    let settled = resume.imported + resume.unchanged + resume.rejected;
    let beyond = resume.skip.rows.len();
    Event::info(
        "resuming",
        format!(
            "resuming run #{run_id}: {settled} rows settled before ({} imported, {} unchanged, {} rejected): every row up to {}{}; the others are read and sent now",
            resume.imported,
            resume.unchanged,
            resume.rejected,
            resume.skip.through,
            if beyond > 0 {
                format!(" and {beyond} after it")
            } else {
                String::new()
            }
        ),
    )
    .with("run_id", run_id)
    .with("rows_settled", settled)
    .with("imported", resume.imported)
    .with("unchanged", resume.unchanged)
    .with("rejected", resume.rejected)
    .with("settled_through_row", resume.skip.through)
    .write_to(stderr)?;
    Ok(())
}

/// The uploader of a session, to the API or to the in-process `sandbox`.
fn uploader(
    cfg: &ImportConfig,
    sandbox: Option<&naturalead_sandbox::Sandbox>,
    pacer: &Arc<Pacer>,
    shutdown: &Shutdown,
    stats: &Arc<Stats>,
) -> Result<Arc<Uploader>> {
    let (base_url, key) = match (&cfg.target, sandbox) {
        (Target::Api { base_url, key }, _) => (base_url.clone(), key.clone()),
        (Target::Sandbox, Some(sb)) => (sb.base_url(), ApiKey::new(sb.test_key())),
        (Target::Sandbox, None) => unreachable!("the sandbox is started first"),
    };
    let uploader = Uploader::new(
        UploadSettings {
            base_url,
            key,
            timeout: cfg.timeout,
            policy: cfg.policy,
            concurrency: cfg.concurrency,
            network: cfg.network.clone(),
        },
        Arc::clone(pacer),
        shutdown.token().clone(),
        Arc::clone(stats),
    )
    .context("cannot set up the HTTP client")?;
    Ok(Arc::new(uploader))
}

/// The end of a run's session: reports from the state file, the summary, pruning.
struct Report<'a> {
    cfg: &'a ImportConfig,
    checkpoint: &'a mut Checkpoint,
    run_id: i64,
    session: SessionStats,
    /// How the input was read.
    reading: crate::source::ReportHandle,
    /// What the mapping decided.
    mapping: crate::mapping::MappingSummary,
    /// The mapping itself, for the report's fingerprints of rejected rows.
    columns: crate::mapping::Mapping,
}

impl Report<'_> {
    fn finish(
        &mut self,
        headers: &[String],
        end: SessionEnd,
        stats: &Stats,
        started: Instant,
        (stdout, stderr): (&mut dyn Write, &mut dyn Write),
    ) -> Result<u8> {
        let (cfg, run_id) = (self.cfg, self.run_id);
        // The run is recorded; if its report cannot be written (a full disk), say what holds.
        let report_failed = |e: anyhow::Error| {
            e.context(format!(
                "run #{run_id} is recorded in the state file `{}` ({}), but its report could not be written; make room or fix --report-dir, then run the same command again (leads the API already holds unchanged are not sent again)",
                cfg.state.display(),
                end.status.as_str()
            ))
        };
        // Reports from the state file: every rejected row of the run, every session.
        let (rejected_csv, counts) = (|| -> Result<_> {
            let mut report = cfg.input.open_report(headers, &self.columns)?;
            // The state file does not keep line numbers: read them from the input again.
            if !end.input_changed
                && let Ok(again) = crate::source::Source::open(&cfg.input.csv, &cfg.input.source)
            {
                report.find_lines_in(again);
            }
            self.checkpoint.for_each_rejection(run_id, |row| {
                report.add(&row).context("cannot write the report")
            })?;
            report.finish().context("cannot write rejected.csv")
        })()
        .map_err(report_failed)?;
        let info = self
            .checkpoint
            .runs()?
            .into_iter()
            .find(|r| r.id == run_id)
            .ok_or_else(|| anyhow!("run #{run_id} vanished from the state file"))?;

        let elapsed = started.elapsed();
        let counts_now = stats.snapshot();
        let session = &mut self.session;
        session.duration_ms = u64::try_from(elapsed.as_millis()).unwrap_or(u64::MAX);
        session.rows_skipped = end.rows_skipped;
        session.counts = counts_now;
        session.pauses = end.pauses;
        session.shared_budget_signals = end.shared_budget;
        session.rate = cfg.pace.rate;
        session.rate_window_secs = cfg.pace.window.as_secs_f64();
        session.rate_policy = end.rate_policy.clone();
        session.quota_used = (counts_now.requests as f64 / end.requests_allowed).min(1.0);
        session.leads_per_minute =
            counts_now.leads_imported as f64 * 60.0 / elapsed.as_secs_f64().max(1e-9);

        let rejected = counts.total_rows();
        let settled = info.imported + info.unchanged + rejected;
        let rows_read = end.rows_read.max(info.frontier).max(settled);
        let (exit_code, message) = summary::verdict(
            cfg,
            summary::Ending {
                status: end.status,
                rejected,
                rows_read,
                deletion: end.deletion.as_ref(),
                input_changed: end.input_changed,
                message: end.message.clone(),
            },
        );
        let reading = self.reading.get();
        if !cfg.quiet {
            for notice in reading.closing_notices(&cfg.input.csv.display().to_string()) {
                Event::info("reading", notice).write_to(stderr)?;
            }
        }
        let summary = ImportSummary {
            command: "import",
            run_id,
            status: end.status,
            resumable: end.status.resumable(),
            exit_code,
            dry_run: false,
            input: cfg.input.csv.clone(),
            api: cfg.api(),
            rows_read,
            imported: info.imported,
            unchanged: info.unchanged,
            rejected,
            pending: rows_read - settled,
            new: counts_now.new,
            changed: counts_now.changed,
            deletion: end.deletion,
            rejected_by_class: counts.rows_by_class(),
            session: std::mem::take(&mut self.session),
            message,
            state_file: cfg.state.clone(),
            rejections: counts.summary(),
            reports: ReportPaths {
                rejected_xlsx: ReportPaths::xlsx_beside(&rejected_csv),
                rejected_csv,
                summary_json: cfg.input.report_dir.join("summary.json"),
                valid_jsonl: None,
            },
            reading,
            mapping: self.mapping.clone(),
        };
        write_json(&summary.reports.summary_json, &summary)
            .context("cannot write summary.json")
            .map_err(report_failed)?;
        summary::print(cfg, &summary, &counts, stdout, stderr)?;
        if let Some(path) = &cfg.input.metrics_file {
            summary::metrics(cfg, &summary).write_or_warn(path, exit_code, elapsed);
        }
        // The reports are out: what finished runs no longer need can go.
        self.checkpoint.prune()?;
        Ok(exit_code)
    }
}
