//! CRM presets: what an export of a known product holds, as data (`presets/*.toml`, compiled
//! in), recognised from the header set. Adding a CRM is adding a file to [`SOURCES`].
//!
//! A preset file:
//!
//! ```toml
//! name = "hubspot"                     # what --preset takes
//! title = "HubSpot contacts export"
//! [detect]                             # recognised when at least `min_any` of `any` are
//! any = ["Record ID", "Lifecycle Stage", "Contact owner"]   # headers of the file
//! min_any = 2
//! all = []                             # and every one of these
//! [columns]                            # header → target, as in a mapping file; for a
//! "Record ID" = "lead_id"              # single field the first header present wins
//! phones = ["Phone Number", "Mobile Phone Number"]          # the order phones are tried
//! international = []                  # phone columns whose digits carry the country code
//! noise = ["Contact owner"]            # dropped, not sent
//! [status]                             # the CRM's status values
//! "Open" = "new"
//! ```
//!
//! Header names are compared folded (case, accents, spaces and punctuation ignored).

use std::collections::HashSet;
use std::sync::OnceLock;

use indexmap::IndexMap;
use serde::Deserialize;

use super::headers::key;
use super::{MappingError, TagsOptions, Target, Unmapped};

/// The preset files compiled in.
pub const SOURCES: &[(&str, &str)] = &[
    ("hubspot.toml", include_str!("presets/hubspot.toml")),
    (
        "salesforce-report.toml",
        include_str!("presets/salesforce-report.toml"),
    ),
    (
        "salesforce-export.toml",
        include_str!("presets/salesforce-export.toml"),
    ),
    ("pipedrive.toml", include_str!("presets/pipedrive.toml")),
    ("zoho.toml", include_str!("presets/zoho.toml")),
    (
        "google-contacts.toml",
        include_str!("presets/google-contacts.toml"),
    ),
    ("outlook.toml", include_str!("presets/outlook.toml")),
    ("mailchimp.toml", include_str!("presets/mailchimp.toml")),
    ("dynamics365.toml", include_str!("presets/dynamics365.toml")),
    ("apollo.toml", include_str!("presets/apollo.toml")),
    ("brevo.toml", include_str!("presets/brevo.toml")),
    ("keap.toml", include_str!("presets/keap.toml")),
    ("close.toml", include_str!("presets/close.toml")),
    ("monday.toml", include_str!("presets/monday.toml")),
];

/// How a preset is recognised.
#[derive(Debug, Clone, Default, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Detect {
    /// Headers that must all be present.
    #[serde(default)]
    pub all: Vec<String>,
    /// Headers of which at least `min_any` must be present.
    #[serde(default)]
    pub any: Vec<String>,
    /// How many of `any`.
    #[serde(default)]
    pub min_any: usize,
}

/// One CRM's export, as read from its TOML file.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Preset {
    /// The name `--preset` takes.
    pub name: String,
    /// What the export is, for people.
    pub title: String,
    /// How it is recognised.
    pub detect: Detect,
    /// Header → target; for a single-valued field the first header present wins.
    #[serde(default)]
    pub columns: IndexMap<String, String>,
    /// Phone columns in the order they are tried.
    #[serde(default)]
    pub phones: Vec<String>,
    /// Phone columns whose digit strings carry their country code without `+`, by the
    /// product's documented rule (Brevo's `SMS`): only where the product guarantees it,
    /// since national digits read so would be a wrong number.
    #[serde(default)]
    pub international: Vec<String>,
    /// Columns dropped as noise.
    #[serde(default)]
    pub noise: Vec<String>,
    /// Status values of the CRM.
    #[serde(default)]
    pub status: IndexMap<String, String>,
    /// Tag options.
    #[serde(default)]
    pub tags: TagsOptions,
    /// What to do with columns the preset does not name (default: custom fields, except
    /// those recognised as noise).
    #[serde(default)]
    pub unmapped: Option<Unmapped>,
}

/// Every preset, parsed once.
pub fn all() -> &'static [Preset] {
    static PRESETS: OnceLock<Vec<Preset>> = OnceLock::new();
    PRESETS.get_or_init(|| {
        SOURCES
            .iter()
            .map(|(file, text)| {
                toml::from_str(text).unwrap_or_else(|e| panic!("preset {file} is invalid: {e}"))
            })
            .collect()
    })
}

