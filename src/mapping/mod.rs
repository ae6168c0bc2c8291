//! Mapping: which column feeds which lead field. Decided once per file, from (in order of
//! precedence) the mapping file, a CRM preset recognised from the header set (or forced
//! with `--preset`), and the multilingual header rules; with the phone columns in the order
//! they are tried, the status value map and its policy, and the country names. Everything
//! decided is printed (`--print-mapping`, stderr) and recorded (`summary.json`).
//!
//! A mapping file looks like this (see `samples/mapping.toml`):
//!
//! ```toml
//! preset = "hubspot"            # or "none"; default: recognised from the headers
//! unknown_status = "omit"       # or "reject": a status value nothing maps
//! unmapped = "custom"           # columns nothing maps: "custom" (noise dropped), "all", "ignore"
//! auto = true                   # false: map only the columns listed below
//! phones = ["Mobile", "Phone"]  # the order phone columns are tried in
//! international = ["SMS"]       # phone columns whose digits carry the country code, no +
//!
//! [columns]
//! "Mobile Number" = "phone"
//! "Client Ref" = "lead_id"
//! "Company" = "custom:company"   # a customFields entry under another key
//! "Internal Notes" = "ignore"
//!
//! [status]                       # source value → new, contacted, qualified, disqualified, omit
//! "Open - Not Contacted" = "new"
//!
//! [countries]                    # country value → ISO 3166 alpha-2
//! "Ostfriesland" = "DE"
//!
//! [tags]
//! separator = ";"                # default: the first of ; | , found in the cell
//! ```

pub mod country;
pub mod headers;
pub mod preset;
pub mod stats;
pub mod status;
pub mod text;
mod view;

use std::collections::HashMap;
use std::fmt;
use std::path::{Path, PathBuf};

use indexmap::IndexMap;
use rlibphonenumber::Region;
use rustc_hash::FxHashMap;
use serde::Deserialize;

use self::headers::{Field, PhoneKind, PhoneRank, Recognised, key, recognise};
use self::preset::Preset;
use self::status::{StatusRules, UnknownStatus};

pub use self::view::MappingSummary;

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
    /// A phone number: one of the candidates tried in order ([`Mapping::phones`]).
    Phone,
    /// The email address.
    Email,
    /// The status.
    Status,
    /// The tags (a JSON array or a delimited list).
    Tags,
    /// A JSON object of custom fields.
    CustomFields,
    /// The country (name or code) to read this row's phone in.
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

    fn of_field(field: Field) -> Target {
        match field {
            Field::LeadId => Target::LeadId,
            Field::Name => Target::Name,
            Field::FirstName => Target::FirstName,
            Field::LastName => Target::LastName,
            Field::Email => Target::Email,
            Field::Status => Target::Status,
            Field::Tags => Target::Tags,
            Field::CustomFields => Target::CustomFields,
            Field::Country => Target::Country,
        }
    }

    /// Whether at most one column may feed this target.
    fn is_single(&self) -> bool {
        !matches!(self, Target::Phone | Target::Ignore)
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

/// Why a column got its target, for `--print-mapping` and the summary.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    /// Named in the mapping file.
    File,
    /// Named by the preset.
    Preset,
    /// Dropped as noise by the preset's list.
    PresetNoise,
    /// Recognised from its header.
    Auto,
    /// Recognised from its header as noise (the reason), and dropped.
    Noise(&'static str),
    /// Not recognised; sent as a custom field or ignored as the mapping says.
    Unmapped,
    /// A report column of an earlier run (`_row`, …).
    Report,
}

/// The `[tags]` table of a mapping file or preset.
#[derive(Debug, Clone, Default, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct TagsOptions {
    /// The list separator; `None` picks the first of `;`, `|`, `,` present in each cell.
    pub separator: Option<String>,
    /// Tags dropped (exact values, e.g. Google's `* myContacts`).
    #[serde(default)]
    pub ignore: Vec<String>,
}

/// What to do with columns nothing maps.
#[derive(Debug, Clone, Copy, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Unmapped {
    /// Send them as customFields entries named after their header, except columns
    /// recognised as noise (owners, audit timestamps, internal notes, system ids).
    #[default]
    Custom,
    /// Send every one of them as a customFields entry, noise included.
    All,
    /// Drop them.
    Ignore,
}

