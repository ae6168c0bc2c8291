//! Reading request bodies: the sync and delete envelopes, and each lead with the API's
//! own validation messages. Pure functions from JSON to typed input or an error.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::messages;

/// Most leads one sync request may carry (documented).
pub const MAX_LEADS_PER_SYNC: usize = 100;

/// A lead's `status` (documented enum).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LeadStatus {
    /// `"new"`, the default.
    #[default]
    New,
    /// `"contacted"`.
    Contacted,
    /// `"qualified"`.
    Qualified,
    /// `"disqualified"`.
    Disqualified,
}

impl LeadStatus {
    /// Parses the exact lowercase spelling the API accepts.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "new" => Some(LeadStatus::New),
            "contacted" => Some(LeadStatus::Contacted),
            "qualified" => Some(LeadStatus::Qualified),
            "disqualified" => Some(LeadStatus::Disqualified),
            _ => None,
        }
    }
}

/// Why one lead was refused. `Display` is the exact message the API answers with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum LeadError {
    /// The element of `leads` is not an object (ours).
    #[error("{}", messages::LEAD_NOT_OBJECT)]
    NotAnObject,
    /// `lead_id` is present but not a non-empty string (ours).
    #[error("{}", messages::LEAD_ID_NOT_STRING)]
    LeadIdNotString,
    /// No phone, an empty one, or one that is not a string (documented message).
    #[error("{}", messages::PHONE_REQUIRED)]
    PhoneRequired,
    /// `name` is present but not a string (ours).
    #[error("{}", messages::NAME_NOT_STRING)]
    NameNotString,
    /// `email` is present but not a string (ours).
    #[error("{}", messages::EMAIL_NOT_STRING)]
    EmailNotString,
    /// `status` outside the enum (documented message).
    #[error("{}", messages::INVALID_STATUS)]
    InvalidStatus,
    /// `tags` is not an array of strings (documented message).
    #[error("{}", messages::TAGS_NOT_ARRAY)]
    TagsNotArray,
    /// `customFields` is not an object of strings, numbers and booleans (documented
    /// message).
    #[error("{}", messages::CUSTOM_FIELDS_NOT_OBJECT)]
    CustomFieldsNotObject,
    /// The phone belongs to another lead of the account (documented message).
    #[error("{}", messages::PHONE_TAKEN)]
    PhoneTaken,
    /// Only when seeding with [`SharedState::insert_lead`](crate::SharedState::insert_lead):
    /// the `lead_id` is already stored (the API upserts instead).
    #[error("a lead with this lead_id already exists")]
    LeadIdTaken,
}

impl LeadError {
    /// Whether this is a phone collision rather than a validation failure.
    pub fn is_conflict(self) -> bool {
        self == LeadError::PhoneTaken
    }
}

/// One lead as a request (or a test seeding the store) gives it. `None` means "not sent":
/// on create the default applies, on update the stored value is kept.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct LeadInput {
    /// External id, the upsert key (`externalId` once stored).
    pub lead_id: Option<String>,
    /// Display name.
    pub name: Option<String>,
    /// Phone, stored and compared as the exact string.
    pub phone: String,
    /// Email.
    pub email: Option<String>,
    /// Status.
    pub status: Option<LeadStatus>,
    /// Tags.
    pub tags: Option<Vec<String>>,
    /// Custom fields: strings, numbers or booleans.
    pub custom_fields: Option<Map<String, Value>>,
}

impl LeadInput {
    /// A lead with only a phone.
    pub fn new(phone: impl Into<String>) -> Self {
        LeadInput {
            phone: phone.into(),
            ..LeadInput::default()
        }
    }

    /// Sets the external id.
    pub fn with_lead_id(mut self, lead_id: impl Into<String>) -> Self {
        self.lead_id = Some(lead_id.into());
        self
    }

    /// Sets the name.
    pub fn with_name(mut self, name: impl Into<String>) -> Self {
        self.name = Some(name.into());
        self
    }

