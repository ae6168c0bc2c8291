//! Reports: `rejected.csv` and `rejected.xlsx` (one line per rejected row, sorted by error
//! class then row, with the original columns as read), the counts and details per class for
//! `summary.json`, and the table printed on stderr.
//!
//! A row with several problems appears once, under its first class in report order, with
//! every field and message it has: so a fixed report can be imported again as it is,
//! without a row appearing twice. The report columns come first:
//! `_row,_error_class,_error_field,_error_message,_fix,_line,_fingerprint`; `_row` and
//! `_line` are the row's numbers in the original file (kept through any number of round
//! trips), `_fix` says what to do, and `_fingerprint` lets a row sent back unchanged be
//! recognised ([`readback`]). CSV cells a spreadsheet would run as formulas are guarded
//! ([`guard`]).

use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::fsutil::{AtomicFile, create_private_file};
use crate::lead::{ErrorClass, Problem};
use crate::mapping::Mapping;
use crate::source::Source;

pub mod guard;
pub mod readback;
mod summary;
mod xlsx;

pub use readback::{Fingerprint, ReportLayout};
pub use summary::{
    ClassCounts, ClassSummary, ColumnCount, Example, RejectionSummary, WorkbookExtent,
};
pub use xlsx::{ROWS_SHEET, SUMMARY_SHEET, XLSX_MAX_COLUMNS, XLSX_MAX_NOTES};

use readback::{COLUMNS, Recorded, is_report_column};

/// Rejected rows the workbook holds at most (the CSV holds them all): a workbook is for
/// people fixing rows by hand, and writing one costs far more per row than the CSV.
pub const XLSX_MAX_ROWS: u64 = 2_000;

/// A rejected row as it goes into the report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RejectedRow {
    /// 1-based data row number in the input.
    pub row: u64,
    /// 1-based physical line where the record starts in the input; 0 when not known.
    pub line: u64,
    /// Every problem of the row (at least one).
    pub problems: Vec<Problem>,
    /// The row's fields as read.
    pub original: Vec<String>,
}

impl RejectedRow {
    /// The class the row is filed under: its first in report order.
    pub fn class(&self) -> ErrorClass {
        self.problems
            .iter()
            .map(|p| p.class)
            .min()
            .unwrap_or(ErrorClass::MalformedRow)
    }

    /// The `_error_field` cell: each distinct field, `;`-separated.
    pub fn field_cell(&self) -> String {
        let mut fields: Vec<&str> = Vec::new();
        for p in &self.problems {
            for f in p.field.split(';').filter(|f| !f.is_empty()) {
                if !fields.contains(&f) {
                    fields.push(f);
                }
            }
        }
        fields.join(";")
    }

    /// The `_error_message` cell: the messages, ` | `-separated, those of other classes than
    /// the row's own prefixed with their class.
    pub fn message_cell(&self) -> String {
        let class = self.class();
        self.problems
            .iter()
            .map(|p| {
                if p.class == class {
                    p.message.clone()
                } else {
                    format!("[{}] {}", p.class, p.message)
                }
            })
            .collect::<Vec<_>>()
            .join(" | ")
    }
}

/// Which input columns a problem's field is about, to point at the offending cell.
///
/// A field is a lead field (`phone`, `email`, …: the columns mapped to it), `#N` (the
/// N-th column, 1-based: a cell that could not be decoded), or a header name.
#[derive(Debug, Clone, Default)]
pub struct FieldColumns {
    /// Per input column: the lead field it feeds, if any.
    fields: Vec<Option<String>>,
    /// Per input column: its trimmed header.
    headers: Vec<String>,
}

impl FieldColumns {
    /// From the resolved mapping.
    pub fn from_mapping(mapping: &Mapping) -> FieldColumns {
        use crate::mapping::Target;
        let fields = mapping
            .columns
            .iter()
            .map(|(target, _)| {
                let field = match target {
                    Target::LeadId => "lead_id",
                    Target::Name | Target::FirstName | Target::LastName => "name",
                    Target::Phone => "phone",
                    Target::Email => "email",
                    Target::Status => "status",
                    Target::Tags => "tags",
                    Target::CustomFields => "customFields",
                    Target::Country => "country",
                    _ => return None,
                };
                Some(field.to_owned())
            })
            .collect();
        FieldColumns {
            fields,
            headers: mapping.headers.clone(),
        }
    }

