//! Inputs as real exports give them, through the built binary: Windows-1252 without
//! `--encoding`, title rows and report footers, unnamed empty columns, XLSX / XLS / ODS
//! workbooks (LibreOffice's own exports in `tests/inputs/`, and workbooks generated here),
//! gzip and zstd, headers and records over the size limits (refused in bounded memory,
//! measured from the kernel's peak RSS of the process), and an XLSX import killed and
//! resumed against the sandbox.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use naturalead_sandbox::Latency;
use serde_json::Value;

mod common;

use common::*;

const BIN: &str = env!("CARGO_BIN_EXE_nl-import");

/// A finished `nl-import` process: exit code, output, and its peak resident set (KiB).
struct Ran {
    code: Option<i32>,
    stdout: String,
    stderr: String,
    peak_rss_kib: u64,
}

impl Ran {
    #[track_caller]
    fn expect(&self, code: i32) -> &Ran {
        assert_eq!(
            self.code,
            Some(code),
            "stdout:\n{}\nstderr:\n{}",
            self.stdout,
            self.stderr
        );
        assert!(!self.stderr.contains("panicked"), "{}", self.stderr);
        self
    }
}

/// Runs `nl-import <args>` in `dir` and waits for it with `wait4`, which gives the peak
/// RSS of the process as the kernel counted it.
// The child is reaped by `wait4`, which clippy does not see.
#[allow(clippy::zombie_processes)]
fn run_in(dir: &Path, args: &[&str]) -> Ran {
    let out = dir.join(".stdout");
    let err = dir.join(".stderr");
    let child = Command::new(BIN)
        .args(args)
        .current_dir(dir)
        .env_remove("NL_IMPORT_DEFAULT_REGION")
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(&out).unwrap())
        .stderr(std::fs::File::create(&err).unwrap())
        .spawn()
        .unwrap();
    let pid = i32::try_from(child.id()).unwrap();
    let mut status = 0;
    // SAFETY: a zeroed rusage is a valid value for wait4 to fill in.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: waits for our own child, with valid pointers to the status and usage.
    let waited = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
    assert_eq!(waited, pid, "wait4");
    Ran {
        code: libc::WIFEXITED(status).then(|| libc::WEXITSTATUS(status)),
        stdout: std::fs::read_to_string(&out).unwrap(),
        stderr: std::fs::read_to_string(&err).unwrap(),
        peak_rss_kib: u64::try_from(usage.ru_maxrss).unwrap(),
    }
}

/// `nl-import check <file> --report-dir report <extra>` in `dir`.
fn check(dir: &Path, file: &str, extra: &[&str]) -> Ran {
    let mut args = vec!["check", file, "--report-dir", "report"];
    args.extend_from_slice(extra);
    run_in(dir, &args)
}

fn summary(dir: &Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(dir.join("report/summary.json")).unwrap())
        .unwrap()
}

/// `rejected.csv` without its header, each row as its cells.
fn rejected(dir: &Path) -> Vec<Vec<String>> {
    csv::ReaderBuilder::new()
        .flexible(true)
        .from_path(dir.join("report/rejected.csv"))
        .unwrap()
        .records()
        .map(|r| r.unwrap().iter().map(str::to_owned).collect())
        .collect()
}

