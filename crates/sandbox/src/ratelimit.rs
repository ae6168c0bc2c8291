//! The four rate-limit tiers: exact sliding windows, the order they are checked in, and
//! the `RateLimit` / `Retry-After` headers they produce.
//!
//! A window is the list of the instants of the requests it counted in the last `window`;
//! a request passes when fewer than `limit` remain. Instants are `tokio::time::Instant`,
//! so tests may pause time; the pure functions here take `now` as an argument.

use std::collections::{HashMap, VecDeque};
use std::hash::Hash;
use std::net::IpAddr;
use std::time::Duration;

use axum::http::{HeaderMap, HeaderName, HeaderValue};
use serde::{Deserialize, Serialize};
use tokio::time::Instant;

use crate::config::{HeaderStyle, Limits};
use crate::messages;

/// One rate-limit tier of the docs (§7.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Tier {
    /// Every request, per client IP address.
    Global,
    /// Every authenticated request, per API key.
    ApiKey,
    /// Every authenticated request, per account across its keys.
    Account,
    /// `POST` and `DELETE /api/leads/sync`, per API key.
    Sync,
}

impl Tier {
    /// The tier's documented 429 message (docs §7.3).
    pub fn message(self) -> &'static str {
        match self {
            Tier::Global => messages::RATE_GLOBAL,
            Tier::ApiKey => messages::RATE_API_KEY,
            Tier::Account => messages::RATE_ACCOUNT,
            Tier::Sync => messages::RATE_SYNC,
        }
    }

    fn limit(self, limits: &Limits) -> u32 {
        match self {
            Tier::Global => limits.global_per_ip,
            Tier::ApiKey => limits.per_key,
            Tier::Account => limits.per_account,
            Tier::Sync => limits.sync_per_key,
        }
    }
}

/// An exact sliding window: the instants of the requests counted in the last `window`.
///
/// A request counts at the instant it arrived, taken before it waited for the sandbox's
/// lock, so a request admitted while the store was busy may bring an instant a little
/// earlier than one already counted. The instants are kept in order, and a request at
/// `now` sees every request counted since `now - window`, those admitted before it that
/// arrived after it included: so no window, wherever it starts, ever holds more than the
/// limit. (In arrival order, which is the usual case, that is exactly the sliding window.)
#[derive(Debug, Default, Clone)]
pub(crate) struct SlidingWindow {
    hits: VecDeque<Instant>,
}

impl SlidingWindow {
    /// Forgets the requests that no request arriving from `now` on can see: a request
    /// made at `t` stops counting at `t + window`; another window of them is kept for
    /// requests admitted late.
    fn prune(&mut self, now: Instant, window: Duration) {
        while self.hits.front().is_some_and(|&t| t + window * 2 <= now) {
            self.hits.pop_front();
        }
    }

    /// Where the requests a request at `now` sees begin in `hits`.
    fn first_seen(&self, now: Instant, window: Duration) -> usize {
        self.hits.partition_point(|&t| t + window <= now)
    }

    /// Counts a request at `now` if fewer than `limit` are in the window; says whether
    /// it did. The state afterwards is in [`SlidingWindow::status`].
    pub(crate) fn try_hit(&mut self, now: Instant, window: Duration, limit: u32) -> bool {
        self.prune(now, window);
        let passed = self.hits.len() - self.first_seen(now, window) < limit as usize;
        if passed {
            let at = self.hits.partition_point(|&t| t <= now);
            self.hits.insert(at, now);
        }
        passed
    }

    /// Remaining budget and time until the oldest counted request leaves the window
    /// (zero when the window is empty).
    pub(crate) fn status(&self, now: Instant, window: Duration, limit: u32) -> (u32, Duration) {
        let first = self.first_seen(now, window);
        let used = u32::try_from(self.hits.len() - first).unwrap_or(u32::MAX);
        let reset = self.hits.get(first).map_or(Duration::ZERO, |&t| {
            (t + window).saturating_duration_since(now)
        });
        (limit.saturating_sub(used), reset)
    }

