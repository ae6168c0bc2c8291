//! What the mapping decided, for people and machines: the `--print-mapping` table, the
//! short account on stderr at the start of a run, the `mapping` object of `summary.json`,
//! and the part of the configuration fingerprint it contributes.

use std::fmt::Write as _;

use rlibphonenumber::Region;
use serde::Serialize;
use serde_json::{Value, json};

use super::stats::{Event, Stats, Totals};
use super::status::{RuleOrigin, StatusAction, UnknownStatus, suggest};
use super::{Mapping, Origin, PolicySource, PresetHow, Target};

/// The `mapping` object of `summary.json`: what was decided per column, and what happened
/// row by row.
#[derive(Debug, Clone, Serialize)]
pub struct MappingSummary {
    /// The preset applied, if any.
    pub preset: Option<PresetSummary>,
    /// Every column: the field it feeds and why.
    pub columns: Vec<ColumnSummary>,
    /// Phones.
    pub phones: PhoneSummary,
    /// The country column, when there is one.
    pub country: Option<CountrySummary>,
    /// The status column, when there is one.
    pub status: Option<StatusSummary>,
    /// Columns not sent, and why.
    pub dropped: Vec<ColumnSummary>,
    /// Columns sent as custom fields.
    pub custom_fields: Vec<String>,
}

/// The preset applied.
#[derive(Debug, Clone, Serialize)]
pub struct PresetSummary {
    /// Its name (`--preset` takes it).
    pub name: String,
    /// What export it describes.
    pub title: String,
    /// `detected`, `--preset` or `mapping file`.
    pub how: &'static str,
    /// How many of its signature headers the file has (when detected).
    pub matched_headers: Option<usize>,
}

/// One column.
#[derive(Debug, Clone, Serialize)]
pub struct ColumnSummary {
    /// The header.
    pub column: String,
    /// The field (`phone 2/3`, `customFields.Company`, `(ignored)`).
    pub field: String,
    /// Why.
    pub how: String,
}

/// Phones, counted over the rows validated in this run.
#[derive(Debug, Clone, Serialize)]
pub struct PhoneSummary {
    /// The phone columns, in the order they are tried.
    pub columns: Vec<String>,
    /// Rows whose phone came from a column other than the first, by column.
    pub taken_from_later_column: Vec<ColumnCount>,
    /// The region numbers without a country code are read in when the row gives none.
    pub default_region: String,
    /// Numbers without a country code read in the default region (no country for the row).
    pub read_in_default_region: u64,
    /// Digits without `+` that began with the country code, read as international.
    pub read_as_international: u64,
    /// Extensions kept as a custom field.
    pub extensions_kept: u64,
    /// The customFields key extensions are kept under.
    pub extension_key: String,
    /// Cells holding several numbers (the first valid one was taken, the cell kept).
    pub multi_value_cells: u64,
}

/// A count for one column or value.
#[derive(Debug, Clone, Serialize)]
pub struct ColumnCount {
    /// The column or value.
    pub value: String,
    /// Rows.
    pub rows: u64,
}

/// The country column.
#[derive(Debug, Clone, Serialize)]
pub struct CountrySummary {
    /// Its header.
    pub column: String,
    /// Values not understood, most frequent first (rows with a number carrying its country
    /// code are imported; numbers without one are rejected).
    pub unknown_values: Vec<ColumnCount>,
    /// Rows with other values not understood, beyond those listed.
    pub other_unknown_rows: u64,
    /// Rows whose country was not understood.
    pub rows_with_unknown_country: u64,
}

/// The status column.
#[derive(Debug, Clone, Serialize)]
pub struct StatusSummary {
    /// Its header.
    pub column: String,
    /// `omit` (import without status) or `reject`.
    pub unknown_policy: &'static str,
    /// Where the policy comes from.
    pub policy_from: &'static str,
    /// Values a table or translation mapped, with their rows (tables: every entry).
    pub mapped: Vec<StatusMapped>,
    /// Values nothing maps, most frequent first, with a did-you-mean when one is close.
    pub unknown_values: Vec<StatusUnknown>,
    /// Rows with other unknown values, beyond those listed.
    pub other_unknown_rows: u64,
    /// Rows whose status nothing maps.
    pub rows_with_unknown_status: u64,
}

