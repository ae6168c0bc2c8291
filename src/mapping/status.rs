//! Status values: the API's four, their translations, the values CRMs export (mapped by
//! presets and by the mapping file's `[status]` table), what happens to a value nothing
//! maps (`--unknown-status`), and a did-you-mean hint that never suggests the opposite.

use std::fmt;

use indexmap::IndexMap;
use rustc_hash::FxHashMap;
use serde::{Deserialize, Serialize};

use super::text::{FoldBuf, fold};
use crate::lead::Status;

/// What a status value becomes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum StatusAction {
    /// One of the API's statuses.
    Set(Status),
    /// No status is sent (the API's default for a new lead; an update keeps the old one).
    Omit,
}

impl StatusAction {
    /// Parses a target of a `[status]` table: one of the four, or `omit` / `none` / `""`.
    pub fn parse(s: &str) -> Option<StatusAction> {
        let s = s.trim();
        if matches!(s.to_ascii_lowercase().as_str(), "" | "omit" | "none") {
            return Some(StatusAction::Omit);
        }
        Status::ALL
            .into_iter()
            .find(|st| st.as_str().eq_ignore_ascii_case(s))
            .map(StatusAction::Set)
    }
}

impl fmt::Display for StatusAction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StatusAction::Set(s) => f.write_str(s.as_str()),
            StatusAction::Omit => f.write_str("(no status)"),
        }
    }
}

/// Where a status rule comes from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RuleOrigin {
    /// The mapping file's `[status]` table.
    MappingFile,
    /// A CRM preset (its name).
    Preset(String),
    /// The importer's translations of the four statuses.
    BuiltIn,
}

impl fmt::Display for RuleOrigin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RuleOrigin::MappingFile => f.write_str("mapping file"),
            RuleOrigin::Preset(name) => write!(f, "preset {name}"),
            RuleOrigin::BuiltIn => f.write_str("built-in translation"),
        }
    }
}

/// One status value and what it becomes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatusRule {
    /// The value as written in the table.
    pub value: String,
    /// What it becomes.
    pub action: StatusAction,
    /// Where the rule comes from.
    pub origin: RuleOrigin,
}

/// What to do with a status value nothing maps.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum UnknownStatus {
    /// Import the lead without a status, and list the value in the summary.
    #[default]
    Omit,
    /// Reject the row as `invalid_status`.
    Reject,
}

impl UnknownStatus {
    /// Parses `reject` or `omit`.
    pub fn parse(s: &str) -> Option<UnknownStatus> {
        match s.trim().to_ascii_lowercase().as_str() {
            "omit" => Some(UnknownStatus::Omit),
            "reject" => Some(UnknownStatus::Reject),
            _ => None,
        }
    }

    /// The name used in flags and files.
    pub fn as_str(self) -> &'static str {
        match self {
            UnknownStatus::Omit => "omit",
            UnknownStatus::Reject => "reject",
        }
    }
}

