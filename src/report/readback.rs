//! Reading a report back: recognising an input that is a report of an earlier run, taking
//! the formula guard off its cells, the row and line numbers of the original file, the
//! fingerprint of a row's original cells, and the verdict that still stands for a row sent
//! back unchanged.
//!
//! A report is recognised by its header: it has the `_row` and `_error_class` columns.
//! Reports written since the guard exists also have `_fix`, `_line` and `_fingerprint`;
//! only those are unguarded (older reports were written verbatim).
//!
//! The round-trip rule: a row whose `_error_class` names a class and whose original cells
//! still have the fingerprint written beside them is rejected again with the class, field
//! and message it had, without being validated: a duplicate of a row that is not in the
//! report, or a lead the API refused, must not be sent because the report no longer shows
//! the reason. An edited row (or one whose `_error_class` cell was emptied) is validated
//! afresh. In a report without fingerprints, a row cannot be known unchanged: the classes
//! that depend on more than the row itself (a malformed record, a duplicate, the API's
//! answers) are kept, the others validated afresh.

use std::borrow::Cow;

use std::cell::RefCell;

use xxhash_rust::xxh3::xxh3_64;

use super::guard::{unguard, unguard_str};
use crate::lead::{ErrorClass, Problem};
use crate::mapping::REPORT_COLUMNS;
use crate::source::{FieldDecoder, Record};

/// The columns a report of this version writes before the original ones, in order (what
/// the mapping skips when a report is read back).
pub const COLUMNS: [&str; 7] = REPORT_COLUMNS;

/// Columns that only reports written with the formula guard have.
const GUARDED_MARKERS: [&str; 3] = ["_fix", "_line", "_fingerprint"];

/// Whether a header names a report column (of any version), so it is not data.
pub fn is_report_column(header: &str) -> bool {
    REPORT_COLUMNS.contains(&header.trim())
}

/// The fingerprint of a row's original cells: the data columns in the order of their
/// names, empty cells left out (so adding an empty column, or moving columns around in a
/// spreadsheet, is not a change), extra cells of a malformed record after them by position.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fingerprint {
    /// (column index, trimmed name), sorted by name.
    order: Vec<(usize, String)>,
    /// The header's width: cells past it are extras.
    width: usize,
}

impl Fingerprint {
    /// For an input with `headers`; report columns are not data.
    pub fn new(headers: &[String]) -> Fingerprint {
        let mut order: Vec<(usize, String)> = headers
            .iter()
            .enumerate()
            .filter(|(_, h)| !is_report_column(h))
            .map(|(i, h)| (i, h.trim().to_owned()))
            .collect();
        order.sort_by(|a, b| a.1.cmp(&b.1));
        Fingerprint {
            order,
            width: headers.len(),
        }
    }

    /// The fingerprint of a row's `cells` (as read, guard taken off), as written in the
    /// `_fingerprint` column: `v1:` and 16 hex digits, which no spreadsheet reads as a
    /// number.
    pub fn of<S: AsRef<str>>(&self, cells: &[S]) -> String {
        thread_local! {
            // The bytes hashed, gathered first: one pass of the hash over them is several
            // times faster than feeding it cell by cell.
            static BYTES: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
        }
        BYTES.with_borrow_mut(|bytes| {
            bytes.clear();
            let mut push = |name: &[u8], cell: &str| {
                bytes.extend_from_slice(name);
                bytes.push(0x1f);
                bytes.extend_from_slice(cell.as_bytes());
                bytes.push(0x1e);
            };
            for (i, name) in &self.order {
                if let Some(cell) = cells.get(*i).map(AsRef::as_ref).filter(|c| !c.is_empty()) {
                    push(name.as_bytes(), cell);
                }
            }
            for (k, cell) in cells.iter().skip(self.width).enumerate() {
                push(format!("\0extra{k}").as_bytes(), cell.as_ref());
            }
            // Hex by hand: `format!` costs more than the hash for a short row.
            const HEX: &[u8; 16] = b"0123456789abcdef";
            let hash = xxh3_64(bytes);
            let mut out = String::with_capacity(19);
            out.push_str("v1:");
            for shift in (0..16).rev() {
                out.push(char::from(HEX[((hash >> (shift * 4)) & 0xf) as usize]));
            }
            out
        })
    }
}