/// A status value mapped.
#[derive(Debug, Clone, Serialize)]
pub struct StatusMapped {
    /// The value.
    pub value: String,
    /// What it became (`(no status)` for omit).
    pub status: String,
    /// `mapping file`, `preset NAME` or `built-in translation`.
    pub by: String,
    /// Rows.
    pub rows: u64,
}

/// A status value nothing maps.
#[derive(Debug, Clone, Serialize)]
pub struct StatusUnknown {
    /// The value.
    pub value: String,
    /// Rows.
    pub rows: u64,
    /// A typo's likely meaning, never its opposite.
    pub did_you_mean: Option<&'static str>,
}

fn how(mapping: &Mapping, origin: Origin) -> String {
    let preset = mapping.preset.map_or("", |(p, _)| p.name.as_str());
    match origin {
        Origin::File => "mapping file".into(),
        Origin::Preset => format!("preset {preset}"),
        Origin::PresetNoise => format!("noise (preset {preset})"),
        Origin::Auto => "recognised header".into(),
        Origin::Noise(why) => format!("noise: {why}"),
        Origin::Unmapped => "unmapped".into(),
        Origin::Report => "report column of an earlier run".into(),
    }
}

fn ordinal(n: usize) -> String {
    let suffix = match (n % 10, n % 100) {
        (1, 11) | (2, 12) | (3, 13) => "th",
        (1, _) => "st",
        (2, _) => "nd",
        (3, _) => "rd",
        _ => "th",
    };
    format!("{n}{suffix}")
}

impl Mapping {
    /// The field a column feeds, as shown: `phone` when there is one phone column, `phone
    /// (1st of 2, main)` otherwise.
    fn field_label(&self, i: usize) -> String {
        let target = &self.columns[i].0;
        if *target == Target::Phone && self.phones.len() > 1 {
            let (pos, kind) = self
                .phones
                .iter()
                .enumerate()
                .find(|(_, (c, _))| *c == i)
                .map_or((0, "main"), |(p, (_, k))| (p, k.as_str()));
            let digits = if self.international.contains(&i) {
                ", digits with country code"
            } else {
                ""
            };
            return format!(
                "phone ({} of {}, {kind}{digits})",
                ordinal(pos + 1),
                self.phones.len()
            );
        }
        if *target == Target::Phone && self.international.contains(&i) {
            return "phone (digits with country code)".into();
        }
        target.to_string()
    }

    fn header_of(&self, target: &Target) -> Option<&str> {
        self.column_of(target).map(|i| self.headers[i].as_str())
    }

    /// The column → field table printed by `--print-mapping`, followed by what else was
    /// decided (preset, phone order, regions, status values).
    pub fn table(&self, default_region: Region) -> String {
        let labels: Vec<String> = (0..self.columns.len())
            .map(|i| self.field_label(i))
            .collect();
        let width = self
            .headers
            .iter()
            .map(|h| h.chars().count())
            .max()
            .unwrap_or(6)
            .max(6);
        let fwidth = labels.iter().map(String::len).max().unwrap_or(5).max(24);
        let mut out = format!(
            "{:>3}  {:<width$}  {:<fwidth$}  how\n",
            "#", "column", "field"
        );
        for (i, header) in self.headers.iter().enumerate() {
            let _ = writeln!(
                out,
                "{:>3}  {:<width$}  {:<fwidth$}  {}",
                i + 1,
                header,
                labels[i],
                how(self, self.columns[i].1)
            );
        }
        out.push('\n');
        for line in self.decisions(default_region) {
            out.push_str(&line);
            out.push('\n');
        }
        out
    }

