//! Hostile and broken input: files an import must survive without a panic, each with a
//! clear message on stderr and the documented exit code, nothing lost and the run
//! resumable. (The randomised counterpart is `tests/fuzz_input.rs`.)

use std::io::Write as _;
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use naturalead_sandbox::{Config, Limits};

mod common;

use common::*;

fn config() -> Config {
    Config {
        window: Duration::from_secs(1),
        limits: Limits {
            global_per_ip: 1_000_000,
            per_key: 1_000_000,
            sync_per_key: 1_000_000,
            per_account: 1_000_000,
        },
        ..Config::default()
    }
}

/// No panic, the exit code, and stderr holding every one of `messages`.
fn assert_clear(out: &Output, code: i32, messages: &[&str]) {
    let stderr = text(&out.stderr);
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert_exit(out, code);
    for message in messages {
        assert!(stderr.contains(message), "`{message}` not in:\n{stderr}");
    }
}

fn check(env: &Env, csv: &str) -> Output {
    Command::new(env!("CARGO_BIN_EXE_nl-import"))
        .current_dir(env.dir.path())
        .args(["check", csv, "--report-dir", "check"])
        .output()
        .unwrap()
}

fn report_rows(env: &Env) -> Vec<Vec<String>> {
    let mut reader = csv::ReaderBuilder::new()
        .flexible(true)
        .from_path(env.path("reports/rejected.csv"))
        .unwrap();
    reader
        .records()
        .map(|r| r.unwrap().iter().map(str::to_owned).collect())
        .collect()
}

#[test]
fn invalid_utf8_rejects_the_row_and_names_the_encoding_flag() {
    let env = Env::start(config());
    let csv = env.path("leads.csv");
    let mut bytes = b"lead_id,name,phone\n".to_vec();
    // 0x81 is not Windows-1252 either, so the file is read as UTF-8.
    bytes.extend_from_slice(b"x1,Bad \xff\x81 name,+12125550100\n");
    bytes.extend_from_slice(b"x2,Good,+12125550101\n");
    std::fs::write(&csv, bytes).unwrap();
    let out = env.import(&csv, &fast());
    assert_clear(&out, 3, &["malformed_row", "not valid utf-8", "--encoding"]);
    let report = report_rows(&env);
    assert_eq!(report.len(), 1);
    assert_eq!(
        (report[0][0].as_str(), report[0][1].as_str()),
        ("1", "malformed_row")
    );
    assert_eq!(env.leads_by_id().keys().collect::<Vec<_>>(), ["x2"]);
}

#[test]
fn nul_bytes_in_fields_and_utf16_without_a_bom() {
    let env = Env::start(config());
    // A NUL inside a phone makes it invalid; inside a name it is text like any other and
    // travels JSON-escaped.
    let csv = env.path("leads.csv");
    std::fs::write(
        &csv,
        b"lead_id,name,phone\nx1,Ada,+1212\x005550100\nx2,Nul\x00Name,+12125550101\n",
    )
    .unwrap();
    let out = env.import(&csv, &fast());
    assert_clear(&out, 3, &["invalid_phone"]);
    let stored = env.leads_by_id();
    assert_eq!(stored.len(), 1);
    assert_eq!(stored["x2"].lead.name, "Nul\0Name");

    // UTF-16 without a byte-order mark: every other byte is NUL. Refused up front.
    let utf16 = env.path("utf16.csv");
    let wide: Vec<u8> = "lead_id,name,phone\r\nx3,Ada,+12125550102\r\n"
        .encode_utf16()
        .flat_map(u16::to_le_bytes)
        .collect();
    std::fs::write(&utf16, wide).unwrap();
    let out = env.import(&utf16, &fast());
    assert_clear(&out, 1, &["NUL bytes", "UTF-16 without a byte-order mark"]);
    assert_clear(
        &check(&env, "utf16.csv"),
        1,
        &["UTF-16 without a byte-order mark"],
    );
    assert_eq!(env.leads().len(), 1, "nothing more was sent");
}