/// The leads of `--emit-valid -`.
fn leads(stdout: &str) -> Vec<Value> {
    stdout
        .lines()
        .filter(|l| l.starts_with('{'))
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// `(line, last_line, kind, text)` of every skipped line in the summary.
fn skipped(summary: &Value) -> Vec<(u64, u64, String, String)> {
    summary["reading"]["skipped_lines"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                s["line"].as_u64().unwrap(),
                s["last_line"].as_u64().unwrap(),
                s["kind"].as_str().unwrap().to_owned(),
                s["text"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

/// A mapping file that sends every unmapped column as a custom field (noise included), so
/// that the emitted leads show every cell as read, whatever the mapping rules drop.
fn every_column(dir: &Path) -> String {
    std::fs::write(dir.join("all.toml"), "unmapped = \"all\"\n").unwrap();
    "all.toml".to_owned()
}

fn inputs() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/inputs")
}

fn skip(line: u64, last: u64, kind: &str, text: &str) -> (u64, u64, String, String) {
    (line, last, kind.to_owned(), text.to_owned())
}

// ---------------------------------------------------------------------------------------
// Encodings
// ---------------------------------------------------------------------------------------

/// What Outlook and Excel write as "CSV": Windows-1252, `;` in European locales.
const OUTLOOK_1252: &[u8] = b"First Name;Last Name;Mobile Phone;E-mail Address\r\n\
Jos\xe9;M\xfcller;+49 30 901820;jose@example.de\r\n\
Ren\xe9e;Fa\xefs;+33 1 42 68 53 00;renee@example.fr\r\n\
\x80uro;\x93Quoted\x94;+44 20 7946 0958;euro@example.co.uk\r\n";

#[test]
fn windows_1252_is_detected_and_named_without_the_flag() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("outlook.csv"), OUTLOOK_1252).unwrap();
    let ran = check(dir.path(), "outlook.csv", &["--emit-valid", "-"]);
    ran.expect(0);
    let got = leads(&ran.stdout);
    let names: Vec<&str> = got.iter().map(|l| l["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["José Müller", "Renée Faïs", "€uro “Quoted”"]);
    let s = summary(dir.path());
    assert_eq!(s["encoding"], "windows-1252");
    assert_eq!(s["reading"]["encoding"], "windows-1252");
    assert_eq!(s["reading"]["encoding_detected"], true);
    let reason = s["reading"]["encoding_reason"].as_str().unwrap();
    assert!(
        reason.contains("not UTF-8 (byte 0xE9 on line 2)") && reason.contains("the whole file"),
        "{reason}"
    );
    assert!(
        ran.stderr
            .contains("`outlook.csv` read as windows-1252: no byte-order mark; not UTF-8"),
        "{}",
        ran.stderr
    );
}

#[test]
fn a_utf8_field_in_a_file_detected_as_windows_1252_is_rejected_not_misread() {
    let dir = tempfile::tempdir().unwrap();
    let mut bytes = b"name,phone\nJos\xe9,+14155550100\n".to_vec();
    bytes.extend_from_slice("Zoë,+14155550101\nAda,+14155550102\n".as_bytes());
    std::fs::write(dir.path().join("mixed.csv"), &bytes).unwrap();
    let ran = check(dir.path(), "mixed.csv", &["--emit-valid", "-"]);
    ran.expect(3);
    let names: Vec<String> = leads(&ran.stdout)
        .iter()
        .map(|l| l["name"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(names, ["José", "Ada"]);
    let report = rejected(dir.path());
    assert_eq!(report.len(), 1);
    assert_eq!(
        (report[0][0].as_str(), report[0][1].as_str()),
        ("2", "malformed_row")
    );
    assert!(
        report[0][3].starts_with("line 3: column 1 is UTF-8 text")
            && report[0][3].contains("--encoding utf-8 or --encoding windows-1252"),
        "{:?}",
        report[0]
    );
    // Read as UTF-8, the report shows the cell as it was meant.
    assert_eq!(report[0][7], "Zoë");

    // Told, the tool does as told: every byte is Windows-1252.
    let ran = check(
        dir.path(),
        "mixed.csv",
        &["--encoding", "windows-1252", "--emit-valid", "-"],
    );
    ran.expect(0);
    assert_eq!(leads(&ran.stdout)[1]["name"], "ZoÃ«");
}

#[test]
fn invalid_utf8_after_the_sample_is_rejected_with_its_line() {
    let dir = tempfile::tempdir().unwrap();
    let mut text = String::from("name,phone\n");
    let rows = 45_000; // about 1.3 MB of UTF-8, past the 1 MiB sample
    for n in 0..rows {
        text.push_str(&format!("Zoë {n},{}\n", phone(n)));
    }
    let mut bytes = text.into_bytes();
    bytes.extend_from_slice(format!("Jos\u{e9},{}\n", phone(rows)).as_bytes());
    bytes.extend_from_slice(b"Jos\xe9,+1 415 555 0100\n");
    bytes.extend_from_slice(b"Ren\xe9e,+1 415 555 0101\n");
    bytes.extend_from_slice(format!("Last,{}\n", phone(rows + 1)).as_bytes());
    std::fs::write(dir.path().join("late.csv"), &bytes).unwrap();
    let ran = check(dir.path(), "late.csv", &[]);
    ran.expect(3);
    let s = summary(dir.path());
    assert_eq!(s["encoding"], "utf-8");
    assert_eq!(s["rows_read"], rows as u64 + 4);
    assert_eq!(s["valid"], rows as u64 + 2);
    let report = rejected(dir.path());
    let lines = (rows + 3, rows + 4);
    assert_eq!(report.len(), 2);
    for (row, line) in report.iter().zip([lines.0, lines.1]) {
        assert_eq!(row[1], "malformed_row");
        assert!(
            row[3].starts_with(&format!(
                "line {line}: column 1 holds bytes that are not valid utf-8"
            )) && row[3].contains("windows-1252"),
            "{row:?}"
        );
    }
    assert_eq!(
        report[0][7], "Jos\\xE9",
        "the undecodable byte shown as it was"
    );
}

// ---------------------------------------------------------------------------------------
// Titles above the header, report footers, unnamed columns
// ---------------------------------------------------------------------------------------

/// A Salesforce report export ("Details Only", CSV): every cell quoted, LF line ends, a
/// title and the date above the header here (as a formatted report carries them), and the
/// footer Salesforce appends after a blank line.
const SALESFORCE_REPORT: &str = "\"Lead Report\"\n\
\"As of 12/2/2026 9:14 AM\"\n\
\n\
\"Lead ID\",\"First Name\",\"Last Name\",\"Phone\",\"Email\"\n\
\"00Q1\",\"Ada\",\"Lovelace\",\"+1 212 555 0100\",\"ada@example.com\"\n\
\"00Q2\",\"Grace\",\"Hopper\",\"(212) 555-01\",\"grace@example.com\"\n\
\"00Q3\",\"Alan\",\"Turing\",\"+44 20 7946 0958\",\"alan@example.co.uk\"\n\
\n\
\"Confidential Information - Do Not Distribute\"\n\
\"Copyright (c) 2000-2026 salesforce.com, inc. All rights reserved.\"\n\
\"Generated By:  Jane Doe  12/2/2026 9:14 AM\"\n\
\"Acme Corp\"\n";

#[track_caller]
fn assert_salesforce_layout(dir: &Path, ran: &Ran) {
    ran.expect(3);
    let s = summary(dir);
    assert_eq!(
        (s["rows_read"].as_u64(), s["valid"].as_u64()),
        (Some(3), Some(2))
    );
    assert_eq!(s["rejected_by_class"]["invalid_phone"], 1, "{s:#}");
    assert_eq!(s["reading"]["header_line"], 4);
    assert_eq!(
        skipped(&s),
        [
            skip(1, 1, "title", "Lead Report"),
            skip(2, 2, "title", "As of 12/2/2026 9:14 AM"),
            skip(3, 3, "blank", ""),
            skip(8, 8, "blank", ""),
            skip(
                9,
                9,
                "footer",
                "Confidential Information - Do Not Distribute"
            ),
            skip(
                10,
                10,
                "footer",
                "Copyright (c) 2000-2026 salesforce.com, inc. All rights reserved."
            ),
            skip(
                11,
                11,
                "footer",
                "Generated By:  Jane Doe  12/2/2026 9:14 AM"
            ),
            skip(12, 12, "footer", "Acme Corp"),
        ]
    );
    // Rows and lines are exact: the bad phone is data row 2, on line 6.
    let report = rejected(dir);
    assert_eq!(report.len(), 1);
    assert_eq!(report[0][0], "2");
    assert!(report[0][4..].contains(&"00Q2".to_owned()));
    assert!(
        ran.stderr.contains(
            "the header of `sf.csv` is on line 4; skipped above it: line 1 title \"Lead Report\", line 2 title \"As of 12/2/2026 9:14 AM\", line 3 blank"
        ),
        "{}",
        ran.stderr
    );
    assert!(
        ran.stderr.contains(
            "skipped the report footer at the end of `sf.csv`: line 8 blank, line 9 footer \"Confidential Information - Do Not Distribute\""
        ),
        "{}",
        ran.stderr
    );
}

#[test]
fn title_rows_and_a_salesforce_footer_are_skipped_and_listed() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("sf.csv"), SALESFORCE_REPORT).unwrap();
    let ran = check(dir.path(), "sf.csv", &[]);
    assert_salesforce_layout(dir.path(), &ran);

    // The same report opened in Excel and saved again: CRLF, every row padded with empty
    // cells to the sheet's width, the blank lines as rows of empty cells.
    let padded: String = SALESFORCE_REPORT
        .lines()
        .map(|line| {
            let cells = csv::ReaderBuilder::new()
                .has_headers(false)
                .from_reader(line.as_bytes())
                .records()
                .next()
                .map(|r| r.unwrap().iter().map(str::to_owned).collect::<Vec<_>>())
                .unwrap_or_default();
            let mut cells = cells;
            cells.resize(5, String::new());
            let mut out = csv::Writer::from_writer(Vec::new());
            out.write_record(&cells).unwrap();
            String::from_utf8(out.into_inner().unwrap())
                .unwrap()
                .replace('\n', "\r\n")
        })
        .collect();
    std::fs::write(dir.path().join("sf.csv"), padded).unwrap();
    let ran = check(dir.path(), "sf.csv", &[]);
    assert_salesforce_layout(dir.path(), &ran);
}

#[test]
fn a_block_at_the_end_without_a_footer_line_is_data() {
    let dir = tempfile::tempdir().unwrap();
    // After a blank line, rows with one cell: a lead with only a phone, and a name alone.
    // No copyright or "Generated By" line: these are rows like any other.
    std::fs::write(
        dir.path().join("end.csv"),
        "phone,name,email\n+1 212 555 0100,Ada,ada@example.com\n\n+1 212 555 0101,,\n,Someone,\n",
    )
    .unwrap();
    let ran = check(dir.path(), "end.csv", &["--emit-valid", "-"]);
    ran.expect(3);
    let s = summary(dir.path());
    assert_eq!(s["rows_read"], 3);
    assert_eq!(skipped(&s), []);
    assert_eq!(leads(&ran.stdout)[1]["phone"], "+12125550101");
    let report = rejected(dir.path());
    assert_eq!(
        (report[0][0].as_str(), report[0][1].as_str()),
        ("3", "missing_phone")
    );
    assert!(!ran.stderr.contains("footer"), "{}", ran.stderr);
}

#[test]
fn a_first_line_naming_columns_is_always_the_header() {
    let dir = tempfile::tempdir().unwrap();
    // No titles: the first line is the header, even when the second line looks like a
    // header too. That second line, the header again, is no data row: it is skipped and
    // named (as a board export's header repeated per group is), not rejected.
    std::fs::write(
        dir.path().join("plain.csv"),
        "phone,name\nphone,name\n+1 212 555 0100,Ada\n",
    )
    .unwrap();
    let ran = check(dir.path(), "plain.csv", &[]);
    ran.expect(0);
    let s = summary(dir.path());
    assert_eq!(
        (
            s["rows_read"].as_u64(),
            s["reading"]["header_line"].as_u64()
        ),
        (Some(1), Some(1))
    );
    assert_eq!(
        skipped(&s),
        [(2, 2, "repeated_header".into(), "phone | name".into())]
    );
    assert!(
        ran.stderr.contains(
            "skipped inside the table of `plain.csv` (not data rows): line 2 header repeated"
        ),
        "{}",
        ran.stderr
    );
}

#[test]
fn unnamed_empty_columns_around_the_header_are_ignored() {
    let dir = tempfile::tempdir().unwrap();
    // A table that starts in column B and has two empty columns after it, as Excel saves a
    // sheet whose used range is wider than the table.
    std::fs::write(
        dir.path().join("excel.csv"),
        ",phone,name,,\r\n\
         ,+1 212 555 0100,Ada,,\r\n\
         ,+1 212 555 0101,Grace\r\n\
         ,+1 212 555 0102,Alan,,,,\r\n\
         ,+1 212 555 0103,Edsger,,note\r\n\
         x,+1 212 555 0104,Barbara,,\r\n",
    )
    .unwrap();
    let ran = check(dir.path(), "excel.csv", &["--emit-valid", "-"]);
    ran.expect(3);
    let got = leads(&ran.stdout);
    assert_eq!(got.len(), 3);
    assert!(
        got.iter().all(|l| l.get("customFields").is_none()),
        "{got:?}"
    );
    let s = summary(dir.path());
    assert_eq!(s["reading"]["unnamed_columns_before"], 1);
    assert_eq!(s["reading"]["unnamed_columns_after"], 2);
    let report = rejected(dir.path());
    assert_eq!(report.len(), 2);
    assert_eq!(
        (report[0][0].as_str(), report[0][1].as_str()),
        ("4", "malformed_row")
    );
    assert!(
        report[0][3]
            == "line 5: column 5 holds `note`, but the header names no column there (it names columns 2 to 3)",
        "{:?}",
        report[0]
    );
    assert!(
        report[1][3]
            .starts_with("line 6: column 1 holds `x`, but the header names no column there"),
        "{:?}",
        report[1]
    );
    assert!(
        ran.stderr
            .contains("ignoring 3 unnamed columns around the named ones")
    );
}

// ---------------------------------------------------------------------------------------
// Workbooks
// ---------------------------------------------------------------------------------------

#[test]
fn libreoffice_workbooks_read_as_their_cells_hold() {
    for format in ["xlsx", "xls", "ods"] {
        let dir = tempfile::tempdir().unwrap();
        let file = format!("leads.{format}");
        std::fs::copy(inputs().join(&file), dir.path().join(&file)).unwrap();
        let all = every_column(dir.path());
        let ran = check(dir.path(), &file, &["--mapping", &all, "--emit-valid", "-"]);
        ran.expect(3);
        let got = leads(&ran.stdout);
        assert_eq!(got.len(), 3, "{format}: {}", ran.stdout);
        // Numbers with all their digits: the phone stored as the number 12125550100, the
        // account number 4915112345678 (which the sheet displays as 4.91511E+12).
        assert_eq!(got[0]["phone"], "+12125550100", "{format}");
        let custom = &got[0]["customFields"];
        assert_eq!(custom["Account Number"], "4915112345678", "{format}");
        assert_eq!(custom["Created"], "2024-03-05", "{format}");
        assert_eq!(custom["Score"], "2.5", "{format}");
        // LibreOffice stores booleans as numbers with a boolean format.
        assert_eq!(custom["VIP"], "1", "{format}");
        assert_eq!(
            got[1]["customFields"]["Created"], "2024-03-06T14:30:00",
            "{format}"
        );
        assert_eq!(got[2]["phone"], "+12125550103", "{format}");
        let s = summary(dir.path());
        let reading = &s["reading"];
        assert_eq!(reading["format"], format);
        assert_eq!(reading["sheet"], "Leads");
        assert_eq!(reading["sheets"], serde_json::json!(["Leads", "Notes"]));
        assert_eq!(reading["header_line"], 4);
        assert_eq!(
            skipped(&s),
            [
                skip(1, 1, "title", "Leads report"),
                skip(2, 2, "title", "As of 2026-12-02, all regions"),
                skip(3, 3, "blank", ""),
                skip(9, 9, "blank", ""),
                skip(
                    10,
                    10,
                    "footer",
                    "Confidential Information - Do Not Distribute"
                ),
                skip(
                    11,
                    11,
                    "footer",
                    "Generated By:  Jane Doe  12/2/2026 9:14 AM"
                ),
            ],
            "{format}"
        );
        let report = rejected(dir.path());
        assert_eq!(report.len(), 1, "{format}");
        assert_eq!(report[0][0], "3");
        // In ODS too: calamine gives the error cell as its text, the source knows it.
        assert_eq!(report[0][1], "malformed_row");
        assert_eq!(
            report[0][3],
            "line 7: column 3 holds the spreadsheet error #N/A: fix the formula, or paste the column as values",
            "{format}"
        );
        assert!(
            ran.stderr.contains("reading sheet `Leads`"),
            "{}",
            ran.stderr
        );

        // Another sheet by name (case and spaces do not matter when unambiguous).
        let ran = check(
            dir.path(),
            &file,
            &["--sheet", " notes ", "--emit-valid", "-"],
        );
        ran.expect(0);
        assert_eq!(leads(&ran.stdout)[0]["phone"], "+12125550199");
        assert_eq!(summary(dir.path())["reading"]["sheet"], "Notes");
    }
}

#[test]
fn a_missing_sheet_is_refused_and_flags_for_another_kind_of_file_are_ignored() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::copy(inputs().join("leads.xlsx"), dir.path().join("leads.xlsx")).unwrap();
    std::fs::write(dir.path().join("plain.csv"), "phone\n+1 212 555 0100\n").unwrap();
    let ran = check(dir.path(), "leads.xlsx", &["--sheet", "Missing"]);
    assert_eq!(ran.code, Some(1), "{}", ran.stderr);
    assert!(
        ran.stderr.contains(
            "the workbook `leads.xlsx` has no sheet named `Missing`; its sheets are `Leads`, `Notes`"
        ),
        "{}",
        ran.stderr
    );
    assert!(!dir.path().join("report/summary.json").exists());

    // Flags that do not apply (they may be defaults from a configuration file meant for
    // other inputs) are ignored, and said so.
    for (file, args, message) in [
        (
            "leads.xlsx",
            &["--delimiter", ";", "--encoding", "latin-1"][..],
            "`leads.xlsx`: --encoding applies to CSV files",
        ),
        (
            "leads.xlsx",
            &["--delimiter", ";"],
            "--delimiter applies to CSV files",
        ),
        (
            "plain.csv",
            &["--sheet", "Leads"],
            "`plain.csv`: --sheet applies to workbooks",
        ),
    ] {
        let ran = check(dir.path(), file, args);
        assert!(
            ran.code == Some(0) || ran.code == Some(3),
            "{args:?}: {}",
            ran.stderr
        );
        assert!(ran.stderr.contains(message), "{args:?}: {}", ran.stderr);
        let ignored = summary(dir.path())["reading"]["ignored_flags"].clone();
        assert!(ignored.to_string().contains("ignored"), "{ignored}");
    }
}

/// A workbook as a spreadsheet program writes one, generated here: every kind of cell.
fn write_cells_workbook(path: &Path) {
    use rust_xlsxwriter::{ExcelDateTime, Format, Formula, Workbook};
    let mut book = Workbook::new();
    let sheet = book.add_worksheet();
    sheet.set_name("Export").unwrap();
    let header = [
        "Phone",
        "Name",
        "Mobile Raw",
        "Big",
        "Ratio",
        "Won",
        "Since",
        "At",
        "Note",
    ];
    for (c, name) in header.iter().enumerate() {
        sheet.write_string(0, c as u16, *name).unwrap();
    }
    let date = Format::new().set_num_format("dd/mm/yyyy");
    let stamp = Format::new().set_num_format("yyyy-mm-dd hh:mm:ss");
    sheet.write_number(1, 0, 12_125_550_100.0).unwrap();
    sheet.write_string(1, 1, "Ada").unwrap();
    sheet.write_number(1, 2, 4_915_112_345_678.0).unwrap();
    sheet.write_number(1, 3, 123_456_789_012_345.0).unwrap();
    sheet.write_number(1, 4, 0.1).unwrap();
    sheet.write_boolean(1, 5, true).unwrap();
    let day = ExcelDateTime::from_ymd(2024, 3, 5).unwrap();
    sheet.write_datetime_with_format(1, 6, &day, &date).unwrap();
    let at = ExcelDateTime::from_ymd(2024, 3, 5)
        .unwrap()
        .and_hms(14, 30, 5)
        .unwrap();
    sheet.write_datetime_with_format(1, 7, &at, &stamp).unwrap();
    sheet.write_string(1, 8, "two\nlines").unwrap();
    sheet.write_string(2, 0, "+1 212 555 0101").unwrap();
    sheet.write_string(2, 1, "Bad Cell").unwrap();
    sheet
        .write_formula(2, 3, Formula::new("=1/0").set_result("#DIV/0!"))
        .unwrap();
    book.save(path).unwrap();
}

#[test]
fn generated_xlsx_cells_keep_their_digits_dates_and_errors() {
    let dir = tempfile::tempdir().unwrap();
    write_cells_workbook(&dir.path().join("export.xlsx"));
    let all = every_column(dir.path());
    let ran = check(
        dir.path(),
        "export.xlsx",
        &["--mapping", &all, "--emit-valid", "-"],
    );
    ran.expect(3);
    let got = leads(&ran.stdout);
    assert_eq!(got.len(), 1);
    assert_eq!(got[0]["phone"], "+12125550100");
    assert_eq!(
        got[0]["customFields"],
        serde_json::json!({
            "Mobile Raw": "4915112345678",
            "Big": "123456789012345",
            "Ratio": "0.1",
            "Won": "TRUE",
            "Since": "2024-03-05",
            "At": "2024-03-05T14:30:05",
            "Note": "two\nlines",
        })
    );
    let report = rejected(dir.path());
    assert_eq!(report[0][1], "malformed_row");
    assert!(report[0][3].starts_with("line 3: column 4 holds the spreadsheet error #DIV/0!"));
    let s = summary(dir.path());
    assert_eq!(s["reading"]["sheet"], "Export");
    assert!(s.get("delimiter").is_none(), "{s:#}");
}

// ---------------------------------------------------------------------------------------
// Compressed CSV
// ---------------------------------------------------------------------------------------

#[test]
fn gzip_and_zstd_read_as_the_csv_they_hold() {
    let dir = tempfile::tempdir().unwrap();
    let plain = dir.path().join("leads.csv");
    write_leads(&plain, 3000);
    append(&plain, "bad-1,No Phone,,,,,\n");
    let bytes = std::fs::read(&plain).unwrap();
    let ran = check(dir.path(), "leads.csv", &["--emit-valid", "plain.jsonl"]);
    ran.expect(3);
    let expected = std::fs::read_to_string(dir.path().join("plain.jsonl")).unwrap();
    let report = std::fs::read_to_string(dir.path().join("report/rejected.csv")).unwrap();

    // Two gzip members, as `cat a.gz b.gz` makes: both are read.
    let (first, second) = bytes.split_at(bytes.len() / 2);
    let mut gz = Vec::new();
    for part in [first, second] {
        let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        enc.write_all(part).unwrap();
        gz.extend(enc.finish().unwrap());
    }
    std::fs::write(dir.path().join("leads.csv.gz"), gz).unwrap();
    std::fs::write(
        dir.path().join("leads.csv.zst"),
        zstd::encode_all(&bytes[..], 3).unwrap(),
    )
    .unwrap();
    for (file, compression) in [("leads.csv.gz", "gzip"), ("leads.csv.zst", "zstd")] {
        let ran = check(dir.path(), file, &["--emit-valid", "got.jsonl"]);
        ran.expect(3);
        assert_eq!(
            std::fs::read_to_string(dir.path().join("got.jsonl")).unwrap(),
            expected,
            "{file}"
        );
        assert_eq!(
            std::fs::read_to_string(dir.path().join("report/rejected.csv")).unwrap(),
            report
        );
        let s = summary(dir.path());
        assert_eq!(s["reading"]["compression"], compression);
        assert_eq!(s["rows_read"], 3001);
    }

    // The encoding is detected inside the compressed stream too.
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    enc.write_all(OUTLOOK_1252).unwrap();
    std::fs::write(dir.path().join("outlook.csv.gz"), enc.finish().unwrap()).unwrap();
    check(dir.path(), "outlook.csv.gz", &[]).expect(0);
    assert_eq!(summary(dir.path())["encoding"], "windows-1252");
}

// ---------------------------------------------------------------------------------------
// Size limits
// ---------------------------------------------------------------------------------------

/// Peak RSS a run that refuses or skips an outsized header or record may reach: the 16 MiB
/// record buffer, the 1 MiB encoding sample and the process's own baseline, with room to
/// spare, far below the sizes the inputs would take if held.
const BOUNDED_KIB: u64 = 128 * 1024;

#[test]
fn an_endless_header_and_a_1gb_line_are_refused_in_bounded_memory() {
    let dir = tempfile::tempdir().unwrap();
    let ran = check(dir.path(), "/dev/zero", &[]);
    ran.expect(1);
    assert!(
        ran.stderr.contains(
            "the header of `/dev/zero` (line 1) is larger than 16 MiB or 1048576 columns"
        ),
        "{}",
        ran.stderr
    );
    assert!(ran.peak_rss_kib < BOUNDED_KIB, "{} KiB", ran.peak_rss_kib);

    // One line of 1 GiB (a sparse file: names, then zero bytes, no line end).
    let line = dir.path().join("line.csv");
    let file = std::fs::File::create(&line).unwrap();
    file.set_len(1 << 30).unwrap();
    let mut file = std::fs::OpenOptions::new().write(true).open(&line).unwrap();
    file.write_all(b"lead_id,phone,notes,").unwrap();
    drop(file);
    let ran = check(dir.path(), "line.csv", &[]);
    ran.expect(1);
    assert!(
        ran.stderr
            .contains("the header of `line.csv` (line 1) is larger than 16 MiB"),
        "{}",
        ran.stderr
    );
    assert!(ran.peak_rss_kib < BOUNDED_KIB, "{} KiB", ran.peak_rss_kib);
}

/// A file with a record of `record_bytes` (zero bytes) between two good rows.
fn file_with_a_big_record(path: &Path, record_bytes: u64) {
    let mut file = std::fs::File::create(path).unwrap();
    file.write_all(b"lead_id,phone\nx1,+12125550100\nx2,")
        .unwrap();
    let start = 32;
    file.set_len(start + record_bytes).unwrap();
    let mut file = std::fs::OpenOptions::new().append(true).open(path).unwrap();
    file.write_all(b",+12125550101\nx3,+12125550102\n").unwrap();
}

#[track_caller]
fn assert_big_record_rejected(dir: &Path, ran: &Ran) {
    ran.expect(3);
    let s = summary(dir);
    assert_eq!(
        (s["rows_read"].as_u64(), s["valid"].as_u64()),
        (Some(3), Some(2))
    );
    let report = rejected(dir);
    assert_eq!(
        (report[0][0].as_str(), report[0][1].as_str()),
        ("2", "malformed_row")
    );
    assert!(
        report[0][3]
            .starts_with("line 3: the record is larger than the limit (16 MiB or 1048576 fields)"),
        "{:?}",
        report[0][3]
    );
    assert!(ran.peak_rss_kib < BOUNDED_KIB, "{} KiB", ran.peak_rss_kib);
}

#[test]
fn an_outsized_record_is_rejected_and_read_past_in_bounded_memory() {
    let dir = tempfile::tempdir().unwrap();
    file_with_a_big_record(&dir.path().join("big.csv"), 48 << 20);
    let ran = check(dir.path(), "big.csv", &[]);
    assert_big_record_rejected(dir.path(), &ran);
}

/// The same with a record of 1 GiB (about 40 s in a debug build): `NL_LARGE_INPUTS=1`.
#[test]
fn a_1gb_record_is_read_past_in_bounded_memory() {
    if std::env::var_os("NL_LARGE_INPUTS").is_none() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    file_with_a_big_record(&dir.path().join("big.csv"), 1 << 30);
    let ran = check(dir.path(), "big.csv", &[]);
    assert_big_record_rejected(dir.path(), &ran);
}

// ---------------------------------------------------------------------------------------
// Import of a workbook: killed and resumed, then a delta run
// ---------------------------------------------------------------------------------------

/// `rows` leads in an XLSX sheet, phones stored as numbers, with two title rows.
fn write_leads_workbook(path: &Path, rows: usize, renamed: Option<usize>) {
    use rust_xlsxwriter::Workbook;
    let mut book = Workbook::new();
    let sheet = book.add_worksheet();
    sheet.set_name("Leads").unwrap();
    sheet.write_string(0, 0, "Lead export").unwrap();
    for (c, name) in ["Lead ID", "Name", "Phone", "Email"].iter().enumerate() {
        sheet.write_string(2, c as u16, *name).unwrap();
    }
    for n in 0..rows {
        let r = 3 + n as u32;
        sheet.write_string(r, 0, format!("crm-{n:05}")).unwrap();
        let name = if renamed == Some(n) {
            format!("Renamed {n}")
        } else {
            format!("Lead {n}")
        };
        sheet.write_string(r, 1, name).unwrap();
        let digits: f64 = e164(n)[1..].parse().unwrap();
        sheet.write_number(r, 2, digits).unwrap();
        sheet
            .write_string(r, 3, format!("lead{n}@example.com"))
            .unwrap();
    }
    book.save(path).unwrap();
}

#[test]
fn a_killed_xlsx_import_resumes_and_a_delta_run_sends_only_the_change() {
    let env = Env::start(with_latency(Latency::range(20, 80)));
    let book = env.path("leads.xlsx");
    write_leads_workbook(&book, 1500, None);
    let slow = [
        "--rate",
        "1000",
        "--rate-window",
        "1",
        "--batch-size",
        "20",
        "--concurrency",
        "4",
    ];
    for round in 0..3 {
        let mut child = spawn_import(&env, &book, &slow);
        wait_for_leads(&env, 200 * (round + 1), &mut child);
        child.kill().unwrap();
        child.wait().unwrap();
    }
    assert!(env.leads().len() < 1500, "killed before the end");
    let out = env.import(&book, &fast());
    assert_exit(&out, 0);
    let stored = env.leads_by_id();
    assert_eq!(stored.len(), 1500);
    for n in 0..1500 {
        assert_eq!(stored[&format!("crm-{n:05}")].lead.phone, e164(n));
    }
    let summary = env.summary();
    assert_adds_up(&summary);
    assert_eq!(summary["rows_read"], 1500);
    assert_eq!(
        summary["imported"], 1500,
        "each lead counted once across sessions"
    );
    assert!(summary["session"]["resumed"].as_bool().unwrap());
    assert!(summary["session"]["rows_skipped"].as_u64().unwrap() >= 400);
    assert_eq!(summary["reading"]["sheet"], "Leads");
    assert_eq!(summary["reading"]["header_line"], 3);
    let rewritten = stored.values().filter(|l| l.write_count > 1).count();
    assert!(
        rewritten <= 3 * 4 * 20,
        "{rewritten} leads written more than once"
    );

    // The same workbook again: nothing to send.
    let before = sync_requests(&env).len();
    let out = env.import(&book, &fast());
    assert_exit(&out, 0);
    assert_eq!(env.summary()["unchanged"], 1500);
    assert_eq!(sync_requests(&env).len(), before);

    // One cell changed: only that lead is sent.
    write_leads_workbook(&book, 1500, Some(7));
    let out = env.import(&book, &fast());
    assert_exit(&out, 0);
    let summary = env.summary();
    assert_eq!(
        (summary["imported"].as_u64(), summary["unchanged"].as_u64()),
        (Some(1), Some(1499))
    );
    assert_eq!(env.leads_by_id()["crm-00007"].lead.name, "Renamed 7");
}

#[test]
fn check_of_an_import_sample_stays_the_same_through_every_format() {
    // The sample file, as CSV, gzip, and an XLSX generated from its cells: the same leads.
    let dir = tempfile::tempdir().unwrap();
    let sample = Path::new(env!("CARGO_MANIFEST_DIR")).join("samples/leads.csv");
    let text = std::fs::read_to_string(&sample).unwrap();
    std::fs::write(dir.path().join("leads.csv"), &text).unwrap();
    let ran = check(dir.path(), "leads.csv", &["--emit-valid", "-"]);
    let expected = leads(&ran.stdout);
    assert!(!expected.is_empty());

    let mut book = rust_xlsxwriter::Workbook::new();
    let sheet = book.add_worksheet();
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .from_reader(text.as_bytes());
    for (r, record) in reader.records().enumerate() {
        for (c, cell) in record.unwrap().iter().enumerate() {
            if !cell.is_empty() {
                sheet.write_string(r as u32, c as u16, cell).unwrap();
            }
        }
    }
    book.save(dir.path().join("leads.xlsx")).unwrap();
    let ran = check(dir.path(), "leads.xlsx", &["--emit-valid", "-"]);
    assert_eq!(leads(&ran.stdout), expected);
}
