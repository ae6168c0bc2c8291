//! Source: streams an input's records, each with its data row number and physical line,
//! whatever the file: CSV (UTF-8 with or without BOM, UTF-16 with BOM, a single-byte code
//! page such as Windows-1252 or Windows-1250 given or detected; delimiter `,` `;` tab `|` sniffed from the header line), gzip- or
//! zstd-compressed CSV, or a sheet of an XLSX, XLSM, XLSB, XLS or ODS workbook.
//!
//! It also finds the table in the file: title rows and blank lines above the header and a
//! report footer at the end are skipped and listed ([`SourceReport`]), unnamed empty
//! columns around the named ones are ignored, and a header or record over the size limits
//! ([`MAX_RECORD_BYTES`], [`MAX_FIELDS`]) is refused in constant memory.
//!
//! The source only splits the input into records; it does not decode CSV fields. Decoding
//! is done per field by [`FieldDecoder`], on the validation workers, so that both cores
//! share it and a field with undecodable bytes becomes a `malformed_row` rejection instead
//! of an error.

mod csv;
mod encoding;
mod framing;
mod open;
mod record;
mod report;
mod workbook;

use std::collections::VecDeque;
use std::fmt;
use std::io;
use std::path::{Path, PathBuf};

pub use encoding::{
    EncodingChoice, FieldDecoder, Fields, SAMPLE_BYTES, SINGLE_BYTE, Sniffed, single_byte_reason,
    sniff,
};
pub use open::{parse_delimiter, sniff_delimiter};
pub use record::Record;
pub use report::{ReportHandle, SkipKind, SkippedLine, SourceReport};

use framing::{Columns, FOOTER_BYTES, FOOTER_RECORDS};
use open::{Counters, Opened, Rows};

/// The largest header or record, in bytes of its fields (a record of this size holds far
/// more than a lead; a larger one is most often an unbalanced quote that joined the rest of
/// the file into one record).
pub const MAX_RECORD_BYTES: usize = 16 << 20;

/// The most fields in a header or record (spreadsheets have at most 16,384 columns).
pub const MAX_FIELDS: usize = 1 << 20;

/// Options for reading the input.
#[derive(Debug, Clone, Default)]
pub struct SourceOptions {
    /// The encoding, or detection (byte-order mark, then the content).
    pub encoding: EncodingChoice,
    /// The delimiter, or `None` to sniff it from the header line.
    pub delimiter: Option<u8>,
    /// The sheet of a workbook, or `None` for the first visible worksheet.
    pub sheet: Option<String>,
}

/// A fatal problem with the input as a whole (as opposed to a bad row, which is rejected).
#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    /// The file could not be opened or read.
    #[error("cannot read `{path}`")]
    Io {
        /// The input file.
        path: PathBuf,
        /// The underlying error.
        source: io::Error,
    },
    /// The file has no bytes, or only a BOM and blank lines.
    #[error(
        "`{path}` is empty: expected a header line naming the columns (e.g. `name,phone,email`) and then one lead per line"
    )]
    Empty {
        /// The input file.
        path: PathBuf,
    },
    /// The file has a header but no data rows.
    #[error("`{path}` has a header line but no data rows: there is nothing to import")]
    HeaderOnly {
        /// The input file.
        path: PathBuf,
    },
    /// A header name could not be decoded with the chosen encoding.
    #[error(
        "the header of `{path}` is not valid {encoding} (column {column}); pass --encoding with the file's encoding (utf-8, utf-16le, utf-16be, windows-1252 for Windows-1252 and Latin-1, windows-1250 for Central European, …)"
    )]
    HeaderEncoding {
        /// The input file.
        path: PathBuf,
        /// The encoding tried.
        encoding: &'static str,
        /// 1-based column.
        column: usize,
    },
    /// A header name holds NUL bytes: UTF-16 without a byte-order mark, or not text.
    #[error(
        "the header of `{path}` holds NUL bytes (column {column}): the file looks like UTF-16 without a byte-order mark, or is not a text file; save it as UTF-8, or as UTF-16 with a byte-order mark"
    )]
    HeaderNul {
        /// The input file.
        path: PathBuf,
        /// 1-based column.
        column: usize,
    },
    /// A header cell is empty.
    #[error(
        "column {column} of the header of `{path}` (line {line}) has no name: give every column a name in the header line"
    )]
    EmptyHeaderName {
        /// The input file.
        path: PathBuf,
        /// The header's line.
        line: u64,
        /// 1-based column.
        column: usize,
    },
    /// Two header cells have the same name.
    #[error(
        "the header of `{path}` names `{name}` twice (columns {first} and {second}): rename one so each column can be mapped"
    )]
    DuplicateHeader {
        /// The input file.
        path: PathBuf,
        /// The repeated name.
        name: String,
        /// 1-based column of the first.
        first: usize,
        /// 1-based column of the second.
        second: usize,
    },
    /// The header is larger than the limits.
    #[error(
        "the header of `{path}` (line {line}) is larger than {} MiB or {MAX_FIELDS} columns: not a CSV file, or one whose first line never ends",
        MAX_RECORD_BYTES >> 20
    )]
    HeaderTooLarge {
        /// The input file.
        path: PathBuf,
        /// Where it starts.
        line: u64,
    },
    /// The workbook could not be read.
    #[error("cannot read the workbook `{path}`: {message}")]
    Workbook {
        /// The input file.
        path: PathBuf,
        /// What went wrong.
        message: String,
    },
    /// `--sheet` names no sheet of the workbook, or it has no worksheet.
    #[error("the workbook `{path}` {message}")]
    Sheet {
        /// The input file.
        path: PathBuf,
        /// Which sheets it has.
        message: String,
    },
    /// A flag that does not apply to this kind of file, or a kind of file that is not read.
    #[error("`{path}`: {message}")]
    Unsupported {
        /// The input file.
        path: PathBuf,
        /// What and what to do.
        message: String,
    },
}