#[test]
fn a_100_mb_field() {
    let env = Env::start(config());
    let csv = env.path("leads.csv");
    let mut file = std::io::BufWriter::new(std::fs::File::create(&csv).unwrap());
    file.write_all(b"lead_id,name,phone\nx1,Ada,+12125550100\nx2,")
        .unwrap();
    let chunk = vec![b'A'; 1 << 20];
    for _ in 0..100 {
        file.write_all(&chunk).unwrap();
    }
    file.write_all(b",+12125550101\nx3,Cy,+12125550102\n")
        .unwrap();
    file.flush().unwrap();
    drop(file);
    let started = Instant::now();
    let out = env.import(&csv, &fast());
    // Over the record limit (16 MiB): rejected before anything is sent for it, read past in
    // constant memory; the rows around it arrive.
    assert_clear(&out, 3, &["malformed_row"]);
    assert!(started.elapsed() < Duration::from_secs(60));
    let stored = env.leads_by_id();
    assert_eq!(stored.keys().collect::<Vec<_>>(), ["x1", "x3"]);
    let summary = env.summary();
    assert_eq!(
        summary["rejected_by_class"]["malformed_row"], 1,
        "{summary:#}"
    );
    assert_eq!(summary["pending"], 0);
    let report = report_rows(&env);
    assert_eq!(report[0][0], "2");
    assert!(
        report[0][3].contains("larger than the limit"),
        "{:?}",
        report[0]
    );
}

#[test]
fn a_hundred_thousand_columns() {
    let env = Env::start(config());
    let csv = env.path("leads.csv");
    let columns = 100_000;
    let mut text = String::from("lead_id,phone");
    for c in 2..columns {
        text.push_str(&format!(",c{c}"));
    }
    text.push('\n');
    for (id, phone) in [("w1", "+12125550100"), ("w2", "+12125550101")] {
        text.push_str(&format!("{id},{phone}"));
        for _ in 2..columns {
            text.push_str(",v");
        }
        text.push('\n');
    }
    std::fs::write(&csv, text).unwrap();
    let started = Instant::now();
    // Linear in the number of columns (it used to compare every header with every other).
    let out = check(&env, "leads.csv");
    assert_clear(&out, 0, &[]);
    assert!(
        started.elapsed() < Duration::from_secs(20),
        "{:?}",
        started.elapsed()
    );
    let out = env.import(&csv, &fast());
    assert_clear(&out, 0, &[]);
    let stored = env.leads_by_id();
    assert_eq!(stored["w2"].lead.custom_fields.len(), columns - 2);

    // A duplicated name far out in a wide header is still found, quickly.
    let dup = env.path("dup.csv");
    let mut header: Vec<String> = (0..columns).map(|c| format!("c{c}")).collect();
    header[1] = "phone".into();
    header[columns - 1] = "c7".into();
    std::fs::write(&dup, format!("{}\n", header.join(","))).unwrap();
    let started = Instant::now();
    assert_clear(
        &check(&env, "dup.csv"),
        1,
        &["c7", "8", &columns.to_string()],
    );
    assert!(started.elapsed() < Duration::from_secs(20));
}

#[test]
fn an_unbalanced_quote_at_the_end_of_the_file() {
    let env = Env::start(config());
    let csv = env.path("leads.csv");
    std::fs::write(
        &csv,
        "lead_id,name,phone\nq1,Ada,+12125550100\nq2,\"Unclosed,+12125550101\nq3,Cy,+12125550102\n",
    )
    .unwrap();
    let out = env.import(&csv, &fast());
    // The quote swallows the rest of the file into one record: one malformed row, named
    // by its line, and the rows before it imported.
    assert_clear(&out, 3, &["malformed_row", "line 3"]);
    let report = report_rows(&env);
    assert_eq!(report.len(), 1);
    assert_eq!(report[0][1], "malformed_row");
    assert_eq!(env.leads_by_id().keys().collect::<Vec<_>>(), ["q1"]);
    assert_eq!(env.summary()["pending"], 0);
}

