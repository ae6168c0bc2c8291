//! Fuzzing the source + validate path with proptest: generated files (structured rows of
//! valid and invalid values, any delimiter, quotes, newlines, stray bytes, invalid UTF-8,
//! NULs, BOMs) go through `check` in-process. Whatever the file, `check` must not panic,
//! must either refuse the file as a whole with a message naming it (exit 1) or account for
//! every row: `rows_read = valid + rejected`, one report line per rejected row with a known
//! class, one payload per valid row with an E.164 phone and a `lead_id`.
//!
//! CI runs `NL_FUZZ_CASES` cases (default 96); a longer run by hand:
//! `NL_FUZZ_CASES=20000 cargo test --release --test fuzz_input`.

use std::collections::BTreeSet;
use std::path::Path;

use clap::Parser;
use naturalead_import::check;
use naturalead_import::cli::{Cli, Command};
use naturalead_import::config::CheckConfig;
use proptest::prelude::*;
use proptest::test_runner::{Config as ProptestConfig, FileFailurePersistence};
use serde_json::Value;

const CLASSES: [&str; 8] = [
    "malformed_row",
    "missing_phone",
    "invalid_phone",
    "invalid_status",
    "invalid_tags",
    "invalid_custom_fields",
    "invalid_email",
    "duplicate_in_file",
];

fn cases() -> u32 {
    std::env::var("NL_FUZZ_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(96)
}

/// One cell: mostly plausible values, sometimes hostile ones.
fn cell() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => (0u32..10_000).prop_map(|n| format!("+1 212 555-{n:04}")),
        2 => (0u32..1000).prop_map(|n| format!("020 7946 0{n:03}")),
        1 => Just(String::new()),
        1 => prop::sample::select(vec![
            "new", "Contacted", " QUALIFIED ", "won", "disqualified", "maybe",
        ])
        .prop_map(str::to_owned),
        1 => prop::sample::select(vec![
            "a;b;c", "[\"x\",\"y\"]", "[1,", "{\"k\":1}", "{\"k\":[1]}", "[]", "x|y|x",
        ])
        .prop_map(str::to_owned),
        1 => "[a-z]{1,8}@[a-z]{1,8}\\.(com|org)",
        1 => "[^\\x00]{0,12}",
        1 => ".{0,20}",
        1 => prop::sample::select(vec![
            "\"", "\"\"", "a\"b", "\"quoted, with comma\"", "line\nbreak", "\r\n", "\0",
            ",,,", ";", "\t", "|", "\u{feff}", "💥", "é", "+", "++1", "+999999999999999999999",
        ])
        .prop_map(str::to_owned),
    ]
}

/// A CSV file: a header (usually with a phone column), rows of cells joined by the
/// delimiter (sometimes with the wrong width), and sometimes raw bytes spliced in.
fn file() -> impl Strategy<Value = Vec<u8>> {
    let header = prop::sample::subsequence(
        vec![
            "lead_id",
            "Phone",
            "name",
            "E-mail",
            "status",
            "tags",
            "Custom Fields",
            "country",
            "company",
            "_row",
        ],
        1..=8,
    );
    let delimiter = prop::sample::select(vec![b',', b';', b'\t', b'|']);
    let rows = prop::collection::vec(prop::collection::vec(cell(), 0..10), 0..25);
    let splices = prop::collection::vec(
        (
            any::<prop::sample::Index>(),
            prop::collection::vec(any::<u8>(), 1..12),
        ),
        0..3,
    );
    let bom = prop::sample::select(vec![&b""[..], b"\xef\xbb\xbf", b"\xff\xfe", b"\xfe\xff"]);
    let crlf = any::<bool>();
    (header, delimiter, rows, splices, bom, crlf).prop_map(
        |(header, delimiter, rows, splices, bom, crlf)| {
            let d = (delimiter as char).to_string();
            let end = if crlf { "\r\n" } else { "\n" };
            let mut text = header.join(&d);
            text.push_str(end);
            for row in rows {
                text.push_str(&row.join(&d));
                text.push_str(end);
            }
            let mut bytes = bom.to_vec();
            bytes.extend_from_slice(text.as_bytes());
            for (at, junk) in splices {
                let at = at.index(bytes.len() + 1);
                bytes.splice(at..at, junk);
            }
            bytes
        },
    )
}

