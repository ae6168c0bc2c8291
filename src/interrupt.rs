//! Ctrl-C and SIGTERM from the moment a command starts: handlers installed before anything
//! that can take time (opening the input, hashing it, opening the state file), one
//! cancellation token for the whole process, and what a signal does at each stage.
//!
//! While a command only prepares (nothing sent, nothing to finish: [`Mode::Prompt`]), the
//! first signal cancels the token; the command notices at its next step and exits with
//! 130, and if it is busy in a step it cannot leave (a large workbook being loaded, a
//! validation worker inside one huge cell) for [`PROMPT_GRACE`], the process exits with
//! 130 by itself, saying so. The state file is SQLite: whatever it was writing is a
//! transaction, whole or absent. During an import's session ([`Mode::Graceful`]) the first
//! signal lets the session wind down (requests in flight get a moment, every outcome is
//! committed, the summary is written); a second signal exits at once in any mode.

use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Mutex, OnceLock, mpsc};
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use crate::exit;
use crate::output::{self, Event};

/// How long a command that only prepares may take to notice a signal before the process
/// exits by itself.
pub const PROMPT_GRACE: Duration = Duration::from_secs(1);

/// What a first signal does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Cancel; exit with 130 and this message if the command has not stopped within
    /// [`PROMPT_GRACE`].
    Prompt(&'static str),
    /// Cancel, and let the command wind down however long that takes (a second signal
    /// still exits at once).
    Graceful,
}

/// The process's signal state; see [`install`].
#[derive(Debug)]
pub struct Interrupt {
    token: CancellationToken,
    interrupted: AtomicBool,
    signals: AtomicU32,
    mode: Mutex<Mode>,
}

/// A step noticed the signal and stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("interrupted")]
pub struct Interrupted;

static INTERRUPT: OnceLock<&'static Interrupt> = OnceLock::new();

/// The message of a command stopped before it sent or wrote anything.
pub const NOTHING_DONE: &str = "interrupted before anything was sent: nothing to resume";

/// Installs the handlers of SIGINT and SIGTERM (once per process; later calls return the
/// same state) in [`Mode::Prompt`] with [`NOTHING_DONE`], and returns the shared state.
/// Returns once the handlers are in place.
pub fn install() -> &'static Interrupt {
    INTERRUPT.get_or_init(|| {
        let state: &'static Interrupt = Box::leak(Box::new(Interrupt {
            token: CancellationToken::new(),
            interrupted: AtomicBool::new(false),
            signals: AtomicU32::new(0),
            mode: Mutex::new(Mode::Prompt(NOTHING_DONE)),
        }));
        let (ready_tx, ready_rx) = mpsc::channel();
        let spawned = std::thread::Builder::new()
            .name("signals".into())
            .spawn(move || watch(state, ready_tx));
        if spawned.is_ok() {
            // The handlers are registered before the thread waits for a signal.
            let _ = ready_rx.recv_timeout(Duration::from_secs(5));
        }
        state
    })
}

impl Interrupt {
    /// Cancelled by the first signal.
    pub fn token(&self) -> &CancellationToken {
        &self.token
    }

    /// Whether a signal came.
    pub fn interrupted(&self) -> bool {
        self.interrupted.load(Ordering::Relaxed)
    }

    /// `Err(Interrupted)` once a signal came: for the steps of a command to stop at.
    pub fn check(&self) -> Result<(), Interrupted> {
        if self.interrupted() {
            Err(Interrupted)
        } else {
            Ok(())
        }
    }

    /// Says the command has taken the signal and is stopping on its own: no exit by
    /// ourselves after [`PROMPT_GRACE`] (a second signal still exits at once).
    pub fn acknowledge(&self) {
        self.set_mode(Mode::Graceful);
    }

    /// What the first signal does from now on.
    pub fn set_mode(&self, mode: Mode) {
        *self.mode.lock().unwrap_or_else(|e| e.into_inner()) = mode;
    }

    fn mode(&self) -> Mode {
        *self.mode.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Takes one signal, as the handler thread does.
    fn on_signal(&'static self) {
        let n = self.signals.fetch_add(1, Ordering::SeqCst) + 1;
        self.interrupted.store(true, Ordering::SeqCst);
        self.token.cancel();
        if n > 1 {
            leave(
                "interrupted again: exiting now; run the same command to resume",
                "second_signal",
            );
        }
        if let Mode::Prompt(_) = self.mode() {
            // Exit by ourselves if the command is stuck in a step it cannot leave.
            let _ = std::thread::Builder::new()
                .name("signal-grace".into())
                .spawn(move || {
                    std::thread::sleep(PROMPT_GRACE);
                    if let Mode::Prompt(message) = self.mode() {
                        leave(message, "signal");
                    }
                });
        }
    }
}

/// Exits with 130 saying `message` (an `interrupt` event with its `reason`).
fn leave(message: &str, reason: &str) -> ! {
    // A blank line first ends the progress line on a terminal.
    let newline = if output::is_json() { "" } else { "\n" };
    Event::warn("interrupt", format!("{newline}{message}"))
        .with("reason", reason)
        .with("exit_code", exit::INTERRUPTED)
        .emit();
    std::process::exit(i32::from(exit::INTERRUPTED));
}

/// The `interrupt` event of a command that stopped at a signal before it finished.
pub fn stopped_event(message: &str) -> Event {
    Event::warn("interrupt", message)
        .with("reason", "signal")
        .with("exit_code", exit::INTERRUPTED)
}

/// The handler thread: registers SIGINT and SIGTERM, says so through `ready`, and takes
/// every signal after.
fn watch(state: &'static Interrupt, ready: mpsc::Sender<()>) {
    let Ok(runtime) = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    else {
        return;
    };
    runtime.block_on(async move {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{SignalKind, signal};
            let (Ok(mut int), Ok(mut term)) = (
                signal(SignalKind::interrupt()),
                signal(SignalKind::terminate()),
            ) else {
                return;
            };
            let _ = ready.send(());
            loop {
                tokio::select! {
                    _ = int.recv() => state.on_signal(),
                    _ = term.recv() => state.on_signal(),
                }
            }
        }
        #[cfg(not(unix))]
        {
            let _ = ready.send(());
            while tokio::signal::ctrl_c().await.is_ok() {
                state.on_signal();
            }
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_step_stops_at_a_signal_and_the_token_is_cancelled() {
        let state: &'static Interrupt = Box::leak(Box::new(Interrupt {
            token: CancellationToken::new(),
            interrupted: AtomicBool::new(false),
            signals: AtomicU32::new(0),
            mode: Mutex::new(Mode::Graceful),
        }));
        assert_eq!(state.check(), Ok(()));
        state.on_signal();
        assert_eq!(state.check(), Err(Interrupted));
        assert!(state.token().is_cancelled());
    }
}