/// The preset called `name`, or an error listing the names.
pub fn by_name(name: &str) -> Result<&'static Preset, MappingError> {
    all()
        .iter()
        .find(|p| p.name.eq_ignore_ascii_case(name.trim()))
        .ok_or_else(|| MappingError::UnknownPreset {
            name: name.to_owned(),
            known: names().join(", "),
        })
}

/// Checks a `--preset` value: a preset's name or `none`.
pub fn parse_name(name: &str) -> Result<String, String> {
    if name.trim().eq_ignore_ascii_case("none") {
        return Ok("none".to_owned());
    }
    by_name(name)
        .map(|p| p.name.clone())
        .map_err(|e| e.to_string())
}

/// The names of every preset.
pub fn names() -> Vec<&'static str> {
    all().iter().map(|p| p.name.as_str()).collect()
}

/// The preset whose headers a file has, with how many of its headers matched; `None` when
/// no preset matches, or when two match equally well (see [`detected_tie`]).
pub fn detect(headers: &[String]) -> Option<(&'static Preset, usize)> {
    detection(headers).0
}

/// Whether two presets match a file's headers equally well (so neither is applied).
pub fn detected_tie(headers: &[String]) -> bool {
    detection(headers).1
}

fn detection(headers: &[String]) -> (Option<(&'static Preset, usize)>, bool) {
    let keys: HashSet<String> = headers.iter().map(|h| key(h)).collect();
    let mut best: Option<(&Preset, usize)> = None;
    let mut tie = false;
    for preset in all() {
        let Some(score) = preset.score(&keys) else {
            continue;
        };
        match best {
            Some((_, s)) if s > score => {}
            Some((_, s)) if s == score => tie = true,
            _ => {
                best = Some((preset, score));
                tie = false;
            }
        }
    }
    if tie { (None, true) } else { (best, false) }
}

impl Preset {
    /// How many of the preset's signature headers `keys` (folded) holds, when it holds
    /// enough of them.
    fn score(&self, keys: &HashSet<String>) -> Option<usize> {
        let present = |h: &String| keys.contains(&key(h));
        if !self.detect.all.iter().all(present) {
            return None;
        }
        let any = self.detect.any.iter().filter(|h| present(h)).count();
        (any >= self.detect.min_any.max(1)).then_some(self.detect.all.len() + any)
    }

    /// Checks every target, so that a broken preset file fails its test.
    pub fn check(&self) -> Result<(), String> {
        for (column, target) in &self.columns {
            if Target::parse(target).is_none() {
                return Err(format!(
                    "preset {}: column `{column}` → unknown target `{target}`",
                    self.name
                ));
            }
        }
        super::status::StatusRules::build(
            Some((&self.name, &self.status)),
            &IndexMap::new(),
            super::status::UnknownStatus::Omit,
        )?;
        let is_phone = |name: &String| {
            self.phones.iter().any(|p| key(p) == key(name))
                || self
                    .columns
                    .iter()
                    .any(|(c, t)| key(c) == key(name) && t == "phone")
        };
        if let Some(name) = self.international.iter().find(|n| !is_phone(n)) {
            return Err(format!(
                "preset {}: `{name}` is international but not a phone column",
                self.name
            ));
        }
        if self.detect.any.is_empty() && self.detect.all.is_empty() {
            return Err(format!("preset {}: nothing to detect it by", self.name));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_preset_parses_and_checks() {
        let presets = all();
        assert_eq!(presets.len(), SOURCES.len());
        let mut names = HashSet::new();
        for preset in presets {
            preset.check().unwrap();
            assert!(
                names.insert(preset.name.clone()),
                "duplicate {}",
                preset.name
            );
        }
        assert!(by_name("HubSpot").is_ok());
        let err = by_name("nope").unwrap_err().to_string();
        assert!(
            err.contains("hubspot") && err.contains("salesforce-export"),
            "{err}"
        );
    }

    fn headers(list: &str) -> Vec<String> {
        list.split([',', ';']).map(str::to_owned).collect()
    }

    #[test]
    fn detection_by_header_set() {
        let cases: &[(&str, Option<&str>)] = &[
            (
                "Record ID,First Name,Last Name,Email,Phone Number,Mobile Phone Number,Lead Status,Lifecycle Stage,Contact owner,Create Date,Country/Region",
                Some("hubspot"),
            ),
            (
                "Lead Owner,First Name,Last Name,Title,Company / Account,Phone,Mobile,Email,Lead Source,Lead Status,Rating,Country,Create Date",
                Some("salesforce-report"),
            ),
            (
                "Id,IsDeleted,MasterRecordId,LastName,FirstName,Salutation,Title,Company,Country,Phone,MobilePhone,Email,LeadSource,Status,OwnerId,IsConverted,CreatedDate,CreatedById,LastModifiedDate,LastModifiedById,SystemModstamp",
                Some("salesforce-export"),
            ),
            (
                "Person - ID,Person - Name,Person - Organization,Person - Email - Work,Person - Phone - Work,Person - Phone - Mobile,Person - Owner,Person - Labels",
                Some("pipedrive"),
            ),
            (
                "Record Id,Lead Owner,Company,First Name,Last Name,Email,Phone,Mobile,Lead Source,Lead Status,Created By,Modified By,Created Time,Modified Time,Country",
                Some("zoho"),
            ),
            (
                "Name,Given Name,Additional Name,Family Name,Yomi Name,Group Membership,E-mail 1 - Type,E-mail 1 - Value,Phone 1 - Type,Phone 1 - Value",
                Some("google-contacts"),
            ),
            (
                "First Name,Middle Name,Last Name,Labels,E-mail 1 - Label,E-mail 1 - Value,Phone 1 - Label,Phone 1 - Value,Address 1 - Country",
                Some("google-contacts"),
            ),
            (
                "First Name,Middle Name,Last Name,Title,E-mail Address,Primary Phone,Home Phone,Mobile Phone,Business Phone,Business Fax,Company,Job Title,Business Country/Region,Categories",
                Some("outlook"),
            ),
            (
                "Email Address,First Name,Last Name,Address,Phone Number,MEMBER_RATING,OPTIN_TIME,OPTIN_IP,CONFIRM_TIME,CONFIRM_IP,LATITUDE,LONGITUDE,GMTOFF,DSTOFF,TIMEZONE,CC,REGION,LAST_CHANGED,LEID,EUID,NOTES,TAGS",
                Some("mailchimp"),
            ),
            (
                "(Do Not Modify) Lead,(Do Not Modify) Row Checksum,(Do Not Modify) Modified On,Name,Topic,Status Reason,Company Name,Business Phone,Mobile Phone,Email,Country/Region,Lead Source,Owner,Created On",
                Some("dynamics365"),
            ),
            (
                "First Name,Last Name,Title,Company Name,Company Name for Emails,Email,Email Status,Primary Email Source,Email Confidence,Seniority,Departments,Contact Owner,Work Direct Phone,Home Phone,Mobile Phone,Corporate Phone,Other Phone,Stage,Country,Apollo Contact Id,Apollo Account Id",
                Some("apollo"),
            ),
            (
                "EMAIL;NOM;PRENOM;SMS;LANDLINE_NUMBER;WHATSAPP;SOCIETE;VILLE;ADDED_TIME;MODIFIED_TIME",
                Some("brevo"),
            ),
            (
                "Id,First Name,Last Name,Company,Job Title,Email,Phone 1,Phone 1 Ext,Phone 1 Type,Phone 2,Phone 2 Ext,Phone 2 Type,Street Address 1,City,State,Postal Code,Country,Lead Source,Tags,Person Type,Owner,Date Created,Last Updated",
                Some("keap"),
            ),
            (
                "id,display_name,status_label,primary_contact_name,primary_contact_title,primary_contact_primary_phone,primary_contact_primary_phone_type,primary_contact_other_phones,primary_contact_primary_email,address_1_country,html_url,date_created",
                Some("close"),
            ),
            (
                "Name,Subitems,Person,Status,Phone,Email,Item ID (auto generated)",
                Some("monday"),
            ),
            // A board without monday's own columns is read by the header rules.
            ("Name,Person,Status,Phone,Email,Company,Country", None),
            // An SMS column and generic names: not Brevo.
            ("FIRSTNAME,LASTNAME,EMAIL,SMS", None),
            ("name,phone,email,status", None),
            ("Vorname,Nachname,Telefon,Handy,E-Mail,Land,Status", None),
        ];
        for (list, expected) in cases {
            let got = detect(&headers(list)).map(|(p, _)| p.name.as_str());
            assert_eq!(got, *expected, "{list}");
        }
    }
}