    fn is_empty(&self) -> bool {
        self.hits.is_empty()
    }
}

/// The state of one tier for one request, as the headers report it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct TierStatus {
    pub(crate) tier: Tier,
    pub(crate) limit: u32,
    pub(crate) remaining: u32,
    /// Time until the window frees a slot.
    pub(crate) reset: Duration,
}

impl TierStatus {
    /// `Retry-After` for a refusal by this tier: whole seconds, rounded up, at least 1.
    pub(crate) fn retry_after_secs(&self, window: Duration) -> u64 {
        // With a limit of 0 no slot ever frees; a full window is the honest answer.
        let wait = if self.limit == 0 { window } else { self.reset };
        ceil_secs(wait).max(1)
    }
}

/// Whole seconds, rounded up.
pub(crate) fn ceil_secs(d: Duration) -> u64 {
    d.as_secs() + u64::from(d.subsec_nanos() > 0)
}

/// Identifies a key without holding it: the SHA-256 of the key.
pub(crate) type KeyId = [u8; 32];

/// Every window of every tier.
#[derive(Debug, Default)]
pub(crate) struct RateLimiter {
    global: HashMap<IpAddr, SlidingWindow>,
    api_key: HashMap<KeyId, SlidingWindow>,
    account: HashMap<String, SlidingWindow>,
    sync: HashMap<KeyId, SlidingWindow>,
}

/// What one tier said about one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Check {
    pub(crate) passed: bool,
    pub(crate) status: TierStatus,
}

impl RateLimiter {
    /// Checks the Global tier for `ip`, counting the request if it passes.
    pub(crate) fn check_global(
        &mut self,
        ip: IpAddr,
        now: Instant,
        lim: &Limits,
        w: Duration,
    ) -> Check {
        check(&mut self.global, ip, Tier::Global, now, lim, w)
    }

    /// Checks the API Key tier for `key`, counting the request if it passes.
    pub(crate) fn check_api_key(
        &mut self,
        key: KeyId,
        now: Instant,
        lim: &Limits,
        w: Duration,
    ) -> Check {
        check(&mut self.api_key, key, Tier::ApiKey, now, lim, w)
    }

    /// Checks the Account tier for `account`, counting the request if it passes.
    pub(crate) fn check_account(
        &mut self,
        account: &str,
        now: Instant,
        lim: &Limits,
        w: Duration,
    ) -> Check {
        check(
            &mut self.account,
            account.to_owned(),
            Tier::Account,
            now,
            lim,
            w,
        )
    }

    /// Checks the Sync tier for `key`, counting the request if it passes.
    pub(crate) fn check_sync(
        &mut self,
        key: KeyId,
        now: Instant,
        lim: &Limits,
        w: Duration,
    ) -> Check {
        check(&mut self.sync, key, Tier::Sync, now, lim, w)
    }

    /// Forgets every window.
    pub(crate) fn clear(&mut self) {
        *self = RateLimiter::default();
    }
}

fn check<K: Hash + Eq>(
    map: &mut HashMap<K, SlidingWindow>,
    bucket: K,
    tier: Tier,
    now: Instant,
    limits: &Limits,
    window: Duration,
) -> Check {
    // Buckets whose windows emptied are dropped now and then, so that a long-running
    // sandbox does not keep one per IP or key ever seen.
    if map.len() > 4096 {
        map.retain(|_, w| {
            w.prune(now, window);
            !w.is_empty()
        });
    }
    let limit = tier.limit(limits);
    let w = map.entry(bucket).or_default();
    let passed = w.try_hit(now, window, limit);
    let (remaining, reset) = w.status(now, window, limit);
    Check {
        passed,
        status: TierStatus {
            tier,
            limit,
            remaining,
            reset,
        },
    }
}

/// The tier whose numbers go in the headers: the refusing tier if there is one, otherwise
/// the one with the least remaining budget (ties: the one that frees a slot last).
pub(crate) fn header_tier(checked: &[TierStatus], refused_by: Option<Tier>) -> Option<TierStatus> {
    if let Some(tier) = refused_by
        && let Some(s) = checked.iter().find(|s| s.tier == tier)
    {
        return Some(*s);
    }
    checked
        .iter()
        .min_by(|a, b| a.remaining.cmp(&b.remaining).then(b.reset.cmp(&a.reset)))
        .copied()
}

