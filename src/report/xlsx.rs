//! `rejected.xlsx`: the report as a workbook a data team can fix and send back.
//!
//! A first sheet, `Summary`, with the table of classes (rows, problems, an example, the fix,
//! the columns involved, original line numbers) and the columns with most problems; then
//! `Rejected rows`: the report columns first, every cell a text cell (so no formula runs and
//! no phone becomes a number, and what is typed into it stays text), the offending cells
//! highlighted with a note holding the message and the fix, a frozen header, an autofilter.
//!
//! The rows sheet is written in `rust_xlsxwriter`'s constant-memory mode (one row in memory,
//! the rest streamed to a temporary file in the report directory); notes are held in memory
//! until the end in every mode, so the workbook holds at most [`XLSX_MAX_ROWS`] rows (shared
//! between the classes, each class getting its fair part) and [`XLSX_MAX_NOTES`] notes,
//! and says so on both sheets when it leaves rows out. `rejected.csv` always holds every row.

use std::io;
use std::path::{Path, PathBuf};

use rust_xlsxwriter::{Color, Format, FormatAlign, Note, Workbook, Worksheet, XlsxError};

use super::summary::{ClassCounts, WorkbookExtent, truncate};
use super::{COLUMNS, XLSX_MAX_ROWS};
use crate::fsutil::AtomicFile;
use crate::lead::ErrorClass;

/// Notes the workbook holds at most (each is kept in memory until the file is written).
pub const XLSX_MAX_NOTES: u64 = XLSX_MAX_ROWS;

/// Name of the rows sheet (a reader of the workbook picks it by this name).
pub const ROWS_SHEET: &str = "Rejected rows";

/// Name of the summary sheet, the first one.
pub const SUMMARY_SHEET: &str = "Summary";

/// Columns a worksheet can have (Excel's limit); the workbook leaves out any further ones.
pub const XLSX_MAX_COLUMNS: usize = 16_384;

/// Characters a cell can hold (Excel's limit); a longer cell is cut, and says so.
const MAX_CELL_CHARS: usize = 32_767;

/// Widest column, in characters.
const MAX_WIDTH: usize = 60;

/// The formats of the rows sheet.
struct Formats {
    text: Format,
    bad: Format,
    header: Format,
}

impl Formats {
    fn new() -> Formats {
        let text = Format::new().set_num_format("@");
        Formats {
            bad: text
                .clone()
                .set_background_color(Color::RGB(0xFFC7CE))
                .set_font_color(Color::RGB(0x9C0006)),
            header: text
                .clone()
                .set_bold()
                .set_background_color(Color::RGB(0xD9D9D9)),
            text,
        }
    }
}

/// How many rows of each class go into the workbook: every class its fair part of
/// [`XLSX_MAX_ROWS`], the part a small class leaves going to the others.
pub(super) fn quotas(
    counts: &ClassCounts,
    parts: &[(ErrorClass, PathBuf)],
    limit: u64,
) -> Vec<u64> {
    let mut want: Vec<u64> = parts
        .iter()
        .map(|(c, _)| counts.rows(*c).min(limit))
        .collect();
    let mut quota = vec![0u64; parts.len()];
    let mut left = limit;
    while left > 0 && want.iter().any(|&w| w > 0) {
        let open = want.iter().filter(|&&w| w > 0).count() as u64;
        let share = (left / open).max(1);
        for (w, q) in want.iter_mut().zip(quota.iter_mut()) {
            let take = (*w).min(share).min(left);
            *w -= take;
            *q += take;
            left -= take;
        }
    }
    quota
}

/// Writes `rejected.xlsx` in `dir` from the workbook spills of each class (`parts`, in
/// class order), and records in `counts` what it holds.
pub(super) fn write(
    dir: &Path,
    header: &[String],
    counts: &mut ClassCounts,
    parts: &[(ErrorClass, PathBuf)],
    limit: u64,
) -> io::Result<()> {
    let quota = quotas(counts, parts, limit);
    let rows: u64 = quota.iter().sum();
    counts.workbook = WorkbookExtent {
        rows,
        rows_left_out: counts.total_rows() - rows,
        notes: rows.min(XLSX_MAX_NOTES),
        limit,
        columns_left_out: header.len().saturating_sub(XLSX_MAX_COLUMNS) as u64,
    };
    let mut workbook = Workbook::new();
    // The fastest level: a third faster than Excel's own (3) for a file about a third
    // larger; the workbook is small anyway (at most XLSX_MAX_ROWS rows).
    workbook.set_zip_compression_level(1);
    workbook.set_tempdir(dir).map_err(xlsx_to_io)?;
    let summary = workbook.add_worksheet();
    summary.set_name(SUMMARY_SHEET).map_err(xlsx_to_io)?;
    write_summary(summary, counts).map_err(xlsx_to_io)?;
    let sheet = workbook
        .add_worksheet_with_constant_memory()
        .map_err(xlsx_to_io)?;
    sheet.set_name(ROWS_SHEET).map_err(xlsx_to_io)?;
    write_rows(sheet, header, parts, &quota, XLSX_MAX_NOTES).map_err(|e| match e {
        RowsError::Io(e) => e,
        RowsError::Xlsx(e) => xlsx_to_io(e),
    })?;
    let mut out = AtomicFile::create(&dir.join("rejected.xlsx"))?;
    workbook.save_to_writer(out.writer()).map_err(xlsx_to_io)?;
    out.commit()?;
    Ok(())
}

