//! Source: streams a CSV file's records, each with its data row number and physical line,
//! whatever the encoding (UTF-8 with or without BOM, UTF-16 with BOM, Windows-1252) and
//! delimiter (`,` `;` tab `|`, sniffed from the header line).
//!
//! The source only splits the bytes into records; it does not decode them. Decoding is done
//! per field by [`FieldDecoder`], on the validation workers, so that both cores share it and
//! a field with undecodable bytes becomes a `malformed_row` rejection instead of an error.

use std::borrow::Cow;
use std::fmt;
use std::fs::File;
use std::io::{self, BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::str::FromStr;

use csv::ByteRecord;
use encoding_rs::{UTF_16BE, UTF_16LE, WINDOWS_1252};
use encoding_rs_io::DecodeReaderBytesBuilder;

/// The text encoding of the input, as given by `--encoding`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum EncodingChoice {
    /// Follow the byte-order mark; UTF-8 when there is none.
    #[default]
    Auto,
    /// UTF-8 (a BOM is skipped).
    Utf8,
    /// UTF-16 little endian (a BOM is skipped).
    Utf16Le,
    /// UTF-16 big endian (a BOM is skipped).
    Utf16Be,
    /// Windows-1252, which is also what files labelled Latin-1 / ISO-8859-1 hold in practice.
    Windows1252,
}

impl FromStr for EncodingChoice {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let norm: String = s
            .chars()
            .filter(|c| c.is_ascii_alphanumeric())
            .collect::<String>()
            .to_ascii_lowercase();
        Ok(match norm.as_str() {
            "auto" => EncodingChoice::Auto,
            "utf8" => EncodingChoice::Utf8,
            "utf16" | "utf16le" => EncodingChoice::Utf16Le,
            "utf16be" => EncodingChoice::Utf16Be,
            "windows1252" | "cp1252" | "latin1" | "iso88591" | "ansi" => {
                EncodingChoice::Windows1252
            }
            _ => {
                return Err(format!(
                    "unknown encoding `{s}`: use auto, utf-8, utf-16le, utf-16be or windows-1252 (latin-1)"
                ));
            }
        })
    }
}

/// How to turn a field's bytes into text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FieldDecoder {
    /// Fields are UTF-8; invalid sequences make the row malformed.
    Utf8,
    /// Fields were transcoded from UTF-16 while reading; a replacement character marks
    /// bytes that could not be decoded, which makes the row malformed.
    Utf16,
    /// Fields are Windows-1252; every byte decodes.
    Windows1252,
}

impl FieldDecoder {
    /// The encoding's name, for summaries.
    pub fn name(self) -> &'static str {
        match self {
            FieldDecoder::Utf8 => "utf-8",
            FieldDecoder::Utf16 => "utf-16",
            FieldDecoder::Windows1252 => "windows-1252",
        }
    }

    /// Decodes one field. `Err` carries a lossy decoding, for the report (undecodable bytes
    /// of UTF-8 shown as `\xNN`).
    pub fn decode<'a>(self, bytes: &'a [u8]) -> Result<Cow<'a, str>, String> {
        match self {
            FieldDecoder::Utf8 => std::str::from_utf8(bytes)
                .map(Cow::Borrowed)
                .map_err(|_| crate::report::guard::escape_invalid_utf8(bytes)),
            FieldDecoder::Utf16 => {
                let text = std::str::from_utf8(bytes)
                    .map_err(|_| crate::report::guard::escape_invalid_utf8(bytes))?;
                if text.contains(char::REPLACEMENT_CHARACTER) {
                    Err(text.to_owned())
                } else {
                    Ok(Cow::Borrowed(text))
                }
            }
            FieldDecoder::Windows1252 => Ok(WINDOWS_1252.decode_without_bom_handling(bytes).0),
        }
    }

    /// Decodes every field of a record: `Ok` with the text of each, or `Err` with the
    /// 0-based index of the first undecodable field and a lossy decoding of all of them.
    pub fn decode_record<'a>(
        self,
        record: &'a ByteRecord,
    ) -> Result<Vec<Cow<'a, str>>, (usize, Vec<String>)> {
        let mut out = Vec::with_capacity(record.len());
        for (i, field) in record.iter().enumerate() {
            match self.decode(field) {
                Ok(text) => out.push(text),
                Err(_) => return Err((i, self.decode_lossy(record))),
            }
        }
        Ok(out)
    }

    /// Decodes every field of a record into `out` (cleared first), as
    /// [`FieldDecoder::decode_record`] does without allocating a vector per record; `Err`
    /// with the 0-based index of the first undecodable field.
    pub fn decode_record_into<'a>(
        self,
        record: &'a ByteRecord,
        out: &mut Vec<Cow<'a, str>>,
    ) -> Result<(), usize> {
        out.clear();
        if self == FieldDecoder::Utf8
            && let Ok(whole) = std::str::from_utf8(record.as_slice())
        {
            // One check for the whole record (fast for ASCII); each field is then valid on
            // its own when it starts and ends on a character boundary, which `get` checks.
            for i in 0..record.len() {
                match record.range(i).and_then(|range| whole.get(range)) {
                    Some(text) => out.push(Cow::Borrowed(text)),
                    None => {
                        // A character split between two fields: go field by field to name it.
                        out.clear();
                        break;
                    }
                }
            }
            if out.len() == record.len() {
                return Ok(());
            }
        }
        for (i, field) in record.iter().enumerate() {
            match self.decode(field) {
                Ok(text) => out.push(text),
                Err(_) => return Err(i),
            }
        }
        Ok(())
    }

    /// Decodes every field; bytes that cannot be decoded are shown as `\xNN` (UTF-8), or
    /// were replaced with U+FFFD while transcoding (UTF-16).
    pub fn decode_lossy(self, record: &ByteRecord) -> Vec<String> {
        record
            .iter()
            .map(|f| match self.decode(f) {
                Ok(text) => text.into_owned(),
                Err(lossy) => lossy,
            })
            .collect()
    }
}