    /// The decisions beyond the table, one line each.
    fn decisions(&self, default_region: Region) -> Vec<String> {
        let mut lines = Vec::new();
        lines.push(match self.preset {
            Some((p, PresetHow::Detected(n))) => format!(
                "preset:  {} ({}), recognised from {n} of its headers; --preset none turns it off",
                p.name, p.title
            ),
            Some((p, PresetHow::Flag)) => {
                format!("preset:  {} ({}), from --preset", p.name, p.title)
            }
            Some((p, PresetHow::File)) => {
                format!("preset:  {} ({}), from the mapping file", p.name, p.title)
            }
            None if self.preset_tie => {
                "preset:  none (two presets match these headers equally; choose one with --preset)"
                    .into()
            }
            None => "preset:  none".into(),
        });
        let names: Vec<&str> = self
            .phones
            .iter()
            .map(|(i, _)| self.headers[*i].as_str())
            .collect();
        lines.push(if names.len() > 1 {
            format!(
                "phones:  tried in this order: {}; the first valid one is sent, the others are kept as custom fields",
                names.join(", ")
            )
        } else {
            format!("phones:  {}", names.join(", "))
        });
        if !self.international.is_empty() {
            let names: Vec<&str> = self
                .international
                .iter()
                .map(|i| self.headers[*i].as_str())
                .collect();
            let from = match self.international_from {
                Some(Origin::File) => "the mapping file".to_owned(),
                _ => format!(
                    "preset {}",
                    self.preset.map_or("", |(p, _)| p.name.as_str())
                ),
            };
            lines.push(format!(
                "         {} hold numbers with their country code and no + ({from}): digits there are read as +digits (33612345678 is +33 6 12 34 56 78), whatever the row's country",
                names.join(", ")
            ));
        }
        let region = default_region.as_region_str();
        lines.push(match self.header_of(&Target::Country) {
            Some(c) => format!(
                "region:  numbers without a country code are read in the row's `{c}`, or in {region} (--default-region) when it is empty or not understood"
            ),
            None => format!(
                "region:  numbers without a country code are read in {region} (--default-region)"
            ),
        });
        lines.push(format!(
            "extensions (x123, ext. 12, poste 214…) are kept as customFields.{}",
            self.extension_key
        ));
        if let Some(column) = self.header_of(&Target::Status) {
            let policy = match self.status.policy {
                UnknownStatus::Omit => "imported without a status",
                UnknownStatus::Reject => "rejected (invalid_status)",
            };
            let from = match self.policy_source {
                PolicySource::Default => "the default; --unknown-status reject to reject them",
                PolicySource::Flag => "--unknown-status",
                PolicySource::File => "the mapping file",
            };
            lines.push(format!(
                "status:  `{column}`; values nothing maps are {policy} ({from})"
            ));
            for (_, rule) in self.status.table_rules() {
                lines.push(format!(
                    "         {:?} → {} ({})",
                    rule.value, rule.action, rule.origin
                ));
            }
            lines.push(
                "         and the translations of the four statuses (Nouveau, Neu, Nuevo, Contacté, Qualifiziert, Unqualified → disqualified, …)"
                    .into(),
            );
        }
        lines
    }

    /// The short account of the mapping written on stderr at the start of a run.
    pub fn brief(&self, default_region: Region) -> String {
        let list = |names: Vec<&str>| {
            let n = names.len();
            let shown: Vec<&str> = names.into_iter().take(6).collect();
            if n > shown.len() {
                format!("{}, … ({n})", shown.join(", "))
            } else {
                shown.join(", ")
            }
        };
        let mut out = String::from("mapping:");
        match self.preset {
            Some((p, how)) => {
                let how = match how {
                    PresetHow::Detected(_) => "recognised; --preset none turns it off",
                    PresetHow::Flag => "--preset",
                    PresetHow::File => "mapping file",
                };
                let _ = write!(out, " preset {} ({how});", p.name);
            }
            None => out.push_str(" no preset;"),
        }
        let phones: Vec<&str> = self
            .phones
            .iter()
            .map(|(i, _)| self.headers[*i].as_str())
            .collect();
        let _ = write!(out, " phone {}", list(phones));
        for (label, target) in [
            ("id", Target::LeadId),
            ("status", Target::Status),
            ("country", Target::Country),
        ] {
            if let Some(h) = self.header_of(&target) {
                let _ = write!(out, "; {label} {h}");
            }
        }
        if self.header_of(&Target::Country).is_none() {
            let _ = write!(out, "; region {}", default_region.as_region_str());
        }
        out.push('\n');
        let custom: Vec<&str> = self.custom_columns();
        if !custom.is_empty() {
            let _ = writeln!(out, "  custom fields: {}", list(custom));
        }
        let dropped: Vec<&str> = self.dropped().into_iter().map(|(h, _)| h).collect();
        if !dropped.is_empty() {
            let _ = writeln!(
                out,
                "  not sent: {} (--print-mapping says why)",
                list(dropped)
            );
        }
        out
    }

