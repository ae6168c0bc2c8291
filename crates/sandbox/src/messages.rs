//! Every message string the sandbox answers with, in one place, so tests on both sides
//! compare against the same text.
//!
//! Each constant says where its words come from: *documented* strings are copied exactly
//! from the Naturalead docs (`naturalead-api.md`); *ours* are the sandbox's own wording
//! for cases the docs leave open.

/// 401 when no key was sent (documented).
pub const AUTH_REQUIRED: &str = "Authentication required. Provide an API key via X-API-Key header or Authorization: Bearer header.";

/// 401 for a malformed, unknown, revoked or expired key (documented).
pub const INVALID_KEY: &str = "Invalid or expired API key";

/// The `error` field of every 403 (documented; the 403 body has its own two-field shape).
pub const FORBIDDEN: &str = "Forbidden";

/// The `message` field of a 403 for a key that lacks `scope` (documented template).
pub fn missing_scope(scope: &str) -> String {
    format!("API key does not have the required scope (requires: {scope}).")
}

/// 429 from the Global (per IP) tier (documented).
pub const RATE_GLOBAL: &str = "Too many requests, please try again later";
/// 429 from the API Key tier (documented).
pub const RATE_API_KEY: &str = "API key rate limit exceeded, please try again later";
/// 429 from the Sync tier (documented; the text says 50 whatever the configured limit).
pub const RATE_SYNC: &str = "Sync API rate limit exceeded. Maximum 50 batch requests per minute.";
/// 429 from the Account tier (documented).
pub const RATE_ACCOUNT: &str = "Account rate limit exceeded, please try again later";

/// Per-lead or 400: the lead has no usable phone (documented).
pub const PHONE_REQUIRED: &str = "phone is required";
/// Per-lead or 400: status outside the enum (documented).
pub const INVALID_STATUS: &str =
    "Invalid status. Must be one of: new, contacted, qualified, disqualified";
/// Per-lead or 400: `tags` is not an array of strings (documented).
pub const TAGS_NOT_ARRAY: &str = "tags must be an array";
/// Per-lead or 400: `customFields` is not a flat key-value object (documented).
pub const CUSTOM_FIELDS_NOT_OBJECT: &str = "customFields must be a key-value object";
/// Per-lead or 409: the phone belongs to another lead of the account (documented).
pub const PHONE_TAKEN: &str = "A lead with this phone number already exists";
/// 404 for a lead id not in the caller's account (documented).
pub const LEAD_NOT_FOUND: &str = "Lead not found";
/// 500 on the sync path (documented as `"Failed to {action}"`).
pub const SYNC_FAILED: &str = "Failed to sync leads";

/// 400: the body is not valid JSON (ours).
pub const INVALID_JSON: &str = "Invalid JSON body";
/// 400: the body is JSON but not an object (ours).
pub const BODY_NOT_OBJECT: &str = "Request body must be a JSON object";
/// 400: sync body without `leads` (ours).
pub const LEADS_REQUIRED: &str = "leads is required";
/// 400: sync body whose `leads` is not an array (ours).
pub const LEADS_NOT_ARRAY: &str = "leads must be an array";
/// 400: sync body with more than 100 leads (ours).
pub const TOO_MANY_LEADS: &str = "Maximum 100 leads per request";
/// 400: top-level `source` that is not a string (ours).
pub const SOURCE_NOT_STRING: &str = "source must be a string";
/// 400: delete body without `lead_ids` (ours).
pub const LEAD_IDS_REQUIRED: &str = "lead_ids is required";
/// 400: delete body whose `lead_ids` is not an array of strings (ours).
pub const LEAD_IDS_NOT_ARRAY: &str = "lead_ids must be an array of strings";
/// Per-lead or 400: an element of `leads` that is not an object (ours).
pub const LEAD_NOT_OBJECT: &str = "lead must be an object";
/// Per-lead or 400: `lead_id` present but not a non-empty string (ours).
pub const LEAD_ID_NOT_STRING: &str = "lead_id must be a non-empty string";
/// Per-lead or 400: `name` present but not a string (ours).
pub const NAME_NOT_STRING: &str = "name must be a string";
/// Per-lead or 400: `email` present but not a string (ours).
pub const EMAIL_NOT_STRING: &str = "email must be a string";
/// 400: `limit` or `skip` on `GET /api/leads` that is not a usable integer (ours).
pub const BAD_PAGINATION: &str = "limit must be a positive integer and skip a non-negative integer";
/// 404 for a path the API does not have (ours).
pub const NOT_FOUND: &str = "Not found";
/// 413 for a body over the size limit (ours).
pub const BODY_TOO_LARGE: &str = "Request body too large";
/// 503 injected by a fault (ours: the docs list 503s only for unconfigured integrations).
pub const UNAVAILABLE: &str = "Service temporarily unavailable";
