//! Validation: the pure function from a mapped row to a [`Lead`] or every [`Problem`] it has,
//! following the API's rules (phone, status, tags, customFields) and ours (email, E.164):
//! the phone columns tried in order, the row's country read as people write it, status
//! values mapped by the file's rules.

pub mod phone;

use std::borrow::Cow;
use std::sync::Arc;

use rlibphonenumber::Region;
use rustc_hash::FxHashMap;
use serde_json::{Map, Value};

use crate::lead::{ErrorClass, Lead, Problem, Status};
use crate::mapping::country::{Countries, CountryValue};
use crate::mapping::stats::{Event, RowNotes, Stats};
use crate::mapping::status::{StatusAction, StatusOutcome, StatusRules, UnknownStatus, suggest};
use crate::mapping::{Mapping, Target};

pub use crate::mapping::country::parse_region;

/// What validation found for one row.
#[derive(Debug, Clone, PartialEq)]
pub struct Validated {
    /// The lead, or every problem of the row.
    pub result: Result<Lead, Vec<Problem>>,
    /// Keys for the duplicate check, known even when the row has other problems.
    pub keys: DedupKeys,
}

/// The identities a row claims, for finding duplicates inside the file.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct DedupKeys {
    /// The normalised phone as an integer (the E.164 digits), when the phone is valid.
    pub phone: Option<u64>,
    /// The lead_id the row would be sent with, when it is known.
    pub lead_id: Option<String>,
}

/// What validation found for one row, without the lead: see [`Validator::findings`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Findings<'f> {
    /// Every problem of the row, as [`Validator::validate`] finds them.
    pub problems: Vec<Problem>,
    /// The normalised phone as an integer (the E.164 digits), when the phone is valid.
    pub phone: Option<u64>,
    /// The phone in E.164 form, when it is valid.
    e164: Option<String>,
    /// The row's own lead_id cell, trimmed (empty when there is none).
    explicit_id: &'f str,
}

impl Findings<'_> {
    /// Whether the row is valid (as far as validation goes: the duplicate check comes after).
    pub fn is_valid(&self) -> bool {
        self.e164.is_some() && self.problems.is_empty()
    }

    /// The lead_id the row would be sent with, when it is known: its own, or one derived
    /// from the phone ([`DedupKeys::lead_id`]).
    pub fn lead_id(&self) -> Option<Cow<'_, str>> {
        if !self.explicit_id.is_empty() {
            Some(Cow::Borrowed(self.explicit_id))
        } else {
            self.e164.as_ref().map(|p| Cow::Owned(format!("phone:{p}")))
        }
    }
}

/// The phone a row gets: from which candidate, and what else to keep.
struct PhoneChoice<'f> {
    e164: String,
    key: u64,
    /// Index into [`Validator::phones`].
    from: usize,
    extension: Option<&'f str>,
    /// The chosen cell held more numbers (it is kept as a custom field).
    more: bool,
}

/// A phone column, as the validator tries it.
#[derive(Debug, Clone)]
struct PhoneColumn {
    /// Its index in the row.
    column: usize,
    /// Its header (the custom field key of a phone not sent).
    header: String,
    /// Its digit strings carry their country code without `+` ([`phone::read_international`]).
    international: bool,
}

/// Validates rows mapped by a [`Mapping`]. Cheap to share between threads.
#[derive(Debug, Clone)]
pub struct Validator {
    /// Phone columns in the order they are tried.
    phones: Vec<PhoneColumn>,
    lead_id: Option<usize>,
    name: Option<usize>,
    first_name: Option<usize>,
    last_name: Option<usize>,
    email: Option<usize>,
    status: Option<usize>,
    tags: Option<usize>,
    custom_json: Option<usize>,
    country: Option<usize>,
    custom: Vec<(usize, String)>,
    default_region: Region,
    tag_separator: Option<String>,
    tags_ignore: Vec<String>,
    status_rules: Arc<StatusRules>,
    country_names: Arc<FxHashMap<Box<str>, Region>>,
    extension_key: String,
    stats: Arc<Stats>,
}

impl Validator {
    /// A validator for rows laid out as `mapping` says, reading national numbers in
    /// `default_region` unless the row's country column says otherwise.
    pub fn new(mapping: &Mapping, default_region: Region) -> Validator {
        let col = |t: Target| mapping.column_of(&t);
        Validator {
            phones: mapping
                .phones
                .iter()
                .map(|(i, _)| PhoneColumn {
                    column: *i,
                    header: mapping.headers[*i].clone(),
                    international: mapping.international.contains(i),
                })
                .collect(),
            lead_id: col(Target::LeadId),
            name: col(Target::Name),
            first_name: col(Target::FirstName),
            last_name: col(Target::LastName),
            email: col(Target::Email),
            status: col(Target::Status),
            tags: col(Target::Tags),
            custom_json: col(Target::CustomFields),
            country: col(Target::Country),
            custom: mapping
                .columns
                .iter()
                .enumerate()
                .filter_map(|(i, (t, _))| match t {
                    Target::Custom(key) => Some((i, key.clone())),
                    _ => None,
                })
                .collect(),
            default_region,
            tag_separator: mapping.tag_separator.clone(),
            tags_ignore: mapping.tags_ignore.clone(),
            status_rules: Arc::new(mapping.status.clone()),
            country_names: Arc::new(mapping.country_names.clone()),
            extension_key: mapping.extension_key.clone(),
            stats: Arc::new(Stats::new(mapping.phones.len(), mapping.status.rules.len())),
        }
    }

