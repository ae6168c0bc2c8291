//! Stopping a run: one [`CancellationToken`] cancelled by the first Ctrl-C or SIGTERM, or
//! when `--max-duration` runs out. Everything that waits (the coordinator, the pacer, a
//! backoff) selects on it; a second signal exits at once (the state file is consistent
//! after every commit, so the run stays resumable).

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::exit;
use crate::output::{self, Event};

/// Why a run was cancelled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Reason {
    /// Ctrl-C or SIGTERM.
    Signal,
    /// `--max-duration` ran out.
    TimeBudget,
}

/// The run's cancellation and what fires it; dropping it stops the watchers.
pub(super) struct Shutdown {
    token: CancellationToken,
    reason: Arc<OnceLock<Reason>>,
    watchers: Vec<JoinHandle<()>>,
}

impl Shutdown {
    /// Starts watching for signals and, with `max_duration`, the clock. Call inside the
    /// runtime.
    pub(super) fn start(max_duration: Option<Duration>) -> Shutdown {
        let token = CancellationToken::new();
        let reason = Arc::new(OnceLock::new());
        let mut watchers = vec![tokio::spawn(watch_signals(
            token.clone(),
            Arc::clone(&reason),
        ))];
        if let Some(limit) = max_duration {
            let (token, reason) = (token.clone(), Arc::clone(&reason));
            watchers.push(tokio::spawn(async move {
                tokio::time::sleep(limit).await;
                let _ = reason.set(Reason::TimeBudget);
                token.cancel();
            }));
        }
        Shutdown {
            token,
            reason,
            watchers,
        }
    }

    /// The token to select on or hand down.
    pub(super) fn token(&self) -> &CancellationToken {
        &self.token
    }

    /// Why the run was cancelled, if it was.
    pub(super) fn reason(&self) -> Option<Reason> {
        self.token
            .is_cancelled()
            .then(|| self.reason.get().copied().unwrap_or(Reason::Signal))
    }
}

impl Drop for Shutdown {
    fn drop(&mut self) {
        for watcher in &self.watchers {
            watcher.abort();
        }
    }
}

async fn watch_signals(token: CancellationToken, reason: Arc<OnceLock<Reason>>) {
    wait_for_signal().await;
    let _ = reason.set(Reason::Signal);
    token.cancel();
    wait_for_signal().await;
    let newline = if output::is_json() { "" } else { "\n" };
    Event::warn(
        "interrupt",
        format!("{newline}interrupted again: exiting now; run the same command to resume"),
    )
    .with("reason", "second_signal")
    .with("exit_code", exit::INTERRUPTED)
    .emit();
    std::process::exit(i32::from(exit::INTERRUPTED));
}

async fn wait_for_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn the_time_budget_cancels_with_its_reason() {
        let shutdown = Shutdown::start(Some(Duration::from_secs(3600)));
        assert_eq!(shutdown.reason(), None);
        shutdown.token().cancelled().await;
        assert_eq!(shutdown.reason(), Some(Reason::TimeBudget));
    }
}