/// One record as read: its numbers and its raw fields.
#[derive(Debug, Clone, Default)]
pub struct RawRow {
    /// 1-based data row number (the header and skipped lines are not rows).
    pub row: u64,
    /// 1-based physical line (for a workbook, the sheet's row) where the record starts.
    pub line: u64,
    /// Raw fields, in the file's encoding (UTF-8 for UTF-16 input and workbooks).
    pub record: Record,
    /// Why the row cannot be read, when the source already knows (a record over the size
    /// limits, a value beyond the named columns, a spreadsheet error cell): a
    /// `malformed_row`.
    pub malformed: Option<String>,
}

/// What the reader knows of a record besides its fields.
#[derive(Debug, Clone)]
struct Raw {
    start: u64,
    end: u64,
    /// Boxed: rare, and the common `None` keeps `Raw` small on the hot path.
    problem: Option<Box<Problem>>,
}

#[derive(Debug, Clone)]
enum Problem {
    TooLarge { end: u64, bytes: u64 },
    CellError { column: usize, text: String },
}

/// A record held back because it may be part of a report footer, with the blank lines
/// before it.
struct Held {
    record: Record,
    raw: Raw,
    blank_before: Option<(u64, u64)>,
}

/// An input opened for streaming, its header already found, read and checked.
pub struct Source {
    path: PathBuf,
    rows: Rows,
    headers: Vec<String>,
    columns: Columns,
    /// Short rows are padded with empty cells (sheets: a missing cell is empty).
    pad: bool,
    decoder: FieldDecoder,
    delimiter: Option<u8>,
    next_row: u64,
    /// Where the previous record ended.
    last_end: u64,
    /// The first data row, read at opening so that a header-only file is refused then.
    first: Option<RawRow>,
    /// Records read while looking for the header, not yet framed.
    ahead: VecDeque<(Record, Raw)>,
    /// Framed records to hand out before reading more.
    ready: VecDeque<(Record, Raw)>,
    /// A possible report footer.
    held: Vec<Held>,
    held_bytes: usize,
    ended: bool,
    report: ReportHandle,
    counters: Counters,
    header_line: u64,
    /// The header's names as read (raw, trimmed), to recognise it repeated in the data.
    header_raw: Vec<Vec<u8>>,
    /// The input is a report of an earlier run (a CSV one's guard is taken off as it is
    /// read).
    earlier: Option<crate::report::ReportLayout>,
}

impl fmt::Debug for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Source")
            .field("path", &self.path)
            .field("headers", &self.headers)
            .field("decoder", &self.decoder)
            .field("delimiter", &self.delimiter.map(char::from))
            .finish_non_exhaustive()
    }
}

