//! Pacing: when the next request may leave, so that the sync tier's sliding window is never
//! exceeded, and how the server's `RateLimit-*` and `Retry-After` headers slow us further.
//!
//! Three gates, all passed before every attempt (first sends and retries alike):
//!
//! - a `governor` GCRA limiter with one cell every `(window + margin) / rate`, which spaces
//!   requests evenly; its burst of 2 only lets a request that left late be followed at once
//!   (so that scheduling delays do not add up to lost quota), never more;
//! - a log of our own sends: no request leaves while `rate` of them left within the last
//!   `window + margin`, so no sliding window of the server's length ever holds more than
//!   `rate`, whatever the latency and whatever the limiter allowed;
//! - a gate fed by the answers: a `Retry-After` pauses every request until it has passed, and
//!   when the server's count of the key's requests exceeds ours (someone else is spending the
//!   same key's budget) we space requests to fit what remains, and wait for the reset when
//!   nothing does.

use std::collections::VecDeque;
use std::num::NonZeroU32;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use tokio::time::Instant;

/// What the server said about its budget in one answer's headers.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RateHeaders {
    /// Requests allowed per window.
    pub limit: Option<u32>,
    /// Requests left in the current window.
    pub remaining: Option<u32>,
    /// Time until the window frees budget again.
    pub reset: Option<Duration>,
}

