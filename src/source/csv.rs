//! The CSV record reader: `csv_core`'s parser over a buffered byte stream, writing each
//! record straight into a reused [`Record`], with its physical lines, and a size limit
//! enforced while the record is read (an outsized record is skipped in constant memory).

use std::io::{self, BufRead};

use csv_core::ReadRecordResult;

use super::record::Record;

/// What one read found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Read {
    /// A record, from its first to its last physical line.
    Record {
        /// Line where it starts (1-based).
        start: u64,
        /// Line where it ends.
        end: u64,
    },
    /// A record larger than the limits: only its first fields are kept in the record, the
    /// rest was read and dropped.
    TooLarge {
        /// Line where it starts.
        start: u64,
        /// Line where it ends.
        end: u64,
        /// Bytes of the record in the stream (quotes and delimiters included).
        bytes: u64,
    },
    /// The end of the input.
    End,
}

/// Limits on one record.
#[derive(Debug, Clone, Copy)]
pub(super) struct Limits {
    /// Bytes of fields.
    pub(super) bytes: usize,
    /// Fields.
    pub(super) fields: usize,
    /// Read past an outsized record to its end (a data row), or stop at the limit (a header:
    /// the file is refused, and a file with no line end, like `/dev/zero`, never ends).
    pub(super) skip: bool,
}

/// What is kept of an outsized record, for the report.
const KEEP_BYTES: usize = 64 * 1024;
const KEEP_FIELDS: usize = 1024;

/// A CSV parser over `R`.
pub(super) struct CsvReader<R> {
    input: R,
    core: csv_core::Reader,
    /// The last byte consumed, to tell where the previous record's line ended.
    last_byte: u8,
    /// Bytes consumed so far.
    consumed: u64,
    done: bool,
}

impl<R: BufRead> CsvReader<R> {
    /// A reader of `delimiter`-separated records with `"` quotes (doubled inside quotes),
    /// CRLF or LF line ends, like the `csv` crate's default.
    pub(super) fn new(input: R, delimiter: u8) -> CsvReader<R> {
        CsvReader {
            input,
            core: csv_core::ReaderBuilder::new().delimiter(delimiter).build(),
            last_byte: b'\n',
            consumed: 0,
            done: false,
        }
    }

    /// Bytes of the stream consumed so far.
    pub(super) fn consumed(&self) -> u64 {
        self.consumed
    }

    /// Reads the next record into `record` (cleared first).
    pub(super) fn read(&mut self, record: &mut Record, limits: Limits) -> io::Result<Read> {
        record.clear();
        if self.done {
            return Ok(Read::End);
        }
        // A CRLF record ends at its `\r`; the `\n` is read with the next record.
        let guess = self.core.line() + u64::from(self.last_byte == b'\r');
        let began = self.consumed;
        let (mut out, mut nends) = (0usize, 0usize);
        loop {
            let (bytes, ends) = record.buffers();
            if bytes.is_empty() {
                bytes.resize(256, 0);
            }
            if ends.is_empty() {
                ends.resize(16, 0);
            }
            let input = self.input.fill_buf()?;
            let (result, nin, nout, nend) =
                self.core
                    .read_record(input, &mut bytes[out..], &mut ends[nends..]);
            if nin > 0 {
                self.last_byte = input[nin - 1];
            }
            self.input.consume(nin);
            self.consumed += nin as u64;
            out += nout;
            nends += nend;
            match result {
                ReadRecordResult::InputEmpty => {}
                ReadRecordResult::OutputFull => {
                    if bytes.len() >= limits.bytes {
                        record.set_len(nends);
                        return self.outsized(record, out, guess, began, limits.skip);
                    }
                    let grown = (bytes.len() * 2).min(limits.bytes);
                    bytes.resize(grown, 0);
                }
                ReadRecordResult::OutputEndsFull => {
                    if ends.len() >= limits.fields {
                        record.set_len(nends);
                        return self.outsized(record, out, guess, began, limits.skip);
                    }
                    let grown = (ends.len() * 2).min(limits.fields);
                    ends.resize(grown, 0);
                }
                ReadRecordResult::Record => {
                    record.set_len(nends);
                    let (start, end) = self.lines(record, guess);
                    return Ok(Read::Record { start, end });
                }
                ReadRecordResult::End => {
                    self.done = true;
                    return Ok(Read::End);
                }
            }
        }
    }

