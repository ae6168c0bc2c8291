//! The run lock: one import at a time per state file, whatever name the file is reached by.
//!
//! The lock is an OS file lock (`flock`, released by the kernel when the holder dies, however
//! it dies) on the state file itself: a lock follows the file (its device and inode), not
//! the path, so a symlink, a hard link or a bind mount of the same file finds it. SQLite's
//! own locks are `fcntl` byte-range locks, which `flock` does not touch. Beside the file,
//! `<real path>.lock` names the holder (pid and start time) for the message a second run
//! prints; the contents a killed holder left behind are recognised as stale. That file is
//! locked too, so a run of an older version (which locked only that file) and a run of this
//! one still exclude each other.
//!
//! A state file with several names (hard links) is refused even when nobody holds it:
//! SQLite keeps its write-ahead log under the name a process opened, so a run killed under
//! one name leaves committed work in a log the next run, under another name, never reads.
//! (On platforms other than Unix, where a lock on the database file would block SQLite's
//! own reads, only `<path>.lock` is locked.)

use std::fs::{self, File, OpenOptions, TryLockError};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::anyhow;

/// The lock, held until dropped.
#[derive(Debug)]
pub struct RunLock {
    /// The state file, locked (Unix).
    #[cfg(unix)]
    _state: File,
    /// `<real path>.lock`, locked, holding our pid and start time.
    info: File,
    info_path: PathBuf,
    real: PathBuf,
    /// What a previous holder that died without releasing left in the file, if anything.
    pub stale: Option<String>,
}

/// Why the lock could not be taken.
#[derive(Debug)]
pub enum LockError {
    /// Another live process holds it: what it wrote about itself (`pid … started …`), or
    /// why that is unknown.
    Held(String),
    /// The lock or the state file could not be used.
    Io(anyhow::Error),
}

/// How long a run waits for a lock that is busy before calling it held: `status` takes it
/// shared for an instant to see whether anyone holds it.
const PATIENCE: Duration = Duration::from_millis(250);

impl RunLock {
    /// Takes the lock of the state file `state` (created empty, owner-only, when missing;
    /// its directory must exist), without waiting for another run.
    pub fn acquire(state: &Path) -> Result<RunLock, LockError> {
        let io = |what: String| move |e: io::Error| LockError::Io(anyhow!(e).context(what));
        let file = open_state(state).map_err(io(format!(
            "cannot open the state file `{}`",
            state.display()
        )))?;
        let meta = file
            .metadata()
            .map_err(io(format!("cannot read `{}`", state.display())))?;
        if !meta.is_file() {
            return Err(LockError::Io(anyhow!(
                "the state file `{}` is not a regular file",
                state.display()
            )));
        }
        let real =
            fs::canonicalize(state).map_err(io(format!("cannot resolve `{}`", state.display())))?;
        let info_path = sidecar(&real);
        #[cfg(unix)]
        {
            same_file(&meta, &real, state)?;
            lock_patiently(&file).map_err(|e| match e {
                // What the holder wrote, when it reached the file by the same real path.
                TryLockError::WouldBlock => LockError::Held(described(
                    fs::read_to_string(&info_path).unwrap_or_default(),
                )),
                TryLockError::Error(e) => io(format!("cannot lock `{}`", real.display()))(e),
            })?;
            // Locked: now the name cannot be swapped under us by another run of ours.
            same_file(&meta, &real, state)?;
        }
        let mut info = open_sidecar(&info_path).map_err(io(format!(
            "cannot open the lock file `{}`",
            info_path.display()
        )))?;
        let mut holder = String::new();
        match lock_patiently(&info) {
            Ok(()) => {}
            Err(TryLockError::WouldBlock) => {
                let _ = info.read_to_string(&mut holder);
                return Err(LockError::Held(described(holder)));
            }
            Err(TryLockError::Error(e)) => {
                return Err(io(format!("cannot lock `{}`", info_path.display()))(e));
            }
        }
        // Links made since the file was opened count too.
        #[cfg(unix)]
        refuse_hard_links(
            &file
                .metadata()
                .map_err(io(format!("cannot read `{}`", real.display())))?,
            &real,
        )?;
        #[cfg(not(unix))]
        drop(file);
        let _ = info.read_to_string(&mut holder);
        let stale = Some(holder.trim().to_owned()).filter(|h| !h.is_empty());
        let me = format!(
            "pid {} started {}",
            std::process::id(),
            humantime::format_rfc3339_seconds(std::time::SystemTime::now())
        );
        (|| -> io::Result<()> {
            info.set_len(0)?;
            info.seek(SeekFrom::Start(0))?;
            info.write_all(me.as_bytes())?;
            info.flush()
        })()
        .map_err(io(format!(
            "cannot write the lock file `{}`",
            info_path.display()
        )))?;
        Ok(RunLock {
            #[cfg(unix)]
            _state: file,
            info,
            info_path,
            real,
            stale,
        })
    }

