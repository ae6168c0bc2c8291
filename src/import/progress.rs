//! Progress on stderr while an import runs: an indicatif bar when stderr is a terminal (and
//! the log is text), otherwise a `progress` event every `--progress-interval` (a line for
//! cron and CI logs, a JSON object with `--log-format json`). It reads the session's
//! [`Stats`], the pipeline's [`Reading`] and the pacer; it owns nothing.
//!
//! What the figures mean, as the summary and `status` name them too:
//! - **read**: data rows the reader has taken from the file (it runs ahead of sending);
//! - **settled**: rows whose outcome is recorded: imported, unchanged or rejected;
//! - **sent**: leads of this session the API has answered for.
//!
//! Done and the ETA follow the leads still to send, not the rows read: the leads to send
//! in all are those queued so far plus, for the rows not yet read, the share of the rows
//! read so far that needed sending (the rest were unchanged or rejected); they leave at the
//! pace of the rate limit in force ([`Pacer::pace`], a learnt server policy included), or
//! slower when the last minute went slower (latency, `Retry-After`, a shared key).

use std::collections::VecDeque;
use std::io::IsTerminal;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::task::JoinHandle;

use crate::output::{self, Event};
use crate::pacing::{Pace, Pacer};
use crate::pipeline::Reading;
use crate::stats::{Counts, Stats};

/// What the progress line needs besides the live counters.
pub(super) struct ProgressSetup {
    /// Counters of earlier sessions of the run (the line shows the run's totals).
    pub earlier: Counts,
    /// The reader's position and its estimate of the file's rows.
    pub reading: Reading,
    /// Leads per request.
    pub batch_size: usize,
    /// How often a line is logged when there is no bar.
    pub interval: Duration,
}

/// Starts the display (nothing with `quiet`); abort the handle to stop it.
pub(super) fn start(
    stats: Arc<Stats>,
    pacer: Arc<Pacer>,
    setup: ProgressSetup,
    quiet: bool,
) -> Option<JoinHandle<()>> {
    (!quiet).then(|| tokio::spawn(show(stats, pacer, setup)))
}

/// How often the figures are sampled (and the bar redrawn).
const TICK: Duration = Duration::from_millis(250);

/// How far back the observed pace looks.
const LOOKBACK: Duration = Duration::from_secs(60);

/// Requests the look-back must hold before the observed pace is believed over the
/// configured one (fewer, and one request more or less is a large error).
const MIN_REQUESTS: u64 = 10;

async fn show(stats: Arc<Stats>, pacer: Arc<Pacer>, setup: ProgressSetup) {
    let started = Instant::now();
    let bar = (std::io::stderr().is_terminal() && !output::is_json()).then(|| {
        let bar = indicatif::ProgressBar::new(1);
        bar.set_style(
            indicatif::ProgressStyle::with_template(
                "{spinner} [{elapsed_precise}] {bar:30} {percent:>3}% {msg}",
            )
            .expect("valid template"),
        );
        bar
    });
    let _shown = bar.as_ref().map(output::show_bar);
    let mut history = History::default();
    let mut tick = tokio::time::interval(TICK);
    tick.tick().await;
    let mut next_line = setup.interval;
    loop {
        tick.tick().await;
        let at = started.elapsed();
        let sample = Sample::take(at, &stats, &setup.reading);
        history.push(sample);
        let figures = Figures::compute(&history, pacer.pace(), setup.batch_size);
        match &bar {
            Some(bar) => {
                bar.set_length(figures.leads_to_send.max(1));
                bar.set_position(figures.leads_done.min(figures.leads_to_send));
                bar.set_message(figures.line(setup.earlier, &sample));
            }
            None if at >= next_line => {
                next_line = at + setup.interval;
                figures.event(setup.earlier, &sample).emit();
            }
            None => {}
        }
    }
}

/// The counters at one moment of the session.
#[derive(Debug, Clone, Copy, Default)]
struct Sample {
    /// Since the session started.
    at: Duration,
    /// The session's counters.
    counts: Counts,
    /// Rows the reader has read (skipped ones included), and skipped.
    read: u64,
    skipped: u64,
    /// The file's rows (estimated until the end is reached).
    estimate: Option<u64>,
}