/// A mapping file as read from TOML.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct MappingFile {
    /// A preset to apply (`none`: none); default: recognised from the headers.
    #[serde(default)]
    pub preset: Option<String>,
    /// What to do with a status value nothing maps.
    #[serde(default)]
    pub unknown_status: Option<UnknownStatus>,
    /// Whether columns not listed are still recognised from their header spelling.
    #[serde(default = "default_true")]
    pub auto: bool,
    /// What to do with columns nothing maps.
    #[serde(default)]
    pub unmapped: Option<Unmapped>,
    /// The order phone columns are tried in.
    #[serde(default)]
    pub phones: Vec<String>,
    /// Phone columns whose digit strings carry their country code without `+` (Brevo's
    /// `SMS`: `33612345678` is +33 6 12 34 56 78 whatever the row's country).
    #[serde(default)]
    pub international: Vec<String>,
    /// Header name → target, in file order.
    #[serde(default)]
    pub columns: IndexMap<String, String>,
    /// Status value → new, contacted, qualified, disqualified or omit.
    #[serde(default)]
    pub status: IndexMap<String, String>,
    /// Country value → ISO 3166 alpha-2 code.
    #[serde(default)]
    pub countries: IndexMap<String, String>,
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
            preset: None,
            unknown_status: None,
            auto: true,
            unmapped: None,
            phones: Vec::new(),
            international: Vec::new(),
            columns: IndexMap::new(),
            status: IndexMap::new(),
            countries: IndexMap::new(),
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
        /// What went wrong.
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
    /// `--preset` or `preset =` names no preset.
    #[error("there is no preset `{name}`: use one of {known}, or none")]
    UnknownPreset {
        /// The name given.
        name: String,
        /// The presets there are.
        known: String,
    },
}

impl MappingFile {
    /// Reads and parses a mapping file, checking every target, status and country.
    pub fn load(path: &Path) -> Result<MappingFile, MappingError> {
        let text = std::fs::read_to_string(path).map_err(|source| MappingError::Read {
            path: path.to_owned(),
            source,
        })?;
        let parse_error = |message: String| MappingError::Parse {
            path: path.to_owned(),
            message,
        };
        let file: MappingFile = toml::from_str(&text).map_err(|e| parse_error(e.to_string()))?;
        for (column, target) in &file.columns {
            if Target::parse(target).is_none() {
                return Err(MappingError::UnknownTarget {
                    path: path.to_owned(),
                    column: column.clone(),
                    target: target.clone(),
                });
            }
        }
        StatusRules::build(None, &file.status, UnknownStatus::Omit).map_err(parse_error)?;
        file.country_names().map_err(parse_error)?;
        if let Some(name) = &file.preset
            && !name.eq_ignore_ascii_case("none")
        {
            preset::by_name(name)?;
        }
        Ok(file)
    }

    /// The `[countries]` table, folded, with its codes checked.
    fn country_names(&self) -> Result<FxHashMap<Box<str>, Region>, String> {
        self.countries
            .iter()
            .map(|(name, code)| {
                let region = country::parse_region(code).ok_or_else(|| {
                    format!(
                        "[countries] maps `{name}` to `{code}`, which is not an ISO 3166 alpha-2 code libphonenumber knows (e.g. US, GB, DE)"
                    )
                })?;
                Ok((text::fold(name).into_boxed_str(), region))
            })
            .collect()
    }
}

/// Choices made on the command line that shape the mapping.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MappingOptions {
    /// `--preset NAME` (`none`: no preset); `None`: the mapping file's, else detection.
    pub preset: Option<String>,
    /// `--unknown-status`; `None`: the mapping file's, else `omit`.
    pub unknown_status: Option<UnknownStatus>,
}

/// How the preset came to be applied.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PresetHow {
    /// Recognised from this many of its signature headers.
    Detected(usize),
    /// Named by `--preset`.
    Flag,
    /// Named by the mapping file.
    File,
}

/// Where the unknown-status policy comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PolicySource {
    /// The default.
    Default,
    /// `--unknown-status`.
    Flag,
    /// The mapping file.
    File,
}

