//! Opening an input: what kind of file it is (its first bytes decide: gzip, zstd, a ZIP or
//! OLE2 workbook, or text), the decompression, the encoding (byte-order mark, `--encoding`,
//! or detection from a sample of the start) and the delimiter.

use std::fs::File;
use std::io::{self, BufRead, BufReader, Cursor, Read};
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use encoding_rs::{UTF_16BE, UTF_16LE};
use encoding_rs_io::DecodeReaderBytesBuilder;

use super::csv::{CsvReader, Limits};
use super::encoding::{
    EncodingChoice, FieldDecoder, SAMPLE_BYTES, Sniffed, single_byte_reason, sniff,
};
use super::report::SourceReport;
use super::workbook::{Container, Workbook};
use super::{MAX_FIELDS, MAX_RECORD_BYTES, SourceError, SourceOptions};

/// The limits every header and record is read under.
pub(super) const LIMITS: Limits = Limits {
    bytes: MAX_RECORD_BYTES,
    fields: MAX_FIELDS,
    skip: true,
};

/// Where records come from.
// One per source: the unused space of the small variant costs nothing, a box would cost an
// indirection per record on the hot path.
#[allow(clippy::large_enum_variant)]
pub(super) enum Rows {
    /// A CSV stream (decompressed and transcoded as needed).
    Csv(CsvReader<BufReader<Box<dyn Read + Send>>>),
    /// A workbook's sheet.
    Sheet(Workbook),
}

/// An input opened, before its header is read.
pub(super) struct Opened {
    pub(super) rows: Rows,
    pub(super) decoder: FieldDecoder,
    pub(super) delimiter: Option<u8>,
    /// Sheet rows are padded to the header's width.
    pub(super) pad: bool,
    pub(super) counters: Counters,
    pub(super) report: SourceReport,
}

/// Bytes counted while reading, for the estimate of the rows in the file.
#[derive(Debug, Default)]
pub(super) struct Counters {
    file_len: Option<u64>,
    /// Bytes read from the file.
    raw: Arc<AtomicU64>,
    /// Bytes out of the decompressor.
    decoded: Arc<AtomicU64>,
    compressed: bool,
    /// Where the parser was at the end of the header.
    pub(super) header_end: u64,
}

impl Counters {
    /// The size of the stream the parser reads, estimated from the file's size.
    pub(super) fn stream_size(&self, decoder: FieldDecoder) -> Option<f64> {
        let len = self.file_len? as f64;
        let expansion = if self.compressed {
            let raw = self.raw.load(Ordering::Relaxed);
            if raw == 0 {
                return None;
            }
            self.decoded.load(Ordering::Relaxed) as f64 / raw as f64
        } else {
            1.0
        };
        // UTF-16 is read as UTF-8: about half the bytes for the ASCII CSV files mostly are.
        let transcoded = if decoder == FieldDecoder::Utf16 {
            0.5
        } else {
            1.0
        };
        Some(len * expansion * transcoded)
    }
}

/// A reader that counts the bytes through it.
struct Counting<R> {
    inner: R,
    count: Arc<AtomicU64>,
}

impl<R: Read> Read for Counting<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.count.fetch_add(n as u64, Ordering::Relaxed);
        Ok(n)
    }
}

/// What a file's first bytes say it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Magic {
    Gzip,
    Zstd,
    Zip,
    Ole,
    Text,
}

fn magic(head: &[u8]) -> Magic {
    if head.starts_with(&[0x1F, 0x8B]) {
        Magic::Gzip
    } else if head.starts_with(&[0x28, 0xB5, 0x2F, 0xFD]) {
        Magic::Zstd
    } else if head.starts_with(b"PK\x03\x04") {
        Magic::Zip
    } else if head.starts_with(&[0xD0, 0xCF, 0x11, 0xE0, 0xA1, 0xB1, 0x1A, 0xE1]) {
        Magic::Ole
    } else {
        Magic::Text
    }
}