/// An input recognised as a report of an earlier run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReportLayout {
    row: Option<usize>,
    line: Option<usize>,
    class: usize,
    field: Option<usize>,
    message: Option<usize>,
    fingerprint_column: Option<usize>,
    guarded: bool,
    fingerprint: Fingerprint,
}

/// What an earlier report says about a row read back from it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Recorded {
    /// Nothing stands: the row is validated afresh.
    Fresh,
    /// The row is unchanged since the report: its verdict stands.
    Unchanged(Problem),
    /// The report has no fingerprint, and the row's class depends on more than the row:
    /// its verdict stands.
    Unknown(Problem),
}

impl Recorded {
    /// The problem that stands, if any.
    pub fn problem(self) -> Option<Problem> {
        match self {
            Recorded::Fresh => None,
            Recorded::Unchanged(p) | Recorded::Unknown(p) => Some(p),
        }
    }
}

impl ReportLayout {
    /// Recognises a report by its (already unguarded) header.
    pub fn detect(headers: &[String]) -> Option<ReportLayout> {
        let find = |name: &str| headers.iter().position(|h| h.trim() == name);
        let class = find("_error_class")?;
        let row = find("_row")?;
        Some(ReportLayout {
            row: Some(row),
            line: find("_line"),
            class,
            field: find("_error_field"),
            message: find("_error_message"),
            fingerprint_column: find("_fingerprint"),
            guarded: GUARDED_MARKERS.iter().any(|m| find(m).is_some()),
            fingerprint: Fingerprint::new(headers),
        })
    }

    /// Whether the report's cells carry the formula guard.
    pub fn guarded(&self) -> bool {
        self.guarded
    }

    /// Takes the guard off every field of a record of a guarded report (and leaves the
    /// record alone otherwise).
    pub fn restore(&self, record: &mut Record) {
        if !self.guarded || !record.iter().any(|f| f.first() == Some(&b'\'')) {
            return;
        }
        let mut restored = Record::new();
        for field in record.iter() {
            restored.push_field(unguard(field));
        }
        *record = restored;
    }

    /// The data row number in the original file, from `_row`.
    pub fn original_row<S: AsRef<str>>(&self, cells: &[S]) -> Option<u64> {
        number(cells, self.row)
    }

    /// The line number in the original file, from `_line`.
    pub fn original_line<S: AsRef<str>>(&self, cells: &[S]) -> Option<u64> {
        number(cells, self.line)
    }

    /// The fingerprint of `cells`' data columns, as [`Fingerprint::of`].
    pub fn fingerprint_of<S: AsRef<str>>(&self, cells: &[S]) -> String {
        self.fingerprint.of(cells)
    }

    /// What the report says about a row with `cells` (see the module's round-trip rule).
    pub fn recorded<S: AsRef<str>>(&self, cells: &[S]) -> Recorded {
        let cell = |i: Option<usize>| i.and_then(|i| cells.get(i)).map_or("", AsRef::as_ref);
        let name = cell(Some(self.class)).trim();
        let Some(class) = ErrorClass::ALL.into_iter().find(|c| c.as_str() == name) else {
            return Recorded::Fresh;
        };
        let problem = || Problem::new(class, cell(self.field), cell(self.message));
        match cell(self.fingerprint_column).trim() {
            "" if depends_on_more_than_the_row(class) => Recorded::Unknown(problem()),
            "" => Recorded::Fresh,
            written if written == self.fingerprint.of(cells) => Recorded::Unchanged(problem()),
            _ => Recorded::Fresh,
        }
    }

