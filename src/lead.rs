//! The lead payload sent to the API, and the error classes a row can be rejected with.

use std::fmt;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// One lead as the sync endpoint receives it (`POST /api/leads/sync`, one element of `leads`).
///
/// Fields that are `None` are left out of the JSON, so an update through the upsert keeps
/// the value the account already holds for them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Lead {
    /// External ID, the upsert key: the mapped ID column, or `phone:<E.164>` when there is none.
    pub lead_id: String,
    /// Display name, trimmed; first and last name joined when mapped separately.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub name: Option<String>,
    /// Phone number normalised to E.164 (`+14155552671`).
    pub phone: String,
    /// Email address, trimmed.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub email: Option<String>,
    /// One of the four statuses, lower case.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub status: Option<Status>,
    /// Tags, trimmed, de-duplicated, in the order first seen.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub tags: Option<Vec<String>>,
    /// Key-value pairs; values are strings unless a JSON cell gave a number or boolean.
    #[serde(
        rename = "customFields",
        skip_serializing_if = "Option::is_none",
        default
    )]
    pub custom_fields: Option<Map<String, Value>>,
}

/// The lead statuses the API accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// `new`
    New,
    /// `contacted`
    Contacted,
    /// `qualified`
    Qualified,
    /// `disqualified`
    Disqualified,
}

impl Status {
    /// Every status, in the order the API's error message lists them.
    pub const ALL: [Status; 4] = [
        Status::New,
        Status::Contacted,
        Status::Qualified,
        Status::Disqualified,
    ];

    /// The API's spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::New => "new",
            Status::Contacted => "contacted",
            Status::Qualified => "qualified",
            Status::Disqualified => "disqualified",
        }
    }
}

/// Why a row was rejected. The declaration order is the report order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorClass {
    /// The record could not be read as a row of the header's width or encoding.
    MalformedRow,
    /// No phone value.
    MissingPhone,
    /// Not a valid number for its region.
    InvalidPhone,
    /// Status not in the enum.
    InvalidStatus,
    /// Tags cell not a list.
    InvalidTags,
    /// customFields cell not a key-value object.
    InvalidCustomFields,
    /// Email not plausible.
    InvalidEmail,
    /// Same `lead_id` or phone earlier in the input.
    DuplicateInFile,
    /// The API refused this lead.
    RejectedByApi,
    /// The API says another lead of the account already has this phone.
    DuplicateInAccount,
    /// Retries exhausted for this lead's batch.
    GaveUp,
}

impl ErrorClass {
    /// Every class, in report order.
    pub const ALL: [ErrorClass; 11] = [
        ErrorClass::MalformedRow,
        ErrorClass::MissingPhone,
        ErrorClass::InvalidPhone,
        ErrorClass::InvalidStatus,
        ErrorClass::InvalidTags,
        ErrorClass::InvalidCustomFields,
        ErrorClass::InvalidEmail,
        ErrorClass::DuplicateInFile,
        ErrorClass::RejectedByApi,
        ErrorClass::DuplicateInAccount,
        ErrorClass::GaveUp,
    ];

    /// The stable name used in reports and summaries.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorClass::MalformedRow => "malformed_row",
            ErrorClass::MissingPhone => "missing_phone",
            ErrorClass::InvalidPhone => "invalid_phone",
            ErrorClass::InvalidStatus => "invalid_status",
            ErrorClass::InvalidTags => "invalid_tags",
            ErrorClass::InvalidCustomFields => "invalid_custom_fields",
            ErrorClass::InvalidEmail => "invalid_email",
            ErrorClass::DuplicateInFile => "duplicate_in_file",
            ErrorClass::RejectedByApi => "rejected_by_api",
            ErrorClass::DuplicateInAccount => "duplicate_in_account",
            ErrorClass::GaveUp => "gave_up",
        }
    }

    /// Position in report order, for indexing per-class tables.
    pub fn index(self) -> usize {
        self as usize
    }

    /// What a person can do about rows of this class.
    pub fn hint(self) -> &'static str {
        match self {
            ErrorClass::MalformedRow => {
                "fix the quoting or the number of fields on that line; pass --encoding if the file is not UTF-8"
            }
            ErrorClass::MissingPhone => "fill in the phone column",
            ErrorClass::InvalidPhone => {
                "write the number with its country code (+44 20 …) or set --default-region / map a country column"
            }
            ErrorClass::InvalidStatus => {
                "use one of new, contacted, qualified, disqualified, or leave it empty"
            }
            ErrorClass::InvalidTags => {
                r#"use a JSON array like ["a","b"] or a list separated by ; | or ,"#
            }
            ErrorClass::InvalidCustomFields => {
                r#"use a JSON object of strings, numbers or booleans like {"key": "value"}"#
            }
            ErrorClass::InvalidEmail => "correct the address or leave it empty",
            ErrorClass::DuplicateInFile => "remove the later row or merge it into the first one",
            ErrorClass::RejectedByApi => "fix the value the API names and import the row again",
            ErrorClass::DuplicateInAccount => {
                "another lead of the account has this phone: give the row that lead's ID, or change the phone"
            }
            ErrorClass::GaveUp => {
                "the API did not answer in time: run the same command again to resume"
            }
        }
    }
}

impl fmt::Display for ErrorClass {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One problem found in a row: its class, the lead field (or column) concerned, and a message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// The error class.
    pub class: ErrorClass,
    /// The lead field or column the problem is about (`phone`, `status`, …).
    pub field: String,
    /// A message a person can act on.
    pub message: String,
}

impl Problem {
    /// A problem of `class` about `field`.
    pub fn new(class: ErrorClass, field: impl Into<String>, message: impl Into<String>) -> Self {
        Problem {
            class,
            field: field.into(),
            message: message.into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn class_order_is_report_order() {
        let mut sorted = ErrorClass::ALL;
        sorted.sort();
        assert_eq!(sorted, ErrorClass::ALL);
        for (i, class) in ErrorClass::ALL.iter().enumerate() {
            assert_eq!(class.index(), i);
        }
    }

    #[test]
    fn lead_serialises_without_absent_fields() {
        let lead = Lead {
            lead_id: "crm-1".into(),
            name: None,
            phone: "+14155552671".into(),
            email: None,
            status: Some(Status::Qualified),
            tags: None,
            custom_fields: None,
        };
        assert_eq!(
            serde_json::to_string(&lead).unwrap(),
            r#"{"lead_id":"crm-1","phone":"+14155552671","status":"qualified"}"#
        );
    }
}