/// Opens `path` as whatever it is.
pub(super) fn open(path: &Path, options: &SourceOptions) -> Result<Opened, SourceError> {
    let io_err = |source| SourceError::Io {
        path: path.to_owned(),
        source,
    };
    let file = File::open(path).map_err(io_err)?;
    let mut counters = Counters {
        file_len: file
            .metadata()
            .ok()
            .filter(|m| m.is_file())
            .map(|m| m.len()),
        ..Counters::default()
    };
    let mut input = BufReader::with_capacity(
        1 << 16,
        Counting {
            inner: file,
            count: Arc::clone(&counters.raw),
        },
    );
    let kind = magic(input.fill_buf().map_err(io_err)?);
    let (stream, compression): (Box<dyn Read + Send>, _) = match kind {
        Magic::Zip => return open_workbook(path, options, Container::Zip, counters),
        Magic::Ole => return open_workbook(path, options, Container::Ole, counters),
        Magic::Gzip => (
            Box::new(flate2::bufread::MultiGzDecoder::new(input)),
            Some("gzip"),
        ),
        Magic::Zstd => (
            Box::new(zstd::Decoder::with_buffer(input).map_err(io_err)?),
            Some("zstd"),
        ),
        Magic::Text => (Box::new(input), None),
    };
    counters.compressed = compression.is_some();
    let mut stream = Counting {
        inner: stream,
        count: Arc::clone(&counters.decoded),
    };
    let mut sample = Vec::with_capacity(1 << 16);
    (&mut stream)
        .take(SAMPLE_BYTES as u64)
        .read_to_end(&mut sample)
        .map_err(io_err)?;
    let complete = sample.len() < SAMPLE_BYTES;
    if compression.is_some() && magic(&sample) != Magic::Text {
        return Err(SourceError::Unsupported {
            path: path.to_owned(),
            message: "a compressed workbook or archive is not read: decompress it first".into(),
        });
    }
    refuse_markup(path, &sample)?;
    let text = TextSetup::choose(&sample, complete, options.encoding);
    let (reader, decoder, shown) = text_reader(sample, Box::new(stream), &text);
    if shown.iter().all(u8::is_ascii_whitespace) {
        return Err(SourceError::Empty {
            path: path.to_owned(),
        });
    }
    let delimiter = options.delimiter.unwrap_or_else(|| sniff_delimiter(&shown));
    let ignored_flags = options
        .sheet
        .as_ref()
        .map(|_| {
            "--sheet applies to workbooks (.xlsx, .xlsm, .xlsb, .xls, .ods), and this is a CSV file: ignored".to_owned()
        })
        .into_iter()
        .collect();
    let report = SourceReport {
        format: "csv",
        compression,
        ignored_flags,
        encoding: decoder.name(),
        encoding_detected: text.detected,
        encoding_reason: text.reason,
        notice_encoding: text.notice,
        delimiter: Some(char::from(delimiter).to_string()),
        ..SourceReport::default()
    };
    Ok(Opened {
        rows: Rows::Csv(CsvReader::new(
            BufReader::with_capacity(1 << 16, reader),
            delimiter,
        )),
        decoder,
        delimiter: Some(delimiter),
        pad: false,
        counters,
        report,
    })
}

