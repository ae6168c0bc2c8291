//! Workbooks (XLSX, XLSM, XLSB, XLS, ODS) through `calamine`: the sheet to read, each
//! cell as the text it stands for (numbers with their full digits, dates in ISO 8601), and
//! the rows handed over from a reading thread.
//!
//! XLSX and XLSB sheets are streamed cell by cell (calamine's cell readers), so memory
//! holds a few rows at a time, plus the workbook's shared-string table; calamine loads XLS
//! and ODS sheets whole (a sheet holds at most 1,048,576 rows).

use std::fs::File;
use std::io::BufReader;
use std::path::{Path, PathBuf};
use std::thread;

use calamine::{
    Data, DataRef, ExcelDateTime, Ods, Reader, SheetType, SheetVisible, Sheets, Xls, Xlsb, Xlsx,
    open_workbook,
};
use crossbeam_channel::{Receiver, Sender, bounded};

use super::SourceError;
use super::csv::Limits;
use super::record::Record;

/// Rows sent from the reading thread at once.
const BATCH_ROWS: usize = 256;

/// Batches in the channel at most.
const BATCHES: usize = 4;

/// One row of a sheet.
#[derive(Debug, Default)]
pub(super) struct SheetRow {
    /// The sheet's row number (1-based).
    pub(super) line: u64,
    /// The cells, from column A (or the sheet's first used column) to the last non-empty
    /// one, as text.
    pub(super) record: Record,
    /// A cell that is not a value, or a row over the size limit.
    pub(super) problem: Option<CellProblem>,
}

/// What is wrong with a sheet row as a whole.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum CellProblem {
    /// A cell holds a spreadsheet error (`#N/A`, `#VALUE!`, …).
    Error {
        /// 0-based column in the record.
        column: usize,
        /// The error as the spreadsheet shows it.
        text: String,
    },
    /// The row's cells are larger than the record limits: only its first cells are kept.
    TooLarge {
        /// Bytes of text in the row.
        bytes: u64,
    },
}

enum Msg {
    Rows(Vec<SheetRow>),
    Failed(String),
}

/// An open workbook, its sheet being read on a thread of its own.
pub(super) struct Workbook {
    rx: Receiver<Msg>,
    batch: std::vec::IntoIter<SheetRow>,
    /// The sheet read.
    pub(super) sheet: String,
    /// Every sheet, in order.
    pub(super) sheets: Vec<String>,
    /// The sheet's last row, when the sheet says (for estimates).
    pub(super) last_row: Option<u64>,
    /// `xlsx`, `xlsm`, `xlsb`, `xls` or `ods`.
    pub(super) format: &'static str,
    path: PathBuf,
}

/// What the file's first bytes say a workbook is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Container {
    /// A ZIP archive: XLSX, XLSM, XLSB or ODS.
    Zip,
    /// An OLE2 compound file: XLS.
    Ole,
}

type Book = Sheets<BufReader<File>>;

impl Workbook {
    /// Opens the workbook at `path` and starts reading `sheet` (the first visible worksheet
    /// when `None`).
    pub(super) fn open(
        path: &Path,
        container: Container,
        sheet: Option<&str>,
        limits: Limits,
    ) -> Result<Workbook, SourceError> {
        let (book, format) = open_book(path, container)?;
        let sheets = book.sheet_names();
        let name = choose_sheet(&book, sheet).map_err(|message| SourceError::Sheet {
            path: path.to_owned(),
            message,
        })?;
        let (tx, rx) = bounded(BATCHES);
        let (first_tx, first_rx) = bounded(1);
        let sheet_name = name.clone();
        thread::Builder::new()
            .name("nl-sheet".into())
            .spawn(move || read_sheet(book, &sheet_name, limits, &tx, &first_tx))
            .map_err(|source| SourceError::Io {
                path: path.to_owned(),
                source,
            })?;
        // The thread says first whether the sheet opened, and how far it goes.
        let last_row = match first_rx.recv() {
            Ok(Ok(last_row)) => last_row,
            Ok(Err(message)) => {
                return Err(SourceError::Workbook {
                    path: path.to_owned(),
                    message,
                });
            }
            Err(_) => None,
        };
        Ok(Workbook {
            rx,
            batch: Vec::new().into_iter(),
            sheet: name,
            sheets,
            last_row,
            format,
            path: path.to_owned(),
        })
    }