impl Source {
    /// Opens `path`, detects its format, encoding and delimiter, finds, reads and checks the
    /// header, and reads ahead one data row so that a header-only file is reported before
    /// any work.
    pub fn open(path: &Path, options: &SourceOptions) -> Result<Source, SourceError> {
        let Opened {
            rows,
            decoder,
            delimiter,
            pad,
            counters,
            report,
        } = open::open(path, options)?;
        let mut source = Source {
            path: path.to_owned(),
            rows,
            headers: Vec::new(),
            columns: Columns {
                lead: 0,
                width: 0,
                trail: 0,
            },
            pad,
            decoder,
            delimiter,
            next_row: 0,
            last_end: 0,
            first: None,
            ahead: VecDeque::new(),
            ready: VecDeque::new(),
            held: Vec::new(),
            held_bytes: 0,
            ended: false,
            report: ReportHandle::new(report),
            counters,
            header_line: 0,
            header_raw: Vec::new(),
            earlier: None,
        };
        source.read_header()?;
        let mut first = RawRow::default();
        if !source.advance(&mut first)? {
            return Err(SourceError::HeaderOnly {
                path: path.to_owned(),
            });
        }
        source.first = Some(first);
        Ok(source)
    }

    /// Reads records until the header is found; those above it are listed as skipped,
    /// those after it wait in `ahead`.
    fn read_header(&mut self) -> Result<(), SourceError> {
        let mut records: Vec<Record> = Vec::new();
        let mut raws: Vec<Raw> = Vec::new();
        // Where the parser was after each record, to know where the header ends.
        let mut positions: Vec<u64> = Vec::new();
        let mut overflow = None;
        let mut bytes = 0;
        let found = loop {
            let mut record = Record::new();
            let mut exhausted = false;
            match self.read_raw(&mut record, !records.is_empty())? {
                None => exhausted = true,
                Some(raw) if matches!(raw.problem.as_deref(), Some(Problem::TooLarge { .. })) => {
                    if records.is_empty() {
                        return Err(SourceError::HeaderTooLarge {
                            path: self.path.clone(),
                            line: raw.start,
                        });
                    }
                    // Not a header: a data row, rejected when its turn comes.
                    overflow = Some((record, raw));
                    exhausted = true;
                }
                Some(raw) => {
                    bytes += record.as_slice().len();
                    records.push(record);
                    raws.push(raw);
                    positions.push(self.consumed());
                }
            }
            if records.is_empty() {
                return Err(SourceError::Empty {
                    path: self.path.clone(),
                });
            }
            let exhausted = exhausted
                || records.len() >= framing::PREAMBLE_RECORDS
                || bytes >= framing::PREAMBLE_BYTES;
            match framing::find_header(&records, exhausted) {
                framing::HeaderSearch::Found(i) => break i.min(records.len() - 1),
                framing::HeaderSearch::More if exhausted => break 0,
                framing::HeaderSearch::More => {}
            }
        };
        self.counters.header_end = positions[found];
        let mut records = records.into_iter();
        let mut raws = raws.into_iter();
        let mut skipped = Vec::new();
        let mut last_end = 0;
        for _ in 0..found {
            let (record, raw) = (records.next(), raws.next());
            if let (Some(record), Some(raw)) = (record, raw) {
                blank_lines(&mut skipped, last_end, raw.start);
                skipped.push(SkippedLine {
                    line: raw.start,
                    last_line: raw.end,
                    kind: if record.is_blank() {
                        SkipKind::Blank
                    } else {
                        SkipKind::Title
                    },
                    text: framing::record_text(&record, 200),
                });
                last_end = raw.end;
            }
        }
        let (Some(header), Some(raw)) = (records.next(), raws.next()) else {
            return Err(SourceError::Empty {
                path: self.path.clone(),
            });
        };
        blank_lines(&mut skipped, last_end, raw.start);
        self.last_end = raw.end;
        self.header_line = raw.start;
        self.ahead = records.zip(raws).chain(overflow).collect();
        self.set_header(&header, raw.start)?;
        let columns = self.columns;
        self.report.update(|r| {
            r.header_line = raw.start;
            r.skipped_lines = skipped;
            r.unnamed_columns_before = columns.lead;
            r.unnamed_columns_after = columns.trail;
        });
        Ok(())
    }