    /// The counts of what the mapping decided row by row, shared with every clone of this
    /// validator: keep it before handing the validator to a pipeline, read it after.
    pub fn stats(&self) -> Arc<Stats> {
        Arc::clone(&self.stats)
    }

    /// Bytes of every key a lead's `customFields` may get from this validator (custom
    /// field names, phone headers, the extension's key): with the cells of a row, they
    /// bound the size of its JSON (see [`crate::body::lead_size_bound`]).
    pub fn key_bytes(&self) -> usize {
        let names = |keys: &[(usize, String)]| keys.iter().map(|(_, k)| k.len()).sum::<usize>();
        let phones: usize = self.phones.iter().map(|p| p.header.len()).sum();
        names(&self.custom) + phones + self.extension_key.len()
    }

    /// Whether rows carry their own lead_id column (otherwise every lead_id is derived from
    /// the phone, and the phone alone identifies a row).
    pub fn has_id_column(&self) -> bool {
        self.lead_id.is_some()
    }

    /// Validates one row whose fields have the header's width.
    pub fn validate(&self, fields: &[Cow<'_, str>]) -> Validated {
        let (findings, lead) = self.examine(fields, true);
        let keys = DedupKeys {
            phone: findings.phone,
            lead_id: findings.lead_id().map(Cow::into_owned),
        };
        let result = match lead {
            Some(lead) => Ok(lead),
            None => Err(findings.problems),
        };
        Validated { result, keys }
    }

    /// Validates one row like [`Validator::validate`] and finds the same problems and keys,
    /// but builds no [`Lead`]: for a caller that only needs the verdict, at less cost.
    pub fn findings<'f>(&self, fields: &'f [Cow<'_, str>]) -> Findings<'f> {
        self.examine(fields, false).0
    }

    /// The one validation behind [`Validator::validate`] (`build`: also returns the lead
    /// of a valid row) and [`Validator::findings`] (no lead, and nothing built that only
    /// the lead needs). The checks, and so the problems and their order, are the same.
    fn examine<'f>(&self, fields: &'f [Cow<'_, str>], build: bool) -> (Findings<'f>, Option<Lead>) {
        let cell = |i: Option<usize>| -> &'f str { i.map_or("", |i| fields[i].trim()) };
        let mut problems = Vec::new();
        let mut notes = RowNotes::default();

        let phone = self.phone(fields, &mut problems, &mut notes);
        let explicit_id = cell(self.lead_id);
        let status = self.status(cell(self.status), &mut problems, &mut notes);
        let tags_cell = cell(self.tags);
        let tags = if build || tags_cell.starts_with(['[', '{']) {
            match parse_tags(tags_cell, self.tag_separator.as_deref()) {
                Ok(tags) => self.without_ignored(tags),
                Err(message) => {
                    problems.push(Problem::new(ErrorClass::InvalidTags, "tags", message));
                    None
                }
            }
        } else {
            // Only a cell that starts like JSON can be wrong, and the tags are not wanted.
            None
        };
        let mut custom = match parse_custom_fields(cell(self.custom_json)) {
            Ok(map) => map,
            Err(message) => {
                problems.push(Problem::new(
                    ErrorClass::InvalidCustomFields,
                    "customFields",
                    message,
                ));
                Map::new()
            }
        };
        if build {
            for (i, key) in &self.custom {
                let value = fields[*i].trim();
                if !value.is_empty() {
                    custom.insert(key.clone(), Value::String(value.to_owned()));
                }
            }
            if let Some(choice) = &phone {
                self.keep_phone_extras(fields, choice, &mut custom);
            }
        }
        let email = cell(self.email);
        if !email.is_empty() && !is_plausible_email(email) {
            problems.push(Problem::new(
                ErrorClass::InvalidEmail,
                "email",
                format!("`{email}` is not a plausible email address"),
            ));
        }
        self.stats.record(&notes);

        let (e164, key) = match phone {
            Some(choice) => (Some(choice.e164), Some(choice.key)),
            None => (None, None),
        };
        let findings = Findings {
            problems,
            phone: key,
            e164,
            explicit_id,
        };
        let lead = match &findings.e164 {
            Some(phone) if build && findings.problems.is_empty() => Some(Lead {
                lead_id: findings.lead_id().map(Cow::into_owned).unwrap_or_default(),
                name: self.name(fields),
                phone: phone.clone(),
                email: (!email.is_empty()).then(|| email.to_owned()),
                status,
                tags,
                custom_fields: (!custom.is_empty()).then_some(custom),
            }),
            _ => None,
        };
        (findings, lead)
    }

    /// The row's phone: the first candidate column whose cell holds a valid number. Adds
    /// `missing_phone` when every candidate is empty or a placeholder, else `invalid_phone`
    /// with the first candidate's problem.
    fn phone<'f>(
        &self,
        fields: &'f [Cow<'_, str>],
        problems: &mut Vec<Problem>,
        notes: &mut RowNotes<'f>,
    ) -> Option<PhoneChoice<'f>> {
        // The region national numbers are read in, and whether it was guessed.
        let country_cell = self.country.map_or("", |i| fields[i].trim());
        let (region, guessed, unknown_country) =
            match Countries::builtin().lookup(country_cell, &self.country_names) {
                CountryValue::Region(region) => (region, false, None),
                CountryValue::Empty => (self.default_region, true, None),
                CountryValue::Unknown => (self.default_region, true, Some(country_cell)),
            };
        let mut first_problem: Option<Problem> = None;
        for (k, candidate) in self.phones.iter().enumerate() {
            let header = &candidate.header;
            let raw = fields[candidate.column].trim();
            let (number, extension, more) = match phone::split_cell(raw) {
                phone::Cell::Empty | phone::Cell::Placeholder => continue,
                phone::Cell::LostDigits => {
                    first_problem.get_or_insert_with(|| {
                        Problem::new(ErrorClass::InvalidPhone, "phone", lost_digits(raw, header))
                    });
                    continue;
                }
                phone::Cell::Number {
                    number,
                    extension,
                    more,
                } => (number, extension, more),
            };
            let read = if candidate.international {
                phone::read_international(&number, region)
            } else {
                phone::read(&number, region)
            };
            match read {
                Ok(reading) => {
                    if unknown_country.is_some() {
                        notes.unknown_country = unknown_country;
                        notes.note(Event::UnknownCountry);
                    }
                    if guessed && !reading.explicit {
                        notes.note(Event::DefaultRegion);
                    }
                    if reading.international {
                        notes.note(Event::International);
                    }
                    if extension.is_some() {
                        notes.note(Event::Extension);
                    }
                    if more {
                        notes.note(Event::MultiValue);
                    }
                    if k > 0 {
                        notes.phone_from = Some(k);
                    }
                    return Some(PhoneChoice {
                        e164: reading.e164,
                        key: reading.key,
                        from: k,
                        extension,
                        more,
                    });
                }
                Err(message) => {
                    let message = if self.phones.len() > 1 {
                        format!("{header}: {message}")
                    } else {
                        message
                    };
                    // Read in the default region because the country was not understood:
                    // say so, since that, not the number, may be what needs fixing.
                    let message = match unknown_country {
                        Some(country) if !phone::is_explicit(&number) => format!(
                            "{message} (country `{}` is not one we know, so the number was read in the default region; write the country as an ISO code or name, or map the value in the mapping file's [countries] table)",
                            phone::shown(country)
                        ),
                        _ => message,
                    };
                    first_problem.get_or_insert_with(|| {
                        Problem::new(ErrorClass::InvalidPhone, "phone", message)
                    });
                }
            }
        }
        problems.push(first_problem.unwrap_or_else(|| {
            let what = if self.phones.len() > 1 {
                let names: Vec<&str> = self.phones.iter().map(|p| p.header.as_str()).collect();
                format!("phone is required (no number in {})", names.join(", "))
            } else {
                "phone is required".to_owned()
            };
            let message = if fields.iter().all(|f| f.trim().is_empty()) {
                format!("{what} (the row is empty)")
            } else {
                what
            };
            Problem::new(ErrorClass::MissingPhone, "phone", message)
        }));
        None
    }

    /// Keeps what the phone columns hold beyond the phone sent: the other phone columns
    /// (under their header), the chosen cell when it held several numbers, the extension.
    fn keep_phone_extras(
        &self,
        fields: &[Cow<'_, str>],
        choice: &PhoneChoice<'_>,
        custom: &mut Map<String, Value>,
    ) {
        for (k, candidate) in self.phones.iter().enumerate() {
            let raw = fields[candidate.column].trim();
            let keep = if k == choice.from {
                choice.more
            } else {
                !matches!(
                    phone::split_cell(raw),
                    phone::Cell::Empty | phone::Cell::Placeholder
                )
            };
            if keep {
                custom.insert(candidate.header.clone(), Value::String(raw.to_owned()));
            }
        }
        if let Some(extension) = choice.extension {
            custom.insert(
                self.extension_key.clone(),
                Value::String(extension.to_owned()),
            );
        }
    }

    /// The row's status, by the file's rules; a value nothing maps follows the policy.
    fn status<'f>(
        &self,
        cell: &'f str,
        problems: &mut Vec<Problem>,
        notes: &mut RowNotes<'f>,
    ) -> Option<Status> {
        match self.status_rules.classify(cell) {
            StatusOutcome::Empty => None,
            StatusOutcome::Exact(status) => Some(status),
            StatusOutcome::Mapped(i) => {
                notes.status_rule = Some(i);
                match self.status_rules.rules[i as usize].action {
                    StatusAction::Set(status) => Some(status),
                    StatusAction::Omit => None,
                }
            }
            StatusOutcome::Unknown => {
                notes.unknown_status = Some(cell);
                notes.note(Event::UnknownStatus);
                if self.status_rules.policy == UnknownStatus::Reject {
                    problems.push(Problem::new(
                        ErrorClass::InvalidStatus,
                        "status",
                        unknown_status_message(cell),
                    ));
                }
                None
            }
        }
    }

    fn without_ignored(&self, tags: Option<Vec<String>>) -> Option<Vec<String>> {
        if self.tags_ignore.is_empty() {
            return tags;
        }
        let kept: Vec<String> = tags?
            .into_iter()
            .filter(|t| !self.tags_ignore.iter().any(|i| i == t))
            .collect();
        (!kept.is_empty()).then_some(kept)
    }

    fn name(&self, fields: &[Cow<'_, str>]) -> Option<String> {
        let get = |i: Option<usize>| i.map_or("", |i| fields[i].trim());
        let full = get(self.name);
        if !full.is_empty() {
            return Some(full.to_owned());
        }
        let joined = [get(self.first_name), get(self.last_name)]
            .into_iter()
            .filter(|s| !s.is_empty())
            .collect::<Vec<_>>()
            .join(" ");
        (!joined.is_empty()).then_some(joined)
    }
}