    /// The next non-empty row of the sheet.
    pub(super) fn next(&mut self) -> Result<Option<SheetRow>, SourceError> {
        loop {
            if let Some(row) = self.batch.next() {
                return Ok(Some(row));
            }
            match self.rx.recv() {
                Ok(Msg::Rows(rows)) => self.batch = rows.into_iter(),
                Ok(Msg::Failed(message)) => {
                    return Err(SourceError::Workbook {
                        path: self.path.clone(),
                        message,
                    });
                }
                Err(_) => return Ok(None),
            }
        }
    }
}

/// Opens the workbook, of the kind its extension names within its container.
fn open_book(path: &Path, container: Container) -> Result<(Book, &'static str), SourceError> {
    let ext = path
        .extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase)
        .unwrap_or_default();
    let failed = |message: String| SourceError::Workbook {
        path: path.to_owned(),
        message,
    };
    if container == Container::Ole {
        let book: Xls<_> =
            open_workbook(path).map_err(|e: calamine::XlsError| failed(e.to_string()))?;
        return Ok((Sheets::Xls(book), "xls"));
    }
    let xlsx = |format| open_workbook::<Xlsx<_>, _>(path).map(|b| (Sheets::Xlsx(b), format));
    let xlsb = || open_workbook::<Xlsb<_>, _>(path).map(|b| (Sheets::Xlsb(b), "xlsb"));
    let ods = || open_workbook::<Ods<_>, _>(path).map(|b| (Sheets::Ods(b), "ods"));
    match ext.as_str() {
        "xlsx" | "xlam" => xlsx("xlsx").map_err(|e| failed(e.to_string())),
        "xlsm" => xlsx("xlsm").map_err(|e| failed(e.to_string())),
        "xlsb" => xlsb().map_err(|e| failed(e.to_string())),
        "ods" => ods().map_err(|e| failed(e.to_string())),
        _ => xlsx("xlsx")
            .ok()
            .or_else(|| xlsb().ok())
            .or_else(|| ods().ok())
            .ok_or_else(|| {
                failed(
                    "it is a ZIP archive but not a workbook (.xlsx, .xlsm, .xlsb, .ods): if it holds a CSV file, unzip it first"
                        .into(),
                )
            }),
    }
}