/// The resolved mapping of one input file.
#[derive(Debug, Clone)]
pub struct Mapping {
    /// Per column (by index): target and why.
    pub columns: Vec<(Target, Origin)>,
    /// The header names, trimmed.
    pub headers: Vec<String>,
    /// Tag separator chosen in the mapping file or preset.
    pub tag_separator: Option<String>,
    /// Tags dropped.
    pub tags_ignore: Vec<String>,
    /// The phone columns, in the order they are tried, with their kind.
    pub phones: Vec<(usize, PhoneKind)>,
    /// Whether the phone order was set by a list (mapping file or preset).
    pub phone_order_from: Option<Origin>,
    /// The phone columns (indexes) whose digit strings carry their country code without
    /// `+`, and who said so (mapping file or preset).
    pub international: Vec<usize>,
    /// Where [`Mapping::international`] comes from.
    pub international_from: Option<Origin>,
    /// The preset applied, and how.
    pub preset: Option<(&'static Preset, PresetHow)>,
    /// A preset that matched as well as another one (so none was applied), for the table.
    pub preset_tie: bool,
    /// Status values and the policy for those nothing maps.
    pub status: StatusRules,
    /// Where the policy comes from.
    pub policy_source: PolicySource,
    /// The mapping file's `[countries]`, folded.
    pub country_names: FxHashMap<Box<str>, Region>,
    /// The customFields key a phone extension is kept under.
    pub extension_key: String,
}

impl Mapping {
    /// Resolves the target of every column of `headers` from the mapping file (if any), a
    /// preset, and the header rules, with default options. `input` names the CSV in errors.
    pub fn resolve(
        headers: &[String],
        file: Option<(&Path, &MappingFile)>,
        input: &Path,
    ) -> Result<Mapping, MappingError> {
        Mapping::resolve_with(headers, file, input, &MappingOptions::default())
    }

    /// [`Mapping::resolve`] with the command line's choices.
    pub fn resolve_with(
        headers: &[String],
        file: Option<(&Path, &MappingFile)>,
        input: &Path,
        options: &MappingOptions,
    ) -> Result<Mapping, MappingError> {
        let trimmed: Vec<String> = headers.iter().map(|h| h.trim().to_owned()).collect();
        let default_file = MappingFile::default();
        let (path, spec) = match file {
            Some((path, spec)) => (Some(path), spec),
            None => (None, &default_file),
        };
        let (preset, preset_tie) = choose_preset(&trimmed, spec, options)?;
        let keys: Vec<String> = trimmed.iter().map(|h| key(h)).collect();
        let mut by_key: HashMap<&str, Vec<usize>> = HashMap::with_capacity(keys.len());
        for (i, k) in keys.iter().enumerate() {
            by_key.entry(k.as_str()).or_default().push(i);
        }
        let sources = Sources {
            // Once per column: a file may have 10^5 of them.
            recognised: trimmed.iter().map(|h| recognise(h)).collect(),
            trimmed: &trimmed,
            by_key,
            spec,
            path,
            input,
            preset,
        };
        let columns = sources.columns()?;
        let phones = sources.phones(&columns)?;
        let rules = sources.value_rules(options)?;
        let extension_key = extension_key(&columns);
        Ok(Mapping {
            columns,
            headers: trimmed,
            tag_separator: rules.tags.separator,
            tags_ignore: rules.tags.ignore,
            phones: phones.order,
            phone_order_from: phones.order_from,
            international: phones.international,
            international_from: phones.international_from,
            preset,
            preset_tie,
            status: rules.status,
            policy_source: rules.policy_source,
            country_names: rules.country_names,
            extension_key,
        })
    }