/// The text of a CSV file as UTF-8 bytes for the CSV reader (UTF-16 transcoded, a UTF-8
/// byte-order mark skipped; single-byte code pages are decoded field by field), the
/// decoder for its fields, and its start (`sample`) as text for sniffing.
fn text_reader(
    sample: Vec<u8>,
    rest: Box<dyn Read + Send>,
    text: &TextSetup,
) -> (Box<dyn Read + Send>, FieldDecoder, Vec<u8>) {
    match text.choice {
        EncodingChoice::Utf16Le | EncodingChoice::Utf16Be => {
            let enc = if text.choice == EncodingChoice::Utf16Le {
                UTF_16LE
            } else {
                UTF_16BE
            };
            let shown = enc.decode(&sample).0.into_owned().into_bytes();
            let transcoded = DecodeReaderBytesBuilder::new()
                .encoding(Some(enc))
                .bom_override(true)
                .build(Cursor::new(sample).chain(rest));
            (Box::new(transcoded), FieldDecoder::Utf16, shown)
        }
        other => {
            let skip = if sample.starts_with(&[0xEF, 0xBB, 0xBF]) {
                3
            } else {
                0
            };
            let shown = sample[skip..].to_vec();
            let mut head = Cursor::new(sample);
            head.set_position(skip as u64);
            let decoder = match other {
                EncodingChoice::SingleByte(e) if text.detected_single_byte => {
                    FieldDecoder::Detected(e)
                }
                EncodingChoice::SingleByte(e) => FieldDecoder::SingleByte(e),
                _ => FieldDecoder::Utf8,
            };
            (Box::new(head.chain(rest)), decoder, shown)
        }
    }
}

/// The encoding to read with, and why.
struct TextSetup {
    choice: EncodingChoice,
    /// A single-byte encoding found by the detection.
    detected_single_byte: bool,
    /// Chosen from the content (no `--encoding`, no byte-order mark).
    detected: bool,
    /// The detection says something a person should see.
    notice: bool,
    reason: String,
}

impl TextSetup {
    fn choose(sample: &[u8], complete: bool, asked: EncodingChoice) -> TextSetup {
        let bom = detect_bom(sample);
        let plain = |choice, reason: String| TextSetup {
            choice,
            detected_single_byte: false,
            detected: false,
            notice: false,
            reason,
        };
        match (asked, bom) {
            (EncodingChoice::Auto, Some((choice, name))) => {
                plain(choice, format!("{name} byte-order mark"))
            }
            (EncodingChoice::Auto, None) => TextSetup::detect(sample, complete),
            (choice, _) => plain(choice, "--encoding".into()),
        }
    }

    fn detect(sample: &[u8], complete: bool) -> TextSetup {
        let extent = if complete {
            "the whole file".to_owned()
        } else {
            format!("its first {} bytes", sample.len())
        };
        let sniffed = sniff(sample, complete);
        let reason = single_byte_reason(&sniffed, &extent);
        let (choice, single, notice) = match sniffed {
            Sniffed::Utf8 => (EncodingChoice::Utf8, false, false),
            Sniffed::SingleByte { encoding, .. } => {
                (EncodingChoice::SingleByte(encoding), true, true)
            }
            Sniffed::Neither { .. } => (EncodingChoice::Utf8, false, true),
        };
        TextSetup {
            choice,
            detected_single_byte: single,
            detected: true,
            notice,
            reason,
        }
    }
}

/// The encoding a byte-order mark at the start of `head` announces, and its name.
fn detect_bom(head: &[u8]) -> Option<(EncodingChoice, &'static str)> {
    if head.starts_with(&[0xEF, 0xBB, 0xBF]) {
        Some((EncodingChoice::Utf8, "UTF-8"))
    } else if head.starts_with(&[0xFF, 0xFE]) {
        Some((EncodingChoice::Utf16Le, "UTF-16LE"))
    } else if head.starts_with(&[0xFE, 0xFF]) {
        Some((EncodingChoice::Utf16Be, "UTF-16BE"))
    } else {
        None
    }
}

/// Refuses an HTML or XML document (what some systems save as an "Excel" export).
fn refuse_markup(path: &Path, sample: &[u8]) -> Result<(), SourceError> {
    let start = sample.strip_prefix(&[0xEF, 0xBB, 0xBF]).unwrap_or(sample);
    let start = start.trim_ascii_start();
    let head: Vec<u8> = start.iter().take(16).map(u8::to_ascii_lowercase).collect();
    let markup = ["<?xml", "<html", "<!doctype", "<table"]
        .iter()
        .any(|m| head.starts_with(m.as_bytes()));
    if markup {
        return Err(SourceError::Unsupported {
            path: path.to_owned(),
            message: "this is an HTML or XML document, not a CSV file or a workbook (some systems save their \"Excel\" exports so): open it in a spreadsheet and save it as .xlsx or .csv".into(),
        });
    }
    Ok(())
}