/// The sheet to read: `wanted` (exactly, or else ignoring case and surrounding spaces), or
/// the first visible worksheet. `Err` lists the sheets.
fn choose_sheet(book: &Book, wanted: Option<&str>) -> Result<String, String> {
    let meta = book.sheets_metadata();
    let names: Vec<String> = meta.iter().map(|s| s.name.clone()).collect();
    let listed = || {
        names
            .iter()
            .map(|n| format!("`{n}`"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    match wanted {
        Some(wanted) => {
            if let Some(name) = names.iter().find(|n| *n == wanted) {
                return Ok(name.clone());
            }
            let folded: Vec<&String> = names
                .iter()
                .filter(|n| n.trim().to_lowercase() == wanted.trim().to_lowercase())
                .collect();
            match folded.as_slice() {
                [one] => Ok((*one).clone()),
                _ => Err(format!(
                    "has no sheet named `{wanted}`; its sheets are {}",
                    listed()
                )),
            }
        }
        // Our own rejected.xlsx sent back: its rows, not its summary.
        None if let Some(rows) = crate::report::readback::default_sheet(&names) => {
            Ok(names[rows].clone())
        }
        None => meta
            .iter()
            .find(|s| s.typ == SheetType::WorkSheet && s.visible == SheetVisible::Visible)
            .or_else(|| meta.iter().find(|s| s.typ == SheetType::WorkSheet))
            .map(|s| s.name.clone())
            .ok_or_else(|| format!("has no worksheet (its sheets are {})", listed())),
    }
}

/// The reading thread: tells `first` whether the sheet opened (and its last row), then
/// sends its rows in batches until the end, an error, or the receiver is gone.
fn read_sheet(
    book: Book,
    sheet: &str,
    limits: Limits,
    tx: &Sender<Msg>,
    first: &Sender<Result<Option<u64>, String>>,
) {
    let mut out = Batcher {
        tx,
        rows: Vec::with_capacity(BATCH_ROWS),
        limits,
    };
    let mut opening = Opening { first, sent: false };
    let result = match book {
        Sheets::Xlsx(mut book) => match book.worksheet_cells_reader(sheet) {
            Ok(mut cells) => {
                opening.announce(last_row(cells.dimensions()));
                stream(|| cells.next_cell().map_err(|e| e.to_string()), &mut out)
            }
            Err(e) => Err(e.to_string()),
        },
        Sheets::Xlsb(mut book) => match book.worksheet_cells_reader(sheet) {
            Ok(mut cells) => {
                opening.announce(last_row(cells.dimensions()));
                stream(|| cells.next_cell().map_err(|e| e.to_string()), &mut out)
            }
            Err(e) => Err(e.to_string()),
        },
        Sheets::Xls(mut book) => whole(book.worksheet_range(sheet), false, &mut opening, &mut out),
        Sheets::Ods(mut book) => whole(book.worksheet_range(sheet), true, &mut opening, &mut out),
    };
    match result {
        Ok(()) => out.flush(),
        Err(message) if opening.sent => {
            // The rows before the error still count; the error comes after them.
            out.flush();
            let _ = tx.send(Msg::Failed(message));
        }
        Err(message) => {
            let _ = first.send(Err(message));
        }
    }
}

/// Tells the opener, once, that the sheet opened.
struct Opening<'a> {
    first: &'a Sender<Result<Option<u64>, String>>,
    sent: bool,
}

impl Opening<'_> {
    fn announce(&mut self, last_row: Option<u64>) {
        self.sent = true;
        let _ = self.first.send(Ok(last_row));
    }
}

fn last_row(dims: calamine::Dimensions) -> Option<u64> {
    (dims.end.0 > 0).then_some(u64::from(dims.end.0) + 1)
}

/// A sheet calamine loads whole (XLS, ODS). In ODS, calamine gives an error cell as its
/// text (the file marks it as an error in an attribute calamine does not read): `ods` takes
/// the texts spreadsheets show for errors as errors.
fn whole<E: std::fmt::Display>(
    range: Result<calamine::Range<Data>, E>,
    ods: bool,
    opening: &mut Opening<'_>,
    out: &mut Batcher<'_>,
) -> Result<(), String> {
    let range = range.map_err(|e| e.to_string())?;
    let (top, _) = range.start().unwrap_or((0, 0));
    opening.announce(range.end().map(|(r, _)| u64::from(r) + 1));
    let mut row = SheetRow::default();
    for (i, cells) in range.rows().enumerate() {
        row.line = u64::from(top) + i as u64 + 1;
        for (column, cell) in cells.iter().enumerate() {
            match cell {
                Data::String(text) if ods && is_error_text(text) => {
                    out.cell(&mut row, column, &Cell::Error(text.clone()));
                }
                _ => out.cell(&mut row, column, &view(cell)),
            }
        }
        if !out.row_done(&mut row) {
            return Ok(());
        }
    }
    Ok(())
}

/// A sheet read cell by cell (XLSX, XLSB), in the order its file stores them: row by row.
fn stream<'a>(
    mut next: impl FnMut() -> Result<Option<calamine::Cell<DataRef<'a>>>, String>,
    out: &mut Batcher<'_>,
) -> Result<(), String> {
    let mut row = SheetRow::default();
    let mut current: Option<u32> = None;
    while let Some(cell) = next()? {
        let (r, c) = cell.get_position();
        match current {
            Some(cur) if r == cur => {}
            Some(cur) if r < cur => {
                return Err(format!(
                    "the cells of row {} come after row {} in the file: save the workbook again with a spreadsheet, or export the sheet as CSV",
                    r + 1,
                    cur + 1
                ));
            }
            _ => {
                if current.is_some() && !out.row_done(&mut row) {
                    return Ok(());
                }
                current = Some(r);
                row.line = u64::from(r) + 1;
            }
        }
        out.cell(&mut row, c as usize, &view_ref(cell.get_value()));
    }
    if current.is_some() {
        out.row_done(&mut row);
    }
    Ok(())
}

