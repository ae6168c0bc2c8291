//! The sandbox's settings: rate limits, header style, conflict handling and startup faults.
//!
//! Every settings type derives `Default` (the documented production values, no faults)
//! and serde, so the same values can come from code, the command line or JSON.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::faults::Faults;

/// Everything a sandbox needs to know before it starts.
///
/// `Config::default()` behaves like the real API as documented: 60-second sliding windows,
/// 1000/500/50/2000 requests per window, draft-6 headers, per-lead phone conflicts and no
/// faults. Tests shrink the window and the limits so that boundaries are reached in
/// milliseconds rather than minutes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Config {
    /// Requests allowed per window, per tier.
    pub limits: Limits,
    /// Length of every tier's sliding window (serialised as integer milliseconds).
    #[serde(with = "duration_ms")]
    pub window: Duration,
    /// How the `RateLimit` headers are written.
    pub header_style: HeaderStyle,
    /// What a phone collision during sync does to the request.
    pub conflict_mode: ConflictMode,
    /// When true, any per-lead validation failure fails the whole sync request with 400
    /// and the failing lead's message, applying nothing (lets the importer's batch
    /// bisection be tested). When false (the default), the lead fails alone.
    pub strict_validation: bool,
    /// Faults in force from the start; replaceable at runtime with
    /// [`SharedState::set_faults`](crate::SharedState::set_faults).
    pub faults: Faults,
    /// Seed of the random generators behind random faults and random latency, so a run
    /// with the same settings injects the same faults.
    pub seed: u64,
    /// How long [`Sandbox::shutdown`](crate::Sandbox::shutdown) lets in-flight requests
    /// finish before it closes their connections (serialised as integer milliseconds).
    #[serde(with = "duration_ms")]
    pub shutdown_grace: Duration,
    /// Largest request body accepted, in bytes; larger bodies get 413.
    pub max_body_bytes: usize,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            limits: Limits::default(),
            window: Duration::from_secs(60),
            header_style: HeaderStyle::default(),
            conflict_mode: ConflictMode::default(),
            strict_validation: false,
            faults: Faults::default(),
            seed: 0,
            shutdown_grace: Duration::from_secs(1),
            // 100 leads with generous custom fields stay far below this.
            max_body_bytes: 10 * 1024 * 1024,
        }
    }
}

/// Requests allowed per window for each rate-limit tier (docs §7.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Limits {
    /// Global tier: every request, counted per client IP address (documented: 1000).
    pub global_per_ip: u32,
    /// API Key tier: every authenticated request, counted per key (documented: 500).
    pub per_key: u32,
    /// Sync tier: `POST` and `DELETE /api/leads/sync`, counted per key (documented: 50).
    pub sync_per_key: u32,
    /// Account tier: every authenticated request, counted per account across its keys
    /// (documented: 2000).
    pub per_account: u32,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            global_per_ip: 1000,
            per_key: 500,
            sync_per_key: 50,
            per_account: 2000,
        }
    }
}

/// How the rate-limit headers are written on every response.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum HeaderStyle {
    /// Separate `RateLimit-Limit`, `RateLimit-Remaining` and `RateLimit-Reset` headers, as
    /// the docs show them (the IETF draft-6 form).
    #[default]
    Draft6,
    /// The IETF draft-7 combined form: `RateLimit: limit=50, remaining=12, reset=7` and
    /// `RateLimit-Policy: 50;w=60`.
    Draft7,
}

/// What a phone collision during sync does (the docs do not say; see the crate docs).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ConflictMode {
    /// The colliding lead fails alone, as an `errors` entry; the others are applied.
    #[default]
    PerLead,
    /// Any collision fails the whole request with 409
    /// `{"error":"A lead with this phone number already exists"}` and nothing is applied.
    WholeRequest409,
}

/// Serde helper: a [`Duration`] as an integer number of milliseconds.
pub(crate) mod duration_ms {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer, Serializer};

    pub(crate) fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u64(u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
    }

    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        u64::deserialize(d).map(Duration::from_millis)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_is_the_documented_production_setup() {
        let c = Config::default();
        assert_eq!(c.window, Duration::from_secs(60));
        assert_eq!(
            (
                c.limits.global_per_ip,
                c.limits.per_key,
                c.limits.sync_per_key,
                c.limits.per_account
            ),
            (1000, 500, 50, 2000)
        );
        assert_eq!(c.header_style, HeaderStyle::Draft6);
        assert_eq!(c.conflict_mode, ConflictMode::PerLead);
        assert!(!c.strict_validation);
        assert_eq!(c.faults, Faults::default());
    }

    #[test]
    fn config_round_trips_through_json_with_millisecond_durations() {
        let c = Config {
            window: Duration::from_millis(1500),
            ..Config::default()
        };
        let json = serde_json::to_value(&c).unwrap();
        assert_eq!(json["window"], 1500);
        assert_eq!(json["header_style"], "draft6");
        assert_eq!(json["conflict_mode"], "per_lead");
        let back: Config = serde_json::from_value(json).unwrap();
        assert_eq!(back, c);
        // Partial JSON fills the rest from the defaults.
        let partial: Config = serde_json::from_str(r#"{"limits":{"sync_per_key":3}}"#).unwrap();
        assert_eq!(partial.limits.sync_per_key, 3);
        assert_eq!(partial.limits.per_key, 500);
    }
}
