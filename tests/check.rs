//! `nl-import check` end to end: the built binary on fixture files written to a temporary
//! directory, asserting the contract a user and a script rely on (design.md, README): the
//! exit code, `rejected.csv` (columns, classes, order, original cells, line numbers),
//! `summary.json` (counts, `rows_read = valid + rejected`), `--emit-valid`, `--print-mapping`,
//! mapping files, and the fatal messages that name the file.
//!
//! Every test gets its own directory, runs the binary there with `--report-dir` inside it,
//! and reads the reports back with the csv and serde_json crates.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use serde_json::Value;

const BIN: &str = env!("CARGO_BIN_EXE_nl-import");

/// The classes `check` can reject a row with, in report order (design.md's table).
const LOCAL_CLASSES: [&str; 8] = [
    "malformed_row",
    "missing_phone",
    "invalid_phone",
    "invalid_status",
    "invalid_tags",
    "invalid_custom_fields",
    "invalid_email",
    "duplicate_in_file",
];

/// Every class, in report order.
const ALL_CLASSES: [&str; 11] = [
    "malformed_row",
    "missing_phone",
    "invalid_phone",
    "invalid_status",
    "invalid_tags",
    "invalid_custom_fields",
    "invalid_email",
    "duplicate_in_file",
    "rejected_by_api",
    "duplicate_in_account",
    "gave_up",
];

const REPORT_COLUMNS: [&str; 7] = [
    "_row",
    "_error_class",
    "_error_field",
    "_error_message",
    "_fix",
    "_line",
    "_fingerprint",
];

/// Where the original columns start in a report line.
const R: usize = REPORT_COLUMNS.len();

fn samples() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("samples")
}

/// A temporary working directory holding fixtures and reports.
struct Workdir {
    dir: tempfile::TempDir,
}

impl Workdir {
    fn new() -> Workdir {
        Workdir {
            dir: tempfile::tempdir().expect("temporary directory"),
        }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// Writes `bytes` to `name` and returns its path.
    fn write(&self, name: &str, bytes: impl AsRef<[u8]>) -> PathBuf {
        let path = self.path(name);
        std::fs::write(&path, bytes).expect("write fixture");
        path
    }

    /// Runs `nl-import <args>` in this directory, with a deterministic environment.
    fn run(&self, args: &[&str]) -> Run {
        let output = Command::new(BIN)
            .args(args)
            .current_dir(self.dir.path())
            .env_remove("NL_IMPORT_DEFAULT_REGION")
            .env_remove("NL_IMPORT_LOG")
            .stdin(Stdio::null())
            .output()
            .expect("run nl-import");
        Run {
            args: args.iter().map(|s| (*s).to_owned()).collect(),
            code: output.status.code().expect("exited, not killed"),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
            report_dir: None,
        }
    }

    /// Runs `nl-import check <csv> --report-dir <dir>/report <extra>`.
    fn check(&self, csv: impl AsRef<Path>, extra: &[&str]) -> Run {
        let report_dir = self.path("report");
        let csv = csv.as_ref().to_str().expect("UTF-8 path").to_owned();
        let report = report_dir.to_str().expect("UTF-8 path").to_owned();
        let mut args = vec!["check", csv.as_str(), "--report-dir", report.as_str()];
        args.extend_from_slice(extra);
        let mut run = self.run(&args);
        run.report_dir = Some(report_dir);
        run
    }
}

/// What a run of the binary left behind.
#[derive(Debug)]
struct Run {
    args: Vec<String>,
    code: i32,
    stdout: String,
    stderr: String,
    report_dir: Option<PathBuf>,
}

impl Run {
    #[track_caller]
    fn expect_code(&self, code: i32) -> &Run {
        assert_eq!(
            self.code, code,
            "nl-import {:?}\n--- stdout\n{}\n--- stderr\n{}",
            self.args, self.stdout, self.stderr
        );
        self
    }

    fn report_dir(&self) -> &Path {
        self.report_dir.as_deref().expect("a check run")
    }

    /// `rejected.csv`, parsed.
    #[track_caller]
    fn rejected(&self) -> Report {
        let path = self.report_dir().join("rejected.csv");
        let mut reader = csv::ReaderBuilder::new()
            .has_headers(false)
            .flexible(true)
            .from_path(&path)
            .unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
        let mut records = reader.records().map(|r| {
            r.expect("rejected.csv is valid CSV")
                .iter()
                .map(str::to_owned)
                .collect::<Vec<_>>()
        });
        let header = records.next().expect("rejected.csv has a header");
        // A BOM for Excel (the csv crate skips it).
        let bytes = std::fs::read(&path).unwrap();
        assert!(
            bytes.starts_with("\u{FEFF}".as_bytes()),
            "rejected.csv starts with a BOM"
        );
        // The cells as nl-import reads them back: the formula guard taken off.
        let unguard = |cells: Vec<String>| -> Vec<String> {
            cells
                .into_iter()
                .map(|c| c.strip_prefix('\'').map(str::to_owned).unwrap_or(c))
                .collect()
        };
        let header = unguard(header);
        let records = records.map(unguard);
        Report {
            header,
            rows: records.collect(),
        }
    }

    /// `summary.json`, parsed.
    #[track_caller]
    fn summary(&self) -> Value {
        let path = self.report_dir().join("summary.json");
        let text = std::fs::read_to_string(&path)
            .unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
        serde_json::from_str(&text).expect("summary.json is JSON")
    }

