use super::*;

fn rejected(row: u64, problems: &[(ErrorClass, &str, &str)], original: &[&str]) -> RejectedRow {
    RejectedRow {
        row,
        line: row + 1,
        problems: problems
            .iter()
            .map(|(c, f, m)| Problem::new(*c, *f, *m))
            .collect(),
        original: original.iter().map(|s| (*s).to_owned()).collect(),
    }
}

fn strings(cells: &[&str]) -> Vec<String> {
    cells.iter().map(|s| (*s).to_owned()).collect()
}

/// The CSV's records, BOM checked and taken off.
fn read_csv(path: &Path) -> Vec<Vec<String>> {
    let bytes = std::fs::read(path).unwrap();
    let body = bytes
        .strip_prefix("\u{FEFF}".as_bytes())
        .expect("the CSV starts with a BOM");
    csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .from_reader(body)
        .records()
        .map(|r| r.unwrap().iter().map(str::to_owned).collect())
        .collect()
}

#[test]
fn a_row_is_filed_once_under_its_first_class() {
    let row = rejected(
        7,
        &[
            (ErrorClass::InvalidEmail, "email", "bad email"),
            (ErrorClass::InvalidPhone, "phone", "bad phone"),
        ],
        &[],
    );
    assert_eq!(row.class(), ErrorClass::InvalidPhone);
    assert_eq!(row.field_cell(), "email;phone");
    assert_eq!(row.message_cell(), "[invalid_email] bad email | bad phone");
}

#[test]
fn report_is_sorted_by_class_then_row_and_drops_old_report_columns() {
    let dir = tempfile::tempdir().unwrap();
    let headers = strings(&[
        "_row",
        "_error_class",
        "_error_field",
        "_error_message",
        "name",
        "phone",
    ]);
    let mut writer = ReportWriter::create(dir.path(), &headers).unwrap();
    let old = ["9", "x", "y", "z"];
    writer
        .add(&rejected(
            2,
            &[(ErrorClass::InvalidEmail, "email", "e")],
            &[old[0], old[1], old[2], old[3], "A", "1"],
        ))
        .unwrap();
    writer
        .add(&rejected(
            3,
            &[(ErrorClass::MissingPhone, "phone", "m")],
            &["", "", "", "", "B", ""],
        ))
        .unwrap();
    writer
        .add(&rejected(
            5,
            &[(ErrorClass::InvalidEmail, "email", "e2")],
            &["", "", "", "", "C", "2"],
        ))
        .unwrap();
    let (path, counts) = writer.finish().unwrap();
    assert_eq!(counts.total_rows(), 3);
    assert_eq!(counts.rows(ErrorClass::InvalidEmail), 2);
    let rows = read_csv(&path);
    assert_eq!(rows[0][..7], COLUMNS.map(str::to_owned));
    assert_eq!(rows[0][7..], strings(&["name", "phone"]));
    let brief: Vec<Vec<&str>> = rows[1..]
        .iter()
        .map(|r| vec![r[0].as_str(), &r[1], &r[2], &r[3], &r[5], &r[7], &r[8]])
        .collect();
    assert_eq!(
        brief,
        vec![
            vec!["3", "missing_phone", "phone", "m", "4", "B", ""],
            // The `_row` of the earlier report is kept.
            vec!["9", "invalid_email", "email", "e", "3", "A", "1"],
            vec!["5", "invalid_email", "email", "e2", "6", "C", "2"],
        ]
    );
    assert_eq!(rows[1][4], ErrorClass::MissingPhone.hint());
    assert!(rows[1][6].starts_with("v1:"));
    let mut left: Vec<String> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    left.sort();
    assert_eq!(
        left,
        ["rejected.csv", "rejected.xlsx"],
        "spill files are removed"
    );
}

#[test]
fn every_csv_cell_is_quoted_and_formula_cells_are_guarded() {
    let dir = tempfile::tempdir().unwrap();
    let headers = strings(&["name", "=phone"]);
    let mut writer = ReportWriter::create(dir.path(), &headers).unwrap();
    writer
        .add(&rejected(
            1,
            &[(ErrorClass::InvalidPhone, "phone", "-bad")],
            &["=HYPERLINK(\"http://x\",\"y\");=1", "+14155552671"],
        ))
        .unwrap();
    let (path, _) = writer.finish().unwrap();
    let text = std::fs::read_to_string(&path).unwrap();
    let body = text.strip_prefix('\u{FEFF}').unwrap();
    for line in body.lines() {
        for cell in line.split("\",\"") {
            assert!(
                !cell.trim_matches('"').starts_with(['=', '+', '-', '@']),
                "{line}"
            );
        }
        assert!(line.starts_with('"') && line.ends_with('"'), "{line}");
    }
    let rows = read_csv(&path);
    assert_eq!(rows[0][8], "'=phone");
    assert_eq!(rows[1][3], "'-bad");
    assert_eq!(rows[1][7], "'=HYPERLINK(\"http://x\",\"y\");=1");
    assert_eq!(rows[1][8], "'+14155552671");
}