enum RowsError {
    Io(io::Error),
    Xlsx(XlsxError),
}

impl From<XlsxError> for RowsError {
    fn from(e: XlsxError) -> Self {
        RowsError::Xlsx(e)
    }
}

impl From<csv::Error> for RowsError {
    fn from(e: csv::Error) -> Self {
        RowsError::Io(super::csv_to_io(e))
    }
}

impl From<io::Error> for RowsError {
    fn from(e: io::Error) -> Self {
        RowsError::Io(e)
    }
}

/// The rows sheet: header, then the first `quota` rows of each part.
fn write_rows(
    sheet: &mut Worksheet,
    header: &[String],
    parts: &[(ErrorClass, PathBuf)],
    quota: &[u64],
    max_notes: u64,
) -> Result<(), RowsError> {
    let formats = Formats::new();
    let columns = header.len().min(XLSX_MAX_COLUMNS);
    let header = &header[..columns];
    let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count() + 2).collect();
    for c in 0..columns {
        sheet.set_column_format(col(c), &formats.text)?;
    }
    for (c, name) in header.iter().enumerate() {
        sheet.write_string_with_format(0, col(c), name, &formats.header)?;
    }
    let fix_at = COLUMNS.iter().position(|c| *c == "_fix").unwrap_or(0);
    let message_at = COLUMNS
        .iter()
        .position(|c| *c == "_error_message")
        .unwrap_or(0);
    let class_at = COLUMNS
        .iter()
        .position(|c| *c == "_error_class")
        .unwrap_or(0);
    let mut at: u32 = 0;
    let mut notes = 0u64;
    let mut record = csv::StringRecord::new();
    let mut marked: Vec<usize> = Vec::new();
    for ((class, path), &take) in parts.iter().zip(quota) {
        let mut reader = csv::ReaderBuilder::new()
            .has_headers(false)
            .flexible(true)
            .from_path(path)?;
        for _ in 0..take {
            if !reader.read_record(&mut record)? {
                break;
            }
            at += 1;
            marked.clear();
            marked.extend(
                record[0]
                    .split(';')
                    .filter_map(|c| c.parse::<usize>().ok())
                    .map(|c| c + COLUMNS.len())
                    .filter(|&c| c < columns),
            );
            // A malformed row wider than the header keeps its extra cells (past the last
            // named column), as rejected.csv does: sent back unchanged, it is still the row
            // the report rejected, not a shorter one that may pass.
            for (c, cell) in record.iter().skip(1).take(XLSX_MAX_COLUMNS).enumerate() {
                let bad = marked.contains(&c);
                let format = if bad { &formats.bad } else { &formats.text };
                if cell.is_empty() {
                    if bad {
                        sheet.write_blank(at, col(c), format)?;
                    }
                } else {
                    sheet.write_string_with_format(at, col(c), cell, format)?;
                }
                if let Some(w) = widths.get_mut(c) {
                    *w = (*w).max(cell.chars().count().min(MAX_WIDTH));
                }
            }
            if notes < max_notes {
                notes += 1;
                let target = marked.first().copied().unwrap_or(class_at);
                let text = format!(
                    "{class}: {}\n\nFix: {}",
                    truncate(record.get(1 + message_at).unwrap_or(""), 2000),
                    record.get(1 + fix_at).unwrap_or("")
                );
                let note = Note::new(text)
                    .set_author("nl-import")
                    .add_author_prefix(false)
                    .set_width(420)
                    .set_height(160);
                sheet.insert_note(at, col(target), &note)?;
            }
        }
    }
    for (c, w) in widths.iter().enumerate() {
        sheet.set_column_width(col(c), (*w).max(6) as f64)?;
    }
    if let Some(fp) = header.iter().position(|h| h == "_fingerprint") {
        // Needed to recognise an unchanged row, of no use to a person.
        sheet.set_column_hidden(col(fp))?;
    }
    sheet.set_freeze_panes(1, 0)?;
    sheet.autofilter(0, 0, at.max(1), col(columns.saturating_sub(1)))?;
    Ok(())
}