    /// Checks that the reports account for every row and agree with each other, and returns
    /// `(rows_read, valid, rejected)`.
    #[track_caller]
    fn accounted(&self) -> (u64, u64, u64) {
        let summary = self.summary();
        let count = |key: &str| {
            summary[key]
                .as_u64()
                .unwrap_or_else(|| panic!("summary.{key} in {summary:#}"))
        };
        let (read, valid, rejected) = (count("rows_read"), count("valid"), count("rejected"));
        assert_eq!(read, valid + rejected, "rows_read = valid + rejected");
        let by_class = summary["rejected_by_class"]
            .as_object()
            .expect("rejected_by_class");
        let mut names: Vec<&str> = by_class.keys().map(String::as_str).collect();
        names.sort_unstable();
        let mut expected = ALL_CLASSES.to_vec();
        expected.sort_unstable();
        assert_eq!(names, expected, "rejected_by_class names every class");
        let filed: u64 = by_class.values().map(|v| v.as_u64().unwrap()).sum();
        assert_eq!(filed, rejected, "rejected_by_class adds up to rejected");

        let report = self.rejected();
        assert_eq!(
            report.rows.len() as u64,
            rejected,
            "one line per rejected row"
        );
        for class in ALL_CLASSES {
            let lines = report.rows.iter().filter(|r| r[1] == class).count() as u64;
            assert_eq!(
                by_class[class].as_u64().unwrap(),
                lines,
                "rejected_by_class.{class}"
            );
        }
        report.assert_sorted();
        (read, valid, rejected)
    }

    /// The `--emit-valid` file (or stdout), parsed line by line.
    fn leads(text: &str) -> Vec<Value> {
        text.lines()
            .map(|line| serde_json::from_str(line).expect("one JSON object per line"))
            .collect()
    }
}

/// `rejected.csv`: its header and rows, as strings.
#[derive(Debug)]
struct Report {
    header: Vec<String>,
    rows: Vec<Vec<String>>,
}

impl Report {
    /// `(row, class)` of every line, in file order.
    fn classes(&self) -> Vec<(u64, &str)> {
        self.rows
            .iter()
            .map(|r| (r[0].parse().expect("_row is a number"), r[1].as_str()))
            .collect()
    }

    /// The line for data row `row`.
    #[track_caller]
    fn row(&self, row: u64) -> &[String] {
        self.rows
            .iter()
            .find(|r| r[0] == row.to_string())
            .unwrap_or_else(|| panic!("row {row} in {self:#?}"))
    }

    /// Sorted by class in report order, then by row; no row twice.
    #[track_caller]
    fn assert_sorted(&self) {
        let keys: Vec<(usize, u64)> = self
            .classes()
            .into_iter()
            .map(|(row, class)| {
                let rank = ALL_CLASSES
                    .iter()
                    .position(|c| *c == class)
                    .unwrap_or_else(|| panic!("unknown class `{class}`"));
                (rank, row)
            })
            .collect();
        let mut sorted = keys.clone();
        sorted.sort_unstable();
        assert_eq!(keys, sorted, "sorted by class, then row: {self:#?}");
        let mut rows: Vec<u64> = keys.iter().map(|k| k.1).collect();
        rows.sort_unstable();
        rows.dedup();
        assert_eq!(rows.len(), keys.len(), "each row appears once");
    }

