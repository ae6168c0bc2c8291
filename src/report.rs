//! Reports: `rejected.csv` (one line per rejected row, sorted by error class then row, with
//! the original columns as read), the counts per class, and the table printed on stderr.
//!
//! A row with several problems appears once, under its first class in report order, with
//! every field and message it has: so a fixed `rejected.csv` can be imported again as it is,
//! without a row appearing twice.

use std::fs::File;
use std::io::{self, BufReader, BufWriter, Write};
use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::fsutil::{AtomicFile, create_private_file};
use crate::lead::{ErrorClass, Problem};
use crate::mapping::REPORT_COLUMNS;

/// A rejected row as it goes into the report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RejectedRow {
    /// 1-based data row number in the input.
    pub row: u64,
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
            if !p.field.is_empty() && !fields.contains(&p.field.as_str()) {
                fields.push(&p.field);
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

/// Counts per error class: rows (by the class each row is filed under, adding up to the rows
/// rejected) and problems (every problem found).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ClassCounts {
    rows: [u64; ErrorClass::ALL.len()],
    problems: [u64; ErrorClass::ALL.len()],
    examples: [Option<(u64, String)>; ErrorClass::ALL.len()],
}

impl ClassCounts {
    /// Counts one rejected row.
    pub fn add(&mut self, row: &RejectedRow) {
        let class = row.class();
        self.rows[class.index()] += 1;
        for p in &row.problems {
            self.problems[p.class.index()] += 1;
            let example = &mut self.examples[p.class.index()];
            if example.is_none() {
                *example = Some((row.row, p.message.clone()));
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

    /// The table as data (`--log-format json` writes it as one event): each class with
    /// problems, in report order, with its rows, problems, first example and fix.
    pub fn table_data(&self) -> Vec<serde_json::Value> {
        ErrorClass::ALL
            .iter()
            .filter(|c| self.problems[c.index()] > 0)
            .map(|&class| {
                let example = self.examples[class.index()]
                    .as_ref()
                    .map(|(row, message)| serde_json::json!({"row": row, "message": message}));
                serde_json::json!({
                    "class": class.as_str(),
                    "rows": self.rows[class.index()],
                    "problems": self.problems[class.index()],
                    "example": example,
                    "fix": class.hint(),
                })
            })
            .collect()
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
            if let Some((row, message)) = &self.examples[class.index()] {
                out.push_str(&format!("row {row}: {}\n", truncate(message, 100)));
                out.push_str(&format!("{:<33}  fix: {}\n", "", class.hint()));
            }
        }
        out
    }
}

fn truncate(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        s.to_owned()
    } else {
        let mut cut: String = s.chars().take(max - 1).collect();
        cut.push('…');
        cut
    }
}

/// Writes `rejected.csv` from rows that arrive in row order: each class is spilled to its
/// own temporary file as rows come (so memory stays flat), and the files are concatenated
/// in class order at the end.
#[derive(Debug)]
pub struct ReportWriter {
    dir: PathBuf,
    header: Vec<String>,
    /// Per input column: whether it is a report column of an earlier run, left out.
    drop: Vec<bool>,
    spills: Vec<Option<csv::Writer<BufWriter<File>>>>,
    counts: ClassCounts,
}

impl ReportWriter {
    /// Starts a report in `dir` for an input with `headers`.
    pub fn create(dir: &Path, headers: &[String]) -> io::Result<ReportWriter> {
        let drop: Vec<bool> = headers
            .iter()
            .map(|h| REPORT_COLUMNS.contains(&h.trim()))
            .collect();
        let mut header: Vec<String> = REPORT_COLUMNS.iter().map(|s| (*s).to_owned()).collect();
        header.extend(
            headers
                .iter()
                .zip(&drop)
                .filter(|(_, dropped)| !**dropped)
                .map(|(h, _)| h.clone()),
        );
        Ok(ReportWriter {
            dir: dir.to_owned(),
            header,
            drop,
            spills: (0..ErrorClass::ALL.len()).map(|_| None).collect(),
            counts: ClassCounts::default(),
        })
    }

    fn spill_path(&self, class: ErrorClass) -> PathBuf {
        self.dir.join(format!(".rejected.{}.part", class.as_str()))
    }

