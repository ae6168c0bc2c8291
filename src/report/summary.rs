//! Counts and details per error class: what `summary.json`, the stderr table and the
//! workbook's summary sheet show (count, an example, the fix, the columns involved, the
//! rows' original line numbers), and which columns cause most problems.

use serde::Serialize;

use super::Cells;
use super::RejectedRow;
use crate::lead::ErrorClass;

/// Original line numbers kept per class for the summaries.
const LINES_KEPT: usize = 20;

const CLASSES: usize = ErrorClass::ALL.len();

/// The first row of a class, as an example.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Example {
    /// Data row number in the original file.
    pub row: u64,
    /// Line number in the original file, when known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub line: Option<u64>,
    /// The problem's message.
    pub message: String,
}

/// Counts per error class: rows (by the class each row is filed under, adding up to the rows
/// rejected) and problems (every problem found), with an example, line numbers and the
/// columns involved.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ClassCounts {
    rows: [u64; CLASSES],
    problems: [u64; CLASSES],
    examples: [Option<Example>; CLASSES],
    lines: [Vec<u64>; CLASSES],
    /// The data columns written, by position.
    names: Vec<String>,
    /// Per data column: problems per class pointing at it.
    by_column: Vec<[u64; CLASSES]>,
    /// Rows sent back unchanged from an earlier report and rejected again as they were.
    pub(super) unchanged: u64,
    /// What went into the workbook.
    pub(super) workbook: WorkbookExtent,
}

/// How much of the report the workbook holds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct WorkbookExtent {
    /// Rejected rows on the workbook's `Rejected rows` sheet.
    pub rows: u64,
    /// Rows left out (they are all in `rejected.csv`).
    pub rows_left_out: u64,
    /// Cells with a note.
    pub notes: u64,
    /// The most rows the workbook holds.
    pub limit: u64,
    /// Columns of the input past the most a worksheet can hold, left out.
    pub columns_left_out: u64,
}

impl ClassCounts {
    /// Counts for a report whose data columns are `names`.
    pub(super) fn with_columns(names: Vec<String>) -> ClassCounts {
        ClassCounts {
            by_column: vec![[0; CLASSES]; names.len()],
            names,
            ..ClassCounts::default()
        }
    }

    /// Counts one rejected row whose report cells are `cells` and whose offending cells are
    /// the data `columns`.
    pub(super) fn add_cells(&mut self, row: &RejectedRow, cells: &Cells, columns: &[usize]) {
        let class = cells.class;
        self.rows[class.index()] += 1;
        let lines = &mut self.lines[class.index()];
        if lines.len() < LINES_KEPT && cells.line > 0 {
            lines.push(cells.line);
        }
        for p in &row.problems {
            self.problems[p.class.index()] += 1;
            let example = &mut self.examples[p.class.index()];
            if example.is_none() {
                *example = Some(Example {
                    row: cells.row,
                    line: (cells.line > 0).then_some(cells.line),
                    message: p.message.clone(),
                });
            }
        }
        for &c in columns {
            if let Some(counts) = self.by_column.get_mut(c) {
                counts[class.index()] += 1;
            }
        }
    }

    /// Rows filed under `class`.
    pub fn rows(&self, class: ErrorClass) -> u64 {
        self.rows[class.index()]
    }

    /// Rows rejected in all.
    pub fn total_rows(&self) -> u64 {
        self.rows.iter().sum()
    }

    /// Rows sent back unchanged from an earlier report and rejected again as they were.
    pub fn unchanged_rows(&self) -> u64 {
        self.unchanged
    }

    /// `{class: rows}` for every class, in report order.
    pub fn rows_by_class(&self) -> serde_json::Map<String, serde_json::Value> {
        Self::by_class(&self.rows)
    }

    /// `{class: problems}` for every class, in report order.
    pub fn problems_by_class(&self) -> serde_json::Map<String, serde_json::Value> {
        Self::by_class(&self.problems)
    }

    fn by_class(counts: &[u64]) -> serde_json::Map<String, serde_json::Value> {
        ErrorClass::ALL
            .iter()
            .map(|c| (c.as_str().to_owned(), counts[c.index()].into()))
            .collect()
    }