    /// The header must be the report columns, then `original`.
    #[track_caller]
    fn assert_header(&self, original: &[&str]) {
        let mut expected: Vec<&str> = REPORT_COLUMNS.to_vec();
        expected.extend_from_slice(original);
        assert_eq!(self.header, expected);
    }
}

/// The `--print-mapping` table (up to the blank line before the other decisions), cut
/// into cells.
fn mapping_table(stdout: &str) -> Vec<Vec<&str>> {
    stdout
        .lines()
        .take_while(|l| !l.trim().is_empty())
        .map(|l| {
            l.split("  ")
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .collect()
        })
        .collect()
}

fn utf16(text: &str, big_endian: bool) -> Vec<u8> {
    let mut out = if big_endian {
        vec![0xFE, 0xFF]
    } else {
        vec![0xFF, 0xFE]
    };
    for unit in text.encode_utf16() {
        let bytes = if big_endian {
            unit.to_be_bytes()
        } else {
            unit.to_le_bytes()
        };
        out.extend_from_slice(&bytes);
    }
    out
}

// ---------------------------------------------------------------------------------------
// Outcomes and the reports
// ---------------------------------------------------------------------------------------

#[test]
fn all_valid_exits_0_with_an_empty_report() {
    let wd = Workdir::new();
    let run = wd.check(samples().join("leads.csv"), &[]);
    run.expect_code(0);
    assert_eq!(run.accounted(), (12, 12, 0));
    run.rejected().assert_header(&[
        "lead_id", "name", "phone", "email", "status", "tags", "company",
    ]);
    let summary = run.summary();
    assert_eq!(summary["command"], "check");
    assert_eq!(summary["encoding"], "utf-8");
    assert_eq!(summary["delimiter"], ",");
    assert!(
        run.stdout.contains("12 rows read, 12 valid, 0 rejected"),
        "{}",
        run.stdout
    );
    // Nothing was rejected: no table on stderr.
    assert!(!run.stderr.contains("error class"), "{}", run.stderr);
}

#[test]
fn messy_sample_yields_every_local_class_in_report_order() {
    let wd = Workdir::new();
    let mapping = samples().join("mapping.toml");
    let run = wd.check(
        samples().join("messy.csv"),
        &["--mapping", mapping.to_str().unwrap()],
    );
    run.expect_code(3);
    assert_eq!(run.accounted(), (13, 3, 10));

    let summary = run.summary();
    for class in LOCAL_CLASSES {
        assert!(
            summary["rejected_by_class"][class].as_u64().unwrap() >= 1,
            "{class} in {summary:#}"
        );
        assert!(run.stderr.contains(class), "stderr table names {class}");
    }
    for class in ["rejected_by_api", "duplicate_in_account", "gave_up"] {
        assert_eq!(summary["rejected_by_class"][class], 0);
    }
    // Row 13 has five problems: filed once, under its first class, every problem counted.
    assert_eq!(summary["problems_by_class"]["invalid_status"], 2);
    assert_eq!(summary["problems_by_class"]["invalid_email"], 2);

    let report = run.rejected();
    report.assert_header(&[
        "Client Ref",
        "Full Name",
        "Mobile Number",
        "E-mail",
        "Lead Status",
        "Labels",
        "Extra",
        "Company",
        "Country",
        "Internal Notes",
    ]);
    assert_eq!(
        report.classes(),
        vec![
            (11, "malformed_row"),
            (3, "missing_phone"),
            (4, "invalid_phone"),
            (13, "invalid_phone"),
            (5, "invalid_status"),
            (6, "invalid_tags"),
            (7, "invalid_custom_fields"),
            (8, "invalid_email"),
            (9, "duplicate_in_file"),
            (10, "duplicate_in_file"),
        ]
    );
    // The wrong-width row: its physical line (after a CRLF file's header), every cell kept.
    let wide = report.row(11);
    assert!(wide[3].starts_with("line 12: "), "{wide:?}");
    assert_eq!(wide.len(), R + 11);
    assert_eq!(&wide[R..R + 2], ["A-109", "Too Many"]);
    assert_eq!(wide[R + 10], "extra cell");
    assert_eq!(wide[5], "12", "the line in `_line`");
    // All of row 13's problems, its fields, and the hint for the did-you-mean.
    let many = report.row(13);
    assert_eq!(many[2], "phone;status;tags;customFields;email");
    for class in [
        "invalid_status",
        "invalid_tags",
        "invalid_custom_fields",
        "invalid_email",
    ] {
        assert!(many[3].contains(&format!("[{class}]")), "{many:?}");
    }
    assert!(report.row(5)[3].contains("did you mean `qualified`?"));
    // Duplicates name the first row.
    assert_eq!(report.row(9)[2], "phone");
    assert!(report.row(9)[3].contains("row 2"), "{:?}", report.row(9));
    assert_eq!(report.row(10)[2], "lead_id");
    assert!(report.row(10)[3].contains("`A-101`") && report.row(10)[3].contains("row 2"));
    // Original cells exactly as read (quotes undone, JSON cells intact).
    assert_eq!(report.row(6)[R + 5], "[\"unclosed\"");
    assert_eq!(report.row(13)[R + 6], "{\"a\": [1]}");
}

#[test]
fn json_flag_prints_the_summary_on_stdout() {
    let wd = Workdir::new();
    let run = wd.check(samples().join("leads.csv"), &["--json"]);
    run.expect_code(0);
    let printed: Value = serde_json::from_str(&run.stdout).expect("stdout is one JSON document");
    let written = run.summary();
    for key in [
        "rows_read",
        "valid",
        "rejected",
        "rejected_by_class",
        "encoding",
    ] {
        assert_eq!(printed[key], written[key], "{key}");
    }
}

#[test]
fn default_report_dir_is_under_the_working_directory() {
    let wd = Workdir::new();
    let csv = wd.write("export.csv", "name,phone\nAda,+442079460958\nBad,12\n");
    let run = wd.run(&["check", csv.to_str().unwrap()]);
    run.expect_code(3);
    let dir = wd.path(".nl-import/reports/export");
    assert!(dir.join("rejected.csv").is_file());
    assert!(dir.join("summary.json").is_file());
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(dir.join("rejected.csv"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o077, 0, "reports are owner-only");
    }
}

#[test]
fn report_is_sorted_by_class_then_row_whatever_the_input_order() {
    let wd = Workdir::new();
    let csv = wd.write(
        "order.csv",
        "id,phone,status,email\n\
         a,+14155552671,new,a@example.com\n\
         b,+14155552672,won,\n\
         c,12,new,\n\
         d,,new,\n\
         e,+1 415-555-2671,,\n\
         f,+14155552673,nope,bad\n\
         g,+14155552674,,bad@\n\
         h,1,2\n\
         i,,,\n\
         a,+14155552675,,\n\
         j,(415) 555-2674,,\n",
    );
    let run = wd.check(&csv, &["--unknown-status", "reject"]);
    run.expect_code(3);
    assert_eq!(run.accounted(), (11, 2, 9));
    let report = run.rejected();
    assert_eq!(
        report.classes(),
        vec![
            (8, "malformed_row"),
            (4, "missing_phone"),
            (9, "missing_phone"),
            (3, "invalid_phone"),
            (2, "invalid_status"),
            (6, "invalid_status"),
            (7, "invalid_email"),
            (5, "duplicate_in_file"),
            (10, "duplicate_in_file"),
        ]
    );
    // Duplicates name the first row, by normalised phone or by lead_id.
    assert_eq!(report.row(5)[2], "phone");
    assert!(report.row(5)[3].contains("+14155552671") && report.row(5)[3].contains("row 1"));
    assert_eq!(report.row(10)[2], "lead_id");
    assert!(report.row(10)[3].contains("row 1"));
    // Row 6 has two problems: filed under the first class, both listed.
    assert_eq!(report.row(6)[2], "status;email");
    assert!(report.row(6)[3].contains("[invalid_email]"));
    // A rejected row never counts as "the first": row 11 reuses row 7's phone and is valid.
}

// ---------------------------------------------------------------------------------------
// Encodings
// ---------------------------------------------------------------------------------------

/// A small file with a non-ASCII name, a quoted multi-line cell and two bad rows.
const INTERNATIONAL: &str = "name,phone,email\r\n\
     José Müller,+49 30 901820,jose@example.de\r\n\
     \"Zoë\r\nO'Brien\",123,\r\n\
     Renée,+33 1 42 68 53 00,not-an-email\r\n";

#[track_caller]
fn assert_international(run: &Run, encoding: &str) {
    run.expect_code(3);
    assert_eq!(run.accounted(), (3, 1, 2));
    assert_eq!(run.summary()["encoding"], encoding);
    let report = run.rejected();
    report.assert_header(&["name", "phone", "email"]);
    assert_eq!(
        report.classes(),
        vec![(2, "invalid_phone"), (3, "invalid_email")]
    );
    assert_eq!(report.row(2)[R], "Zoë\r\nO'Brien");
    assert_eq!(report.row(3)[R], "Renée");
    let emitted = run.report_dir().with_file_name("valid.jsonl");
    let leads = Run::leads(&std::fs::read_to_string(emitted).unwrap());
    assert_eq!(leads.len(), 1);
    assert_eq!(leads[0]["name"], "José Müller");
    assert_eq!(leads[0]["phone"], "+4930901820");
}

fn emit_args(wd: &Workdir) -> [String; 2] {
    [
        "--emit-valid".to_owned(),
        wd.path("valid.jsonl").to_str().unwrap().to_owned(),
    ]
}

#[test]
fn utf8_without_bom() {
    let wd = Workdir::new();
    let csv = wd.write("plain.csv", INTERNATIONAL);
    let emit = emit_args(&wd);
    let run = wd.check(&csv, &[&emit[0], &emit[1]]);
    assert_international(&run, "utf-8");
}

#[test]
fn utf8_with_bom_does_not_leak_into_the_first_header() {
    let wd = Workdir::new();
    let mut bytes = vec![0xEF, 0xBB, 0xBF];
    bytes.extend_from_slice(INTERNATIONAL.as_bytes());
    let csv = wd.write("bom.csv", bytes);
    let emit = emit_args(&wd);
    let run = wd.check(&csv, &[&emit[0], &emit[1]]);
    assert_international(&run, "utf-8");

    // A BOM before the phone column's name must not stop it from being recognised.
    let csv = wd.write(
        "bom-phone.csv",
        b"\xEF\xBB\xBFphone,name\n+14155552671,Ada\n",
    );
    let run = wd.check(&csv, &["--print-mapping"]);
    run.expect_code(0);
    assert_eq!(
        mapping_table(&run.stdout)[1],
        ["1", "phone", "phone", "recognised header"]
    );
}

#[test]
fn utf16_little_endian_with_bom() {
    let wd = Workdir::new();
    let csv = wd.write("le.csv", utf16(INTERNATIONAL, false));
    let emit = emit_args(&wd);
    let run = wd.check(&csv, &[&emit[0], &emit[1]]);
    assert_international(&run, "utf-16");
}

#[test]
fn utf16_big_endian_with_bom() {
    let wd = Workdir::new();
    let csv = wd.write("be.csv", utf16(INTERNATIONAL, true));
    let emit = emit_args(&wd);
    let run = wd.check(&csv, &[&emit[0], &emit[1]]);
    assert_international(&run, "utf-16");
}

#[test]
fn utf16_with_a_tab_delimiter_is_sniffed_on_the_decoded_text() {
    let wd = Workdir::new();
    let csv = wd.write(
        "le-tab.csv",
        utf16("Name\tMobile\nÅsa\t+46 8 16 20 00\n", false),
    );
    let run = wd.check(&csv, &[]);
    run.expect_code(0);
    assert_eq!(run.accounted(), (1, 1, 0));
    assert_eq!(run.summary()["delimiter"], "\t");
}

/// `INTERNATIONAL` in Windows-1252 (every character of it exists there), plus a euro sign.
fn windows_1252() -> Vec<u8> {
    let mut out = Vec::new();
    for c in INTERNATIONAL.chars() {
        let byte = match c {
            'é' => 0xE9,
            'ü' => 0xFC,
            'ë' => 0xEB,
            c if c.is_ascii() => c as u8,
            other => panic!("no Windows-1252 byte for {other}"),
        };
        out.push(byte);
    }
    out
}

#[test]
fn windows_1252_with_the_encoding_flag() {
    let wd = Workdir::new();
    let csv = wd.write("cp1252.csv", windows_1252());
    let emit = emit_args(&wd);
    let run = wd.check(&csv, &["--encoding", "windows-1252", &emit[0], &emit[1]]);
    assert_international(&run, "windows-1252");

    // Bytes that UTF-8 reserves (0x80 is the euro sign) decode too; latin-1 is an alias.
    let csv = wd.write("euro.csv", b"name,phone,price\nA\x80,+14155552671,5 \x80\n");
    let run = wd.check(&csv, &["--encoding", "latin-1", "--emit-valid", "-"]);
    run.expect_code(0);
    let leads = Run::leads(&run.stdout);
    assert_eq!(leads[0]["name"], "A€");
    assert_eq!(leads[0]["customFields"]["price"], "5 €");
}

#[test]
fn windows_1252_without_the_flag_is_detected_and_named() {
    let wd = Workdir::new();
    let csv = wd.write("cp1252.csv", windows_1252());
    let emit = emit_args(&wd);
    let run = wd.check(&csv, &[&emit[0], &emit[1]]);
    assert_international(&run, "windows-1252");
    let reading = &run.summary()["reading"];
    assert_eq!(reading["encoding_detected"], true);
    assert!(
        reading["encoding_reason"]
            .as_str()
            .unwrap()
            .contains("not UTF-8 (byte 0xE9 on line 2)"),
        "{reading}"
    );
    assert!(
        run.stderr.contains("read as windows-1252"),
        "{}",
        run.stderr
    );
}

#[test]
fn undecodable_bytes_are_malformed_rows_and_the_run_goes_on() {
    let wd = Workdir::new();
    let csv = wd.write(
        "bad-bytes.csv",
        // 0x81 is not Windows-1252 either: read as UTF-8, the row is malformed.
        b"name,phone\nAda,+442079460958\nBad\xFF\x81,+12125550143\nGrace,+12125550144\n".as_slice(),
    );
    let run = wd.check(&csv, &["--emit-valid", "-"]);
    run.expect_code(3);
    assert_eq!(run.accounted(), (3, 2, 1));
    let report = run.rejected();
    assert_eq!(report.classes(), vec![(2, "malformed_row")]);
    assert!(
        report.row(2)[3].starts_with("line 3: "),
        "{:?}",
        report.row(2)
    );
    assert_eq!(Run::leads(&run.stdout).len(), 2);

    // In UTF-16, an unpaired surrogate.
    let mut bytes = utf16("name,phone\nA", false);
    bytes.extend_from_slice(&[0x00, 0xD8]);
    bytes.extend_from_slice(&utf16(",+14155552671\nB,+14155552672\n", false)[2..]);
    let csv = wd.write("bad16.csv", bytes);
    let run = wd.check(&csv, &[]);
    run.expect_code(3);
    assert_eq!(run.accounted(), (2, 1, 1));
    let report = run.rejected();
    assert_eq!(report.classes(), vec![(1, "malformed_row")]);
    assert!(
        report.row(1)[3].starts_with("line 2: "),
        "{:?}",
        report.row(1)
    );
}

// ---------------------------------------------------------------------------------------
// Delimiters, line ends, quoting, line numbers
// ---------------------------------------------------------------------------------------

#[test]
fn delimiters_are_sniffed_from_the_header() {
    for (delimiter, name) in [(',', ","), (';', ";"), ('\t', "\t"), ('|', "|")] {
        let wd = Workdir::new();
        let d = delimiter;
        // Cells hold the other delimiters, so only the right one gives the header's width.
        let text = format!(
            "Full Name{d}Phone Number{d}Tags\n\
             \"Lovelace, Ada\"{d}+44 20 7946 0958{d}\"a;b|c\"\n\
             Hopper{d}(212) 555-0143{d}x\n"
        );
        let csv = wd.write("d.csv", text);
        let run = wd.check(&csv, &["--emit-valid", "-"]);
        run.expect_code(0);
        assert_eq!(run.accounted(), (2, 2, 0), "delimiter {name:?}");
        assert_eq!(run.summary()["delimiter"], name);
        let leads = Run::leads(&run.stdout);
        assert_eq!(leads[0]["name"], "Lovelace, Ada", "delimiter {name:?}");
        assert_eq!(leads[1]["phone"], "+12125550143");
    }
}

#[test]
fn delimiter_flag_overrides_the_sniffing() {
    let wd = Workdir::new();
    // `;` and `|` tie on the header line; sniffing prefers `;`, which leaves no phone column.
    let csv = wd.write(
        "pipe.csv",
        "Name|Phone|x;y;z\nAda;Countess|+442079460958|1;2;3\n",
    );
    let run = wd.check(&csv, &[]);
    run.expect_code(1);
    assert!(run.stderr.contains("pipe.csv"), "{}", run.stderr);

    let run = wd.check(&csv, &["--delimiter", "|", "--emit-valid", "-"]);
    run.expect_code(0);
    assert_eq!(run.summary()["delimiter"], "|");
    let leads = Run::leads(&run.stdout);
    assert_eq!(leads[0]["name"], "Ada;Countess");
    assert_eq!(leads[0]["customFields"]["x;y;z"], "1;2;3");

    // `tab` is spelled out.
    let csv = wd.write("tab.txt", "phone\tname\n+442079460958\tAda,C\n");
    let run = wd.check(&csv, &["--delimiter", "tab", "--emit-valid", "-"]);
    run.expect_code(0);
    assert_eq!(Run::leads(&run.stdout)[0]["name"], "Ada,C");
}

/// Records with quoted line breaks and doubled quotes, blank lines between and after them,
/// and wrong-width records, so every reported line number can be checked.
fn layout(eol: &str) -> String {
    [
        "id,name,phone",                            // line 1
        "1,\"Ada",                                  // line 2: row 1 starts
        "Lovelace\",+442079460958",                 // line 3
        "2,\"Grace \"\"Amazing\"\"",                // line 4: row 2 starts
        "Hopper\",12",                              // line 5: invalid phone
        "",                                         // line 6
        "",                                         // line 7
        "3,Too,+12125550143,many",                  // line 8: row 3, too wide
        "4,\"quoted, with comma\",+1 212 555 0144", // line 9
        "",                                         // line 10
        "5,\"",                                     // line 11: row 5 starts
        "",                                         // line 12: (inside quotes)
        "\",+12125550145,x",                        // line 13: too wide
        "6,short",                                  // line 14: too narrow
        "",                                         // line 15
        "",                                         // line 16
        "",                                         // end
    ]
    .join(eol)
}

#[track_caller]
fn assert_layout(run: &Run, eol: &str) {
    run.expect_code(3);
    assert_eq!(run.accounted(), (6, 2, 4), "blank lines are not rows");
    let report = run.rejected();
    assert_eq!(
        report.classes(),
        vec![
            (3, "malformed_row"),
            (5, "malformed_row"),
            (6, "malformed_row"),
            (2, "invalid_phone"),
        ]
    );
    let message = |row| report.row(row)[3].clone();
    assert!(message(3).starts_with("line 8: "), "{}", message(3));
    assert!(message(5).starts_with("line 11: "), "{}", message(5));
    assert!(message(6).starts_with("line 14: "), "{}", message(6));
    assert!(message(3).contains("expected 3 fields") && message(3).contains("found 4"));
    assert!(message(6).contains("found 2"));
    // Original cells as read: quotes undone, embedded line ends kept as they were.
    assert_eq!(
        report.row(2)[R + 1],
        format!("Grace \"Amazing\"{eol}Hopper")
    );
    assert_eq!(report.row(5)[R + 1], format!("{eol}{eol}"));
    assert_eq!(report.row(3)[R..], ["3", "Too", "+12125550143", "many"]);
    assert_eq!(report.row(6)[R..], ["6", "short"]);
    let leads = Run::leads(&run.stdout);
    assert_eq!(leads.len(), 2);
    assert_eq!(leads[0]["name"], format!("Ada{eol}Lovelace"));
    assert_eq!(leads[1]["name"], "quoted, with comma");
}

#[test]
fn lf_line_numbers_count_quoted_and_blank_lines() {
    let wd = Workdir::new();
    let csv = wd.write("lf.csv", layout("\n"));
    let run = wd.check(&csv, &["--emit-valid", "-"]);
    assert_layout(&run, "\n");
}

#[test]
fn crlf_line_numbers_count_quoted_and_blank_lines() {
    let wd = Workdir::new();
    let csv = wd.write("crlf.csv", layout("\r\n"));
    let run = wd.check(&csv, &["--emit-valid", "-"]);
    assert_layout(&run, "\r\n");
}

#[test]
fn crlf_in_utf16_keeps_line_numbers() {
    let wd = Workdir::new();
    let csv = wd.write("crlf16.csv", utf16(&layout("\r\n"), true));
    let run = wd.check(&csv, &["--emit-valid", "-"]);
    assert_layout(&run, "\r\n");
}

#[test]
fn a_last_line_without_a_line_end_is_read() {
    let wd = Workdir::new();
    let csv = wd.write(
        "noeol.csv",
        "phone,name\n+14155552671,A\n+14155552672,B,extra",
    );
    let run = wd.check(&csv, &[]);
    run.expect_code(3);
    assert_eq!(run.accounted(), (2, 1, 1));
    assert!(run.rejected().row(2)[3].starts_with("line 3: "));
}

// ---------------------------------------------------------------------------------------
// Fatal and usage errors
// ---------------------------------------------------------------------------------------

/// A fatal error: exit 1, a message naming the file, no report written.
#[track_caller]
fn assert_fatal(run: &Run, file: &str, words: &str) {
    run.expect_code(1);
    assert!(
        run.stderr.contains(&format!("`{file}`")),
        "names {file}: {}",
        run.stderr
    );
    assert!(run.stderr.contains(words), "says {words:?}: {}", run.stderr);
    assert!(run.stdout.is_empty(), "nothing on stdout: {}", run.stdout);
    assert!(
        !run.report_dir().join("rejected.csv").exists(),
        "no report before any work"
    );
}

#[test]
fn fatal_input_problems_name_the_file() {
    let wd = Workdir::new();
    let cases: [(&str, &[u8], &str); 8] = [
        ("empty.csv", b"", "is empty"),
        ("blank.csv", b"\n\r\n  \n", "is empty"),
        ("bom-only.csv", b"\xEF\xBB\xBF", "is empty"),
        ("header-only.csv", b"name,phone\n", "no data rows"),
        (
            "header-blank.csv",
            b"name,phone\r\n\r\n\r\n",
            "no data rows",
        ),
        (
            "unnamed.csv",
            b"name,,phone\nA,x,+14155552671\n",
            "column 2",
        ),
        (
            "twice.csv",
            b"phone,Name,name ,Name\n+14155552671,a,b,c\n",
            "names `Name` twice (columns 2 and 4)",
        ),
        (
            "no-phone.csv",
            b"name,email\nAda,ada@example.com\n",
            "no column of",
        ),
    ];
    for (name, bytes, words) in cases {
        let csv = wd.write(name, bytes);
        let run = wd.check(&csv, &[]);
        assert_fatal(&run, csv.to_str().unwrap(), words);
    }
    let run = wd.check(wd.path("missing.csv"), &[]);
    assert_fatal(
        &run,
        wd.path("missing.csv").to_str().unwrap(),
        "cannot read",
    );
    // The OS error once, not repeated.
    assert_eq!(
        run.stderr.matches("No such file").count(),
        1,
        "{}",
        run.stderr
    );
}

#[test]
fn header_only_in_utf16_is_fatal_too() {
    let wd = Workdir::new();
    let csv = wd.write("h16.csv", utf16("name,phone\r\n", false));
    let run = wd.check(&csv, &[]);
    assert_fatal(&run, csv.to_str().unwrap(), "no data rows");
}

#[test]
fn mapping_file_problems_are_fatal_before_any_row() {
    let wd = Workdir::new();
    let csv = wd.write("in.csv", "Tel,Name\n+14155552671,Ada\n");
    let missing = wd.write("missing-column.toml", "[columns]\n\"Mobile\" = \"phone\"\n");
    let run = wd.check(&csv, &["--mapping", missing.to_str().unwrap()]);
    assert_fatal(&run, missing.to_str().unwrap(), "names column `Mobile`");
    assert!(run.stderr.contains("`Tel`, `Name`"), "{}", run.stderr);

    let unknown = wd.write("unknown.toml", "[columns]\n\"Tel\" = \"telephone\"\n");
    let run = wd.check(&csv, &["--mapping", unknown.to_str().unwrap()]);
    assert_fatal(&run, unknown.to_str().unwrap(), "not a lead field");

    let run = wd.check(&csv, &["--mapping", "nowhere.toml"]);
    assert_fatal(&run, "nowhere.toml", "cannot read mapping file");
}

#[test]
fn usage_errors_exit_2() {
    let wd = Workdir::new();
    let csv = wd.write("ok.csv", "phone\n+14155552671\n");
    let csv = csv.to_str().unwrap();
    for args in [
        vec!["check"],
        vec!["check", csv, "--no-such-flag"],
        vec!["check", csv, "--delimiter", ";;"],
        vec!["check", csv, "--encoding", "ebcdic"],
        vec!["frobnicate"],
    ] {
        let run = wd.run(&args);
        run.expect_code(2);
        assert!(run.stderr.contains("error"), "{}", run.stderr);
    }
}

// ---------------------------------------------------------------------------------------
// Mapping, emitted leads, re-checking a report
// ---------------------------------------------------------------------------------------

#[test]
fn print_mapping_shows_the_table_and_writes_nothing() {
    let wd = Workdir::new();
    let mapping = samples().join("mapping.toml");
    let run = wd.check(
        samples().join("messy.csv"),
        &["--mapping", mapping.to_str().unwrap(), "--print-mapping"],
    );
    run.expect_code(0);
    let table = mapping_table(&run.stdout);
    assert_eq!(table[0], ["#", "column", "field", "how"]);
    let expected: [[&str; 4]; 10] = [
        ["1", "Client Ref", "lead_id", "mapping file"],
        ["2", "Full Name", "name", "recognised header"],
        ["3", "Mobile Number", "phone", "recognised header"],
        ["4", "E-mail", "email", "recognised header"],
        ["5", "Lead Status", "status", "recognised header"],
        ["6", "Labels", "tags", "recognised header"],
        ["7", "Extra", "custom_fields", "mapping file"],
        ["8", "Company", "customFields.company", "mapping file"],
        ["9", "Country", "country", "mapping file"],
        ["10", "Internal Notes", "(ignored)", "mapping file"],
    ];
    assert_eq!(table[1..], expected.map(|r| r.to_vec()));
    assert!(!run.report_dir().exists(), "no reports for --print-mapping");
}

#[test]
fn mapping_file_drives_fields_custom_fields_and_regions() {
    let wd = Workdir::new();
    let csv = wd.write(
        "crm.csv",
        "Ref,Tel,Given,Family,Land,Org,Notes,Flags,Score\n\
         r1,020 7946 0958,Ada,Lovelace,GB,Engines,secret,a|b|a,\n\
         r2,030 901820,Emmy,,de,Uni,,,7\n\
         r3,(212) 555-0143,,,,,,,\n",
    );
    let mapping = wd.write(
        "map.toml",
        "unmapped = \"ignore\"\n\
         [columns]\n\
         \"Ref\" = \"lead_id\"\n\
         \"Tel\" = \"phone\"\n\
         \"Given\" = \"first_name\"\n\
         \"Family\" = \"last_name\"\n\
         \"Land\" = \"country\"\n\
         \"Org\" = \"custom:company\"\n\
         \"Flags\" = \"tags\"\n\
         [tags]\n\
         separator = \"|\"\n",
    );
    let run = wd.check(
        &csv,
        &["--mapping", mapping.to_str().unwrap(), "--emit-valid", "-"],
    );
    run.expect_code(0);
    assert_eq!(run.accounted(), (3, 3, 0));
    let leads = Run::leads(&run.stdout);
    assert_eq!(
        leads[0],
        serde_json::json!({
            "lead_id": "r1", "name": "Ada Lovelace", "phone": "+442079460958",
            "tags": ["a", "b"], "customFields": {"company": "Engines"}
        })
    );
    // Notes and Score are unmapped and ignored; the country column reads the number in DE.
    assert_eq!(
        leads[1],
        serde_json::json!({
            "lead_id": "r2", "name": "Emmy", "phone": "+4930901820",
            "customFields": {"company": "Uni"}
        })
    );
    // No country: --default-region (US).
    assert_eq!(
        leads[2],
        serde_json::json!({"lead_id": "r3", "phone": "+12125550143"})
    );
}

#[test]
fn emit_valid_writes_leads_in_input_order_with_their_lead_id() {
    let wd = Workdir::new();
    // Enough rows for several chunks on several workers, so order is really restored.
    let mut text = String::from("name,phone,status\n");
    for i in 0..3000u32 {
        if i % 7 == 3 {
            text.push_str(&format!("bad {i},12,new\n"));
        } else {
            text.push_str(&format!("n{i},+1 415 555 {:04},Contacted\n", i));
        }
    }
    let csv = wd.write("many.csv", text);
    let out = wd.path("valid.jsonl");
    let run = wd.check(
        &csv,
        &["--emit-valid", out.to_str().unwrap(), "--threads", "3"],
    );
    run.expect_code(3);
    let (read, valid, rejected) = run.accounted();
    assert_eq!((read, rejected), (3000, 3000 / 7 + 1));
    assert!(run.stdout.contains("valid:"), "{}", run.stdout);
    let leads = Run::leads(&std::fs::read_to_string(&out).unwrap());
    assert_eq!(leads.len() as u64, valid);
    let expected: Vec<u32> = (0..3000).filter(|i| i % 7 != 3).collect();
    for (lead, i) in leads.iter().zip(&expected) {
        let phone = format!("+1415555{i:04}");
        assert_eq!(lead["name"], format!("n{i}"));
        assert_eq!(lead["phone"], phone.as_str());
        // No ID column: the lead_id is derived from the phone, so re-imports upsert.
        assert_eq!(lead["lead_id"], format!("phone:{phone}"));
        assert_eq!(lead["status"], "contacted");
    }
    // Rejected rows are reported in row order too.
    let rows: Vec<u64> = run.rejected().classes().iter().map(|c| c.0).collect();
    let expected: Vec<u64> = (0..3000u64).filter(|i| i % 7 == 3).map(|i| i + 1).collect();
    assert_eq!(rows, expected);
}

#[test]
fn emit_valid_to_stdout_moves_the_summary_to_stderr() {
    let wd = Workdir::new();
    let run = wd.check(samples().join("leads.csv"), &["--emit-valid", "-"]);
    run.expect_code(0);
    let leads = Run::leads(&run.stdout);
    let ids: Vec<&str> = leads
        .iter()
        .map(|l| l["lead_id"].as_str().unwrap())
        .collect();
    let expected: Vec<String> = (1..=12).map(|i| format!("crm-{i:04}")).collect();
    assert_eq!(ids, expected);
    assert!(run.stderr.contains("12 rows read"), "{}", run.stderr);
}

#[test]
fn a_closed_stdout_is_not_an_error() {
    let wd = Workdir::new();
    let mut text = String::from("phone\n");
    for i in 0..5000u32 {
        text.push_str(&format!("+1 415 555 {:04}\n", i % 10_000));
    }
    let csv = wd.write("big.csv", text);
    let report = wd.path("report");
    let mut child = Command::new(BIN)
        .args(["check", csv.to_str().unwrap(), "--emit-valid", "-"])
        .arg("--report-dir")
        .arg(&report)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take());
    let output = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(0), "{stderr}");
    assert!(!stderr.contains("error"), "{stderr}");
}