    fn custom_columns(&self) -> Vec<&str> {
        self.headers
            .iter()
            .zip(&self.columns)
            .filter(|(_, (t, _))| matches!(t, Target::Custom(_)))
            .map(|(h, _)| h.as_str())
            .collect()
    }

    fn dropped(&self) -> Vec<(&str, String)> {
        self.headers
            .iter()
            .zip(&self.columns)
            .filter(|(_, (t, o))| *t == Target::Ignore && *o != Origin::Report)
            .map(|(h, (_, o))| (h.as_str(), how(self, *o)))
            .collect()
    }

    /// The `mapping` object of the summary, with the counts of `stats`.
    pub fn summary(&self, stats: &Stats, default_region: Region) -> MappingSummary {
        let totals = stats.totals();
        MappingSummary {
            preset: self.preset.map(|(p, how)| PresetSummary {
                name: p.name.clone(),
                title: p.title.clone(),
                how: match how {
                    PresetHow::Detected(_) => "detected",
                    PresetHow::Flag => "--preset",
                    PresetHow::File => "mapping file",
                },
                matched_headers: match how {
                    PresetHow::Detected(n) => Some(n),
                    _ => None,
                },
            }),
            columns: (0..self.columns.len())
                .map(|i| ColumnSummary {
                    column: self.headers[i].clone(),
                    field: self.field_label(i),
                    how: how(self, self.columns[i].1),
                })
                .collect(),
            phones: self.phone_summary(&totals, default_region),
            country: self
                .header_of(&Target::Country)
                .map(|column| CountrySummary {
                    column: column.to_owned(),
                    unknown_values: counts(&totals.unknown_country),
                    other_unknown_rows: totals.other_country,
                    rows_with_unknown_country: totals
                        .unknown_country
                        .iter()
                        .map(|v| v.1)
                        .sum::<u64>()
                        + totals.other_country,
                }),
            status: self
                .header_of(&Target::Status)
                .map(|column| self.status_summary(column, &totals)),
            dropped: self
                .dropped()
                .into_iter()
                .map(|(column, how)| ColumnSummary {
                    column: column.to_owned(),
                    field: "(ignored)".into(),
                    how,
                })
                .collect(),
            custom_fields: self
                .custom_columns()
                .into_iter()
                .map(str::to_owned)
                .collect(),
        }
    }

    fn phone_summary(&self, totals: &Totals, default_region: Region) -> PhoneSummary {
        PhoneSummary {
            columns: self
                .phones
                .iter()
                .map(|(i, _)| self.headers[*i].clone())
                .collect(),
            taken_from_later_column: self
                .phones
                .iter()
                .enumerate()
                .skip(1)
                .map(|(k, (i, _))| ColumnCount {
                    value: self.headers[*i].clone(),
                    rows: totals.phone_from.get(k).copied().unwrap_or(0),
                })
                .collect(),
            default_region: default_region.as_region_str().to_string(),
            read_in_default_region: totals.event(Event::DefaultRegion),
            read_as_international: totals.event(Event::International),
            extensions_kept: totals.event(Event::Extension),
            extension_key: self.extension_key.clone(),
            multi_value_cells: totals.event(Event::MultiValue),
        }
    }

    fn status_summary(&self, column: &str, totals: &Totals) -> StatusSummary {
        let mapped = self
            .status
            .rules
            .iter()
            .enumerate()
            .map(|(i, rule)| (rule, totals.status_rules.get(i).copied().unwrap_or(0)))
            .filter(|(rule, rows)| *rows > 0 || rule.origin != RuleOrigin::BuiltIn)
            .map(|(rule, rows)| StatusMapped {
                value: rule.value.clone(),
                status: match rule.action {
                    StatusAction::Set(s) => s.as_str().to_owned(),
                    StatusAction::Omit => "(no status)".to_owned(),
                },
                by: rule.origin.to_string(),
                rows,
            })
            .collect();
        StatusSummary {
            column: column.to_owned(),
            unknown_policy: self.status.policy.as_str(),
            policy_from: match self.policy_source {
                PolicySource::Default => "default",
                PolicySource::Flag => "--unknown-status",
                PolicySource::File => "mapping file",
            },
            mapped,
            unknown_values: totals
                .unknown_status
                .iter()
                .map(|(value, rows)| StatusUnknown {
                    value: value.clone(),
                    rows: *rows,
                    did_you_mean: suggest(value).map(|s| s.as_str()),
                })
                .collect(),
            other_unknown_rows: totals.other_status,
            rows_with_unknown_status: totals.event(Event::UnknownStatus),
        }
    }

