//! Retry policy: which answers deserve another attempt, and how long to wait before it
//! (capped exponential backoff with full jitter, never shorter than `Retry-After`).

use std::time::{Duration, SystemTime};

use rand::Rng;

/// What to do about a request's answer, by HTTP status alone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StatusAction {
    /// 2xx: read the body.
    Success,
    /// 408, 429 and 5xx: try again later.
    Retry,
    /// 401 and 403: the key cannot do this; stop the run.
    StopAuth,
    /// 404, or a redirect (3xx, never followed: the key goes to `--api-url` only): the URL is
    /// wrong; stop the run.
    StopNotFound,
    /// 409 and 400: the request as a whole was refused; see the body.
    Refused,
    /// Any other 4xx: the request will never succeed as it is.
    Fail,
}

/// Sorts a status into a [`StatusAction`]. Never retried: 400, 401, 403, 404 (the API's
/// documented advice) and every other 4xx except 408 and 429.
pub fn classify_status(status: u16) -> StatusAction {
    match status {
        200..=299 => StatusAction::Success,
        408 | 429 | 500..=599 => StatusAction::Retry,
        401 | 403 => StatusAction::StopAuth,
        300..=399 | 404 => StatusAction::StopNotFound,
        400 | 409 => StatusAction::Refused,
        _ => StatusAction::Fail,
    }
}

/// How many times and how patiently a batch is retried.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Attempts per batch, the first included; then its leads are `gave_up`.
    pub max_attempts: u32,
    /// Backoff before the second attempt (before jitter).
    pub base: Duration,
    /// Longest backoff (before jitter); `Retry-After` may ask for longer and is obeyed.
    pub cap: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            max_attempts: 8,
            base: Duration::from_millis(500),
            cap: Duration::from_secs(60),
        }
    }
}

/// Longest `Retry-After` obeyed; a server asking for more gets this (the run stays
/// resumable if it still fails).
pub const MAX_RETRY_AFTER: Duration = Duration::from_secs(15 * 60);

impl RetryPolicy {
    /// Whether another attempt is allowed after `attempts` attempts.
    pub fn may_retry(&self, attempts: u32) -> bool {
        attempts < self.max_attempts
    }

    /// The exponential ceiling after `failures` failed attempts (1 for the first).
    pub fn ceiling(&self, failures: u32) -> Duration {
        let factor = 1u32
            .checked_shl(failures.saturating_sub(1))
            .unwrap_or(u32::MAX);
        self.base.saturating_mul(factor).min(self.cap)
    }

    /// The wait before the next attempt after `failures` failed attempts: a uniform draw
    /// from zero to the exponential ceiling ("full jitter"), and at least `retry_after` when
    /// the server gave one (plus a little jitter so that parallel requests do not return
    /// in lockstep).
    pub fn delay(
        &self,
        failures: u32,
        retry_after: Option<Duration>,
        rng: &mut impl Rng,
    ) -> Duration {
        let ceiling = self.ceiling(failures);
        let jitter = Duration::from_secs_f64(rng.random::<f64>() * ceiling.as_secs_f64());
        match retry_after {
            Some(wait) => {
                let spread = Duration::from_secs_f64(
                    rng.random::<f64>() * self.base.as_secs_f64().min(ceiling.as_secs_f64()),
                );
                wait.min(MAX_RETRY_AFTER) + spread
            }
            None => jitter,
        }
    }
}

/// Parses a `Retry-After` value: delay seconds, or an HTTP date (relative to `now`).
pub fn parse_retry_after(value: &str, now: SystemTime) -> Option<Duration> {
    let value = value.trim();
    // Whatever the server says, at most MAX_RETRY_AFTER (a later `Instant + wait` must not
    // overflow on `Retry-After: 18446744073709551615` or `1e300`).
    if let Ok(secs) = value.parse::<u64>() {
        return Some(Duration::from_secs(secs).min(MAX_RETRY_AFTER));
    }
    if let Ok(secs) = value.parse::<f64>()
        && secs.is_finite()
        && secs >= 0.0
    {
        return Some(
            Duration::try_from_secs_f64(secs).map_or(MAX_RETRY_AFTER, |d| d.min(MAX_RETRY_AFTER)),
        );
    }
    let at = httpdate::parse_http_date(value).ok()?;
    Some(
        at.duration_since(now)
            .unwrap_or(Duration::ZERO)
            .min(MAX_RETRY_AFTER),
    )
}