impl Sample {
    fn take(at: Duration, stats: &Stats, reading: &Reading) -> Sample {
        Sample {
            at,
            counts: stats.snapshot(),
            read: reading.rows_read(),
            skipped: reading.rows_skipped(),
            estimate: reading.rows_estimate(),
        }
    }

    /// Leads of the session that are settled: answered by the API, or given up.
    fn leads_done(&self) -> u64 {
        self.counts.leads_sent + self.counts.leads_gave_up
    }
}

/// The samples of the last [`LOOKBACK`].
#[derive(Debug, Default)]
struct History {
    samples: VecDeque<Sample>,
}

impl History {
    fn push(&mut self, sample: Sample) {
        self.samples.push_back(sample);
        while self.samples.len() > 2 && self.samples[1].at + LOOKBACK <= sample.at {
            self.samples.pop_front();
        }
    }

    fn last(&self) -> Sample {
        self.samples.back().copied().unwrap_or_default()
    }

    /// Leads settled per second over the look-back, once it holds [`MIN_REQUESTS`].
    fn observed_rate(&self) -> Option<f64> {
        let (first, last) = (self.samples.front()?, self.samples.back()?);
        let span = (last.at - first.at).as_secs_f64();
        let requests = last.counts.requests - first.counts.requests;
        (requests >= MIN_REQUESTS && span > 0.0)
            .then(|| (last.leads_done() - first.leads_done()) as f64 / span)
    }
}

/// What the progress line shows, computed from the samples.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Figures {
    /// Leads of the session settled so far.
    leads_done: u64,
    /// Leads the session will have sent in all (an estimate until the file is read).
    leads_to_send: u64,
    /// Done, in percent (`None` before the file's size is known).
    percent: Option<f64>,
    /// Seconds to the end (`None` before the file's size is known).
    eta: Option<f64>,
    /// Leads per second the ETA assumes.
    rate: f64,
    /// Requests as a share of what the pace allowed over the look-back.
    quota: f64,
}

impl Figures {
    fn compute(history: &History, pace: Pace, batch_size: usize) -> Figures {
        let now = history.last();
        let c = &now.counts;
        // Rows the session has yet to classify: not read yet, or read and not checked yet.
        let unread = now.estimate.map(|e| e.saturating_sub(now.read));
        let in_pipeline = now
            .read
            .saturating_sub(now.skipped)
            .saturating_sub(c.rows_checked);
        let share = if c.rows_checked > 0 {
            c.leads_queued as f64 / c.rows_checked as f64
        } else {
            1.0
        };
        let to_come = unread.map(|u| ((u + in_pipeline) as f64 * share).round() as u64);
        let leads_done = now.leads_done();
        let leads_to_send = c.leads_queued + to_come.unwrap_or(0);
        let remaining = leads_to_send.saturating_sub(leads_done);

        let period = pace.period().as_secs_f64().max(1e-9);
        let paced = batch_size.max(1) as f64 / period;
        let rate = history
            .observed_rate()
            .map_or(paced, |observed| observed.min(paced));
        let sending = if remaining == 0 {
            0.0
        } else {
            remaining as f64 / rate.max(1e-9)
        };
        // Reading rarely limits an import, but a delta run with little to send is a read.
        let elapsed = now.at.as_secs_f64();
        let checked = c.rows_checked + now.skipped;
        let reading = match unread {
            Some(u) if u + in_pipeline > 0 && checked > 0 && elapsed > 0.0 => {
                (u + in_pipeline) as f64 / (checked as f64 / elapsed)
            }
            _ => 0.0,
        };
        let eta = unread.map(|_| sending.max(reading));
        let percent = now.estimate.map(|estimate| {
            if leads_to_send > 0 {
                leads_done as f64 * 100.0 / leads_to_send as f64
            } else if estimate > 0 {
                now.read.min(estimate) as f64 * 100.0 / estimate as f64
            } else {
                100.0
            }
        });
        let first = history.samples.front().copied().unwrap_or_default();
        let span = (now.at - first.at).as_secs_f64();
        let allowed = span / period;
        let quota = if allowed >= 1.0 {
            ((c.requests - first.counts.requests) as f64 / allowed).min(1.0)
        } else {
            0.0
        };
        Figures {
            leads_done,
            leads_to_send: leads_to_send.max(leads_done),
            percent: percent.map(|p| p.clamp(0.0, 100.0)),
            eta,
            rate,
            quota,
        }
    }

