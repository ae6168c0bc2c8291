//! What the source decided about the input, for a person to check: the format, the sheet,
//! the encoding and why, where the header is, the columns ignored and every line skipped
//! (titles above the header, a report footer). It is the `reading` object of
//! `summary.json`, and the notices on stderr.

use std::sync::{Arc, Mutex};

use serde::Serialize;

/// How the input was read (`reading` in `summary.json`).
#[derive(Debug, Clone, Default, Serialize, PartialEq, Eq)]
pub struct SourceReport {
    /// `csv`, `xlsx`, `xlsm`, `xlsb`, `xls` or `ods`.
    pub format: &'static str,
    /// `gzip` or `zstd` when the file was compressed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub compression: Option<&'static str>,
    /// The sheet read, for a workbook.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sheet: Option<String>,
    /// Every sheet of a workbook, in order.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub sheets: Vec<String>,
    /// The encoding the fields were decoded with (`utf-8` for a workbook).
    pub encoding: &'static str,
    /// Whether the encoding was detected from the file's content rather than given by
    /// `--encoding` or a byte-order mark.
    pub encoding_detected: bool,
    /// Why that encoding: the byte-order mark, `--encoding`, or what the detection found.
    pub encoding_reason: String,
    /// Whether the detection found something a person should see (Windows-1252, or
    /// neither UTF-8 nor Windows-1252): a notice on stderr.
    #[serde(skip)]
    pub notice_encoding: bool,
    /// The delimiter, for CSV.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub delimiter: Option<String>,
    /// Flags that do not apply to this kind of file, ignored (`--sheet` for CSV,
    /// `--encoding` and `--delimiter` for a workbook), each with why.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub ignored_flags: Vec<String>,
    /// The line (for a workbook, the sheet's row) of the header.
    pub header_line: u64,
    /// Unnamed empty columns before the first named one, ignored.
    pub unnamed_columns_before: usize,
    /// Unnamed empty columns after the last named one, ignored.
    pub unnamed_columns_after: usize,
    /// Every line skipped: titles and blank lines above the header, the report footer.
    /// None of them is a data row; data rows are numbered without them.
    pub skipped_lines: Vec<SkippedLine>,
}

/// Lines skipped, not counted as rows.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct SkippedLine {
    /// The first line.
    pub line: u64,
    /// The last line (the same for one line).
    pub last_line: u64,
    /// Why.
    pub kind: SkipKind,
    /// What the line holds (its non-empty cells), cut to 200 characters.
    pub text: String,
}

/// Why lines were skipped.
#[derive(Debug, Clone, Copy, Serialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum SkipKind {
    /// Above the header: a title, a date line, a filter description.
    Title,
    /// Empty, above the header or in the footer.
    Blank,
    /// The report footer at the end of the file.
    Footer,
    /// The title of a group of rows, just above the header repeated (monday.com boards).
    GroupTitle,
    /// The header row repeated inside the data (a board export repeats it per group).
    RepeatedHeader,
}

impl SkipKind {
    fn word(self) -> &'static str {
        match self {
            SkipKind::Title => "title",
            SkipKind::Blank => "blank",
            SkipKind::Footer => "footer",
            SkipKind::GroupTitle => "group title",
            SkipKind::RepeatedHeader => "header repeated",
        }
    }
}

impl SourceReport {
    /// Notices known once the file is open: a detected encoding, a sheet, titles above the
    /// header, ignored columns. Each is one line for stderr.
    pub fn opening_notices(&self, file: &str) -> Vec<String> {
        let mut out: Vec<String> = self
            .ignored_flags
            .iter()
            .map(|f| format!("nl-import: `{file}`: {f}"))
            .collect();
        if let Some(sheet) = &self.sheet {
            out.push(format!(
                "nl-import: reading sheet `{sheet}` of `{file}` ({}: {}); pass --sheet NAME for another",
                if self.sheets.len() == 1 { "its only sheet" } else { "sheets" },
                self.sheets.join(", ")
            ));
        }
        if self.notice_encoding {
            out.push(format!(
                "nl-import: `{file}` read as {}: {}; pass --encoding to choose another",
                self.encoding, self.encoding_reason
            ));
        }
        let titles: Vec<&SkippedLine> = self
            .skipped_lines
            .iter()
            .filter(|s| s.line < self.header_line)
            .collect();
        if !titles.is_empty() {
            out.push(format!(
                "nl-import: the header of `{file}` is on line {}; skipped above it: {}",
                self.header_line,
                describe(&titles)
            ));
        }
        let (before, after) = (self.unnamed_columns_before, self.unnamed_columns_after);
        if before + after > 0 {
            out.push(format!(
                "nl-import: ignoring {} unnamed column{} {} the named ones in `{file}` (their cells must be empty; a row with a value there is rejected as malformed_row)",
                before + after,
                if before + after == 1 { "" } else { "s" },
                match (before, after) {
                    (0, _) => "after",
                    (_, 0) => "before",
                    _ => "around",
                }
            ));
        }
        out
    }