    /// For a record of the report as read (guard already off): the problems and fields of
    /// a row whose verdict stands, which the pipeline then rejects without validating it.
    pub fn standing(
        &self,
        record: &Record,
        decoder: FieldDecoder,
    ) -> Option<(Vec<Problem>, Vec<String>)> {
        let cells: Vec<Cow<'_, str>> = record
            .iter()
            .map(|f| match decoder.decode(f) {
                Ok(text) => text,
                Err(lossy) => Cow::Owned(lossy),
            })
            .collect();
        let problem = self.recorded(&cells).problem()?;
        Some((
            vec![problem],
            cells.into_iter().map(Cow::into_owned).collect(),
        ))
    }
}

/// Classes whose verdict depends on more than the row's own cells: the bytes of the file
/// (shown escaped in the report), other rows, or the API.
fn depends_on_more_than_the_row(class: ErrorClass) -> bool {
    matches!(
        class,
        ErrorClass::MalformedRow
            | ErrorClass::DuplicateInFile
            | ErrorClass::RejectedByApi
            | ErrorClass::DuplicateInAccount
            | ErrorClass::GaveUp
    )
}

fn number<S: AsRef<str>>(cells: &[S], at: Option<usize>) -> Option<u64> {
    let cell = cells.get(at?)?.as_ref().trim();
    // A spreadsheet may have written the number as `57.0`.
    let cell = cell.strip_suffix(".0").unwrap_or(cell);
    cell.parse().ok().filter(|&n| n > 0)
}

/// For a workbook input (`rejected.xlsx` sent back): recognises a report by its header.
/// Workbook cells are text as they were, never guarded, so nothing is taken off them.
pub fn for_workbook(headers: &[String]) -> Option<ReportLayout> {
    let mut layout = ReportLayout::detect(headers)?;
    layout.guarded = false;
    Some(layout)
}

/// The sheet to read by default in a workbook with sheets `names`: our own `rejected.xlsx`
/// opens on its summary, and its rows are on the sheet after it; `None` for any other
/// workbook (read its first sheet).
pub fn default_sheet<S: AsRef<str>>(names: &[S]) -> Option<usize> {
    let names: Vec<&str> = names.iter().map(AsRef::as_ref).collect();
    match names.as_slice() {
        [super::SUMMARY_SHEET, super::ROWS_SHEET, ..] => Some(1),
        _ => None,
    }
}