    /// Checks and keeps the header's names: the named columns, each with a name that
    /// decodes, holds no NUL, and is not used twice.
    fn set_header(&mut self, header: &Record, line: u64) -> Result<(), SourceError> {
        let columns = Columns::of(header);
        if columns.width == 0 {
            return Err(SourceError::EmptyHeaderName {
                path: self.path.clone(),
                line,
                column: 1,
            });
        }
        let mut headers = Vec::with_capacity(columns.width);
        // Trimmed name → column, so a header of 10^5 columns is checked in linear time.
        let mut seen: std::collections::HashMap<String, usize> =
            std::collections::HashMap::with_capacity(columns.width);
        for (i, field) in header
            .iter()
            .enumerate()
            .skip(columns.lead)
            .take(columns.width)
        {
            let name = self
                .decoder
                .decode(field)
                .map_err(|_| SourceError::HeaderEncoding {
                    path: self.path.clone(),
                    encoding: self.decoder.name(),
                    column: i + 1,
                })?;
            if name.contains('\0') {
                return Err(SourceError::HeaderNul {
                    path: self.path.clone(),
                    column: i + 1,
                });
            }
            if name.trim().is_empty() {
                return Err(SourceError::EmptyHeaderName {
                    path: self.path.clone(),
                    line,
                    column: i + 1,
                });
            }
            if let Some(first) = seen.insert(name.trim().to_owned(), i) {
                return Err(SourceError::DuplicateHeader {
                    path: self.path.clone(),
                    name: name.trim().to_owned(),
                    first: first + 1,
                    second: i + 1,
                });
            }
            headers.push(name.into_owned());
        }
        self.earlier = match self.rows {
            Rows::Csv(_) => crate::report::readback::read_header(&mut headers),
            Rows::Sheet(_) => crate::report::readback::for_workbook(&headers),
        };
        self.headers = headers;
        self.columns = columns;
        self.header_raw = header
            .iter()
            .skip(columns.lead)
            .take(columns.width)
            .map(|f| f.trim_ascii().to_vec())
            .collect();
        Ok(())
    }

    /// The next record of the file, whatever it is; an outsized one is read to its end
    /// when `skip` (a data row), and ends the reading otherwise (a header).
    fn read_raw(&mut self, record: &mut Record, skip: bool) -> Result<Option<Raw>, SourceError> {
        match &mut self.rows {
            Rows::Csv(reader) => {
                let limits = csv::Limits {
                    skip,
                    ..open::LIMITS
                };
                let read = reader
                    .read(record, limits)
                    .map_err(|source| SourceError::Io {
                        path: self.path.clone(),
                        source,
                    })?;
                Ok(match read {
                    csv::Read::Record { start, end } => Some(Raw {
                        start,
                        end,
                        problem: None,
                    }),
                    csv::Read::TooLarge { start, end, bytes } => Some(Raw {
                        start,
                        end,
                        problem: Some(Box::new(Problem::TooLarge { end, bytes })),
                    }),
                    csv::Read::End => None,
                })
            }
            Rows::Sheet(book) => Ok(book.next()?.map(|row| {
                *record = row.record;
                let problem = row.problem.map(|p| {
                    Box::new(match p {
                        workbook::CellProblem::Error { column, text } => {
                            Problem::CellError { column, text }
                        }
                        workbook::CellProblem::TooLarge { bytes } => Problem::TooLarge {
                            end: row.line,
                            bytes,
                        },
                    })
                });
                Raw {
                    start: row.line,
                    end: row.line,
                    problem,
                }
            })),
        }
    }

    /// The next data row: records come from `ready`, then `ahead`, then the file; a blank
    /// record, or one after blank lines, may start a report footer and is held back until
    /// the next record (or the end of the file) tells.
    fn advance(&mut self, row: &mut RawRow) -> Result<bool, SourceError> {
        let mut next = None;
        if self.ready.is_empty() && self.ahead.is_empty() && self.held.is_empty() && !self.ended {
            // The common case: a record straight from the file, on the line after the last.
            match self.read_raw(&mut row.record, true)? {
                Some(raw)
                    if raw.start == self.last_end + 1
                        && !row.record.is_blank()
                        && !self.maybe_structure(&row.record) =>
                {
                    self.last_end = raw.end;
                    self.frame(row, raw);
                    return Ok(true);
                }
                Some(raw) => next = Some(raw),
                None => self.end_of_input(),
            }
        }
        loop {
            if let Some((record, raw)) = self.ready.pop_front() {
                row.record = record;
                self.frame(row, raw);
                return Ok(true);
            }
            if self.ended {
                return Ok(false);
            }
            let raw = if let Some(raw) = next.take() {
                raw
            } else if let Some((record, raw)) = self.ahead.pop_front() {
                row.record = record;
                raw
            } else {
                match self.read_raw(&mut row.record, true)? {
                    Some(raw) => raw,
                    None => {
                        self.end_of_input();
                        continue;
                    }
                }
            };
            let blank_before =
                (raw.start > self.last_end + 1).then(|| (self.last_end + 1, raw.start - 1));
            self.last_end = raw.end;
            if self.held.is_empty()
                && blank_before.is_none()
                && !row.record.is_blank()
                && !self.maybe_structure(&row.record)
            {
                self.frame(row, raw);
                return Ok(true);
            }
            self.hold(std::mem::take(&mut row.record), raw, blank_before);
        }
    }