#[test]
fn a_fixed_rejected_csv_can_be_checked_again() {
    let wd = Workdir::new();
    let mapping = samples().join("mapping.toml");
    let mapping = mapping.to_str().unwrap();
    let first = wd.check(samples().join("messy.csv"), &["--mapping", mapping]);
    first.expect_code(3);
    let report = first.rejected();

    // Fix every row the way a data team would, in the report itself; keep the `_` columns.
    let fixes: &[(u64, usize, &str)] = &[
        (3, 2, "+1 202 555 0101"),  // missing phone
        (4, 2, "+1 202 555 0102"),  // invalid phone
        (13, 2, "+1 202 555 0103"), // invalid phone and more
        (13, 3, "nobody@example.com"),
        (13, 4, "new"),
        (13, 5, "x;y"),
        (13, 6, "{\"a\": 1}"),
        (5, 4, "qualified"),
        (6, 5, "unclosed"),
        (7, 6, ""),
        (8, 3, "marie@example.fr"),
        (9, 2, "+1 202 555 0104"),
        (10, 0, "A-199"),
    ];
    let mut writer = csv::Writer::from_path(wd.path("fixed.csv")).unwrap();
    writer.write_record(&report.header).unwrap();
    for row in &report.rows {
        let mut row = row.clone();
        let number: u64 = row[0].parse().unwrap();
        if number == 11 {
            row.truncate(R + 10); // drop the extra cell of the wrong-width row
        }
        for (n, column, value) in fixes {
            if *n == number {
                row[R + column] = (*value).to_owned();
            }
        }
        writer.write_record(&row).unwrap();
    }
    writer.flush().unwrap();
    drop(writer);

    let mapping_table = wd.check(
        wd.path("fixed.csv"),
        &["--mapping", mapping, "--print-mapping"],
    );
    mapping_table.expect_code(0);
    for column in REPORT_COLUMNS {
        assert!(
            mapping_table
                .stdout
                .lines()
                .any(|l| l.contains(column) && l.contains("report column of an earlier run")),
            "{column}: {}",
            mapping_table.stdout
        );
    }

    std::fs::remove_dir_all(wd.path("report")).unwrap();
    let again = wd.check(
        wd.path("fixed.csv"),
        &["--mapping", mapping, "--emit-valid", "-"],
    );
    again.expect_code(0);
    assert_eq!(again.accounted(), (10, 10, 0));
    let leads = Run::leads(&again.stdout);
    assert!(
        leads.iter().all(|l| !l["customFields"]
            .as_object()
            .is_some_and(|m| m.keys().any(|k| k.starts_with('_')))),
        "report columns are not sent: {leads:?}"
    );
    // The new report carries the original columns once, not the old report columns again.
    again.rejected().assert_header(&[
        "Client Ref",
        "Full Name",
        "Mobile Number",
        "E-mail",
        "Lead Status",
        "Labels",
        "Extra",
        "Company",
        "Country",
        "Internal Notes",
    ]);

    // A partly fixed report is rejected again, once per row, without doubling columns.
    let partly = std::fs::read_to_string(wd.path("fixed.csv"))
        .unwrap()
        .replace("+1 202 555 0101", "");
    let csv = wd.write("partly.csv", partly);
    let third = wd.check(&csv, &["--mapping", mapping]);
    third.expect_code(3);
    assert_eq!(third.accounted(), (10, 9, 1));
    let report = third.rejected();
    // Still the row number of the original file.
    assert_eq!(report.classes(), vec![(3, "missing_phone")]);
    assert_eq!(report.header.len(), R + 10);
}
