//! Mapping: which CSV column feeds which lead field, found automatically from common header
//! spellings and overridable by a TOML mapping file.
//!
//! A mapping file looks like this (see `samples/mapping.toml`):
//!
//! ```toml
//! # What to do with columns neither the file nor the automatic rules map:
//! # "custom" sends them as customFields entries under their header name, "ignore" drops them.
//! unmapped = "custom"
//! # Set to false to map only the columns listed below.
//! auto = true
//!
//! [columns]
//! "Mobile Number" = "phone"
//! "Client Ref" = "lead_id"
//! "Company" = "custom:company"   # a customFields entry under another key
//! "Internal Notes" = "ignore"
//!
//! [tags]
//! separator = ";"                # default: the first of ; | , found in the cell
//! ```

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

use serde::Deserialize;

/// The report columns `check` and `import` write before the original ones; they are skipped
/// when a fixed `rejected.csv` is read back, so it can be imported as it is.
pub const REPORT_COLUMNS: [&str; 7] = [
    "_row",
    "_error_class",
    "_error_field",
    "_error_message",
    "_fix",
    "_line",
    "_fingerprint",
];

/// What a column feeds.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Target {
    /// The external ID (`lead_id`).
    LeadId,
    /// The full name.
    Name,
    /// The first name, joined with the last name when there is no full name.
    FirstName,
    /// The last name.
    LastName,
    /// The phone number.
    Phone,
    /// The email address.
    Email,
    /// The status.
    Status,
    /// The tags (a JSON array or a delimited list).
    Tags,
    /// A JSON object of custom fields.
    CustomFields,
    /// The region (ISO 3166 alpha-2) to read this row's phone number in.
    Country,
    /// One customFields entry under the given key.
    Custom(String),
    /// Not sent.
    Ignore,
}

impl Target {
    /// Parses a target as written in a mapping file.
    pub fn parse(s: &str) -> Option<Target> {
        if let Some(key) = s.strip_prefix("custom:") {
            let key = key.trim();
            return (!key.is_empty()).then(|| Target::Custom(key.to_owned()));
        }
        Some(match s.trim() {
            "lead_id" => Target::LeadId,
            "name" => Target::Name,
            "first_name" => Target::FirstName,
            "last_name" => Target::LastName,
            "phone" => Target::Phone,
            "email" => Target::Email,
            "status" => Target::Status,
            "tags" => Target::Tags,
            "custom_fields" | "customFields" => Target::CustomFields,
            "country" => Target::Country,
            "ignore" => Target::Ignore,
            _ => return None,
        })
    }
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Target::LeadId => f.write_str("lead_id"),
            Target::Name => f.write_str("name"),
            Target::FirstName => f.write_str("first_name"),
            Target::LastName => f.write_str("last_name"),
            Target::Phone => f.write_str("phone"),
            Target::Email => f.write_str("email"),
            Target::Status => f.write_str("status"),
            Target::Tags => f.write_str("tags"),
            Target::CustomFields => f.write_str("custom_fields"),
            Target::Country => f.write_str("country"),
            Target::Custom(key) => write!(f, "customFields.{key}"),
            Target::Ignore => f.write_str("(ignored)"),
        }
    }
}

/// Why a column got its target, for `--print-mapping`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    /// Named in the mapping file.
    File,
    /// Recognised from its header spelling.
    Auto,
    /// Not recognised; sent as a custom field or ignored as the mapping says.
    Unmapped,
    /// A report column of an earlier run (`_row`, …).
    Report,
}

/// The `[tags]` table of a mapping file.
#[derive(Debug, Clone, Default, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct TagsOptions {
    /// The list separator; `None` picks the first of `;`, `|`, `,` present in each cell.
    pub separator: Option<String>,
}

/// What to do with columns nothing maps.
#[derive(Debug, Clone, Copy, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Unmapped {
    /// Send them as customFields entries named after their header.
    #[default]
    Custom,
    /// Drop them.
    Ignore,
}

/// A mapping file as read from TOML.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct MappingFile {
    /// Whether columns not listed are still recognised from their header spelling.
    #[serde(default = "default_true")]
    pub auto: bool,
    /// What to do with columns nothing maps.
    #[serde(default)]
    pub unmapped: Unmapped,
    /// Header name → target.
    #[serde(default)]
    pub columns: BTreeMap<String, String>,
    /// Tag parsing options.
    #[serde(default)]
    pub tags: TagsOptions,
}

fn default_true() -> bool {
    true
}

impl Default for MappingFile {
    fn default() -> Self {
        MappingFile {
            auto: true,
            unmapped: Unmapped::Custom,
            columns: BTreeMap::new(),
            tags: TagsOptions::default(),
        }
    }
}