    /// Whether `record` may be a line of the table's structure rather than a row (a group's
    /// title, the header repeated): only its first named cell holds anything, or that cell
    /// is the header's first name. In constant time for most rows.
    fn maybe_structure(&self, record: &Record) -> bool {
        if self.columns.width < 2 {
            return false;
        }
        let lead = self.columns.lead;
        let first = record.range(lead);
        let only_first = first
            .as_ref()
            .is_some_and(|r| r.len() == record.as_slice().len());
        only_first
            || record.get(lead).is_some_and(|cell| {
                self.header_raw
                    .first()
                    .is_some_and(|name| cell.trim_ascii() == name.as_slice())
            })
    }

    /// Whether `record` is the header again (a board export repeats it for each group): the
    /// same names in the named columns, nothing around them.
    fn is_header_repeat(&self, record: &Record) -> bool {
        let Columns { lead, width, .. } = self.columns;
        record.len() >= lead + width
            && record.empty_between(0, lead)
            && (lead + width..record.len()).all(|i| {
                record
                    .get(i)
                    .is_some_and(|f| f.iter().all(u8::is_ascii_whitespace))
            })
            && self
                .header_raw
                .iter()
                .enumerate()
                .all(|(k, name)| record.get(lead + k).map(<[u8]>::trim_ascii) == Some(name))
    }

    /// Whether `record` can be a group's title: one cell, the first named one, holding
    /// text that does not look like a value (a phone number, an e-mail address).
    fn title_like(&self, record: &Record) -> bool {
        let lead = self.columns.lead;
        self.columns.width >= 2
            && !record.is_blank()
            && record
                .range(lead)
                .is_some_and(|r| r.len() == record.as_slice().len())
            && record
                .get(lead)
                .is_some_and(|cell| !framing::looks_like_value(cell))
    }

    /// Skips a repeated header row and, when the last record held before it is a group's
    /// title, that title and the blank lines around them; earlier held records are rows.
    /// Every line skipped is listed in the report.
    fn skip_group(&mut self, record: &Record, raw: &Raw, blank_before: Option<(u64, u64)>) {
        let title_at = self
            .held
            .iter()
            .rposition(|h| !h.record.is_blank())
            .filter(|&i| {
                self.held[i].raw.problem.is_none() && self.title_like(&self.held[i].record)
            });
        let mut skipped = Vec::new();
        let gap = |skipped: &mut Vec<SkippedLine>, gap: Option<(u64, u64)>| {
            if let Some((from, to)) = gap {
                skipped.push(SkippedLine {
                    line: from,
                    last_line: to,
                    kind: SkipKind::Blank,
                    text: String::new(),
                });
            }
        };
        if let Some(at) = title_at {
            let group: Vec<Held> = self.held.drain(at..).collect();
            self.release();
            for held in group {
                gap(&mut skipped, held.blank_before);
                skipped.push(SkippedLine {
                    line: held.raw.start,
                    last_line: held.raw.end,
                    kind: if held.record.is_blank() {
                        SkipKind::Blank
                    } else {
                        SkipKind::GroupTitle
                    },
                    text: framing::record_text(&held.record, 200),
                });
            }
        } else {
            self.release();
        }
        gap(&mut skipped, blank_before);
        skipped.push(SkippedLine {
            line: raw.start,
            last_line: raw.end,
            kind: SkipKind::RepeatedHeader,
            text: framing::record_text(record, 200),
        });
        self.report.update(|r| r.skipped_lines.extend(skipped));
    }

