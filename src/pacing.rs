//! Pacing: when the next request may leave, so that the sync tier's sliding window is never
//! exceeded; how the server's `RateLimit-*` and `Retry-After` headers slow us further; and
//! the server's own rate policy, learnt from those headers when it is stricter than ours.
//!
//! Every gate is decided under one lock, on tokio's clock (so tests run on paused time),
//! at the moment a request leaves:
//!
//! - a GCRA limiter (one request every `(window + margin) / rate`, a burst of 2): requests
//!   leave evenly spaced, and one that left late may be followed at once, so that
//!   scheduling delays do not add up to lost quota, never more;
//! - a log of our own sends: no request leaves while `rate` of them left within the last
//!   `window + margin`, so no sliding window of the server's length ever holds more than
//!   `rate`, whatever the latency and whatever the limiter allowed. The log checks every
//!   limit in force: the configured one, and each stricter policy the server advertised
//!   (draft-7 `RateLimit-Policy: 50;w=6`, or a `RateLimit-Limit` whose `RateLimit-Reset`
//!   values reveal the window), adopted once, said once (a `rate_policy` [`Event`]), kept
//!   in [`RatePolicy`];
//! - a gate fed by the answers: a `Retry-After` pauses every request until it has passed, and
//!   when the server's count of the key's requests exceeds ours (someone else is spending the
//!   same key's budget) we space requests to fit what remains, and wait for the reset when
//!   nothing does.

use std::collections::VecDeque;
use std::fmt;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use serde::Serialize;
use tokio::time::Instant;

use crate::output::Event;

/// What the server said about its budget in one answer's headers.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RateHeaders {
    /// Requests allowed per window.
    pub limit: Option<u32>,
    /// Requests left in the current window.
    pub remaining: Option<u32>,
    /// Time until the window frees budget again.
    pub reset: Option<Duration>,
    /// The policies of a `RateLimit-Policy` header (draft 7 and later), if any.
    pub policies: Vec<Policy>,
}

/// A rate policy: `limit` requests in any `window`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Policy {
    /// Requests allowed per window.
    pub limit: u32,
    /// The window.
    pub window: Duration,
}

/// The most policies read from one `RateLimit-Policy` header.
const MAX_POLICIES: usize = 8;

/// The longest window a policy may have (a day); a longer one, or a `RateLimit-Reset`
/// beyond an hour (an epoch timestamp, as some servers send), is not a window.
const MAX_POLICY_WINDOW: Duration = Duration::from_secs(24 * 3600);
const MAX_REVEALING_RESET: Duration = Duration::from_secs(3600);

impl RateHeaders {
    /// Reads the IETF draft-6 separate headers (`RateLimit-Limit`, `-Remaining`, `-Reset`)
    /// or, when those are absent, the draft-7 combined `RateLimit: limit=50, remaining=12,
    /// reset=7`, and `RateLimit-Policy`. `header` looks a header up by lower-case name.
    pub fn parse<'a>(header: impl Fn(&str) -> Option<&'a str>) -> RateHeaders {
        let num = |v: Option<&str>| v.and_then(|v| v.trim().parse::<u64>().ok());
        let mut parsed = RateHeaders {
            limit: num(header("ratelimit-limit")).and_then(|n| u32::try_from(n).ok()),
            remaining: num(header("ratelimit-remaining")).and_then(|n| u32::try_from(n).ok()),
            reset: num(header("ratelimit-reset")).map(Duration::from_secs),
            policies: header("ratelimit-policy").map_or_else(Vec::new, parse_policies),
        };
        if let Some(combined) = header("ratelimit") {
            for item in combined.split([',', ';']) {
                let Some((key, value)) = item.split_once('=') else {
                    continue;
                };
                let value = num(Some(value.trim().trim_matches('"')));
                match key.trim().to_ascii_lowercase().as_str() {
                    "limit" | "l" => {
                        parsed.limit = parsed.limit.or(value.and_then(|n| u32::try_from(n).ok()))
                    }
                    "remaining" | "r" => {
                        parsed.remaining = parsed
                            .remaining
                            .or(value.and_then(|n| u32::try_from(n).ok()))
                    }
                    "reset" | "t" => parsed.reset = parsed.reset.or(value.map(Duration::from_secs)),
                    _ => {}
                }
            }
        }
        parsed
    }
}

