//! Countries as people write them (`Deutschland`, `USA`, `U.K.`, `España`, `DEU`, `+44`) →
//! the region a row's phone number is read in. The names come from ISO 3166 and its
//! translations in thirteen languages (`data/countries.tsv`, generated from Debian's
//! `iso-codes` by `data/countries.py`), plus the colloquial names listed there.

use std::collections::HashSet;
use std::sync::OnceLock;

use rlibphonenumber::{PHONE_NUMBER_UTIL, Region};
use rustc_hash::FxHashMap;

use super::text::{FoldBuf, fold, is_placeholder};

const DATA: &str = include_str!("data/countries.tsv");

/// What a country cell says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CountryValue {
    /// A region libphonenumber knows.
    Region(Region),
    /// Empty, or a placeholder (`N/A`, `unknown`, `-`): no country given.
    Empty,
    /// A value that names no country we know.
    Unknown,
}

/// The country names and codes known to the importer.
#[derive(Debug)]
pub struct Countries {
    /// Two-letter codes, indexed by `(a - 'A') * 26 + (b - 'A')`.
    codes: Vec<Option<Region>>,
    /// Folded names, alpha-3 codes and aliases.
    names: FxHashMap<Box<str>, Region>,
}

/// The regions libphonenumber has metadata for.
pub fn supported_regions() -> &'static HashSet<Region> {
    static REGIONS: OnceLock<HashSet<Region>> = OnceLock::new();
    REGIONS.get_or_init(|| PHONE_NUMBER_UTIL.get_supported_regions().collect())
}

/// Parses an ISO 3166 alpha-2 region code (any case) that libphonenumber knows.
pub fn parse_region(code: &str) -> Option<Region> {
    let code = code.trim();
    if code.len() != 2 {
        return None;
    }
    Region::from_code(code)
        .ok()
        .filter(|r| supported_regions().contains(r))
}

fn code_index(code: &[u8]) -> Option<usize> {
    match code {
        [a, b] if a.is_ascii_alphabetic() && b.is_ascii_alphabetic() => Some(
            usize::from(a.to_ascii_uppercase() - b'A') * 26
                + usize::from(b.to_ascii_uppercase() - b'A'),
        ),
        _ => None,
    }
}

impl Countries {
    /// The built-in table, built once.
    pub fn builtin() -> &'static Countries {
        static TABLE: OnceLock<Countries> = OnceLock::new();
        TABLE.get_or_init(Countries::load)
    }

    fn load() -> Countries {
        let mut codes = vec![None; 26 * 26];
        let mut names: FxHashMap<Box<str>, Option<Region>> = FxHashMap::default();
        for line in DATA.lines() {
            if line.starts_with('#') || line.is_empty() {
                continue;
            }
            let Some((code, name)) = line.split_once('\t') else {
                continue;
            };
            let Some(region) = parse_region(code) else {
                continue;
            };
            if let Some(i) = code_index(code.as_bytes()) {
                codes[i] = Some(region);
            }
            let key = fold(name);
            if key.is_empty() {
                continue;
            }
            // A name two countries share (`Congo`, `Korea`) is ambiguous: dropped.
            names
                .entry(key.into_boxed_str())
                .and_modify(|r| {
                    if *r != Some(region) {
                        *r = None;
                    }
                })
                .or_insert(Some(region));
        }
        Countries {
            codes,
            names: names
                .into_iter()
                .filter_map(|(k, r)| r.map(|r| (k, r)))
                .collect(),
        }
    }

    /// What a country cell says, with `extra` (the mapping file's `[countries]`, folded
    /// names) consulted before the built-in names. Allocates nothing.
    pub fn lookup(&self, cell: &str, extra: &FxHashMap<Box<str>, Region>) -> CountryValue {
        let cell = cell.trim();
        if cell.is_empty() {
            return CountryValue::Empty;
        }
        let mut buf = FoldBuf::default();
        let key = buf.fold(cell);
        if !extra.is_empty()
            && let Some(region) = key.and_then(|k| extra.get(k))
        {
            return CountryValue::Region(*region);
        }
        if let Some(region) = code_index(cell.as_bytes()).and_then(|i| self.codes[i]) {
            return CountryValue::Region(region);
        }
        if let Some(region) = calling_code(cell) {
            return CountryValue::Region(region);
        }
        if is_placeholder(cell) {
            return CountryValue::Empty;
        }
        match key.and_then(|k| self.names.get(k)) {
            Some(region) => CountryValue::Region(*region),
            None => CountryValue::Unknown,
        }
    }
}