/// Opens a workbook; `--encoding` and `--delimiter` do not apply to one (ignored, and said:
/// they may come from a configuration file meant for CSV files).
fn open_workbook(
    path: &Path,
    options: &SourceOptions,
    container: Container,
    counters: Counters,
) -> Result<Opened, SourceError> {
    let mut ignored_flags = Vec::new();
    if options.encoding != EncodingChoice::Auto {
        ignored_flags.push(
            "--encoding applies to CSV files, and this is a workbook (its cells are text already): ignored"
                .to_owned(),
        );
    }
    if options.delimiter.is_some() {
        ignored_flags
            .push("--delimiter applies to CSV files, and this is a workbook: ignored".to_owned());
    }
    let book = Workbook::open(path, container, options.sheet.as_deref(), LIMITS)?;
    let report = SourceReport {
        format: book.format,
        sheet: Some(book.sheet.clone()),
        sheets: book.sheets.clone(),
        encoding: "utf-8",
        encoding_reason: "a workbook's cells are text: no encoding to choose".into(),
        ignored_flags,
        ..SourceReport::default()
    };
    Ok(Opened {
        rows: Rows::Sheet(book),
        decoder: FieldDecoder::Utf8,
        delimiter: None,
        pad: true,
        counters,
        report,
    })
}

/// The delimiters that can be sniffed, in order of preference on a tie.
const DELIMITERS: [u8; 4] = [b',', b';', b'\t', b'|'];

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
    fn parses_delimiters() {
        assert_eq!(parse_delimiter("tab"), Ok(b'\t'));
        assert_eq!(parse_delimiter(";"), Ok(b';'));
        assert!(parse_delimiter(";;").is_err());
    }

    #[test]
    fn kinds_of_file_by_their_first_bytes() {
        assert_eq!(magic(&[0x1F, 0x8B, 8, 0]), Magic::Gzip);
        assert_eq!(magic(&[0x28, 0xB5, 0x2F, 0xFD, 0]), Magic::Zstd);
        assert_eq!(magic(b"PK\x03\x04rest"), Magic::Zip);
        assert_eq!(
            magic(&[0xD0, 0xCF, 0x11, 0xE0, 0xA1, 0xB1, 0x1A, 0xE1]),
            Magic::Ole
        );
        assert_eq!(magic(b"name,phone\n"), Magic::Text);
        assert_eq!(magic(b"PK"), Magic::Text);
    }

    #[test]
    fn encodings_chosen_and_why() {
        let t = TextSetup::choose(b"\xEF\xBB\xBFa,b\n", true, EncodingChoice::Auto);
        assert_eq!((t.choice, t.detected), (EncodingChoice::Utf8, false));
        assert_eq!(t.reason, "UTF-8 byte-order mark");
        let t = TextSetup::choose(b"a,b\nJos\xE9,1\n", true, EncodingChoice::Auto);
        assert!(t.detected_single_byte && t.detected && t.notice);
        assert_eq!(t.choice, EncodingChoice::WINDOWS_1252);
        assert!(t.reason.contains("byte 0xE9 on line 2"), "{}", t.reason);
        assert!(t.reason.contains("the whole file"), "{}", t.reason);
        let t = TextSetup::choose(b"a,b\n", false, EncodingChoice::Auto);
        assert!(
            t.reason.contains("its first 4 bytes is UTF-8"),
            "{}",
            t.reason
        );
        let t = TextSetup::choose(b"a,b\nJos\xE9,1\n", true, EncodingChoice::Utf8);
        assert_eq!(
            (t.choice, t.detected_single_byte),
            (EncodingChoice::Utf8, false)
        );
        assert_eq!(t.reason, "--encoding");
        let t = TextSetup::choose(b"\xFF\xFEa\0", true, EncodingChoice::Auto);
        assert_eq!(t.choice, EncodingChoice::Utf16Le);
    }
}