/// The summary sheet.
fn write_summary(sheet: &mut Worksheet, counts: &ClassCounts) -> Result<(), XlsxError> {
    let bold = Format::new().set_bold();
    let head = Format::new()
        .set_bold()
        .set_background_color(Color::RGB(0xD9D9D9));
    let wrap = Format::new().set_text_wrap().set_align(FormatAlign::Top);
    let extent = counts.workbook;
    sheet.write_string_with_format(0, 0, "Rejected rows, by error class", &bold)?;
    let mut intro = vec![format!(
        "{} rows rejected. Fix the highlighted cells on the sheet \"{ROWS_SHEET}\" (each has a note saying what is wrong and how to fix it), save this workbook, and import it again: nl-import import rejected.xlsx (or fix rejected.csv the same way).",
        counts.total_rows()
    )];
    intro.push(
        "Rows you do not change are rejected again as they were (a duplicate stays a duplicate); empty a row's _error_class cell to have it checked again as it is. Leave the columns starting with _ as they are.".to_owned(),
    );
    if extent.rows_left_out > 0 {
        intro.push(format!(
            "This workbook holds {} of the {} rejected rows (the first of each class, at most {}); rejected.csv holds them all.",
            extent.rows,
            counts.total_rows(),
            extent.limit
        ));
    }
    if extent.columns_left_out > 0 {
        intro.push(format!(
            "The input has more columns than a worksheet can hold: the last {} are left out here; rejected.csv has them all.",
            extent.columns_left_out
        ));
    }
    if extent.notes < extent.rows {
        intro.push(format!(
            "Only the first {} rows have a note; the others have their message in _error_message.",
            extent.notes
        ));
    }
    for (i, line) in intro.iter().enumerate() {
        sheet.write_string(1 + i as u32, 0, line)?;
    }
    let mut at = 2 + intro.len() as u32;
    let titles = [
        "error class",
        "rows",
        "problems",
        "example",
        "fix",
        "columns involved",
        "original lines (first 20)",
    ];
    for (c, t) in titles.iter().enumerate() {
        sheet.write_string_with_format(at, col(c), *t, &head)?;
    }
    for class in ErrorClass::ALL {
        if counts.problems(class) == 0 && counts.rows(class) == 0 {
            continue;
        }
        at += 1;
        let example = counts.example(class).map_or(String::new(), |e| {
            let line = e.line.map_or(String::new(), |l| format!(", line {l}"));
            format!("row {}{line}: {}", e.row, truncate(&e.message, 300))
        });
        let columns = counts
            .columns(Some(class))
            .iter()
            .map(|c| format!("{} ({})", c.column, c.problems))
            .collect::<Vec<_>>()
            .join(", ");
        let lines = counts
            .lines(class)
            .iter()
            .map(u64::to_string)
            .collect::<Vec<_>>()
            .join(", ");
        sheet.write_string(at, 0, class.as_str())?;
        sheet.write_number(at, 1, counts.rows(class) as f64)?;
        sheet.write_number(at, 2, counts.problems(class) as f64)?;
        sheet.write_string_with_format(at, 3, example, &wrap)?;
        sheet.write_string_with_format(at, 4, class.hint(), &wrap)?;
        sheet.write_string_with_format(at, 5, columns, &wrap)?;
        sheet.write_string_with_format(at, 6, lines, &wrap)?;
    }
    at += 2;
    sheet.write_string_with_format(at, 0, "columns with most problems", &head)?;
    sheet.write_string_with_format(at, 1, "problems", &head)?;
    for c in counts.columns(None).iter().take(50) {
        at += 1;
        sheet.write_string(at, 0, &c.column)?;
        sheet.write_number(at, 1, c.problems as f64)?;
    }
    for (c, width) in [24.0, 8.0, 9.0, 60.0, 50.0, 30.0, 30.0]
        .into_iter()
        .enumerate()
    {
        sheet.set_column_width(col(c), width)?;
    }
    Ok(())
}

/// A cell within Excel's limit (counted in UTF-16 units, as Excel counts).
pub(super) fn fit(cell: &str) -> std::borrow::Cow<'_, str> {
    if cell.len() <= MAX_CELL_CHARS {
        return cell.into();
    }
    let mut units = 0;
    let mut out = String::new();
    for ch in cell.chars() {
        units += ch.len_utf16();
        if units > MAX_CELL_CHARS - 40 {
            break;
        }
        out.push(ch);
    }
    out.push_str(" [cut: longer than a cell can hold]");
    out.into()
}

fn col(c: usize) -> u16 {
    u16::try_from(c).unwrap_or(u16::MAX)
}

fn xlsx_to_io(err: XlsxError) -> io::Error {
    match err {
        XlsxError::IoError(e) => e,
        other => io::Error::other(format!("rejected.xlsx: {other}")),
    }
}