    /// Holds `record` back as part of a possible footer or group title, releases what was
    /// held, or skips a repeated header with the group title before it.
    fn hold(&mut self, record: Record, raw: Raw, blank_before: Option<(u64, u64)>) {
        let readable = raw.problem.is_none();
        if readable && self.is_header_repeat(&record) {
            self.skip_group(&record, &raw, blank_before);
            return;
        }
        let footer_like = readable && framing::footer_like(&record);
        let title_like = readable && self.title_like(&record);
        let blank = readable && record.is_blank();
        let size = record.as_slice().len();
        let fits = self.held.len() < FOOTER_RECORDS && self.held_bytes + size <= FOOTER_BYTES;
        if !self.held.is_empty() && footer_like && fits {
            self.held_bytes += size;
            self.held.push(Held {
                record,
                raw,
                blank_before,
            });
            return;
        }
        // What was held is not a footer: those records are rows.
        self.release();
        if blank || title_like || (blank_before.is_some() && footer_like) {
            self.held_bytes = size;
            self.held.push(Held {
                record,
                raw,
                blank_before,
            });
        } else {
            self.ready.push_back((record, raw));
        }
    }

    fn release(&mut self) {
        self.ready
            .extend(self.held.drain(..).map(|held| (held.record, held.raw)));
        self.held_bytes = 0;
    }

    /// At the end of the file, what was held back is a report footer when one of its lines
    /// is a footer line (a copyright, "Confidential Information", "Generated By", …), and
    /// rows otherwise.
    fn end_of_input(&mut self) {
        self.ended = true;
        let footer = self
            .held
            .iter()
            .any(|h| framing::footer_marker(&framing::record_text(&h.record, 200)));
        if !footer {
            self.release();
            return;
        }
        let mut skipped = Vec::new();
        for held in self.held.drain(..) {
            if let Some((from, to)) = held.blank_before {
                skipped.push(SkippedLine {
                    line: from,
                    last_line: to,
                    kind: SkipKind::Blank,
                    text: String::new(),
                });
            }
            skipped.push(SkippedLine {
                line: held.raw.start,
                last_line: held.raw.end,
                kind: if held.record.is_blank() {
                    SkipKind::Blank
                } else {
                    SkipKind::Footer
                },
                text: framing::record_text(&held.record, 200),
            });
        }
        self.held_bytes = 0;
        self.report.update(|r| r.skipped_lines.extend(skipped));
    }

    /// Numbers a data row and fits it to the named columns: unnamed cells before and after
    /// them must be empty and are dropped; a short sheet row is padded.
    fn frame(&mut self, row: &mut RawRow, raw: Raw) {
        self.next_row += 1;
        row.row = self.next_row;
        row.line = raw.start;
        row.malformed = None;
        if let Some(earlier) = &self.earlier {
            earlier.restore(&mut row.record);
        }
        if let Some(problem) = raw.problem {
            row.malformed = Some(self.describe(&problem, raw.start));
            return;
        }
        let Columns { lead, width, .. } = self.columns;
        if lead > 0 && row.record.len() >= lead {
            if row.record.empty_between(0, lead) {
                row.record.drop_leading_empty(lead);
            } else {
                row.malformed = Some(self.beyond(row, 0, lead, 0));
                return;
            }
        }
        let len = row.record.len();
        if len > width {
            let extra_blank = (width..len).all(|i| {
                row.record
                    .get(i)
                    .is_some_and(|f| f.iter().all(u8::is_ascii_whitespace))
            });
            if extra_blank {
                row.record.truncate(width);
            } else {
                row.malformed = Some(self.beyond(row, width, len, lead));
            }
        } else if len < width && self.pad {
            row.record.pad_to(width);
        }
    }

    /// The message for a cell with a value in `from..to`, outside the named columns
    /// (`offset`: the columns dropped before them).
    fn beyond(&self, row: &RawRow, from: usize, to: usize, offset: usize) -> String {
        let (column, text) = (from..to)
            .find_map(|i| {
                let cell = row.record.get(i)?;
                (!cell.iter().all(u8::is_ascii_whitespace))
                    .then(|| (i, framing::record_text(&Record::from(vec![cell]), 40)))
            })
            .unwrap_or((from, String::new()));
        let Columns { lead, width, trail } = self.columns;
        if lead + trail == 0 {
            format!(
                "line {}: expected {width} fields (the header's width) but found {to}: column {} holds `{text}`, and the header names no column there",
                row.line,
                column + 1,
            )
        } else {
            format!(
                "line {}: column {} holds `{text}`, but the header names no column there (it names columns {} to {})",
                row.line,
                offset + column + 1,
                lead + 1,
                lead + width
            )
        }
    }