/// Whether `text` is what a spreadsheet shows for an error: Excel's `#N/A`, `#DIV/0!`, …,
/// or LibreOffice's `Err:502`.
fn is_error_text(text: &str) -> bool {
    const ERRORS: [&str; 7] = [
        "#N/A", "#DIV/0!", "#VALUE!", "#REF!", "#NAME?", "#NUM!", "#NULL!",
    ];
    ERRORS.contains(&text)
        || text
            .strip_prefix("Err:")
            .is_some_and(|code| code.len() == 3 && code.bytes().all(|b| b.is_ascii_digit()))
}

/// A cell's value, whichever reader it came from.
enum Cell<'a> {
    Int(i64),
    Float(f64),
    Text(&'a str),
    Bool(bool),
    DateTime(&'a ExcelDateTime),
    Error(String),
    Empty,
}

fn view(cell: &Data) -> Cell<'_> {
    match cell {
        Data::Int(i) => Cell::Int(*i),
        Data::Float(f) => Cell::Float(*f),
        Data::String(s) | Data::DateTimeIso(s) | Data::DurationIso(s) => Cell::Text(s),
        Data::Bool(b) => Cell::Bool(*b),
        Data::DateTime(d) => Cell::DateTime(d),
        Data::Error(e) => Cell::Error(e.to_string()),
        Data::Empty => Cell::Empty,
    }
}

fn view_ref<'a>(cell: &'a DataRef<'_>) -> Cell<'a> {
    match cell {
        DataRef::Int(i) => Cell::Int(*i),
        DataRef::Float(f) => Cell::Float(*f),
        DataRef::String(s) | DataRef::DateTimeIso(s) | DataRef::DurationIso(s) => Cell::Text(s),
        DataRef::SharedString(s) => Cell::Text(s),
        DataRef::Bool(b) => Cell::Bool(*b),
        DataRef::DateTime(d) => Cell::DateTime(d),
        DataRef::Error(e) => Cell::Error(e.to_string()),
        DataRef::Empty => Cell::Empty,
    }
}

/// Builds rows from cells and sends them in batches.
struct Batcher<'a> {
    tx: &'a Sender<Msg>,
    rows: Vec<SheetRow>,
    limits: Limits,
}

