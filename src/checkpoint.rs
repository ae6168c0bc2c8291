//! Checkpoint: the SQLite state file, the truth about every run. It records the run (input
//! fingerprint, configuration), each settled batch with the identities of its leads, every
//! rejected row with its problems, original fields and the lead it identifies, and the
//! frontier (every row up to it is settled). Each commit is one transaction, of one batch
//! outcome or of several queued together; a killed process loses at most the batches in
//! flight and those settled but not committed yet, which a resumed run reads and sends
//! again (the endpoint upserts). Beside the runs it keeps the delta state of each scope:
//! per lead, the hash of the payload the API last accepted, and that payload (see
//! [`delta`]).
//!
//! The schema is versioned and migrated forward when a file is opened (`schema`).
//!
//! The file holds personal data: it is created owner-only, in an owner-only directory. It
//! never holds the API key.

pub mod delta;
mod schema;

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, Result, bail};
use rusqlite::{Connection, OpenFlags, params};
use serde::Serialize;

use crate::fsutil::{create_private_dir, create_private_file};
use crate::lead::{ErrorClass, Problem};
use crate::pipeline::{DuplicateIndex, IndexKeys, SkipPlan};
use crate::report::RejectedRow;
use crate::stats::Counts;

pub use schema::SCHEMA_VERSION;
pub(crate) use schema::{decode_key, encode_key};

/// The key a lead is known by in the delta state: the 128-bit hash of its `lead_id`. The
/// one place this hash is computed.
pub fn lead_key_of(lead_id: &str) -> u128 {
    DuplicateIndex::id_key(lead_id)
}

/// The key of the lead a row stands for, from the identities the pipeline found: its
/// `lead_id`'s hash when the file has an ID column, else the hash of the `lead_id` derived
/// from its phone (`phone:+<E.164>`); `None` when the row identifies no lead.
pub fn lead_key(keys: &IndexKeys) -> Option<u128> {
    match (keys.id, keys.phone) {
        (Some(id), _) => Some(id),
        (None, Some(phone)) => Some(lead_key_of(&format!("phone:+{phone}"))),
        (None, None) => None,
    }
}

/// A run's lifecycle, as stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RunStatus {
    /// A process is (or was, until it was killed) working on it.
    Running,
    /// Stopped by Ctrl-C or a time budget; resumable.
    Interrupted,
    /// Stopped by the API (401, 403, 404); resumable once the cause is fixed.
    Stopped,
    /// Read to the end, but some batches ran out of retries; resumable.
    Incomplete,
    /// Every row settled.
    Done,
    /// Replaced by a `--restart`.
    Abandoned,
}

impl RunStatus {
    const ALL: [RunStatus; 6] = [
        RunStatus::Running,
        RunStatus::Interrupted,
        RunStatus::Stopped,
        RunStatus::Incomplete,
        RunStatus::Done,
        RunStatus::Abandoned,
    ];

    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            RunStatus::Running => "running",
            RunStatus::Interrupted => "interrupted",
            RunStatus::Stopped => "stopped",
            RunStatus::Incomplete => "incomplete",
            RunStatus::Done => "done",
            RunStatus::Abandoned => "abandoned",
        }
    }

    /// The status stored as `s`; `None` for a name this build does not know.
    pub fn parse(s: &str) -> Option<RunStatus> {
        RunStatus::ALL
            .into_iter()
            .find(|status| status.as_str() == s)
    }

    /// Whether running the same command again continues this run.
    pub fn resumable(self) -> bool {
        !matches!(self, RunStatus::Done | RunStatus::Abandoned)
    }
}

/// A run as `status` shows it.
#[derive(Debug, Clone, Serialize)]
pub struct RunInfo {
    /// Run id.
    pub id: i64,
    /// The input file (absolute path).
    pub input: String,
    /// Size and content hash of the input.
    pub fingerprint: String,
    /// Hash of the configuration that shapes the payloads.
    pub config_hash: String,
    /// That configuration, as JSON text.
    pub config: String,
    /// The delta scope: API and `--source` (whose leads `--delete-missing` may remove).
    pub scope: String,
    /// Lifecycle state.
    pub status: RunStatus,
    /// Every row up to this one is settled.
    pub frontier: u64,
    /// Data rows in the file, once read to the end.
    pub rows_total: Option<u64>,
    /// Leads the API accepted.
    pub imported: u64,
    /// Valid rows not sent because the API already holds the same payload.
    pub unchanged: u64,
    /// Rows rejected (locally or by the API, `gave_up` included).
    pub rejected: u64,
    /// Rows that gave up after retries (part of `rejected`).
    pub gave_up: u64,
    /// Leads `--delete-missing` deleted (as the API counted them).
    pub deleted: u64,
    /// Ids `--delete-missing` sent that the API did not find.
    pub not_found: u64,
    /// Requests sent, every session.
    pub requests: u64,
    /// Retries, every session.
    pub retries: u64,
    /// 429 answers, every session.
    pub throttled: u64,
    /// Batch splits, every session.
    pub splits: u64,
    /// Processes that worked on the run.
    pub sessions: u64,
    /// The last process's id.
    pub pid: Option<i64>,
    /// When the run started (RFC 3339).
    pub started_at: String,
    /// Last commit (RFC 3339).
    pub updated_at: String,
    /// When the run ended, if it did.
    pub finished_at: Option<String>,
    /// Why the run stopped, if it did early.
    pub message: Option<String>,
}