/// Translations of the four statuses in the seven languages, always applied.
const BUILT_IN: &[(&str, Status)] = &[
    ("nouveau", Status::New),
    ("nouvelle", Status::New),
    ("neu", Status::New),
    ("nuevo", Status::New),
    ("nueva", Status::New),
    ("nuovo", Status::New),
    ("nuova", Status::New),
    ("novo", Status::New),
    ("nova", Status::New),
    ("nieuw", Status::New),
    ("contacte", Status::Contacted),
    ("contactee", Status::Contacted),
    ("kontaktiert", Status::Contacted),
    ("contactado", Status::Contacted),
    ("contactada", Status::Contacted),
    ("contattato", Status::Contacted),
    ("contattata", Status::Contacted),
    ("contatado", Status::Contacted),
    ("contatada", Status::Contacted),
    ("gecontacteerd", Status::Contacted),
    ("qualifie", Status::Qualified),
    ("qualifiee", Status::Qualified),
    ("qualifiziert", Status::Qualified),
    ("cualificado", Status::Qualified),
    ("cualificada", Status::Qualified),
    ("calificado", Status::Qualified),
    ("calificada", Status::Qualified),
    ("qualificato", Status::Qualified),
    ("qualificata", Status::Qualified),
    ("qualificado", Status::Qualified),
    ("qualificada", Status::Qualified),
    ("gekwalificeerd", Status::Qualified),
    ("disqualifie", Status::Disqualified),
    ("disqualifiee", Status::Disqualified),
    ("nonqualifie", Status::Disqualified),
    ("nonqualifiee", Status::Disqualified),
    ("disqualifiziert", Status::Disqualified),
    ("nichtqualifiziert", Status::Disqualified),
    ("descalificado", Status::Disqualified),
    ("descalificada", Status::Disqualified),
    ("descualificado", Status::Disqualified),
    ("descualificada", Status::Disqualified),
    ("nocalificado", Status::Disqualified),
    ("nocualificado", Status::Disqualified),
    ("squalificato", Status::Disqualified),
    ("squalificata", Status::Disqualified),
    ("nonqualificato", Status::Disqualified),
    ("desqualificado", Status::Disqualified),
    ("desqualificada", Status::Disqualified),
    ("naoqualificado", Status::Disqualified),
    ("gediskwalificeerd", Status::Disqualified),
    ("nietgekwalificeerd", Status::Disqualified),
    ("unqualified", Status::Disqualified),
    ("notqualified", Status::Disqualified),
    ("nonqualified", Status::Disqualified),
];

/// The status rules of one file: built-in translations, then the preset's table, then the
/// mapping file's (a later table overrides an earlier one value by value), and the policy
/// for values none of them maps.
#[derive(Debug, Clone)]
pub struct StatusRules {
    /// Every rule, indexed by [`StatusOutcome::Mapped`].
    pub rules: Vec<StatusRule>,
    index: FxHashMap<Box<str>, u32>,
    /// Whether a table maps one of the four names themselves to something else.
    overrides_canonical: bool,
    /// The policy for values nothing maps.
    pub policy: UnknownStatus,
}

/// What a status cell becomes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StatusOutcome {
    /// Empty: no status.
    Empty,
    /// One of the four, written as such.
    Exact(Status),
    /// Mapped by the rule of this index.
    Mapped(u32),
    /// Nothing maps it.
    Unknown,
}

impl StatusRules {
    /// Builds the rules from a preset's table and the mapping file's (either may be empty);
    /// an invalid target names the table it is in.
    pub fn build(
        preset: Option<(&str, &IndexMap<String, String>)>,
        file: &IndexMap<String, String>,
        policy: UnknownStatus,
    ) -> Result<StatusRules, String> {
        let mut rules: Vec<StatusRule> = BUILT_IN
            .iter()
            .map(|(value, status)| StatusRule {
                value: (*value).to_owned(),
                action: StatusAction::Set(*status),
                origin: RuleOrigin::BuiltIn,
            })
            .collect();
        let tables = preset
            .map(|(name, table)| (RuleOrigin::Preset(name.to_owned()), table))
            .into_iter()
            .chain(std::iter::once((RuleOrigin::MappingFile, file)));
        for (origin, table) in tables {
            for (value, target) in table {
                let action = StatusAction::parse(target).ok_or_else(|| {
                    format!(
                        "{origin} maps status `{value}` to `{target}`: use new, contacted, qualified, disqualified or omit"
                    )
                })?;
                rules.push(StatusRule {
                    value: value.clone(),
                    action,
                    origin: origin.clone(),
                });
            }
        }
        let mut index = FxHashMap::default();
        let mut overrides_canonical = false;
        for (i, rule) in rules.iter().enumerate() {
            let key = fold(&rule.value);
            if let Some(status) = Status::ALL.into_iter().find(|s| s.as_str() == key)
                && rule.action != StatusAction::Set(status)
            {
                overrides_canonical = true;
            }
            // Later rules override earlier ones for the same value.
            index.insert(key.into_boxed_str(), i as u32);
        }
        Ok(StatusRules {
            rules,
            index,
            overrides_canonical,
            policy,
        })
    }