    /// The file naming the holder (`<real path>.lock`).
    pub fn path(&self) -> &Path {
        &self.info_path
    }

    /// The state file's real path (symlinks resolved).
    pub fn state_path(&self) -> &Path {
        &self.real
    }
}

impl Drop for RunLock {
    fn drop(&mut self) {
        // Empty contents mean "released cleanly"; the kernel locks go with the handles.
        let _ = self.info.set_len(0);
        let _ = self.info.unlock();
    }
}

/// What [`RunLock::acquire`] would say of the state file `state` now, for `status`:
/// `Some(holder)` (possibly empty) when a live process holds its lock, `None` when nobody
/// does (or there is no file). Takes the lock shared for an instant; a run starting in that
/// instant waits it out (see `PATIENCE`).
///
/// Call it with no SQLite connection to the file open in this process: closing any handle
/// of a file drops the process's `fcntl` locks on it, SQLite's included.
pub fn holder(state: &Path) -> io::Result<Option<String>> {
    let real = match fs::canonicalize(state) {
        Ok(real) => real,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e),
    };
    let info_path = sidecar(&real);
    let busy = |file: &File| match file.try_lock_shared() {
        Ok(()) => Ok(false),
        Err(TryLockError::WouldBlock) => Ok(true),
        Err(TryLockError::Error(e)) => Err(e),
    };
    #[cfg(unix)]
    let mut held = busy(&File::open(&real)?)?;
    #[cfg(not(unix))]
    let mut held = false;
    let mut holder = String::new();
    match File::open(&info_path) {
        Ok(mut info) => {
            held = held || busy(&info)?;
            if held {
                let _ = info.read_to_string(&mut holder);
            }
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => return Err(e),
    }
    Ok(held.then(|| holder.trim().to_owned()))
}

/// The holder's note, or why there is none.
fn described(note: String) -> String {
    match note.trim() {
        "" => "pid unknown: it is starting up, or it reached the same file under another name"
            .to_owned(),
        note => note.to_owned(),
    }
}

/// Refuses a state file with more than one name (hard links), for readers such as
/// `status`: under another name than the writer's, SQLite reads the file without the
/// writer's write-ahead log, so recent work is missing or the file looks empty.
pub fn check_single_name(state: &Path) -> anyhow::Result<()> {
    #[cfg(unix)]
    if let Ok(meta) = fs::metadata(state) {
        let real = fs::canonicalize(state).unwrap_or_else(|_| state.to_owned());
        if let Err(LockError::Io(e)) = refuse_hard_links(&meta, &real) {
            return Err(e);
        }
    }
    Ok(())
}

/// `<path>.lock`.
fn sidecar(path: &Path) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(".lock");
    PathBuf::from(name)
}

/// Opens the state file for locking, creating it empty (owner-only) when missing; a
/// symlink is followed, so a dangling one creates its target. SQLite takes an empty file
/// as a new database.
fn open_state(path: &Path) -> io::Result<File> {
    owner_only(false).open(path)
}

/// Opens `<real path>.lock`, creating it owner-only; never through a symlink, since the
/// file is truncated and written (a link planted there would aim that at another file).
fn open_sidecar(path: &Path) -> io::Result<File> {
    owner_only(true).open(path).map_err(|e| {
        #[cfg(unix)]
        if e.raw_os_error() == Some(libc::ELOOP) {
            return io::Error::other("it is a symbolic link; remove it");
        }
        e
    })
}

/// Read-write, created with mode 0600 if missing, not truncated; `no_follow` refuses a
/// symlink as the last component.
fn owner_only(no_follow: bool) -> OpenOptions {
    let mut options = OpenOptions::new();
    options.read(true).write(true).create(true).truncate(false);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
        if no_follow {
            options.custom_flags(libc::O_NOFOLLOW);
        }
    }
    #[cfg(not(unix))]
    let _ = no_follow;
    options
}

/// `try_lock`, retried for [`PATIENCE`] while busy.
fn lock_patiently(file: &File) -> Result<(), TryLockError> {
    let deadline = std::time::Instant::now() + PATIENCE;
    loop {
        match file.try_lock() {
            Err(TryLockError::WouldBlock) if std::time::Instant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(25));
            }
            other => return other,
        }
    }
}