/// Runs `nl-import check` on `bytes` in-process and checks the invariants.
fn check_file(dir: &Path, bytes: &[u8]) -> Result<(), TestCaseError> {
    let csv = dir.join("input.csv");
    std::fs::write(&csv, bytes).unwrap();
    let reports = dir.join("reports");
    let _ = std::fs::remove_dir_all(&reports);
    let valid = dir.join("valid.jsonl");
    let cli = Cli::try_parse_from([
        "nl-import".as_ref(),
        "check".as_ref(),
        csv.as_os_str(),
        "--report-dir".as_ref(),
        reports.as_os_str(),
        "--emit-valid".as_ref(),
        valid.as_os_str(),
        "--threads".as_ref(),
        "2".as_ref(),
    ])
    .unwrap();
    let Command::Check(args) = cli.command else {
        unreachable!()
    };
    let cfg = CheckConfig::from_args(&args, true).unwrap();
    let (mut stdout, mut stderr) = (Vec::new(), Vec::new());
    let code = match check::run(&cfg, &mut stdout, &mut stderr) {
        Ok(code) => code,
        Err(e) => {
            // Refused as a whole: a message that names the file.
            let message = format!("{e:#}");
            prop_assert!(message.contains("input.csv"), "unclear refusal: {message}");
            return Ok(());
        }
    };
    prop_assert!(code == 0 || code == 3, "exit {code}");
    let summary: Value =
        serde_json::from_str(&std::fs::read_to_string(reports.join("summary.json")).unwrap())
            .unwrap();
    let n = |k: &str| summary[k].as_u64().unwrap();
    prop_assert_eq!(n("rows_read"), n("valid") + n("rejected"), "{:#}", summary);
    prop_assert_eq!(code == 0, n("rejected") == 0);

    let mut reader = csv::ReaderBuilder::new()
        .flexible(true)
        .from_path(reports.join("rejected.csv"))
        .unwrap();
    let mut rows = BTreeSet::new();
    for record in reader.records() {
        let record = record.unwrap();
        let row: u64 = record[0].parse().unwrap();
        prop_assert!((1..=n("rows_read")).contains(&row), "row {row}");
        prop_assert!(rows.insert(row), "row {row} reported twice");
        prop_assert!(CLASSES.contains(&&record[1]), "class {}", &record[1]);
        prop_assert!(!record[3].is_empty(), "no message for row {row}");
    }
    prop_assert_eq!(rows.len() as u64, n("rejected"));

    let payloads = std::fs::read_to_string(&valid).unwrap();
    let mut ids = BTreeSet::new();
    for line in payloads.lines() {
        let lead: Value = serde_json::from_str(line).unwrap();
        let phone = lead["phone"].as_str().unwrap();
        prop_assert!(
            phone.starts_with('+') && phone[1..].bytes().all(|b| b.is_ascii_digit()),
            "phone {phone}"
        );
        let id = lead["lead_id"].as_str().unwrap();
        prop_assert!(!id.is_empty());
        prop_assert!(
            ids.insert(id.to_owned()),
            "lead_id {id} twice among valid rows"
        );
    }
    prop_assert_eq!(ids.len() as u64, n("valid"));
    Ok(())
}

#[test]
fn check_accounts_for_every_row_of_any_file() {
    let dir = tempfile::tempdir().unwrap();
    let config = ProptestConfig {
        cases: cases(),
        failure_persistence: Some(Box::new(FileFailurePersistence::Off)),
        ..ProptestConfig::default()
    };
    proptest!(config, |(bytes in file())| {
        check_file(dir.path(), &bytes)?;
    });
}

#[test]
fn check_survives_arbitrary_bytes() {
    let dir = tempfile::tempdir().unwrap();
    let config = ProptestConfig {
        cases: cases(),
        failure_persistence: Some(Box::new(FileFailurePersistence::Off)),
        ..ProptestConfig::default()
    };
    // A valid header, then anything at all.
    proptest!(config, |(tail in prop::collection::vec(any::<u8>(), 0..600))| {
        let mut bytes = b"lead_id,name,phone,status\n".to_vec();
        bytes.extend_from_slice(&tail);
        check_file(dir.path(), &bytes)?;
    });
}