    /// Adds a rejected row; rows of one class must arrive in row order.
    pub fn add(&mut self, row: &RejectedRow) -> io::Result<()> {
        self.counts.add(row);
        let class = row.class();
        if self.spills[class.index()].is_none() {
            let file = create_private_file(&self.spill_path(class))?;
            let writer = csv::WriterBuilder::new()
                .flexible(true)
                .from_writer(BufWriter::with_capacity(1 << 16, file));
            self.spills[class.index()] = Some(writer);
        }
        let writer = self.spills[class.index()].as_mut().expect("just created");
        write_row(writer, &self.drop, row).map_err(csv_to_io)
    }

    /// The counts so far.
    pub fn counts(&self) -> &ClassCounts {
        &self.counts
    }

    /// Writes `rejected.csv` and removes the spill files; returns its path and the counts.
    pub fn finish(mut self) -> io::Result<(PathBuf, ClassCounts)> {
        let target = self.dir.join("rejected.csv");
        let mut out = AtomicFile::create(&target)?;
        {
            let mut header = csv::Writer::from_writer(&mut out);
            header.write_record(&self.header).map_err(csv_to_io)?;
            header.flush()?;
        }
        for class in ErrorClass::ALL {
            let Some(writer) = self.spills[class.index()].take() else {
                continue;
            };
            writer
                .into_inner()
                .map_err(|e| io::Error::other(e.to_string()))?
                .flush()?;
            let path = self.spill_path(class);
            io::copy(&mut BufReader::new(File::open(&path)?), &mut out)?;
            std::fs::remove_file(&path)?;
        }
        let path = out.commit()?;
        Ok((path, std::mem::take(&mut self.counts)))
    }
}

impl Drop for ReportWriter {
    fn drop(&mut self) {
        for class in ErrorClass::ALL {
            if self.spills[class.index()].take().is_some() {
                let _ = std::fs::remove_file(self.spill_path(class));
            }
        }
    }
}

fn write_row<W: Write>(
    writer: &mut csv::Writer<W>,
    drop: &[bool],
    row: &RejectedRow,
) -> csv::Result<()> {
    let mut record: Vec<String> = vec![
        row.row.to_string(),
        row.class().as_str().to_owned(),
        row.field_cell(),
        row.message_cell(),
    ];
    // Drop the report columns of an earlier run; a malformed row may be wider than the
    // header, and its extra fields are kept as they are.
    for (i, field) in row.original.iter().enumerate() {
        if !drop.get(i).copied().unwrap_or(false) {
            record.push(field.clone());
        }
    }
    writer.write_record(&record)
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
    /// `summary.json`.
    pub summary_json: PathBuf,
    /// The `--emit-valid` file, if asked for.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub valid_jsonl: Option<PathBuf>,
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
mod tests {
    use super::*;

    fn rejected(row: u64, problems: &[(ErrorClass, &str, &str)], original: &[&str]) -> RejectedRow {
        RejectedRow {
            row,
            problems: problems
                .iter()
                .map(|(c, f, m)| Problem::new(*c, *f, *m))
                .collect(),
            original: original.iter().map(|s| (*s).to_owned()).collect(),
        }
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
        let headers: Vec<String> = [
            "_row",
            "_error_class",
            "_error_field",
            "_error_message",
            "name",
            "phone",
        ]
        .iter()
        .map(|s| (*s).to_owned())
        .collect();
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
                &[old[0], old[1], old[2], old[3], "B", ""],
            ))
            .unwrap();
        writer
            .add(&rejected(
                5,
                &[(ErrorClass::InvalidEmail, "email", "e2")],
                &[old[0], old[1], old[2], old[3], "C", "2"],
            ))
            .unwrap();
        let (path, counts) = writer.finish().unwrap();
        assert_eq!(counts.total_rows(), 3);
        assert_eq!(counts.rows(ErrorClass::InvalidEmail), 2);
        let text = std::fs::read_to_string(path).unwrap();
        assert_eq!(
            text,
            "_row,_error_class,_error_field,_error_message,name,phone\n\
             3,missing_phone,phone,m,B,\n\
             2,invalid_email,email,e,A,1\n\
             5,invalid_email,email,e2,C,2\n"
        );
        let leftovers: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
        assert_eq!(leftovers.len(), 1, "spill files are removed");
    }
}
