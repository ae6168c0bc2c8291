//! The run lock: one import at a time per state file. An OS file lock (released by the
//! kernel when the holder dies, however it dies) on `<state>.lock`, whose contents name the
//! holder (pid and start time) for the message a second run prints; the contents a killed
//! holder left behind are recognised as stale and taken over.

use std::fs::{File, OpenOptions, TryLockError};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

/// The lock, held until dropped.
#[derive(Debug)]
pub struct RunLock {
    file: File,
    path: PathBuf,
    /// What a previous holder that died without releasing left in the file, if anything.
    pub stale: Option<String>,
}

/// Why the lock could not be taken.
#[derive(Debug)]
pub enum LockError {
    /// Another live process holds it; what it wrote about itself.
    Held(String),
    /// The lock file could not be used.
    Io(anyhow::Error),
}

impl RunLock {
    /// Takes the lock of the state file `state`, without waiting.
    pub fn acquire(state: &Path) -> Result<RunLock, LockError> {
        let mut name = state.as_os_str().to_owned();
        name.push(".lock");
        let path = PathBuf::from(name);
        let mut options = OpenOptions::new();
        options.read(true).write(true).create(true).truncate(false);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            options.mode(0o600);
        }
        let mut file = options
            .open(&path)
            .with_context(|| format!("cannot open the lock file `{}`", path.display()))
            .map_err(LockError::Io)?;
        let mut holder = String::new();
        match file.try_lock() {
            Ok(()) => {}
            Err(TryLockError::WouldBlock) => {
                let _ = file.read_to_string(&mut holder);
                return Err(LockError::Held(holder.trim().to_owned()));
            }
            Err(TryLockError::Error(e)) => {
                return Err(LockError::Io(
                    anyhow::Error::new(e).context(format!("cannot lock `{}`", path.display())),
                ));
            }
        }
        let _ = file.read_to_string(&mut holder);
        let stale = Some(holder.trim().to_owned()).filter(|h| !h.is_empty());
        let me = format!(
            "pid {} started {}",
            std::process::id(),
            humantime::format_rfc3339_seconds(std::time::SystemTime::now())
        );
        (|| -> std::io::Result<()> {
            file.set_len(0)?;
            file.seek(SeekFrom::Start(0))?;
            file.write_all(me.as_bytes())?;
            file.flush()
        })()
        .with_context(|| format!("cannot write the lock file `{}`", path.display()))
        .map_err(LockError::Io)?;
        Ok(RunLock { file, path, stale })
    }

    /// The lock file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for RunLock {
    fn drop(&mut self) {
        // Empty contents mean "released cleanly"; the kernel lock goes with the handle.
        let _ = self.file.set_len(0);
        let _ = self.file.unlock();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_holder_at_a_time_and_stale_contents_are_taken_over() {
        let dir = tempfile::tempdir().unwrap();
        let state = dir.path().join("state.db");
        let first = RunLock::acquire(&state).unwrap();
        assert!(first.stale.is_none());
        match RunLock::acquire(&state) {
            Err(LockError::Held(holder)) => {
                assert!(
                    holder.contains(&format!("pid {}", std::process::id())),
                    "{holder}"
                );
            }
            other => panic!("expected Held, got {other:?}"),
        }
        drop(first);
        // Released cleanly: nothing stale.
        let again = RunLock::acquire(&state).unwrap();
        assert!(again.stale.is_none());
        drop(again);
        // A killed holder leaves its line behind, but not the kernel lock.
        std::fs::write(
            dir.path().join("state.db.lock"),
            "pid 1 started 2026-01-01T00:00:00Z",
        )
        .unwrap();
        let taken = RunLock::acquire(&state).unwrap();
        assert_eq!(
            taken.stale.as_deref(),
            Some("pid 1 started 2026-01-01T00:00:00Z")
        );
    }
}