    /// Notices known at the end of the file: lines skipped inside the table (group titles,
    /// the header repeated, with their blank lines) and a report footer.
    pub fn closing_notices(&self, file: &str) -> Vec<String> {
        let mut after: Vec<&SkippedLine> = self
            .skipped_lines
            .iter()
            .filter(|s| s.line > self.header_line)
            .collect();
        after.sort_by_key(|s| s.line);
        // A blank line belongs with the next line skipped: a group's, or the footer's.
        let (mut inside, mut footer, mut blanks) = (Vec::new(), Vec::new(), Vec::new());
        for line in after {
            match line.kind {
                SkipKind::Blank => blanks.push(line),
                SkipKind::GroupTitle | SkipKind::RepeatedHeader => {
                    inside.append(&mut blanks);
                    inside.push(line);
                }
                SkipKind::Footer | SkipKind::Title => {
                    footer.append(&mut blanks);
                    footer.push(line);
                }
            }
        }
        footer.append(&mut blanks);
        let mut out = Vec::new();
        if !inside.is_empty() {
            out.push(format!(
                "nl-import: skipped inside the table of `{file}` (not data rows): {}",
                describe(&inside)
            ));
        }
        if !footer.is_empty() {
            out.push(format!(
                "nl-import: skipped the report footer at the end of `{file}`: {}",
                describe(&footer)
            ));
        }
        out
    }
}

/// `line 1 title "Leads", lines 2-3 blank, …`
fn describe(lines: &[&SkippedLine]) -> String {
    lines
        .iter()
        .map(|s| {
            let lines = if s.last_line > s.line {
                format!("lines {}-{}", s.line, s.last_line)
            } else {
                format!("line {}", s.line)
            };
            if s.text.is_empty() {
                format!("{lines} {}", s.kind.word())
            } else {
                format!("{lines} {} \"{}\"", s.kind.word(), s.text)
            }
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// A [`SourceReport`] shared between the source, which completes it at the end of the
/// file (the footer), and whoever writes the summary. Cheap to clone.
#[derive(Debug, Clone, Default)]
pub struct ReportHandle(Arc<Mutex<SourceReport>>);

impl ReportHandle {
    pub(super) fn new(report: SourceReport) -> ReportHandle {
        ReportHandle(Arc::new(Mutex::new(report)))
    }

    /// The report as it stands (complete once the source has been read to its end).
    pub fn get(&self) -> SourceReport {
        self.0.lock().map(|r| r.clone()).unwrap_or_default()
    }

    pub(super) fn update(&self, f: impl FnOnce(&mut SourceReport)) {
        if let Ok(mut report) = self.0.lock() {
            f(&mut report);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn notices_name_every_skipped_line() {
        let report = SourceReport {
            encoding: "windows-1252",
            encoding_detected: true,
            notice_encoding: true,
            encoding_reason: "not UTF-8 (byte 0xE9 on line 3)".into(),
            header_line: 4,
            unnamed_columns_after: 2,
            skipped_lines: vec![
                SkippedLine {
                    line: 1,
                    last_line: 1,
                    kind: SkipKind::Title,
                    text: "Leads".into(),
                },
                SkippedLine {
                    line: 2,
                    last_line: 3,
                    kind: SkipKind::Blank,
                    text: String::new(),
                },
                SkippedLine {
                    line: 10,
                    last_line: 10,
                    kind: SkipKind::Blank,
                    text: String::new(),
                },
                SkippedLine {
                    line: 11,
                    last_line: 11,
                    kind: SkipKind::Footer,
                    text: "Copyright".into(),
                },
            ],
            ..SourceReport::default()
        };
        let opening = report.opening_notices("x.csv");
        assert_eq!(opening.len(), 3, "{opening:?}");
        assert!(opening[0].contains("read as windows-1252: not UTF-8 (byte 0xE9 on line 3)"));
        assert!(
            opening[1]
                .ends_with("line 4; skipped above it: line 1 title \"Leads\", lines 2-3 blank"),
            "{}",
            opening[1]
        );
        assert!(opening[2].contains("ignoring 2 unnamed columns after"));
        let closing = report.closing_notices("x.csv");
        assert_eq!(
            closing,
            [
                "nl-import: skipped the report footer at the end of `x.csv`: line 10 blank, line 11 footer \"Copyright\""
            ]
        );
    }

    #[test]
    fn lines_skipped_inside_the_table_are_named_apart_from_the_footer() {
        let line = |line, kind, text: &str| SkippedLine {
            line,
            last_line: line,
            kind,
            text: text.into(),
        };
        let report = SourceReport {
            header_line: 3,
            skipped_lines: vec![
                line(1, SkipKind::Title, "Sales Pipeline"),
                line(2, SkipKind::Title, "New leads"),
                line(22, SkipKind::Blank, ""),
                line(23, SkipKind::GroupTitle, "Contacted"),
                line(24, SkipKind::RepeatedHeader, "Name | Phone"),
                line(40, SkipKind::RepeatedHeader, "Name | Phone"),
                line(60, SkipKind::Blank, ""),
                line(61, SkipKind::Footer, "Generated By: Ada"),
            ],
            ..SourceReport::default()
        };
        assert_eq!(
            report.closing_notices("b.xlsx"),
            [
                "nl-import: skipped inside the table of `b.xlsx` (not data rows): line 22 blank, line 23 group title \"Contacted\", line 24 header repeated \"Name | Phone\", line 40 header repeated \"Name | Phone\"",
                "nl-import: skipped the report footer at the end of `b.xlsx`: line 60 blank, line 61 footer \"Generated By: Ada\"",
            ]
        );
    }
}
