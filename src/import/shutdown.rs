//! Stopping a run: one [`CancellationToken`], a child of the process's signal token
//! ([`crate::interrupt`]: the first Ctrl-C or SIGTERM), also cancelled when
//! `--max-duration` runs out.
//! Everything that waits (the coordinator, the pacer, a backoff) selects on it; a second
//! signal exits at once (the state file is consistent after every commit, so the run stays
//! resumable).

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// Why a run was cancelled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Reason {
    /// Ctrl-C or SIGTERM.
    Signal,
    /// `--max-duration` ran out.
    TimeBudget,
}

/// The run's cancellation and what fires it; dropping it stops the clock.
pub(super) struct Shutdown {
    token: CancellationToken,
    reason: Arc<OnceLock<Reason>>,
    watchers: Vec<JoinHandle<()>>,
}

impl Shutdown {
    /// Follows `signals` (the [`Interrupt`](crate::interrupt::Interrupt) token) and, with `max_duration`, the clock.
    /// Call inside the runtime.
    pub(super) fn start(signals: &CancellationToken, max_duration: Option<Duration>) -> Shutdown {
        let token = signals.child_token();
        let reason = Arc::new(OnceLock::new());
        let mut watchers = Vec::new();
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

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn the_time_budget_cancels_with_its_reason() {
        let signals = CancellationToken::new();
        let shutdown = Shutdown::start(&signals, Some(Duration::from_secs(3600)));
        assert_eq!(shutdown.reason(), None);
        shutdown.token().cancelled().await;
        assert_eq!(shutdown.reason(), Some(Reason::TimeBudget));
        let shutdown = Shutdown::start(&signals, None);
        signals.cancel();
        assert_eq!(shutdown.reason(), Some(Reason::Signal));
    }
}
