//! What writing the reports costs next to the check that finds the rows, on the same file
//! and at the same moment (so a loaded machine slows both alike):
//!
//! - **check**: the importer's pipeline over the file as `check` runs it (2 threads,
//!   verdicts only), keeping the rejected rows in memory;
//! - **reports**: those rows through [`ReportWriter`] on one thread: `add` for each (the
//!   spills, as `check` does while it reads), then `finish` (`rejected.csv` put together,
//!   `rejected.xlsx` written).
//!
//! ```sh
//! cargo run --release --example gen_leads -- --rows 1000000 --invalid-ratio 0.1 > /tmp/leads-1m-10.csv
//! cargo run --release --example report_cost -- /tmp/leads-1m-10.csv [--runs 5]
//! ```
//!
//! Prints, per run, the two times and their ratio, then the medians.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use naturalead_import::mapping::Mapping;
use naturalead_import::pipeline::{Verdict, Verdicts};
use naturalead_import::report::{RejectedRow, ReportWriter};
use naturalead_import::source::{Source, SourceOptions};
use naturalead_import::validate::{Validator, parse_region};

fn check(path: &Path) -> (Duration, Vec<String>, Mapping, Vec<RejectedRow>) {
    let started = Instant::now();
    let cpu_started = cpu();
    let source = Source::open(path, &SourceOptions::default()).expect("open the file");
    let headers = source.headers().to_vec();
    let mapping = Mapping::resolve(&headers, None, path).expect("map the header");
    let validator = Validator::new(&mapping, parse_region("US").expect("US"));
    let mut rejected = Vec::new();
    for verdict in Verdicts::start(source, validator, 2) {
        if let Verdict::Rejected(row) = verdict.expect("read the file") {
            rejected.push(row);
        }
    }
    println!(
        "  check: {:.3} s CPU on all threads",
        (cpu() - cpu_started).as_secs_f64()
    );
    (started.elapsed(), headers, mapping, rejected)
}

/// CPU time of the whole process so far (Linux).
fn cpu() -> Duration {
    let mut t = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: a valid clock id and a pointer to a timespec we own.
    unsafe { libc::clock_gettime(libc::CLOCK_PROCESS_CPUTIME_ID, &mut t) };
    Duration::new(t.tv_sec as u64, t.tv_nsec as u32)
}

fn reports(dir: &Path, headers: &[String], mapping: &Mapping, rows: &[RejectedRow]) -> Duration {
    let started = Instant::now();
    let cpu_started = cpu();
    let mut writer = ReportWriter::create(dir, headers)
        .expect("start the report")
        .with_mapping(mapping);
    for row in rows {
        writer.add(row).expect("add a row");
    }
    let added = started.elapsed();
    let cpu_added = cpu() - cpu_started;
    writer.finish().expect("write the reports");
    println!(
        "  reports: add {:.3} s ({:.3} s CPU), finish {:.3} s ({:.3} s CPU)",
        added.as_secs_f64(),
        cpu_added.as_secs_f64(),
        (started.elapsed() - added).as_secs_f64(),
        (cpu() - cpu_started - cpu_added).as_secs_f64()
    );
    started.elapsed()
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn main() -> ExitCode {
    // The report writer's own log line says where its time went.
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .without_time()
        .with_target(false)
        .init();
    let mut args = std::env::args().skip(1);
    let Some(path) = args.next().map(PathBuf::from) else {
        eprintln!("usage: report_cost FILE [--runs N]");
        return ExitCode::from(2);
    };
    let runs = match (args.next().as_deref(), args.next()) {
        (Some("--runs"), Some(n)) => n.parse().unwrap_or(5),
        _ => 5,
    };
    let dir = std::env::temp_dir().join(format!("report_cost.{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("a scratch directory");
    let (mut checks, mut writes, mut ratios) = (Vec::new(), Vec::new(), Vec::new());
    for run in 1..=runs {
        let (check_time, headers, mapping, rows) = check(&path);
        // `REPORT_COST_REPEAT=N`: write the reports N times (to profile them alone).
        let repeat: usize = std::env::var("REPORT_COST_REPEAT")
            .ok()
            .and_then(|n| n.parse().ok())
            .unwrap_or(1);
        for _ in 1..repeat {
            reports(&dir, &headers, &mapping, &rows);
        }
        let write_time = reports(&dir, &headers, &mapping, &rows);
        let ratio = write_time.as_secs_f64() / check_time.as_secs_f64();
        println!(
            "run {run}: check {:.3} s ({} rejected), reports {:.3} s = {:.1} % of check",
            check_time.as_secs_f64(),
            rows.len(),
            write_time.as_secs_f64(),
            ratio * 100.0
        );
        checks.push(check_time.as_secs_f64());
        writes.push(write_time.as_secs_f64());
        ratios.push(ratio);
    }
    println!(
        "median: check {:.3} s, reports {:.3} s, ratio {:.1} %",
        median(checks),
        median(writes),
        median(ratios) * 100.0
    );
    let _ = std::fs::remove_dir_all(&dir);
    ExitCode::SUCCESS
}