/// Options for reading the input.
#[derive(Debug, Clone, Copy, Default)]
pub struct SourceOptions {
    /// The encoding, or auto-detection from the BOM.
    pub encoding: EncodingChoice,
    /// The delimiter, or `None` to sniff it from the header line.
    pub delimiter: Option<u8>,
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
        "the header of `{path}` is not valid {encoding} (column {column}); if the file was saved as Windows-1252 or Latin-1, pass `--encoding windows-1252`"
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
        "column {column} of the header of `{path}` has no name: give every column a name in the first line"
    )]
    EmptyHeaderName {
        /// The input file.
        path: PathBuf,
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
}

/// One record as read: its numbers and its raw fields.
#[derive(Debug, Clone, Default)]
pub struct RawRow {
    /// 1-based data row number (the header is row 0).
    pub row: u64,
    /// 1-based physical line where the record starts.
    pub line: u64,
    /// Raw fields, in the file's encoding (UTF-8 for UTF-16 input, transcoded while reading).
    pub record: ByteRecord,
}

/// A CSV file opened for streaming, its header already read and checked.
pub struct Source {
    path: PathBuf,
    reader: csv::Reader<Box<dyn Read + Send>>,
    headers: Vec<String>,
    decoder: FieldDecoder,
    delimiter: u8,
    next_row: u64,
    lookahead: Option<RawRow>,
    /// Whether lines end with CRLF (the csv crate then reports record lines one short).
    crlf: bool,
    /// Where the header ends, in the bytes the csv reader has seen.
    header_end: u64,
    /// The input is a report of an earlier run (its guard is taken off as it is read).
    report: Option<crate::report::ReportLayout>,
}

impl fmt::Debug for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Source")
            .field("path", &self.path)
            .field("headers", &self.headers)
            .field("decoder", &self.decoder)
            .field("delimiter", &(self.delimiter as char))
            .finish_non_exhaustive()
    }
}

/// The delimiters that can be sniffed, in order of preference on a tie.
const DELIMITERS: [u8; 4] = [b',', b';', b'\t', b'|'];