    /// What of the mapping shapes the payloads beyond the column list, for the
    /// configuration fingerprint of a run; `None` when nothing does (no preset, no value
    /// tables, one phone column, the default policy), so runs recorded before these
    /// settings existed still resume.
    pub fn fingerprint(&self) -> Option<Value> {
        let tables: Vec<Value> = self
            .status
            .table_rules()
            .map(|(_, r)| json!([r.value, r.action.to_string(), r.origin.to_string()]))
            .collect();
        let plain = self.preset.is_none()
            && tables.is_empty()
            && self.status.policy == UnknownStatus::Omit
            && self.phones.len() <= 1
            && self.country_names.is_empty()
            && self.tags_ignore.is_empty()
            && self.international.is_empty()
            && self.extension_key == "phone_extension";
        if plain {
            return None;
        }
        let mut countries: Vec<(String, String)> = self
            .country_names
            .iter()
            .map(|(k, r)| (k.to_string(), r.as_region_str().to_string()))
            .collect();
        countries.sort();
        let mut rules = json!({
            "preset": self.preset.map(|(p, _)| p.name.clone()),
            "phones": self.phones.iter().map(|(i, _)| self.headers[*i].clone()).collect::<Vec<_>>(),
            "status": tables,
            "unknown_status": self.status.policy.as_str(),
            "countries": countries,
            "tags_ignore": self.tags_ignore,
            "extension_key": self.extension_key,
        });
        // Only when set, so that the fingerprints of runs recorded before it still match.
        if !self.international.is_empty() {
            rules["international"] = json!(
                self.international
                    .iter()
                    .map(|i| self.headers[*i].clone())
                    .collect::<Vec<_>>()
            );
        }
        Some(rules)
    }
}

impl MappingSummary {
    /// What a person should check after a run, one line each (nothing when all went as
    /// the table says): phones from a later column or read in a guessed way, country and
    /// status values not understood.
    pub fn notices(&self) -> Vec<String> {
        let mut out = Vec::new();
        let list = |values: &[ColumnCount]| {
            let shown: Vec<String> = values
                .iter()
                .take(5)
                .map(|v| format!("{:?} ({})", v.value, v.rows))
                .collect();
            let more = if values.len() > 5 { ", …" } else { "" };
            format!("{}{more}", shown.join(", "))
        };
        let later: Vec<ColumnCount> = self
            .phones
            .taken_from_later_column
            .iter()
            .filter(|c| c.rows > 0)
            .cloned()
            .collect();
        if !later.is_empty() {
            out.push(format!("phone taken from a later column: {}", list(&later)));
        }
        let p = &self.phones;
        if p.read_in_default_region > 0 {
            out.push(format!(
                "{} numbers without a country code read in {} (--default-region)",
                p.read_in_default_region, p.default_region
            ));
        }
        if p.read_as_international > 0 {
            out.push(format!(
                "{} numbers of digits without + read as international (they begin with the country code, or their column holds numbers so)",
                p.read_as_international
            ));
        }
        if let Some(country) = self
            .country
            .as_ref()
            .filter(|c| c.rows_with_unknown_country > 0)
        {
            out.push(format!(
                "country values not understood: {} (numbers without a country code in those rows were read in {}; map the values in the mapping file's [countries] table if that is wrong)",
                list(&country.unknown_values),
                p.default_region
            ));
        }
        if let Some(status) = self
            .status
            .as_ref()
            .filter(|s| s.rows_with_unknown_status > 0)
        {
            let values: Vec<ColumnCount> = status
                .unknown_values
                .iter()
                .map(|v| ColumnCount {
                    value: v.value.clone(),
                    rows: v.rows,
                })
                .collect();
            let what = match status.unknown_policy {
                "reject" => "rejected",
                _ => "imported without a status",
            };
            out.push(format!(
                "status values nothing maps ({what}; map them in a [status] table): {}",
                list(&values)
            ));
        }
        out
    }
}

fn counts(values: &[(String, u64)]) -> Vec<ColumnCount> {
    values
        .iter()
        .map(|(value, rows)| ColumnCount {
            value: value.clone(),
            rows: *rows,
        })
        .collect()
}
