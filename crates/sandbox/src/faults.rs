//! Faults as data: what can go wrong on purpose, and the engine that decides, request by
//! request, which fault (if any) a sync request gets.
//!
//! The engine is deterministic: the N-th sync request counts from the moment the faults
//! were set, and the random generators are re-seeded from [`Config::seed`](crate::Config)
//! each time, so the same settings and the same requests inject the same faults.

use std::time::Duration;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde::{Deserialize, Serialize};
use tokio::time::Instant;

/// Every fault setting. `Faults::default()` injects nothing.
///
/// When several faults match one sync request, the storm wins over a scripted rule, and
/// a scripted rule wins over a random failure. Latency is added on top of any of them.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct Faults {
    /// Delay before a request is processed.
    pub latency: Option<Latency>,
    /// Which requests the latency applies to.
    pub latency_scope: LatencyScope,
    /// Rules for given sync requests, counted from 1 since these faults were set.
    pub script: Vec<ScriptedFault>,
    /// A probability of a 5xx per sync request, drawn from a seeded generator.
    pub random: Option<RandomFailures>,
    /// A period during which every sync request gets 429.
    pub storm: Option<Storm>,
}

impl Faults {
    /// No faults at all (the same as `Faults::default()`).
    pub fn none() -> Self {
        Faults::default()
    }

    /// Faults made of scripted rules only.
    pub fn script(rules: impl IntoIterator<Item = ScriptedFault>) -> Self {
        Faults {
            script: rules.into_iter().collect(),
            ..Faults::default()
        }
    }
}

/// A delay, fixed (`min_ms == max_ms`) or drawn uniformly from `min_ms..=max_ms`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Latency {
    /// Shortest delay in milliseconds.
    pub min_ms: u64,
    /// Longest delay in milliseconds.
    pub max_ms: u64,
}

impl Latency {
    /// The same delay every time.
    pub fn fixed(ms: u64) -> Self {
        Latency {
            min_ms: ms,
            max_ms: ms,
        }
    }

    /// A delay drawn uniformly from `min_ms..=max_ms` (bounds in either order).
    pub fn range(min_ms: u64, max_ms: u64) -> Self {
        Latency {
            min_ms: min_ms.min(max_ms),
            max_ms: min_ms.max(max_ms),
        }
    }

    fn sample(self, rng: &mut StdRng) -> Duration {
        let (lo, hi) = (self.min_ms.min(self.max_ms), self.min_ms.max(self.max_ms));
        Duration::from_millis(if lo == hi {
            lo
        } else {
            rng.random_range(lo..=hi)
        })
    }
}

/// Which requests [`Faults::latency`] delays.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LatencyScope {
    /// Only sync requests that passed authentication, rate limits and the scope check.
    #[default]
    Sync,
    /// Every request under `/api`, whatever its outcome.
    All,
}

/// "The `nth` sync request (and the `times - 1` after it) answers with `action`".
///
/// Sync requests are `POST` and `DELETE /api/leads/sync` that passed authentication, every
/// rate-limit tier and the scope check, counted from 1 since the faults were set.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScriptedFault {
    /// 1-based index of the first sync request the rule applies to.
    pub nth: u64,
    /// How many consecutive sync requests, from `nth` on, the rule applies to.
    #[serde(default = "one")]
    pub times: u64,
    /// What those requests get.
    pub action: FaultAction,
}

fn one() -> u64 {
    1
}

impl ScriptedFault {
    /// The `nth` sync request gets `action`.
    pub fn at(nth: u64, action: FaultAction) -> Self {
        ScriptedFault {
            nth,
            times: 1,
            action,
        }
    }

    /// Apply the rule to `times` consecutive sync requests starting at `nth`.
    pub fn times(mut self, times: u64) -> Self {
        self.times = times;
        self
    }

    fn covers(&self, n: u64) -> bool {
        n >= self.nth && n - self.nth < self.times
    }
}