impl Source {
    /// Opens `path`, detects its encoding and delimiter, reads and checks the header, and
    /// reads ahead one record so that a header-only file is reported before any work.
    pub fn open(path: &Path, options: SourceOptions) -> Result<Source, SourceError> {
        let io_err = |source| SourceError::Io {
            path: path.to_owned(),
            source,
        };
        let file = File::open(path).map_err(io_err)?;
        let mut buffered = BufReader::with_capacity(1 << 16, file);
        let head = peek(&mut buffered).map_err(io_err)?;

        let bom = detect_bom(&head);
        let choice = match (options.encoding, bom) {
            (EncodingChoice::Auto, Some(found)) => found,
            (EncodingChoice::Auto, None) => EncodingChoice::Utf8,
            (chosen, _) => chosen,
        };
        let (inner, decoder): (Box<dyn Read + Send>, FieldDecoder) = match choice {
            EncodingChoice::Utf16Le | EncodingChoice::Utf16Be => {
                let enc = if choice == EncodingChoice::Utf16Le {
                    UTF_16LE
                } else {
                    UTF_16BE
                };
                let transcoded = DecodeReaderBytesBuilder::new()
                    .encoding(Some(enc))
                    .bom_override(true)
                    .build(buffered);
                (Box::new(transcoded), FieldDecoder::Utf16)
            }
            other => {
                if bom == Some(EncodingChoice::Utf8) {
                    buffered.consume(3);
                }
                let decoder = if other == EncodingChoice::Windows1252 {
                    FieldDecoder::Windows1252
                } else {
                    FieldDecoder::Utf8
                };
                (Box::new(buffered), decoder)
            }
        };

        // Sniff on the decoded text so that UTF-16 input is seen as characters.
        let mut text = BufReader::with_capacity(1 << 16, inner);
        let sample = peek(&mut text).map_err(io_err)?;
        if sample.iter().all(|b| b.is_ascii_whitespace()) {
            return Err(SourceError::Empty {
                path: path.to_owned(),
            });
        }
        let delimiter = options
            .delimiter
            .unwrap_or_else(|| sniff_delimiter(&sample));
        let crlf = header_ends_with_crlf(&sample);

        let reader = csv::ReaderBuilder::new()
            .delimiter(delimiter)
            .has_headers(false)
            .flexible(true)
            .buffer_capacity(1 << 16)
            .from_reader(Box::new(text) as Box<dyn Read + Send>);
        let mut source = Source {
            path: path.to_owned(),
            reader,
            headers: Vec::new(),
            decoder,
            delimiter,
            next_row: 0,
            lookahead: None,
            crlf,
            header_end: 0,
            report: None,
        };
        source.read_header()?;
        match source.read_record()? {
            Some(first) => source.lookahead = Some(first),
            None => {
                return Err(SourceError::HeaderOnly {
                    path: path.to_owned(),
                });
            }
        }
        Ok(source)
    }