    /// Reads one lead of a request body, checking fields in a fixed order and answering
    /// with the first problem: object, `lead_id`, `phone`, `name`, `email`, `status`,
    /// `tags`, `customFields`. A field set to `null` counts as not sent (except `phone`,
    /// which is required). Unknown fields are ignored.
    pub fn from_json(value: &Value) -> Result<LeadInput, LeadError> {
        let obj = value.as_object().ok_or(LeadError::NotAnObject)?;
        let field = |name: &str| obj.get(name).filter(|v| !v.is_null());

        let lead_id = match field("lead_id") {
            None => None,
            Some(Value::String(s)) if !s.is_empty() => Some(s.clone()),
            Some(_) => return Err(LeadError::LeadIdNotString),
        };
        let phone = match field("phone") {
            Some(Value::String(s)) if !s.trim().is_empty() => s.clone(),
            _ => return Err(LeadError::PhoneRequired),
        };
        let string = |name: &str, err| match field(name) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(_) => Err(err),
        };
        let name = string("name", LeadError::NameNotString)?;
        let email = string("email", LeadError::EmailNotString)?;
        let status = match field("status") {
            None => None,
            Some(v) => Some(
                v.as_str()
                    .and_then(LeadStatus::parse)
                    .ok_or(LeadError::InvalidStatus)?,
            ),
        };
        let tags = match field("tags") {
            None => None,
            Some(Value::Array(items)) => Some(
                items
                    .iter()
                    .map(|t| t.as_str().map(str::to_owned))
                    .collect::<Option<Vec<_>>>()
                    .ok_or(LeadError::TagsNotArray)?,
            ),
            Some(_) => return Err(LeadError::TagsNotArray),
        };
        let custom_fields = match field("customFields") {
            None => None,
            Some(Value::Object(map))
                if map
                    .values()
                    .all(|v| v.is_string() || v.is_number() || v.is_boolean()) =>
            {
                Some(map.clone())
            }
            Some(_) => return Err(LeadError::CustomFieldsNotObject),
        };
        Ok(LeadInput {
            lead_id,
            name,
            phone,
            email,
            status,
            tags,
            custom_fields,
        })
    }
}

/// A well-formed sync body: the optional top-level `source` and the raw leads, each still
/// to be read with [`LeadInput::from_json`].
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct SyncBody {
    pub(crate) source: Option<String>,
    pub(crate) leads: Vec<Value>,
}

/// Reads a JSON object body. An empty body counts as `{}`, as with the usual JSON body
/// parsers (the later field checks then name what is missing).
fn object(body: &[u8]) -> Result<Map<String, Value>, &'static str> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(Map::new());
    }
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(map)) => Ok(map),
        Ok(_) => Err(messages::BODY_NOT_OBJECT),
        Err(_) => Err(messages::INVALID_JSON),
    }
}

/// Reads a `POST /api/leads/sync` body; `Err` holds the 400 message.
pub(crate) fn parse_sync_body(body: &[u8]) -> Result<SyncBody, &'static str> {
    let mut map = object(body)?;
    let source = match map.remove("source") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(s),
        Some(_) => return Err(messages::SOURCE_NOT_STRING),
    };
    let leads = match map.remove("leads") {
        None | Some(Value::Null) => return Err(messages::LEADS_REQUIRED),
        Some(Value::Array(leads)) => leads,
        Some(_) => return Err(messages::LEADS_NOT_ARRAY),
    };
    if leads.len() > MAX_LEADS_PER_SYNC {
        return Err(messages::TOO_MANY_LEADS);
    }
    Ok(SyncBody { source, leads })
}

/// Reads a `DELETE /api/leads/sync` body: the `lead_ids`; `Err` holds the 400 message.
pub(crate) fn parse_delete_body(body: &[u8]) -> Result<Vec<String>, &'static str> {
    let mut map = object(body)?;
    match map.remove("lead_ids") {
        None | Some(Value::Null) => Err(messages::LEAD_IDS_REQUIRED),
        Some(Value::Array(ids)) => ids
            .into_iter()
            .map(|v| match v {
                Value::String(s) => Some(s),
                _ => None,
            })
            .collect::<Option<Vec<_>>>()
            .ok_or(messages::LEAD_IDS_NOT_ARRAY),
        Some(_) => Err(messages::LEAD_IDS_NOT_ARRAY),
    }
}

/// Reads a `POST /api/leads` body: one lead, `lead_id` ignored (the endpoint has none).
pub(crate) fn parse_create_body(body: &[u8]) -> Result<LeadInput, String> {
    let map = object(body).map_err(str::to_owned)?;
    let mut input = LeadInput::from_json(&Value::Object(map)).map_err(|e| e.to_string())?;
    input.lead_id = None;
    Ok(input)
}