/// What identifies a run: the same input and config resume it.
#[derive(Debug, Clone)]
pub struct RunSpec {
    /// The input file (absolute path).
    pub input: String,
    /// Size and content hash.
    pub fingerprint: String,
    /// Hash of `config`.
    pub config_hash: String,
    /// The configuration that shapes the payloads, as JSON text (to explain a mismatch).
    pub config: String,
    /// The delta scope (API and `--source`).
    pub scope: String,
}

/// A lead the API accepted: what the delta state keeps of it.
#[derive(Debug, Clone)]
pub struct AcceptedLead {
    /// [`lead_key_of`] its `lead_id`.
    pub key: u128,
    /// Its `lead_id`.
    pub lead_id: String,
    /// The hash of its payload.
    pub hash: u64,
    /// The payload as sent (JSON), kept as the undo of a later delete.
    pub payload: String,
}

/// One settled row of a batch, with the identities a resumed run puts back in the index.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SettledRow {
    /// 1-based data row.
    pub row: u64,
    /// Its identities.
    pub keys: IndexKeys,
}

/// One settled batch, as committed.
#[derive(Debug, Clone, Default)]
pub struct BatchRecord {
    /// Order of dispatch.
    pub seq: u64,
    /// The leads settled for good (accepted, refused or unchanged; not gave-up).
    pub settled: Vec<SettledRow>,
    /// All leads in the batch.
    pub leads: u64,
    /// Accepted by the API.
    pub accepted: u64,
    /// Refused by the API.
    pub refused: u64,
    /// Gave up after retries.
    pub gave_up: u64,
    /// Requests spent on it.
    pub attempts: u64,
    /// Valid rows not sent because their payload is unchanged since the API accepted it.
    pub unchanged: u64,
    /// The leads the API accepted (the delta state).
    pub accepted_leads: Vec<AcceptedLead>,
}

/// A rejected row as committed: the row for the report, and the lead it still identifies
/// (`None`: it identifies none, which makes every delete of the run uncertain).
#[derive(Debug, Clone)]
pub struct Rejection {
    /// The row, its problems and its fields.
    pub row: RejectedRow,
    /// [`lead_key`] of the row.
    pub lead_key: Option<u128>,
}

/// What a resumed run starts from.
#[derive(Debug, Default)]
pub struct ResumeState {
    /// Rows not to read again.
    pub skip: SkipPlan,
    /// Leads accepted so far.
    pub imported: u64,
    /// Rows found unchanged so far.
    pub unchanged: u64,
    /// Rows rejected so far (gave-up rows excluded: they are tried again).
    pub rejected: u64,
    /// The next batch sequence number.
    pub next_seq: u64,
    /// Counters of earlier sessions (requests, retries, throttled, splits).
    pub earlier: Counts,
}

/// What the batches of a resumed run hold besides what [`ResumeState`] has
/// ([`Checkpoint::settled`]): read on a thread of their own while the file is read past
/// the frontier.
#[derive(Debug, Default)]
pub struct Settled {
    /// The identities of the settled rows.
    pub index: DuplicateIndex,
    /// Rows found unchanged so far.
    pub unchanged: u64,
    /// The next batch sequence number.
    pub next_seq: u64,
    /// Settled rows after the frontier.
    pub after_frontier: Vec<u64>,
}

/// How every connection that writes the state file is set up. WAL with NORMAL: a committed
/// transaction survives the process being killed; only a power loss can undo the last few,
/// which a resumed run sends again (upsert).
const WRITING: &str = "PRAGMA synchronous=NORMAL; PRAGMA foreign_keys=ON;";

/// A connection to the state file at `path`, which waits up to 10 s for another
/// connection's lock.
fn connect(path: &Path, flags: OpenFlags) -> Result<Connection> {
    let conn = Connection::open_with_flags(path, flags)
        .with_context(|| format!("cannot open the state file `{}`", path.display()))?;
    conn.busy_timeout(Duration::from_secs(10))?;
    Ok(conn)
}

/// The open state file.
#[derive(Debug)]
pub struct Checkpoint {
    conn: Connection,
    path: PathBuf,
    /// The file opened for writing (device and inode), to notice it deleted or replaced.
    identity: Option<FileId>,
}

/// A file's device and inode.
type FileId = (u64, u64);