#[test]
fn empty_header_only_and_missing_files() {
    let env = Env::start(config());
    let cases: [(&str, &[u8], &str); 3] = [
        ("header.csv", b"lead_id,name,phone\n", "no data rows"),
        ("empty.csv", b"", "is empty"),
        ("bom.csv", b"\xef\xbb\xbf\r\n\r\n", "is empty"),
    ];
    for (name, bytes, message) in cases {
        std::fs::write(env.path(name), bytes).unwrap();
        assert_clear(&env.import(&env.path(name), &fast()), 1, &[name, message]);
        assert_clear(&check(&env, name), 1, &[message]);
    }
    assert_clear(
        &env.import(&env.path("missing.csv"), &fast()),
        1,
        &["missing.csv"],
    );
    assert_clear(&env.import(env.dir.path(), &fast()), 1, &["cannot"]);
    assert!(env.sync_statuses().is_empty(), "nothing was sent");
}

#[test]
fn a_file_that_changes_while_it_is_read() {
    let env = Env::start(config());
    let csv = env.path("leads.csv");
    write_leads(&csv, 600);
    // Slow enough that the file is appended to (an export still being written) mid-run.
    let mut child = spawn_import(
        &env,
        &csv,
        &[
            "--rate",
            "20",
            "--rate-window",
            "1",
            "--batch-size",
            "10",
            "--concurrency",
            "1",
        ],
    );
    wait_for_leads(&env, 20, &mut child);
    let mut file = std::fs::OpenOptions::new().append(true).open(&csv).unwrap();
    file.write_all(b"crm-late1,Late,+1 212 399-0001,,,,\n")
        .unwrap();
    drop(file);
    let out = child.wait_with_output().unwrap();
    assert_clear(
        &out,
        1,
        &["changed while it was being read", "import it again"],
    );
    let summary = env.summary();
    assert!(
        summary["message"]
            .as_str()
            .unwrap()
            .contains("changed while")
    );

    // Importing again (the file is complete now) sends what the first run did not.
    let out = env.import(&csv, &fast());
    assert_clear(&out, 0, &[]);
    let stored = env.leads_by_id();
    assert_eq!(stored.len(), 601);
    assert!(stored.contains_key("crm-late1"));
}

#[test]
fn a_report_directory_that_cannot_be_written() {
    let env = Env::start(config());
    let csv = env.path("leads.csv");
    write_leads(&csv, 300);
    append(&csv, "bad,No Phone,,,,,\n");

    // Not writable from the start (a file where the directory should be): nothing is sent.
    std::fs::write(env.path("reports"), "not a directory").unwrap();
    let out = env.import(&csv, &fast());
    assert_clear(
        &out,
        1,
        &["nothing was sent", "report directory", "reports"],
    );
    assert!(env.sync_statuses().is_empty());

    // It goes away while the import runs (a disk that fills up, a volume unmounted): the
    // import is recorded, the message says so, and running again writes the report.
    std::fs::remove_file(env.path("reports")).unwrap();
    let mut child = spawn_import(
        &env,
        &csv,
        &[
            "--rate",
            "20",
            "--rate-window",
            "1",
            "--batch-size",
            "20",
            "--concurrency",
            "1",
        ],
    );
    wait_for_leads(&env, 20, &mut child);
    std::fs::remove_dir_all(env.path("reports")).unwrap();
    std::fs::write(env.path("reports"), "not a directory").unwrap();
    let out = child.wait_with_output().unwrap();
    assert_clear(
        &out,
        1,
        &[
            "is recorded in the state file",
            "report could not be written",
            "run the same command again",
        ],
    );
    assert_eq!(env.leads().len(), 300, "the import itself finished");

    std::fs::remove_file(env.path("reports")).unwrap();
    let out = env.import(&csv, &fast());
    assert_clear(&out, 3, &[]);
    let report = report_rows(&env);
    assert_eq!(report.len(), 1);
    assert_eq!(report[0][1], "missing_phone");
    let stored = env.leads_by_id();
    assert_eq!(stored.len(), 300);
    assert!(
        stored.values().all(|l| l.write_count == 1),
        "nothing sent twice"
    );
}