    /// The lines a record just read spans.
    fn lines(&self, record: &Record, guess: u64) -> (u64, u64) {
        let end = self.core.line() - u64::from(self.last_byte == b'\n');
        if end <= guess {
            // One line, and no blank line skipped before it: the common case.
            return (end, end);
        }
        // Line breaks inside quoted fields, or blank lines skipped before the record.
        let inside = record.as_slice().iter().filter(|&&b| b == b'\n').count() as u64;
        (end.saturating_sub(inside).max(guess.min(end)), end)
    }

    /// An outsized record: skipped to its end when `skip`, else left where the limit was
    /// reached (the reader is then done).
    fn outsized(
        &mut self,
        record: &mut Record,
        out: usize,
        guess: u64,
        began: u64,
        skip: bool,
    ) -> io::Result<Read> {
        if skip {
            return self.skip_rest(record, out, guess, began);
        }
        self.done = true;
        record.shrink(KEEP_BYTES, KEEP_FIELDS);
        let start = guess.max(1);
        Ok(Read::TooLarge {
            start,
            end: start,
            bytes: self.consumed - began,
        })
    }

    /// Reads the rest of an outsized record without keeping it; `record` keeps its first
    /// fields (at most [`KEEP_BYTES`] and [`KEEP_FIELDS`]) and gives its memory back.
    /// `out` is how many field bytes were written so far.
    fn skip_rest(
        &mut self,
        record: &mut Record,
        out: usize,
        guess: u64,
        began: u64,
    ) -> io::Result<Read> {
        let written = &record.buffers().0[..out];
        let mut newlines = written.iter().filter(|&&b| b == b'\n').count() as u64;
        record.shrink(KEEP_BYTES, KEEP_FIELDS);
        let mut scratch = vec![0u8; 1 << 16];
        let mut scratch_ends = vec![0usize; 1 << 10];
        loop {
            let input = self.input.fill_buf()?;
            let (result, nin, nout, _) =
                self.core
                    .read_record(input, &mut scratch, &mut scratch_ends);
            if nin > 0 {
                self.last_byte = input[nin - 1];
            }
            newlines += scratch[..nout].iter().filter(|&&b| b == b'\n').count() as u64;
            self.input.consume(nin);
            self.consumed += nin as u64;
            match result {
                ReadRecordResult::Record | ReadRecordResult::End => {
                    if result == ReadRecordResult::End {
                        self.done = true;
                    }
                    let end = self.core.line() - u64::from(self.last_byte == b'\n');
                    return Ok(Read::TooLarge {
                        start: end.saturating_sub(newlines).max(guess.min(end)),
                        end,
                        bytes: self.consumed - began,
                    });
                }
                _ => {}
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIMITS: Limits = Limits {
        bytes: 1 << 20,
        fields: 1 << 16,
        skip: true,
    };

    fn read_all(text: &[u8], limits: Limits) -> Vec<(Read, Vec<String>)> {
        let mut reader = CsvReader::new(text, b',');
        let mut record = Record::new();
        let mut out = Vec::new();
        loop {
            let read = reader.read(&mut record, limits).unwrap();
            if read == Read::End {
                return out;
            }
            let fields = record
                .iter()
                .map(|f| String::from_utf8_lossy(f).into_owned())
                .collect();
            out.push((read, fields));
        }
    }

    fn lines(text: &str) -> Vec<(u64, u64)> {
        read_all(text.as_bytes(), LIMITS)
            .into_iter()
            .map(|(read, _)| match read {
                Read::Record { start, end } => (start, end),
                other => panic!("{other:?}"),
            })
            .collect()
    }

    #[test]
    fn parses_like_the_csv_crate() {
        let text =
            "a,b,c\n\"x,1\",\"say \"\"hi\"\"\",\n,,\n\"multi\nline\",2,3\r\nlast,,no-newline";
        let ours: Vec<Vec<String>> = read_all(text.as_bytes(), LIMITS)
            .into_iter()
            .map(|(_, f)| f)
            .collect();
        let theirs: Vec<Vec<String>> = csv::ReaderBuilder::new()
            .has_headers(false)
            .flexible(true)
            .from_reader(text.as_bytes())
            .records()
            .map(|r| r.unwrap().iter().map(str::to_owned).collect())
            .collect();
        assert_eq!(ours, theirs);
    }

    #[test]
    fn physical_lines_of_each_record() {
        assert_eq!(lines("a,b\n1,2\n3,4\n"), [(1, 1), (2, 2), (3, 3)]);
        assert_eq!(lines("a,b\r\n1,2\r\n3,4\r\n"), [(1, 1), (2, 2), (3, 3)]);
        assert_eq!(lines("a,b\n\n\n1,2\n"), [(1, 1), (4, 4)]);
        assert_eq!(lines("a,b\r\n\r\n1,2\r\n"), [(1, 1), (3, 3)]);
        assert_eq!(lines("a,b\n\"x\ny\nz\",2\n3,4"), [(1, 1), (2, 4), (5, 5)]);
        assert_eq!(
            lines("a,b\r\n\"x\r\ny\",2\r\n\r\n3,4\r\n"),
            [(1, 1), (2, 3), (5, 5)]
        );
        assert_eq!(lines("\n\na,b\n1,2"), [(3, 3), (4, 4)]);
    }

    #[test]
    fn outsized_records_are_skipped_in_bounded_memory() {
        let limits = Limits {
            bytes: 4096,
            fields: 64,
            skip: true,
        };
        let big = "x".repeat(100_000);
        let text = format!("a,b\n1,{big}\n2,3\n\"open,{big}\n{big}\",4\n5,6\n");
        let read = read_all(text.as_bytes(), limits);
        assert_eq!(read.len(), 5);
        assert_eq!(read[0].0, Read::Record { start: 1, end: 1 });
        assert!(
            matches!(read[1].0, Read::TooLarge { start: 2, end: 2, bytes } if bytes == 100_003),
            "{:?}",
            read[1].0
        );
        assert_eq!(
            read[1].1,
            ["1"],
            "the complete fields before the limit are kept"
        );
        assert_eq!(
            read[2],
            (
                Read::Record { start: 3, end: 3 },
                vec!["2".into(), "3".into()]
            )
        );
        assert!(
            matches!(
                read[3].0,
                Read::TooLarge {
                    start: 4,
                    end: 5,
                    ..
                }
            ),
            "{:?}",
            read[3].0
        );
        assert_eq!(read[4].0, Read::Record { start: 6, end: 6 });

        let commas = format!("a\n{}\nz\n", ",".repeat(10_000));
        let read = read_all(commas.as_bytes(), limits);
        assert!(matches!(
            read[1].0,
            Read::TooLarge {
                start: 2,
                end: 2,
                ..
            }
        ));
        assert!(read[1].1.len() <= 64);
        assert_eq!(read[2].1, ["z"]);
    }

    #[test]
    fn the_record_keeps_its_buffers() {
        let mut reader = CsvReader::new(&b"aaaa,bbbb\ncc,dd\n"[..], b',');
        let mut record = Record::new();
        reader.read(&mut record, LIMITS).unwrap();
        reader.read(&mut record, LIMITS).unwrap();
        assert_eq!(record.iter().collect::<Vec<_>>(), [b"cc", b"dd"]);
        assert_eq!(reader.read(&mut record, LIMITS).unwrap(), Read::End);
        assert_eq!(reader.read(&mut record, LIMITS).unwrap(), Read::End);
        assert_eq!(reader.consumed(), 16);
    }
}