/// What a scripted sync request gets instead of (or on top of) normal processing.
///
/// In JSON the variant is named by `"kind"`, e.g.
/// `{"kind": "respond", "status": 500}` or `{"kind": "drop_after"}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum FaultAction {
    /// Answer with `status` without processing anything. With no `body`, the body is the
    /// usual one for that status: 500 `{"error":"Failed to sync leads"}`, 429 the Sync
    /// tier's message, 503 `{"error":"Service temporarily unavailable"}`, any other
    /// `{"error": <reason phrase>}`. A `body` is sent raw (it may be truncated JSON); one
    /// that starts with `<` goes out as `text/html`, as a proxy's error page would.
    /// `Retry-After` is sent only when `retry_after_secs` is set.
    Respond {
        /// HTTP status to answer with.
        status: u16,
        /// Raw body, or `None` for the usual body of the status.
        #[serde(default)]
        body: Option<String>,
        /// `Retry-After` seconds, or `None` for no such header.
        #[serde(default)]
        retry_after_secs: Option<u64>,
    },
    /// Process the request normally (leads stored), then answer with `status` and the raw
    /// `body` instead of the real response: e.g. a 200 whose counts do not account for
    /// every lead, or truncated JSON.
    ApplyThenRespond {
        /// HTTP status to answer with.
        status: u16,
        /// Raw body sent as it is.
        body: String,
    },
    /// Close the TCP connection before processing: nothing is stored and the client sees
    /// a connection error.
    DropBefore,
    /// Process the request (leads stored), then close the TCP connection without
    /// answering: the client sees a connection error for a request that succeeded.
    DropAfter,
    /// Process the request normally, then wait `delay_ms` before answering, and/or send
    /// the body in small pieces.
    Slow {
        /// Delay between processing and the response head, in milliseconds.
        #[serde(default)]
        delay_ms: u64,
        /// Send the body a few bytes at a time.
        #[serde(default)]
        trickle: Option<Trickle>,
    },
}

impl FaultAction {
    /// A `Respond` with the usual body of `status` and no `Retry-After`.
    pub fn status(status: u16) -> Self {
        FaultAction::Respond {
            status,
            body: None,
            retry_after_secs: None,
        }
    }

    /// A 429 with the Sync tier's message and an optional `Retry-After`.
    pub fn too_many_requests(retry_after_secs: Option<u64>) -> Self {
        FaultAction::Respond {
            status: 429,
            body: None,
            retry_after_secs,
        }
    }

    /// A `Respond` with `status` and a raw `body`.
    pub fn raw(status: u16, body: impl Into<String>) -> Self {
        FaultAction::Respond {
            status,
            body: Some(body.into()),
            retry_after_secs: None,
        }
    }

    fn kind(&self) -> FaultKind {
        match self {
            FaultAction::Respond { .. } => FaultKind::Respond,
            FaultAction::ApplyThenRespond { .. } => FaultKind::ApplyThenRespond,
            FaultAction::DropBefore => FaultKind::DropBefore,
            FaultAction::DropAfter => FaultKind::DropAfter,
            FaultAction::Slow { .. } => FaultKind::Slow,
        }
    }
}

/// How a slow body is sent: `chunk_bytes` at a time, `interval_ms` apart.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Trickle {
    /// Bytes per piece (at least 1).
    pub chunk_bytes: usize,
    /// Pause between two pieces, in milliseconds.
    pub interval_ms: u64,
}

/// A probability, per sync request, of a 5xx answered before processing.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RandomFailures {
    /// Probability from 0.0 to 1.0.
    pub rate: f64,
    /// Statuses to pick from, uniformly (usual bodies, as for [`FaultAction::status`]).
    #[serde(default = "default_random_statuses")]
    pub statuses: Vec<u16>,
}

fn default_random_statuses() -> Vec<u16> {
    vec![500, 503]
}

impl RandomFailures {
    /// 500 or 503, each half of the time, with probability `rate`.
    pub fn new(rate: f64) -> Self {
        RandomFailures {
            rate,
            statuses: default_random_statuses(),
        }
    }
}

/// A 429 storm: every sync request gets 429 with the Sync message for `duration_ms`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Storm {
    /// Start at the N-th sync request (1-based, that request included); `None` starts
    /// the storm when the faults are set.
    #[serde(default)]
    pub start_at_request: Option<u64>,
    /// How long the storm lasts, in milliseconds.
    pub duration_ms: u64,
    /// `Retry-After` seconds on the storm's 429s, or `None` for no such header.
    #[serde(default)]
    pub retry_after_secs: Option<u64>,
}

/// Which fault a logged request got.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FaultKind {
    /// A 429 from a storm.
    Storm,
    /// A scripted [`FaultAction::Respond`].
    Respond,
    /// A scripted [`FaultAction::ApplyThenRespond`].
    ApplyThenRespond,
    /// A scripted [`FaultAction::DropBefore`].
    DropBefore,
    /// A scripted [`FaultAction::DropAfter`].
    DropAfter,
    /// A scripted [`FaultAction::Slow`].
    Slow,
    /// A random 5xx.
    Random,
    /// Only latency was added.
    Latency,
}

/// The fault chosen for one sync request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Planned {
    pub(crate) kind: FaultKind,
    pub(crate) action: FaultAction,
}