    /// Only headers known (no mapping): fields match `#N` and header names.
    fn from_headers(headers: &[String]) -> FieldColumns {
        FieldColumns {
            fields: vec![None; headers.len()],
            headers: headers.iter().map(|h| h.trim().to_owned()).collect(),
        }
    }

    /// The input columns (0-based) `field` is about; `field` may list several, `;`-separated.
    fn columns_of(&self, field: &str, out: &mut Vec<usize>) {
        for part in field.split(';').map(str::trim).filter(|p| !p.is_empty()) {
            if let Some(n) = part.strip_prefix('#').and_then(|n| n.parse::<usize>().ok()) {
                out.extend(n.checked_sub(1));
                continue;
            }
            let before = out.len();
            out.extend(
                self.fields
                    .iter()
                    .enumerate()
                    .filter(|(_, f)| f.as_deref() == Some(part))
                    .map(|(i, _)| i),
            );
            if out.len() == before {
                out.extend(self.headers.iter().position(|h| h == part));
            }
        }
    }

    /// `field` with `#N` references written as the column's header.
    fn describe(&self, field: String) -> String {
        if !field.contains('#') {
            return field;
        }
        field
            .split(';')
            .map(|part| {
                match part
                    .strip_prefix('#')
                    .and_then(|n| n.parse::<usize>().ok())
                    .and_then(|n| self.headers.get(n.checked_sub(1)?))
                {
                    Some(header) => header.clone(),
                    None => part.to_owned(),
                }
            })
            .collect::<Vec<_>>()
            .join(";")
    }
}

/// Line numbers of rows whose line is not known (an import's rows come back from the state
/// file without it), found by reading the input's records again, in row order.
struct LineFinder {
    source: Source,
    row: crate::source::RawRow,
    done: bool,
}

impl LineFinder {
    /// The line of data row `row`; rows must be asked in increasing order.
    fn line_of(&mut self, row: u64) -> Option<u64> {
        while !self.done && self.row.row < row {
            match self.source.next_row_into(&mut self.row) {
                Ok(true) => {}
                _ => self.done = true,
            }
        }
        (self.row.row == row).then_some(self.row.line)
    }
}

/// Writes `rejected.csv` and `rejected.xlsx` from rows that arrive in row order: each class
/// is spilled to its own temporary files as rows come (so memory stays flat), and the files
/// are put together in class order at the end.
pub struct ReportWriter {
    dir: PathBuf,
    header: Vec<String>,
    /// Per input column: whether it is a report column of an earlier run, left out.
    drop: Vec<bool>,
    /// Per input column: its position among the data columns written, if written.
    out_column: Vec<Option<usize>>,
    fields: FieldColumns,
    /// The input is a report of an earlier run.
    layout: Option<ReportLayout>,
    fingerprint: Fingerprint,
    lines: Option<LineFinder>,
    spills: Vec<Option<BufWriter<File>>>,
    xlsx_spills: Vec<Option<BufWriter<File>>>,
    counts: ClassCounts,
    /// The most rows the workbook holds.
    xlsx_rows: u64,
    /// Time spent in [`ReportWriter::add`], for the log.
    spent: std::time::Duration,
    /// Reused per row.
    columns: Vec<usize>,
}

impl std::fmt::Debug for ReportWriter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReportWriter")
            .field("dir", &self.dir)
            .field("header", &self.header)
            .finish_non_exhaustive()
    }
}

/// The report cells of one row, before the original ones.
struct Cells {
    row: u64,
    line: u64,
    class: ErrorClass,
    field: String,
    message: String,
    fix: std::borrow::Cow<'static, str>,
    fingerprint: String,
}

impl Cells {
    /// The report cells as text, `_row` and `_line` written into `numbers`.
    fn texts<'a>(&'a self, numbers: &'a mut String) -> [&'a str; 7] {
        numbers.clear();
        push_decimal(numbers, self.row);
        let split = numbers.len();
        if self.line > 0 {
            push_decimal(numbers, self.line);
        }
        let (row, line) = numbers.split_at(split);
        [
            row,
            self.class.as_str(),
            &self.field,
            &self.message,
            &self.fix,
            line,
            &self.fingerprint,
        ]
    }
}