/// A configuration error in the mapping, reported before any row is read.
#[derive(Debug, thiserror::Error)]
pub enum MappingError {
    /// The mapping file could not be read.
    #[error("cannot read mapping file `{path}`")]
    Read {
        /// The mapping file.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// The mapping file is not valid TOML of the expected shape.
    #[error("mapping file `{path}` is invalid: {message}")]
    Parse {
        /// The mapping file.
        path: PathBuf,
        /// What the TOML parser said.
        message: String,
    },
    /// A target is not a known field.
    #[error(
        "mapping file `{path}` maps column `{column}` to `{target}`, which is not a lead field: use one of lead_id, name, first_name, last_name, phone, email, status, tags, custom_fields, country, custom:<key>, ignore"
    )]
    UnknownTarget {
        /// The mapping file.
        path: PathBuf,
        /// The column named.
        column: String,
        /// The unknown target.
        target: String,
    },
    /// The mapping file names a column the CSV does not have.
    #[error(
        "mapping file `{path}` names column `{column}`, but `{input}` has no such column (its columns are: {available})"
    )]
    MissingColumn {
        /// The mapping file.
        path: PathBuf,
        /// The input file.
        input: PathBuf,
        /// The column named.
        column: String,
        /// The input's header names.
        available: String,
    },
    /// Two columns map to the same single-valued field.
    #[error(
        "columns `{first}` and `{second}` are both mapped to `{target}`: map one of them to something else (e.g. `ignore`) in the mapping file"
    )]
    Conflict {
        /// The field.
        target: String,
        /// The first column.
        first: String,
        /// The second column.
        second: String,
    },
    /// No column can be the phone.
    #[error(
        "no column of `{input}` can be the phone (its columns are: {available}); name it in a mapping file: [columns] \"Your Column\" = \"phone\""
    )]
    NoPhone {
        /// The input file.
        input: PathBuf,
        /// The input's header names.
        available: String,
    },
}

impl MappingFile {
    /// Reads and parses a mapping file, checking every target.
    pub fn load(path: &Path) -> Result<MappingFile, MappingError> {
        let text = std::fs::read_to_string(path).map_err(|source| MappingError::Read {
            path: path.to_owned(),
            source,
        })?;
        let file: MappingFile = toml::from_str(&text).map_err(|e| MappingError::Parse {
            path: path.to_owned(),
            message: e.to_string(),
        })?;
        for (column, target) in &file.columns {
            if Target::parse(target).is_none() {
                return Err(MappingError::UnknownTarget {
                    path: path.to_owned(),
                    column: column.clone(),
                    target: target.clone(),
                });
            }
        }
        Ok(file)
    }
}

/// The resolved mapping: one target per column of the input.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mapping {
    /// Per column (by index): target and why.
    pub columns: Vec<(Target, Origin)>,
    /// The header names, trimmed.
    pub headers: Vec<String>,
    /// Tag separator chosen in the mapping file.
    pub tag_separator: Option<String>,
}

/// Header spellings recognised automatically, by normalised form (lower case, letters and
/// digits only). Earlier entries of a field win when several columns match it.
const AUTO: &[(&str, Target)] = &[
    ("phone", Target::Phone),
    ("phonenumber", Target::Phone),
    ("mobile", Target::Phone),
    ("mobilephone", Target::Phone),
    ("mobilenumber", Target::Phone),
    ("mobilephonenumber", Target::Phone),
    ("cell", Target::Phone),
    ("cellphone", Target::Phone),
    ("cellnumber", Target::Phone),
    ("telephone", Target::Phone),
    ("telephonenumber", Target::Phone),
    ("tel", Target::Phone),
    ("phoneno", Target::Phone),
    ("contactnumber", Target::Phone),
    ("msisdn", Target::Phone),
    ("email", Target::Email),
    ("emailaddress", Target::Email),
    ("mail", Target::Email),
    ("name", Target::Name),
    ("fullname", Target::Name),
    ("contactname", Target::Name),
    ("leadname", Target::Name),
    ("firstname", Target::FirstName),
    ("givenname", Target::FirstName),
    ("forename", Target::FirstName),
    ("first", Target::FirstName),
    ("lastname", Target::LastName),
    ("surname", Target::LastName),
    ("familyname", Target::LastName),
    ("last", Target::LastName),
    ("status", Target::Status),
    ("leadstatus", Target::Status),
    ("tags", Target::Tags),
    ("tag", Target::Tags),
    ("labels", Target::Tags),
    ("label", Target::Tags),
    ("leadid", Target::LeadId),
    ("externalid", Target::LeadId),
    ("crmid", Target::LeadId),
    ("id", Target::LeadId),
    ("recordid", Target::LeadId),
    ("contactid", Target::LeadId),
    ("customerid", Target::LeadId),
    ("customfields", Target::CustomFields),
    ("country", Target::Country),
    ("countrycode", Target::Country),
];