/// Called by the source with the header it read: recognises a report, and takes the guard
/// off the header names of a guarded one.
pub fn read_header(headers: &mut [String]) -> Option<ReportLayout> {
    let layout = ReportLayout::detect(headers)?;
    if layout.guarded {
        for h in headers.iter_mut() {
            if h.starts_with('\'') {
                *h = unguard_str(h).to_owned();
            }
        }
        return ReportLayout::detect(headers);
    }
    Some(layout)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(cells: Vec<&str>) -> Record {
        let mut record = Record::new();
        for cell in cells {
            record.push_field(cell.as_bytes());
        }
        record
    }

    fn strings(cells: &[&str]) -> Vec<String> {
        cells.iter().map(|s| (*s).to_owned()).collect()
    }

    fn layout() -> ReportLayout {
        let mut headers = COLUMNS.to_vec();
        headers.extend(["name", "phone"]);
        ReportLayout::detect(&strings(&headers)).unwrap()
    }

    #[test]
    fn a_report_is_recognised_by_its_header() {
        assert!(ReportLayout::detect(&strings(&["name", "phone"])).is_none());
        let old = ReportLayout::detect(&strings(&[
            "_row",
            "_error_class",
            "_error_field",
            "_error_message",
            "name",
        ]))
        .unwrap();
        assert!(!old.guarded());
        assert!(layout().guarded());
    }

    #[test]
    fn the_fingerprint_ignores_column_order_and_empty_columns() {
        let a = Fingerprint::new(&strings(&["name", "phone"]));
        let b = Fingerprint::new(&strings(&["_row", "phone", "notes", "name"]));
        assert_eq!(
            a.of(&["Ada", "+1"]),
            b.of(&["7", "+1", "", "Ada"]),
            "same cells, columns moved, an empty one added"
        );
        assert_ne!(a.of(&["Ada", "+1"]), a.of(&["Ada", "+2"]));
        assert_ne!(a.of(&["Ada", "+1"]), a.of(&["Ada", "+1", "extra"]));
        assert_ne!(a.of(&["", "Ada"]), a.of(&["Ada", ""]));
        assert!(a.of(&["x", "y"]).starts_with("v1:"));
    }

    #[test]
    fn an_unchanged_row_keeps_its_verdict_an_edited_one_is_fresh() {
        let layout = layout();
        let fp = Fingerprint::new(&strings(&["name", "phone"])).of(&["Bo", "+1 212 200 0001"]);
        let row = |class: &str, fp: &str, phone: &str| {
            strings(&[
                "7",
                class,
                "phone",
                "phone +12122000001 already appears in row 3",
                "fix",
                "8",
                fp,
                "Bo",
                phone,
            ])
        };
        let unchanged = row("duplicate_in_file", &fp, "+1 212 200 0001");
        assert_eq!(layout.original_row(&unchanged), Some(7));
        assert_eq!(layout.original_line(&unchanged), Some(8));
        match layout.recorded(&unchanged) {
            Recorded::Unchanged(p) => {
                assert_eq!(p.class, ErrorClass::DuplicateInFile);
                assert_eq!(p.field, "phone");
                assert!(p.message.contains("row 3"));
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(
            layout.recorded(&row("duplicate_in_file", &fp, "+1 212 200 0002")),
            Recorded::Fresh
        );
        assert_eq!(
            layout.recorded(&row("", &fp, "+1 212 200 0001")),
            Recorded::Fresh
        );
        assert_eq!(
            layout.recorded(&row("no_such_class", &fp, "+1 212 200 0001")),
            Recorded::Fresh
        );
        // Without a fingerprint, only classes that depend on more than the row stand.
        assert!(matches!(
            layout.recorded(&row("duplicate_in_file", "", "+1")),
            Recorded::Unknown(_)
        ));
        assert_eq!(
            layout.recorded(&row("invalid_phone", "", "+1")),
            Recorded::Fresh
        );
    }

    #[test]
    fn a_workbook_sent_back_is_read_from_its_rows_sheet_and_not_unguarded() {
        assert_eq!(default_sheet(&["Summary", "Rejected rows"]), Some(1));
        assert_eq!(default_sheet(&["Sheet1", "Summary"]), None);
        assert_eq!(default_sheet::<&str>(&[]), None);
        let mut headers = COLUMNS.to_vec();
        headers.push("name");
        let layout = for_workbook(&strings(&headers)).unwrap();
        assert!(!layout.guarded());
        let mut record = rec(vec!["1", "", "", "", "", "", "", "'kept"]);
        layout.restore(&mut record);
        assert_eq!(record.get(7), Some(b"'kept".as_slice()));
    }

    #[test]
    fn guarded_records_and_headers_are_restored() {
        let mut headers = strings(&["_row", "_error_class", "_fingerprint", "'=odd", "phone"]);
        let layout = read_header(&mut headers).unwrap();
        assert_eq!(headers[3], "=odd");
        let mut record = rec(vec!["3", "x", "", "'''a", "'+14155552671"]);
        layout.restore(&mut record);
        assert_eq!(record, rec(vec!["3", "x", "", "''a", "+14155552671"]));
        // An old report (no guard) is read as it is.
        let mut old = strings(&["_row", "_error_class", "'x"]);
        let layout = read_header(&mut old).unwrap();
        assert_eq!(old[2], "'x");
        let mut record = rec(vec!["1", "", "'a"]);
        layout.restore(&mut record);
        assert_eq!(record.get(2), Some(b"'a".as_slice()));
    }
}