/// The message for a number a spreadsheet wrote in scientific notation.
fn lost_digits(raw: &str, header: &str) -> String {
    format!(
        "`{}` is a number a spreadsheet wrote in scientific notation: its last digits are lost. Export the file again with the `{header}` column formatted as Text (in Excel: select the column, Format Cells → Text, then paste the numbers again or re-import them as text)",
        phone::shown(raw)
    )
}

/// The `invalid_status` message for a value nothing maps, with a did-you-mean that never
/// suggests the opposite.
pub fn unknown_status_message(cell: &str) -> String {
    let base = "Invalid status. Must be one of: new, contacted, qualified, disqualified";
    let shown: String = cell.trim().chars().take(80).collect();
    match suggest(cell) {
        Some(s) => format!("{base} (got `{shown}`; did you mean `{}`?)", s.as_str()),
        None => format!(
            "{base} (got `{shown}`; map it in the mapping file's [status] table, or pass --unknown-status omit to import such leads without a status)"
        ),
    }
}

/// Parses and validates a phone number with libphonenumber's rules, returning its E.164 form
/// and that form's digits as an integer (the duplicate-index key: E.164 has at most 15 digits
/// and never starts with 0, so the integer identifies the number exactly).
pub fn normalise_phone(raw: &str, region: Region) -> Result<(String, u64), String> {
    phone::read(raw, region).map(|r| (r.e164, r.key))
}