/// The file opened is still the one the real path names.
#[cfg(unix)]
fn same_file(opened: &fs::Metadata, real: &Path, state: &Path) -> Result<(), LockError> {
    use std::os::unix::fs::MetadataExt;
    match fs::metadata(real) {
        Ok(now) if now.dev() == opened.dev() && now.ino() == opened.ino() => Ok(()),
        _ => Err(LockError::Io(anyhow!(
            "the state file `{}` was replaced or removed while it was being opened; nothing was done, run the command again",
            state.display()
        ))),
    }
}

/// Refuses a state file with more than one name (see the module documentation).
#[cfg(unix)]
fn refuse_hard_links(opened: &fs::Metadata, real: &Path) -> Result<(), LockError> {
    use std::os::unix::fs::MetadataExt;
    let links = opened.nlink();
    if links > 1 {
        return Err(LockError::Io(anyhow!(
            "the state file `{}` has {links} names (hard links): SQLite keeps its write-ahead log under the name each process opens, so under different names runs lose each other's committed work and readers see stale data. Nothing was done. Keep one name: delete the other links (or use a copy made while no run is going, `cp`, as the state file)",
            real.display()
        )));
    }
    Ok(())
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
        assert!(state.exists(), "the state file is created for its lock");
        assert!(holder(&state).unwrap().is_some());
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
        assert_eq!(holder(&state).unwrap(), None);
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
        assert_eq!(holder(&state).unwrap(), None);
        let taken = RunLock::acquire(&state).unwrap();
        assert_eq!(
            taken.stale.as_deref(),
            Some("pid 1 started 2026-01-01T00:00:00Z")
        );
    }

    #[cfg(unix)]
    #[test]
    fn any_name_of_the_file_finds_the_lock() {
        let dir = tempfile::tempdir().unwrap();
        let state = dir.path().join("state.db");
        // First run: the file does not exist yet, and is reached through a dangling symlink.
        let link = dir.path().join("link.db");
        std::os::unix::fs::symlink("state.db", &link).unwrap();
        let first = RunLock::acquire(&link).unwrap();
        assert!(state.is_file());
        assert_eq!(first.state_path(), state.canonicalize().unwrap());
        assert_eq!(first.path(), sidecar(&state.canonicalize().unwrap()));
        for name in [&state, &link] {
            assert!(
                matches!(RunLock::acquire(name), Err(LockError::Held(h)) if h.contains("pid")),
                "{}",
                name.display()
            );
        }
        // A hard link has no symlink to resolve: the lock on the file itself finds it.
        let hard = dir.path().join("hard.db");
        std::fs::hard_link(&state, &hard).unwrap();
        // (Its holder's note is under the other name.)
        assert!(
            matches!(RunLock::acquire(&hard), Err(LockError::Held(h)) if h.starts_with("pid unknown"))
        );
        assert!(holder(&hard).unwrap().is_some());
        drop(first);
        // Free, but two names: refused, whichever is used.
        for name in [&state, &hard] {
            match RunLock::acquire(name) {
                Err(LockError::Io(e)) => assert!(format!("{e:#}").contains("hard links"), "{e:#}"),
                other => panic!("expected a refusal, got {other:?}"),
            }
        }
        std::fs::remove_file(&hard).unwrap();
        drop(RunLock::acquire(&link).unwrap());
    }

    #[cfg(unix)]
    #[test]
    fn created_owner_only_and_not_a_directory() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let state = dir.path().join("state.db");
        let lock = RunLock::acquire(&state).unwrap();
        for path in [&state, &lock.path().to_owned()] {
            let mode = fs::metadata(path).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode, 0o600, "{}", path.display());
        }
        assert!(matches!(
            RunLock::acquire(dir.path()),
            Err(LockError::Io(_))
        ));
    }

    #[cfg(unix)]
    #[test]
    fn a_symlink_planted_as_the_lock_file_is_not_followed() {
        let dir = tempfile::tempdir().unwrap();
        let state = dir.path().join("state.db");
        let victim = dir.path().join("victim.txt");
        fs::write(&victim, "precious").unwrap();
        std::os::unix::fs::symlink(&victim, dir.path().join("state.db.lock")).unwrap();
        match RunLock::acquire(&state) {
            Err(LockError::Io(e)) => {
                assert!(format!("{e:#}").contains("symbolic link"), "{e:#}")
            }
            other => panic!("expected a refusal, got {other:?}"),
        }
        assert_eq!(fs::read_to_string(&victim).unwrap(), "precious");
    }
}
