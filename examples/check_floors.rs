//! The floors `nl-import check` is measured against, on one core and in one process, on
//! the same file:
//!
//! - **parse**: the csv crate alone, reading every record as a `ByteRecord` (the same
//!   `csv_core` parser `src/source/csv.rs` drives, with the same settings);
//! - **parse + phone**: the same loop plus, per row, what validation does to the phone:
//!   the row's region (country column or `US`), then libphonenumber's parse, validity check
//!   and E.164 formatting, through the very function `validate.rs` uses
//!   ([`normalise_phone`]);
//! - **parse + validate** (for reference, not a floor): the importer's own source, mapping
//!   and validator on one thread, with no duplicate check, reports or threads.
//!
//! ```sh
//! cargo run --release --example gen_leads -- --rows 1000000 > /tmp/leads-1m.csv
//! cargo run --release --example check_floors -- /tmp/leads-1m.csv [--runs 5]
//! ```
//!
//! Each measurement is repeated `--runs` times (default 5, the file is read once before to
//! warm the page cache); the median, minimum and maximum are printed in rows per second.
//!
//! With `--index-rows N` instead of a file, it measures the memory of the duplicate index
//! alone (Linux): `N` distinct rows, each with a phone and a lead_id as a file with an ID
//! column gives them, inserted into [`DuplicateIndex`], and the growth of the resident set
//! (now and at its peak) per row. The index is first sized for `N` rows, as `check` sizes
//! it from the file; `--grow` leaves that out, so that the index grows by doubling.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use csv::ByteRecord;
use naturalead_import::mapping::Mapping;
use naturalead_import::pipeline::DuplicateIndex;
use naturalead_import::source::{Source, SourceOptions};
use naturalead_import::validate::{DedupKeys, Validator, normalise_phone, parse_region};

/// What one pass over the file counted, so the work cannot be optimised away.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
struct Tally {
    rows: u64,
    bytes: u64,
    valid: u64,
}

fn reader(path: &Path) -> csv::Reader<std::fs::File> {
    csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .buffer_capacity(1 << 16)
        .from_path(path)
        .unwrap_or_else(|e| panic!("open {}: {e}", path.display()))
}

/// Column positions of `name` in the header, by exact name.
fn column(header: &ByteRecord, name: &str) -> Option<usize> {
    header.iter().position(|h| h == name.as_bytes())
}

/// (a) The bare csv-crate parse.
fn parse(path: &Path) -> Tally {
    let mut rdr = reader(path);
    let mut record = ByteRecord::new();
    let mut tally = Tally::default();
    rdr.read_byte_record(&mut record).expect("header");
    while rdr.read_byte_record(&mut record).expect("read") {
        tally.rows += 1;
        tally.bytes += record.as_slice().len() as u64;
    }
    tally
}

/// (b) The parse plus phone validation.
fn parse_and_phone(path: &Path) -> Tally {
    let mut rdr = reader(path);
    let mut record = ByteRecord::new();
    let mut tally = Tally::default();
    rdr.read_byte_record(&mut record).expect("header");
    let phone = column(&record, "phone").expect("a `phone` column");
    let country = column(&record, "country");
    let default = parse_region("US").expect("US");
    while rdr.read_byte_record(&mut record).expect("read") {
        tally.rows += 1;
        tally.bytes += record.as_slice().len() as u64;
        let cell = |i: usize| {
            record
                .get(i)
                .and_then(|b| std::str::from_utf8(b).ok())
                .unwrap_or("")
                .trim()
        };
        let region = match country.map(cell) {
            Some(code) if !code.is_empty() => parse_region(code),
            _ => Some(default),
        };
        let raw = cell(phone);
        if let Some(region) = region
            && !raw.is_empty()
            && normalise_phone(raw, region).is_ok()
        {
            tally.valid += 1;
        }
    }
    tally
}

/// (c) The importer's source, mapping and validator on this thread.
fn parse_and_validate(path: &Path) -> Tally {
    let mut source = Source::open(path, &SourceOptions::default()).expect("open");
    let mapping = Mapping::resolve(source.headers(), None, path).expect("mapping");
    let validator = Validator::new(&mapping, parse_region("US").expect("US"));
    let decoder = source.decoder();
    let width = source.headers().len();
    let mut tally = Tally::default();
    while let Some(row) = source.next_row().expect("read") {
        tally.rows += 1;
        tally.bytes += row.record.as_slice().len() as u64;
        if row.record.len() != width {
            continue;
        }
        if let Ok(fields) = decoder.decode_record(&row.record)
            && validator.validate(&fields).result.is_ok()
        {
            tally.valid += 1;
        }
    }
    tally
}