    /// The text after the bar, or of a progress line.
    fn line(&self, earlier: Counts, now: &Sample) -> String {
        let total = earlier.plus(now.counts);
        let settled = total.leads_imported + total.unchanged + total.rejected;
        format!(
            "sent {} of ~{} leads · rows read {}{} · settled {} ({} imported, {} unchanged, {} rejected) · quota {:.0}% · ETA {}",
            now.counts.leads_sent,
            self.leads_to_send,
            now.read,
            now.estimate.map_or(String::new(), |e| format!(" of ~{e}")),
            settled,
            total.leads_imported,
            total.unchanged,
            total.rejected,
            self.quota * 100.0,
            self.eta.map_or("?".to_owned(), eta_text),
        )
    }

    /// A progress event: the line, and its figures.
    fn event(&self, earlier: Counts, now: &Sample) -> Event {
        let total = earlier.plus(now.counts);
        let message = match self.percent {
            Some(p) => format!("progress: {p:.0}% · {}", self.line(earlier, now)),
            None => format!("progress: {}", self.line(earlier, now)),
        };
        Event::info("progress", message)
            .with("percent", self.percent.map(|p| (p * 10.0).round() / 10.0))
            .with("eta_seconds", self.eta.map(|e| (e * 10.0).round() / 10.0))
            .with("leads_sent", now.counts.leads_sent)
            .with("leads_to_send", self.leads_to_send)
            .with("leads_remaining", self.leads_to_send - self.leads_done)
            .with("rows_read", now.read)
            .with("rows_estimate", now.estimate)
            .with(
                "rows_settled",
                total.leads_imported + total.unchanged + total.rejected,
            )
            .with("imported", total.leads_imported)
            .with("unchanged", total.unchanged)
            .with("rejected", total.rejected)
            .with("requests", now.counts.requests)
            .with("throttled", now.counts.throttled)
            .with("quota_used", (self.quota * 1000.0).round() / 1000.0)
            .with("leads_per_minute", (self.rate * 60.0).round())
            .with(
                "elapsed_seconds",
                (now.at.as_secs_f64() * 10.0).round() / 10.0,
            )
    }
}

