//! `nl-import check`: read, map and validate a file, and write the reports an import would,
//! without a network or a key.

use std::io::Write;
use std::path::PathBuf;
use std::time::{Duration, Instant, SystemTime};

use anyhow::{Context, Result};
use serde::Serialize;

use crate::config::{CheckConfig, InputConfig};
use crate::exit;
use crate::fsutil::{OutputFile, create_private_dir};
use crate::interrupt::Interrupted;
use crate::metrics::Metrics;
use crate::output::{self, Event};
use crate::pipeline::{Outcome, Pipeline, Verdict, Verdicts};
use crate::report::{RejectedRow, RejectionSummary, ReportPaths, ReportWriter, write_json};
use crate::source::Source;
use crate::validate::Validator;

/// The `summary.json` of a check (also printed with `--json`).
#[derive(Debug, Serialize)]
pub struct CheckSummary {
    /// Always `check`.
    pub command: &'static str,
    /// The input file.
    pub input: PathBuf,
    /// The encoding the fields were decoded with.
    pub encoding: &'static str,
    /// The delimiter used (CSV input).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub delimiter: Option<String>,
    /// Data rows read (the header is not a row).
    pub rows_read: u64,
    /// Rows that are leads ready to send.
    pub valid: u64,
    /// Rows rejected; `rows_read = valid + rejected`.
    pub rejected: u64,
    /// Rejected rows by the class each is filed under (adds up to `rejected`).
    pub rejected_by_class: serde_json::Map<String, serde_json::Value>,
    /// Every problem found, by class (a row may have several).
    pub problems_by_class: serde_json::Map<String, serde_json::Value>,
    /// Entries in the duplicate index at the end.
    pub duplicate_index_entries: usize,
    /// When the check started (RFC 3339).
    pub started_at: String,
    /// Wall time in milliseconds.
    pub duration_ms: u64,
    /// Rows read per second.
    pub rows_per_second: f64,
    /// The report files.
    pub reports: ReportPaths,
    /// Per error class: count, an example, the fix, the columns involved.
    pub rejections: RejectionSummary,
    /// How the input was read: format, sheet, encoding and why, lines skipped.
    pub reading: crate::source::SourceReport,
    /// What the mapping decided, and counted row by row.
    pub mapping: crate::mapping::MappingSummary,
}

/// What a check stopped by Ctrl-C or SIGTERM says.
const INTERRUPTED: &str = "interrupted: the check stopped; no report was written";

/// Runs a check; returns the exit code (0 all valid, 3 some rejected; 130 interrupted,
/// within about a second whatever a worker is doing, and with no report written).
pub fn run(cfg: &CheckConfig, stdout: &mut dyn Write, stderr: &mut dyn Write) -> Result<u8> {
    let interrupt = crate::interrupt::install();
    interrupt.set_mode(crate::interrupt::Mode::Prompt(INTERRUPTED));
    match check(cfg, stdout, stderr) {
        Err(e) if e.chain().any(|e| e.is::<Interrupted>()) => {
            interrupt.acknowledge();
            crate::interrupt::stopped_event(INTERRUPTED).write_to(stderr)?;
            Ok(exit::INTERRUPTED)
        }
        other => other,
    }
}