/// Reads `RateLimit-Policy`: a list of policies, each a limit then parameters, as in draft
/// 7 (`10;w=1, 50;w=60`) or as later drafts name them (`"sync";q=50;w=6`). A policy
/// without both a limit and a window (in seconds, up to a day) is skipped.
pub fn parse_policies(value: &str) -> Vec<Policy> {
    let mut policies = Vec::new();
    for item in value.split(',').take(MAX_POLICIES) {
        let mut members = item.split(';');
        let mut limit = members
            .next()
            .and_then(|first| first.trim().parse::<u32>().ok());
        let mut window = None;
        for param in members {
            let Some((key, value)) = param.split_once('=') else {
                continue;
            };
            let value = value.trim().trim_matches('"');
            match key.trim().to_ascii_lowercase().as_str() {
                "q" => limit = limit.or(value.parse().ok()),
                "w" => {
                    window = value
                        .parse::<f64>()
                        .ok()
                        .and_then(|s| Duration::try_from_secs_f64(s).ok())
                        .filter(|w| !w.is_zero() && *w <= MAX_POLICY_WINDOW)
                }
                _ => {}
            }
        }
        if let (Some(limit), Some(window)) = (limit, window) {
            policies.push(Policy { limit, window });
        }
    }
    policies
}

/// The longest pause a server's headers can order (`Retry-After`, `RateLimit-Reset`): a
/// larger value is capped rather than overflowing the clock.
const MAX_WAIT: Duration = crate::retry::MAX_RETRY_AFTER;

/// The pace the limiter keeps: `rate` requests per `window`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Pace {
    /// Requests per window.
    pub rate: u32,
    /// The server's window length.
    pub window: Duration,
}

impl Pace {
    /// The safety margin added to the window: half a percent plus 25 ms, for the distance
    /// between when we send and when the server counts (network and scheduling jitter).
    pub fn margin(&self) -> Duration {
        self.window / 200 + Duration::from_millis(25)
    }

    /// The window our send log keeps: the window and its margin.
    pub fn horizon(&self) -> Duration {
        self.window + self.margin()
    }

    /// The time between two requests.
    pub fn period(&self) -> Duration {
        self.horizon() / self.rate.max(1)
    }
}

/// Counters of what the pacer did, for the summary.
#[derive(Debug, Default)]
pub struct PaceStats {
    /// Requests that passed the gates.
    pub sent: AtomicU64,
    /// Pauses ordered by `Retry-After` or an exhausted shared budget.
    pub pauses: AtomicU64,
    /// Answers that showed another client spending the key's budget.
    pub shared_budget: AtomicU64,
}

/// Where an adopted policy came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum PolicySource {
    /// The server's `RateLimit-Policy` header said so.
    #[serde(rename = "RateLimit-Policy")]
    Advertised,
    /// `RateLimit-Limit`, with the longest `RateLimit-Reset` seen as the window.
    #[serde(rename = "RateLimit-Limit and RateLimit-Reset")]
    Revealed,
}

/// One rate policy as the summary shows it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PolicyReport {
    /// Requests allowed per window.
    pub limit: u32,
    /// The window, in seconds.
    pub window_secs: f64,
    /// Where it came from (absent for the configured policy).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source: Option<PolicySource>,
}

/// The rate policies the run kept, for the summary: `--rate`/`--rate-window`, and each
/// stricter policy the server advertised, adopted on top of it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RatePolicy {
    /// `--rate` per `--rate-window`.
    pub configured: PolicyReport,
    /// The server's policies that were stricter, in the order they were adopted.
    pub adopted: Vec<PolicyReport>,
}

/// A limit the send log enforces.
#[derive(Debug, Clone, Copy)]
struct Limit {
    pace: Pace,
    /// `None` for the configured limit.
    source: Option<PolicySource>,
}

/// At most this many server policies are adopted (a server listing more is not believed).
const MAX_ADOPTED: usize = 4;

/// Paces requests to one key's sync budget; shared by every upload task.
#[derive(Debug)]
pub struct Pacer {
    configured: Pace,
    /// Whether the first policy adopted goes unsaid (`--quiet`).
    quiet: bool,
    gate: Mutex<Gate>,
    /// What happened, for the summary.
    pub stats: PaceStats,
}

#[derive(Debug)]
struct Gate {
    /// The limits in force: the configured one first, then the server's adopted ones.
    limits: Vec<Limit>,
    /// GCRA: when the next request is due at the configured period (it may leave up to one
    /// period earlier: the burst of 2).
    due: Option<Instant>,
    /// No request leaves before this (a `Retry-After`, or a shared budget exhausted).
    not_before: Option<Instant>,
    /// Extra spacing while another client shares the key, and until when it holds.
    spacing: Option<(Duration, Instant)>,
    /// When the last request left.
    last_sent: Option<Instant>,
    /// Our own sends within the longest window kept (and a little more).
    recent: VecDeque<Instant>,
    /// For each `RateLimit-Limit` seen, the longest `RateLimit-Reset` that came with it.
    revealed: Vec<(u32, Duration)>,
}

impl Pacer {
    /// A pacer for `pace`.
    pub fn new(pace: Pace) -> Pacer {
        Pacer {
            configured: pace,
            quiet: false,
            gate: Mutex::new(Gate {
                limits: vec![Limit { pace, source: None }],
                due: None,
                not_before: None,
                spacing: None,
                last_sent: None,
                recent: VecDeque::new(),
                revealed: Vec::new(),
            }),
            stats: PaceStats::default(),
        }
    }