/// Lower case, letters and digits only: "E-mail Address" → "emailaddress".
fn normalise(header: &str) -> String {
    header
        .chars()
        .filter(|c| c.is_alphanumeric())
        .flat_map(char::to_lowercase)
        .collect()
}

impl Mapping {
    /// Resolves the target of every column of `headers` from the mapping file (if any) and
    /// the automatic rules. `input` names the CSV in error messages.
    pub fn resolve(
        headers: &[String],
        file: Option<(&Path, &MappingFile)>,
        input: &Path,
    ) -> Result<Mapping, MappingError> {
        let trimmed: Vec<String> = headers.iter().map(|h| h.trim().to_owned()).collect();
        let available = trimmed
            .iter()
            .map(|h| format!("`{h}`"))
            .collect::<Vec<_>>()
            .join(", ");
        let default_file = MappingFile::default();
        let (path, spec) = match file {
            Some((path, spec)) => (Some(path), spec),
            None => (None, &default_file),
        };

        let mut columns: Vec<Option<(Target, Origin)>> = vec![None; trimmed.len()];
        for (i, header) in trimmed.iter().enumerate() {
            if REPORT_COLUMNS.contains(&header.as_str()) {
                columns[i] = Some((Target::Ignore, Origin::Report));
            }
        }
        if let Some(path) = path {
            for (column, target) in &spec.columns {
                let Some(i) = trimmed.iter().position(|h| h == column.trim()) else {
                    return Err(MappingError::MissingColumn {
                        path: path.to_owned(),
                        input: input.to_owned(),
                        column: column.clone(),
                        available,
                    });
                };
                let target = Target::parse(target).ok_or_else(|| MappingError::UnknownTarget {
                    path: path.to_owned(),
                    column: column.clone(),
                    target: target.clone(),
                })?;
                columns[i] = Some((target, Origin::File));
            }
        }
        if spec.auto {
            // For each field, the column matching its earliest spelling wins; a field the
            // mapping file already fills is not filled again automatically.
            let mut taken: Vec<Target> = columns.iter().flatten().map(|(t, _)| t.clone()).collect();
            let norms: Vec<String> = trimmed.iter().map(|h| normalise(h)).collect();
            for (spelling, target) in AUTO {
                if taken.contains(target) {
                    continue;
                }
                if let Some(i) =
                    (0..norms.len()).find(|&i| columns[i].is_none() && norms[i] == *spelling)
                {
                    columns[i] = Some((target.clone(), Origin::Auto));
                    taken.push(target.clone());
                }
            }
        }
        let columns: Vec<(Target, Origin)> = columns
            .into_iter()
            .zip(&trimmed)
            .map(|(slot, header)| {
                slot.unwrap_or_else(|| match spec.unmapped {
                    Unmapped::Custom => (Target::Custom(header.clone()), Origin::Unmapped),
                    Unmapped::Ignore => (Target::Ignore, Origin::Unmapped),
                })
            })
            .collect();

        // By hash, not by scanning the columns before each one: a file of 10^5 columns
        // must not take 10^10 comparisons.
        let mut first: std::collections::HashMap<&Target, usize> =
            std::collections::HashMap::with_capacity(columns.len());
        for (i, (target, _)) in columns.iter().enumerate() {
            let single = !matches!(target, Target::Ignore);
            if !single {
                continue;
            }
            if let Some(&j) = first.get(target) {
                return Err(MappingError::Conflict {
                    target: target.to_string(),
                    first: trimmed[j].clone(),
                    second: trimmed[i].clone(),
                });
            }
            first.insert(target, i);
        }
        if !columns.iter().any(|(t, _)| *t == Target::Phone) {
            return Err(MappingError::NoPhone {
                input: input.to_owned(),
                available,
            });
        }
        Ok(Mapping {
            columns,
            headers: trimmed,
            tag_separator: spec.tags.separator.clone(),
        })
    }

    /// The index of the column feeding `target`, if any.
    pub fn column_of(&self, target: &Target) -> Option<usize> {
        self.columns.iter().position(|(t, _)| t == target)
    }

