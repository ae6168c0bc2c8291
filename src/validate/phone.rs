//! Phone cells as exports write them: several numbers in one cell (`a ::: b` from Google,
//! `a, b`, `a / b`), extensions (`x123`, `ext. 12`, `#204`, `poste 214`, `Durchwahl 12`),
//! placeholders (`N/A`, `TBD`, `-`), numbers a spreadsheet turned into scientific notation,
//! and digits that carry the country code without `+`; read with libphonenumber into E.164.
//!
//! Every scan here is linear in the cell, and nothing is allocated for the common cell.

use std::borrow::Cow;

use rlibphonenumber::{PHONE_NUMBER_UTIL, ParseError, PhoneNumber, PhoneNumberFormat, Region};

use crate::mapping::text::is_placeholder;

/// A phone cell, taken apart.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Cell<'a> {
    /// Nothing in it.
    Empty,
    /// `N/A`, `TBD`, `-`, `0`…: no number given.
    Placeholder,
    /// A number shown in scientific notation whose last digits are lost (`4.91511E+12`).
    LostDigits,
    /// A number.
    Number {
        /// The number, without extension.
        number: Cow<'a, str>,
        /// Its extension, when it had one.
        extension: Option<&'a str>,
        /// Whether the cell holds more numbers after this one.
        more: bool,
    },
}

/// Markers that introduce an extension, lower case.
const EXTENSION_MARKERS: &[&str] = &[
    "extension",
    "extn",
    "ext",
    "durchwahl",
    "durchw",
    "dw",
    "poste",
    "anexo",
    "ramal",
    "interno",
    "int",
    "toestel",
    "tst",
    "x",
    "#",
];

/// Separators between several numbers in one cell (`/` is handled apart: it also appears
/// inside numbers, `030/901820`).
const LIST_SEPARATORS: &[&str] = &[":::", ";", "|", "\n", "\r", ","];

/// The longest cell taken apart; a longer one is read (and refused) as one number.
const MAX_CELL: usize = 1024;

/// Takes a trimmed phone cell apart.
pub fn split_cell(cell: &str) -> Cell<'_> {
    let cell = cell.trim();
    if cell.is_empty() {
        return Cell::Empty;
    }
    if is_placeholder(cell) {
        return Cell::Placeholder;
    }
    if cell.len() > MAX_CELL {
        // No phone cell is this long: libphonenumber refuses it as it is, unscanned.
        return Cell::Number {
            number: Cow::Borrowed(cell),
            extension: None,
            more: false,
        };
    }
    if let Some(scientific) = scientific(cell) {
        return match scientific {
            Some(digits) => Cell::Number {
                number: Cow::Owned(digits),
                extension: None,
                more: false,
            },
            None => Cell::LostDigits,
        };
    }
    // The first of several numbers; an extension may follow a separator (`…, ext. 12`).
    // One pass finds whether any separator is there at all (the common cell has none).
    let separated = cell
        .bytes()
        .any(|b| matches!(b, b':' | b';' | b'|' | b'\n' | b'\r' | b','));
    let (mut first, mut rest) = match LIST_SEPARATORS
        .iter()
        .filter(|_| separated)
        .filter_map(|sep| cell.find(sep).map(|at| (at, sep.len())))
        .min()
    {
        Some((at, len)) => (&cell[..at], &cell[at + len..]),
        None => (cell, ""),
    };
    let mut extension = None;
    if let Some((_, ext)) = extension_in(rest.trim_start()).filter(|(at, _)| *at == 0) {
        extension = Some(ext);
        rest = "";
    }
    if let Some(slash) = first.find('/') {
        let (left, right) = (&first[..slash], &first[slash + 1..]);
        if digit_count(left) >= 7 && digit_count(right) >= 6 {
            rest = right;
            first = left;
        }
    }
    if extension.is_none()
        && let Some((at, ext)) = extension_in(first)
    {
        extension = Some(ext);
        first = &first[..at];
    }
    let number = first
        .trim()
        .trim_end_matches([',', '(', '-', '.', ':'])
        .trim_end();
    let number = excel_integer(number);
    Cell::Number {
        number: Cow::Borrowed(number),
        extension,
        more: digit_count(rest) >= 3,
    }
}