/// Parses a tags cell: a JSON array of strings, or a list separated by `separator` (by
/// default the first of `;`, `|`, `,` the cell contains). Trimmed, empties dropped,
/// de-duplicated in first-seen order; an empty result means no tags.
pub fn parse_tags(cell: &str, separator: Option<&str>) -> Result<Option<Vec<String>>, String> {
    let cell = cell.trim();
    if cell.is_empty() {
        return Ok(None);
    }
    let items: Vec<String> = if cell.starts_with('[') {
        let value: Value = serde_json::from_str(cell).map_err(|e| {
            format!("tags must be an array (the cell starts like JSON but is not: {e})")
        })?;
        let Value::Array(items) = value else {
            return Err("tags must be an array".into());
        };
        items
            .into_iter()
            .map(|v| match v {
                Value::String(s) => Ok(s),
                other => Err(format!("tags must be an array of strings (found {other})")),
            })
            .collect::<Result<_, _>>()?
    } else if cell.starts_with('{') {
        return Err("tags must be an array (found a JSON object)".into());
    } else {
        let sep = separator.unwrap_or_else(|| {
            [";", "|", ","]
                .into_iter()
                .find(|s| cell.contains(s))
                .unwrap_or(";")
        });
        return Ok(collect_tags(cell.split(sep)));
    };
    Ok(collect_tags(items.iter().map(String::as_str)))
}

/// Tags trimmed (and unquoted: Mailchimp writes `"VIP","Blog"`), without empties and
/// repeats, in first-seen order; `None` when none is left. Linear in the number of tags:
/// repeats are found with a hash set once the list is longer than a few tags.
fn collect_tags<'a>(items: impl Iterator<Item = &'a str>) -> Option<Vec<String>> {
    const SCAN: usize = 16;
    let mut kept: Vec<&'a str> = Vec::new();
    let mut seen: Option<rustc_hash::FxHashSet<&'a str>> = None;
    for tag in items {
        let tag = tag.trim();
        let tag = tag
            .strip_prefix('"')
            .and_then(|t| t.strip_suffix('"'))
            .map_or(tag, str::trim);
        if tag.is_empty() {
            continue;
        }
        let new = match &mut seen {
            Some(set) => set.insert(tag),
            None if kept.len() < SCAN => !kept.contains(&tag),
            None => {
                let mut set: rustc_hash::FxHashSet<&'a str> = kept.iter().copied().collect();
                let new = set.insert(tag);
                seen = Some(set);
                new
            }
        };
        if new {
            kept.push(tag);
        }
    }
    (!kept.is_empty()).then(|| kept.into_iter().map(str::to_owned).collect())
}

/// Parses a customFields cell: a JSON object whose values are strings, numbers or booleans.
pub fn parse_custom_fields(cell: &str) -> Result<Map<String, Value>, String> {
    let cell = cell.trim();
    if cell.is_empty() {
        return Ok(Map::new());
    }
    let base = "customFields must be a key-value object";
    let value: Value =
        serde_json::from_str(cell).map_err(|e| format!("{base} (not valid JSON: {e})"))?;
    let Value::Object(map) = value else {
        return Err(format!("{base} (found {})", json_kind(&value)));
    };
    for (key, value) in &map {
        if !matches!(value, Value::String(_) | Value::Number(_) | Value::Bool(_)) {
            return Err(format!(
                "{base} of strings, numbers or booleans (`{key}` is {})",
                json_kind(value)
            ));
        }
    }
    Ok(map)
}