    /// The index of the column feeding `target`, if any (the first phone candidate for
    /// [`Target::Phone`]).
    pub fn column_of(&self, target: &Target) -> Option<usize> {
        if *target == Target::Phone {
            return self.phones.first().map(|(i, _)| *i);
        }
        self.columns.iter().position(|(t, _)| t == target)
    }
}

/// A preset and how it came to be applied.
type AppliedPreset = (&'static Preset, PresetHow);

/// What a mapping is resolved from: the file's headers, the mapping file, the preset.
struct Sources<'a> {
    /// The headers, trimmed.
    trimmed: &'a [String],
    /// What the header rules recognise in each header.
    recognised: Vec<Recognised>,
    /// Folded header → the columns that have it.
    by_key: HashMap<&'a str, Vec<usize>>,
    /// The mapping file (the default one without a file).
    spec: &'a MappingFile,
    /// The mapping file's path, if there is one.
    path: Option<&'a Path>,
    /// The input, for errors.
    input: &'a Path,
    /// The preset applied.
    preset: Option<AppliedPreset>,
}

/// The phone columns of a mapping: the order they are tried in, those that hold digits with
/// their country code, and who said so.
struct PhoneColumns {
    order: Vec<(usize, PhoneKind)>,
    order_from: Option<Origin>,
    international: Vec<usize>,
    international_from: Option<Origin>,
}

/// A mapping's rules for values: statuses, country names, tags.
struct ValueRules {
    status: StatusRules,
    policy_source: PolicySource,
    country_names: FxHashMap<Box<str>, Region>,
    tags: TagsOptions,
}

impl Sources<'_> {
    /// The headers as a list for error messages.
    fn available(&self) -> String {
        self.trimmed
            .iter()
            .map(|h| format!("`{h}`"))
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// Every column's target and origin: the report's own columns ignored, then the mapping
    /// file, the preset, the header rules and the `unmapped` choice, in that precedence.
    fn columns(&self) -> Result<Vec<(Target, Origin)>, MappingError> {
        let mut builder = Builder {
            columns: vec![None; self.trimmed.len()],
            taken: HashMap::new(),
        };
        for (i, header) in self.trimmed.iter().enumerate() {
            if REPORT_COLUMNS.contains(&header.as_str()) {
                builder.columns[i] = Some((Target::Ignore, Origin::Report));
            }
        }
        if let Some(path) = self.path {
            builder.apply_file(self.spec, path, self.trimmed, self.input, &|| {
                self.available()
            })?;
        }
        if let Some((preset, _)) = self.preset {
            builder.apply_preset(preset, &self.by_key);
        }
        if self.spec.auto {
            builder.recognise(&self.recognised);
        }
        let unmapped = self
            .spec
            .unmapped
            .or(self.preset.and_then(|(p, _)| p.unmapped))
            .unwrap_or_default();
        let columns = builder.finish(self.trimmed, &self.recognised, unmapped);
        check_conflicts(&columns, self.trimmed)?;
        Ok(columns)
    }

    /// The phone columns in the order they are tried, and those whose digits carry their
    /// country code; an error when a column the mapping file lists is absent, or when no
    /// column is a phone.
    fn phones(&self, columns: &[(Target, Origin)]) -> Result<PhoneColumns, MappingError> {
        let order_list = column_list(&self.spec.phones, self.preset, |p| &p.phones);
        let intl_list = column_list(&self.spec.international, self.preset, |p| &p.international);
        for list in [order_list, intl_list] {
            if let (Some(path), Some((list, Origin::File))) = (self.path, list)
                && let Some(missing) = list
                    .iter()
                    .find(|name| !self.by_key.contains_key(key(name).as_str()))
            {
                return Err(MappingError::MissingColumn {
                    path: path.to_owned(),
                    input: self.input.to_owned(),
                    column: missing.clone(),
                    available: self.available(),
                });
            }
        }
        let order = phone_order(
            columns,
            &self.recognised,
            &self.by_key,
            order_list.map(|(l, _)| l),
        );
        if order.is_empty() {
            return Err(MappingError::NoPhone {
                input: self.input.to_owned(),
                available: self.available(),
            });
        }
        let international: Vec<usize> = intl_list
            .into_iter()
            .flat_map(|(list, _)| list)
            .flat_map(|name| self.by_key.get(key(name).as_str()).into_iter().flatten())
            .copied()
            .filter(|&i| columns[i].0 == Target::Phone)
            .collect();
        Ok(PhoneColumns {
            order,
            order_from: order_list.map(|(_, o)| o),
            international_from: intl_list
                .filter(|_| !international.is_empty())
                .map(|(_, o)| o),
            international,
        })
    }

    /// The status rules and their policy, the mapping file's country names, the tag options
    /// (the mapping file's when it sets any, else the preset's).
    fn value_rules(&self, options: &MappingOptions) -> Result<ValueRules, MappingError> {
        let spec = self.spec;
        let (policy, policy_source) = match (options.unknown_status, spec.unknown_status) {
            (Some(p), _) => (p, PolicySource::Flag),
            (None, Some(p)) => (p, PolicySource::File),
            (None, None) => (UnknownStatus::default(), PolicySource::Default),
        };
        let parse_error = |message: String| MappingError::Parse {
            path: self
                .path
                .map_or_else(|| PathBuf::from("(preset)"), Path::to_owned),
            message,
        };
        let status = StatusRules::build(
            self.preset.map(|(p, _)| (p.name.as_str(), &p.status)),
            &spec.status,
            policy,
        )
        .map_err(parse_error)?;
        let country_names = spec.country_names().map_err(parse_error)?;
        let tags = if spec.tags != TagsOptions::default() {
            spec.tags.clone()
        } else {
            self.preset.map(|(p, _)| p.tags.clone()).unwrap_or_default()
        };
        Ok(ValueRules {
            status,
            policy_source,
            country_names,
            tags,
        })
    }
}

/// A list of column names (phone order, international columns) from the mapping file when
/// it gives one, else from the preset, with who gave it.
fn column_list(
    from_file: &[String],
    preset: Option<AppliedPreset>,
    of_preset: impl Fn(&'static Preset) -> &'static [String],
) -> Option<(&[String], Origin)> {
    if !from_file.is_empty() {
        return Some((from_file, Origin::File));
    }
    preset
        .map(|(p, _)| of_preset(p))
        .filter(|list| !list.is_empty())
        .map(|list| (list, Origin::Preset))
}

/// The preset to apply: `--preset`, else the mapping file's `preset`, else the one the
/// headers match (none on a tie, reported).
fn choose_preset(
    headers: &[String],
    spec: &MappingFile,
    options: &MappingOptions,
) -> Result<(Option<AppliedPreset>, bool), MappingError> {
    let named = options
        .preset
        .as_deref()
        .map(|n| (n, PresetHow::Flag))
        .or(spec.preset.as_deref().map(|n| (n, PresetHow::File)));
    match named {
        Some((name, _)) if name.trim().eq_ignore_ascii_case("none") => Ok((None, false)),
        Some((name, how)) => Ok((Some((preset::by_name(name)?, how)), false)),
        None => {
            let detected = preset::detect(headers);
            let tie = detected.is_none() && preset::detected_tie(headers);
            Ok((detected.map(|(p, n)| (p, PresetHow::Detected(n))), tie))
        }
    }
}

/// Columns being assigned, with the single-valued targets already taken.
struct Builder {
    columns: Vec<Option<(Target, Origin)>>,
    taken: HashMap<Target, usize>,
}

impl Builder {
    /// The mapping file's `[columns]`: every column named must exist, every target parse.
    fn apply_file(
        &mut self,
        spec: &MappingFile,
        path: &Path,
        trimmed: &[String],
        input: &Path,
        available: &dyn Fn() -> String,
    ) -> Result<(), MappingError> {
        for (column, target) in &spec.columns {
            let Some(i) = trimmed.iter().position(|h| h == column.trim()) else {
                return Err(MappingError::MissingColumn {
                    path: path.to_owned(),
                    input: input.to_owned(),
                    column: column.clone(),
                    available: available(),
                });
            };
            let target = Target::parse(target).ok_or_else(|| MappingError::UnknownTarget {
                path: path.to_owned(),
                column: column.clone(),
                target: target.clone(),
            })?;
            self.set(i, target, Origin::File);
        }
        Ok(())
    }

    /// Every column's target: the one assigned, else what `unmapped` says (noise dropped
    /// under `custom`).
    fn finish(
        self,
        trimmed: &[String],
        recognised: &[Recognised],
        unmapped: Unmapped,
    ) -> Vec<(Target, Origin)> {
        self.columns
            .into_iter()
            .zip(trimmed)
            .zip(recognised)
            .map(|((slot, header), recognised)| {
                slot.unwrap_or_else(|| match (unmapped, *recognised) {
                    (Unmapped::Ignore, _) => (Target::Ignore, Origin::Unmapped),
                    (Unmapped::Custom, Recognised::Noise(why)) => {
                        (Target::Ignore, Origin::Noise(why))
                    }
                    _ => (Target::Custom(header.clone()), Origin::Unmapped),
                })
            })
            .collect()
    }

    fn set(&mut self, i: usize, target: Target, origin: Origin) {
        if target.is_single() {
            self.taken.entry(target.clone()).or_insert(i);
        }
        self.columns[i] = Some((target, origin));
    }

    /// The preset's columns, noise and phones, for columns nothing assigned yet; for a
    /// single-valued field the first of its headers present wins.
    fn apply_preset(&mut self, preset: &Preset, by_key: &HashMap<&str, Vec<usize>>) {
        let free = |columns: &[Option<(Target, Origin)>], name: &str| {
            by_key
                .get(key(name).as_str())
                .and_then(|list| list.iter().copied().find(|&i| columns[i].is_none()))
        };
        for (name, target) in &preset.columns {
            let Some(target) = Target::parse(target) else {
                continue;
            };
            if target.is_single() && self.taken.contains_key(&target) {
                continue;
            }
            if let Some(i) = free(&self.columns, name) {
                self.set(i, target, Origin::Preset);
            }
        }
        for name in &preset.phones {
            if let Some(i) = free(&self.columns, name) {
                self.set(i, Target::Phone, Origin::Preset);
            }
        }
        for name in &preset.noise {
            if let Some(i) = free(&self.columns, name) {
                self.set(i, Target::Ignore, Origin::PresetNoise);
            }
        }
    }

    /// The header rules, for columns nothing assigned yet: every phone column is a
    /// candidate; for a single-valued field the best-ranked header wins.
    fn recognise(&mut self, recognised: &[Recognised]) {
        let mut best: HashMap<Field, (u8, usize)> = HashMap::new();
        let mut contextual: Vec<(usize, Recognised)> = Vec::new();
        for (i, recognised) in recognised.iter().enumerate() {
            if self.columns[i].is_some() {
                continue;
            }
            match *recognised {
                Recognised::Phone(_) => self.set(i, Target::Phone, Origin::Auto),
                Recognised::Field(field, rank) => {
                    if self.taken.contains_key(&Target::of_field(field)) {
                        continue;
                    }
                    let entry = best.entry(field).or_insert((rank, i));
                    if rank < entry.0 {
                        *entry = (rank, i);
                    }
                }
                r @ (Recognised::NameOrLast | Recognised::NameOrFirst) => {
                    contextual.push((i, r));
                }
                Recognised::Noise(_) | Recognised::Unknown => {}
            }
        }
        let mut winners: Vec<(Field, usize)> = best.into_iter().map(|(f, (_, i))| (f, i)).collect();
        winners.sort_by_key(|(_, i)| *i);
        for (field, i) in winners {
            self.set(i, Target::of_field(field), Origin::Auto);
        }
        let has = |t: &Target| self.taken.contains_key(t);
        let (first, last) = (has(&Target::FirstName), has(&Target::LastName));
        for (i, r) in contextual {
            let target = match r {
                Recognised::NameOrLast if first && !last => Target::LastName,
                Recognised::NameOrFirst if last && !first => Target::FirstName,
                _ => Target::Name,
            };
            if !self.taken.contains_key(&target) {
                self.set(i, target, Origin::Auto);
            }
        }
    }
}

/// Two columns on one single-valued field is a configuration error. By hash, not by
/// scanning the columns before each one: a file of 10^5 columns must not take 10^10
/// comparisons.
fn check_conflicts(columns: &[(Target, Origin)], headers: &[String]) -> Result<(), MappingError> {
    let mut first: HashMap<&Target, usize> = HashMap::with_capacity(columns.len());
    for (i, (target, _)) in columns.iter().enumerate() {
        if !target.is_single() {
            continue;
        }
        if let Some(&j) = first.get(target) {
            return Err(MappingError::Conflict {
                target: target.to_string(),
                first: headers[j].clone(),
                second: headers[i].clone(),
            });
        }
        first.insert(target, i);
    }
    Ok(())
}

/// The phone columns in the order they are tried: those of `list` in its order, then the
/// others by kind (main, mobile, other), `main`/`primary` before plain before `work`, the
/// number in the header, and their position.
fn phone_order(
    columns: &[(Target, Origin)],
    recognised: &[Recognised],
    by_key: &HashMap<&str, Vec<usize>>,
    list: Option<&[String]>,
) -> Vec<(usize, PhoneKind)> {
    let rank = |i: usize| match recognised[i] {
        Recognised::Phone(rank) => rank,
        _ => PhoneRank {
            kind: PhoneKind::Main,
            sub: 1,
            number: 0,
        },
    };
    let is_phone = |i: usize| columns[i].0 == Target::Phone;
    let mut order: Vec<usize> = Vec::new();
    let mut listed = vec![false; columns.len()];
    for name in list.into_iter().flatten() {
        for &i in by_key.get(key(name).as_str()).into_iter().flatten() {
            if is_phone(i) && !listed[i] {
                listed[i] = true;
                order.push(i);
            }
        }
    }
    let mut rest: Vec<(PhoneRank, usize)> = (0..columns.len())
        .filter(|&i| is_phone(i) && !listed[i])
        .map(|i| (rank(i), i))
        .collect();
    rest.sort();
    order.extend(rest.into_iter().map(|(_, i)| i));
    order.into_iter().map(|i| (i, rank(i).kind)).collect()
}

/// `phone_extension`, or `phone_extension_2`… when a column already feeds that key.
fn extension_key(columns: &[(Target, Origin)]) -> String {
    let used = |k: &str| {
        columns
            .iter()
            .any(|(t, _)| matches!(t, Target::Custom(c) if c == k))
    };
    let mut key = "phone_extension".to_owned();
    let mut n = 2;
    while used(&key) {
        key = format!("phone_extension_{n}");
        n += 1;
    }
    key
}

#[cfg(test)]
mod tests;