fn check(cfg: &CheckConfig, stdout: &mut dyn Write, stderr: &mut dyn Write) -> Result<u8> {
    let started_at = humantime::format_rfc3339_seconds(SystemTime::now()).to_string();
    let started = Instant::now();
    let input = &cfg.input;
    if let Some(path) = &input.metrics_file {
        crate::metrics::probe(path)?;
    }
    let (source, mapping, validator) = input.open()?;
    let reading = source.report();
    let file = input.csv.display().to_string();
    if !cfg.quiet {
        for notice in reading.get().opening_notices(&file) {
            Event::info("reading", notice).write_to(stderr)?;
        }
    }
    if input.print_mapping {
        write!(stdout, "{}", mapping.table(input.default_region))?;
        return Ok(exit::SUCCESS);
    }
    if !cfg.quiet {
        Event::info("mapping", mapping.brief(input.default_region)).write_to(stderr)?;
    }
    let mapping_stats = validator.stats();
    let encoding = source.decoder().name();
    let delimiter = source.delimiter().map(|d| (d as char).to_string());

    let (mut report, mut emit) = open_outputs(cfg, source.headers(), &mapping)?;

    // With `--emit-valid -` the leads own stdout, and the summary goes to stderr.
    let emit_to_stdout = emit.as_ref().is_some_and(OutputFile::is_stdout);
    let tally = validate_all(input, (source, validator), &mut report, emit.as_mut())?;
    let (rows_read, valid, duplicate_index_entries) =
        (tally.rows_read, tally.valid, tally.index_entries);
    let (rejected_csv, counts) = report.finish().context("cannot write rejected.csv")?;
    let valid_jsonl = match emit {
        Some(out) => Some(out.commit().context("cannot write the --emit-valid file")?),
        None => None,
    };
    let rejected = counts.total_rows();
    debug_assert_eq!(rows_read, valid + rejected);
    let reading = reading.get();
    if !cfg.quiet {
        for notice in reading.closing_notices(&file) {
            Event::info("reading", notice).write_to(stderr)?;
        }
    }
    let elapsed = started.elapsed();
    let summary = CheckSummary {
        command: "check",
        input: input.csv.clone(),
        encoding,
        delimiter,
        rows_read,
        valid,
        rejected,
        rejected_by_class: counts.rows_by_class(),
        problems_by_class: counts.problems_by_class(),
        duplicate_index_entries,
        started_at,
        duration_ms: u64::try_from(elapsed.as_millis()).unwrap_or(u64::MAX),
        rows_per_second: rows_read as f64 / elapsed.as_secs_f64().max(1e-9),
        rejections: counts.summary(),
        reports: ReportPaths {
            rejected_xlsx: ReportPaths::xlsx_beside(&rejected_csv),
            rejected_csv,
            summary_json: input.report_dir.join("summary.json"),
            valid_jsonl,
        },
        reading,
        mapping: mapping.summary(&mapping_stats, input.default_region),
    };
    write_json(&summary.reports.summary_json, &summary).context("cannot write summary.json")?;

    if !cfg.quiet {
        if counts.total_rows() > 0 {
            output::rejects(&counts).write_to(stderr)?;
        }
        for line in summary.mapping.notices() {
            Event::info("mapping_note", line.clone())
                .with_text(format!("note: {line}"))
                .write_to(stderr)?;
        }
    }
    let code = if rejected == 0 {
        exit::SUCCESS
    } else {
        exit::REJECTED
    };
    // With `--log-format json` the figures are an event on stderr; the summary itself goes
    // to stdout, unless the leads own it, when it goes to stderr as text only.
    if output::is_json() && !cfg.quiet {
        summary_event(&summary, code).write_to(stderr)?;
    }
    if !emit_to_stdout {
        print(input, &summary, stdout)?;
    } else if !output::is_json() {
        print(input, &summary, stderr)?;
    }
    if let Some(path) = &input.metrics_file {
        write_metrics(path, &summary, code, elapsed);
    }
    Ok(code)
}

/// The report directory (owner-only) with `rejected.csv` started in it, and the
/// `--emit-valid` file if asked for.
fn open_outputs(
    cfg: &CheckConfig,
    headers: &[String],
    mapping: &crate::mapping::Mapping,
) -> Result<(ReportWriter, Option<OutputFile>)> {
    let dir = &cfg.input.report_dir;
    create_private_dir(dir)
        .with_context(|| format!("cannot create report directory `{}`", dir.display()))?;
    let report = ReportWriter::create(dir, headers)
        .with_context(|| format!("cannot write in `{}`", dir.display()))?
        .with_mapping(mapping);
    let emit = match &cfg.emit_valid {
        Some(path) => Some(
            OutputFile::create(path)
                .with_context(|| format!("cannot create `{}`", path.display()))?,
        ),
        None => None,
    };
    Ok((report, emit))
}