    /// The columns pointed at by problems of `class` (all classes when `None`), most
    /// problems first.
    pub fn columns(&self, class: Option<ErrorClass>) -> Vec<ColumnCount> {
        let mut out: Vec<ColumnCount> = self
            .names
            .iter()
            .zip(&self.by_column)
            .map(|(name, counts)| ColumnCount {
                column: name.clone(),
                problems: match class {
                    Some(c) => counts[c.index()],
                    None => counts.iter().sum(),
                },
            })
            .filter(|c| c.problems > 0)
            .collect();
        out.sort_by_key(|c| std::cmp::Reverse(c.problems));
        out
    }

    /// The details `summary.json` carries.
    pub fn summary(&self) -> RejectionSummary {
        RejectionSummary {
            classes: ErrorClass::ALL
                .iter()
                .filter(|c| self.problems[c.index()] > 0 || self.rows[c.index()] > 0)
                .map(|&class| ClassSummary {
                    class,
                    rows: self.rows[class.index()],
                    problems: self.problems[class.index()],
                    example: self.examples[class.index()].clone(),
                    fix: class.hint(),
                    columns: self.columns(Some(class)),
                    lines: self.lines[class.index()].clone(),
                })
                .collect(),
            columns: self.columns(None),
            unchanged_rows: self.unchanged,
            workbook: self.workbook,
        }
    }

    /// The table printed on stderr: each class with problems, its count, one example and a
    /// hint. Empty when nothing was rejected.
    pub fn table(&self) -> String {
        let mut out = String::new();
        if self.problems.iter().all(|&n| n == 0) {
            return out;
        }
        out.push_str(&format!(
            "{:<22} {:>9}  {}\n",
            "error class", "problems", "example / fix"
        ));
        for class in ErrorClass::ALL {
            let n = self.problems[class.index()];
            if n == 0 {
                continue;
            }
            out.push_str(&format!("{:<22} {:>9}  ", class.as_str(), n));
            if let Some(example) = &self.examples[class.index()] {
                out.push_str(&format!(
                    "row {}: {}\n",
                    example.row,
                    truncate(&example.message, 100)
                ));
                out.push_str(&format!("{:<33}  fix: {}\n", "", class.hint()));
            }
        }
        if self.unchanged > 0 {
            out.push_str(&format!(
                "{} rows came back unchanged from an earlier report and were rejected again as they were: edit them, or empty their _error_class cell, to have them checked again\n",
                self.unchanged
            ));
        }
        if self.workbook.rows_left_out > 0 {
            out.push_str(&format!(
                "rejected.xlsx holds {} of the {} rejected rows (the first of each class); rejected.csv holds them all\n",
                self.workbook.rows,
                self.total_rows()
            ));
        }
        out
    }

    /// The lines kept for `class`.
    pub(super) fn lines(&self, class: ErrorClass) -> &[u64] {
        &self.lines[class.index()]
    }

    /// The example of `class`.
    pub(super) fn example(&self, class: ErrorClass) -> Option<&Example> {
        self.examples[class.index()].as_ref()
    }

    /// Problems of `class`.
    pub(super) fn problems(&self, class: ErrorClass) -> u64 {
        self.problems[class.index()]
    }
}

/// Per-class details of the rejected rows, for `summary.json` (a dashboard can show them).
#[derive(Debug, Clone, Serialize)]
pub struct RejectionSummary {
    /// Each class with rows or problems, in report order.
    pub classes: Vec<ClassSummary>,
    /// The columns pointed at by problems, most problems first.
    pub columns: Vec<ColumnCount>,
    /// Rows sent back unchanged from an earlier report and rejected again as they were.
    pub unchanged_rows: u64,
    /// What `rejected.xlsx` holds.
    pub workbook: WorkbookExtent,
}

/// One class in [`RejectionSummary`].
#[derive(Debug, Clone, Serialize)]
pub struct ClassSummary {
    /// The class.
    pub class: ErrorClass,
    /// Rows filed under it.
    pub rows: u64,
    /// Problems of this class (a row may have several, of several classes).
    pub problems: u64,
    /// The first row with such a problem.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub example: Option<Example>,
    /// What to do about it.
    pub fix: &'static str,
    /// The columns involved, most problems first.
    pub columns: Vec<ColumnCount>,
    /// The original line numbers of its first rows (up to 20).
    pub lines: Vec<u64>,
}

/// Problems pointing at one column.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ColumnCount {
    /// The column's header.
    pub column: String,
    /// Problems pointing at it.
    pub problems: u64,
}

pub(super) fn truncate(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        s.to_owned()
    } else {
        let mut cut: String = s.chars().take(max - 1).collect();
        cut.push('…');
        cut
    }
}