fn file_id(meta: &std::fs::Metadata) -> Option<FileId> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        Some((meta.dev(), meta.ino()))
    }
    #[cfg(not(unix))]
    {
        let _ = meta;
        None
    }
}

/// The state file is no longer at its path while a run writes it: whatever the run
/// commits from then on would be lost (deleted or moved), or would not be what the next
/// run reads (replaced), so the run stops.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StateFileGone {
    /// Nothing is at the path any more.
    #[error(
        "the state file `{0}` was deleted or moved away while this run was using it: stopped, rather than go on recording progress that no later run would find. The leads sent so far are on the server; running the same command again starts over and sends them again (as upserts: none is doubled)"
    )]
    Deleted(PathBuf),
    /// Another file is at the path now.
    #[error(
        "the state file `{0}` was replaced by another file while this run was using it: stopped without writing to either. The leads sent so far are on the server; check which state file you mean to keep, then run the same command again"
    )]
    Replaced(PathBuf),
}

impl Checkpoint {
    /// Opens (creating if needed) the state file at `path`, owner-only, and brings its
    /// schema up to date: a file from a newer version or that is not a state file is
    /// refused, never overwritten.
    pub fn open(path: &Path) -> Result<Checkpoint> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty())
            && !dir.exists()
        {
            create_private_dir(dir).with_context(|| {
                format!("cannot create the state directory `{}`", dir.display())
            })?;
        }
        if !path.exists() {
            create_private_file(path)
                .with_context(|| format!("cannot create the state file `{}`", path.display()))?;
        }
        let conn = connect(path, OpenFlags::default())?;
        let identity = std::fs::metadata(path)
            .with_context(|| format!("cannot open the state file `{}`", path.display()))?;
        let mut checkpoint = Checkpoint {
            conn,
            path: path.to_owned(),
            identity: file_id(&identity),
        };
        checkpoint.init().with_context(|| {
            format!(
                "`{}` is not a usable nl-import state file (pass --state to use another file)",
                path.display()
            )
        })?;
        Ok(checkpoint)
    }

    /// Opens an existing state file for reading only (`status`, `--dry-run`, while an
    /// import may run). A file of an older schema is read through a private copy brought
    /// up to date in memory, the file itself untouched.
    pub fn open_read_only(path: &Path) -> Result<Checkpoint> {
        if !path.exists() {
            bail!(
                "no state file at `{}` (nothing imported yet?)",
                path.display()
            );
        }
        let conn = connect(
            path,
            OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )?;
        let unusable = || format!("`{}` is not a usable nl-import state file", path.display());
        let found = schema::inspect(&conn).with_context(unusable)?;
        let conn = match found {
            schema::Found::Version(v) if v == SCHEMA_VERSION => conn,
            found => {
                let mut copy = Connection::open_in_memory()?;
                rusqlite::backup::Backup::new(&conn, &mut copy)
                    .and_then(|b| b.run_to_completion(256, Duration::ZERO, None))
                    .with_context(unusable)?;
                schema::upgrade(&mut copy, &found).with_context(unusable)?;
                copy
            }
        };
        Ok(Checkpoint {
            conn,
            path: path.to_owned(),
            identity: None,
        })
    }

    /// A second connection to the same state file, for writing on another thread while
    /// this one stays idle (the coordinator's committer). The file is already open and up
    /// to date: nothing is migrated or merged; it is checked to be the same file.
    pub fn writer(&self) -> Result<Checkpoint> {
        let conn = connect(
            &self.path,
            OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )?;
        conn.execute_batch(WRITING)?;
        let writer = Checkpoint {
            conn,
            path: self.path.clone(),
            identity: self.identity,
        };
        writer.ensure_in_place()?;
        Ok(writer)
    }

    /// `Err(`[`StateFileGone`]`)` when the file opened for writing is no longer the one at
    /// its path (deleted, moved away, or replaced): one `stat`, cheap enough for every
    /// commit. SQLite keeps writing to the file it opened, so nothing else would notice.
    pub fn ensure_in_place(&self) -> Result<()> {
        let Some(opened) = self.identity else {
            return Ok(());
        };
        match std::fs::metadata(&self.path) {
            Ok(meta) if file_id(&meta) == Some(opened) => Ok(()),
            Ok(_) => Err(StateFileGone::Replaced(self.path.clone()).into()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                Err(StateFileGone::Deleted(self.path.clone()).into())
            }
            Err(e) => Err(anyhow::Error::new(e).context(format!(
                "cannot check the state file `{}`",
                self.path.display()
            ))),
        }
    }

    /// The file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn init(&mut self) -> Result<()> {
        // Someone else's database, or a newer schema, is refused before anything is written
        // to it (not even the switch to WAL mode).
        let found = schema::inspect(&self.conn)?;
        let mode: String = self
            .conn
            .query_row("PRAGMA journal_mode=WAL", [], |r| r.get(0))
            .context("the file is not an SQLite database, or is damaged")?;
        if !mode.eq_ignore_ascii_case("wal") {
            bail!("cannot switch the state file to WAL mode (got {mode})");
        }
        self.conn.execute_batch(WRITING)?;
        let fresh = found == schema::Found::Empty;
        schema::upgrade(&mut self.conn, &found)?;
        // What a killed session had accepted, into the delta state before anything reads it.
        self.merge_payloads()?;
        // Pages freed by pruning go back to the file system: a file made before that
        // (schema 1) is rewritten once with incremental vacuum on.
        let auto_vacuum: i64 = self
            .conn
            .query_row("PRAGMA auto_vacuum", [], |r| r.get(0))?;
        if auto_vacuum != 2 {
            self.conn
                .execute_batch("PRAGMA auto_vacuum = INCREMENTAL; VACUUM;")
                .context("cannot switch the state file to incremental vacuum")?;
        }
        if fresh {
            self.conn.execute(
                "INSERT OR REPLACE INTO meta (key, value) VALUES ('created_by', ?1)",
                [concat!("nl-import ", env!("CARGO_PKG_VERSION"))],
            )?;
        }
        // The WAL and shared-memory files hold the same data: owner-only too.
        #[cfg(unix)]
        for suffix in ["-wal", "-shm"] {
            use std::os::unix::fs::PermissionsExt;
            let mut name = self.path.as_os_str().to_owned();
            name.push(suffix);
            let _ = std::fs::set_permissions(&name, std::fs::Permissions::from_mode(0o600));
        }
        Ok(())
    }

    /// The latest run of `input` that can be resumed, if any.
    pub fn unfinished_run(&self, input: &str) -> Result<Option<RunInfo>> {
        Ok(self
            .runs()?
            .into_iter()
            .rev()
            .find(|r| r.input == input && r.status.resumable()))
    }

    /// Every run, oldest first.
    pub fn runs(&self) -> Result<Vec<RunInfo>> {
        let mut stmt = self.conn.prepare(
            "SELECT r.*,
                coalesce(r.final_rejected,
                    (SELECT count(*) FROM rejections x WHERE x.run_id = r.id)) AS n_rejected,
                coalesce(r.final_gave_up,
                    (SELECT count(*) FROM rejections x WHERE x.run_id = r.id AND x.class = 'gave_up'))
                    AS n_gave_up,
                coalesce(r.final_unchanged,
                    (SELECT coalesce(sum(b.unchanged), 0) FROM batches b WHERE b.run_id = r.id))
                    AS n_unchanged
             FROM runs r ORDER BY r.id",
        )?;
        let rows = stmt.query_map([], |r| {
            let count = |name: &str| r.get::<_, i64>(name).map(|n| n as u64);
            let status: String = r.get("status")?;
            Ok(RunInfo {
                id: r.get("id")?,
                input: r.get("input")?,
                fingerprint: r.get("fingerprint")?,
                config_hash: r.get("config_hash")?,
                config: r.get("config")?,
                scope: r.get("scope")?,
                status: RunStatus::parse(&status).ok_or_else(|| {
                    rusqlite::Error::FromSqlConversionFailure(
                        0,
                        rusqlite::types::Type::Text,
                        format!("unknown run status `{status}`").into(),
                    )
                })?,
                frontier: count("frontier")?,
                rows_total: r.get::<_, Option<i64>>("rows_total")?.map(|n| n as u64),
                imported: count("imported")?,
                unchanged: count("n_unchanged")?,
                rejected: count("n_rejected")?,
                gave_up: count("n_gave_up")?,
                deleted: count("deleted")?,
                not_found: count("not_found")?,
                requests: count("requests")?,
                retries: count("retries")?,
                throttled: count("throttled")?,
                splits: count("splits")?,
                sessions: count("sessions")?,
                pid: r.get("pid")?,
                started_at: r.get("started_at")?,
                updated_at: r.get("updated_at")?,
                finished_at: r.get("finished_at")?,
                message: r.get("message")?,
            })
        })?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// Starts a new run.
    pub fn begin_run(&mut self, spec: &RunSpec) -> Result<i64> {
        let now = now_rfc3339();
        let tx = self.conn.transaction()?;
        tx.execute(
            "INSERT OR IGNORE INTO scopes (name) VALUES (?1)",
            [&spec.scope],
        )?;
        tx.execute(
            "INSERT INTO runs (input, fingerprint, config_hash, config, scope, status, pid, started_at, updated_at)
             VALUES (?1, ?2, ?3, ?4, ?5, 'running', ?6, ?7, ?7)",
            params![
                spec.input,
                spec.fingerprint,
                spec.config_hash,
                spec.config,
                spec.scope,
                std::process::id(),
                now
            ],
        )?;
        let id = tx.last_insert_rowid();
        tx.commit()?;
        Ok(id)
    }

    /// Marks a run abandoned (by `--restart`).
    pub fn abandon(&mut self, run: i64) -> Result<()> {
        self.set_status(run, RunStatus::Abandoned, Some("replaced by --restart"))
    }

    /// Records that a run resumed under a configuration described differently (by an
    /// older nl-import) is the same: from now on it carries this build's description.
    pub fn adopt_config(&mut self, run: i64, spec: &RunSpec) -> Result<()> {
        self.conn.execute(
            "UPDATE runs SET config = ?2, config_hash = ?3 WHERE id = ?1",
            params![run, spec.config, spec.config_hash],
        )?;
        Ok(())
    }

    /// Takes a run up again: forgets the rows that gave up (they are tried again), and
    /// returns what to skip and the counts so far, but for what only its batches tell
    /// ([`Checkpoint::settled`], loaded apart).
    pub fn resume(&mut self, run: i64) -> Result<ResumeState> {
        let tx = self.conn.transaction()?;
        let lowest_gave_up: Option<i64> = tx.query_row(
            "SELECT min(row) FROM rejections WHERE run_id = ?1 AND class = 'gave_up'",
            [run],
            |r| r.get(0),
        )?;
        tx.execute(
            "DELETE FROM rejections WHERE run_id = ?1 AND class = 'gave_up'",
            [run],
        )?;
        let (frontier, imported, earlier) = tx.query_row(
            "SELECT frontier, imported, requests, retries, throttled, splits FROM runs WHERE id = ?1",
            [run],
            |r| {
                let count = |name: &str| r.get::<_, i64>(name).map(|n| n as u64);
                Ok((
                    r.get::<_, i64>("frontier")?,
                    count("imported")?,
                    Counts {
                        requests: count("requests")?,
                        retries: count("retries")?,
                        throttled: count("throttled")?,
                        splits: count("splits")?,
                        ..Counts::default()
                    },
                ))
            },
        )?;
        let frontier = match lowest_gave_up {
            Some(row) => frontier.min(row - 1),
            None => frontier,
        }
        .max(0);
        tx.execute(
            "UPDATE runs SET status = 'running', frontier = ?2, pid = ?3, sessions = sessions + 1,
                             finished_at = NULL, message = NULL, updated_at = ?4 WHERE id = ?1",
            params![run, frontier, std::process::id(), now_rfc3339()],
        )?;
        tx.commit()?;

        let mut state = ResumeState {
            earlier,
            imported,
            ..ResumeState::default()
        };
        state.skip.through = frontier as u64;
        let mut stmt = self
            .conn
            .prepare("SELECT row FROM rejections WHERE run_id = ?1 AND row > ?2")?;
        let rows = stmt.query_map(params![run, frontier], |r| r.get::<_, i64>(0))?;
        for row in rows {
            state.skip.rows.insert(row? as u64);
        }
        state.rejected = self.conn.query_row(
            "SELECT count(*) FROM rejections WHERE run_id = ?1",
            [run],
            |r| r.get::<_, i64>(0),
        )? as u64;
        Ok(state)
    }

    /// What the batches of run `run` hold, for a session that resumes it from `frontier`:
    /// the duplicate index of the rows they settled, so that a later row duplicating one
    /// of them is still caught (sized at once for the `imported` leads, filled in file
    /// order); the rows found unchanged; the next batch number; and the rows settled past
    /// the frontier (by the batches in flight when the session stopped). One scan.
    pub fn settled(
        &self,
        run: i64,
        track_ids: bool,
        (frontier, imported): (u64, u64),
    ) -> Result<Settled> {
        let mut settled = Settled {
            index: DuplicateIndex::new(track_ids),
            ..Settled::default()
        };
        settled
            .index
            .reserve(usize::try_from(imported).unwrap_or(usize::MAX));
        let mut stmt = self
            .conn
            .prepare("SELECT seq, unchanged, keys FROM batches WHERE run_id = ?1 ORDER BY seq")?;
        let mut rows = stmt.query([run])?;
        let mut buffer = Vec::with_capacity(4096);
        while let Some(r) = rows.next()? {
            settled.next_seq = settled.next_seq.max(r.get::<_, i64>(0)? as u64 + 1);
            settled.unchanged += r.get::<_, i64>(1)? as u64;
            for row in decode_keys(r.get_ref(2)?.as_blob()?) {
                if row.row > frontier {
                    settled.after_frontier.push(row.row);
                }
                buffer.push((row.row, row.keys));
            }
            if buffer.len() >= 4000 {
                settled.index.restore(&buffer);
                buffer.clear();
            }
        }
        settled.index.restore(&buffer);
        Ok(settled)
    }

    /// Commits one step: settled batches, rejected rows, the new frontier and the
    /// counters of every session so far (`totals`), in one transaction.
    pub fn commit(
        &mut self,
        run: i64,
        batches: &[BatchRecord],
        rejections: &[Rejection],
        frontier: u64,
        totals: &Counts,
    ) -> Result<()> {
        self.ensure_in_place()?;
        let tx = self.conn.transaction()?;
        let scope: Option<i64> = if batches.iter().any(|b| !b.accepted_leads.is_empty()) {
            Some(tx.query_row(
                "SELECT s.id FROM scopes s JOIN runs r ON r.scope = s.name WHERE r.id = ?1",
                [run],
                |r| r.get(0),
            )?)
        } else {
            None
        };
        for b in batches {
            insert_batch(&tx, run, b)?;
            if let Some(scope) = scope {
                delta::remember(&tx, scope, &b.accepted_leads)?;
            }
        }
        insert_rejections(&tx, run, rejections)?;
        let accepted = batches.iter().map(|b| b.accepted).sum::<u64>() as i64;
        tx.prepare_cached(
            "UPDATE runs SET frontier = max(frontier, ?2), imported = imported + ?3,
                requests = ?4, retries = ?5, throttled = ?6, splits = ?7, updated_at = ?8
             WHERE id = ?1",
        )?
        .execute(params![
            run,
            frontier as i64,
            accepted,
            totals.requests as i64,
            totals.retries as i64,
            totals.throttled as i64,
            totals.splits as i64,
            now_rfc3339(),
        ])?;
        tx.commit()?;
        Ok(())
    }

    /// Records how a session of the run ended, and merges the payloads it had accepted
    /// into the delta state.
    pub fn finish(
        &mut self,
        run: i64,
        status: RunStatus,
        rows_total: Option<u64>,
        message: Option<&str>,
    ) -> Result<()> {
        self.ensure_in_place()?;
        self.merge_payloads()?;
        self.conn.execute(
            "UPDATE runs SET rows_total = coalesce(?2, rows_total), updated_at = ?3 WHERE id = ?1",
            params![run, rows_total.map(|n| n as i64), now_rfc3339()],
        )?;
        self.set_status(run, status, message)
    }

    fn set_status(&mut self, run: i64, status: RunStatus, message: Option<&str>) -> Result<()> {
        let now = now_rfc3339();
        let finished = (!matches!(status, RunStatus::Running)).then_some(now.as_str());
        self.conn.execute(
            "UPDATE runs SET status = ?2, message = ?3, finished_at = ?4, updated_at = ?5 WHERE id = ?1",
            params![run, status.as_str(), message, finished, now],
        )?;
        Ok(())
    }

    /// Drops what finished runs (done, or abandoned by `--restart`) no longer need: their
    /// batches and rejected rows, once their counts are kept in `runs`; and gives the
    /// freed pages back (incremental vacuum). What stays: everything of unfinished runs
    /// (resume and reports), the summary of every run, and the delta state, so that the
    /// file grows with the number of leads, not of runs.
    pub fn prune(&mut self) -> Result<()> {
        const FINISHED: &str = "SELECT id FROM runs WHERE status IN ('done', 'abandoned')";
        let tx = self.conn.transaction()?;
        tx.execute(
            &format!(
                "UPDATE runs SET
                    final_rejected = (SELECT count(*) FROM rejections x WHERE x.run_id = runs.id),
                    final_gave_up = (SELECT count(*) FROM rejections x
                                     WHERE x.run_id = runs.id AND x.class = 'gave_up'),
                    final_unchanged = (SELECT coalesce(sum(b.unchanged), 0) FROM batches b
                                       WHERE b.run_id = runs.id)
                 WHERE final_rejected IS NULL AND id IN ({FINISHED})"
            ),
            [],
        )?;
        let dropped = tx.execute(
            &format!("DELETE FROM batches WHERE run_id IN ({FINISHED})"),
            [],
        )? + tx.execute(
            &format!("DELETE FROM rejections WHERE run_id IN ({FINISHED})"),
            [],
        )?;
        tx.commit()?;
        if dropped > 0 {
            self.conn.execute_batch("PRAGMA incremental_vacuum;")?;
        }
        Ok(())
    }

    /// Calls `each` with every rejected row of `run`, in row order.
    pub fn for_each_rejection(
        &self,
        run: i64,
        mut each: impl FnMut(RejectedRow) -> Result<()>,
    ) -> Result<()> {
        let mut stmt = self.conn.prepare(
            "SELECT row, problems, original FROM rejections WHERE run_id = ?1 ORDER BY row",
        )?;
        let mut rows = stmt.query([run])?;
        while let Some(r) = rows.next()? {
            let row: i64 = r.get("row")?;
            let problems: Vec<(ErrorClass, String, String)> =
                serde_json::from_str(r.get_ref("problems")?.as_str()?)
                    .context("a rejection in the state file is damaged")?;
            let original: Vec<String> = serde_json::from_str(r.get_ref("original")?.as_str()?)
                .context("a rejection in the state file is damaged")?;
            each(RejectedRow {
                row: row as u64,
                // Not kept in the state file: the report finds it in the input.
                line: 0,
                problems: problems
                    .into_iter()
                    .map(|(class, field, message)| Problem::new(class, field, message))
                    .collect(),
                original,
            })?;
        }
        Ok(())
    }

    /// Counts of `run`'s rejected rows by class.
    pub fn rejected_by_class(&self, run: i64) -> Result<Vec<(ErrorClass, u64)>> {
        let mut stmt = self
            .conn
            .prepare("SELECT class, count(*) FROM rejections WHERE run_id = ?1 GROUP BY class")?;
        let rows = stmt.query_map([run], |r| Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?)))?;
        let mut out = Vec::new();
        for row in rows {
            let (class, n) = row?;
            if let Some(class) = ErrorClass::ALL.iter().find(|c| c.as_str() == class) {
                out.push((*class, n as u64));
            }
        }
        out.sort();
        Ok(out)
    }
}