/// `--metrics-file`: the check's figures.
fn write_metrics(path: &std::path::Path, summary: &CheckSummary, code: u8, elapsed: Duration) {
    let mut metrics = Metrics::new("check", None);
    metrics
        .gauge("rows_read", "Data rows read.", summary.rows_read as f64)
        .gauge(
            "rows_valid",
            "Rows an import would send.",
            summary.valid as f64,
        );
    metrics.rejected_by_class(&summary.rejected_by_class);
    metrics.write_or_warn(path, code, elapsed);
}

/// The check's figures as a stderr event.
fn summary_event(summary: &CheckSummary, code: u8) -> Event {
    Event::info(
        "summary",
        format!(
            "checked {}: {} rows read, {} valid, {} rejected",
            summary.input.display(),
            summary.rows_read,
            summary.valid,
            summary.rejected
        ),
    )
    .with("command", summary.command)
    .with("exit_code", code)
    .with("input", &summary.input)
    .with("rows_read", summary.rows_read)
    .with("valid", summary.valid)
    .with("rejected", summary.rejected)
    .with("rejected_by_class", &summary.rejected_by_class)
    .with("duration_ms", summary.duration_ms)
    .with("summary_json", &summary.reports.summary_json)
}

/// Rows read and valid, and the duplicate index's size at the end.
struct Tally {
    rows_read: u64,
    valid: u64,
    index_entries: usize,
}

/// Reads and validates every row: rejected rows to `report`, valid leads to `emit` when
/// asked for (without it, the workers need not build the leads).
fn validate_all(
    input: &InputConfig,
    (source, validator): (Source, Validator),
    report: &mut ReportWriter,
    emit: Option<&mut OutputFile>,
) -> Result<Tally> {
    let (mut rows_read, mut valid) = (0u64, 0u64);
    let interrupt = crate::interrupt::install();
    let index_entries = match emit {
        Some(out) => {
            let mut pipeline = Pipeline::start(source, validator, input.threads);
            for checked in pipeline.by_ref() {
                interrupt.check()?;
                let checked = checked?;
                rows_read += 1;
                match checked.outcome {
                    Outcome::Valid(lead) => {
                        valid += 1;
                        // As an io::Error, so that a closed stdout is recognised as such.
                        serde_json::to_writer(&mut *out, &lead).map_err(std::io::Error::from)?;
                        out.write_all(b"\n")?;
                    }
                    Outcome::Rejected { problems, original } => {
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
            pipeline.index().len()
        }
        None => {
            let mut verdicts = Verdicts::start(source, validator, input.threads);
            for verdict in verdicts.by_ref() {
                interrupt.check()?;
                rows_read += 1;
                match verdict? {
                    Verdict::Valid => valid += 1,
                    Verdict::Rejected(row) => {
                        report.add(&row).context("cannot write the report")?;
                    }
                }
            }
            verdicts.index().len()
        }
    };
    Ok(Tally {
        rows_read,
        valid,
        index_entries,
    })
}

/// The summary on `stdout`: JSON with `--json`, else a few lines.
fn print(input: &InputConfig, summary: &CheckSummary, stdout: &mut dyn Write) -> Result<()> {
    if input.json {
        serde_json::to_writer_pretty(&mut *stdout, summary).map_err(std::io::Error::from)?;
        writeln!(stdout)?;
        return Ok(());
    }
    writeln!(
        stdout,
        "checked {}: {} rows read, {} valid, {} rejected",
        input.csv.display(),
        summary.rows_read,
        summary.valid,
        summary.rejected
    )?;
    summary.reports.write_lines(stdout, true)?;
    if let Some(path) = &summary.reports.valid_jsonl {
        writeln!(stdout, "valid:   {}", path.display())?;
    }
    Ok(())
}