impl RateHeaders {
    /// Reads the IETF draft-6 separate headers (`RateLimit-Limit`, `-Remaining`, `-Reset`)
    /// or, when those are absent, the draft-7 combined `RateLimit: limit=50, remaining=12,
    /// reset=7`. `header` looks a header up by lower-case name.
    pub fn parse<'a>(header: impl Fn(&str) -> Option<&'a str>) -> RateHeaders {
        let num = |v: Option<&str>| v.and_then(|v| v.trim().parse::<u64>().ok());
        let mut parsed = RateHeaders {
            limit: num(header("ratelimit-limit")).and_then(|n| u32::try_from(n).ok()),
            remaining: num(header("ratelimit-remaining")).and_then(|n| u32::try_from(n).ok()),
            reset: num(header("ratelimit-reset")).map(Duration::from_secs),
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

    /// The time between two requests.
    pub fn period(&self) -> Duration {
        (self.window + self.margin()) / self.rate.max(1)
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
    /// Requests that had a limiter cell but waited over two periods for the other
    /// gates (a pause ordered meanwhile, a send log far behind), and queued for a new one.
    pub requeued: AtomicU64,
}

/// Paces requests to one key's sync budget; shared by every upload task.
#[derive(Debug)]
pub struct Pacer {
    pace: Pace,
    limiter: DefaultDirectRateLimiter,
    gate: Mutex<Gate>,
    /// What happened, for the summary.
    pub stats: PaceStats,
}

#[derive(Debug, Default)]
struct Gate {
    /// No request leaves before this (a `Retry-After`, or a shared budget exhausted).
    not_before: Option<Instant>,
    /// Extra spacing while another client shares the key, and until when it holds.
    spacing: Option<(Duration, Instant)>,
    /// When the last request left.
    last_sent: Option<Instant>,
    /// Our own sends within the last window (and a little more).
    recent: VecDeque<Instant>,
}

impl Pacer {
    /// A pacer for `pace`.
    pub fn new(pace: Pace) -> Pacer {
        let period = pace.period().max(Duration::from_micros(1));
        let quota = Quota::with_period(period)
            .expect("period is positive")
            .allow_burst(NonZeroU32::new(2).expect("2 is not 0"));
        Pacer {
            pace,
            limiter: RateLimiter::direct(quota),
            gate: Mutex::new(Gate::default()),
            stats: PaceStats::default(),
        }
    }

    /// The pace kept.
    pub fn pace(&self) -> Pace {
        self.pace
    }

    /// Waits until a request may leave, counts it as sent, and returns when it left (what
    /// [`Pacer::observe`] needs with the answer).
    pub async fn acquire(&self) -> Instant {
        loop {
            if let Some(wait) = self.gate_wait(Instant::now()) {
                tokio::time::sleep(wait).await;
                continue;
            }
            self.limiter.until_ready().await;
            // The limiter's cell is ours now. The send log may still ask for a moment
            // more: our request `rate` sends ago left late (a timer fires up to a
            // millisecond late, a busy thread later), and the log keeps that lateness
            // while the limiter has caught it up; or it left in the burst, and the log
            // holds us a period. Such a wait, up to two periods, is waited out holding the
            // cell: taking a fresh one would leave a whole period of quota unused. A
            // longer one (a pause ordered while we waited) sends us back to the limiter,
            // so that requests leave it spaced again.
            let held_until = Instant::now() + self.pace.period() * 2;
            loop {
                let (now, wait) = {
                    let mut gate = self.gate.lock().expect("pacer lock");
                    // Read under the lock, so that the send log stays in time order.
                    let now = Instant::now();
                    match self.wait_in(&mut gate, now) {
                        Some(wait) => (now, wait),
                        None => {
                            gate.last_sent = Some(now);
                            gate.recent.push_back(now);
                            self.stats.sent.fetch_add(1, Ordering::Relaxed);
                            return now;
                        }
                    }
                };
                if now + wait > held_until {
                    self.stats.requeued.fetch_add(1, Ordering::Relaxed);
                    break;
                }
                tokio::time::sleep(wait).await;
            }
        }
    }

    fn gate_wait(&self, now: Instant) -> Option<Duration> {
        self.wait_in(&mut self.gate.lock().expect("pacer lock"), now)
    }

    /// How long until a request may leave by the gate and by our own send log.
    fn wait_in(&self, gate: &mut Gate, now: Instant) -> Option<Duration> {
        let horizon = self.pace.window + self.pace.margin();
        // The log reaches back two windows: an answer describes the server's window as it
        // was when its request arrived, up to a window ago (see `observe`).
        let keep = horizon + self.pace.window;
        while gate
            .recent
            .front()
            .is_some_and(|t| now.duration_since(*t) >= keep)
        {
            gate.recent.pop_front();
        }
        let older = gate
            .recent
            .partition_point(|t| now.duration_since(*t) >= horizon);
        let within = gate.recent.len() - older;
        let rate = self.pace.rate.max(1) as usize;
        let log_wait =
            (within >= rate).then(|| gate.recent[gate.recent.len() - rate] + horizon - now);
        match (gate_wait(gate, now), log_wait) {
            (Some(a), Some(b)) => Some(a.max(b)),
            (a, b) => a.or(b),
        }
    }

    /// Pauses every request for `wait` (a `Retry-After`).
    pub fn pause(&self, wait: Duration) {
        let until = Instant::now() + wait.min(MAX_WAIT);
        let mut gate = self.gate.lock().expect("pacer lock");
        if gate.not_before.is_none_or(|t| t < until) {
            gate.not_before = Some(until);
            self.stats.pauses.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Takes the server's view of the budget into account: `headers` came with the answer
    /// to the request that left at `sent_at`.
    ///
    /// The server counted the key's requests when that request arrived, so they are
    /// compared with our sends in the window before `sent_at`, not before now: with a
    /// second of latency, a dozen of our requests have left the window by the time the
    /// answer is read, and counting from now would take them for someone else's. An
    /// answer that took longer than a window describes a window long gone, and is ignored.
    pub fn observe(&self, headers: &RateHeaders, sent_at: Instant) {
        let now = Instant::now();
        if now.saturating_duration_since(sent_at) > self.pace.window {
            return;
        }
        let mut gate = self.gate.lock().expect("pacer lock");
        let ours = gate
            .recent
            .iter()
            .filter(|t| **t <= sent_at && sent_at.duration_since(**t) <= self.pace.window)
            .count() as u32;
        let Some(advice) = shared_budget_advice(headers, ours, self.pace) else {
            return;
        };
        self.stats.shared_budget.fetch_add(1, Ordering::Relaxed);
        gate.spacing = Some((advice.spacing, now + self.pace.window));
        if let Some(wait) = advice.wait {
            let until = now + wait.min(MAX_WAIT);
            if gate.not_before.is_none_or(|t| t < until) {
                gate.not_before = Some(until);
                self.stats.pauses.fetch_add(1, Ordering::Relaxed);
            }
        }
    }
}

fn gate_wait(gate: &Gate, now: Instant) -> Option<Duration> {
    let mut until = gate.not_before.filter(|t| *t > now);
    if let (Some((spacing, valid_until)), Some(last)) = (gate.spacing, gate.last_sent)
        && valid_until > now
    {
        let next = last + spacing;
        if next > now && until.is_none_or(|u| u < next) {
            until = Some(next);
        }
    }
    until.map(|t| t - now)
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
    let spacing = (pace.window + pace.margin()) / ours_allowed;
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
                reset: Some(Duration::from_secs(7))
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
    fn missing_or_garbled_headers_are_absent() {
        assert_eq!(RateHeaders::parse(headers(&[])), RateHeaders::default());
        let h = RateHeaders::parse(headers(&[
            ("ratelimit-limit", "many"),
            ("ratelimit-remaining", "-1"),
            ("ratelimit", "nonsense"),
        ]));
        assert_eq!(h, RateHeaders::default());
    }

    #[test]
    fn period_leaves_a_margin_so_a_window_never_holds_more_than_rate() {
        let pace = Pace {
            rate: 50,
            window: Duration::from_secs(60),
        };
        assert_eq!(pace.margin(), Duration::from_millis(325));
        assert!(pace.period() * 50 > pace.window);
        // ...while wasting less than one percent of the quota.
        assert!(pace.period() * 50 < pace.window.mul_f64(1.01));
        let scaled = Pace {
            rate: 20,
            window: Duration::from_secs(2),
        };
        assert!(scaled.period() * 20 > scaled.window);
        assert!(scaled.period() * 20 < scaled.window.mul_f64(1.035));
    }

    #[test]
    fn our_own_use_of_the_budget_does_not_slow_us() {
        let pace = Pace {
            rate: 50,
            window: Duration::from_secs(60),
        };
        let h = RateHeaders {
            limit: Some(50),
            remaining: Some(0),
            reset: Some(Duration::from_secs(1)),
        };
        assert_eq!(shared_budget_advice(&h, 50, pace), None);
        // A few more counted than we sent is window-edge noise.
        assert_eq!(shared_budget_advice(&h, 46, pace), None);
        assert_eq!(shared_budget_advice(&RateHeaders::default(), 0, pace), None);
    }

    #[test]
    fn another_client_on_the_key_slows_us_to_what_is_left() {
        let pace = Pace {
            rate: 50,
            window: Duration::from_secs(60),
        };
        // The server counts 30 requests; 5 were ours: 25 are someone else's.
        let h = RateHeaders {
            limit: Some(50),
            remaining: Some(20),
            reset: Some(Duration::from_secs(4)),
        };
        let advice = shared_budget_advice(&h, 5, pace).expect("sharing detected");
        assert_eq!(advice.spacing, (pace.window + pace.margin()) / 24);
        assert_eq!(advice.wait, None);
        // Nothing left: wait for the reset.
        let h = RateHeaders {
            remaining: Some(0),
            ..h
        };
        let advice = shared_budget_advice(&h, 10, pace).expect("sharing detected");
        assert_eq!(advice.wait, Some(Duration::from_secs(4)));
    }

    #[tokio::test]
    async fn a_pause_holds_every_request_back() {
        let pacer = Pacer::new(Pace {
            rate: 1000,
            window: Duration::from_secs(1),
        });
        pacer.acquire().await;
        pacer.pause(Duration::from_millis(150));
        let start = Instant::now();
        pacer.acquire().await;
        assert!(start.elapsed() >= Duration::from_millis(140));
        assert_eq!(pacer.stats.sent.load(Ordering::Relaxed), 2);
        assert_eq!(pacer.stats.pauses.load(Ordering::Relaxed), 1);
    }

    #[test]
    fn absurd_pauses_from_a_server_are_capped_not_an_overflow() {
        let pace = Pace {
            rate: 50,
            window: Duration::from_secs(60),
        };
        let pacer = Pacer::new(pace);
        pacer.pause(Duration::MAX);
        // Another client spent the whole budget and says the reset is in 2^64 seconds.
        pacer.observe(
            &RateHeaders {
                limit: Some(50),
                remaining: Some(0),
                reset: Some(Duration::from_secs(u64::MAX)),
            },
            Instant::now(),
        );
        let wait = pacer.gate_wait(Instant::now()).expect("paused");
        assert!(wait <= MAX_WAIT, "{wait:?}");
    }

    #[tokio::test]
    async fn no_window_ever_holds_more_than_the_rate() {
        let pace = Pace {
            rate: 5,
            window: Duration::from_millis(300),
        };
        let pacer = Pacer::new(pace);
        let mut sent = Vec::new();
        for _ in 0..16 {
            pacer.acquire().await;
            sent.push(Instant::now());
        }
        for (i, first) in sent.iter().enumerate() {
            let within = sent[i..]
                .iter()
                .take_while(|t| t.duration_since(*first) < pace.window + pace.margin())
                .count();
            assert!(within <= 5, "{within} sends within one window");
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_request_that_left_late_costs_no_slot_a_window_later() {
        // Found by the quota benchmark: the send log keeps a request's lateness, the
        // limiter catches it up, and `rate` sends later the two disagreed by that lateness;
        // a request already waiting on the limiter then took a second cell from it and a
        // slot went unused, once a window or more.
        let pace = Pace {
            rate: 10,
            window: Duration::from_secs(1),
        };
        let pacer = std::sync::Arc::new(Pacer::new(pace));
        let sent = std::sync::Arc::new(Mutex::new(Vec::new()));
        let tasks: Vec<_> = (0..4)
            .map(|_| {
                let (pacer, sent) = (pacer.clone(), sent.clone());
                tokio::spawn(async move {
                    loop {
                        let at = pacer.acquire().await;
                        let mut sent = sent.lock().unwrap();
                        if sent.len() == 25 {
                            return;
                        }
                        sent.push(at);
                        if sent.len() == 5 {
                            // This request's sender is held up after it left (a busy
                            // thread): the ones after it are asked for late.
                            std::thread::sleep(pace.period() / 3);
                        }
                    }
                })
            })
            .collect();
        for task in tasks {
            task.await.unwrap();
        }
        // Every request used the cell it was given (only a thread stalled for two periods
        // would make one queue again).
        assert_eq!(pacer.stats.requeued.load(Ordering::Relaxed), 0);
        let mut sent = sent.lock().unwrap().clone();
        sent.sort();
        for (i, first) in sent.iter().enumerate() {
            let within = sent[i..]
                .iter()
                .take_while(|t| t.duration_since(*first) < pace.window + pace.margin())
                .count();
            assert!(within <= 10, "{within} sends within one window");
        }
    }

    #[tokio::test]
    async fn a_slow_answer_is_not_taken_for_another_client() {
        // Found by the quota benchmark at 1-2 s of latency: the server's count, made when
        // the request arrived, was compared with our sends in the window before the answer
        // came back, which had lost our earliest requests; the pacer paused for nothing.
        let pace = Pace {
            rate: 10,
            window: Duration::from_millis(500),
        };
        let pacer = Pacer::new(pace);
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

    #[tokio::test]
    async fn requests_are_spaced_by_the_period() {
        let pace = Pace {
            rate: 10,
            window: Duration::from_millis(500),
        };
        let pacer = Pacer::new(pace);
        let start = Instant::now();
        for _ in 0..4 {
            pacer.acquire().await;
        }
        // The first two leave at once (the burst that absorbs lateness), the next two one
        // period apart each.
        let elapsed = start.elapsed();
        assert!(
            elapsed >= pace.period() * 2 - Duration::from_millis(5),
            "{elapsed:?}"
        );
        assert!(
            elapsed < pace.period() * 2 + Duration::from_millis(100),
            "{elapsed:?}"
        );
    }
}
