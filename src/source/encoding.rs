//! Text encodings: the `--encoding` choice, the byte-order mark, the detection of
//! Windows-1252 files from a sample of their first bytes, and the per-field decoding the
//! validation workers do ([`FieldDecoder`]).

use std::borrow::Cow;
use std::str::FromStr;

use encoding_rs::WINDOWS_1252;

use super::record::Record;

/// The text encoding of the input, as given by `--encoding`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum EncodingChoice {
    /// Follow the byte-order mark; without one, UTF-8, or Windows-1252 when the start of
    /// the file is not UTF-8 but is Windows-1252.
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
    /// Fields are Windows-1252 (`--encoding`); every byte decodes.
    Windows1252,
    /// Fields are Windows-1252, as detected from the start of the file. A field that is
    /// valid UTF-8 with non-ASCII characters makes the row malformed: the file mixes
    /// encodings there, and reading it as Windows-1252 would turn `é` into `Ã©`.
    Windows1252Detected,
}

impl FieldDecoder {
    /// The encoding's name, for summaries.
    pub fn name(self) -> &'static str {
        match self {
            FieldDecoder::Utf8 => "utf-8",
            FieldDecoder::Utf16 => "utf-16",
            FieldDecoder::Windows1252 | FieldDecoder::Windows1252Detected => "windows-1252",
        }
    }

    /// Decodes one field. `Err` carries a lossy decoding, for the report.
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
            FieldDecoder::Windows1252Detected => {
                if bytes.is_ascii() {
                    // ASCII is the same in both, and valid UTF-8.
                    Ok(Cow::Borrowed(
                        std::str::from_utf8(bytes).unwrap_or_default(),
                    ))
                } else if let Ok(utf8) = std::str::from_utf8(bytes) {
                    Err(utf8.to_owned())
                } else {
                    Ok(WINDOWS_1252.decode_without_bom_handling(bytes).0)
                }
            }
        }
    }

    /// What is wrong with field `column` (1-based) on `line` when it does not decode, for
    /// the `malformed_row` message.
    pub fn problem(self, line: u64, column: usize) -> String {
        match self {
            FieldDecoder::Windows1252Detected => format!(
                "line {line}: column {column} is UTF-8 text, but the file was read as windows-1252 (its first bytes are not UTF-8): the file mixes encodings; pass --encoding utf-8 or --encoding windows-1252 to choose one"
            ),
            _ => format!(
                "line {line}: column {column} holds bytes that are not valid {}; pass --encoding if the file uses another one (utf-8, utf-16le, utf-16be, windows-1252)",
                self.name()
            ),
        }
    }

    /// Decodes every field of a record: `Ok` with the text of each, or `Err` with the
    /// 0-based index of the first undecodable field and a lossy decoding of all of them.
    pub fn decode_record<'a>(
        self,
        record: &'a Record,
    ) -> Result<Vec<Cow<'a, str>>, (usize, Vec<String>)> {
        let mut out = Vec::with_capacity(record.len());
        match self.decode_record_into(record, &mut out) {
            Ok(()) => Ok(out),
            Err(i) => Err((i, self.decode_lossy(record))),
        }
    }

    /// Decodes every field of a record into `out` (cleared first), as
    /// [`FieldDecoder::decode_record`] does without allocating a vector per record; `Err`
    /// with the 0-based index of the first undecodable field.
    pub fn decode_record_into<'a>(
        self,
        record: &'a Record,
        out: &mut Vec<Cow<'a, str>>,
    ) -> Result<(), usize> {
        out.clear();
        let whole = record.as_slice();
        let whole = match self {
            FieldDecoder::Utf8 => std::str::from_utf8(whole).ok(),
            // ASCII reads the same in both.
            FieldDecoder::Windows1252 | FieldDecoder::Windows1252Detected if whole.is_ascii() => {
                std::str::from_utf8(whole).ok()
            }
            _ => None,
        };
        if let Some(whole) = whole {
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

    /// Decodes every field of a [`Record`] or a `csv` crate record, replacing what cannot
    /// be decoded with U+FFFD.
    pub fn decode_lossy<R: Fields + ?Sized>(self, record: &R) -> Vec<String> {
        record
            .fields()
            .map(|f| match self.decode(f) {
                Ok(text) => text.into_owned(),
                Err(lossy) => lossy,
            })
            .collect()
    }
}

/// A record's fields as bytes: [`Record`] and `csv::ByteRecord`.
pub trait Fields {
    /// The fields in order.
    fn fields(&self) -> impl Iterator<Item = &[u8]>;
}

impl Fields for Record {
    fn fields(&self) -> impl Iterator<Item = &[u8]> {
        self.iter()
    }
}

impl Fields for csv::ByteRecord {
    fn fields(&self) -> impl Iterator<Item = &[u8]> {
        self.iter()
    }
}

/// Bytes from the start of the file (after a byte-order mark) that decide between UTF-8 and
/// Windows-1252 when the file has no byte-order mark.
pub const SAMPLE_BYTES: usize = 1 << 20;

/// Bytes Windows-1252 leaves undefined (Microsoft's table); a file holding them is not
/// Windows-1252 text.
const UNDEFINED_1252: [u8; 5] = [0x81, 0x8D, 0x8F, 0x90, 0x9D];

/// What the sample of a file without a byte-order mark says about its encoding.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Sniffed {
    /// The sample is UTF-8 (ASCII included).
    Utf8,
    /// The sample is not UTF-8, and every byte of it is Windows-1252.
    Windows1252 {
        /// The first byte that is not UTF-8.
        byte: u8,
        /// Its line (1-based, counting from the start of the sample).
        line: u64,
    },
    /// Neither: read as UTF-8, and rows that are not UTF-8 are rejected.
    Neither {
        /// The first byte that is not UTF-8.
        byte: u8,
        /// Its line.
        line: u64,
        /// A byte Windows-1252 does not define.
        undefined: u8,
    },
}