#[cfg(test)]
mod tests {
    use rand::SeedableRng;
    use rand::rngs::StdRng;

    use super::*;

    #[test]
    fn statuses() {
        use StatusAction::*;
        let cases = [
            (200, Success),
            (201, Success),
            (207, Success),
            (400, Refused),
            (401, StopAuth),
            (403, StopAuth),
            (404, StopNotFound),
            (301, StopNotFound),
            (307, StopNotFound),
            (308, StopNotFound),
            (408, Retry),
            (409, Refused),
            (413, Fail),
            (422, Fail),
            (429, Retry),
            (500, Retry),
            (502, Retry),
            (503, Retry),
            (504, Retry),
        ];
        for (status, want) in cases {
            assert_eq!(classify_status(status), want, "{status}");
        }
    }

    #[test]
    fn ceiling_doubles_up_to_the_cap() {
        let p = RetryPolicy::default();
        let secs: Vec<f64> = (1..=10).map(|f| p.ceiling(f).as_secs_f64()).collect();
        assert_eq!(
            secs,
            [0.5, 1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 60.0, 60.0, 60.0]
        );
        assert_eq!(p.ceiling(200), p.cap);
    }

    #[test]
    fn delay_is_jittered_within_the_ceiling() {
        let p = RetryPolicy::default();
        let mut rng = StdRng::seed_from_u64(7);
        let draws: Vec<Duration> = (0..200).map(|_| p.delay(4, None, &mut rng)).collect();
        assert!(draws.iter().all(|d| *d <= Duration::from_secs(4)));
        // Full jitter spreads the draws: not all in one half.
        assert!(draws.iter().any(|d| *d < Duration::from_secs(1)));
        assert!(draws.iter().any(|d| *d > Duration::from_secs(3)));
    }

    #[test]
    fn retry_after_is_a_floor() {
        let p = RetryPolicy::default();
        let mut rng = StdRng::seed_from_u64(1);
        for failures in 1..6 {
            let d = p.delay(failures, Some(Duration::from_secs(7)), &mut rng);
            assert!(d >= Duration::from_secs(7), "{d:?}");
            assert!(d <= Duration::from_secs(7) + p.base, "{d:?}");
        }
        let huge = p.delay(1, Some(Duration::from_secs(86_400)), &mut rng);
        assert!(huge <= MAX_RETRY_AFTER + p.base);
    }

    #[test]
    fn attempts_are_bounded() {
        let p = RetryPolicy {
            max_attempts: 3,
            ..RetryPolicy::default()
        };
        assert!(p.may_retry(1));
        assert!(p.may_retry(2));
        assert!(!p.may_retry(3));
    }

    #[test]
    fn retry_after_forms() {
        let now = httpdate::parse_http_date("Wed, 21 Oct 2015 07:28:00 GMT").unwrap();
        assert_eq!(parse_retry_after("12", now), Some(Duration::from_secs(12)));
        assert_eq!(parse_retry_after(" 0 ", now), Some(Duration::ZERO));
        assert_eq!(
            parse_retry_after("1.5", now),
            Some(Duration::from_millis(1500))
        );
        assert_eq!(
            parse_retry_after("Wed, 21 Oct 2015 07:28:30 GMT", now),
            Some(Duration::from_secs(30))
        );
        assert_eq!(
            parse_retry_after("Wed, 21 Oct 2015 07:27:00 GMT", now),
            Some(Duration::ZERO)
        );
        // Absurd values are capped, never an overflow later.
        for huge in [
            "18446744073709551615",
            "1e300",
            "Fri, 31 Dec 9999 23:59:59 GMT",
        ] {
            assert_eq!(
                parse_retry_after(huge, now),
                Some(MAX_RETRY_AFTER),
                "{huge}"
            );
        }
        assert_eq!(parse_retry_after("soon", now), None);
        assert_eq!(parse_retry_after("-3", now), None);
    }
}