/// Decides which faults each request gets. Owned by the shared state, under its lock.
#[derive(Debug)]
pub(crate) struct FaultEngine {
    faults: Faults,
    seed: u64,
    /// Sync requests seen since the faults were set: the N of "the N-th sync request".
    sync_seen: u64,
    /// When the storm began, once it has.
    storm_began: Option<Instant>,
    /// Separate generators so that turning latency on does not change which requests
    /// fail at random.
    fail_rng: StdRng,
    latency_rng: StdRng,
}

impl FaultEngine {
    pub(crate) fn new(faults: Faults, seed: u64, now: Instant) -> Self {
        let mut engine = FaultEngine {
            faults: Faults::default(),
            seed,
            sync_seen: 0,
            storm_began: None,
            fail_rng: StdRng::seed_from_u64(seed),
            latency_rng: StdRng::seed_from_u64(seed),
        };
        engine.replace(faults, now);
        engine
    }

    pub(crate) fn faults(&self) -> &Faults {
        &self.faults
    }

    /// Installs new faults and starts counting and drawing afresh.
    pub(crate) fn replace(&mut self, faults: Faults, now: Instant) {
        self.storm_began = match faults.storm {
            Some(Storm {
                start_at_request: None,
                ..
            }) => Some(now),
            _ => None,
        };
        self.faults = faults;
        self.sync_seen = 0;
        self.fail_rng = StdRng::seed_from_u64(self.seed);
        // A different stream from the same seed.
        self.latency_rng = StdRng::seed_from_u64(self.seed ^ 0x9e37_79b9_7f4a_7c15);
    }

    /// The latency for a request, if the faults delay it. `processed_sync` says whether
    /// the request is a sync request that passed every check.
    pub(crate) fn latency(&mut self, processed_sync: bool) -> Option<Duration> {
        let latency = self.faults.latency?;
        match self.faults.latency_scope {
            LatencyScope::All => Some(latency.sample(&mut self.latency_rng)),
            LatencyScope::Sync if processed_sync => Some(latency.sample(&mut self.latency_rng)),
            LatencyScope::Sync => None,
        }
    }