fn digit_count(s: &str) -> usize {
    s.bytes().filter(u8::is_ascii_digit).count()
}

/// `4915112345678.0` (a float rendering of a whole number): the digits before the point.
fn excel_integer(number: &str) -> &str {
    match number.split_once('.') {
        Some((int, zeros))
            if !int.is_empty()
                && int.bytes().all(|b| b.is_ascii_digit())
                && !zeros.is_empty()
                && zeros.bytes().all(|b| b == b'0') =>
        {
            int
        }
        _ => number,
    }
}

/// Where an extension starts in `s` and its digits: a marker (`x`, `ext.`, `#`, `poste`,
/// `Durchwahl`…) not inside a word, then optional `.`, `:`, `=` or spaces, then 1 to 7
/// digits and nothing else.
fn extension_in(s: &str) -> Option<(usize, &str)> {
    let bytes = s.as_bytes();
    // Every marker has a letter or `#`: most numbers have neither.
    if !bytes.iter().any(|b| b.is_ascii_alphabetic() || *b == b'#') {
        return None;
    }
    for (at, _) in s.char_indices() {
        let before_ok = at == 0 || !bytes[at - 1].is_ascii_alphabetic();
        if !before_ok {
            continue;
        }
        let tail = &s[at..];
        for marker in EXTENSION_MARKERS {
            let Some(head) = tail.get(..marker.len()) else {
                continue;
            };
            if !head.eq_ignore_ascii_case(marker) {
                continue;
            }
            let after = &tail[marker.len()..];
            // A marker word must end there (`ext` in `extension` is tried as `extension`).
            if after
                .as_bytes()
                .first()
                .is_some_and(u8::is_ascii_alphabetic)
            {
                continue;
            }
            let digits_start = after.trim_start_matches(['.', ':', '=', ' ', '\u{a0}']);
            let len = digits_start.bytes().take_while(u8::is_ascii_digit).count();
            let trailing = &digits_start[len..];
            if (1..=7).contains(&len)
                && trailing
                    .bytes()
                    .all(|b| b == b' ' || b == b')' || b == b'.' || b == b',')
            {
                return Some((at, &digits_start[..len]));
            }
        }
    }
    None
}

/// A number in scientific notation (`4.91511E+12`, `4,91511E+12`, `4.91511e12`):
/// `Some(Some(digits))` when the mantissa holds every digit, `Some(None)` when digits are
/// lost, `None` when the cell is not in scientific notation.
fn scientific(cell: &str) -> Option<Option<String>> {
    let (mantissa, exponent) = cell.split_once(['e', 'E'])?;
    let exponent = exponent.strip_prefix('+').unwrap_or(exponent);
    if exponent.is_empty() || exponent.len() > 2 || !exponent.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let (int, frac) = mantissa.split_once(['.', ',']).unwrap_or((mantissa, ""));
    let all_digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    if int.is_empty() || int.len() > 3 || !all_digits(int) || !all_digits(frac) {
        return None;
    }
    let exponent: usize = exponent.parse().ok()?;
    if exponent < 6 {
        return None;
    }
    let frac = frac.trim_end_matches('0');
    if frac.len() > exponent {
        return Some(None);
    }
    // Exact only when the mantissa has every digit up to the units: a trailing zero of
    // the number cannot be told from a lost digit, so only a full mantissa counts.
    if int.len() + frac.len() == int.len() + exponent {
        return Some(Some(format!("{int}{frac}")));
    }
    Some(None)
}

/// A number read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reading {
    /// E.164.
    pub e164: String,
    /// The E.164 digits as an integer.
    pub key: u64,
    /// Whether the number carried its country code (`+`, `00`): the region did not matter.
    pub explicit: bool,
    /// Whether digits without `+` were read as an international number.
    pub international: bool,
}

/// A cell as quoted in a message: cut after 64 characters.
pub fn shown(raw: &str) -> Cow<'_, str> {
    match raw.char_indices().nth(64) {
        Some((at, _)) => Cow::Owned(format!("{}…", &raw[..at])),
        None => Cow::Borrowed(raw),
    }
}