    /// With `quiet`, the warning that a server policy was adopted is not written (the
    /// summary still records it).
    pub fn quiet(mut self, quiet: bool) -> Pacer {
        self.quiet = quiet;
        self
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Gate> {
        self.gate.lock().expect("pacer lock")
    }

    /// The pace kept on average: the configured one, or the slowest server policy adopted.
    pub fn pace(&self) -> Pace {
        self.lock().slowest()
    }

    /// The configured policy and the server's policies adopted so far.
    pub fn policy(&self) -> RatePolicy {
        let report = |limit: &Limit| PolicyReport {
            limit: limit.pace.rate,
            window_secs: limit.pace.window.as_secs_f64(),
            source: limit.source,
        };
        let gate = self.lock();
        RatePolicy {
            configured: report(&gate.limits[0]),
            adopted: gate.limits[1..].iter().map(report).collect(),
        }
    }

    /// Waits until a request may leave, counts it as sent, and returns when it left (what
    /// [`Pacer::observe`] needs with the answer).
    pub async fn acquire(&self) -> Instant {
        loop {
            let wait = {
                let mut gate = self.lock();
                let now = Instant::now();
                match self.wait_in(&mut gate, now) {
                    Some(wait) => wait,
                    None => {
                        let period = self.configured.period();
                        gate.due = Some(gate.due.map_or(now, |due| due.max(now)) + period);
                        gate.last_sent = Some(now);
                        gate.recent.push_back(now);
                        self.stats.sent.fetch_add(1, Ordering::Relaxed);
                        return now;
                    }
                }
            };
            tokio::time::sleep(wait).await;
        }
    }

    /// How long until a request may leave by every gate; `None` when it may leave now.
    fn wait_in(&self, gate: &mut Gate, now: Instant) -> Option<Duration> {
        // The log reaches back two windows: an answer describes the server's window as it
        // was when its request arrived, up to a window ago (see `observe`).
        let keep = gate
            .limits
            .iter()
            .map(|l| l.pace.horizon() + l.pace.window)
            .max()
            .unwrap_or_default();
        while gate
            .recent
            .front()
            .is_some_and(|t| now.duration_since(*t) >= keep)
        {
            gate.recent.pop_front();
        }
        let mut until = gate_until(gate, now);
        let mut later = |t: Instant| {
            if t > now && until.is_none_or(|u| u < t) {
                until = Some(t);
            }
        };
        if let Some(due) = gate.due
            && let Some(earliest) = due.checked_sub(self.configured.period())
        {
            later(earliest);
        }
        for limit in &gate.limits {
            let horizon = limit.pace.horizon();
            let rate = limit.pace.rate.max(1) as usize;
            let older = gate
                .recent
                .partition_point(|t| now.duration_since(*t) >= horizon);
            if gate.recent.len() - older >= rate {
                later(gate.recent[gate.recent.len() - rate] + horizon);
            }
        }
        until.map(|t| t - now)
    }

    /// Pauses every request for `wait` (a `Retry-After`).
    pub fn pause(&self, wait: Duration) {
        let until = Instant::now() + wait.min(MAX_WAIT);
        let mut gate = self.lock();
        if gate.not_before.is_none_or(|t| t < until) {
            gate.not_before = Some(until);
            self.stats.pauses.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Takes the server's view of the budget into account: `headers` came with the answer
    /// to the request that left at `sent_at`.
    ///
    /// First, a policy the server states (or reveals) that is stricter than the limits in
    /// force is adopted. Then the server's count of the key's requests is compared with our
    /// sends in the window before `sent_at`, not before now: the server counted them when
    /// that request arrived, and with a second of latency a dozen of our requests have left
    /// the window by the time the answer is read; counting from now would take them for
    /// someone else's. An answer that took longer than a window describes a window long
    /// gone, and is ignored.
    pub fn observe(&self, headers: &RateHeaders, sent_at: Instant) {
        let now = Instant::now();
        let mut gate = self.lock();
        self.learn(&mut gate, headers);
        // The server's window for the limit it reports: an adopted policy's, or ours.
        let pace = gate
            .limits
            .iter()
            .rev()
            .find(|l| Some(l.pace.rate) == headers.limit)
            .map_or(self.configured, |l| l.pace);
        if now.saturating_duration_since(sent_at) > pace.window {
            return;
        }
        let ours = gate
            .recent
            .iter()
            .filter(|t| **t <= sent_at && sent_at.duration_since(**t) <= pace.window)
            .count() as u32;
        let Some(advice) = shared_budget_advice(headers, ours, pace) else {
            return;
        };
        self.stats.shared_budget.fetch_add(1, Ordering::Relaxed);
        gate.spacing = Some((advice.spacing, now + pace.window));
        if let Some(wait) = advice.wait {
            let until = now + wait.min(MAX_WAIT);
            if gate.not_before.is_none_or(|t| t < until) {
                gate.not_before = Some(until);
                self.stats.pauses.fetch_add(1, Ordering::Relaxed);
            }
        }
    }

    /// Adopts each policy in `headers` that the limits in force would let us exceed.
    fn learn(&self, gate: &mut Gate, headers: &RateHeaders) {
        let mut candidates: Vec<(Policy, PolicySource)> = headers
            .policies
            .iter()
            .map(|p| (*p, PolicySource::Advertised))
            .collect();
        if candidates.is_empty()
            && let (Some(limit), Some(reset)) = (headers.limit, headers.reset)
            && !reset.is_zero()
            && reset <= MAX_REVEALING_RESET
        {
            // A reset is at most the window (the time until the oldest request counted, or
            // the window's end, passes): the longest one seen is our estimate.
            let window = match gate.revealed.iter().position(|(l, _)| *l == limit) {
                Some(i) => {
                    let longest = &mut gate.revealed[i].1;
                    *longest = (*longest).max(reset);
                    *longest
                }
                None if gate.revealed.len() < MAX_POLICIES => {
                    gate.revealed.push((limit, reset));
                    reset
                }
                None => return,
            };
            candidates.push((Policy { limit, window }, PolicySource::Revealed));
        }
        for (policy, source) in candidates {
            if policy.limit == 0 || gate.limits.len() > MAX_ADOPTED {
                continue;
            }
            let pace = Pace {
                rate: policy.limit,
                window: policy.window,
            };
            if self.allowed_within(gate, pace.horizon()) <= u64::from(policy.limit) {
                continue;
            }
            let first = gate.limits.len() == 1;
            // A revealed window that grew replaces the earlier estimate for its limit.
            gate.limits.retain(|l| {
                !(l.source == Some(PolicySource::Revealed) && l.pace.rate == policy.limit)
            });
            gate.limits.push(Limit {
                pace,
                source: Some(source),
            });
            let message = AdoptedMessage {
                pace,
                source,
                configured: self.configured,
            };
            if first {
                if !self.quiet {
                    message.event().emit();
                }
            } else {
                tracing::info!("{message}");
            }
        }
    }

    /// The most requests the limits in force let leave within any span of `span`.
    fn allowed_within(&self, gate: &Gate, span: Duration) -> u64 {
        let period = self.configured.period().max(Duration::from_nanos(1));
        // The limiter: one at once, one more early (the burst), then one per period.
        let by_limiter = 2 + (span.as_nanos() / period.as_nanos()) as u64;
        gate.limits
            .iter()
            .map(|l| {
                let horizon = l.pace.horizon().as_nanos().max(1);
                u64::from(l.pace.rate) * span.as_nanos().div_ceil(horizon) as u64
            })
            .fold(by_limiter, u64::min)
    }
}

impl Gate {
    /// The limit with the lowest average rate.
    fn slowest(&self) -> Pace {
        self.limits
            .iter()
            .map(|l| l.pace)
            .max_by_key(|p| p.period())
            .expect("the configured limit is always there")
    }
}

/// The warning (once) or note (later) that a server policy was adopted.
struct AdoptedMessage {
    pace: Pace,
    source: PolicySource,
    configured: Pace,
}

impl AdoptedMessage {
    /// The warning as an event of kind `rate_policy`, with the policy adopted (`limit`,
    /// `window_secs`, `source`: the header it came from) and the `configured` one.
    fn event(&self) -> Event {
        Event::warn("rate_policy", format!("nl-import: {self}"))
            .with("limit", self.pace.rate)
            .with("window_secs", self.pace.window.as_secs_f64())
            .with("source", self.source)
            .with(
                "configured",
                PolicyReport {
                    limit: self.configured.rate,
                    window_secs: self.configured.window.as_secs_f64(),
                    source: None,
                },
            )
    }
}

impl fmt::Display for AdoptedMessage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let how = match self.source {
            PolicySource::Advertised => "advertises (RateLimit-Policy)",
            PolicySource::Revealed => "reveals (RateLimit-Limit and RateLimit-Reset)",
        };
        write!(
            f,
            "the server {how} a rate policy of {} requests per {}, stricter than --rate {} per --rate-window {}: no more than {} requests will leave in any {}",
            self.pace.rate,
            secs(self.pace.window),
            self.configured.rate,
            secs(self.configured.window),
            self.pace.rate,
            secs(self.pace.window),
        )
    }
}

fn secs(d: Duration) -> String {
    let s = d.as_secs_f64();
    if s.fract() == 0.0 {
        format!("{s:.0} s")
    } else {
        format!("{s:.3} s")
    }
}

/// When the answers' gate lets the next request leave: after a pause, and a spacing from
/// the last request while another client shares the key.
fn gate_until(gate: &Gate, now: Instant) -> Option<Instant> {
    let mut until = gate.not_before.filter(|t| *t > now);
    if let (Some((spacing, valid_until)), Some(last)) = (gate.spacing, gate.last_sent)
        && valid_until > now
    {
        let next = last + spacing;
        if next > now && until.is_none_or(|u| u < next) {
            until = Some(next);
        }
    }
    until
}

/// How to slow down when another client spends the same key's budget.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SharedAdvice {
    /// Minimum time between our requests while the sharing lasts.
    pub spacing: Duration,
    /// Wait this long before any request (the budget is gone until the reset).
    pub wait: Option<Duration>,
}