    /// Counts one more sync request and says which fault it gets.
    pub(crate) fn next_sync(&mut self, now: Instant) -> Option<Planned> {
        self.sync_seen += 1;
        let n = self.sync_seen;

        // Draw for every request, even one a storm or a rule takes, so that the random
        // failures of request N do not depend on the other rules.
        let random_status = self.faults.random.as_ref().and_then(|r| {
            let hit = self.fail_rng.random::<f64>() < r.rate;
            match (hit, r.statuses.as_slice()) {
                (false, _) | (true, []) => None,
                (true, statuses) => Some(statuses[self.fail_rng.random_range(0..statuses.len())]),
            }
        });

        if let Some(storm) = self.faults.storm {
            if self.storm_began.is_none() && storm.start_at_request == Some(n) {
                self.storm_began = Some(now);
            }
            if let Some(began) = self.storm_began
                && now < began + Duration::from_millis(storm.duration_ms)
            {
                return Some(Planned {
                    kind: FaultKind::Storm,
                    action: FaultAction::too_many_requests(storm.retry_after_secs),
                });
            }
        }
        if let Some(rule) = self.faults.script.iter().find(|r| r.covers(n)) {
            return Some(Planned {
                kind: rule.action.kind(),
                action: rule.action.clone(),
            });
        }
        random_status.map(|status| Planned {
            kind: FaultKind::Random,
            action: FaultAction::status(status),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kinds(engine: &mut FaultEngine, n: usize, now: Instant) -> Vec<Option<FaultKind>> {
        (0..n)
            .map(|_| engine.next_sync(now).map(|p| p.kind))
            .collect()
    }

    #[test]
    fn scripted_rules_fire_on_their_requests_only() {
        let now = Instant::now();
        let faults = Faults::script([
            ScriptedFault::at(2, FaultAction::DropBefore),
            ScriptedFault::at(4, FaultAction::status(500)).times(2),
        ]);
        let mut e = FaultEngine::new(faults, 0, now);
        use FaultKind::*;
        assert_eq!(
            kinds(&mut e, 7, now),
            [
                None,
                Some(DropBefore),
                None,
                Some(Respond),
                Some(Respond),
                None,
                None
            ]
        );
    }

    #[test]
    fn replacing_faults_restarts_the_count() {
        let now = Instant::now();
        let mut e = FaultEngine::new(Faults::default(), 0, now);
        kinds(&mut e, 5, now);
        e.replace(
            Faults::script([ScriptedFault::at(1, FaultAction::DropAfter)]),
            now,
        );
        assert_eq!(kinds(&mut e, 2, now), [Some(FaultKind::DropAfter), None]);
    }

    #[test]
    fn storm_starting_now_lasts_its_duration() {
        let t0 = Instant::now();
        let faults = Faults {
            storm: Some(Storm {
                start_at_request: None,
                duration_ms: 1000,
                retry_after_secs: Some(3),
            }),
            ..Faults::default()
        };
        let mut e = FaultEngine::new(faults, 0, t0);
        let p = e.next_sync(t0 + Duration::from_millis(999)).unwrap();
        assert_eq!(p.kind, FaultKind::Storm);
        assert_eq!(p.action, FaultAction::too_many_requests(Some(3)));
        assert_eq!(e.next_sync(t0 + Duration::from_millis(1000)), None);
    }

    #[test]
    fn storm_starting_at_request_n() {
        let t0 = Instant::now();
        let faults = Faults {
            storm: Some(super::Storm {
                start_at_request: Some(3),
                duration_ms: 500,
                retry_after_secs: None,
            }),
            ..Faults::default()
        };
        let mut e = FaultEngine::new(faults, 0, t0);
        let later = t0 + Duration::from_secs(10);
        use FaultKind::*;
        assert_eq!(
            kinds(&mut e, 4, later),
            [None, None, Some(Storm), Some(Storm)]
        );
        assert_eq!(e.next_sync(later + Duration::from_millis(500)), None);
    }

    #[test]
    fn storm_beats_script_beats_random() {
        let now = Instant::now();
        let faults = Faults {
            script: vec![ScriptedFault::at(1, FaultAction::DropAfter)],
            random: Some(RandomFailures::new(1.0)),
            storm: Some(super::Storm {
                start_at_request: Some(2),
                duration_ms: 0,
                retry_after_secs: None,
            }),
            ..Faults::default()
        };
        let mut e = FaultEngine::new(faults, 7, now);
        // Request 2 starts a zero-length storm, so random takes it.
        use FaultKind::*;
        assert_eq!(kinds(&mut e, 2, now), [Some(DropAfter), Some(Random)]);
    }

    #[test]
    fn random_failures_are_deterministic_for_a_seed() {
        let now = Instant::now();
        let faults = Faults {
            random: Some(RandomFailures::new(0.5)),
            ..Faults::default()
        };
        let statuses = |seed| {
            let mut e = FaultEngine::new(faults.clone(), seed, now);
            (0..200)
                .map(|_| match e.next_sync(now).map(|p| p.action) {
                    Some(FaultAction::Respond { status, .. }) => status,
                    _ => 200,
                })
                .collect::<Vec<_>>()
        };
        let a = statuses(42);
        assert_eq!(a, statuses(42));
        assert_ne!(a, statuses(43));
        let failed = a.iter().filter(|&&s| s != 200).count();
        assert!(
            (60..=140).contains(&failed),
            "{failed} of 200 failed at rate 0.5"
        );
        assert!(a.contains(&500) && a.contains(&503));
    }

    #[test]
    fn latency_scope_and_range() {
        let now = Instant::now();
        let mut e = FaultEngine::new(
            Faults {
                latency: Some(Latency::range(20, 10)),
                ..Faults::default()
            },
            1,
            now,
        );
        assert_eq!(e.latency(false), None);
        for _ in 0..50 {
            let d = e.latency(true).unwrap();
            assert!((10..=20).contains(&d.as_millis()), "{d:?}");
        }
        e.replace(
            Faults {
                latency: Some(Latency::fixed(5)),
                latency_scope: LatencyScope::All,
                ..Faults::default()
            },
            now,
        );
        assert_eq!(e.latency(false), Some(Duration::from_millis(5)));
    }

    #[test]
    fn fault_actions_read_from_json() {
        let f: Faults = serde_json::from_str(
            r#"{
                "latency": {"min_ms": 10, "max_ms": 20},
                "script": [
                    {"nth": 1, "action": {"kind": "respond", "status": 500}},
                    {"nth": 2, "times": 3, "action": {"kind": "drop_after"}},
                    {"nth": 5, "action": {"kind": "apply_then_respond", "status": 200, "body": "{\"cre"}},
                    {"nth": 6, "action": {"kind": "slow", "delay_ms": 100,
                                          "trickle": {"chunk_bytes": 2, "interval_ms": 5}}}
                ],
                "random": {"rate": 0.1},
                "storm": {"duration_ms": 1000}
            }"#,
        )
        .unwrap();
        assert_eq!(f.script[0].action, FaultAction::status(500));
        assert_eq!(f.script[1].times, 3);
        assert_eq!(f.random.unwrap().statuses, [500, 503]);
        assert_eq!(f.storm.unwrap().start_at_request, None);
    }
}
