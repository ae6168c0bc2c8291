//! Planning a run before anything is sent: the input opened and fingerprinted, the report
//! directory probed, the configuration fingerprinted ([`PayloadSettings`]), the state file
//! locked and opened, and the decision to resume an unfinished run or begin a new one.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use anyhow::{Context, Result, bail};

use crate::checkpoint::{Checkpoint, ResumeState, RunSpec};
use crate::config::ImportConfig;
use crate::fsutil::create_private_dir;
use crate::lock::{LockError, RunLock};
use crate::mapping::Mapping;
use crate::output::Event;
use crate::source::Source;
use crate::validate::Validator;

/// The input, opened and described, before any row is read.
pub(super) struct Input {
    /// The records to come.
    pub source: Source,
    /// How columns map to fields.
    pub mapping: Mapping,
    /// The row validator.
    pub validator: Validator,
    /// What identifies the run (input, its fingerprint, the configuration, the scope).
    pub spec: RunSpec,
    /// The file as it was when the run started.
    pub stamp: InputStamp,
}

/// Describes the opened input: probes the report directory and fingerprints the file and
/// the configuration.
pub(super) fn describe(
    cfg: &ImportConfig,
    (source, mapping, validator): (Source, Mapping, Validator),
) -> Result<Input> {
    let input = &cfg.input;
    // Reports are written at the end: find out now, before anything is sent, whether they
    // can be written at all.
    probe_report_dir(&input.report_dir).context(
        "nothing was sent: the report directory cannot be written (fix --report-dir or its permissions, then run the same command again)",
    )?;
    let input_path = std::fs::canonicalize(&input.csv)
        .with_context(|| format!("cannot open `{}`", input.csv.display()))?;
    let stamp = InputStamp::take(&input_path);
    let fingerprint = fingerprint(&input_path)?;
    let (config, config_hash) = cfg.payload_settings(&mapping, &source).fingerprint();
    let spec = RunSpec {
        input: input_path.display().to_string(),
        fingerprint,
        config_hash,
        config,
        scope: cfg.scope(),
    };
    Ok(Input {
        source,
        mapping,
        validator,
        spec,
        stamp,
    })
}

/// Creates the report directory (owner-only) and a file in it, removed at once.
fn probe_report_dir(dir: &Path) -> Result<()> {
    create_private_dir(dir)
        .with_context(|| format!("cannot create report directory `{}`", dir.display()))?;
    let probe = crate::fsutil::AtomicFile::create(&dir.join("summary.json"))
        .with_context(|| format!("cannot write in `{}`", dir.display()))?;
    drop(probe);
    Ok(())
}

/// The input's size and content hash (`size:xxh3-128`). (The progress line's estimate of
/// the rows is the reader's, which knows workbooks and compressed files.)
fn fingerprint(path: &Path) -> Result<String> {
    let mut file =
        std::fs::File::open(path).with_context(|| format!("cannot open `{}`", path.display()))?;
    let mut hasher = xxhash_rust::xxh3::Xxh3::new();
    let mut buf = vec![0u8; 1 << 20];
    let mut size = 0u64;
    let interrupt = crate::interrupt::install();
    loop {
        // A large file takes a while: Ctrl-C stops here, before anything is sent.
        interrupt.check()?;
        let n = file
            .read(&mut buf)
            .with_context(|| format!("cannot read `{}`", path.display()))?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
        size += n as u64;
    }
    Ok(format!("{size}:{:032x}", hasher.digest128()))
}

/// The input's size and modification time when the run started, to notice a file that
/// changes while it is read.
#[derive(Debug)]
pub(super) struct InputStamp {
    path: PathBuf,
    stamp: Option<(u64, Option<SystemTime>)>,
}

impl InputStamp {
    fn take(path: &Path) -> InputStamp {
        InputStamp {
            path: path.to_owned(),
            stamp: std::fs::metadata(path)
                .ok()
                .map(|m| (m.len(), m.modified().ok())),
        }
    }

    /// Whether the file's size or modification time moved since [`InputStamp::take`].
    pub(super) fn changed(&self) -> bool {
        InputStamp::take(&self.path).stamp != self.stamp
    }
}

/// Takes the state file's lock: one run at a time per state file, and a lock left by a
/// killed run is taken over. `Ok(None)`: another run holds it (said on `stderr`).
pub(super) fn lock(cfg: &ImportConfig, stderr: &mut dyn Write) -> Result<Option<RunLock>> {
    if let Some(dir) = cfg.state.parent().filter(|d| !d.as_os_str().is_empty()) {
        create_private_dir(dir)
            .with_context(|| format!("cannot create the state directory `{}`", dir.display()))?;
    }
    match RunLock::acquire(&cfg.state) {
        Ok(lock) => {
            if let Some(stale) = &lock.stale {
                tracing::warn!(
                    "taking over the lock `{}` left by a run that ended without releasing it ({stale})",
                    lock.path().display()
                );
            }
            Ok(Some(lock))
        }
        Err(LockError::Held(holder)) => {
            Event::warn(
                "locked",
                format!(
                    "nl-import: another run is using `{}` ({}); nothing was done. Wait for it to finish, or use another --state file",
                    cfg.state.display(),
                    if holder.is_empty() {
                        "starting up"
                    } else {
                        &holder
                    }
                ),
            )
            .with("state_file", &cfg.state)
            .with("exit_code", crate::exit::LOCKED)
            .write_to(stderr)?;
            Ok(None)
        }
        Err(LockError::Io(e)) => Err(e),
    }
}

/// The run this session works on.
pub(super) struct Session {
    /// Its id.
    pub run_id: i64,
    /// What an earlier session left, when this one resumes it.
    pub resume: Option<ResumeState>,
}

/// Resumes the unfinished run of the same input and configuration, or begins a new one
/// (`--restart` abandons an unfinished run); an unfinished run of a changed file or
/// configuration is refused with what to do.
pub(super) fn start(
    cfg: &ImportConfig,
    checkpoint: &mut Checkpoint,
    spec: &RunSpec,
) -> Result<Session> {
    let Some(run) = checkpoint.unfinished_run(&spec.input)? else {
        return Ok(Session {
            run_id: checkpoint.begin_run(spec)?,
            resume: None,
        });
    };
    if cfg.restart {
        checkpoint.abandon(run.id)?;
        return Ok(Session {
            run_id: checkpoint.begin_run(spec)?,
            resume: None,
        });
    }
    if run.fingerprint == spec.fingerprint && run.config_hash == spec.config_hash {
        return Ok(Session {
            run_id: run.id,
            resume: Some(checkpoint.resume(run.id)?),
        });
    }
    let what = if run.fingerprint != spec.fingerprint {
        "the file has changed since"
    } else {
        "the configuration (mapping, region, encoding, delimiter, source or API URL) differs from"
    };
    bail!(
        "`{}` holds an unfinished run (#{}, started {}, {} rows imported) of `{}`, and {what} that run. \
         Run the same command as then to finish it, pass --restart to abandon it and start over, \
         or use another --state file",
        cfg.state.display(),
        run.id,
        run.started_at,
        run.imported,
        spec.input
    );
}
