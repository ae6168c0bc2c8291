//! Which endpoint a request asks for, from its method and path alone, and what that
//! endpoint requires (a key, a scope, the Sync tier). A leaf: the gate in `state` and the
//! handlers in `api` both read it.

use axum::http::Method;

use crate::auth::scopes;
use crate::validate;

/// What a request asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Endpoint {
    /// `POST /api/leads/sync`.
    SyncUpsert,
    /// `DELETE /api/leads/sync`.
    SyncDelete,
    /// `POST /api/leads`.
    CreateLead,
    /// `GET /api/leads`.
    ListLeads,
    /// `GET /api/leads/:id` (the id as written in the path).
    GetLead(String),
    /// Any other path or method under `/api`: authenticated, then 404.
    ApiUnknown,
    /// Anything outside `/api`: 404 after the Global tier only.
    Unknown,
}

impl Endpoint {
    /// Classifies a request. One trailing slash is ignored, as Express does by default.
    pub(crate) fn classify(method: &Method, path: &str) -> Self {
        let path = match path.strip_suffix('/') {
            Some(p) if !p.is_empty() => p,
            _ => path,
        };
        let Some(rest) = path.strip_prefix("/api") else {
            return Endpoint::Unknown;
        };
        if !(rest.is_empty() || rest.starts_with('/')) {
            return Endpoint::Unknown;
        }
        match (method, rest) {
            (&Method::POST, "/leads/sync") => Endpoint::SyncUpsert,
            (&Method::DELETE, "/leads/sync") => Endpoint::SyncDelete,
            (&Method::POST, "/leads") => Endpoint::CreateLead,
            (&Method::GET, "/leads") => Endpoint::ListLeads,
            (&Method::GET, r) => match r.strip_prefix("/leads/") {
                Some(id) if !id.is_empty() && !id.contains('/') => Endpoint::GetLead(id.to_owned()),
                _ => Endpoint::ApiUnknown,
            },
            _ => Endpoint::ApiUnknown,
        }
    }

    /// Whether the request must present a key (everything under `/api`).
    pub(crate) fn needs_auth(&self) -> bool {
        *self != Endpoint::Unknown
    }

    /// Whether the Sync tier and sync faults apply.
    pub(crate) fn is_sync(&self) -> bool {
        matches!(self, Endpoint::SyncUpsert | Endpoint::SyncDelete)
    }

    /// The scope the endpoint requires.
    pub(crate) fn scope(&self) -> Option<&'static str> {
        match self {
            Endpoint::SyncUpsert => Some(scopes::LEADS_SYNC_CREATE),
            Endpoint::SyncDelete => Some(scopes::LEADS_SYNC_DELETE),
            Endpoint::CreateLead => Some(scopes::LEADS_IMPORT),
            Endpoint::ListLeads | Endpoint::GetLead(_) => Some(scopes::LEADS_VIEW),
            Endpoint::ApiUnknown | Endpoint::Unknown => None,
        }
    }

    /// How many leads the body carries, for the log.
    pub(crate) fn count_leads(&self, body: &[u8]) -> Option<usize> {
        match self {
            Endpoint::SyncUpsert => validate::count_items(body, "leads"),
            Endpoint::SyncDelete => validate::count_items(body, "lead_ids"),
            Endpoint::CreateLead => serde_json::from_slice::<serde_json::Value>(body)
                .ok()
                .filter(serde_json::Value::is_object)
                .map(|_| 1),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classify_paths_and_methods() {
        use Endpoint::*;
        let cases = [
            (Method::POST, "/api/leads/sync", SyncUpsert),
            (Method::POST, "/api/leads/sync/", SyncUpsert),
            (Method::DELETE, "/api/leads/sync", SyncDelete),
            (Method::PUT, "/api/leads/sync", ApiUnknown),
            (Method::GET, "/api/leads/sync", GetLead("sync".into())),
            (Method::POST, "/api/leads", CreateLead),
            (Method::GET, "/api/leads", ListLeads),
            (Method::GET, "/api/leads/12", GetLead("12".into())),
            (Method::GET, "/api/leads/12/x", ApiUnknown),
            (Method::GET, "/api", ApiUnknown),
            (Method::GET, "/api/", ApiUnknown),
            (Method::GET, "/api/nothing", ApiUnknown),
            (Method::POST, "/api/api/leads/sync", ApiUnknown),
            (Method::GET, "/apix", Unknown),
            (Method::GET, "/", Unknown),
            (Method::POST, "/leads/sync", Unknown),
        ];
        for (method, path, want) in cases {
            assert_eq!(Endpoint::classify(&method, path), want, "{method} {path}");
        }
    }

    #[test]
    fn scopes_per_endpoint() {
        let cases = [
            (Endpoint::SyncUpsert, Some("leads:sync_create"), true),
            (Endpoint::SyncDelete, Some("leads:sync_delete"), true),
            (Endpoint::CreateLead, Some("leads:import"), false),
            (Endpoint::ListLeads, Some("leads:view"), false),
            (Endpoint::GetLead("1".into()), Some("leads:view"), false),
            (Endpoint::ApiUnknown, None, false),
        ];
        for (e, scope, sync) in cases {
            assert_eq!((e.scope(), e.is_sync()), (scope, sync), "{e:?}");
        }
    }
}