fn measure(name: &str, runs: usize, f: impl Fn() -> Tally) -> Tally {
    let mut times: Vec<Duration> = Vec::with_capacity(runs);
    let mut tally = Tally::default();
    for _ in 0..runs {
        let start = Instant::now();
        let t = std::hint::black_box(f());
        times.push(start.elapsed());
        tally = t;
    }
    times.sort();
    let rate = |d: Duration| tally.rows as f64 / d.as_secs_f64();
    let median = times[times.len() / 2];
    println!(
        "{name:<18} {:>11.0} rows/s median  (min {:.0}, max {:.0}; {runs} runs, median {:.3} s, {} rows, {} valid phones)",
        rate(median),
        rate(times[times.len() - 1]),
        rate(times[0]),
        median.as_secs_f64(),
        tally.rows,
        tally.valid,
    );
    tally
}

/// `VmRSS` and `VmHWM` (peak) of this process in bytes, from `/proc/self/status`.
fn resident() -> Option<(u64, u64)> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let field = |name: &str| -> Option<u64> {
        let line = status.lines().find(|l| l.starts_with(name))?;
        let kib: u64 = line[name.len()..]
            .trim()
            .trim_end_matches("kB")
            .trim()
            .parse()
            .ok()?;
        Some(kib * 1024)
    };
    Some((field("VmRSS:")?, field("VmHWM:")?))
}

/// The duplicate index's memory for `rows` distinct rows with a phone and a lead_id each.
fn index_memory(rows: u64, reserve: bool) -> ExitCode {
    let Some((rss0, hwm0)) = resident() else {
        eprintln!("check_floors: --index-rows needs /proc/self/status (Linux)");
        return ExitCode::FAILURE;
    };
    let mut index = DuplicateIndex::new(true);
    if reserve {
        index.reserve(usize::try_from(rows).expect("rows fit in memory"));
    }
    let mut keys = DedupKeys::default();
    for row in 1..=rows {
        // Distinct, E.164-shaped phones (1 212 200 0000 onwards) and CRM-style IDs.
        keys.phone = Some(12_122_000_000 + row);
        keys.lead_id = Some(format!("crm-{row:08}"));
        assert!(index.check(row, &keys, true).is_empty());
    }
    let (rss1, hwm1) = resident().expect("read before");
    let mib = |b: u64| b as f64 / (1024.0 * 1024.0);
    println!(
        "duplicate index, {rows} rows ({} entries, {}): resident {:.1} MiB ({:.1} bytes/row), peak while growing {:.1} MiB ({:.1} bytes/row)",
        index.len(),
        if reserve { "sized in advance" } else { "grown" },
        mib(rss1 - rss0),
        (rss1 - rss0) as f64 / rows as f64,
        mib(hwm1.saturating_sub(hwm0.max(rss0))),
        hwm1.saturating_sub(hwm0.max(rss0)) as f64 / rows as f64,
    );
    std::hint::black_box(&index);
    ExitCode::SUCCESS
}

fn main() -> ExitCode {
    let mut path: Option<PathBuf> = None;
    let mut runs = 5usize;
    let grow = std::env::args().any(|a| a == "--grow");
    let mut args = std::env::args().skip(1).filter(|a| a != "--grow");
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--index-rows" => {
                return match args.next().and_then(|v| v.parse().ok()) {
                    Some(n) => index_memory(n, !grow),
                    None => {
                        eprintln!("check_floors: --index-rows needs a number");
                        ExitCode::from(2)
                    }
                };
            }
            "--runs" => match args.next().and_then(|v| v.parse().ok()) {
                Some(n) if n > 0 => runs = n,
                _ => {
                    eprintln!("check_floors: --runs needs a positive number");
                    return ExitCode::from(2);
                }
            },
            _ if path.is_none() => path = Some(PathBuf::from(arg)),
            other => {
                eprintln!("check_floors: unexpected argument `{other}`");
                return ExitCode::from(2);
            }
        }
    }
    let Some(path) = path else {
        eprintln!("usage: check_floors FILE.csv [--runs N] | check_floors --index-rows N [--grow]");
        return ExitCode::from(2);
    };

    // Warm the page cache so the first run is not the only one reading the disk.
    let _ = parse(&path);
    println!("file: {}", path.display());
    let a = measure("(a) parse", runs, || parse(&path));
    let b = measure("(b) parse + phone", runs, || parse_and_phone(&path));
    let c = measure("(c) parse + validate", runs, || parse_and_validate(&path));
    assert_eq!(a.rows, b.rows);
    assert_eq!(a.rows, c.rows);
    ExitCode::SUCCESS
}