impl Batcher<'_> {
    /// Puts `cell` at `column` of `row` (missing cells before it are empty).
    fn cell(&self, row: &mut SheetRow, column: usize, cell: &Cell<'_>) {
        if matches!(cell, Cell::Empty) || row.problem_is_too_large() {
            return;
        }
        if column >= self.limits.fields {
            row.too_large(&self.limits);
            return;
        }
        let text = match cell {
            Cell::Error(text) => {
                if !matches!(row.problem, Some(CellProblem::Error { .. })) {
                    row.problem = Some(CellProblem::Error {
                        column,
                        text: text.clone(),
                    });
                }
                text.clone()
            }
            other => cell_text(other),
        };
        if row.record.as_slice().len() + text.len() > self.limits.bytes {
            row.too_large(&self.limits);
            return;
        }
        if column < row.record.len() {
            // Cells out of order within the row: rebuild it with this one in place.
            let mut fields: Vec<Vec<u8>> = row.record.iter().map(<[u8]>::to_vec).collect();
            fields[column] = text.into_bytes();
            row.record.clear();
            for field in &fields {
                row.record.push_field(field);
            }
            return;
        }
        row.record.pad_to(column);
        row.record.push_field(text.as_bytes());
    }

    /// Sends `row` on (unless it is empty) and clears it; `false` when nobody listens.
    fn row_done(&mut self, row: &mut SheetRow) -> bool {
        if row.record.is_empty() && row.problem.is_none() {
            return true;
        }
        let line = row.line;
        self.rows.push(std::mem::take(row));
        row.line = line;
        if self.rows.len() >= BATCH_ROWS {
            let rows = std::mem::replace(&mut self.rows, Vec::with_capacity(BATCH_ROWS));
            return self.tx.send(Msg::Rows(rows)).is_ok();
        }
        true
    }

    fn flush(&mut self) {
        if !self.rows.is_empty() {
            let _ = self.tx.send(Msg::Rows(std::mem::take(&mut self.rows)));
        }
    }
}

impl SheetRow {
    fn problem_is_too_large(&self) -> bool {
        matches!(self.problem, Some(CellProblem::TooLarge { .. }))
    }

    fn too_large(&mut self, limits: &Limits) {
        let bytes = self.record.as_slice().len() as u64;
        self.problem = Some(CellProblem::TooLarge {
            bytes: bytes.max(limits.bytes as u64),
        });
    }
}

/// The text a cell stands for: integers with all their digits (a phone stored as the number
/// 4915112345678 reads `4915112345678`, never `4.91511E+12`), other numbers as the shortest
/// decimal that is exactly the stored value, dates and times in ISO 8601, booleans as
/// `TRUE` / `FALSE`.
fn cell_text(cell: &Cell<'_>) -> String {
    match cell {
        Cell::Int(i) => i.to_string(),
        Cell::Float(f) => float_text(*f),
        Cell::Text(s) => (*s).to_owned(),
        Cell::Bool(b) => if *b { "TRUE" } else { "FALSE" }.to_owned(),
        Cell::DateTime(d) => datetime_text(d),
        Cell::Error(e) => e.clone(),
        Cell::Empty => String::new(),
    }
}

/// Rust prints a float as the shortest decimal that reads back as the same value, without
/// an exponent, and an integral one without a fraction.
fn float_text(f: f64) -> String {
    if f == 0.0 {
        "0".to_owned()
    } else {
        format!("{f}")
    }
}