impl ReportWriter {
    /// Starts a report in `dir` for an input with `headers`.
    pub fn create(dir: &Path, headers: &[String]) -> io::Result<ReportWriter> {
        let drop: Vec<bool> = headers.iter().map(|h| is_report_column(h)).collect();
        let mut header: Vec<String> = COLUMNS.iter().map(|s| (*s).to_owned()).collect();
        let mut out_column = Vec::with_capacity(headers.len());
        let mut n = 0;
        for (h, dropped) in headers.iter().zip(&drop) {
            if *dropped {
                out_column.push(None);
            } else {
                header.push(h.clone());
                out_column.push(Some(n));
                n += 1;
            }
        }
        let counts = ClassCounts::with_columns(header[COLUMNS.len()..].to_vec());
        Ok(ReportWriter {
            dir: dir.to_owned(),
            header,
            drop,
            out_column,
            fields: FieldColumns::from_headers(headers),
            layout: ReportLayout::detect(headers),
            fingerprint: Fingerprint::new(headers),
            lines: None,
            spills: (0..ErrorClass::ALL.len()).map(|_| None).collect(),
            xlsx_spills: (0..ErrorClass::ALL.len()).map(|_| None).collect(),
            counts,
            xlsx_rows: XLSX_MAX_ROWS,
            spent: std::time::Duration::ZERO,
            columns: Vec::new(),
        })
    }

    /// Holds at most `rows` rows in the workbook (tests use a small number).
    #[cfg(test)]
    fn with_xlsx_rows(mut self, rows: u64) -> ReportWriter {
        self.xlsx_rows = rows;
        self
    }

    /// Points at the offending cells through `mapping` (which columns feed which field).
    pub fn with_mapping(mut self, mapping: &Mapping) -> ReportWriter {
        self.fields = FieldColumns::from_mapping(mapping);
        self
    }

    /// Finds the line numbers that rows arrive without by reading `source` (the same input)
    /// again; rows must then arrive in row order.
    pub fn find_lines_in(&mut self, source: Source) {
        self.lines = Some(LineFinder {
            source,
            row: crate::source::RawRow::default(),
            done: false,
        });
    }

    fn spill_path(&self, class: ErrorClass, kind: &str) -> PathBuf {
        self.dir
            .join(format!(".rejected.{}.{kind}.part", class.as_str()))
    }

    fn spill(&mut self, class: ErrorClass, xlsx: bool) -> io::Result<&mut BufWriter<File>> {
        let path = self.spill_path(class, if xlsx { "xlsx" } else { "csv" });
        let spill = if xlsx {
            &mut self.xlsx_spills[class.index()]
        } else {
            &mut self.spills[class.index()]
        };
        if spill.is_none() {
            let file = create_private_file(&path)?;
            *spill = Some(BufWriter::with_capacity(1 << 16, file));
        }
        Ok(spill.as_mut().expect("just created"))
    }

    /// The report cells of `row`.
    fn cells(&mut self, row: &RejectedRow) -> Cells {
        let layout = self.layout.as_ref();
        let recorded = layout.map_or(Recorded::Fresh, |l| l.recorded(&row.original));
        let class = row.class();
        let mut line = layout.and_then(|l| l.original_line(&row.original));
        if line.is_none() && row.line > 0 {
            line = Some(row.line);
        }
        if line.is_none() {
            line = self.lines.as_mut().and_then(|f| f.line_of(row.row));
        }
        let fix = match recorded {
            Recorded::Fresh => class.hint().into(),
            Recorded::Unchanged(_) => {
                self.counts.unchanged += 1;
                format!(
                    "unchanged since the report this row came from, so rejected again as it was: {}; or empty its _error_class cell to have it checked again",
                    class.hint()
                )
                .into()
            }
            Recorded::Unknown(_) => {
                self.counts.unchanged += 1;
                format!(
                    "rejected again as the report this row came from said (that report has no _fingerprint column, so a change cannot be seen): {}; or empty its _error_class cell to have it checked again",
                    class.hint()
                )
                .into()
            }
        };
        Cells {
            row: layout
                .and_then(|l| l.original_row(&row.original))
                .unwrap_or(row.row),
            line: line.unwrap_or(0),
            class,
            field: self.fields.describe(row.field_cell()),
            message: row.message_cell(),
            fix,
            fingerprint: self.fingerprint.of(&row.original),
        }
    }

    /// Adds a rejected row; rows of one class must arrive in row order.
    pub fn add(&mut self, row: &RejectedRow) -> io::Result<()> {
        let started = std::time::Instant::now();
        let result = self.add_row(row);
        self.spent += started.elapsed();
        result
    }

