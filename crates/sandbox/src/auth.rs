//! API keys: their format, the scopes and status they carry, where a request presents one,
//! and the store that holds them as SHA-256 hashes only, as the real API does.

use std::collections::HashMap;
use std::fmt::Write as _;

use axum::http::HeaderMap;
use axum::http::header::AUTHORIZATION;
use rand::Rng;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::ratelimit::KeyId;

/// The scope names the sandbox checks (docs §2.4).
pub mod scopes {
    /// `GET /api/leads` and `GET /api/leads/:id`.
    pub const LEADS_VIEW: &str = "leads:view";
    /// `POST /api/leads`.
    pub const LEADS_IMPORT: &str = "leads:import";
    /// `POST /api/leads/sync`.
    pub const LEADS_SYNC_CREATE: &str = "leads:sync_create";
    /// `DELETE /api/leads/sync`.
    pub const LEADS_SYNC_DELETE: &str = "leads:sync_delete";
    /// Every scope above: what an account Owner's key may carry.
    pub const ALL: [&str; 4] = [
        LEADS_VIEW,
        LEADS_IMPORT,
        LEADS_SYNC_CREATE,
        LEADS_SYNC_DELETE,
    ];
}

/// The account every sandbox has from the start (a 24-hex ObjectId, like real account ids).
pub const DEFAULT_ACCOUNT_ID: &str = "665f1e2d3c4b5a6978877665";

/// A fixed test key of the default account with every scope, registered in every sandbox
/// (so a README curl session works as written; `Sandbox::test_key` returns it).
pub const TEST_KEY: &str =
    "nl_test_0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

/// A fixed test key of the default account with `leads:view` and `leads:import` but
/// without `leads:sync_create` or `leads:sync_delete`: the key for the 403 demo.
pub const NO_SYNC_KEY: &str =
    "nl_test_fedcba9876543210fedcba9876543210fedcba9876543210fedcba9876543210";

/// Whether a key can be used.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum KeyStatus {
    /// Usable.
    #[default]
    Active,
    /// Revoked: answers 401 `"Invalid or expired API key"`.
    Revoked,
    /// Past its expiry date: answers 401 `"Invalid or expired API key"`.
    Expired,
}

/// Which prefix a key has: `nl_live_` or `nl_test_` (the sandbox treats both alike).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Environment {
    /// `nl_live_` keys.
    Live,
    /// `nl_test_` keys.
    #[default]
    Test,
}

impl Environment {
    /// The key prefix of this environment.
    pub fn prefix(self) -> &'static str {
        match self {
            Environment::Live => "nl_live_",
            Environment::Test => "nl_test_",
        }
    }
}

/// What a new key is: its account, scopes, status and prefix.
///
/// `KeySpec::default()` is an active `nl_test_` key of the default account with every
/// scope in [`scopes::ALL`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct KeySpec {
    /// Account (organisation) id the key belongs to.
    pub account: String,
    /// Scopes granted to the key.
    pub scopes: Vec<String>,
    /// Whether the key is active, revoked or expired.
    pub status: KeyStatus,
    /// Which prefix the key gets.
    pub environment: Environment,
}

impl Default for KeySpec {
    fn default() -> Self {
        KeySpec {
            account: DEFAULT_ACCOUNT_ID.to_owned(),
            scopes: scopes::ALL.iter().map(|s| (*s).to_owned()).collect(),
            status: KeyStatus::Active,
            environment: Environment::Test,
        }
    }
}

impl KeySpec {
    /// A full-scope active test key of `account`.
    pub fn for_account(account: impl Into<String>) -> Self {
        KeySpec {
            account: account.into(),
            ..KeySpec::default()
        }
    }

    /// Replaces the scopes.
    pub fn with_scopes(mut self, scopes: &[&str]) -> Self {
        self.scopes = scopes.iter().map(|s| (*s).to_owned()).collect();
        self
    }

    /// Sets the status.
    pub fn with_status(mut self, status: KeyStatus) -> Self {
        self.status = status;
        self
    }

    /// Sets the environment (prefix).
    pub fn with_environment(mut self, environment: Environment) -> Self {
        self.environment = environment;
        self
    }
}

/// A key that cannot be registered.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    /// Not `nl_live_` or `nl_test_` followed by 64 lowercase hex characters.
    #[error("an API key is `nl_live_` or `nl_test_` followed by 64 lowercase hex characters")]
    Malformed,
}

