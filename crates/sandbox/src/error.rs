//! Whole-request refusals and how each one is written as an HTTP response, with the exact
//! status, body and headers the docs give.

use axum::Json;
use axum::http::header::RETRY_AFTER;
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use crate::messages;
use crate::ratelimit::Tier;
use crate::validate::LeadError;

/// A request refused as a whole. `Display` is the `error` text of the body.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum ApiError {
    /// 401: no key.
    #[error("{}", messages::AUTH_REQUIRED)]
    AuthRequired,
    /// 401: malformed, unknown, revoked or expired key.
    #[error("{}", messages::INVALID_KEY)]
    InvalidKey,
    /// 403: the key lacks the scope (two-field body).
    #[error("{}", messages::FORBIDDEN)]
    MissingScope(&'static str),
    /// 429 from a tier, with `Retry-After` in seconds.
    #[error("{}", .tier.message())]
    RateLimited { tier: Tier, retry_after_secs: u64 },
    /// 400 with a message.
    #[error("{0}")]
    BadRequest(String),
    /// 400 for a lead refused by strict validation.
    #[error("{0}")]
    InvalidLead(LeadError),
    /// 409: phone taken.
    #[error("{}", messages::PHONE_TAKEN)]
    PhoneTaken,
    /// 404 for a lead.
    #[error("{}", messages::LEAD_NOT_FOUND)]
    LeadNotFound,
    /// 404 for a path.
    #[error("{}", messages::NOT_FOUND)]
    NotFound,
    /// 413.
    #[error("{}", messages::BODY_TOO_LARGE)]
    BodyTooLarge,
}

impl ApiError {
    pub(crate) fn status(&self) -> StatusCode {
        match self {
            ApiError::AuthRequired | ApiError::InvalidKey => StatusCode::UNAUTHORIZED,
            ApiError::MissingScope(_) => StatusCode::FORBIDDEN,
            ApiError::RateLimited { .. } => StatusCode::TOO_MANY_REQUESTS,
            ApiError::BadRequest(_) | ApiError::InvalidLead(_) => StatusCode::BAD_REQUEST,
            ApiError::PhoneTaken => StatusCode::CONFLICT,
            ApiError::LeadNotFound | ApiError::NotFound => StatusCode::NOT_FOUND,
            ApiError::BodyTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status();
        let body = match &self {
            // The documented 403 shape differs from every other error.
            ApiError::MissingScope(scope) => json!({
                "error": messages::FORBIDDEN,
                "message": messages::missing_scope(scope),
            }),
            other => json!({ "error": other.to_string() }),
        };
        let mut response = (status, Json(body)).into_response();
        if let ApiError::RateLimited {
            retry_after_secs, ..
        } = self
        {
            response
                .headers_mut()
                .insert(RETRY_AFTER, HeaderValue::from(retry_after_secs));
        }
        response
    }
}

#[cfg(test)]
mod tests {
    use axum::body::to_bytes;
    use serde_json::Value;

    use super::*;

    async fn parts(e: ApiError) -> (u16, Value, Option<String>) {
        let r = e.into_response();
        let status = r.status().as_u16();
        let retry = r
            .headers()
            .get(RETRY_AFTER)
            .map(|v| v.to_str().unwrap().to_owned());
        let body = to_bytes(r.into_body(), 1 << 16).await.unwrap();
        (status, serde_json::from_slice(&body).unwrap(), retry)
    }

    #[tokio::test]
    async fn every_refusal_has_its_exact_status_body_and_headers() {
        let cases = [
            (
                ApiError::AuthRequired,
                401,
                json!({"error": "Authentication required. Provide an API key via X-API-Key header or Authorization: Bearer header."}),
                None,
            ),
            (
                ApiError::InvalidKey,
                401,
                json!({"error": "Invalid or expired API key"}),
                None,
            ),
            (
                ApiError::MissingScope("leads:sync_create"),
                403,
                json!({"error": "Forbidden", "message": "API key does not have the required scope (requires: leads:sync_create)."}),
                None,
            ),
            (
                ApiError::RateLimited {
                    tier: Tier::Sync,
                    retry_after_secs: 7,
                },
                429,
                json!({"error": "Sync API rate limit exceeded. Maximum 50 batch requests per minute."}),
                Some("7"),
            ),
            (
                ApiError::InvalidLead(LeadError::TagsNotArray),
                400,
                json!({"error": "tags must be an array"}),
                None,
            ),
            (
                ApiError::PhoneTaken,
                409,
                json!({"error": "A lead with this phone number already exists"}),
                None,
            ),
            (
                ApiError::LeadNotFound,
                404,
                json!({"error": "Lead not found"}),
                None,
            ),
            (ApiError::NotFound, 404, json!({"error": "Not found"}), None),
        ];
        for (err, status, body, retry) in cases {
            let label = format!("{err:?}");
            assert_eq!(
                parts(err).await,
                (status, body, retry.map(str::to_owned)),
                "{label}"
            );
        }
    }
}