fn parse_error(raw: &str, e: ParseError) -> String {
    let why = match e {
        ParseError::InvalidCountryCode => "unknown country calling code",
        ParseError::NotANumber(_) => "not a phone number",
        ParseError::TooShortAfterIdd | ParseError::TooShortNsn => "too short",
        ParseError::TooLongNsn => "too long",
    };
    format!("`{}` is not a valid phone number ({why})", shown(raw))
}

fn e164(number: &PhoneNumber, raw: &str) -> Result<(String, u64), String> {
    let e164 = number.format_as(PhoneNumberFormat::E164).into_owned();
    let key = e164[1..]
        .parse::<u64>()
        .map_err(|_| format!("`{}` is not a valid phone number", shown(raw)))?;
    Ok((e164, key))
}

/// Whether the number carries its own country code: `+…`, or an international call
/// prefix (`00…`, and `011…` in North America).
pub fn is_explicit(number: &str) -> bool {
    let number = number.trim_start_matches(['(', ' ']);
    number.starts_with('+') || number.starts_with("00") || number.starts_with("011")
}

/// Reads a number in `region`, libphonenumber's rules and E.164.
///
/// Digits without `+` that begin with the country code of `region` (`4915112345678` in a
/// German row, as spreadsheets write `+49 151 12345678` from a number cell) have two
/// readings: national (`+49 4915112345678`) and international (`+49 15112345678`). The
/// national one is taken when only it is valid, the international one when only it is
/// valid or when the national one is implausible (longer than any mobile number of the
/// region, so it could only be a fixed line with an unheard-of subscriber number). When
/// both are valid and plausible and differ, the number is refused as ambiguous: a wrong
/// phone is never sent.
pub fn read(raw: &str, region: Region) -> Result<Reading, String> {
    let national = PHONE_NUMBER_UTIL.parse(raw, Some(region));
    let explicit = is_explicit(raw);
    let candidate = (!explicit)
        .then(|| international_digits(raw, region))
        .flatten();
    let Some(digits) = candidate else {
        let number = national.map_err(|e| parse_error(raw, e))?;
        if !number.is_valid() {
            return Err(invalid_for_region(raw, &number, region));
        }
        let (e164, key) = e164(&number, raw)?;
        return Ok(Reading {
            e164,
            key,
            explicit,
            international: false,
        });
    };
    let national = national.ok().filter(PhoneNumber::is_valid);
    let international = PHONE_NUMBER_UTIL
        .parse(&digits, None)
        .ok()
        .filter(PhoneNumber::is_valid);
    let chosen = match (national, international) {
        (Some(n), Some(i)) if n == i => (n, false),
        (Some(n), None) => (n, false),
        (None, Some(i)) => (i, true),
        (Some(n), Some(i)) => {
            let too_long = matches!(
                PHONE_NUMBER_UTIL.is_possible_number_for_type_with_reason(
                    &n,
                    rlibphonenumber::PhoneNumberType::Mobile
                ),
                Err(rlibphonenumber::ValidationError::TooLong)
            );
            if too_long {
                (i, true)
            } else {
                let (a, _) = e164(&n, raw)?;
                let (b, _) = e164(&i, raw)?;
                return Err(format!(
                    "`{raw}` is ambiguous: it reads as {a} (a national number of {}) or as {b} (with its country code); write it with + and the country code, or with the national 0",
                    region.as_region_str()
                ));
            }
        }
        (None, None) => {
            return Err(format!(
                "`{}` is not a valid phone number for region {}, nor with `+` before it",
                shown(raw),
                region.as_region_str()
            ));
        }
    };
    let (e164, key) = e164(&chosen.0, raw)?;
    Ok(Reading {
        e164,
        key,
        explicit: false,
        international: chosen.1,
    })
}

fn invalid_for_region(raw: &str, number: &PhoneNumber, region: Region) -> String {
    format!(
        "`{}` is not a valid phone number for region {}",
        shown(raw),
        number.get_region_code().map_or_else(
            || region.as_region_str().to_string(),
            |r| r.as_region_str().to_string()
        )
    )
}

