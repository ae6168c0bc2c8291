//! Phone cells as exports write them: several numbers in one cell (`a ::: b` from Google,
//! `a, b`, `a / b`), extensions (`x123`, `ext. 12`, `#204`, `poste 214`, `Durchwahl 12`),
//! placeholders (`N/A`, `TBD`, `-`), numbers a spreadsheet turned into scientific notation,
//! and digits that carry the country code without `+`; read with libphonenumber into E.164.
//!
//! Every scan here is linear in the cell, and nothing is allocated for the common cell.

use std::borrow::Cow;

use rlibphonenumber::{
    CountryCodeSource, PHONE_NUMBER_UTIL, ParseError, PhoneNumber, PhoneNumberFormat, Region,
};

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
    "wewn",
    "wew",
    "anknytning",
    "ankn",
    "lokal",
    "linka",
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

/// Whether the number carries its own country code unmistakably: `+…`, or `00` and the
/// country code (`0049 30 901820`). A number that starts with another international
/// dialling prefix (`011` in North America) is read as international only when the prefix
/// is written apart (`011 44 20 7946 0958`), and only in a region that dials it: see
/// [`read`].
pub fn is_explicit(number: &str) -> bool {
    let number = number.trim_start_matches(['(', ' ']);
    number.starts_with('+') || number.starts_with("00")
}

/// Whether `raw` starts with a plus sign (after opening brackets and spaces).
fn has_plus(raw: &str) -> bool {
    raw.trim_start_matches(['(', ' ', '\u{a0}'])
        .starts_with(['+', '\u{ff0b}'])
}

/// Whether two readings are the same number (parses that keep the raw input differ in it).
fn same_number(a: &PhoneNumber, b: &PhoneNumber) -> bool {
    a.country_code == b.country_code
        && a.national_number == b.national_number
        && a.italian_leading_zero.unwrap_or(false) == b.italian_leading_zero.unwrap_or(false)
        && a.number_of_leading_zeros.unwrap_or(1) == b.number_of_leading_zeros.unwrap_or(1)
}

/// Reads a number in `region`, libphonenumber's rules and E.164.
///
/// A number without `+` whose country code libphonenumber takes from the international
/// dialling prefix (IDD) of `region` (`011` in North America, `00` in most of the world,
/// `0011` in Australia, `010` in Japan…) is accepted only when that prefix is unmistakable:
/// `00` followed at once by the country code (`0044 20 7946 0958`), or the prefix and the
/// country code each written as a group of their own (`011 44 20 7946 0958`). Digits that
/// merely begin with the prefix in a number formatted as a national one are refused: the
/// Bristol number `0114 315 4776` read in US would otherwise be the Austrian `+43 154776`,
/// and the Buenos Aires `011 4950-2804` the German `+49 502804`.
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
    let plus = has_plus(raw);
    // Every region's international prefix starts with 0, 1, 8 or 9 (libphonenumber's
    // metadata): a number whose first digit is 2 to 7 cannot be read through one (other
    // digits, full-width or Arabic-Indic ones included, are checked).
    let may_idd = !plus && !matches!(raw.chars().find(|c| c.is_numeric()), Some('2'..='7'));
    let parsed = if may_idd {
        // Keeps where the country code came from: the national digits, or an IDD.
        PHONE_NUMBER_UTIL.parse_and_keep_raw_input(raw, Some(region))
    } else {
        PHONE_NUMBER_UTIL.parse(raw, Some(region))
    };
    if let Ok(number) = &parsed
        && may_idd
        && number.country_code_source() == CountryCodeSource::FromNumberWithIdd
    {
        if !idd_unmistakable(raw, number) {
            return Err(format!(
                "`{}` is not a valid phone number for region {}: it begins with the international dialling prefix of {}, but is written as a national number, so it is not read as an international one; write it with + and the country code",
                shown(raw),
                region.as_region_str(),
                region.as_region_str()
            ));
        }
        if !number.is_valid() {
            return Err(invalid_for_region(raw, number, region));
        }
        let (e164, key) = e164(number, raw)?;
        return Ok(Reading {
            e164,
            key,
            explicit: true,
            international: false,
        });
    }
    let candidate = (!plus).then(|| international_digits(raw, region)).flatten();
    let Some(digits) = candidate else {
        let number = parsed.map_err(|e| parse_error(raw, e))?;
        if !number.is_valid() {
            return Err(invalid_for_region(raw, &number, region));
        }
        let (e164, key) = e164(&number, raw)?;
        return Ok(Reading {
            e164,
            key,
            explicit: plus,
            international: false,
        });
    };
    // The national reading, with its E.164 form and key (computed once).
    let national = match parsed.ok().filter(PhoneNumber::is_valid) {
        Some(n) => Some((e164(&n, raw)?, n)),
        None => None,
    };
    let reading = |(e164, key): (String, u64), international: bool| Reading {
        e164,
        key,
        explicit: false,
        international,
    };
    // The usual case (`1-213-200-0000` in US): the national reading is the digits with `+`,
    // so the international one can only be the same number; no second parse.
    let national = match national {
        Some((formed, _)) if formed.0 == digits => return Ok(reading(formed, false)),
        other => other,
    };
    let international = PHONE_NUMBER_UTIL
        .parse(&digits, None)
        .ok()
        .filter(PhoneNumber::is_valid);
    match (national, international) {
        (Some((formed, n)), Some(i)) if same_number(&n, &i) => Ok(reading(formed, false)),
        (Some((formed, _)), None) => Ok(reading(formed, false)),
        (None, Some(i)) => Ok(reading(e164(&i, raw)?, true)),
        (Some((formed, n)), Some(i)) => {
            let too_long = matches!(
                PHONE_NUMBER_UTIL.is_possible_number_for_type_with_reason(
                    &n,
                    rlibphonenumber::PhoneNumberType::Mobile
                ),
                Err(rlibphonenumber::ValidationError::TooLong)
            );
            let international = e164(&i, raw)?;
            if too_long {
                Ok(reading(international, true))
            } else {
                Err(format!(
                    "`{raw}` is ambiguous: it reads as {} (a national number of {}) or as {} (with its country code); write it with + and the country code, or with the national 0",
                    formed.0,
                    region.as_region_str(),
                    international.0
                ))
            }
        }
        (None, None) => Err(format!(
            "`{}` is not a valid phone number for region {}, nor with `+` before it",
            shown(raw),
            region.as_region_str()
        )),
    }
}