fn insert_batch(tx: &rusqlite::Transaction<'_>, run: i64, b: &BatchRecord) -> Result<()> {
    let first = b.settled.iter().map(|s| s.row).min().unwrap_or(0);
    let last = b.settled.iter().map(|s| s.row).max().unwrap_or(0);
    tx.prepare_cached(
        "INSERT OR REPLACE INTO batches (run_id, seq, first_row, last_row, leads, accepted, refused, gave_up, attempts, keys, unchanged)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
    )?
    .execute(params![
        run,
        b.seq as i64,
        first as i64,
        last as i64,
        b.leads as i64,
        b.accepted as i64,
        b.refused as i64,
        b.gave_up as i64,
        b.attempts as i64,
        encode_keys(&b.settled),
        b.unchanged as i64,
    ])?;
    Ok(())
}

fn insert_rejections(
    tx: &rusqlite::Transaction<'_>,
    run: i64,
    rejections: &[Rejection],
) -> Result<()> {
    let mut insert = tx.prepare_cached(
        "INSERT OR REPLACE INTO rejections (run_id, row, class, problems, original, lead_key)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
    )?;
    for r in rejections {
        let problems: Vec<(&str, &str, &str)> = r
            .row
            .problems
            .iter()
            .map(|p| (p.class.as_str(), p.field.as_str(), p.message.as_str()))
            .collect();
        // An empty key: the row identifies no lead (NULL: written before schema 2).
        let key: Vec<u8> = r.lead_key.map_or_else(Vec::new, |k| encode_key(k).to_vec());
        insert.execute(params![
            run,
            r.row.row as i64,
            r.row.class().as_str(),
            serde_json::to_string(&problems)?,
            serde_json::to_string(&r.row.original)?,
            key,
        ])?;
    }
    Ok(())
}