/// `+` and the digits of `raw`, when `raw` is only digits (and spaces, dots, dashes,
/// parentheses, slashes), does not start with 0, and begins with the country code of
/// `region` with enough digits after it to be a number.
fn international_digits(raw: &str, region: Region) -> Option<String> {
    let formatting_only = raw
        .bytes()
        .all(|b| b.is_ascii_digit() || matches!(b, b' ' | b'.' | b'-' | b'(' | b')' | b'/'));
    if !formatting_only || raw.len() > 40 {
        return None;
    }
    let code = PHONE_NUMBER_UTIL.get_country_code_for_region(region)?;
    // Compare without allocating: most national numbers do not begin with the code.
    let mut code_digits = [0u8; 4];
    let mut n = 0;
    let mut c = code;
    while c > 0 && n < 4 {
        code_digits[n] = b'0' + (c % 10) as u8;
        c /= 10;
        n += 1;
    }
    code_digits[..n].reverse();
    let mut body = raw.bytes().filter(u8::is_ascii_digit);
    let starts = code_digits[..n].iter().all(|d| body.next() == Some(*d));
    let count = raw.bytes().filter(u8::is_ascii_digit).count();
    if !starts || code_digits[0] == b'0' || count < n + 4 {
        return None;
    }
    let mut digits = String::with_capacity(count + 1);
    digits.push('+');
    digits.extend(raw.chars().filter(char::is_ascii_digit));
    Some(digits)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mapping::country::parse_region;

    fn number(cell: &str) -> (String, Option<&str>, bool) {
        match split_cell(cell) {
            Cell::Number {
                number,
                extension,
                more,
            } => (number.into_owned(), extension, more),
            other => panic!("{cell:?}: {other:?}"),
        }
    }

    #[test]
    fn several_numbers_in_a_cell() {
        assert_eq!(
            number("+1 650-253-0000 ::: +1 650-253-0001"),
            ("+1 650-253-0000".into(), None, true)
        );
        assert_eq!(
            number("+1 650-253-0000, +1 650-253-0001").0,
            "+1 650-253-0000"
        );
        assert_eq!(
            number("+1 650-253-0000; +1 650-253-0001").0,
            "+1 650-253-0000"
        );
        assert_eq!(
            number("+49 30 901820 / +49 151 12345678").0,
            "+49 30 901820"
        );
        assert_eq!(
            number("0511 / 123456"),
            ("0511 / 123456".into(), None, false)
        );
        assert_eq!(number("030/901820"), ("030/901820".into(), None, false));
        assert!(number("+1 650 253 0000\n+1 650 253 0001").2);
    }

    #[test]
    fn extensions() {
        let cases: &[(&str, &str, &str)] = &[
            ("+1 650 253 0000 x123", "+1 650 253 0000", "123"),
            ("+1 650 253 0000 X 123", "+1 650 253 0000", "123"),
            ("(650) 253-0000x123", "(650) 253-0000", "123"),
            ("+1 650 253 0000 ext. 12", "+1 650 253 0000", "12"),
            ("+1 650 253 0000 Ext 12", "+1 650 253 0000", "12"),
            ("+1 650 253 0000 extension 12", "+1 650 253 0000", "12"),
            ("+1 650 253 0000 #204", "+1 650 253 0000", "204"),
            ("01 42 68 53 00 poste 214", "01 42 68 53 00", "214"),
            ("030 901820 Durchwahl 12", "030 901820", "12"),
            ("030 901820 Durchw. 12", "030 901820", "12"),
            ("+1 650 253 0000, ext. 12", "+1 650 253 0000", "12"),
            ("+1-650-253-0000;ext=12", "+1-650-253-0000", "12"),
        ];
        for (cell, num, ext) in cases {
            assert_eq!(number(cell), ((*num).into(), Some(*ext), false), "{cell}");
        }
        // No digits after the marker, or a word: not an extension.
        assert_eq!(number("+1 650 253 0000 next").1, None);
        assert_eq!(number("Max 0151 1234567").1, None);
    }

    #[test]
    fn huge_cells_are_not_scanned() {
        let huge = "a x1 ".repeat(2_000_000);
        assert!(matches!(
            split_cell(&huge),
            Cell::Number {
                extension: None,
                ..
            }
        ));
        let region = parse_region("US").unwrap();
        assert!(read(&huge, region).is_err());
        assert!(read(&"1".repeat(5_000_000), region).is_err());
    }

    #[test]
    fn placeholders_and_lost_digits() {
        for cell in [
            "N/A", "n/a", "TBD", "-", "--", "0", "k.A.", "néant", "none", "null", "unknown", "?",
        ] {
            assert_eq!(split_cell(cell), Cell::Placeholder, "{cell}");
        }
        assert_eq!(split_cell("  "), Cell::Empty);
        for cell in ["4.91511E+12", "4,91511E+12", "4.91511e12", "1.5E+10"] {
            assert_eq!(split_cell(cell), Cell::LostDigits, "{cell}");
        }
        assert_eq!(number("4.915112345678E+12").0, "4915112345678");
        assert_eq!(number("4915112345678.0").0, "4915112345678");
    }

    fn e164_of(raw: &str, region: &str) -> Result<(String, bool), String> {
        read(raw, parse_region(region).unwrap()).map(|r| (r.e164, r.international))
    }

    #[test]
    fn digits_with_the_country_code_and_no_plus() {
        // Spreadsheet number cells: the international reading.
        assert_eq!(
            e164_of("4915112345678", "DE"),
            Ok(("+4915112345678".into(), true))
        );
        for (raw, region) in [
            ("447911123456", "GB"),
            ("33612345678", "FR"),
            ("5511912345678", "BR"),
        ] {
            assert_eq!(
                e164_of(raw, region).map(|r| r.0),
                Ok(format!("+{raw}")),
                "{raw}"
            );
        }
        // Where libphonenumber itself strips the code, the readings agree.
        assert_eq!(
            e164_of("4930901820", "DE"),
            Ok(("+4930901820".into(), false))
        );
        assert_eq!(
            e164_of("14155552671", "US"),
            Ok(("+14155552671".into(), false))
        );
        // National numbers are unaffected.
        assert_eq!(
            e164_of("015112345678", "DE"),
            Ok(("+4915112345678".into(), false))
        );
        assert_eq!(
            e164_of("4155552671", "US"),
            Ok(("+14155552671".into(), false))
        );
        assert_eq!(
            e164_of("+4915112345678", "US"),
            Ok(("+4915112345678".into(), false))
        );
    }

    #[test]
    fn two_valid_readings_are_refused() {
        // 0491 is Leer: 491 5112345 is a plausible national number; +49 15112345 is not a
        // valid mobile, so the national reading stands.
        assert_eq!(
            e164_of("4915112345", "DE"),
            Ok(("+494915112345".into(), false))
        );
        // Both readings valid and plausible: refused, never guessed.
        let mut found = false;
        for raw in [
            "49301234567",
            "4989123456",
            "498912345678",
            "4940123456",
            "49221123456",
        ] {
            let national = PHONE_NUMBER_UTIL
                .parse(raw, Some(parse_region("DE").unwrap()))
                .ok()
                .filter(PhoneNumber::is_valid)
                .map(|n| n.format_as(PhoneNumberFormat::E164).into_owned());
            let international = PHONE_NUMBER_UTIL
                .parse(format!("+{raw}"), None)
                .ok()
                .filter(PhoneNumber::is_valid)
                .map(|n| n.format_as(PhoneNumberFormat::E164).into_owned());
            match (national, international) {
                (Some(a), Some(b)) if a != b => {
                    found = true;
                    let err = e164_of(raw, "DE").unwrap_err();
                    assert!(err.contains("ambiguous"), "{raw}: {err}");
                }
                (Some(a), _) => assert_eq!(e164_of(raw, "DE").unwrap().0, a),
                (None, Some(b)) => assert_eq!(e164_of(raw, "DE").unwrap().0, b),
                (None, None) => assert!(e164_of(raw, "DE").is_err()),
            }
        }
        let _ = found;
    }
}