/// Decides the encoding of a file without a byte-order mark from `sample`, its first bytes
/// (`complete` when the sample is the whole file: a multi-byte character cut at the end of
/// an incomplete sample is not held against it).
pub fn sniff(sample: &[u8], complete: bool) -> Sniffed {
    let bad = match std::str::from_utf8(sample) {
        Ok(_) => return Sniffed::Utf8,
        Err(e) if e.error_len().is_none() && !complete => return Sniffed::Utf8,
        Err(e) => e.valid_up_to(),
    };
    let byte = sample[bad];
    let line = 1 + sample[..bad].iter().filter(|&&b| b == b'\n').count() as u64;
    match sample.iter().find(|b| UNDEFINED_1252.contains(b)) {
        None => Sniffed::Windows1252 { byte, line },
        Some(&undefined) => Sniffed::Neither {
            byte,
            line,
            undefined,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_encodings() {
        assert_eq!("UTF-8".parse(), Ok(EncodingChoice::Utf8));
        assert_eq!("latin-1".parse(), Ok(EncodingChoice::Windows1252));
        assert_eq!("cp1252".parse(), Ok(EncodingChoice::Windows1252));
        assert_eq!("utf-16".parse(), Ok(EncodingChoice::Utf16Le));
        assert!("ebcdic".parse::<EncodingChoice>().is_err());
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
        // Detected Windows-1252: a field that reads as UTF-8 is not silently turned into
        // mojibake; the explicit choice takes every byte as Windows-1252.
        let d = FieldDecoder::Windows1252Detected;
        assert_eq!(d.decode(b"M\xFCller").unwrap(), "Müller");
        assert_eq!(d.decode(b"\x80 5").unwrap(), "€ 5");
        assert_eq!(d.decode(b"plain").unwrap(), "plain");
        assert_eq!(d.decode("Müller".as_bytes()).unwrap_err(), "Müller");
        assert_eq!(
            FieldDecoder::Windows1252.decode("é".as_bytes()).unwrap(),
            "Ã©"
        );
    }

    #[test]
    fn decodes_records_field_by_field() {
        #[track_caller]
        fn case(decoder: FieldDecoder, fields: &[&[u8]], expected: Result<&[&str], usize>) {
            let record = Record::from(fields.to_vec());
            let mut out = vec![Cow::Borrowed("left over")];
            let got = decoder.decode_record_into(&record, &mut out);
            assert_eq!(got, expected.map(|_| ()), "{fields:?}");
            match expected {
                Ok(texts) => {
                    assert_eq!(out, texts);
                    assert_eq!(decoder.decode_record(&record).unwrap(), texts.to_vec());
                }
                Err(i) => assert_eq!(decoder.decode_record(&record).unwrap_err().0, i),
            }
        }
        let utf8 = FieldDecoder::Utf8;
        case(
            utf8,
            &[b"a", b"", "é".as_bytes(), b"b"],
            Ok(&["a", "", "é", "b"]),
        );
        case(utf8, &[], Ok(&[]));
        // "é" is C3 A9: split over two fields, the whole is valid but neither field is.
        case(utf8, &[b"a", b"x\xC3", b"\xA9y"], Err(1));
        case(utf8, &[b"a", b"b", b"\xE9"], Err(2));
        case(utf8, &[b"\xFF", b"b"], Err(0));
        let detected = FieldDecoder::Windows1252Detected;
        case(detected, &[b"a", b"b"], Ok(&["a", "b"]));
        case(detected, &[b"a", b"Jos\xE9"], Ok(&["a", "José"]));
        case(detected, &[b"Jos\xE9", "José".as_bytes()], Err(1));
        case(
            FieldDecoder::Windows1252,
            &[b"Jos\xE9", "José".as_bytes()],
            Ok(&["José", "JosÃ©"]),
        );
    }

    #[test]
    fn sniffs_windows_1252_from_the_sample() {
        assert_eq!(sniff(b"name,phone\nAda,1\n", true), Sniffed::Utf8);
        assert_eq!(sniff("name\nJosé\n".as_bytes(), true), Sniffed::Utf8);
        assert_eq!(
            sniff(b"name\nJos\xE9\n", true),
            Sniffed::Windows1252 {
                byte: 0xE9,
                line: 2
            }
        );
        // A character cut by the end of the sample is not a reason; at the end of the file
        // it is.
        let cut = &"name\nJosé".as_bytes()[..9];
        assert_eq!(sniff(cut, false), Sniffed::Utf8);
        assert!(matches!(sniff(cut, true), Sniffed::Windows1252 { .. }));
        assert_eq!(
            sniff(b"a\n\xE9\x81\n", true),
            Sniffed::Neither {
                byte: 0xE9,
                line: 2,
                undefined: 0x81
            }
        );
    }
}
