//! Text encodings: the `--encoding` choice, the byte-order mark, the detection of legacy
//! single-byte encodings (Windows-1252, Windows-1250, …) from a sample of the file's first
//! bytes with Firefox's detector (`chardetng`), and the per-field decoding the validation
//! workers do ([`FieldDecoder`]).

use std::borrow::Cow;
use std::str::FromStr;

use chardetng::{EncodingDetector, Iso2022JpDetection, Utf8Detection};
use encoding_rs::{
    Encoding, ISO_8859_2, ISO_8859_15, WINDOWS_874, WINDOWS_1250, WINDOWS_1251, WINDOWS_1252,
    WINDOWS_1253, WINDOWS_1254, WINDOWS_1255, WINDOWS_1256, WINDOWS_1257, WINDOWS_1258,
};

use super::record::Record;

/// The legacy encodings a file without a byte-order mark that is not UTF-8 may be read in:
/// the single-byte code pages spreadsheets and CRMs write ("ANSI" CSV: Windows-874 and
/// 1250 to 1258; ISO-8859-2 and -15 from older systems; ISO-8859-1 is Windows-1252), each
/// with the scripts it is for. Multi-byte encodings (Shift_JIS, GBK…) are never guessed.
pub const SINGLE_BYTE: [(&Encoding, &str); 12] = [
    (WINDOWS_1252, "Western European"),
    (WINDOWS_1250, "Central European"),
    (WINDOWS_1251, "Cyrillic"),
    (WINDOWS_1253, "Greek"),
    (WINDOWS_1254, "Turkish"),
    (WINDOWS_1255, "Hebrew"),
    (WINDOWS_1256, "Arabic"),
    (WINDOWS_1257, "Baltic"),
    (WINDOWS_1258, "Vietnamese"),
    (WINDOWS_874, "Thai"),
    (ISO_8859_2, "Central European"),
    (ISO_8859_15, "Western European"),
];