/// Writes the rate-limit headers for `status` in `style`.
pub(crate) fn write_headers(
    headers: &mut HeaderMap,
    status: &TierStatus,
    style: HeaderStyle,
    window: Duration,
) {
    let reset = ceil_secs(status.reset);
    let mut put = |name: &'static str, value: String| {
        if let Ok(v) = HeaderValue::from_str(&value) {
            headers.insert(HeaderName::from_static(name), v);
        }
    };
    match style {
        HeaderStyle::Draft6 => {
            put("ratelimit-limit", status.limit.to_string());
            put("ratelimit-remaining", status.remaining.to_string());
            put("ratelimit-reset", reset.to_string());
        }
        HeaderStyle::Draft7 => {
            put(
                "ratelimit",
                format!(
                    "limit={}, remaining={}, reset={reset}",
                    status.limit, status.remaining
                ),
            );
            put(
                "ratelimit-policy",
                format!("{};w={}", status.limit, ceil_secs(window).max(1)),
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const W: Duration = Duration::from_secs(1);

    fn ms(t0: Instant, ms: u64) -> Instant {
        t0 + Duration::from_millis(ms)
    }

    #[test]
    fn a_request_admitted_late_counts_when_it_arrived() {
        let t0 = Instant::now();
        let mut w = SlidingWindow::default();
        assert!(w.try_hit(ms(t0, 0), W, 3));
        assert!(w.try_hit(ms(t0, 200), W, 3));
        // Arrived at 100 ms, admitted after the one of 200 ms (it waited for the lock).
        assert!(w.try_hit(ms(t0, 100), W, 3));
        assert_eq!(w.status(ms(t0, 100), W, 3), (0, Duration::from_millis(900)));
        // At 1050 ms the request of 0 has left the window, counted at its arrival; that
        // of 100 leaves at 1100, not a moment later because it was admitted late.
        assert!(w.try_hit(ms(t0, 1050), W, 3));
        assert_eq!(w.status(ms(t0, 1050), W, 3), (0, Duration::from_millis(50)));
        assert!(w.try_hit(ms(t0, 1100), W, 3));
        // One that arrived at 1020 but comes after those: the window from 20 ms holds
        // 100, 200, 1050 and 1100 already; counting it would make the window from 100 ms
        // (100, 200, 1020, 1050, 1100) hold five.
        assert!(!w.try_hit(ms(t0, 1020), W, 3));
        // Two windows later, the old instants are gone.
        assert!(w.try_hit(ms(t0, 3200), W, 3));
        assert_eq!(w.hits.len(), 1);
    }

    #[test]
    fn window_lets_exactly_limit_through_then_frees_slots_one_by_one() {
        let t0 = Instant::now();
        let mut w = SlidingWindow::default();
        // (time in ms, passes?, remaining after, reset in ms)
        let steps = [
            (0, true, 2, 1000),
            (100, true, 1, 900),
            (200, true, 0, 800),
            (300, false, 0, 700),
            (999, false, 0, 1),
            (1000, true, 0, 100), // the request of t=0 left; t=1000 took its slot
            (1050, false, 0, 50),
            (1100, true, 0, 100),
            (2050, true, 1, 50), // 200 and 1000 left; 1100 stays until 2100
        ];
        for (t, passes, remaining, reset) in steps {
            let now = ms(t0, t);
            assert_eq!(w.try_hit(now, W, 3), passes, "pass at {t}ms");
            let (r, d) = w.status(now, W, 3);
            assert_eq!(
                (r, d.as_millis() as u64),
                (remaining, reset),
                "status at {t}ms"
            );
        }
    }

    #[test]
    fn retry_after_rounds_up_and_is_at_least_one() {
        let s = |reset_ms, limit| TierStatus {
            tier: Tier::Sync,
            limit,
            remaining: 0,
            reset: Duration::from_millis(reset_ms),
        };
        let cases = [
            (0, 3, 1),
            (1, 3, 1),
            (999, 3, 1),
            (1000, 3, 1),
            (1001, 3, 2),
            (59_000, 50, 59),
            (0, 0, 60),
        ];
        for (reset_ms, limit, want) in cases {
            assert_eq!(
                s(reset_ms, limit).retry_after_secs(Duration::from_secs(60)),
                want,
                "reset {reset_ms}ms limit {limit}"
            );
        }
    }

    #[test]
    fn a_refusal_does_not_count_in_the_refusing_window() {
        let t0 = Instant::now();
        let limits = Limits {
            global_per_ip: 100,
            per_key: 2,
            ..Limits::default()
        };
        let ip: IpAddr = [127, 0, 0, 1].into();
        let key = [7u8; 32];
        let mut rl = RateLimiter::default();
        for i in 0..5 {
            let now = ms(t0, i);
            assert!(rl.check_global(ip, now, &limits, W).passed);
            let c = rl.check_api_key(key, now, &limits, W);
            assert_eq!(c.passed, i < 2);
        }
        // Global counted all five; the key window still holds only two.
        let g = rl.check_global(ip, ms(t0, 5), &limits, W);
        assert_eq!(g.status.remaining, 100 - 6);
        assert!(rl.check_api_key(key, ms(t0, 1000), &limits, W).passed);
    }

    #[test]
    fn header_tier_prefers_refuser_then_least_remaining_then_longest_reset() {
        let st = |tier, remaining, reset_ms| TierStatus {
            tier,
            limit: 10,
            remaining,
            reset: Duration::from_millis(reset_ms),
        };
        let checked = [
            st(Tier::Global, 5, 100),
            st(Tier::ApiKey, 2, 100),
            st(Tier::Account, 2, 900),
            st(Tier::Sync, 0, 50),
        ];
        assert_eq!(
            header_tier(&checked[..3], None).unwrap().tier,
            Tier::Account
        );
        assert_eq!(header_tier(&checked, None).unwrap().tier, Tier::Sync);
        assert_eq!(
            header_tier(&checked, Some(Tier::Global)).unwrap().tier,
            Tier::Global
        );
        assert_eq!(header_tier(&[], None), None);
    }

    #[test]
    fn headers_in_both_styles() {
        let status = TierStatus {
            tier: Tier::Sync,
            limit: 50,
            remaining: 12,
            reset: Duration::from_millis(6001),
        };
        let mut h = HeaderMap::new();
        write_headers(
            &mut h,
            &status,
            HeaderStyle::Draft6,
            Duration::from_secs(60),
        );
        assert_eq!(h["ratelimit-limit"], "50");
        assert_eq!(h["ratelimit-remaining"], "12");
        assert_eq!(h["ratelimit-reset"], "7");
        assert!(h.get("ratelimit").is_none());

        let mut h = HeaderMap::new();
        write_headers(
            &mut h,
            &status,
            HeaderStyle::Draft7,
            Duration::from_secs(60),
        );
        assert_eq!(h["ratelimit"], "limit=50, remaining=12, reset=7");
        assert_eq!(h["ratelimit-policy"], "50;w=60");
        assert!(h.get("ratelimit-limit").is_none());

        let mut h = HeaderMap::new();
        write_headers(
            &mut h,
            &status,
            HeaderStyle::Draft7,
            Duration::from_millis(500),
        );
        assert_eq!(h["ratelimit-policy"], "50;w=1");
    }

    #[test]
    fn every_tier_has_its_documented_message() {
        let cases = [
            (Tier::Global, "Too many requests, please try again later"),
            (
                Tier::ApiKey,
                "API key rate limit exceeded, please try again later",
            ),
            (
                Tier::Sync,
                "Sync API rate limit exceeded. Maximum 50 batch requests per minute.",
            ),
            (
                Tier::Account,
                "Account rate limit exceeded, please try again later",
            ),
        ];
        for (tier, msg) in cases {
            assert_eq!(tier.message(), msg);
        }
    }
}