/// Reads a cell of a column whose digit strings carry their country code without `+` by
/// the product's own rule (Brevo's `SMS` and `WHATSAPP`: `33612345678`): digits (with
/// spaces, dots, dashes, parentheses) that do not start with 0 are read as `+` and the
/// digits, whatever the region; anything else (`+…`, a national `06…`) as [`read`] does.
pub fn read_international(raw: &str, region: Region) -> Result<Reading, String> {
    const MAX: usize = 20;
    let formatting_only = raw
        .bytes()
        .all(|b| b.is_ascii_digit() || matches!(b, b' ' | b'.' | b'-' | b'(' | b')'));
    let first_digit = raw.bytes().find(u8::is_ascii_digit);
    if !formatting_only || raw.len() > 40 || matches!(first_digit, None | Some(b'0')) {
        return read(raw, region);
    }
    // `+` and the digits, on the stack.
    let mut buf = [0u8; MAX + 1];
    buf[0] = b'+';
    let mut len = 1;
    for b in raw.bytes().filter(u8::is_ascii_digit) {
        if len > MAX {
            return read(raw, region);
        }
        buf[len] = b;
        len += 1;
    }
    let digits = std::str::from_utf8(&buf[..len]).unwrap_or_default();
    let number = PHONE_NUMBER_UTIL
        .parse(digits, None)
        .map_err(|e| parse_error(raw, e))?;
    if !number.is_valid() {
        return Err(format!(
            "`{}` is not a valid phone number with its country code (this column holds numbers with their country code and no +: {digits} is not valid)",
            shown(raw)
        ));
    }
    let (e164, key) = e164(&number, raw)?;
    Ok(Reading {
        e164,
        key,
        explicit: true,
        international: true,
    })
}