    /// What a status cell becomes. Allocates nothing.
    pub fn classify(&self, cell: &str) -> StatusOutcome {
        let trimmed = cell.trim();
        if trimmed.is_empty() {
            return StatusOutcome::Empty;
        }
        if !self.overrides_canonical
            && let Some(status) = Status::ALL
                .into_iter()
                .find(|s| s.as_str().eq_ignore_ascii_case(trimmed))
        {
            return StatusOutcome::Exact(status);
        }
        let mut buf = FoldBuf::default();
        let Some(key) = buf.fold(trimmed) else {
            return StatusOutcome::Unknown;
        };
        if let Some(&i) = self.index.get(key) {
            return StatusOutcome::Mapped(i);
        }
        match Status::ALL.into_iter().find(|s| s.as_str() == key) {
            Some(status) => StatusOutcome::Exact(status),
            None => StatusOutcome::Unknown,
        }
    }

    /// The rules a table (preset or mapping file) contributed, for `--print-mapping`.
    pub fn table_rules(&self) -> impl Iterator<Item = (usize, &StatusRule)> {
        self.rules
            .iter()
            .enumerate()
            .filter(|(_, r)| r.origin != RuleOrigin::BuiltIn)
    }
}

/// Words that turn a status into its opposite when put before it (`Unqualified`, `Not
/// Contacted`, `Non qualifié`, `Nicht kontaktiert`): a value starting with one of them is
/// never suggested the status it negates.
const NEGATIONS: &[&str] = &[
    "un", "non", "not", "no", "nie", "nicht", "kein", "pas", "sin", "sem", "senza", "niet", "geen",
    "nao", "never", "in", "dis", "des", "de", "s",
];

/// A did-you-mean for a status value nothing maps: a typo of one of the four (`qualifed`,
/// `contact`, `disq`), never the opposite (`Unqualified` is not `qualified`, `Not Contacted`
/// is not `contacted`). Only values of at most 32 letters are considered.
pub fn suggest(value: &str) -> Option<Status> {
    let mut buf = FoldBuf::default();
    let key = buf.fold(value)?;
    if key.is_empty() || key.len() > 32 {
        return None;
    }
    let prefix = Status::ALL
        .into_iter()
        .find(|s| key.len() >= 3 && s.as_str().starts_with(key));
    let guess = prefix.or_else(|| {
        Status::ALL
            .into_iter()
            .map(|s| (edit_distance(key.as_bytes(), s.as_str().as_bytes()), s))
            .min_by_key(|(d, _)| *d)
            .filter(|(d, _)| *d <= 2)
            .map(|(_, s)| s)
    })?;
    // `unqualified` is 2 edits from `qualified`, `dqualified` 1: a value that adds a
    // negation before the status it resembles means the opposite.
    let stem = &guess.as_str()[..guess.as_str().len().min(5)];
    if let Some(at) = key.find(stem)
        && at > 0
        && NEGATIONS
            .iter()
            .any(|n| key[..at].starts_with(n) || n.starts_with(&key[..at]))
    {
        return None;
    }
    if key.starts_with("no") || key.starts_with("un") || key.starts_with("non") {
        return None;
    }
    Some(guess)
}