    fn add_row(&mut self, row: &RejectedRow) -> io::Result<()> {
        let cells = self.cells(row);
        // The offending cells, as positions among the data columns written.
        let mut columns = std::mem::take(&mut self.columns);
        columns.clear();
        for p in &row.problems {
            self.fields.columns_of(&p.field, &mut columns);
        }
        columns.retain_mut(|c| match self.out_column.get(*c) {
            Some(Some(out)) => {
                *c = *out;
                true
            }
            _ => false,
        });
        columns.sort_unstable();
        columns.dedup();
        self.counts.add_cells(row, &cells, &columns);

        let class = cells.class;
        let drop = std::mem::take(&mut self.drop);
        let result = (|| {
            let csv = self.spill(class, false)?;
            write_row(csv, &drop, row, &cells, None)?;
            if self.counts.rows(class) <= self.xlsx_rows {
                let xlsx = self.spill(class, true)?;
                write_row(xlsx, &drop, row, &cells, Some(&columns))?;
            }
            Ok(())
        })();
        self.drop = drop;
        self.columns = columns;
        result
    }

    /// The counts so far.
    pub fn counts(&self) -> &ClassCounts {
        &self.counts
    }

    /// Writes `rejected.csv` and `rejected.xlsx` and removes the spill files; returns the
    /// path of the CSV (the workbook is beside it, [`ReportPaths::xlsx_beside`]) and the
    /// counts.
    pub fn finish(mut self) -> io::Result<(PathBuf, ClassCounts)> {
        let started = std::time::Instant::now();
        let mut xlsx_parts = Vec::new();
        let mut csv_parts = Vec::new();
        for class in ErrorClass::ALL {
            if let Some(writer) = self.xlsx_spills[class.index()].take() {
                flush_spill(writer)?;
                xlsx_parts.push((class, self.spill_path(class, "xlsx")));
            }
            if let Some(writer) = self.spills[class.index()].take() {
                flush_spill(writer)?;
                csv_parts.push(self.spill_path(class, "csv"));
            }
        }
        // rejected.csv put together on a thread of its own while the workbook is written.
        let (csv, written, csv_done) = std::thread::scope(|scope| {
            let header = &self.header;
            let dir = &self.dir;
            let csv = scope.spawn(move || {
                let assembled = assemble_csv(&dir.join("rejected.csv"), header, &csv_parts);
                (assembled, started.elapsed())
            });
            let written = xlsx::write(
                &self.dir,
                &self.header,
                &mut self.counts,
                &xlsx_parts,
                self.xlsx_rows,
            );
            let (csv, csv_done) = csv.join().unwrap_or_else(|_| {
                (
                    Err(io::Error::other("rejected.csv: a thread panicked")),
                    started.elapsed(),
                )
            });
            (csv, written, csv_done)
        });
        for (_, part) in &xlsx_parts {
            let _ = std::fs::remove_file(part);
        }
        let path = csv?;
        written?;
        tracing::info!(
            "reports: {} rejected rows spilled in {:.3} s as they came, then rejected.csv put together in {:.3} s while rejected.xlsx ({} rows) was written, both in {:.3} s",
            self.counts.total_rows(),
            self.spent.as_secs_f64(),
            csv_done.as_secs_f64(),
            self.counts.workbook.rows,
            started.elapsed().as_secs_f64()
        );
        Ok((path, std::mem::take(&mut self.counts)))
    }
}

impl Drop for ReportWriter {
    fn drop(&mut self) {
        for class in ErrorClass::ALL {
            if self.spills[class.index()].take().is_some() {
                let _ = std::fs::remove_file(self.spill_path(class, "csv"));
            }
            if self.xlsx_spills[class.index()].take().is_some() {
                let _ = std::fs::remove_file(self.spill_path(class, "xlsx"));
            }
        }
    }
}

fn flush_spill(mut writer: BufWriter<File>) -> io::Result<()> {
    writer.flush()
}

/// One CSV record with every cell quoted (OWASP: a spreadsheet splitting on another
/// delimiter, `;` in many locales, cannot cut a cell into one that starts a formula).
/// Written by hand: the csv crate's writer rescans a long field for quotes at every buffer
/// refill, which is quadratic for a field of many megabytes.
fn write_quoted<W: Write, S: AsRef<str>>(
    out: &mut W,
    cells: impl IntoIterator<Item = S>,
) -> io::Result<()> {
    for (i, cell) in cells.into_iter().enumerate() {
        if i > 0 {
            out.write_all(b",")?;
        }
        out.write_all(b"\"")?;
        let mut rest = cell.as_ref().as_bytes();
        while let Some(at) = memchr::memchr(b'"', rest) {
            out.write_all(&rest[..=at])?;
            out.write_all(b"\"")?;
            rest = &rest[at + 1..];
        }
        out.write_all(rest)?;
        out.write_all(b"\"")?;
    }
    out.write_all(b"\n")
}