/// The scripts a single-byte encoding of [`SINGLE_BYTE`] is for.
fn script(encoding: &'static Encoding) -> &'static str {
    SINGLE_BYTE
        .iter()
        .find(|(e, _)| *e == encoding)
        .map_or("", |(_, s)| s)
}

/// The text encoding of the input, as given by `--encoding`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum EncodingChoice {
    /// Follow the byte-order mark; without one, UTF-8, or the single-byte encoding the
    /// detector finds when the start of the file is not UTF-8.
    #[default]
    Auto,
    /// UTF-8 (a BOM is skipped).
    Utf8,
    /// UTF-16 little endian (a BOM is skipped).
    Utf16Le,
    /// UTF-16 big endian (a BOM is skipped).
    Utf16Be,
    /// A single-byte encoding of [`SINGLE_BYTE`] (`windows-1252`, which is also what files
    /// labelled Latin-1 / ISO-8859-1 hold in practice, `windows-1250`, …).
    SingleByte(&'static Encoding),
}

impl EncodingChoice {
    /// Windows-1252 (Latin-1).
    pub const WINDOWS_1252: EncodingChoice = EncodingChoice::SingleByte(WINDOWS_1252);
}

impl FromStr for EncodingChoice {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let norm: String = s
            .chars()
            .filter(|c| c.is_ascii_alphanumeric())
            .collect::<String>()
            .to_ascii_lowercase();
        let single = |label: &str| {
            Encoding::for_label(label.as_bytes())
                .filter(|e| SINGLE_BYTE.iter().any(|(known, _)| known == e))
        };
        Ok(match norm.as_str() {
            "auto" => EncodingChoice::Auto,
            "utf8" => EncodingChoice::Utf8,
            "utf16" | "utf16le" => EncodingChoice::Utf16Le,
            "utf16be" => EncodingChoice::Utf16Be,
            "latin1" | "iso88591" | "ansi" => EncodingChoice::WINDOWS_1252,
            "latin2" | "iso88592" => EncodingChoice::SingleByte(ISO_8859_2),
            _ => match norm
                .strip_prefix("windows")
                .or_else(|| norm.strip_prefix("cp"))
                .and_then(|page| single(&format!("windows-{page}")))
                .or_else(|| single(s.trim()))
            {
                Some(encoding) => EncodingChoice::SingleByte(encoding),
                None => {
                    return Err(format!(
                        "unknown encoding `{s}`: use auto, utf-8, utf-16le, utf-16be, or a single-byte code page: windows-1252 (latin-1), windows-1250 … windows-1258, windows-874, iso-8859-2, iso-8859-15"
                    ));
                }
            },
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
    /// Fields are in a single-byte encoding given by `--encoding`; every byte decodes.
    SingleByte(&'static Encoding),
    /// Fields are in a single-byte encoding detected from the start of the file. A field
    /// that is valid UTF-8 with non-ASCII characters makes the row malformed: the file
    /// mixes encodings there, and reading it as Windows-1252 would turn `é` into `Ã©`.
    Detected(&'static Encoding),
}

impl FieldDecoder {
    /// The encoding's name, for summaries (`utf-8`, `windows-1250`, `ISO-8859-2`).
    pub fn name(self) -> &'static str {
        match self {
            FieldDecoder::Utf8 => "utf-8",
            FieldDecoder::Utf16 => "utf-16",
            FieldDecoder::SingleByte(e) | FieldDecoder::Detected(e) => e.name(),
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
            FieldDecoder::SingleByte(e) => Ok(e.decode_without_bom_handling(bytes).0),
            FieldDecoder::Detected(e) => {
                if bytes.is_ascii() {
                    // ASCII is the same in both, and valid UTF-8.
                    Ok(Cow::Borrowed(
                        std::str::from_utf8(bytes).unwrap_or_default(),
                    ))
                } else if let Ok(utf8) = std::str::from_utf8(bytes) {
                    Err(utf8.to_owned())
                } else {
                    Ok(e.decode_without_bom_handling(bytes).0)
                }
            }
        }
    }

    /// What is wrong with field `column` (1-based) on `line` when it does not decode, for
    /// the `malformed_row` message.
    pub fn problem(self, line: u64, column: usize) -> String {
        match self {
            FieldDecoder::Detected(e) => format!(
                "line {line}: column {column} is UTF-8 text, but the file was read as {} (its first bytes are not UTF-8): the file mixes encodings; pass --encoding utf-8 or --encoding {} to choose one",
                e.name(),
                e.name().to_ascii_lowercase()
            ),
            _ => format!(
                "line {line}: column {column} holds bytes that are not valid {}; pass --encoding if the file uses another one (utf-8, utf-16le, utf-16be, windows-1252, windows-1250, …)",
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
            // ASCII reads the same in every single-byte encoding here.
            FieldDecoder::SingleByte(_) | FieldDecoder::Detected(_) if whole.is_ascii() => {
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
/// a legacy encoding when the file has no byte-order mark.
pub const SAMPLE_BYTES: usize = 1 << 20;

/// The first byte of `sample` that `encoding` does not define as a character: one it cannot
/// decode, or one Microsoft's table leaves undefined (the WHATWG tables map those to C1
/// control characters, `0x81` → U+0081, which no text holds).
fn undefined_byte(encoding: &'static Encoding, sample: &[u8]) -> Option<u8> {
    let mut decoder = encoding.new_decoder_without_bom_handling();
    let mut out = [0u16; 1];
    for &b in sample.iter().filter(|b| !b.is_ascii()) {
        let (result, _, _) = decoder.decode_to_utf16_without_replacement(&[b], &mut out, false);
        let defined = matches!(result, encoding_rs::DecoderResult::InputEmpty)
            && !(0x80..=0x9F).contains(&out[0]);
        if !defined {
            return Some(b);
        }
    }
    None
}

/// Non-ASCII bytes the sample must hold for the detector's guess to be taken over
/// Windows-1252: on a word or two (or a few stray bytes) any code page can look right.
pub(super) const MIN_EVIDENCE: usize = 8;

/// What the sample of a file without a byte-order mark says about its encoding.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Sniffed {
    /// The sample is UTF-8 (ASCII included).
    Utf8,
    /// The sample is not UTF-8; it is text in a single-byte encoding of [`SINGLE_BYTE`],
    /// every byte of it defined there.
    SingleByte {
        /// The encoding.
        encoding: &'static Encoding,
        /// The first byte that is not UTF-8.
        byte: u8,
        /// Its line (1-based, counting from the start of the sample).
        line: u64,
        /// The detector's guess when it was not taken, and why: Windows-1252 was taken
        /// instead.
        refused: Option<(&'static Encoding, &'static str)>,
    },
    /// Neither: read as UTF-8, and rows that are not UTF-8 are rejected.
    Neither {
        /// The first byte that is not UTF-8.
        byte: u8,
        /// Its line.
        line: u64,
        /// A byte Windows-1252 does not define.
        undefined: u8,
        /// The detector's guess, and why it was not taken.
        refused: (&'static Encoding, &'static str),
    },
}

/// Decides the encoding of a file without a byte-order mark from `sample`, its first bytes
/// (`complete` when the sample is the whole file: a multi-byte character cut at the end of
/// an incomplete sample is not held against it). A sample that is not UTF-8 goes to the
/// detector (`chardetng`, Firefox's), whose guess is taken when it is a single-byte encoding
/// of [`SINGLE_BYTE`], every byte of the sample is defined in it, and the sample holds at
/// least 8 non-ASCII bytes (`MIN_EVIDENCE`); otherwise Windows-1252 when every byte is defined
/// there, otherwise neither.
pub fn sniff(sample: &[u8], complete: bool) -> Sniffed {
    let bad = match std::str::from_utf8(sample) {
        Ok(_) => return Sniffed::Utf8,
        Err(e) if e.error_len().is_none() && !complete => return Sniffed::Utf8,
        Err(e) => e.valid_up_to(),
    };
    let byte = sample[bad];
    let line = 1 + sample[..bad].iter().filter(|&&b| b == b'\n').count() as u64;
    let mut detector = EncodingDetector::new(Iso2022JpDetection::Deny);
    detector.feed(sample, complete);
    let guess = detector.guess(None, Utf8Detection::Deny);
    let non_ascii = sample.iter().filter(|b| !b.is_ascii()).count();
    let why_not = if !SINGLE_BYTE.iter().any(|(e, _)| *e == guess) {
        Some("not a single-byte encoding spreadsheets write")
    } else if undefined_byte(guess, sample).is_some() {
        Some("some bytes are not defined in it")
    } else if guess != WINDOWS_1252 && non_ascii < MIN_EVIDENCE {
        Some("too few non-ASCII bytes to tell code pages apart")
    } else {
        None
    };
    let Some(why) = why_not else {
        return Sniffed::SingleByte {
            encoding: guess,
            byte,
            line,
            refused: None,
        };
    };
    match undefined_byte(WINDOWS_1252, sample) {
        None => Sniffed::SingleByte {
            encoding: WINDOWS_1252,
            byte,
            line,
            refused: Some((guess, why)),
        },
        Some(undefined) => Sniffed::Neither {
            byte,
            line,
            undefined,
            refused: (guess, why),
        },
    }
}

/// Why a sniffed encoding was taken, for the summary: `extent` is what of the file the
/// sample was ("the whole file", "its first 1048576 bytes").
pub fn single_byte_reason(sniffed: &Sniffed, extent: &str) -> String {
    match sniffed {
        Sniffed::SingleByte {
            encoding,
            byte,
            line,
            refused: None,
        } => format!(
            "no byte-order mark; not UTF-8 (byte 0x{byte:02X} on line {line}); the detector (chardetng, Firefox's) reads {extent} as {} ({}), and every byte of it is defined there (a row holding UTF-8 text further on is rejected, not misread)",
            encoding.name(),
            script(encoding)
        ),
        Sniffed::SingleByte {
            encoding,
            byte,
            line,
            refused: Some((guess, why)),
        } => {
            let guess = if guess == encoding {
                String::new()
            } else {
                format!(
                    " the detector's guess, {}, is not taken ({why}), and",
                    guess.name()
                )
            };
            format!(
                "no byte-order mark; not UTF-8 (byte 0x{byte:02X} on line {line});{guess} every byte of {extent} is {} (a row holding UTF-8 text further on is rejected, not misread)",
                encoding.name()
            )
        }
        Sniffed::Neither {
            byte,
            line,
            undefined,
            refused: (guess, why),
        } => format!(
            "no byte-order mark; not UTF-8 (byte 0x{byte:02X} on line {line}), not Windows-1252 (byte 0x{undefined:02X}), and the detector's guess, {}, is not taken ({why}): read as UTF-8, and rows that are not UTF-8 are rejected; pass --encoding if you know the file's encoding",
            guess.name()
        ),
        Sniffed::Utf8 => {
            format!("no byte-order mark, and {extent} is UTF-8 (a row that is not is rejected)")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_encodings() {
        assert_eq!("UTF-8".parse(), Ok(EncodingChoice::Utf8));
        assert_eq!("latin-1".parse(), Ok(EncodingChoice::WINDOWS_1252));
        assert_eq!("cp1252".parse(), Ok(EncodingChoice::WINDOWS_1252));
        assert_eq!("windows-1252".parse(), Ok(EncodingChoice::WINDOWS_1252));
        assert_eq!(
            "windows-1250".parse(),
            Ok(EncodingChoice::SingleByte(WINDOWS_1250))
        );
        assert_eq!(
            "CP1250".parse(),
            Ok(EncodingChoice::SingleByte(WINDOWS_1250))
        );
        assert_eq!(
            "iso-8859-2".parse(),
            Ok(EncodingChoice::SingleByte(ISO_8859_2))
        );
        assert_eq!("latin2".parse(), Ok(EncodingChoice::SingleByte(ISO_8859_2)));
        assert_eq!(
            "ISO-8859-15".parse(),
            Ok(EncodingChoice::SingleByte(ISO_8859_15))
        );
        assert_eq!("utf-16".parse(), Ok(EncodingChoice::Utf16Le));
        // Not single-byte, or not an encoding.
        for bad in ["ebcdic", "shift_jis", "gbk", "windows-9999", "koi8-r"] {
            assert!(bad.parse::<EncodingChoice>().is_err(), "{bad}");
        }
    }

    #[test]
    fn decodes_fields() {
        let w1252 = FieldDecoder::SingleByte(WINDOWS_1252);
        assert_eq!(FieldDecoder::Utf8.decode("é".as_bytes()).unwrap(), "é");
        assert!(FieldDecoder::Utf8.decode(&[0x66, 0xE9]).is_err());
        assert_eq!(w1252.decode(&[0x66, 0xE9]).unwrap(), "fé");
        assert!(FieldDecoder::Utf16.decode("a\u{FFFD}".as_bytes()).is_err());
        // Detected: a field that reads as UTF-8 is not silently turned into mojibake; the
        // explicit choice takes every byte as the encoding says.
        let d = FieldDecoder::Detected(WINDOWS_1252);
        assert_eq!(d.decode(b"M\xFCller").unwrap(), "Müller");
        assert_eq!(d.decode(b"\x80 5").unwrap(), "€ 5");
        assert_eq!(d.decode(b"plain").unwrap(), "plain");
        assert_eq!(d.decode("Müller".as_bytes()).unwrap_err(), "Müller");
        assert_eq!(w1252.decode("é".as_bytes()).unwrap(), "Ã©");
        // Windows-1250: the Polish letters 1252 does not have.
        let d = FieldDecoder::Detected(WINDOWS_1250);
        assert_eq!(
            d.decode(b"Imi\xEA, zarz\xB9du, \x8Cwiat").unwrap(),
            "Imię, zarządu, Świat"
        );
        assert_eq!(d.name(), "windows-1250");
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
        let detected = FieldDecoder::Detected(WINDOWS_1252);
        case(detected, &[b"a", b"b"], Ok(&["a", "b"]));
        case(detected, &[b"a", b"Jos\xE9"], Ok(&["a", "José"]));
        case(detected, &[b"Jos\xE9", "José".as_bytes()], Err(1));
        case(
            FieldDecoder::SingleByte(WINDOWS_1252),
            &[b"Jos\xE9", "José".as_bytes()],
            Ok(&["José", "JosÃ©"]),
        );
    }

    fn taken(sniffed: &Sniffed) -> Option<&'static str> {
        match sniffed {
            Sniffed::SingleByte { encoding, .. } => Some(encoding.name()),
            _ => None,
        }
    }

    #[test]
    fn sniffs_single_byte_encodings_from_the_sample() {
        assert_eq!(sniff(b"name,phone\nAda,1\n", true), Sniffed::Utf8);
        assert_eq!(sniff("name\nJosé\n".as_bytes(), true), Sniffed::Utf8);
        let sniffed = sniff(b"name\nJos\xE9\n", true);
        assert!(
            matches!(
                sniffed,
                Sniffed::SingleByte {
                    encoding,
                    byte: 0xE9,
                    line: 2,
                    refused: None
                } if encoding == WINDOWS_1252
            ),
            "{sniffed:?}"
        );
        // A character cut by the end of the sample is not a reason; at the end of the file
        // it is.
        let cut = &"name\nJosé".as_bytes()[..9];
        assert_eq!(sniff(cut, false), Sniffed::Utf8);
        assert!(taken(&sniff(cut, true)).is_some());
    }

    /// Text in each language as Excel's "CSV" writes it (the system's ANSI code page): the
    /// detector tells Central European from Western European, and the Polish letters come
    /// out right instead of as Windows-1252 mojibake (`zarz¹du`).
    #[test]
    fn the_detector_tells_the_code_pages_apart() {
        let cases: &[(&str, &Encoding)] = &[
            (
                "Imię;Nazwisko;Firma;Telefon;Miasto\r\nAgnieszka;Kozłowski;Piekarnia Żytnia;+48 601 234 574;Gdańsk\r\nŻaneta;Lewandowski;Księgarnia Świat;22 123 45 68;Kraków\r\nŁukasz;Wójcik;Prezes zarządu;512 345 678;Łódź\r\n",
                WINDOWS_1250,
            ),
            (
                "Prénom;Nom;Société;Téléphone;Ville\r\nÉlodie;Lefèvre;Boulangerie Dupré;01 42 68 53 00;Besançon\r\nFrançois;Mercier;Société Générale d'Études;06 12 34 56 78;Orléans\r\n",
                WINDOWS_1252,
            ),
            (
                "Nombre;Apellidos;Teléfono;Ciudad\r\nJosé;Muñoz Peña;612 345 678;Logroño\r\nMaría;Gómez;91 123 45 67;Córdoba\r\n",
                WINDOWS_1252,
            ),
            (
                "Vorname;Nachname;Straße;Telefon\r\nJürgen;Müller;Hauptstraße 5;030 901820\r\nÖzlem;Schäfer;Königsallee 1;0211 123456\r\n",
                WINDOWS_1252,
            ),
            (
                "Jméno;Příjmení;Město;Telefon\r\nJiří;Dvořák;Plzeň;+420 601 123 456\r\nŽofie;Černá;Brno;+420 602 123 456\r\n",
                WINDOWS_1250,
            ),
        ];
        for (text, encoding) in cases {
            let (bytes, _, unmappable) = encoding.encode(text);
            assert!(!unmappable, "{text}");
            let sniffed = sniff(&bytes, true);
            assert_eq!(
                taken(&sniffed),
                Some(encoding.name()),
                "{text}: {sniffed:?}"
            );
            let reason = single_byte_reason(&sniffed, "the whole file");
            assert!(reason.contains("chardetng"), "{reason}");
            let decoded = encoding.decode_without_bom_handling(&bytes).0;
            assert_eq!(decoded, *text);
        }
    }

    #[test]
    fn bytes_a_code_page_leaves_undefined() {
        assert_eq!(undefined_byte(WINDOWS_1252, b"Jos\xE9 \x80 \x93"), None);
        for b in [0x81, 0x8D, 0x8F, 0x90, 0x9D] {
            assert_eq!(undefined_byte(WINDOWS_1252, &[b'a', b]), Some(b), "{b:#X}");
        }
        // Windows-1250 defines 0x8D (Ť) and 0x8F (Ź), not 0x81 or 0x83.
        assert_eq!(undefined_byte(WINDOWS_1250, b"\x8D\x8F\xB9"), None);
        assert_eq!(undefined_byte(WINDOWS_1250, b"\x83"), Some(0x83));
        // Greek leaves 0xAA unmapped.
        assert_eq!(undefined_byte(WINDOWS_1253, b"\xAA"), Some(0xAA));
    }

    /// The export corpus's files that are not UTF-8 (`tests/exports/`): each is read in the
    /// code page it was written in. The Italian one shows why the candidates are
    /// restricted: its few accented letters (`lunedì`, `Niccolò`) make the detector guess
    /// ISO-8859-4 (Baltic), which is no code page Excel writes; Windows-1252 is taken.
    #[test]
    fn the_corpus_files_are_read_in_their_code_pages() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/exports");
        for (file, expected) in [
            ("pl_excel_kontakty.csv", "windows-1250"),
            ("outlook_contacts.csv", "windows-1252"),
            ("fr_excel_prospects.csv", "windows-1252"),
            ("es_excel_clientes.csv", "windows-1252"),
            ("it_excel_contatti.csv", "windows-1252"),
            ("br_excel_leads.csv", "windows-1252"),
            ("salesforce_contacts_report.csv", "windows-1252"),
        ] {
            let bytes = std::fs::read(dir.join(file)).unwrap();
            let sniffed = sniff(&bytes, true);
            assert_eq!(taken(&sniffed), Some(expected), "{file}: {sniffed:?}");
        }
    }

    #[test]
    fn a_few_stray_bytes_are_not_enough_to_choose_a_code_page() {
        // `\xFF\x81` decodes in Windows-1251 (`яЃ`) but two bytes tell nothing; 0x81 is
        // not Windows-1252: read as UTF-8, the row is rejected (malformed), not misread.
        let sniffed = sniff(b"name,phone\nBad \xFF\x81 name,+12125550100\n", true);
        assert!(matches!(sniffed, Sniffed::Neither { .. }), "{sniffed:?}");
        let reason = single_byte_reason(&sniffed, "the whole file");
        assert!(reason.contains("read as UTF-8"), "{reason}");
    }

    #[test]
    fn bytes_no_single_byte_encoding_holds_are_read_as_utf8() {
        // Shift_JIS is a multi-byte encoding: never taken, even when the detector sees it.
        let (bytes, _, _) = encoding_rs::SHIFT_JIS.encode("名前,電話\n山田太郎,+81 3 1234 5678\n");
        match sniff(&bytes, true) {
            Sniffed::SingleByte {
                encoding, refused, ..
            } => {
                // Taken only as Windows-1252 when every byte is defined there, and said.
                assert_eq!(encoding, WINDOWS_1252);
                assert!(refused.is_some());
            }
            Sniffed::Neither { .. } => {}
            Sniffed::Utf8 => panic!("Shift_JIS is not UTF-8"),
        }
    }
}