fn json_kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// Whether an email address is syntactically plausible: one `@`, a local part of 1–64
/// characters without spaces, and a domain of dot-separated labels (letters, digits,
/// hyphens) ending in a top-level domain of at least two letters.
pub fn is_plausible_email(email: &str) -> bool {
    // An ASCII address (the common case) is checked byte by byte, with the ASCII
    // equivalents of the same character classes: whitespace and control characters are
    // the bytes up to the space and DEL; alphanumeric and alphabetic are ASCII letters
    // (and digits).
    let ascii = email.is_ascii();
    let bad_chars = if ascii {
        email.bytes().any(|b| b <= b' ' || b == 0x7F)
    } else {
        email.chars().any(|c| c.is_whitespace() || c.is_control())
    };
    if email.len() > 254 || bad_chars {
        return false;
    }
    let Some((local, domain)) = email.split_once('@') else {
        return false;
    };
    if local.is_empty() || local.len() > 64 || domain.contains('@') {
        return false;
    }
    if local.starts_with('.') || local.ends_with('.') || local.contains("..") {
        return false;
    }
    // At least two labels.
    if !domain.contains('.') {
        return false;
    }
    let label_ok = |l: &str| {
        !l.is_empty()
            && l.len() <= 63
            && !l.starts_with('-')
            && !l.ends_with('-')
            && if ascii {
                l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
            } else {
                l.chars().all(|c| c.is_alphanumeric() || c == '-')
            }
    };
    let tld = domain.rsplit('.').next().unwrap_or("");
    let tld_ok = if ascii {
        tld.len() >= 2 && tld.bytes().all(|b| b.is_ascii_alphabetic())
    } else {
        tld.chars().count() >= 2 && tld.chars().all(char::is_alphabetic)
    };
    domain.split('.').all(label_ok) && tld_ok
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;

    #[test]
    fn phones_from_several_countries_and_formats() {
        #[track_caller]
        fn ok(raw: &str, region: &str, e164: &str) {
            let region = parse_region(region).unwrap();
            assert_eq!(
                normalise_phone(raw, region).map(|p| p.0),
                Ok(e164.to_owned()),
                "{raw}"
            );
        }
        #[track_caller]
        fn bad(raw: &str, region: &str) {
            let region = parse_region(region).unwrap();
            assert!(
                normalise_phone(raw, region).is_err(),
                "{raw} should be invalid"
            );
        }
        ok("(415) 555-2671", "US", "+14155552671");
        ok("415.555.2671", "US", "+14155552671");
        ok("+1 415 555 2671", "GB", "+14155552671");
        ok("001 415 555 2671", "DE", "+14155552671");
        ok("020 7183 8750", "GB", "+442071838750");
        ok("+44 (0)20 7183 8750", "US", "+442071838750");
        ok("07911 123456", "GB", "+447911123456");
        ok("030 901820", "DE", "+4930901820");
        ok("+49 151 23456789", "US", "+4915123456789");
        ok("06 12 34 56 78", "FR", "+33612345678");
        ok("+33 1 42 68 53 00", "US", "+33142685300");
        ok("(11) 91234-5678", "BR", "+5511912345678");
        ok("98765 43210", "IN", "+919876543210");
        ok("0412 345 678", "AU", "+61412345678");
        ok("06 1234 5678", "NL", "+31612345678");
        ok("+39 06 6982 1234", "US", "+390669821234");
        bad("555-12", "US");
        bad("12345", "GB");
        bad("+1 000 000 0000", "US");
        bad("hello", "US");
        bad("+999 1234 5678", "US");
        bad("+14155552671234567", "US");
    }

    #[test]
    fn phone_key_is_the_e164_digits() {
        let us = parse_region("us").unwrap();
        assert_eq!(
            normalise_phone("415-555-2671", us).unwrap().1,
            14_155_552_671
        );
    }

    #[test]
    fn statuses_and_the_unknown_status_policy() {
        let v = validator(&["phone", "status"]);
        let status = |cell: &str| {
            v.validate(&row(&["+14155552671", cell]))
                .result
                .map(|lead| lead.status)
        };
        assert_eq!(status(""), Ok(None));
        assert_eq!(status("   "), Ok(None));
        assert_eq!(status("NEW"), Ok(Some(Status::New)));
        assert_eq!(status(" Contacted "), Ok(Some(Status::Contacted)));
        assert_eq!(status("DisQualified"), Ok(Some(Status::Disqualified)));
        assert_eq!(status("Nouveau"), Ok(Some(Status::New)));
        assert_eq!(status("Kontaktiert"), Ok(Some(Status::Contacted)));
        assert_eq!(status("Unqualified"), Ok(Some(Status::Disqualified)));
        // The default: a value nothing maps does not sink a lead with a good phone.
        assert_eq!(status("archived"), Ok(None));
        let totals = v.stats().totals();
        assert_eq!(totals.unknown_status, [("archived".to_owned(), 1)]);

        let file: crate::mapping::MappingFile =
            toml::from_str("unknown_status = \"reject\"\n[status]\n\"Won\" = \"qualified\"\n")
                .unwrap();
        let headers: Vec<String> = vec!["phone".into(), "status".into()];
        let mapping = Mapping::resolve(
            &headers,
            Some((Path::new("m.toml"), &file)),
            Path::new("in.csv"),
        )
        .unwrap();
        let strict = Validator::new(&mapping, parse_region("US").unwrap());
        let check = |cell: &str| strict.validate(&row(&["+14155552671", cell])).result;
        assert_eq!(check("won").unwrap().status, Some(Status::Qualified));
        #[track_caller]
        fn rejected(result: Result<Lead, Vec<Problem>>, part: &str) {
            let problems = result.unwrap_err();
            assert_eq!(problems[0].class, ErrorClass::InvalidStatus);
            let message = &problems[0].message;
            assert!(message.starts_with(
                "Invalid status. Must be one of: new, contacted, qualified, disqualified"
            ));
            assert!(
                message.contains(part),
                "{message:?} should contain {part:?}"
            );
        }
        rejected(check("qualifed"), "did you mean `qualified`?");
        rejected(check("contact"), "did you mean `contacted`?");
        rejected(check("disq"), "did you mean `disqualified`?");
        rejected(check("nwe"), "did you mean `new`?");
        rejected(check("archived"), "(got `archived`;");
        rejected(check("Uncontacted"), "[status] table");
        for opposite in ["Uncontacted", "Not Contacted", "Non-qualified lead"] {
            let message = &check(opposite).unwrap_err()[0].message;
            assert!(!message.contains("did you mean"), "{opposite}: {message}");
        }
    }

    #[test]
    fn tags() {
        #[track_caller]
        fn case(cell: &str, sep: Option<&str>, expected: Result<Option<Vec<&str>>, &str>) {
            let got = parse_tags(cell, sep);
            match expected {
                Ok(v) => assert_eq!(
                    got,
                    Ok(v.map(|v| v.into_iter().map(String::from).collect())),
                    "{cell:?}"
                ),
                Err(part) => {
                    let err = got.expect_err(cell);
                    assert!(err.contains(part), "{err:?} should contain {part:?}");
                }
            }
        }
        case("", None, Ok(None));
        case(r#"["vip", "hot"]"#, None, Ok(Some(vec!["vip", "hot"])));
        case(r#"[" vip ", "", "vip"]"#, None, Ok(Some(vec!["vip"])));
        case("[]", None, Ok(None));
        case("vip; hot ;;vip", None, Ok(Some(vec!["vip", "hot"])));
        case("vip|hot", None, Ok(Some(vec!["vip", "hot"])));
        case("vip, hot", None, Ok(Some(vec!["vip", "hot"])));
        case("a,b;c", None, Ok(Some(vec!["a,b", "c"])));
        case("a,b;c", Some(","), Ok(Some(vec!["a", "b;c"])));
        case("single", None, Ok(Some(vec!["single"])));
        case(r#"["vip", 3]"#, None, Err("array of strings"));
        case(r#"["vip""#, None, Err("tags must be an array"));
        case(r#"{"a": 1}"#, None, Err("found a JSON object"));
    }

    #[test]
    fn a_million_tags_in_one_cell() {
        // 10^6 tags, half of them repeats: linear de-duplication (this took quadratic time).
        let mut cell = String::with_capacity(8_000_000);
        for i in 0..1_000_000u32 {
            cell.push_str(&format!("t{};", i % 500_000));
        }
        let tags = parse_tags(&cell, None).unwrap().unwrap();
        assert_eq!(tags.len(), 500_000);
        assert_eq!(tags[0], "t0");
        assert_eq!(tags[499_999], "t499999");
        let json = format!(
            "[{}]",
            (0..1_000_000u32)
                .map(|i| format!("\"t{}\"", i % 1000))
                .collect::<Vec<_>>()
                .join(",")
        );
        let tags = parse_tags(&json, None).unwrap().unwrap();
        assert_eq!(tags.len(), 1000);
    }

    #[test]
    fn huge_status_and_country_cells_are_bounded() {
        let v = validator(&["phone", "status", "country"]);
        let huge = "qualified ".repeat(200_000);
        let out = v.validate(&row(&["+14155552671", &huge, &huge]));
        let lead = out.result.unwrap();
        assert_eq!(lead.status, None);
        let totals = v.stats().totals();
        assert!(totals.unknown_status[0].0.len() <= 64);
        assert!(unknown_status_message(&huge).len() < 400);
    }

    #[test]
    fn custom_fields() {
        assert_eq!(parse_custom_fields(""), Ok(Map::new()));
        let map =
            parse_custom_fields(r#"{"company": "Acme", "value": 5000, "vip": true}"#).unwrap();
        assert_eq!(map.len(), 3);
        assert_eq!(map["value"], Value::from(5000));
        #[track_caller]
        fn bad(cell: &str, part: &str) {
            let err = parse_custom_fields(cell).expect_err(cell);
            assert!(
                err.starts_with("customFields must be a key-value object"),
                "{err}"
            );
            assert!(err.contains(part), "{err:?} should contain {part:?}");
        }
        bad("[1, 2]", "found an array");
        bad("\"text\"", "found a string");
        bad("42", "found a number");
        bad("{not json", "not valid JSON");
        bad(r#"{"a": {"b": 1}}"#, "`a` is an object");
        bad(r#"{"a": null}"#, "`a` is null");
    }

    #[test]
    fn emails() {
        for good in [
            "a@example.com",
            "first.last+tag@sub.example.co.uk",
            "o'neil@exämple.de",
            "x@a-b.io",
        ] {
            assert!(is_plausible_email(good), "{good}");
        }
        for bad in [
            "plainaddress",
            "@example.com",
            "a@",
            "a@example",
            "a@@example.com",
            "a b@example.com",
            "a@example..com",
            "a@-example.com",
            "a@example.c0m",
            ".a@example.com",
            "a..b@example.com",
            "a@example.c",
        ] {
            assert!(!is_plausible_email(bad), "{bad}");
        }
    }

    fn validator(headers: &[&str]) -> Validator {
        let headers: Vec<String> = headers.iter().map(|s| (*s).to_owned()).collect();
        let mapping = Mapping::resolve(&headers, None, Path::new("in.csv")).unwrap();
        Validator::new(&mapping, parse_region("US").unwrap())
    }

    fn row<'a>(fields: &[&'a str]) -> Vec<Cow<'a, str>> {
        fields.iter().map(|f| Cow::Borrowed(*f)).collect()
    }

    #[test]
    fn a_column_of_international_digits_is_read_with_its_country_code() {
        let headers: Vec<String> = ["EMAIL", "SMS", "LANDLINE_NUMBER", "WHATSAPP", "ADDED_TIME"]
            .iter()
            .map(|s| (*s).to_owned())
            .collect();
        let mapping = Mapping::resolve(&headers, None, Path::new("in.csv")).unwrap();
        let v = Validator::new(&mapping, parse_region("FR").unwrap());
        let phone = |cells: &[&str]| match v.validate(&row(cells)).result {
            Ok(lead) => Ok(lead.phone),
            Err(problems) => Err(problems[0].class),
        };
        // A Swiss mobile in a French account: +41, not a French reading.
        assert_eq!(
            phone(&["a@b.ch", "41791234678", "", "", ""]),
            Ok("+41791234678".into())
        );
        // The landline (with +) comes first; a national number still reads in the region.
        assert_eq!(
            phone(&["a@b.fr", "33612345678", "+33142685300", "", ""]),
            Ok("+33142685300".into())
        );
        assert_eq!(
            phone(&["a@b.fr", "06 12 34 56 78", "", "", ""]),
            Ok("+33612345678".into())
        );
        assert_eq!(
            phone(&["a@b.fr", "", "", "32470123406", ""]),
            Ok("+32470123406".into())
        );
        assert_eq!(
            phone(&["a@b.fr", "612345678", "", "", ""]),
            Err(ErrorClass::InvalidPhone)
        );
    }

    #[test]
    fn a_valid_row_becomes_a_lead() {
        let v = validator(&[
            "First Name",
            "Last Name",
            "Phone",
            "Email",
            "Status",
            "Tags",
            "Company",
        ]);
        let out = v.validate(&row(&[
            " Ada ",
            "Lovelace",
            "(415) 555-2671",
            "ada@example.com",
            "Qualified",
            "vip;hot",
            "Acme",
        ]));
        let lead = out.result.unwrap();
        assert_eq!(
            serde_json::to_value(&lead).unwrap(),
            serde_json::json!({
                "lead_id": "phone:+14155552671",
                "name": "Ada Lovelace",
                "phone": "+14155552671",
                "email": "ada@example.com",
                "status": "qualified",
                "tags": ["vip", "hot"],
                "customFields": {"Company": "Acme"}
            })
        );
        assert_eq!(out.keys.phone, Some(14_155_552_671));
    }

    #[test]
    fn every_problem_of_a_row_is_reported() {
        let v = validator(&["id", "phone", "email", "status", "tags", "custom_fields"]);
        let out = v.validate(&row(&["c-1", "12", "nope", "won", "{}", "[1]"]));
        let problems = out.result.unwrap_err();
        let classes: Vec<ErrorClass> = problems.iter().map(|p| p.class).collect();
        // `won` is not a problem by default (the lead would go without a status).
        assert_eq!(
            classes,
            vec![
                ErrorClass::InvalidPhone,
                ErrorClass::InvalidTags,
                ErrorClass::InvalidCustomFields,
                ErrorClass::InvalidEmail
            ]
        );
        assert_eq!(out.keys.lead_id.as_deref(), Some("c-1"));
    }

    #[test]
    fn per_row_country_column() {
        let v = validator(&["phone", "country"]);
        let lead = v.validate(&row(&["020 7183 8750", "gb"])).result.unwrap();
        assert_eq!(lead.phone, "+442071838750");
        let lead = v.validate(&row(&["(415) 555-2671", ""])).result.unwrap();
        assert_eq!(lead.phone, "+14155552671");
        // A country nobody knows falls back to the default region (US here): a number
        // valid there is kept, one that is not is rejected with the country named.
        let lead = v
            .validate(&row(&["(415) 555-2671", "Narnia"]))
            .result
            .unwrap();
        assert_eq!(lead.phone, "+14155552671");
        let lead = v
            .validate(&row(&["+44 20 7183 8750", "Narnia"]))
            .result
            .unwrap();
        assert_eq!(lead.phone, "+442071838750");
        let problems = v
            .validate(&row(&["020 7183 8750", "Narnia"]))
            .result
            .unwrap_err();
        assert_eq!(problems[0].class, ErrorClass::InvalidPhone);
        assert!(
            problems[0]
                .message
                .contains("country `Narnia` is not one we know")
        );
        // Vehicle registration codes, as German address data writes the country.
        let lead = v.validate(&row(&["040 12345836", "D"])).result.unwrap();
        assert_eq!(lead.phone, "+494012345836");
    }

    #[test]
    fn missing_phone() {
        let v = validator(&["name", "phone"]);
        let problems = v.validate(&row(&["Bob", "  "])).result.unwrap_err();
        assert_eq!(
            problems,
            vec![Problem::new(
                ErrorClass::MissingPhone,
                "phone",
                "phone is required"
            )]
        );
        let problems = v.validate(&row(&["", ""])).result.unwrap_err();
        assert_eq!(problems[0].message, "phone is required (the row is empty)");
    }

    #[test]
    fn findings_are_what_validate_finds() {
        let v = validator(&[
            "lead_id", "name", "phone", "email", "status", "tags", "company", "country",
        ]);
        let rows: &[[&str; 8]] = &[
            [
                "crm-1",
                "Ada",
                "+44 20 7946 0958",
                "ada@example.com",
                "new",
                "vip;uk",
                "X",
                "",
            ],
            ["", "Bob", "(415) 555-2671", "", "NEW", "", "", "US"],
            [
                "crm-3",
                "",
                "415 555 2671",
                "bob@",
                "qualifed",
                "[\"a\", 3]",
                "",
                "GB",
            ],
            [
                "crm-4",
                "Cy",
                "",
                "c@example.co.uk",
                " Contacted ",
                "{}",
                "",
                "",
            ],
            ["  ", "  ", "  ", "", "", "", "", ""],
            [
                "crm-6",
                "Di",
                "06 12 34 56 78",
                "d@ex-ample.fr",
                "dis",
                "[\"x\"",
                "",
                "FR",
            ],
            [
                "crm-7",
                "Ed",
                "555-12",
                "e@example.c0m",
                "archived",
                "a|b",
                "",
                "Narnia",
            ],
            [
                "crm-8",
                "Fe",
                "030 901820",
                "f@@example.de",
                "\u{212A}new",
                "[]",
                "",
                "de",
            ],
            ["", "", "+1 000 000 0000", "g@example.com", "", "", "", ""],
        ];
        for fields in rows {
            let fields = row(fields);
            let validated = v.validate(&fields);
            let findings = v.findings(&fields);
            assert_eq!(findings.is_valid(), validated.result.is_ok(), "{fields:?}");
            assert_eq!(findings.phone, validated.keys.phone, "{fields:?}");
            assert_eq!(
                findings.lead_id().map(Cow::into_owned),
                validated.keys.lead_id,
                "{fields:?}"
            );
            match validated.result {
                Ok(lead) => {
                    assert!(findings.problems.is_empty());
                    assert_eq!(Some(lead.lead_id), findings.lead_id().map(Cow::into_owned));
                }
                Err(problems) => assert_eq!(findings.problems, problems, "{fields:?}"),
            }
        }
    }

    #[test]
    fn ascii_emails_are_judged_as_by_character_classes() {
        // The rules written with `char` classes only, as before the ASCII fast path.
        fn by_chars(email: &str) -> bool {
            if email.len() > 254 || email.chars().any(|c| c.is_whitespace() || c.is_control()) {
                return false;
            }
            let Some((local, domain)) = email.split_once('@') else {
                return false;
            };
            if local.is_empty() || local.len() > 64 || domain.contains('@') {
                return false;
            }
            if local.starts_with('.') || local.ends_with('.') || local.contains("..") {
                return false;
            }
            let labels: Vec<&str> = domain.split('.').collect();
            let label_ok = |l: &&str| {
                !l.is_empty()
                    && l.len() <= 63
                    && !l.starts_with('-')
                    && !l.ends_with('-')
                    && l.chars().all(|c| c.is_alphanumeric() || c == '-')
            };
            let tld = labels[labels.len() - 1];
            labels.len() >= 2
                && labels.iter().all(label_ok)
                && tld.chars().count() >= 2
                && tld.chars().all(char::is_alphabetic)
        }
        let bases = [
            "ada@example.com",
            "a.b-c_d+e@sub.exa-mple.co.uk",
            "x@y.zz",
            "zoë@exämple.de",
        ];
        // Every byte value in every position of each address, so each class boundary is hit.
        for base in bases {
            assert_eq!(is_plausible_email(base), by_chars(base), "{base}");
            for at in 0..base.len() {
                if !base.is_char_boundary(at) {
                    continue;
                }
                for c in (0u32..0x250).chain([0x85, 0xA0, 0x2028, 0x3000]) {
                    let Some(c) = char::from_u32(c) else { continue };
                    let mut email = base.to_owned();
                    email.insert(at, c);
                    assert_eq!(is_plausible_email(&email), by_chars(&email), "{email:?}");
                }
            }
        }
    }

    #[test]
    fn emails_need_a_domain_of_labels() {
        assert!(is_plausible_email("a.b@example.co.uk"));
        assert!(is_plausible_email("zoë@exämple.de"));
        for bad in [
            "a@",
            "a@b",
            "a@b.",
            "a@.b.com",
            "a@b..com",
            "a@-b.com",
            "a@b-.com",
            "a@b.c",
            "a@b.c0m",
            ".a@b.com",
            "a..b@b.com",
            "a b@b.com",
            "@b.com",
            "a@b@c.com",
        ] {
            assert!(!is_plausible_email(bad), "{bad}");
        }
    }
}