/// `n` in decimal, without the formatting machinery (twice per row).
fn push_decimal(out: &mut String, mut n: u64) {
    let mut digits = [0u8; 20];
    let mut at = digits.len();
    loop {
        at -= 1;
        digits[at] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    out.extend(digits[at..].iter().map(|&d| char::from(d)));
}

/// One row of a spill: for the CSV, every cell guarded; for the workbook (`columns` given),
/// the offending columns first (`;`-separated), then the cells as they are.
/// Writes `rejected.csv` at `target`: a BOM, the guarded `header`, then the class spills
/// `parts` in order (each removed once copied).
fn assemble_csv(target: &Path, header: &[String], parts: &[PathBuf]) -> io::Result<PathBuf> {
    let mut out = AtomicFile::create(target)?;
    // A BOM, so that Excel reads the file as UTF-8 rather than the locale's code page.
    out.write_all("\u{FEFF}".as_bytes())?;
    write_quoted(&mut out, header.iter().map(|h| guard::guard(h)))?;
    for path in parts {
        // File to file, so that the kernel copies (copy_file_range) without our buffers.
        out.writer().flush()?;
        io::copy(&mut File::open(path)?, out.writer().get_mut())?;
        std::fs::remove_file(path)?;
    }
    out.commit()
}

fn write_row<W: Write>(
    writer: &mut W,
    drop: &[bool],
    row: &RejectedRow,
    cells: &Cells,
    columns: Option<&[usize]>,
) -> io::Result<()> {
    let mut numbers = String::new();
    let report = cells.texts(&mut numbers);
    // The report columns of an earlier run are dropped; a malformed row may be wider than
    // the header, and its extra fields are kept as they are.
    let original = row
        .original
        .iter()
        .enumerate()
        .filter(|(i, _)| !drop.get(*i).copied().unwrap_or(false))
        .map(|(_, f)| f.as_str());
    match columns {
        None => write_quoted(writer, report.into_iter().chain(original).map(guard::guard)),
        Some(columns) => {
            let marks = columns
                .iter()
                .map(usize::to_string)
                .collect::<Vec<_>>()
                .join(";");
            // Cut to what a cell can hold here already, so that the workbook does not read
            // back megabytes it cannot use.
            write_quoted(
                writer,
                std::iter::once(marks.as_str())
                    .chain(report)
                    .chain(original)
                    .map(xlsx::fit),
            )
        }
    }
}

fn csv_to_io(err: csv::Error) -> io::Error {
    match err.into_kind() {
        csv::ErrorKind::Io(e) => e,
        other => io::Error::other(format!("{other:?}")),
    }
}

/// Paths of the report files of a run.
#[derive(Debug, Clone, Serialize)]
pub struct ReportPaths {
    /// `rejected.csv`.
    pub rejected_csv: PathBuf,
    /// `rejected.xlsx`, beside it.
    pub rejected_xlsx: PathBuf,
    /// `summary.json`.
    pub summary_json: PathBuf,
    /// The `--emit-valid` file, if asked for.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub valid_jsonl: Option<PathBuf>,
}

impl ReportPaths {
    /// The workbook written beside `rejected_csv`.
    pub fn xlsx_beside(rejected_csv: &Path) -> PathBuf {
        rejected_csv.with_file_name("rejected.xlsx")
    }

    /// The lines of a summary that name the report files: the CSV, the workbook, and
    /// `summary.json` with `with_summary`.
    pub fn write_lines(&self, out: &mut dyn Write, with_summary: bool) -> io::Result<()> {
        writeln!(out, "report:  {}", self.rejected_csv.display())?;
        writeln!(out, "workbook: {}", self.rejected_xlsx.display())?;
        if with_summary {
            writeln!(out, "summary: {}", self.summary_json.display())?;
        }
        Ok(())
    }
}

/// Writes `value` as pretty JSON to `path`, owner-only and atomically.
pub fn write_json<T: Serialize>(path: &Path, value: &T) -> io::Result<()> {
    let mut out = AtomicFile::create(path)?;
    serde_json::to_writer_pretty(&mut out, value)?;
    out.write_all(b"\n")?;
    out.commit()?;
    Ok(())
}

#[cfg(test)]
mod tests;