/// Levenshtein distance of two short ASCII strings (at most 32 bytes each), without
/// allocating.
fn edit_distance(a: &[u8], b: &[u8]) -> usize {
    debug_assert!(a.len() <= 32 && b.len() <= 32);
    let mut prev = [0usize; 33];
    let mut cur = [0usize; 33];
    for (j, slot) in prev.iter_mut().enumerate().take(b.len() + 1) {
        *slot = j;
    }
    for (i, ca) in a.iter().enumerate() {
        cur[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let cost = usize::from(ca != cb);
            cur[j + 1] = (prev[j] + cost).min(prev[j + 1] + 1).min(cur[j] + 1);
        }
        std::mem::swap(&mut prev, &mut cur);
    }
    prev[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rules(preset: &[(&str, &str)], file: &[(&str, &str)], policy: UnknownStatus) -> StatusRules {
        let table = |pairs: &[(&str, &str)]| -> IndexMap<String, String> {
            pairs
                .iter()
                .map(|(a, b)| ((*a).to_owned(), (*b).to_owned()))
                .collect()
        };
        let preset = table(preset);
        StatusRules::build(Some(("crm", &preset)), &table(file), policy).unwrap()
    }

    fn action(r: &StatusRules, cell: &str) -> Option<StatusAction> {
        match r.classify(cell) {
            StatusOutcome::Empty => None,
            StatusOutcome::Exact(s) => Some(StatusAction::Set(s)),
            StatusOutcome::Mapped(i) => Some(r.rules[i as usize].action),
            StatusOutcome::Unknown => panic!("{cell} unknown"),
        }
    }

    #[test]
    fn four_names_translations_preset_and_file() {
        let r = rules(
            &[
                ("Open - Not Contacted", "new"),
                ("Working - Contacted", "contacted"),
                ("-None-", "omit"),
            ],
            &[("Working - Contacted", "qualified"), ("Won", "qualified")],
            UnknownStatus::Omit,
        );
        let set = |s| Some(StatusAction::Set(s));
        assert_eq!(action(&r, ""), None);
        assert_eq!(action(&r, " NEW "), set(Status::New));
        assert_eq!(action(&r, "Nouveau"), set(Status::New));
        assert_eq!(action(&r, "Neu"), set(Status::New));
        assert_eq!(action(&r, "Nuevo"), set(Status::New));
        assert_eq!(action(&r, "Kontaktiert"), set(Status::Contacted));
        assert_eq!(action(&r, "Qualifié"), set(Status::Qualified));
        assert_eq!(action(&r, "Unqualified"), set(Status::Disqualified));
        assert_eq!(action(&r, "open - not contacted"), set(Status::New));
        // The mapping file overrides the preset value by value.
        assert_eq!(action(&r, "Working - Contacted"), set(Status::Qualified));
        assert_eq!(action(&r, "won"), set(Status::Qualified));
        assert_eq!(action(&r, "-None-"), Some(StatusAction::Omit));
        assert_eq!(r.classify("Archived"), StatusOutcome::Unknown);
        assert_eq!(r.classify(&"x".repeat(1_000_000)), StatusOutcome::Unknown);
        let origins: Vec<String> = r.table_rules().map(|(_, r)| r.origin.to_string()).collect();
        assert_eq!(
            origins,
            [
                "preset crm",
                "preset crm",
                "preset crm",
                "mapping file",
                "mapping file"
            ]
        );
    }

    #[test]
    fn a_table_can_remap_a_canonical_name() {
        let r = rules(&[], &[("qualified", "contacted")], UnknownStatus::Reject);
        assert_eq!(
            action(&r, "Qualified"),
            Some(StatusAction::Set(Status::Contacted))
        );
        assert_eq!(action(&r, "new"), Some(StatusAction::Set(Status::New)));
    }

    #[test]
    fn bad_targets_name_their_table() {
        let table: IndexMap<String, String> = [("Open".to_owned(), "opened".to_owned())].into();
        let err = StatusRules::build(None, &table, UnknownStatus::Omit).unwrap_err();
        assert!(
            err.contains("mapping file") && err.contains("`opened`"),
            "{err}"
        );
    }

    #[test]
    fn did_you_mean_never_suggests_the_opposite() {
        let cases: &[(&str, Option<Status>)] = &[
            ("qualifed", Some(Status::Qualified)),
            ("Qualifed", Some(Status::Qualified)),
            ("contact", Some(Status::Contacted)),
            ("contactd", Some(Status::Contacted)),
            ("disq", Some(Status::Disqualified)),
            ("disqualifed", Some(Status::Disqualified)),
            ("nwe", Some(Status::New)),
            ("Unqualified", None),
            ("unqualifed", None),
            ("Not Contacted", None),
            ("Uncontacted", None),
            ("notcontacted", None),
            ("Non qualifié", None),
            ("nqualified", None),
            ("dqualified", None),
            ("no", None),
            ("archived", None),
            ("", None),
        ];
        for (value, expected) in cases {
            assert_eq!(suggest(value), *expected, "{value}");
        }
        // A huge value is not compared at all.
        assert_eq!(suggest(&"qualified".repeat(100_000)), None);
    }

    #[test]
    fn edit_distances() {
        assert_eq!(edit_distance(b"kitten", b"sitting"), 3);
        assert_eq!(edit_distance(b"", b"new"), 3);
        assert_eq!(edit_distance(b"new", b"new"), 0);
    }
}