    /// The column → field table printed by `--print-mapping`.
    pub fn table(&self) -> String {
        let width = self
            .headers
            .iter()
            .map(|h| h.len())
            .max()
            .unwrap_or(6)
            .max(6);
        let mut out = format!("{:>3}  {:<width$}  {:<24}  how\n", "#", "column", "field");
        for (i, (header, (target, origin))) in self.headers.iter().zip(&self.columns).enumerate() {
            let how = match origin {
                Origin::File => "mapping file",
                Origin::Auto => "recognised header",
                Origin::Unmapped => "unmapped",
                Origin::Report => "report column of an earlier run",
            };
            out.push_str(&format!(
                "{:>3}  {:<width$}  {:<24}  {how}\n",
                i + 1,
                header,
                target.to_string()
            ));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| (*s).to_owned()).collect()
    }

    fn resolve(list: &[&str]) -> Result<Mapping, MappingError> {
        Mapping::resolve(&headers(list), None, Path::new("in.csv"))
    }

    #[test]
    fn recognises_common_spellings() {
        #[track_caller]
        fn case(header: &str, expected: Target) {
            let m = resolve(&[header, "Phone"]).unwrap();
            assert_eq!(m.columns[0].0, expected, "{header}");
        }
        case("Full Name", Target::Name);
        case("First Name", Target::FirstName);
        case("last_name", Target::LastName);
        case("E-mail", Target::Email);
        case("Email Address", Target::Email);
        case("Status", Target::Status);
        case("Labels", Target::Tags);
        case("Lead ID", Target::LeadId);
        case("External ID", Target::LeadId);
        case("CRM ID", Target::LeadId);
        case("Company", Target::Custom("Company".into()));
        let m = resolve(&["Mobile"]).unwrap();
        assert_eq!(m.columns[0].0, Target::Phone);
        let m = resolve(&["Cell", "Telephone Number"]).unwrap();
        assert_eq!(m.columns[0].0, Target::Phone);
        assert_eq!(m.columns[1].0, Target::Custom("Telephone Number".into()));
    }

    #[test]
    fn phone_wins_over_mobile_regardless_of_order() {
        let m = resolve(&["Mobile", "Phone Number"]).unwrap();
        assert_eq!(m.columns[1].0, Target::Phone);
        assert_eq!(m.columns[0].0, Target::Custom("Mobile".into()));
    }

    #[test]
    fn report_columns_are_ignored() {
        let m = resolve(&[
            "_row",
            "_error_class",
            "_error_field",
            "_error_message",
            "phone",
        ])
        .unwrap();
        assert!(
            m.columns[..4]
                .iter()
                .all(|(t, o)| *t == Target::Ignore && *o == Origin::Report)
        );
    }

    #[test]
    fn no_phone_is_a_config_error() {
        let err = resolve(&["name", "email"]).unwrap_err();
        assert!(matches!(err, MappingError::NoPhone { .. }), "{err}");
        assert!(err.to_string().contains("`name`, `email`"));
    }

    #[test]
    fn mapping_file_overrides_and_checks_columns() {
        let file: MappingFile = toml::from_str(
            r#"
            unmapped = "ignore"
            [columns]
            "Tel" = "phone"
            "Ref" = "lead_id"
            "Company" = "custom:company"
            "#,
        )
        .unwrap();
        let m = Mapping::resolve(
            &headers(&["Ref", "Tel", "Company", "Notes", "Email"]),
            Some((Path::new("m.toml"), &file)),
            Path::new("in.csv"),
        )
        .unwrap();
        let targets: Vec<Target> = m.columns.iter().map(|(t, _)| t.clone()).collect();
        assert_eq!(
            targets,
            vec![
                Target::LeadId,
                Target::Phone,
                Target::Custom("company".into()),
                Target::Ignore,
                Target::Email
            ]
        );

        let err = Mapping::resolve(
            &headers(&["Tel"]),
            Some((Path::new("m.toml"), &file)),
            Path::new("in.csv"),
        )
        .unwrap_err();
        assert!(matches!(err, MappingError::MissingColumn { .. }), "{err}");
    }

    #[test]
    fn two_columns_on_one_field_conflict() {
        let file: MappingFile =
            toml::from_str("[columns]\n\"A\" = \"phone\"\n\"B\" = \"phone\"\n").unwrap();
        let err = Mapping::resolve(
            &headers(&["A", "B"]),
            Some((Path::new("m.toml"), &file)),
            Path::new("in.csv"),
        )
        .unwrap_err();
        assert!(matches!(err, MappingError::Conflict { .. }), "{err}");
    }

    #[test]
    fn unknown_targets_are_rejected_on_load() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("m.toml");
        std::fs::write(&path, "[columns]\n\"A\" = \"telephone\"\n").unwrap();
        let err = MappingFile::load(&path).unwrap_err();
        assert!(matches!(err, MappingError::UnknownTarget { .. }), "{err}");
    }
}
