//! Progress on stderr while an import runs: an indicatif line when stderr is a terminal, a
//! plain log line every ten seconds otherwise (for cron and CI logs). It reads the
//! session's [`Stats`] and the pacer; it owns nothing.

use std::io::{IsTerminal, Write};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::task::JoinHandle;

use crate::pacing::Pacer;
use crate::stats::{Counts, Stats};

/// What the progress line shows, besides the live counters.
pub(super) struct ProgressSetup {
    /// Counters of earlier sessions of the run (the line shows the run's totals).
    pub earlier: Counts,
    /// Estimated rows in the file.
    pub line_estimate: u64,
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

async fn show(stats: Arc<Stats>, pacer: Arc<Pacer>, setup: ProgressSetup) {
    let started = Instant::now();
    let tty = std::io::stderr().is_terminal();
    let estimate = setup.line_estimate;
    let bar = tty.then(|| {
        let bar = indicatif::ProgressBar::new(estimate.max(1));
        bar.set_style(
            indicatif::ProgressStyle::with_template(
                "{spinner} [{elapsed_precise}] {bar:30} {msg} (ETA {eta})",
            )
            .expect("valid template"),
        );
        bar
    });
    let period = if tty {
        Duration::from_millis(250)
    } else {
        Duration::from_secs(10)
    };
    let mut tick = tokio::time::interval(period);
    tick.tick().await;
    loop {
        tick.tick().await;
        let now = stats.snapshot();
        let total = setup.earlier.plus(now);
        let pace = pacer.pace();
        let elapsed = started.elapsed().as_secs_f64();
        let allowed = elapsed / pace.window.as_secs_f64() * f64::from(pace.rate);
        let quota = if allowed >= 1.0 {
            (now.requests as f64 / allowed * 100.0).min(100.0)
        } else {
            0.0
        };
        let message = format!(
            "read {} · imported {} · rejected {} · {:.0} leads/min · quota {quota:.0}%",
            now.rows_read,
            total.leads_imported,
            total.rejected,
            now.leads_imported as f64 / (elapsed / 60.0).max(1e-9)
        );
        match &bar {
            Some(bar) => {
                bar.set_position(now.rows_read.min(estimate));
                bar.set_message(message);
            }
            None => {
                let _ = writeln!(std::io::stderr(), "progress: {message}");
            }
        }
    }
}