    fn describe(&self, problem: &Problem, line: u64) -> String {
        match problem {
            Problem::TooLarge { end, bytes } => format!(
                "line {line}: the record is larger than the limit ({} MiB or {MAX_FIELDS} fields): {bytes} bytes{}; it is not read, and only its first fields are in this report. An unbalanced quote makes the rest of a file one record",
                MAX_RECORD_BYTES >> 20,
                if *end > line {
                    format!(", to line {end}")
                } else {
                    String::new()
                }
            ),
            Problem::CellError { column, text } => format!(
                "line {line}: column {} holds the spreadsheet error {text}: fix the formula, or paste the column as values",
                column + 1
            ),
        }
    }

    /// Bytes of the decoded stream read by the parser (0 for a workbook).
    fn consumed(&self) -> u64 {
        match &self.rows {
            Rows::Csv(reader) => reader.consumed(),
            Rows::Sheet(_) => 0,
        }
    }

    /// The next record, or `None` at the end of the file.
    pub fn next_row(&mut self) -> Result<Option<RawRow>, SourceError> {
        let mut row = RawRow::default();
        Ok(self.next_row_into(&mut row)?.then_some(row))
    }

    /// Reads the next record into `row`, reusing its buffers; `false` at the end of the file
    /// (`row` is then left as it was). The same records as [`Source::next_row`].
    pub fn next_row_into(&mut self, row: &mut RawRow) -> Result<bool, SourceError> {
        if let Some(first) = self.first.take() {
            *row = first;
            return Ok(true);
        }
        self.advance(row)
    }

    /// Whether the input is a report of an earlier run, and its layout.
    pub fn report_layout(&self) -> Option<&crate::report::ReportLayout> {
        self.earlier.as_ref()
    }

    /// An estimate of the data rows in the whole file, from the size of the rows read so far
    /// and the file's size (for a workbook, the sheet's last row); `None` before any row or
    /// when the size is unknown. Exact for a file read to its end; otherwise as good as the
    /// rows read so far are typical.
    pub fn estimate_rows(&self) -> Option<u64> {
        let rows = self.next_row;
        if rows == 0 {
            return None;
        }
        if let Rows::Sheet(book) = &self.rows {
            return book
                .last_row
                .map(|last| last.saturating_sub(self.header_line).max(rows));
        }
        let read = self.consumed().saturating_sub(self.counters.header_end);
        let total = self.counters.stream_size(self.decoder)?;
        if read == 0 {
            return None;
        }
        let rest = (total - self.counters.header_end as f64).max(0.0);
        Some((rest * rows as f64 / read as f64).ceil() as u64).map(|n| n.max(rows))
    }

    /// The header names, exactly as read (the named columns).
    pub fn headers(&self) -> &[String] {
        &self.headers
    }

    /// The input file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// How fields decode.
    pub fn decoder(&self) -> FieldDecoder {
        self.decoder
    }

    /// The delimiter in use, for CSV input.
    pub fn delimiter(&self) -> Option<u8> {
        self.delimiter
    }

    /// The sheet read, for a workbook.
    pub fn sheet(&self) -> Option<&str> {
        match &self.rows {
            Rows::Sheet(book) => Some(&book.sheet),
            Rows::Csv(_) => None,
        }
    }

    /// How the input is read: format, encoding and why, the lines skipped. Keep the handle
    /// before the source is handed to a pipeline: the report is complete (a report footer
    /// included) once the file has been read to its end.
    pub fn report(&self) -> ReportHandle {
        self.report.clone()
    }
}