/// How many leads (or lead ids) a body carries, for the request log; `None` when the body
/// is not of the expected shape.
pub(crate) fn count_items(body: &[u8], field: &str) -> Option<usize> {
    let value: Value = serde_json::from_slice(body).ok()?;
    value.get(field)?.as_array().map(Vec::len)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[track_caller]
    fn lead(v: Value, want: Result<(), &str>) {
        let got = LeadInput::from_json(&v)
            .map(|_| ())
            .map_err(|e| e.to_string());
        assert_eq!(got, want.map_err(str::to_owned), "{v}");
    }

    #[test]
    fn per_lead_validation_messages() {
        let phone_required = Err("phone is required");
        let bad_status =
            Err("Invalid status. Must be one of: new, contacted, qualified, disqualified");
        let bad_tags = Err("tags must be an array");
        let bad_cf = Err("customFields must be a key-value object");

        lead(json!({"phone": "+14155551234"}), Ok(()));
        lead(
            json!({"lead_id": "a", "phone": "+1", "name": "A", "email": "a@x.io",
                    "status": "qualified", "tags": ["x"], "customFields": {"n": 5, "b": true, "s": "v"},
                    "unknown": {"ignored": true}}),
            Ok(()),
        );
        lead(
            json!({"phone": "+1", "name": null, "email": null, "status": null,
                    "tags": null, "customFields": null, "lead_id": null}),
            Ok(()),
        );
        lead(json!({}), phone_required);
        lead(json!({"phone": ""}), phone_required);
        lead(json!({"phone": "  "}), phone_required);
        lead(json!({"phone": null}), phone_required);
        lead(json!({"phone": 14155551234u64}), phone_required);
        lead(json!({"phone": "+1", "status": "New"}), bad_status);
        lead(json!({"phone": "+1", "status": ""}), bad_status);
        lead(json!({"phone": "+1", "status": 1}), bad_status);
        lead(json!({"phone": "+1", "tags": "a,b"}), bad_tags);
        lead(json!({"phone": "+1", "tags": ["a", 2]}), bad_tags);
        lead(json!({"phone": "+1", "tags": [["a"]]}), bad_tags);
        lead(json!({"phone": "+1", "customFields": "x"}), bad_cf);
        lead(json!({"phone": "+1", "customFields": ["x"]}), bad_cf);
        lead(
            json!({"phone": "+1", "customFields": {"a": {"b": 1}}}),
            bad_cf,
        );
        lead(json!({"phone": "+1", "customFields": {"a": null}}), bad_cf);
        lead(json!({"phone": "+1", "customFields": {"a": [1]}}), bad_cf);
        lead(json!("+1"), Err("lead must be an object"));
        lead(
            json!({"phone": "+1", "lead_id": 5}),
            Err("lead_id must be a non-empty string"),
        );
        lead(
            json!({"phone": "+1", "lead_id": ""}),
            Err("lead_id must be a non-empty string"),
        );
        lead(
            json!({"phone": "+1", "name": 5}),
            Err("name must be a string"),
        );
        lead(
            json!({"phone": "+1", "email": false}),
            Err("email must be a string"),
        );
        // The first problem in field order wins.
        lead(json!({"status": "bogus", "tags": 1}), phone_required);
        lead(
            json!({"phone": "+1", "status": "bogus", "tags": 1}),
            bad_status,
        );
    }

    #[test]
    fn sync_envelope() {
        let many = json!({"leads": vec![json!({"phone": "+1"}); 101]}).to_string();
        let hundred = json!({"leads": vec![json!({"phone": "+1"}); 100]}).to_string();
        let cases: [(&str, Result<usize, &str>); 11] = [
            (r#"{"leads": []}"#, Ok(0)),
            (r#"{"source": "hubspot", "leads": [{}]}"#, Ok(1)),
            (&hundred, Ok(100)),
            (&many, Err("Maximum 100 leads per request")),
            ("", Err("leads is required")),
            ("{}", Err("leads is required")),
            (r#"{"leads": null}"#, Err("leads is required")),
            (r#"{"leads": {"0": {}}}"#, Err("leads must be an array")),
            (
                r#"{"leads": [], "source": 1}"#,
                Err("source must be a string"),
            ),
            (r#"{"leads": [}"#, Err("Invalid JSON body")),
            ("[]", Err("Request body must be a JSON object")),
        ];
        for (body, want) in cases {
            assert_eq!(
                parse_sync_body(body.as_bytes()).map(|b| b.leads.len()),
                want,
                "{body}"
            );
        }
        assert_eq!(
            parse_sync_body(br#"{"source": "hubspot", "leads": []}"#)
                .unwrap()
                .source
                .as_deref(),
            Some("hubspot")
        );
    }

    #[test]
    fn delete_envelope() {
        let cases: [(&str, Result<Vec<&str>, &str>); 5] = [
            (r#"{"lead_ids": ["a", "b"]}"#, Ok(vec!["a", "b"])),
            (r#"{"lead_ids": []}"#, Ok(vec![])),
            ("{}", Err("lead_ids is required")),
            (
                r#"{"lead_ids": "a"}"#,
                Err("lead_ids must be an array of strings"),
            ),
            (
                r#"{"lead_ids": ["a", 1]}"#,
                Err("lead_ids must be an array of strings"),
            ),
        ];
        for (body, want) in cases {
            let want = want.map(|v| v.into_iter().map(str::to_owned).collect::<Vec<_>>());
            assert_eq!(parse_delete_body(body.as_bytes()), want, "{body}");
        }
    }

    #[test]
    fn counting_items_for_the_log() {
        assert_eq!(count_items(br#"{"leads": [1, 2]}"#, "leads"), Some(2));
        assert_eq!(count_items(br#"{"leads": 1}"#, "leads"), None);
        assert_eq!(count_items(b"nope", "leads"), None);
    }
}