/// Compares the server's count of the key's requests in its window with `ours` (our sends
/// in the last window). When others account for more than a little of it, returns the
/// spacing that fits our requests into the budget left to us, and a wait when none is left.
/// `None` when the budget is ours alone (the limiter alone paces us then).
pub fn shared_budget_advice(headers: &RateHeaders, ours: u32, pace: Pace) -> Option<SharedAdvice> {
    let (limit, remaining) = (headers.limit?, headers.remaining?);
    let used = limit.saturating_sub(remaining);
    // Requests of ours the server has not counted yet (in flight) make `ours` larger, and
    // requests it still counts that left our window a moment ago make it smaller: allow for
    // both before blaming someone else.
    let tolerance = 2 + limit / 20;
    let others = used.saturating_sub(ours);
    if others <= tolerance {
        return None;
    }
    // Leave the other client its share, and one request of slack for the edges.
    let ours_allowed = limit.saturating_sub(others + 1).max(1);
    let spacing = pace.horizon() / ours_allowed;
    let wait = (remaining == 0).then(|| {
        headers
            .reset
            .unwrap_or(pace.window)
            .max(Duration::from_millis(100))
    });
    Some(SharedAdvice { spacing, wait })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers<'a>(pairs: &'a [(&'a str, &'a str)]) -> impl Fn(&str) -> Option<&'a str> {
        move |name| pairs.iter().find(|(n, _)| *n == name).map(|(_, v)| *v)
    }

    fn pace(rate: u32, window_ms: u64) -> Pace {
        Pace {
            rate,
            window: Duration::from_millis(window_ms),
        }
    }

    /// The most of `sent` (in time order) that fall within any span shorter than `span`.
    fn most_within(sent: &[Instant], span: Duration) -> usize {
        (0..sent.len())
            .map(|i| {
                sent[i..]
                    .iter()
                    .take_while(|t| t.duration_since(sent[i]) < span)
                    .count()
            })
            .max()
            .unwrap_or(0)
    }

    #[test]
    fn parses_draft6_separate_headers() {
        let h = RateHeaders::parse(headers(&[
            ("ratelimit-limit", "50"),
            ("ratelimit-remaining", "12"),
            ("ratelimit-reset", "7"),
        ]));
        assert_eq!(
            h,
            RateHeaders {
                limit: Some(50),
                remaining: Some(12),
                reset: Some(Duration::from_secs(7)),
                policies: vec![],
            }
        );
    }

    #[test]
    fn parses_draft7_combined_header() {
        let cases = [
            ("limit=50, remaining=12, reset=7", (50, 12, 7)),
            ("limit=50,remaining=0,reset=60", (50, 0, 60)),
            ("remaining=3; limit=10; reset=1", (10, 3, 1)),
            // The later draft's short keys.
            ("\"default\";r=4;t=9;l=20", (20, 4, 9)),
        ];
        for (value, (limit, remaining, reset)) in cases {
            let h = RateHeaders::parse(headers(&[("ratelimit", value)]));
            assert_eq!(h.limit, Some(limit), "{value}");
            assert_eq!(h.remaining, Some(remaining), "{value}");
            assert_eq!(h.reset, Some(Duration::from_secs(reset)), "{value}");
        }
    }

    #[test]
    fn parses_rate_limit_policies() {
        let p = |limit, secs: f64| Policy {
            limit,
            window: Duration::from_secs_f64(secs),
        };
        let cases = [
            ("50;w=6", vec![p(50, 6.0)]),
            ("10;w=1, 50;w=60", vec![p(10, 1.0), p(50, 60.0)]),
            (
                " 100 ; w=60 ; burst=1000 ; comment=\"fixed window\"",
                vec![p(100, 60.0)],
            ),
            // Later drafts: a name, then the quota as `q`.
            ("\"sync\";q=50;w=6", vec![p(50, 6.0)]),
            ("5;w=0.5", vec![p(5, 0.5)]),
            // Not policies: no window, no limit, a window of zero or beyond a day.
            ("50", vec![]),
            ("w=6", vec![]),
            ("50;w=0, 50;w=999999, 50;w=x, many;w=6", vec![]),
        ];
        for (value, want) in cases {
            assert_eq!(parse_policies(value), want, "{value}");
            let h = RateHeaders::parse(headers(&[("ratelimit-policy", value)]));
            assert_eq!(h.policies, parse_policies(value));
        }
    }

    #[test]
    fn missing_or_garbled_headers_are_absent() {
        assert_eq!(RateHeaders::parse(headers(&[])), RateHeaders::default());
        let h = RateHeaders::parse(headers(&[
            ("ratelimit-limit", "many"),
            ("ratelimit-remaining", "-1"),
            ("ratelimit", "nonsense"),
            ("ratelimit-policy", ";;,=,"),
        ]));
        assert_eq!(h, RateHeaders::default());
    }

    #[test]
    fn period_leaves_a_margin_so_a_window_never_holds_more_than_rate() {
        let p = pace(50, 60_000);
        assert_eq!(p.margin(), Duration::from_millis(325));
        assert!(p.period() * 50 > p.window);
        // ...while wasting less than one percent of the quota.
        assert!(p.period() * 50 < p.window.mul_f64(1.01));
        let scaled = pace(20, 2000);
        assert!(scaled.period() * 20 > scaled.window);
        assert!(scaled.period() * 20 < scaled.window.mul_f64(1.035));
    }

    #[test]
    fn our_own_use_of_the_budget_does_not_slow_us() {
        let p = pace(50, 60_000);
        let h = RateHeaders {
            limit: Some(50),
            remaining: Some(0),
            reset: Some(Duration::from_secs(1)),
            policies: vec![],
        };
        assert_eq!(shared_budget_advice(&h, 50, p), None);
        // A few more counted than we sent is window-edge noise.
        assert_eq!(shared_budget_advice(&h, 46, p), None);
        assert_eq!(shared_budget_advice(&RateHeaders::default(), 0, p), None);
    }

    #[test]
    fn another_client_on_the_key_slows_us_to_what_is_left() {
        let p = pace(50, 60_000);
        // The server counts 30 requests; 5 were ours: 25 are someone else's.
        let h = RateHeaders {
            limit: Some(50),
            remaining: Some(20),
            reset: Some(Duration::from_secs(4)),
            policies: vec![],
        };
        let advice = shared_budget_advice(&h, 5, p).expect("sharing detected");
        assert_eq!(advice.spacing, p.horizon() / 24);
        assert_eq!(advice.wait, None);
        // Nothing left: wait for the reset.
        let h = RateHeaders {
            remaining: Some(0),
            ..h
        };
        let advice = shared_budget_advice(&h, 10, p).expect("sharing detected");
        assert_eq!(advice.wait, Some(Duration::from_secs(4)));
    }

    #[tokio::test(start_paused = true)]
    async fn a_pause_holds_every_request_back() {
        let pacer = Pacer::new(pace(1000, 1000));
        pacer.acquire().await;
        pacer.pause(Duration::from_millis(150));
        let start = Instant::now();
        let left = pacer.acquire().await;
        // On paused time the wait is exact (up to the timer's millisecond).
        let waited = left - start;
        assert!(
            waited >= Duration::from_millis(150) && waited <= Duration::from_millis(151),
            "{waited:?}"
        );
        assert_eq!(pacer.stats.sent.load(Ordering::Relaxed), 2);
        assert_eq!(pacer.stats.pauses.load(Ordering::Relaxed), 1);
    }

    #[test]
    fn absurd_pauses_from_a_server_are_capped_not_an_overflow() {
        let pacer = Pacer::new(pace(50, 60_000));
        pacer.pause(Duration::MAX);
        // Another client spent the whole budget and says the reset is in 2^64 seconds.
        pacer.observe(
            &RateHeaders {
                limit: Some(50),
                remaining: Some(0),
                reset: Some(Duration::from_secs(u64::MAX)),
                policies: vec![],
            },
            Instant::now(),
        );
        let now = Instant::now();
        let wait = pacer.wait_in(&mut pacer.lock(), now).expect("paused");
        assert!(wait <= MAX_WAIT, "{wait:?}");
    }

    #[tokio::test(start_paused = true)]
    async fn requests_are_spaced_by_the_period() {
        let p = pace(10, 500);
        let pacer = Pacer::new(p);
        let mut sent = Vec::new();
        for _ in 0..6 {
            sent.push(pacer.acquire().await);
        }
        // The first two leave at once (the burst that absorbs lateness), each later one a
        // period after the one before it: on schedule, without drift (the timer rounds
        // each wake-up to the millisecond, never earlier).
        assert_eq!(sent[1], sent[0]);
        for (k, at) in sent.iter().enumerate().skip(1) {
            let due = p.period() * (k as u32 - 1);
            let late = *at - sent[0] - due;
            assert!(
                late <= Duration::from_millis(1),
                "request {k}: {late:?} late"
            );
        }
    }

    #[tokio::test(start_paused = true)]
    async fn no_window_ever_holds_more_than_the_rate() {
        let p = pace(5, 300);
        let pacer = Pacer::new(p);
        let mut sent = Vec::new();
        for i in 0..40 {
            sent.push(pacer.acquire().await);
            // Now and then a sender is held up, so that the burst comes into play.
            if i % 7 == 3 {
                tokio::time::sleep(p.period() * 3 / 2).await;
            }
        }
        assert_eq!(most_within(&sent, p.horizon()), 5);
    }

    /// Sends `n` requests from 4 tasks; with `stall`, the sender of the 5th holds its thread
    /// for 150 ms (one and a half periods) after it left, past the time the 6th was due.
    /// Returns when each left, in order.
    async fn four_senders(p: Pace, n: usize, stall: bool) -> Vec<Instant> {
        let pacer = std::sync::Arc::new(Pacer::new(p));
        let sent = std::sync::Arc::new(Mutex::new(Vec::new()));
        let tasks: Vec<_> = (0..4)
            .map(|_| {
                let (pacer, sent) = (pacer.clone(), sent.clone());
                tokio::spawn(async move {
                    loop {
                        let at = pacer.acquire().await;
                        let count = {
                            let mut sent = sent.lock().unwrap();
                            if sent.len() == n {
                                return;
                            }
                            sent.push(at);
                            sent.len()
                        };
                        if stall && count == 5 {
                            // A busy thread: the clock jumps while nothing else runs, so
                            // the requests after this one are asked for late.
                            // (Whole milliseconds: the timer wheel's unit, so that its
                            // rounding does not blur the comparison.)
                            tokio::time::advance(Duration::from_millis(150)).await;
                        }
                    }
                })
            })
            .collect();
        for task in tasks {
            task.await.unwrap();
        }
        let mut sent = sent.lock().unwrap().clone();
        sent.sort();
        sent
    }

    #[tokio::test(start_paused = true)]
    async fn a_request_that_left_late_costs_no_slot_a_window_later() {
        // Found by the quota benchmark: a request that left late must not make a later one
        // wait longer than the pace asks, a window later or ever (a slot lost per window).
        let p = pace(10, 1000);
        let smooth = four_senders(p, 25, false).await;
        let stalled = four_senders(p, 25, true).await;
        for sent in [&smooth, &stalled] {
            assert_eq!(sent.len(), 25);
            assert!(most_within(sent, p.horizon()) <= 10);
        }
        // The stall costs nothing at the end: the 25th request leaves when it would have.
        let (a, b) = (smooth[24] - smooth[0], stalled[24] - stalled[0]);
        assert!(b <= a + Duration::from_millis(1), "{a:?} then {b:?}");
    }

    #[tokio::test(start_paused = true)]
    async fn a_slow_answer_is_not_taken_for_another_client() {
        // Found by the quota benchmark at 1-2 s of latency: the server's count, made when
        // the request arrived, was compared with our sends in the window before the answer
        // came back, which had lost our earliest requests; the pacer paused for nothing.
        let pacer = Pacer::new(pace(10, 500));
        let mut last = Instant::now();
        for _ in 0..10 {
            last = pacer.acquire().await;
        }
        // The server counted all ten when the last arrived; its answer comes 450 ms later.
        tokio::time::sleep(Duration::from_millis(450)).await;
        let full = RateHeaders {
            limit: Some(10),
            remaining: Some(0),
            reset: Some(Duration::from_millis(500)),
            policies: vec![],
        };
        pacer.observe(&full, last);
        assert_eq!(pacer.stats.shared_budget.load(Ordering::Relaxed), 0);
        assert_eq!(pacer.stats.pauses.load(Ordering::Relaxed), 0);
        // Someone else's requests still show: one of ours counted as ten.
        let mine = pacer.acquire().await;
        pacer.observe(&full, mine);
        assert_eq!(pacer.stats.shared_budget.load(Ordering::Relaxed), 1);
        assert_eq!(pacer.stats.pauses.load(Ordering::Relaxed), 1);
    }

    fn advertised(limit: u32, window_ms: u64) -> RateHeaders {
        RateHeaders {
            limit: Some(limit),
            remaining: Some(limit - 1),
            reset: Some(Duration::from_millis(window_ms).max(Duration::from_secs(1))),
            policies: vec![Policy {
                limit,
                window: Duration::from_millis(window_ms),
            }],
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_stricter_advertised_policy_is_adopted_and_kept() {
        // The field report, scaled down: --rate 500 per 60 s against 50 per 6 s.
        let configured = pace(500, 60_000);
        let pacer = Pacer::new(configured).quiet(true);
        let first = pacer.acquire().await;
        pacer.observe(&advertised(50, 6000), first);
        let policy = pacer.policy();
        assert_eq!(policy.configured.limit, 500);
        assert_eq!(policy.configured.window_secs, 60.0);
        assert_eq!(
            policy.adopted,
            vec![PolicyReport {
                limit: 50,
                window_secs: 6.0,
                source: Some(PolicySource::Advertised)
            }]
        );
        // Said again, it is not adopted twice.
        pacer.observe(&advertised(50, 6000), first);
        assert_eq!(pacer.policy().adopted.len(), 1);
        let mut sent = vec![first];
        for _ in 0..160 {
            sent.push(pacer.acquire().await);
        }
        // No span of the server's window (and its margin) ever holds more than 50, and the
        // pace stays at the quota: 160 more requests in about 3.2 windows.
        let server = pace(50, 6000);
        assert_eq!(most_within(&sent, server.horizon()), 50);
        let span = sent[160] - sent[0];
        assert!(span <= server.horizon() * 4, "{span:?}");
        assert_eq!(pacer.pace(), server);
    }

    #[test]
    fn a_policy_no_stricter_than_ours_changes_nothing() {
        let cases = [
            // The same policy.
            (pace(50, 60_000), advertised(50, 60_000)),
            // A looser one, however it is cut.
            (pace(50, 60_000), advertised(100, 60_000)),
            (pace(50, 60_000), advertised(20, 1000)),
            (pace(20, 2000), advertised(20, 2000)),
        ];
        for (configured, h) in cases {
            let pacer = Pacer::new(configured);
            pacer.observe(&h, Instant::now());
            assert_eq!(pacer.policy().adopted, vec![], "{configured:?} {h:?}");
            assert_eq!(pacer.pace(), configured);
        }
    }

    #[test]
    fn resets_reveal_the_window_of_a_stated_limit() {
        let pacer = Pacer::new(pace(150, 10_000)).quiet(true);
        let draft6 = |remaining, reset_secs| RateHeaders {
            limit: Some(10),
            remaining: Some(remaining),
            reset: Some(Duration::from_secs(reset_secs)),
            policies: vec![],
        };
        // 10 per 1 s is no stricter than 150 per 10 s? It is: 15 a second could leave.
        pacer.observe(&draft6(9, 1), Instant::now());
        let adopted = pacer.policy().adopted;
        assert_eq!(adopted.len(), 1);
        assert_eq!((adopted[0].limit, adopted[0].window_secs), (10, 1.0));
        assert_eq!(adopted[0].source, Some(PolicySource::Revealed));
        // A longer reset shows the window is longer: the estimate grows, replacing itself.
        pacer.observe(&draft6(3, 2), Instant::now());
        let adopted = pacer.policy().adopted;
        assert_eq!(adopted.len(), 1);
        assert_eq!((adopted[0].limit, adopted[0].window_secs), (10, 2.0));
        // Shorter resets later change nothing; an epoch timestamp is not a window.
        pacer.observe(&draft6(3, 1), Instant::now());
        pacer.observe(&draft6(3, 1_700_000_000), Instant::now());
        assert_eq!(pacer.policy().adopted, adopted);
        // A reset that keeps within what we allow ourselves reveals nothing stricter.
        let loose = Pacer::new(pace(10, 60_000));
        loose.observe(&draft6(5, 30), Instant::now());
        assert_eq!(loose.policy().adopted, vec![]);
    }

    #[test]
    fn the_adoption_is_said_as_a_rate_policy_event_with_its_figures() {
        let message = AdoptedMessage {
            pace: pace(50, 6000),
            source: PolicySource::Revealed,
            configured: pace(500, 60_000),
        };
        let event = message.event();
        let line: serde_json::Value = serde_json::from_str(&event.json_line()).unwrap();
        assert_eq!(line["level"], "WARN");
        assert_eq!(line["event"], "rate_policy");
        assert_eq!(
            line["message"],
            "the server reveals (RateLimit-Limit and RateLimit-Reset) a rate policy of 50 \
             requests per 6 s, stricter than --rate 500 per --rate-window 60 s: no more than \
             50 requests will leave in any 6 s"
        );
        assert_eq!(line["limit"], 50);
        assert_eq!(line["window_secs"], 6.0);
        assert_eq!(line["source"], "RateLimit-Limit and RateLimit-Reset");
        assert_eq!(
            line["configured"],
            serde_json::json!({"limit": 500, "window_secs": 60.0})
        );
        assert!(event.message().starts_with("nl-import: the server reveals"));
    }

    #[test]
    fn the_policy_report_is_plain_json() {
        let pacer = Pacer::new(pace(500, 60_000)).quiet(true);
        pacer.observe(&advertised(50, 6000), Instant::now());
        assert_eq!(
            serde_json::to_value(pacer.policy()).unwrap(),
            serde_json::json!({
                "configured": {"limit": 500, "window_secs": 60.0},
                "adopted": [{"limit": 50, "window_secs": 6.0, "source": "RateLimit-Policy"}],
            })
        );
    }
}