/// `1h 02m`, `4m 05s`, `12s`.
fn eta_text(secs: f64) -> String {
    let s = secs.round() as u64;
    match (s / 3600, s % 3600 / 60, s % 60) {
        (0, 0, s) => format!("{s}s"),
        (0, m, s) => format!("{m}m {s:02}s"),
        (h, m, _) => format!("{h}h {m:02}m"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PACE: Pace = Pace {
        rate: 50,
        window: Duration::from_secs(60),
    };

    fn sample(at: u64, read: u64, estimate: u64, f: impl FnOnce(&mut Counts)) -> Sample {
        let mut counts = Counts::default();
        f(&mut counts);
        Sample {
            at: Duration::from_secs(at),
            counts,
            read,
            skipped: 0,
            estimate: Some(estimate),
        }
    }

    /// The situation of the issue: the file read at once (100,000 rows), a minute into
    /// sending at the quota: the bar is not full and the ETA is the sending left.
    #[test]
    fn done_and_eta_follow_the_leads_to_send_not_the_rows_read() {
        let mut history = History::default();
        history.push(sample(0, 0, 100_000, |_| {}));
        history.push(sample(60, 100_000, 100_000, |c| {
            c.rows_checked = 100_000;
            c.leads_queued = 100_000;
            c.requests = 50;
            c.leads_sent = 5_000;
        }));
        let f = Figures::compute(&history, PACE, 100);
        assert_eq!(f.leads_to_send, 100_000);
        assert_eq!(f.percent, Some(5.0));
        // 95,000 leads at 100 a request, one request every (60.325 s / 50).
        let expected = 950.0 * PACE.period().as_secs_f64();
        let eta = f.eta.unwrap();
        assert!(
            (eta - expected).abs() / expected < 0.05,
            "{eta} vs {expected}"
        );
        assert!(f.quota > 0.95, "{f:?}");
    }

    #[test]
    fn the_rows_not_read_yet_count_with_the_share_that_needed_sending() {
        let mut history = History::default();
        // 10,000 rows read of 40,000: 2,000 needed sending (the rest unchanged or rejected).
        history.push(sample(10, 10_000, 40_000, |c| {
            c.rows_checked = 10_000;
            c.leads_queued = 2_000;
            c.unchanged = 7_900;
            c.rejected = 100;
            c.leads_sent = 500;
            c.requests = 5;
        }));
        let f = Figures::compute(&history, PACE, 100);
        assert_eq!(f.leads_to_send, 8_000);
        assert_eq!(f.leads_done, 500);
        assert_eq!(f.percent, Some(500.0 * 100.0 / 8_000.0));
    }

    #[test]
    fn a_slower_observed_pace_wins_over_the_configured_one() {
        let mut history = History::default();
        history.push(sample(0, 1_000, 100_000, |c| {
            c.rows_checked = 1_000;
            c.leads_queued = 1_000;
        }));
        // 20 requests in 60 s, where the pace allows about 50: the server held us back.
        history.push(sample(60, 100_000, 100_000, |c| {
            c.rows_checked = 100_000;
            c.leads_queued = 100_000;
            c.requests = 20;
            c.leads_sent = 2_000;
        }));
        let f = Figures::compute(&history, PACE, 100);
        assert!((f.rate - 2_000.0 / 60.0).abs() < 1e-9, "{f:?}");
        assert!((f.eta.unwrap() - 98_000.0 / (2_000.0 / 60.0)).abs() < 1e-6);
        // A faster observed one (a burst at the start) does not.
        let mut history = History::default();
        history.push(sample(0, 0, 1_000, |_| {}));
        history.push(sample(1, 1_000, 1_000, |c| {
            c.rows_checked = 1_000;
            c.leads_queued = 1_000;
            c.requests = 10;
            c.leads_sent = 1_000;
        }));
        let f = Figures::compute(&history, PACE, 100);
        assert!((f.rate - 100.0 / PACE.period().as_secs_f64()).abs() < 1e-9);
    }

    #[test]
    fn the_end_is_zero_and_unknown_sizes_say_so() {
        let mut history = History::default();
        history.push(sample(5, 300, 300, |c| {
            c.rows_checked = 300;
            c.leads_queued = 200;
            c.unchanged = 100;
            c.leads_sent = 190;
            c.leads_gave_up = 10;
        }));
        let f = Figures::compute(&history, PACE, 100);
        assert_eq!((f.eta, f.percent), (Some(0.0), Some(100.0)));
        let mut history = History::default();
        history.push(Sample::default());
        let f = Figures::compute(&history, PACE, 100);
        assert_eq!((f.eta, f.percent), (None, None));
    }

    #[test]
    fn a_delta_run_with_nothing_to_send_is_as_far_as_its_reading() {
        let mut history = History::default();
        history.push(sample(10, 25_000, 100_000, |c| {
            c.rows_checked = 25_000;
            c.unchanged = 25_000;
        }));
        let f = Figures::compute(&history, PACE, 100);
        assert_eq!(f.percent, Some(25.0));
        assert!((f.eta.unwrap() - 30.0).abs() < 1e-9, "{f:?}");
    }

    #[test]
    fn the_look_back_keeps_a_minute() {
        let mut history = History::default();
        for at in 0..200 {
            history.push(sample(at, 0, 1, |_| {}));
        }
        let span = history.last().at - history.samples[0].at;
        assert!(span >= LOOKBACK && span <= LOOKBACK + Duration::from_secs(1));
    }

    #[test]
    fn etas_read_as_people_write_them() {
        assert_eq!(eta_text(4.4), "4s");
        assert_eq!(eta_text(245.0), "4m 05s");
        assert_eq!(eta_text(3_725.0), "1h 02m");
    }
}
