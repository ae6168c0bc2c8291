//! Checkpoint: the SQLite state file, the truth about every run. It records the run (input
//! fingerprint, configuration), each settled batch with the identities of its leads, every
//! rejected row with its problems and original fields, and the frontier (every row up to
//! it is settled). One transaction per batch outcome; a killed process loses at most the
//! batches in flight, which a resumed run reads and sends again (the endpoint upserts).
//!
//! The file holds personal data: it is created owner-only, in an owner-only directory. It
//! never holds the API key.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, Result, bail};
use rusqlite::{Connection, OpenFlags, OptionalExtension, params};
use serde::Serialize;

use crate::fsutil::{create_private_dir, create_private_file};
use crate::lead::{ErrorClass, Problem};
use crate::pipeline::{DuplicateIndex, IndexKeys, SkipPlan};
use crate::report::RejectedRow;

/// The schema this build reads and writes.
pub const SCHEMA_VERSION: i64 = 1;

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS meta (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS runs (
    id INTEGER PRIMARY KEY,
    input TEXT NOT NULL,
    fingerprint TEXT NOT NULL,
    config_hash TEXT NOT NULL,
    config TEXT NOT NULL,
    scope TEXT NOT NULL DEFAULT '',
    status TEXT NOT NULL,
    frontier INTEGER NOT NULL DEFAULT 0,
    rows_total INTEGER,
    imported INTEGER NOT NULL DEFAULT 0,
    requests INTEGER NOT NULL DEFAULT 0,
    retries INTEGER NOT NULL DEFAULT 0,
    throttled INTEGER NOT NULL DEFAULT 0,
    splits INTEGER NOT NULL DEFAULT 0,
    deleted INTEGER NOT NULL DEFAULT 0,
    sessions INTEGER NOT NULL DEFAULT 1,
    pid INTEGER,
    started_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    finished_at TEXT,
    message TEXT
);
CREATE TABLE IF NOT EXISTS batches (
    run_id INTEGER NOT NULL REFERENCES runs(id),
    seq INTEGER NOT NULL,
    first_row INTEGER NOT NULL,
    last_row INTEGER NOT NULL,
    leads INTEGER NOT NULL,
    accepted INTEGER NOT NULL,
    refused INTEGER NOT NULL,
    gave_up INTEGER NOT NULL,
    attempts INTEGER NOT NULL,
    unchanged INTEGER NOT NULL DEFAULT 0,
    keys BLOB NOT NULL,
    PRIMARY KEY (run_id, seq)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS leads (
    scope TEXT NOT NULL,
    lead_id TEXT NOT NULL,
    hash INTEGER NOT NULL,
    seen_run INTEGER NOT NULL,
    PRIMARY KEY (scope, lead_id)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS rejections (
    run_id INTEGER NOT NULL REFERENCES runs(id),
    row INTEGER NOT NULL,
    class TEXT NOT NULL,
    problems TEXT NOT NULL,
    original TEXT NOT NULL,
    PRIMARY KEY (run_id, row)
) WITHOUT ROWID;
";

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

    fn parse(s: &str) -> RunStatus {
        match s {
            "running" => RunStatus::Running,
            "interrupted" => RunStatus::Interrupted,
            "stopped" => RunStatus::Stopped,
            "incomplete" => RunStatus::Incomplete,
            "done" => RunStatus::Done,
            _ => RunStatus::Abandoned,
        }
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

/// One settled batch, as committed.
#[derive(Debug, Clone, Default)]
pub struct BatchRecord {
    /// Order of dispatch.
    pub seq: u64,
    /// Rows and identities of the leads settled for good (accepted or refused; not gave-up).
    pub settled: Vec<(u64, IndexKeys)>,
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
    /// `lead_id` and payload hash of each lead the API accepted (the delta state).
    pub accepted_leads: Vec<(String, u64)>,
    /// `lead_id`s present in the export but not accepted now (unchanged, refused, invalid):
    /// they are not missing, whatever `--delete-missing` says.
    pub seen: Vec<String>,
}

/// Counters that move with each commit.
#[derive(Debug, Clone, Copy, Default)]
pub struct RunCounters {
    /// Requests sent in this session so far.
    pub requests: u64,
    /// Retries in this session so far.
    pub retries: u64,
    /// 429s in this session so far.
    pub throttled: u64,
    /// Splits in this session so far.
    pub splits: u64,
}

/// What a resumed run starts from.
#[derive(Debug, Default)]
pub struct ResumeState {
    /// Rows not to read again.
    pub skip: SkipPlan,
    /// The identities of settled valid rows.
    pub index: DuplicateIndex,
    /// Leads accepted so far.
    pub imported: u64,
    /// Rows found unchanged so far.
    pub unchanged: u64,
    /// Rows rejected so far (gave-up rows excluded: they are tried again).
    pub rejected: u64,
    /// The next batch sequence number.
    pub next_seq: u64,
    /// Counters of earlier sessions.
    pub counters: RunCounters,
}

/// The open state file.
#[derive(Debug)]
pub struct Checkpoint {
    conn: Connection,
    path: PathBuf,
}

impl Checkpoint {
    /// Opens (creating if needed) the state file at `path`, owner-only, and checks its
    /// schema: a file from a newer version or that is not a state file is refused, never
    /// overwritten.
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
        let conn = Connection::open(path)
            .with_context(|| format!("cannot open the state file `{}`", path.display()))?;
        let mut checkpoint = Checkpoint {
            conn,
            path: path.to_owned(),
        };
        checkpoint.init().with_context(|| {
            format!(
                "`{}` is not a usable nl-import state file (pass --state to use another file)",
                path.display()
            )
        })?;
        Ok(checkpoint)
    }

    /// Opens an existing state file for reading only (`status`, while an import runs).
    pub fn open_read_only(path: &Path) -> Result<Checkpoint> {
        if !path.exists() {
            bail!(
                "no state file at `{}` (nothing imported yet?)",
                path.display()
            );
        }
        let conn = Connection::open_with_flags(
            path,
            OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .with_context(|| format!("cannot open the state file `{}`", path.display()))?;
        conn.busy_timeout(Duration::from_secs(10))?;
        let checkpoint = Checkpoint {
            conn,
            path: path.to_owned(),
        };
        checkpoint.check_version().with_context(|| {
            format!("`{}` is not a usable nl-import state file", path.display())
        })?;
        Ok(checkpoint)
    }

    /// The file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn init(&mut self) -> Result<()> {
        self.conn.busy_timeout(Duration::from_secs(10))?;
        let tables: i64 = self
            .conn
            .query_row(
                "SELECT count(*) FROM sqlite_master WHERE type = 'table'",
                [],
                |r| r.get(0),
            )
            .context("the file is not an SQLite database, or is damaged")?;
        // Someone else's database, or a newer schema, is refused before anything is written
        // to it (not even the switch to WAL mode).
        if tables != 0 {
            self.check_version()?;
        }
        let mode: String = self
            .conn
            .query_row("PRAGMA journal_mode=WAL", [], |r| r.get(0))
            .context("the file is not an SQLite database, or is damaged")?;
        if !mode.eq_ignore_ascii_case("wal") {
            bail!("cannot switch the state file to WAL mode (got {mode})");
        }
        // WAL with NORMAL: a committed transaction survives the process being killed; only
        // a power loss can undo the last few, which a resumed run sends again (upsert).
        self.conn
            .execute_batch("PRAGMA synchronous=NORMAL; PRAGMA foreign_keys=ON;")?;
        if tables == 0 {
            let tx = self.conn.transaction()?;
            tx.execute_batch(SCHEMA)?;
            tx.execute(
                "INSERT INTO meta (key, value) VALUES ('schema_version', ?1), ('created_by', ?2)",
                params![
                    SCHEMA_VERSION.to_string(),
                    concat!("nl-import ", env!("CARGO_PKG_VERSION"))
                ],
            )?;
            tx.commit()?;
        }
        self.check_version()?;
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

    fn check_version(&self) -> Result<()> {
        let version: Option<String> = self
            .conn
            .query_row(
                "SELECT value FROM meta WHERE key = 'schema_version'",
                [],
                |r| r.get(0),
            )
            .optional()
            .context("it has no nl-import metadata")?;
        let version: i64 = version
            .as_deref()
            .and_then(|v| v.parse().ok())
            .context("it has no schema version")?;
        if version > SCHEMA_VERSION {
            bail!(
                "it was written by a newer nl-import (schema {version}; this build reads up to {SCHEMA_VERSION}); upgrade nl-import"
            );
        }
        if version < SCHEMA_VERSION {
            bail!("it has an old schema ({version}) that this build cannot read");
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
            "SELECT r.id, r.input, r.fingerprint, r.config_hash, r.config, r.status, r.frontier,
                    r.rows_total, r.imported, r.requests, r.retries, r.throttled, r.splits,
                    r.sessions, r.pid, r.started_at, r.updated_at, r.finished_at, r.message,
                    (SELECT count(*) FROM rejections x WHERE x.run_id = r.id),
                    (SELECT count(*) FROM rejections x WHERE x.run_id = r.id AND x.class = 'gave_up'),
                    r.scope,
                    (SELECT coalesce(sum(b.unchanged), 0) FROM batches b WHERE b.run_id = r.id)
             FROM runs r ORDER BY r.id",
        )?;
        let rows = stmt.query_map([], |r| {
            Ok(RunInfo {
                id: r.get(0)?,
                input: r.get(1)?,
                fingerprint: r.get(2)?,
                config_hash: r.get(3)?,
                config: r.get(4)?,
                status: RunStatus::parse(&r.get::<_, String>(5)?),
                frontier: r.get::<_, i64>(6)? as u64,
                rows_total: r.get::<_, Option<i64>>(7)?.map(|n| n as u64),
                imported: r.get::<_, i64>(8)? as u64,
                requests: r.get::<_, i64>(9)? as u64,
                retries: r.get::<_, i64>(10)? as u64,
                throttled: r.get::<_, i64>(11)? as u64,
                splits: r.get::<_, i64>(12)? as u64,
                sessions: r.get::<_, i64>(13)? as u64,
                pid: r.get(14)?,
                started_at: r.get(15)?,
                updated_at: r.get(16)?,
                finished_at: r.get(17)?,
                message: r.get(18)?,
                rejected: r.get::<_, i64>(19)? as u64,
                gave_up: r.get::<_, i64>(20)? as u64,
                scope: r.get(21)?,
                unchanged: r.get::<_, i64>(22)? as u64,
            })
        })?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// Starts a new run.
    pub fn begin_run(&mut self, spec: &RunSpec) -> Result<i64> {
        let now = now_rfc3339();
        self.conn.execute(
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
        Ok(self.conn.last_insert_rowid())
    }

    /// Marks a run abandoned (by `--restart`).
    pub fn abandon(&mut self, run: i64) -> Result<()> {
        self.set_status(run, RunStatus::Abandoned, Some("replaced by --restart"))
    }

    /// Takes a run up again: forgets the rows that gave up (they are tried again), and
    /// returns what to skip, the duplicate index of the settled rows and the counts so far.
    pub fn resume(&mut self, run: i64, track_ids: bool) -> Result<ResumeState> {
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
        let (frontier, rows_total, requests, retries, throttled, splits): (
            i64,
            Option<i64>,
            i64,
            i64,
            i64,
            i64,
        ) = tx.query_row(
            "SELECT frontier, rows_total, requests, retries, throttled, splits FROM runs WHERE id = ?1",
            [run],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?, r.get(5)?)),
        )?;
        let _ = rows_total;
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
            index: DuplicateIndex::new(track_ids),
            counters: RunCounters {
                requests: requests as u64,
                retries: retries as u64,
                throttled: throttled as u64,
                splits: splits as u64,
            },
            ..ResumeState::default()
        };
        state.skip.through = frontier as u64;
        {
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
        }
        let mut stmt = self.conn.prepare(
            "SELECT seq, last_row, accepted, keys, unchanged FROM batches WHERE run_id = ?1",
        )?;
        let mut rows = stmt.query([run])?;
        while let Some(r) = rows.next()? {
            let seq: i64 = r.get(0)?;
            let last_row: i64 = r.get(1)?;
            let accepted: i64 = r.get(2)?;
            let keys = r.get_ref(3)?.as_blob()?;
            state.next_seq = state.next_seq.max(seq as u64 + 1);
            state.imported += accepted as u64;
            state.unchanged += r.get::<_, i64>(4)? as u64;
            for (row, keys) in decode_keys(keys) {
                state.index.insert(row, keys);
                if last_row > frontier && row > frontier as u64 {
                    state.skip.rows.insert(row);
                }
            }
        }
        Ok(state)
    }

    /// Commits one step: a settled batch (if any), rejected rows, the new frontier and
    /// the counters, in one transaction.
    pub fn commit(
        &mut self,
        run: i64,
        batches: &[BatchRecord],
        rejections: &[RejectedRow],
        frontier: u64,
        counters: RunCounters,
    ) -> Result<()> {
        let tx = self.conn.transaction()?;
        for b in batches {
            let first = b.settled.iter().map(|(r, _)| *r).min().unwrap_or(0);
            let last = b.settled.iter().map(|(r, _)| *r).max().unwrap_or(0);
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
            if !b.accepted_leads.is_empty() || !b.seen.is_empty() {
                let scope: String =
                    tx.query_row("SELECT scope FROM runs WHERE id = ?1", [run], |r| r.get(0))?;
                let mut upsert = tx.prepare_cached(
                    "INSERT INTO leads (scope, lead_id, hash, seen_run) VALUES (?1, ?2, ?3, ?4)
                     ON CONFLICT (scope, lead_id) DO UPDATE SET hash = excluded.hash, seen_run = excluded.seen_run",
                )?;
                for (lead_id, hash) in &b.accepted_leads {
                    upsert.execute(params![scope, lead_id, *hash as i64, run])?;
                }
                let mut seen = tx.prepare_cached(
                    "UPDATE leads SET seen_run = ?3 WHERE scope = ?1 AND lead_id = ?2",
                )?;
                for lead_id in &b.seen {
                    seen.execute(params![scope, lead_id, run])?;
                }
            }
        }
        {
            let mut insert = tx.prepare_cached(
                "INSERT OR REPLACE INTO rejections (run_id, row, class, problems, original) VALUES (?1, ?2, ?3, ?4, ?5)",
            )?;
            for r in rejections {
                let problems: Vec<(&str, &str, &str)> = r
                    .problems
                    .iter()
                    .map(|p| (p.class.as_str(), p.field.as_str(), p.message.as_str()))
                    .collect();
                insert.execute(params![
                    run,
                    r.row as i64,
                    r.class().as_str(),
                    serde_json::to_string(&problems)?,
                    serde_json::to_string(&r.original)?,
                ])?;
            }
        }
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
            counters.requests as i64,
            counters.retries as i64,
            counters.throttled as i64,
            counters.splits as i64,
            now_rfc3339(),
        ])?;
        tx.commit()?;
        Ok(())
    }

    /// Records how a session of the run ended.
    pub fn finish(
        &mut self,
        run: i64,
        status: RunStatus,
        rows_total: Option<u64>,
        message: Option<&str>,
    ) -> Result<()> {
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

    /// The payload hash last accepted by the API for each `lead_id` of `scope`, keyed by
    /// the 128-bit hash of the `lead_id`.
    pub fn delta_hashes(&self, scope: &str) -> Result<rustc_hash::FxHashMap<u128, u64>> {
        let mut map = rustc_hash::FxHashMap::default();
        let mut stmt = self
            .conn
            .prepare("SELECT lead_id, hash FROM leads WHERE scope = ?1")?;
        let mut rows = stmt.query([scope])?;
        while let Some(r) = rows.next()? {
            let id = r.get_ref(0)?.as_str()?;
            map.insert(
                xxhash_rust::xxh3::xxh3_128(id.as_bytes()),
                r.get::<_, i64>(1)? as u64,
            );
        }
        Ok(map)
    }

    /// Leads of `scope` known to the state file, and those not seen by run `run`.
    pub fn missing_count(&self, scope: &str, run: i64) -> Result<(u64, u64)> {
        Ok(self.conn.query_row(
            "SELECT count(*), coalesce(sum(seen_run != ?2), 0) FROM leads WHERE scope = ?1",
            params![scope, run],
            |r| Ok((r.get::<_, i64>(0)? as u64, r.get::<_, i64>(1)? as u64)),
        )?)
    }

    /// Up to `limit` `lead_id`s of `scope` not seen by run `run`.
    pub fn missing(&self, scope: &str, run: i64, limit: usize) -> Result<Vec<String>> {
        let mut stmt = self.conn.prepare(
            "SELECT lead_id FROM leads WHERE scope = ?1 AND seen_run != ?2 ORDER BY lead_id LIMIT ?3",
        )?;
        let rows = stmt.query_map(params![scope, run, limit as i64], |r| r.get(0))?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// Forgets deleted leads of `scope`, and counts them on run `run`.
    pub fn forget(&mut self, scope: &str, run: i64, lead_ids: &[String]) -> Result<()> {
        let tx = self.conn.transaction()?;
        {
            let mut delete =
                tx.prepare_cached("DELETE FROM leads WHERE scope = ?1 AND lead_id = ?2")?;
            for id in lead_ids {
                delete.execute(params![scope, id])?;
            }
            tx.execute(
                "UPDATE runs SET deleted = deleted + ?2 WHERE id = ?1",
                params![run, lead_ids.len() as i64],
            )?;
        }
        tx.commit()?;
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
            let row: i64 = r.get(0)?;
            let problems: Vec<(ErrorClass, String, String)> =
                serde_json::from_str(r.get_ref(1)?.as_str()?)
                    .context("a rejection in the state file is damaged")?;
            let original: Vec<String> = serde_json::from_str(r.get_ref(2)?.as_str()?)
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

/// Per lead: row (u64), phone digits (u64, 0 = none), lead_id hash (u128, 0 = none), all
/// little-endian: 32 bytes.
fn encode_keys(settled: &[(u64, IndexKeys)]) -> Vec<u8> {
    let mut out = Vec::with_capacity(settled.len() * 32);
    for (row, keys) in settled {
        out.extend_from_slice(&row.to_le_bytes());
        out.extend_from_slice(&keys.phone.unwrap_or(0).to_le_bytes());
        out.extend_from_slice(&keys.id.unwrap_or(0).to_le_bytes());
    }
    out
}

fn decode_keys(blob: &[u8]) -> impl Iterator<Item = (u64, IndexKeys)> + '_ {
    blob.chunks_exact(32).map(|c| {
        let row = u64::from_le_bytes(c[0..8].try_into().expect("8 bytes"));
        let phone = u64::from_le_bytes(c[8..16].try_into().expect("8 bytes"));
        let id = u128::from_le_bytes(c[16..32].try_into().expect("16 bytes"));
        (
            row,
            IndexKeys {
                phone: (phone != 0).then_some(phone),
                id: (id != 0).then_some(id),
            },
        )
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

    fn rejected(row: u64, class: ErrorClass) -> RejectedRow {
        RejectedRow {
            row,
            line: 0,
            problems: vec![Problem::new(class, "phone", "bad")],
            original: vec!["a".into(), "b".into()],
        }
    }

    #[test]
    fn keys_round_trip() {
        let settled = vec![
            (
                7,
                IndexKeys {
                    phone: Some(14155552671),
                    id: Some(u128::MAX - 3),
                },
            ),
            (9, IndexKeys::default()),
        ];
        assert_eq!(
            decode_keys(&encode_keys(&settled)).collect::<Vec<_>>(),
            settled
        );
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
            settled: vec![(1, keys(11)), (3, keys(33))],
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
            RunCounters::default(),
        )
        .unwrap();
        // Row 4 gave up; rows 6 and 7 settled after it; row 5 was in flight when killed.
        let batch = BatchRecord {
            seq: 1,
            settled: vec![(7, keys(77))],
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
            RunCounters {
                requests: 9,
                ..Default::default()
            },
        )
        .unwrap();
        drop(cp);

        let mut cp = Checkpoint::open(&path).unwrap();
        let info = cp.unfinished_run("/data/leads.csv").unwrap().unwrap();
        assert_eq!((info.id, info.frontier, info.imported), (run, 4, 3));
        let state = cp.resume(run, false).unwrap();
        assert_eq!(
            state.skip.through, 3,
            "the frontier falls back before row 4"
        );
        let mut after: Vec<u64> = state.skip.rows.iter().copied().collect();
        after.sort();
        assert_eq!(after, vec![6, 7]);
        assert_eq!((state.imported, state.rejected, state.next_seq), (3, 2, 2));
        assert_eq!(state.index.len(), 3);
        assert_eq!(state.counters.requests, 9);
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