/// Whether `key` has the documented shape: `nl_live_` or `nl_test_` and 64 hex characters.
///
/// Only lowercase hex is accepted: keys are issued in lowercase and stored as hashes, so an
/// uppercase spelling could never match one anyway.
pub fn is_well_formed(key: &str) -> bool {
    let hex = key
        .strip_prefix("nl_live_")
        .or_else(|| key.strip_prefix("nl_test_"));
    hex.is_some_and(|h| h.len() == 64 && h.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')))
}

/// The last 4 characters of a key: the docs' `keyHint`, the only part ever logged.
pub fn key_hint(key: &str) -> String {
    let start = key.char_indices().rev().nth(3).map_or(0, |(i, _)| i);
    key[start..].to_owned()
}

/// A fresh random key with `environment`'s prefix.
pub(crate) fn generate(environment: Environment) -> String {
    let bytes: [u8; 32] = rand::rng().random();
    let mut key = String::from(environment.prefix());
    for b in bytes {
        let _ = write!(key, "{b:02x}");
    }
    key
}

/// The key a request presents, if any. `X-API-Key` wins over `Authorization: Bearer`
/// (documented precedence). Empty values count as absent, and so does an `Authorization`
/// header of another scheme.
pub(crate) fn presented_key(headers: &HeaderMap) -> Option<&str> {
    let x_api_key = headers
        .get("x-api-key")
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .filter(|v| !v.is_empty());
    x_api_key.or_else(|| {
        let auth = headers.get(AUTHORIZATION)?.to_str().ok()?.trim();
        let (scheme, token) = auth.split_once(' ')?;
        let token = token.trim();
        (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
    })
}

/// A registered key, without the key itself.
#[derive(Debug, Clone)]
pub(crate) struct KeyRecord {
    pub(crate) account: String,
    pub(crate) scopes: Vec<String>,
    pub(crate) status: KeyStatus,
}

impl KeyRecord {
    pub(crate) fn has_scope(&self, scope: &str) -> bool {
        self.scopes.iter().any(|s| s == scope)
    }
}

/// Registered keys by SHA-256 hash; the full keys are never kept.
#[derive(Debug, Default)]
pub(crate) struct KeyStore {
    by_hash: HashMap<KeyId, KeyRecord>,
}

impl KeyStore {
    /// Registers `key` (replacing any earlier record for it).
    pub(crate) fn insert(&mut self, key: &str, spec: KeySpec) -> Result<(), KeyError> {
        if !is_well_formed(key) {
            return Err(KeyError::Malformed);
        }
        self.by_hash.insert(
            hash(key),
            KeyRecord {
                account: spec.account,
                scopes: spec.scopes,
                status: spec.status,
            },
        );
        Ok(())
    }

    /// The usable record for `key`: well formed, known and active.
    pub(crate) fn authenticate(&self, key: &str) -> Option<(KeyId, &KeyRecord)> {
        if !is_well_formed(key) {
            return None;
        }
        let id = hash(key);
        self.by_hash
            .get(&id)
            .filter(|r| r.status == KeyStatus::Active)
            .map(|r| (id, r))
    }

    /// Changes the status of a registered key; says whether it was registered.
    pub(crate) fn set_status(&mut self, key: &str, status: KeyStatus) -> bool {
        match self.by_hash.get_mut(&hash(key)) {
            Some(r) => {
                r.status = status;
                true
            }
            None => false,
        }
    }
}

fn hash(key: &str) -> KeyId {
    Sha256::digest(key.as_bytes()).into()
}

#[cfg(test)]
mod tests {
    use axum::http::HeaderValue;

    use super::*;

    #[test]
    fn key_format() {
        let hex64 = "ab".repeat(32);
        let cases = [
            (format!("nl_live_{hex64}"), true),
            (format!("nl_test_{hex64}"), true),
            (format!("nl_prod_{hex64}"), false),
            (format!("nl_test_{}", &hex64[1..]), false),
            (format!("nl_test_{hex64}0"), false),
            (format!("nl_test_{}", hex64.to_uppercase()), false),
            (format!("nl_test_{}g", &hex64[1..]), false),
            (format!("NL_TEST_{hex64}"), false),
            (String::new(), false),
        ];
        for (key, ok) in cases {
            assert_eq!(is_well_formed(&key), ok, "{key}");
        }
        assert!(is_well_formed(TEST_KEY));
        assert!(is_well_formed(NO_SYNC_KEY));
        assert!(is_well_formed(&generate(Environment::Live)));
        assert!(generate(Environment::Test).starts_with("nl_test_"));
    }

    #[test]
    fn hint_is_the_last_four_characters() {
        let cases = [
            (TEST_KEY, "cdef"),
            (NO_SYNC_KEY, "3210"),
            ("abc", "abc"),
            ("", ""),
            ("xé1234", "1234"),
        ];
        for (key, hint) in cases {
            assert_eq!(key_hint(key), hint);
        }
    }

    #[test]
    fn presented_key_precedence() {
        let h = |pairs: &[(&'static str, &str)]| {
            let mut m = HeaderMap::new();
            for (k, v) in pairs {
                m.insert(*k, HeaderValue::from_str(v).unwrap());
            }
            m
        };
        type Headers<'a> = &'a [(&'a str, &'a str)];
        let cases: [(Headers<'_>, Option<&str>); 8] = [
            (&[], None),
            (&[("x-api-key", "A")], Some("A")),
            (&[("authorization", "Bearer B")], Some("B")),
            (&[("authorization", "bearer  B ")], Some("B")),
            (
                &[("x-api-key", "A"), ("authorization", "Bearer B")],
                Some("A"),
            ),
            (
                &[("x-api-key", " "), ("authorization", "Bearer B")],
                Some("B"),
            ),
            (&[("authorization", "Basic Zm9v")], None),
            (&[("authorization", "Bearer ")], None),
        ];
        for (pairs, want) in cases {
            assert_eq!(presented_key(&h(pairs)), want, "{pairs:?}");
        }
    }

    #[test]
    fn store_keeps_hashes_and_honours_status() {
        let mut store = KeyStore::default();
        assert_eq!(
            store.insert("nl_test_short", KeySpec::default()),
            Err(KeyError::Malformed)
        );
        store.insert(TEST_KEY, KeySpec::default()).unwrap();
        assert!(store.authenticate(TEST_KEY).is_some());
        assert!(store.authenticate(NO_SYNC_KEY).is_none());
        let debug = format!("{store:?}");
        assert!(
            !debug.contains(&TEST_KEY[8..]),
            "the store must not hold the key"
        );
        for status in [KeyStatus::Revoked, KeyStatus::Expired] {
            assert!(store.set_status(TEST_KEY, status));
            assert!(store.authenticate(TEST_KEY).is_none());
        }
        assert!(!store.set_status(NO_SYNC_KEY, KeyStatus::Active));
    }
}