/// `2024-03-05`, `2024-03-05T14:30:00`, `14:30:00` (a time of day), `PT36H0M0S` (a
/// duration); milliseconds when there are some.
fn datetime_text(d: &ExcelDateTime) -> String {
    if d.is_duration() {
        let ms = (d.as_f64() * 86_400_000.0).round() as i64;
        let (sign, ms) = if ms < 0 { ("-", -ms) } else { ("", ms) };
        let (h, m, s, milli) = (ms / 3_600_000, ms / 60_000 % 60, ms / 1000 % 60, ms % 1000);
        return if milli > 0 {
            format!("{sign}PT{h}H{m}M{s}.{milli:03}S")
        } else {
            format!("{sign}PT{h}H{m}M{s}S")
        };
    }
    let (y, mo, day, h, mi, s, ms) = d.to_ymd_hms_milli();
    let time = if ms > 0 {
        format!("{h:02}:{mi:02}:{s:02}.{ms:03}")
    } else {
        format!("{h:02}:{mi:02}:{s:02}")
    };
    let value = d.as_f64();
    if (0.0..1.0).contains(&value) {
        time
    } else if (h, mi, s, ms) == (0, 0, 0, 0) {
        format!("{y:04}-{mo:02}-{day:02}")
    } else {
        format!("{y:04}-{mo:02}-{day:02}T{time}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use calamine::ExcelDateTimeType;

    #[test]
    fn numbers_keep_their_digits() {
        assert_eq!(float_text(4_915_112_345_678.0), "4915112345678");
        assert_eq!(float_text(12_125_550_100.0), "12125550100");
        assert_eq!(float_text(1.5), "1.5");
        assert_eq!(float_text(0.1), "0.1");
        assert_eq!(float_text(-0.0), "0");
        assert_eq!(float_text(1e-7), "0.0000001");
        assert_eq!(float_text(123_456_789_012_345_680.0), "123456789012345680");
        assert_eq!(cell_text(&Cell::Int(-42)), "-42");
        assert_eq!(cell_text(&Cell::Bool(true)), "TRUE");
    }

    #[test]
    fn dates_in_iso_8601() {
        let dt = |v, t| ExcelDateTime::new(v, t, false);
        assert_eq!(
            datetime_text(&dt(45_356.0, ExcelDateTimeType::DateTime)),
            "2024-03-05"
        );
        assert_eq!(
            datetime_text(&dt(45_356.604_166_666_7, ExcelDateTimeType::DateTime)),
            "2024-03-05T14:30:00"
        );
        assert_eq!(
            datetime_text(&dt(0.604_166_666_7, ExcelDateTimeType::DateTime)),
            "14:30:00"
        );
        assert_eq!(
            datetime_text(&dt(1.5, ExcelDateTimeType::TimeDelta)),
            "PT36H0M0S"
        );
        // The 1904 epoch: the same serial is four years and a day later.
        assert_eq!(
            datetime_text(&ExcelDateTime::new(
                0.0 + 1.0,
                ExcelDateTimeType::DateTime,
                true
            )),
            "1904-01-02"
        );
    }

    #[test]
    fn error_texts() {
        for text in ["#N/A", "#DIV/0!", "Err:502"] {
            assert!(is_error_text(text), "{text}");
        }
        for text in ["N/A", "#N/A ", "Err:5", "Error: 502", "#hashtag"] {
            assert!(!is_error_text(text), "{text}");
        }
    }

    #[test]
    fn cells_build_rows() {
        let (tx, rx) = bounded(8);
        let mut out = Batcher {
            tx: &tx,
            rows: Vec::new(),
            limits: Limits {
                bytes: 64,
                fields: 8,
                skip: true,
            },
        };
        let mut row = SheetRow {
            line: 3,
            ..SheetRow::default()
        };
        out.cell(&mut row, 1, &Cell::Text("b"));
        out.cell(&mut row, 3, &Cell::Float(4_915_112_345_678.0));
        out.cell(&mut row, 0, &Cell::Text("a"));
        out.cell(&mut row, 4, &Cell::Empty);
        out.cell(&mut row, 5, &Cell::Error("#N/A".into()));
        assert!(out.row_done(&mut row));
        // An empty row is not a row.
        assert!(out.row_done(&mut row));
        let mut big = SheetRow::default();
        out.cell(&mut big, 0, &Cell::Text(&"x".repeat(40)));
        out.cell(&mut big, 1, &Cell::Text(&"y".repeat(40)));
        out.cell(&mut big, 2, &Cell::Text("z"));
        out.cell(&mut big, 9, &Cell::Text("z"));
        assert!(out.row_done(&mut big));
        out.flush();
        let Ok(Msg::Rows(rows)) = rx.try_recv() else {
            panic!("no rows")
        };
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[0].line, 3);
        assert_eq!(
            rows[0].record,
            Record::from(vec!["a", "b", "", "4915112345678", "", "#N/A"])
        );
        assert_eq!(
            rows[0].problem,
            Some(CellProblem::Error {
                column: 5,
                text: "#N/A".into()
            })
        );
        assert_eq!(rows[1].problem, Some(CellProblem::TooLarge { bytes: 64 }));
        assert_eq!(rows[1].record.len(), 1);
    }
}