/// Per lead: row (u64), phone digits (u64, 0 = none), lead_id hash (u128, 0 = none), all
/// little-endian: 32 bytes.
fn encode_keys(settled: &[SettledRow]) -> Vec<u8> {
    let mut out = Vec::with_capacity(settled.len() * 32);
    for s in settled {
        out.extend_from_slice(&s.row.to_le_bytes());
        out.extend_from_slice(&s.keys.phone.unwrap_or(0).to_le_bytes());
        out.extend_from_slice(&s.keys.id.unwrap_or(0).to_le_bytes());
    }
    out
}

fn decode_keys(blob: &[u8]) -> impl Iterator<Item = SettledRow> + '_ {
    blob.chunks_exact(32).map(|c| {
        let row = u64::from_le_bytes(c[0..8].try_into().expect("8 bytes"));
        let phone = u64::from_le_bytes(c[8..16].try_into().expect("8 bytes"));
        let id = u128::from_le_bytes(c[16..32].try_into().expect("16 bytes"));
        SettledRow {
            row,
            keys: IndexKeys {
                phone: (phone != 0).then_some(phone),
                id: (id != 0).then_some(id),
            },
        }
    })
}

fn now_rfc3339() -> String {
    humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec() -> RunSpec {
        RunSpec {
            input: "/data/leads.csv".into(),
            fingerprint: "100:abc".into(),
            config_hash: "cfg".into(),
            config: "{}".into(),
            scope: "api|".into(),
        }
    }

    fn rejected(row: u64, class: ErrorClass) -> Rejection {
        Rejection {
            row: RejectedRow {
                row,
                line: 0,
                problems: vec![Problem::new(class, "phone", "bad")],
                original: vec!["a".into(), "b".into()],
            },
            lead_key: None,
        }
    }

    fn settled(row: u64, keys: IndexKeys) -> SettledRow {
        SettledRow { row, keys }
    }

    #[test]
    fn keys_round_trip() {
        let rows = vec![
            settled(
                7,
                IndexKeys {
                    phone: Some(14155552671),
                    id: Some(u128::MAX - 3),
                },
            ),
            settled(9, IndexKeys::default()),
        ];
        assert_eq!(decode_keys(&encode_keys(&rows)).collect::<Vec<_>>(), rows);
    }

    #[test]
    fn a_resumed_run_skips_what_was_settled_and_retries_what_gave_up() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state").join("state.db");
        let mut cp = Checkpoint::open(&path).unwrap();
        let run = cp.begin_run(&spec()).unwrap();
        let keys = |p: u64| IndexKeys {
            phone: Some(p),
            id: None,
        };
        let batch = BatchRecord {
            seq: 0,
            settled: vec![settled(1, keys(11)), settled(3, keys(33))],
            leads: 2,
            accepted: 2,
            attempts: 1,
            ..Default::default()
        };
        cp.commit(
            run,
            std::slice::from_ref(&batch),
            &[rejected(2, ErrorClass::InvalidPhone)],
            3,
            &Counts::default(),
        )
        .unwrap();
        // Row 4 gave up; rows 6 and 7 settled after it; row 5 was in flight when killed.
        let batch = BatchRecord {
            seq: 1,
            settled: vec![settled(7, keys(77))],
            leads: 2,
            accepted: 1,
            gave_up: 1,
            attempts: 8,
            ..Default::default()
        };
        cp.commit(
            run,
            std::slice::from_ref(&batch),
            &[
                rejected(4, ErrorClass::GaveUp),
                rejected(6, ErrorClass::MissingPhone),
            ],
            4,
            &Counts {
                requests: 9,
                ..Default::default()
            },
        )
        .unwrap();
        drop(cp);

        let mut cp = Checkpoint::open(&path).unwrap();
        let info = cp.unfinished_run("/data/leads.csv").unwrap().unwrap();
        assert_eq!((info.id, info.frontier, info.imported), (run, 4, 3));
        let state = cp.resume(run).unwrap();
        assert_eq!(
            state.skip.through, 3,
            "the frontier falls back before row 4"
        );
        let mut after: Vec<u64> = state.skip.rows.iter().copied().collect();
        after.sort();
        assert_eq!(after, vec![6], "rejected after it");
        assert_eq!((state.imported, state.rejected), (3, 2));
        let settled = cp.settled(run, false, (state.skip.through, 3)).unwrap();
        assert_eq!(settled.next_seq, 2);
        assert_eq!(settled.index.len(), 3);
        assert_eq!(settled.after_frontier, vec![7], "settled after it");
        assert_eq!(state.earlier.requests, 9);
        let by_class = cp.rejected_by_class(run).unwrap();
        assert_eq!(
            by_class,
            vec![(ErrorClass::MissingPhone, 1), (ErrorClass::InvalidPhone, 1)]
                .into_iter()
                .collect::<std::collections::BTreeSet<_>>()
                .into_iter()
                .collect::<Vec<_>>()
        );
        let mut rows = Vec::new();
        cp.for_each_rejection(run, |r| {
            rows.push((r.row, r.class()));
            Ok(())
        })
        .unwrap();
        assert_eq!(
            rows,
            vec![(2, ErrorClass::InvalidPhone), (6, ErrorClass::MissingPhone)]
        );
    }

    #[test]
    fn the_state_file_is_owner_only_and_foreign_files_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s").join("state.db");
        Checkpoint::open(&path).unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode(&path), 0o600);
            assert_eq!(mode(path.parent().unwrap()), 0o700);
        }
        let garbage = dir.path().join("garbage.db");
        std::fs::write(
            &garbage,
            b"this is not a database, just text of some length.......",
        )
        .unwrap();
        let err = format!("{:#}", Checkpoint::open(&garbage).unwrap_err());
        assert!(err.contains("not a usable nl-import state file"), "{err}");
        assert_eq!(
            std::fs::read(&garbage).unwrap(),
            b"this is not a database, just text of some length.......",
            "never overwritten"
        );
        // Another program's SQLite database is refused and left byte for byte as it was
        // (not even switched to WAL mode).
        let foreign = dir.path().join("foreign.db");
        let conn = Connection::open(&foreign).unwrap();
        conn.execute_batch("CREATE TABLE t (x); INSERT INTO t VALUES (1);")
            .unwrap();
        drop(conn);
        let before = std::fs::read(&foreign).unwrap();
        let err = format!("{:#}", Checkpoint::open(&foreign).unwrap_err());
        assert!(err.contains("no nl-import metadata"), "{err}");
        assert_eq!(std::fs::read(&foreign).unwrap(), before, "never modified");
        // A newer schema is refused.
        let newer = dir.path().join("newer.db");
        Checkpoint::open(&newer).unwrap();
        let conn = Connection::open(&newer).unwrap();
        conn.execute(
            "UPDATE meta SET value = '99' WHERE key = 'schema_version'",
            [],
        )
        .unwrap();
        drop(conn);
        let err = format!("{:#}", Checkpoint::open(&newer).unwrap_err());
        assert!(err.contains("newer nl-import"), "{err}");
    }
}