    fn read_header(&mut self) -> Result<(), SourceError> {
        let mut record = ByteRecord::new();
        let found = self
            .reader
            .read_byte_record(&mut record)
            .map_err(|e| self.csv_error(e))?;
        if !found {
            return Err(SourceError::Empty {
                path: self.path.clone(),
            });
        }
        let mut headers = Vec::with_capacity(record.len());
        // Trimmed name → column, so a header of 10^5 columns is checked in linear time.
        let mut seen: std::collections::HashMap<String, usize> =
            std::collections::HashMap::with_capacity(record.len());
        for (i, field) in record.iter().enumerate() {
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
        self.report = crate::report::readback::read_header(&mut headers);
        self.headers = headers;
        self.header_end = self.reader.position().byte();
        Ok(())
    }

    fn read_record(&mut self) -> Result<Option<RawRow>, SourceError> {
        let mut record = ByteRecord::new();
        let found = self
            .reader
            .read_byte_record(&mut record)
            .map_err(|e| self.csv_error(e))?;
        if !found {
            return Ok(None);
        }
        self.next_row += 1;
        let line = self.start_line(&record);
        if let Some(report) = &self.report {
            report.restore(&mut record);
        }
        Ok(Some(RawRow {
            row: self.next_row,
            line,
            record,
        }))
    }

    /// The physical line where `record`, just read, starts.
    ///
    /// The csv crate stamps a record with the position where its read began: before the
    /// blank lines it skips, and, in a CRLF file, before the `\n` of the previous line end
    /// (a CRLF record ends at its `\r`). So the start is worked back from the line where the
    /// read ended, less the line breaks inside quoted fields and the `\n` an LF record ends
    /// with. (A last record with no line end after blank lines, or a record whose line end
    /// differs from the header's, can still be off by one.)
    fn start_line(&self, record: &ByteRecord) -> u64 {
        let began = record.position().map_or(1, csv::Position::line) + u64::from(self.crlf);
        let ended = self.reader.position().line();
        let terminator = u64::from(!self.crlf);
        if ended <= began + terminator {
            // No blank line skipped and no line break inside the record: the common case.
            return began;
        }
        let inside = record.as_slice().iter().filter(|&&b| b == b'\n').count() as u64;
        ended.saturating_sub(inside + terminator).max(began)
    }

    fn csv_error(&self, err: csv::Error) -> SourceError {
        let source = match err.into_kind() {
            csv::ErrorKind::Io(e) => e,
            other => io::Error::other(format!("{other:?}")),
        };
        SourceError::Io {
            path: self.path.clone(),
            source,
        }
    }

    /// The next record, or `None` at the end of the file.
    pub fn next_row(&mut self) -> Result<Option<RawRow>, SourceError> {
        if let Some(row) = self.lookahead.take() {
            return Ok(Some(row));
        }
        self.read_record()
    }

    /// Reads the next record into `row`, reusing its buffers; `false` at the end of the file
    /// (`row` is then left as it was). The same records as [`Source::next_row`].
    pub fn next_row_into(&mut self, row: &mut RawRow) -> Result<bool, SourceError> {
        if let Some(first) = self.lookahead.take() {
            *row = first;
            return Ok(true);
        }
        let found = self
            .reader
            .read_byte_record(&mut row.record)
            .map_err(|e| self.csv_error(e))?;
        if !found {
            return Ok(false);
        }
        self.next_row += 1;
        row.row = self.next_row;
        row.line = self.start_line(&row.record);
        if let Some(report) = &self.report {
            report.restore(&mut row.record);
        }
        Ok(true)
    }

    /// An estimate of the data rows in the whole file, from the size of the rows read so far
    /// and the file's size; `None` before any row or when the size is unknown. Exact for a
    /// file read to its end; otherwise as good as the rows read so far are typical.
    pub fn estimate_rows(&self) -> Option<u64> {
        let len = std::fs::metadata(&self.path).ok()?.len();
        // The csv reader counts decoded bytes: for UTF-16 input, UTF-8 ones, about half as
        // many as the file holds for the ASCII that CSV files mostly are.
        let len = match self.decoder {
            FieldDecoder::Utf16 => len / 2,
            _ => len,
        };
        let read = self
            .reader
            .position()
            .byte()
            .saturating_sub(self.header_end);
        let rows = self.next_row;
        if rows == 0 || read == 0 {
            return None;
        }
        let rest = len.saturating_sub(self.header_end);
        Some((rest as f64 * rows as f64 / read as f64).ceil() as u64).map(|n| n.max(rows))
    }

    /// The header names, exactly as read.
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

    /// The delimiter in use.
    pub fn delimiter(&self) -> u8 {
        self.delimiter
    }

    /// Whether the input is a report of an earlier run, and its layout.
    pub fn report_layout(&self) -> Option<&crate::report::ReportLayout> {
        self.report.as_ref()
    }
}

/// The bytes the next read would return, without consuming them: one buffer fill, which
/// is enough for a BOM and, in practice, for the header line the delimiter is sniffed from.
fn peek<R: Read>(reader: &mut BufReader<R>) -> io::Result<Vec<u8>> {
    Ok(reader.fill_buf()?.to_vec())
}

/// The encoding announced by a byte-order mark at the start of `head`, if any.
fn detect_bom(head: &[u8]) -> Option<EncodingChoice> {
    if head.starts_with(&[0xEF, 0xBB, 0xBF]) {
        Some(EncodingChoice::Utf8)
    } else if head.starts_with(&[0xFF, 0xFE]) {
        Some(EncodingChoice::Utf16Le)
    } else if head.starts_with(&[0xFE, 0xFF]) {
        Some(EncodingChoice::Utf16Be)
    } else {
        None
    }
}

/// Whether the first line of `sample` (outside quotes) ends with `\r\n`.
fn header_ends_with_crlf(sample: &[u8]) -> bool {
    let mut in_quotes = false;
    for (i, &b) in sample.iter().enumerate() {
        match b {
            b'"' => in_quotes = !in_quotes,
            b'\r' if !in_quotes => return sample.get(i + 1) == Some(&b'\n'),
            b'\n' if !in_quotes => return false,
            _ => {}
        }
    }
    false
}

/// Picks the delimiter that occurs most often, outside quotes, in the first line of `sample`;
/// `,` when none occurs.
pub fn sniff_delimiter(sample: &[u8]) -> u8 {
    let mut counts = [0usize; DELIMITERS.len()];
    let mut in_quotes = false;
    for &b in sample {
        match b {
            b'"' => in_quotes = !in_quotes,
            b'\n' | b'\r' if !in_quotes => break,
            _ if !in_quotes => {
                if let Some(i) = DELIMITERS.iter().position(|&d| d == b) {
                    counts[i] += 1;
                }
            }
            _ => {}
        }
    }
    let mut best = 0;
    for i in 1..DELIMITERS.len() {
        if counts[i] > counts[best] {
            best = i;
        }
    }
    DELIMITERS[best]
}

/// Parses a `--delimiter` value: one ASCII character, or `tab` / `\t`.
pub fn parse_delimiter(s: &str) -> Result<u8, String> {
    match s {
        "tab" | "\\t" | "\t" | "TAB" => Ok(b'\t'),
        _ if s.len() == 1 && s.is_ascii() && s != "\"" => Ok(s.as_bytes()[0]),
        _ => Err(format!(
            "`{s}` is not a delimiter: give one character such as , ; | or the word tab"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sniffs_delimiters_outside_quotes() {
        #[track_caller]
        fn case(header: &str, expected: u8) {
            assert_eq!(
                sniff_delimiter(header.as_bytes()) as char,
                expected as char,
                "{header:?}"
            );
        }
        case("name,phone,email\n", b',');
        case("name;phone;email\r\n1,2;3;4", b';');
        case("name\tphone\temail", b'\t');
        case("name|phone|email", b'|');
        case("\"a;b\",phone,email", b',');
        case("\"a,b,c,d\";phone", b';');
        case("phone", b',');
        case("", b',');
    }

    #[test]
    fn parses_encodings_and_delimiters() {
        assert_eq!("UTF-8".parse(), Ok(EncodingChoice::Utf8));
        assert_eq!("latin-1".parse(), Ok(EncodingChoice::Windows1252));
        assert_eq!("cp1252".parse(), Ok(EncodingChoice::Windows1252));
        assert_eq!("utf-16".parse(), Ok(EncodingChoice::Utf16Le));
        assert!("ebcdic".parse::<EncodingChoice>().is_err());
        assert_eq!(parse_delimiter("tab"), Ok(b'\t'));
        assert_eq!(parse_delimiter(";"), Ok(b';'));
        assert!(parse_delimiter(";;").is_err());
    }

    #[test]
    fn decodes_fields() {
        assert_eq!(FieldDecoder::Utf8.decode("é".as_bytes()).unwrap(), "é");
        assert!(FieldDecoder::Utf8.decode(&[0x66, 0xE9]).is_err());
        assert_eq!(
            FieldDecoder::Windows1252.decode(&[0x66, 0xE9]).unwrap(),
            "fé"
        );
        assert!(FieldDecoder::Utf16.decode("a\u{FFFD}".as_bytes()).is_err());
    }

    #[test]
    fn decodes_records_field_by_field() {
        #[track_caller]
        fn case(fields: &[&[u8]], expected: Result<&[&str], usize>) {
            let record = ByteRecord::from(fields.to_vec());
            let mut out = vec![Cow::Borrowed("left over")];
            let got = FieldDecoder::Utf8.decode_record_into(&record, &mut out);
            assert_eq!(got, expected.map(|_| ()), "{fields:?}");
            if let Ok(texts) = expected {
                assert_eq!(out, texts);
                assert_eq!(
                    FieldDecoder::Utf8.decode_record(&record).unwrap(),
                    texts.to_vec()
                );
            } else {
                assert_eq!(
                    FieldDecoder::Utf8.decode_record(&record).unwrap_err().0,
                    expected.unwrap_err()
                );
            }
        }
        case(&[b"a", b"", "é".as_bytes(), b"b"], Ok(&["a", "", "é", "b"]));
        case(&[], Ok(&[]));
        // "é" is C3 A9: split over two fields, the whole is valid but neither field is.
        case(&[b"a", b"x\xC3", b"\xA9y"], Err(1));
        case(&[b"a", b"b", b"\xE9"], Err(2));
        case(&[b"\xFF", b"b"], Err(0));
    }
}