#[test]
fn offending_cells_are_found_through_the_mapping_and_counted_per_column() {
    let dir = tempfile::tempdir().unwrap();
    let headers = strings(&["Full Name", "Mobile", "E-mail"]);
    let mapping = Mapping::resolve(&headers, None, Path::new("x.csv")).unwrap();
    let mut writer = ReportWriter::create(dir.path(), &headers)
        .unwrap()
        .with_mapping(&mapping);
    writer
        .add(&rejected(
            1,
            &[
                (ErrorClass::InvalidPhone, "phone", "p"),
                (ErrorClass::InvalidEmail, "email", "e"),
            ],
            &["A", "12", "a@"],
        ))
        .unwrap();
    writer
        .add(&rejected(
            2,
            &[(ErrorClass::MalformedRow, "#1", "bytes")],
            &["B\\xE9", "1", ""],
        ))
        .unwrap();
    let (path, counts) = writer.finish().unwrap();
    let rows = read_csv(&path);
    assert_eq!(
        rows[1][2], "Full Name",
        "`#1` is shown as the column's name"
    );
    assert_eq!(rows[2][2], "phone;email");
    let summary = counts.summary();
    let columns: Vec<(&str, u64)> = summary
        .columns
        .iter()
        .map(|c| (c.column.as_str(), c.problems))
        .collect();
    assert_eq!(columns, [("Full Name", 1), ("Mobile", 1), ("E-mail", 1)]);
    let phone = summary
        .classes
        .iter()
        .find(|c| c.class == ErrorClass::InvalidPhone)
        .unwrap();
    assert_eq!(phone.rows, 1);
    assert_eq!(phone.columns[0].column, "Mobile");
    assert_eq!(phone.example.as_ref().unwrap().line, Some(2));
    assert_eq!(phone.fix, ErrorClass::InvalidPhone.hint());
}

#[test]
fn workbook_quotas_share_the_rows_between_classes() {
    let mut counts = ClassCounts::with_columns(vec![]);
    let row = rejected(1, &[(ErrorClass::InvalidPhone, "", "")], &[]);
    let cells = |class| Cells {
        row: 1,
        line: 1,
        class,
        field: String::new(),
        message: String::new(),
        fix: "".into(),
        fingerprint: String::new(),
    };
    for _ in 0..XLSX_MAX_ROWS * 3 {
        counts.add_cells(&row, &cells(ErrorClass::InvalidPhone), &[]);
    }
    for _ in 0..10 {
        counts.add_cells(&row, &cells(ErrorClass::InvalidEmail), &[]);
    }
    let parts = vec![
        (ErrorClass::InvalidPhone, PathBuf::new()),
        (ErrorClass::InvalidEmail, PathBuf::new()),
    ];
    assert_eq!(
        xlsx::quotas(&counts, &parts, XLSX_MAX_ROWS),
        [XLSX_MAX_ROWS - 10, 10]
    );
    assert_eq!(xlsx::quotas(&counts, &parts, 7), [4, 3]);
}

#[test]
fn a_workbook_over_its_limit_holds_each_classes_share_and_says_so() {
    use calamine::{Data, Reader, Xlsx, open_workbook};
    let dir = tempfile::tempdir().unwrap();
    let headers = strings(&["name", "phone", "email"]);
    let mut writer = ReportWriter::create(dir.path(), &headers)
        .unwrap()
        .with_xlsx_rows(10);
    for row in 1..=30 {
        let (class, field) = if row % 10 == 0 {
            (ErrorClass::InvalidEmail, "email")
        } else {
            (ErrorClass::MissingPhone, "phone")
        };
        writer
            .add(&rejected(row, &[(class, field, "m")], &["N", "", "x@"]))
            .unwrap();
    }
    let (path, counts) = writer.finish().unwrap();
    assert_eq!(read_csv(&path).len(), 31, "the CSV holds every row");
    let extent = counts.summary().workbook;
    assert_eq!(
        (extent.rows, extent.rows_left_out, extent.notes),
        (10, 20, 10)
    );
    assert!(counts.table().contains("rejected.xlsx holds 10 of the 30"));
    let mut book: Xlsx<_> = open_workbook(path.with_file_name("rejected.xlsx")).unwrap();
    let rows = book.worksheet_range(ROWS_SHEET).unwrap();
    let classes: Vec<String> = rows.rows().skip(1).map(|r| r[1].to_string()).collect();
    // 3 email rows in all: all of them, and the 7 first rows of missing_phone.
    assert_eq!(
        classes,
        [vec!["missing_phone"; 7], vec!["invalid_email"; 3]].concat()
    );
    let first: Vec<String> = rows.rows().skip(1).map(|r| r[0].to_string()).collect();
    assert_eq!(first[..7], ["1", "2", "3", "4", "5", "6", "7"]);
    let summary = book.worksheet_range(SUMMARY_SHEET).unwrap();
    assert!(
        summary
            .rows()
            .any(|r| r.iter().any(|c| matches!(c, Data::String(s)
        if s.contains("This workbook holds 10 of the 30 rejected rows"))))
    );
}
