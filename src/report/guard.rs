//! The formula guard: a report cell that a spreadsheet would run as a formula (or turn into a
//! number, losing digits) is written with a leading `'`, and `nl-import` reading its own
//! report back takes that `'` off again, so the guard never becomes data.
//!
//! The escaping is unambiguous because a cell that itself starts with `'` is guarded too:
//! in a guarded report every cell starting with `'` has exactly one `'` added in front of
//! the original value, and every other cell is the original value.
//!
//! Guarded (OWASP "CSV injection"): cells starting with `=`, `+`, `-`, `@`, tab, carriage
//! return or line feed. Also guarded, because spreadsheets destroy them when they open a
//! CSV: digit strings with a leading zero (`0049…`, `07700900123`: the zero is dropped) and
//! digit strings of 12 digits or more (`4915112345678` becomes `4.91511E+12`, and digits past
//! the 15th are lost).

use std::borrow::Cow;

/// The character put in front of a guarded cell.
pub const GUARD: char = '\'';

/// Whether `cell` must be guarded in a CSV report.
pub fn needs_guard(cell: &str) -> bool {
    let bytes = cell.as_bytes();
    match bytes.first() {
        Some(b'=' | b'+' | b'-' | b'@' | b'\t' | b'\r' | b'\n' | b'\'') => true,
        Some(b'0'..=b'9') => mangled_as_number(bytes),
        _ => false,
    }
}

/// Digits only, and either a leading zero (of a longer string) or 12 digits or more: what a
/// spreadsheet opening a CSV turns into a number it cannot give back as written.
fn mangled_as_number(bytes: &[u8]) -> bool {
    bytes.iter().all(u8::is_ascii_digit)
        && ((bytes.len() > 1 && bytes[0] == b'0') || bytes.len() >= 12)
}

/// `cell` as it goes into a CSV report.
pub fn guard(cell: &str) -> Cow<'_, str> {
    if needs_guard(cell) {
        let mut out = String::with_capacity(cell.len() + 1);
        out.push(GUARD);
        out.push_str(cell);
        Cow::Owned(out)
    } else {
        Cow::Borrowed(cell)
    }
}

/// A cell of a guarded report as it was before the guard.
pub fn unguard(cell: &[u8]) -> &[u8] {
    cell.strip_prefix(b"'").unwrap_or(cell)
}

/// [`unguard`] for text.
pub fn unguard_str(cell: &str) -> &str {
    cell.strip_prefix(GUARD).unwrap_or(cell)
}

/// Bytes that are not UTF-8 made visible: valid text is kept, and each byte that cannot be
/// decoded is written `\xNN` (as Python's `backslashreplace` does), rather than replaced by
/// U+FFFD, which would hide what the file held.
pub fn escape_invalid_utf8(bytes: &[u8]) -> String {
    use std::fmt::Write as _;
    let mut out = String::with_capacity(bytes.len() + 8);
    for chunk in bytes.utf8_chunks() {
        out.push_str(chunk.valid());
        for b in chunk.invalid() {
            let _ = write!(out, "\\x{b:02X}");
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formula_and_number_like_cells_are_guarded() {
        for cell in [
            "=1+2",
            "+14155552671",
            "-2+3",
            "@SUM(A1)",
            "\t=1",
            "\r=1",
            "\n=1",
            "'quoted",
            "''",
            "0049301234",
            "07700900123",
            "4915112345678",
            "123456789012",
        ] {
            assert!(needs_guard(cell), "{cell:?}");
            assert_eq!(guard(cell), format!("'{cell}"));
        }
        for cell in [
            "",
            "Ada",
            " =1+2",
            "0",
            "4155552671",
            "12345678901",
            "1.5",
            "0.5",
            "a=b",
            "é",
        ] {
            assert!(!needs_guard(cell), "{cell:?}");
            assert_eq!(guard(cell), cell);
        }
    }

    #[test]
    fn unguard_gives_back_exactly_what_was_guarded() {
        for cell in [
            "", "'", "''", "'''x", "=1", "'=1", "+1", "x'", "0012", "Ada", "-", "@", "\t",
        ] {
            let guarded = guard(cell);
            assert_eq!(unguard_str(&guarded), cell, "{cell:?}");
            assert_eq!(unguard(guarded.as_bytes()), cell.as_bytes(), "{cell:?}");
            // And a guarded cell always starts with the guard, an unguarded one never does.
            assert_eq!(guarded.starts_with(GUARD), needs_guard(cell));
        }
    }

    #[test]
    fn undecodable_bytes_stay_visible() {
        assert_eq!(
            escape_invalid_utf8(b"Jos\xE9 M\xFCller"),
            "Jos\\xE9 M\\xFCller"
        );
        assert_eq!(escape_invalid_utf8("José".as_bytes()), "José");
        assert_eq!(escape_invalid_utf8(b"\xFF\xFE"), "\\xFF\\xFE");
        // A character cut short is shown byte by byte.
        assert_eq!(escape_invalid_utf8(b"a\xC3"), "a\\xC3");
    }
}