/// Lists the blank lines between `after` and `before` (exclusive) in `skipped`.
fn blank_lines(skipped: &mut Vec<SkippedLine>, after: u64, before: u64) {
    if before > after + 1 {
        skipped.push(SkippedLine {
            line: after + 1,
            last_line: before - 1,
            kind: SkipKind::Blank,
            text: String::new(),
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A row read: its first cell, row number and line.
    type Row = (String, u64, u64);

    /// A line skipped: its number, why, and its text.
    type Skipped = (u64, SkipKind, String);

    /// The rows of `text` as a CSV file, and what was skipped.
    fn read(text: &str) -> (Vec<Row>, Vec<Skipped>) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("board.csv");
        std::fs::write(&path, text).unwrap();
        let mut source = Source::open(&path, &SourceOptions::default()).unwrap();
        let report = source.report();
        let mut rows = Vec::new();
        while let Some(row) = source.next_row().unwrap() {
            let first = String::from_utf8_lossy(row.record.get(0).unwrap_or_default());
            rows.push((first.into_owned(), row.row, row.line));
        }
        let skipped = report
            .get()
            .skipped_lines
            .into_iter()
            .map(|s| (s.line, s.kind, s.text))
            .collect();
        (rows, skipped)
    }

    fn firsts(rows: &[Row]) -> Vec<&str> {
        rows.iter().map(|r| r.0.as_str()).collect()
    }

    #[test]
    fn a_board_s_group_titles_and_repeated_headers_are_skipped_and_listed() {
        let (rows, skipped) = read(
            "Name,Status,Phone\n\
             Ada,New,+14155550100\n\
             Bob,,+14155550101\n\
             \n\
             Contacted,,\n\
             Name,Status,Phone\n\
             Cy,Done,+14155550102\n\
             Qualified,,\n\
             Name , Status,Phone\n\
             Di,,+14155550103\n\
             Name,Status,Phone\n\
             Ed,,+14155550104\n",
        );
        assert_eq!(firsts(&rows), ["Ada", "Bob", "Cy", "Di", "Ed"]);
        // Data rows are numbered without the lines skipped; their lines are the file's.
        assert_eq!(
            rows.iter().map(|r| (r.1, r.2)).collect::<Vec<_>>(),
            [(1, 2), (2, 3), (3, 7), (4, 10), (5, 12)]
        );
        assert_eq!(
            skipped,
            [
                (4, SkipKind::Blank, String::new()),
                (5, SkipKind::GroupTitle, "Contacted".into()),
                (6, SkipKind::RepeatedHeader, "Name | Status | Phone".into()),
                (8, SkipKind::GroupTitle, "Qualified".into()),
                (9, SkipKind::RepeatedHeader, "Name | Status | Phone".into()),
                (11, SkipKind::RepeatedHeader, "Name | Status | Phone".into()),
            ]
        );
    }

    #[test]
    fn a_row_is_never_taken_for_a_group_title_unless_the_header_follows() {
        // One cell only, but no header after it: a row (rejected later, as it has no
        // phone), not a title.
        let (rows, skipped) = read("Name,Phone\nAda,+14155550100\nContacted,\nBob,+14155550101\n");
        assert_eq!(firsts(&rows), ["Ada", "Contacted", "Bob"]);
        assert!(skipped.is_empty(), "{skipped:?}");
        // A cell that looks like a value is a row even before a repeated header; only the
        // header is skipped.
        let (rows, skipped) =
            read("Phone,Name\nx,Ada\n+14155550100,\nPhone,Name\n+14155550101,Bob\n");
        assert_eq!(firsts(&rows), ["x", "+14155550100", "+14155550101"]);
        assert_eq!(
            skipped,
            [(4, SkipKind::RepeatedHeader, "Phone | Name".into())]
        );
        // Of two one-cell lines before the header, only the last is the group's title.
        let (rows, skipped) = read(
            "Name,Phone\nAda,+1 415 555 0100\nNotes,\nWon,\nName,Phone\nBob,+1 415 555 0101\n",
        );
        assert_eq!(firsts(&rows), ["Ada", "Notes", "Bob"]);
        assert_eq!(
            skipped,
            [
                (4, SkipKind::GroupTitle, "Won".into()),
                (5, SkipKind::RepeatedHeader, "Name | Phone".into()),
            ]
        );
        // A row that has more than the header's names is data.
        let (rows, skipped) = read("Name,Phone\nName,Phone,x\nBob,+14155550101\n");
        assert_eq!(firsts(&rows), ["Name", "Bob"]);
        assert!(skipped.is_empty());
    }

    #[test]
    fn a_single_column_file_is_read_as_it_is() {
        let (rows, skipped) = read("phone\nN/A\n+14155550100\nphone\n+14155550101\n");
        assert_eq!(
            firsts(&rows),
            ["N/A", "+14155550100", "phone", "+14155550101"]
        );
        assert!(skipped.is_empty());
    }

    #[test]
    fn a_group_title_at_the_end_with_a_footer_stays_a_footer() {
        let (rows, skipped) = read(
            "Name,Phone\nAda,+14155550100\n\nConfidential Information - Do Not Distribute,\nGenerated By: Ada,\n",
        );
        assert_eq!(firsts(&rows), ["Ada"]);
        assert_eq!(
            skipped.iter().map(|s| s.1).collect::<Vec<_>>(),
            [SkipKind::Blank, SkipKind::Footer, SkipKind::Footer]
        );
    }
}