/// `+44`, `0044`, `+1`: the main region of a country calling code.
fn calling_code(cell: &str) -> Option<Region> {
    let digits = cell
        .strip_prefix('+')
        .or_else(|| cell.strip_prefix("00"))?
        .trim();
    if digits.is_empty() || digits.len() > 3 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let code: i32 = digits.parse().ok()?;
    PHONE_NUMBER_UTIL
        .get_region_for_country_code(code)
        .filter(|r| supported_regions().contains(r))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn region(cell: &str) -> Option<String> {
        match Countries::builtin().lookup(cell, &FxHashMap::default()) {
            CountryValue::Region(r) => Some(r.as_region_str().to_string()),
            _ => None,
        }
    }

    #[test]
    fn country_names_as_people_write_them() {
        let cases: &[(&str, &str)] = &[
            ("US", "US"),
            ("us", "US"),
            ("USA", "US"),
            ("U.S.", "US"),
            ("U.S.A.", "US"),
            ("United States", "US"),
            ("United States of America", "US"),
            ("Estados Unidos", "US"),
            ("États-Unis", "US"),
            ("Vereinigte Staaten", "US"),
            ("UK", "GB"),
            ("U.K.", "GB"),
            ("GB", "GB"),
            ("GBR", "GB"),
            ("United Kingdom", "GB"),
            ("Great Britain", "GB"),
            ("England", "GB"),
            ("Royaume-Uni", "GB"),
            ("Deutschland", "DE"),
            ("Germany", "DE"),
            ("Allemagne", "DE"),
            ("DEU", "DE"),
            ("deutschland ", "DE"),
            ("Österreich", "AT"),
            ("Osterreich", "AT"),
            ("Autriche", "AT"),
            ("Schweiz", "CH"),
            ("Suisse", "CH"),
            ("Svizzera", "CH"),
            ("España", "ES"),
            ("Espana", "ES"),
            ("Spanien", "ES"),
            ("México", "MX"),
            ("Mexico", "MX"),
            ("India", "IN"),
            ("Inde", "IN"),
            ("Brasil", "BR"),
            ("Brazil", "BR"),
            ("Italia", "IT"),
            ("Italien", "IT"),
            ("Nederland", "NL"),
            ("Netherlands", "NL"),
            ("The Netherlands", "NL"),
            ("Holland", "NL"),
            ("Pays-Bas", "NL"),
            ("Belgique", "BE"),
            ("België", "BE"),
            ("France", "FR"),
            ("Frankrijk", "FR"),
            ("Portugal", "PT"),
            ("Polska", "PL"),
            ("Irlanda", "IE"),
            ("South Korea", "KR"),
            ("Czech Republic", "CZ"),
            ("Türkiye", "TR"),
            ("Turkey", "TR"),
            // Polish, Swedish, Danish, Norwegian, Finnish, Czech
            ("Polska", "PL"),
            ("Niemcy", "DE"),
            ("Wielka Brytania", "GB"),
            ("Francja", "FR"),
            ("Stany Zjednoczone", "US"),
            ("Sverige", "SE"),
            ("Tyskland", "DE"),
            ("Storbritannien", "GB"),
            ("Danmark", "DK"),
            ("Storbritannia", "GB"),
            ("Saksa", "DE"),
            ("Yhdysvallat", "US"),
            ("Německo", "DE"),
            ("Velká Británie", "GB"),
            ("Spojené státy", "US"),
            ("Rosja", "RU"),
            ("+44", "GB"),
            ("0049", "DE"),
            ("+1", "US"),
        ];
        for (cell, code) in cases {
            assert_eq!(region(cell).as_deref(), Some(*code), "{cell}");
        }
        // Short translations read as codes are left out (Czech `Čad` is Chad, but `CAD`).
        for cell in [
            "Narnia", "Europe", "Korea", "ZZ", "12", "+999", "Čad", "CAD", "Man",
        ] {
            assert_eq!(
                Countries::builtin().lookup(cell, &FxHashMap::default()),
                CountryValue::Unknown,
                "{cell}"
            );
        }
        for cell in ["", "  ", "N/A", "unknown", "-", "?"] {
            assert_eq!(
                Countries::builtin().lookup(cell, &FxHashMap::default()),
                CountryValue::Empty,
                "{cell}"
            );
        }
    }

    #[test]
    fn extra_names_come_first() {
        let mut extra = FxHashMap::default();
        extra.insert(
            fold("Ostfriesland").into_boxed_str(),
            parse_region("DE").unwrap(),
        );
        extra.insert(fold("NA").into_boxed_str(), parse_region("US").unwrap());
        let t = Countries::builtin();
        assert_eq!(
            t.lookup("Ostfriesland", &extra),
            CountryValue::Region(parse_region("DE").unwrap())
        );
        assert_eq!(
            t.lookup("NA", &extra),
            CountryValue::Region(parse_region("US").unwrap())
        );
    }

    #[test]
    fn regions() {
        assert!(parse_region("US").is_some());
        assert!(parse_region("gb").is_some());
        assert!(parse_region("XX").is_none());
        assert!(parse_region("USA").is_none());
        assert!(parse_region("").is_none());
    }
}