/// Whether the international dialling prefix libphonenumber took `number`'s country code
/// after is unmistakable in `raw`: `00` followed at once by the country code, or the prefix
/// and the country code each a group of their own (`011 44 20 7946 0958`, `0011-61-2-…`);
/// checked by reading the digits after that prefix with `+` and finding the same number.
/// Only for numbers read through an IDD (rare): it allocates.
fn idd_unmistakable(raw: &str, number: &PhoneNumber) -> bool {
    let digits: String = raw.chars().filter(char::is_ascii_digit).collect();
    let code = number.country_code.to_string();
    let same_after = |skip: usize| {
        digits.get(skip..).is_some_and(|rest| {
            rest.starts_with(&code)
                && PHONE_NUMBER_UTIL
                    .parse(format!("+{rest}"), None)
                    .is_ok_and(|m| same_number(&m, number))
        })
    };
    if digits.starts_with("00") && same_after(2) {
        return true;
    }
    let mut groups = raw
        .split(|c: char| !c.is_ascii_digit())
        .filter(|g| !g.is_empty());
    match (groups.next(), groups.next(), groups.next()) {
        (Some(prefix), Some(country), Some(_)) => country == code && same_after(prefix.len()),
        _ => false,
    }
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
            ("22 123 45 68 wewn. 4411", "22 123 45 68", "4411"),
            ("123456770 wew. 123", "123456770", "123"),
            ("08-123 456 78 ankn. 12", "08-123 456 78", "12"),
            ("224 123 456 linka 12", "224 123 456", "12"),
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

    /// Numbers whose digits begin with the international dialling prefix of the region they
    /// are read in, written as national numbers of another country: libphonenumber alone
    /// reads each as a valid number of a third country (checked here, so the test keeps
    /// its point), which would be a wrong phone; they are refused instead.
    #[test]
    fn a_prefix_that_is_only_the_start_of_a_national_number_is_not_an_idd() {
        let cases: &[(&str, &str, &str, &str)] = &[
            // UK numbers (Leeds, Sheffield, Nottingham, Leicester, Reading) read in US.
            ("0113 523 4574", "US", "GB", "+35234574"),
            ("0114 315 4776", "US", "GB", "+43154776"),
            ("0115 006 7259", "US", "GB", "+50067259"),
            ("0116 113 6584", "US", "GB", "+61136584"),
            ("0118 262 1168", "US", "GB", "+82621168"),
            ("01143154776", "CA", "GB", "+43154776"),
            // Buenos Aires in its national form, read in US: `011` is even a group of its own.
            ("011 4950-2804", "US", "AR", "+49502804"),
            ("011 6322-0437", "US", "AR", "+63220437"),
            // Beijing (010) read in Japan, whose prefix is 010.
            ("010 4993 7087", "JP", "CN", "+49937087"),
            ("010 4357 6099", "JP", "CN", "+43576099"),
        ];
        for (raw, region, home, wrong) in cases {
            let r = parse_region(region).unwrap();
            let alone = PHONE_NUMBER_UTIL.parse(*raw, Some(r)).unwrap();
            assert!(alone.is_valid(), "{raw}: libphonenumber alone");
            assert_eq!(alone.format_as(PhoneNumberFormat::E164), *wrong, "{raw}");
            let err = e164_of(raw, region).unwrap_err();
            assert!(
                err.contains("international dialling prefix") && !err.contains(wrong),
                "{raw} in {region}: {err}"
            );
            // In its own country it is a valid national number.
            assert!(e164_of(raw, home).is_ok(), "{raw} in {home}");
        }
        // The Bristol number of the issue: refused in US without naming Russia.
        let err = e164_of("0117 496 0123", "US").unwrap_err();
        assert!(!err.contains("RU"), "{err}");
        assert_eq!(
            e164_of("0117 496 0123", "GB"),
            Ok(("+441174960123".into(), false))
        );
    }

    #[test]
    fn no_idd_starts_with_the_digits_2_to_7() {
        // `read` keeps the raw input (slower) only for numbers that may begin with an IDD:
        // every region dials out with a prefix starting 0, 1, 8 or 9 (checked against the
        // metadata's `internationalPrefix` patterns of the version in Cargo.lock); here,
        // through the public API, for every region: the prefix it dials a UK number with,
        // and numbers starting 2 to 7 followed by a country code are never read as an IDD.
        let gb = PHONE_NUMBER_UTIL.parse("+44 20 7946 0958", None).unwrap();
        let mut regions = 0;
        for region in PHONE_NUMBER_UTIL.get_supported_regions() {
            let dialled = PHONE_NUMBER_UTIL
                .format_out_of_country_calling_number(&gb, region)
                .into_owned();
            assert!(
                dialled.starts_with(['+', '0', '1', '8', '9']),
                "{region:?}: {dialled}"
            );
            for first in '2'..='7' {
                for raw in [
                    format!("{first} 44 20 7946 0958"),
                    format!("{first}0 44 20 7946 0958"),
                    format!("{first}{first}1 1 650 253 0000"),
                ] {
                    if let Ok(n) = PHONE_NUMBER_UTIL.parse_and_keep_raw_input(&raw, Some(region)) {
                        assert_ne!(
                            n.country_code_source(),
                            CountryCodeSource::FromNumberWithIdd,
                            "{raw} in {region:?}"
                        );
                    }
                }
            }
            regions += 1;
        }
        assert!(regions > 200, "{regions}");
        // The two parses agree on such numbers, and `read` gives their E.164.
        for (raw, region) in [
            ("20 7946 0958", "GB"),
            ("(650) 253-0000", "US"),
            ("30 901820", "DE"),
            ("612345678", "FR"),
            ("470 12 34 56", "BE"),
        ] {
            let r = parse_region(region).unwrap();
            let fast = PHONE_NUMBER_UTIL.parse(raw, Some(r)).unwrap();
            let kept = PHONE_NUMBER_UTIL
                .parse_and_keep_raw_input(raw, Some(r))
                .unwrap();
            assert!(same_number(&fast, &kept), "{raw}");
            assert_ne!(
                kept.country_code_source(),
                CountryCodeSource::FromNumberWithIdd
            );
            assert_eq!(
                read(raw, r).unwrap().e164,
                fast.format_as(PhoneNumberFormat::E164)
            );
        }
    }

    #[test]
    fn an_unmistakable_idd_is_read() {
        let cases: &[(&str, &str, &str)] = &[
            ("011 44 20 7946 0958", "US", "+442079460958"),
            ("011-49-30-901820", "US", "+4930901820"),
            ("(011) 44 20 7946 0958", "CA", "+442079460958"),
            ("011 1 650 253 0000", "US", "+16502530000"),
            ("0044 20 7946 0958", "GB", "+442079460958"),
            ("0049 30 901820", "DE", "+4930901820"),
            ("00 49 30 901820", "FR", "+4930901820"),
            ("0048 601 234 526", "PL", "+48601234526"),
            ("001 415 555 2671", "DE", "+14155552671"),
            ("0011 44 20 7946 0958", "AU", "+442079460958"),
            ("0011 61 2 9374 4000", "AU", "+61293744000"),
            ("010 44 20 7946 0958", "JP", "+442079460958"),
        ];
        for (raw, region, e164) in cases {
            let reading = read(raw, parse_region(region).unwrap())
                .unwrap_or_else(|e| panic!("{raw} in {region}: {e}"));
            assert_eq!(reading.e164, *e164, "{raw}");
            assert!(reading.explicit, "{raw}");
        }
        // Run together with the country code: not unmistakable outside `00`.
        assert!(e164_of("01144 20 7946 0958", "US").is_err());
        // Indonesia dials out with 008: written apart, it is read.
        assert_eq!(
            e164_of("008 62 21 1234 5678", "ID").map(|r| r.0),
            Ok("+622112345678".into())
        );
    }

    #[test]
    fn columns_of_international_digits() {
        let fr = parse_region("FR").unwrap();
        let read = |raw: &str| read_international(raw, fr).map(|r| (r.e164, r.international));
        // Brevo's SMS: the country code without +, whatever the account's country.
        assert_eq!(read("41791234678"), Ok(("+41791234678".into(), true)));
        assert_eq!(read("32470123406"), Ok(("+32470123406".into(), true)));
        assert_eq!(read("33612345678"), Ok(("+33612345678".into(), true)));
        assert_eq!(read("44 7400 123577"), Ok(("+447400123577".into(), true)));
        // With +, or national with its 0: read as any number.
        assert_eq!(read("+41791234678"), Ok(("+41791234678".into(), false)));
        assert_eq!(read("06 12 34 56 78"), Ok(("+33612345678".into(), false)));
        // Digits that are no number with a country code are refused, not read in FR.
        assert!(read("612345678").is_err());
        assert!(read("1".repeat(30).as_str()).is_err());
        // The same digits in an ordinary column are read in the region.
        assert_eq!(
            super::read("612345678", fr).map(|r| r.e164),
            Ok("+33612345678".into())
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
