//! The state file's schema: ordered migrations ([`rusqlite_migration`]) numbered by SQLite's
//! `user_version`. A file written by an older nl-import is brought up to date when it is
//! opened (a run it was waiting to resume, and its delta state, are kept); a file from a
//! newer one, or another program's database, is refused before anything is written to it.

use rusqlite::{Connection, OptionalExtension, Transaction, params};
use rusqlite_migration::{HookResult, M, Migrations};

/// The schema this build reads and writes (the number of migrations).
pub const SCHEMA_VERSION: usize = 2;

/// Schema 1: the first released schema, unchanged (files written before versioned
/// migrations carry it in `meta.schema_version` with `user_version` 0).
const V1: &str = "
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
INSERT OR IGNORE INTO meta (key, value) VALUES ('schema_version', '1');
";

/// Schema 2: the delta state keyed by the 128-bit hash of the `lead_id` (compact, loaded
/// in one scan), each entry pointing at the last payload the API accepted for the lead
/// (the undo of `--delete-missing`); the lead a rejected row identifies; the API's
/// `notFound` count. Payloads are appended as the API accepts them (in file order, cheap to
/// write) and merged into `delta` in key order when a session ends or the next one starts
/// (`meta.payloads_merged` is how far). Whether a lead is in the export is no longer a
/// column updated row by row: it is read from the run's own batches and rejections when
/// deletes are planned. A finished run keeps its counts in `runs` (`final_*`), so that its
/// batches and rejections can be pruned.
const V2: &str = "
CREATE TABLE scopes (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL UNIQUE
);
CREATE TABLE payloads (
    -- Never reused: ids above `meta.payloads_merged` are the payloads not merged yet.
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    scope_id INTEGER NOT NULL,
    key BLOB NOT NULL,
    hash INTEGER NOT NULL,
    lead_id TEXT NOT NULL,
    payload TEXT,
    deleted_run INTEGER
);
CREATE TABLE delta (
    scope_id INTEGER NOT NULL,
    key BLOB NOT NULL,
    hash INTEGER NOT NULL,
    payload_id INTEGER NOT NULL,
    PRIMARY KEY (scope_id, key)
) WITHOUT ROWID;
ALTER TABLE rejections ADD COLUMN lead_key BLOB;
ALTER TABLE runs ADD COLUMN not_found INTEGER NOT NULL DEFAULT 0;
ALTER TABLE runs ADD COLUMN final_unchanged INTEGER;
ALTER TABLE runs ADD COLUMN final_rejected INTEGER;
ALTER TABLE runs ADD COLUMN final_gave_up INTEGER;
INSERT OR IGNORE INTO scopes (name) SELECT DISTINCT scope FROM runs;
INSERT OR IGNORE INTO scopes (name) SELECT DISTINCT scope FROM leads;
INSERT OR REPLACE INTO meta (key, value) VALUES ('payloads_merged', '0');
UPDATE meta SET value = '2' WHERE key = 'schema_version';
";

/// Moves schema 1's `leads` rows into `payloads` and `delta` (their payloads were never
/// kept: `payload` stays empty, and such a lead is not deleted until a run sends it again).
fn v2_move_leads(tx: &Transaction) -> HookResult {
    {
        let mut read = tx.prepare(
            "SELECT s.id, l.lead_id, l.hash FROM leads l JOIN scopes s ON s.name = l.scope",
        )?;
        let mut payload = tx.prepare(
            "INSERT INTO payloads (scope_id, key, hash, lead_id) VALUES (?1, ?2, ?3, ?4)",
        )?;
        let mut rows = read.query([])?;
        while let Some(r) = rows.next()? {
            let scope: i64 = r.get(0)?;
            let lead_id: String = r.get(1)?;
            let hash: i64 = r.get(2)?;
            let key = encode_key(super::lead_key_of(&lead_id));
            payload.execute(params![scope, key, hash, lead_id])?;
        }
    }
    tx.execute_batch(
        "INSERT INTO delta (scope_id, key, hash, payload_id)
             SELECT scope_id, key, hash, id FROM payloads ORDER BY scope_id, key;
         UPDATE meta SET value = (SELECT coalesce(max(id), 0) FROM payloads)
             WHERE key = 'payloads_merged';
         DROP TABLE leads;",
    )?;
    Ok(())
}

/// A lead key as stored: 16 bytes, big-endian, so that the primary key's order is the
/// keys' numeric order.
pub(crate) fn encode_key(key: u128) -> [u8; 16] {
    key.to_be_bytes()
}

/// The inverse of [`encode_key`]; `None` for anything but 16 bytes.
pub(crate) fn decode_key(bytes: &[u8]) -> Option<u128> {
    Some(u128::from_be_bytes(bytes.try_into().ok()?))
}

fn migrations() -> Migrations<'static> {
    Migrations::new(vec![M::up(V1), M::up_with_hook(V2, v2_move_leads)])
}

/// What the file at hand is, before anything is written to it.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Found {
    /// No tables: a new state file.
    Empty,
    /// An nl-import state file of this schema version.
    Version(usize),
}

/// Reads which schema version a file has; `Err` for a file that is not an nl-import
/// state file (or is damaged), or that a newer nl-import wrote.
pub(crate) fn inspect(conn: &Connection) -> anyhow::Result<Found> {
    use anyhow::Context;
    let tables: i64 = conn
        .query_row(
            "SELECT count(*) FROM sqlite_master WHERE type = 'table'",
            [],
            |r| r.get(0),
        )
        .context("the file is not an SQLite database, or is damaged")?;
    if tables == 0 {
        return Ok(Found::Empty);
    }
    let meta: Option<String> = conn
        .query_row(
            "SELECT value FROM meta WHERE key = 'schema_version'",
            [],
            |r| r.get(0),
        )
        .optional()
        .context("it has no nl-import metadata")?;
    let meta: usize = meta
        .as_deref()
        .and_then(|v| v.parse().ok())
        .context("it has no schema version")?;
    let user_version: usize = conn.query_row("PRAGMA user_version", [], |r| r.get(0))?;
    // Files from before versioned migrations say 1 in `meta` and 0 in `user_version`.
    let version = user_version.max(meta);
    if version > SCHEMA_VERSION {
        anyhow::bail!(
            "it was written by a newer nl-import (schema {version}; this build reads up to {SCHEMA_VERSION}); upgrade nl-import"
        );
    }
    if version == 0 {
        anyhow::bail!("it has no schema version");
    }
    Ok(Found::Version(version))
}

/// Brings the file up to [`SCHEMA_VERSION`] (one transaction); a new file gets every
/// migration, with incremental vacuum on so that pruned pages can be given back.
pub(crate) fn upgrade(conn: &mut Connection, found: &Found) -> anyhow::Result<()> {
    use anyhow::Context;
    match found {
        Found::Empty => {
            conn.execute_batch("PRAGMA auto_vacuum = INCREMENTAL;")?;
        }
        Found::Version(v) => {
            let user_version: usize = conn.query_row("PRAGMA user_version", [], |r| r.get(0))?;
            if user_version < *v {
                conn.pragma_update(None, "user_version", *v as i64)?;
            }
        }
    }
    migrations()
        .to_latest(conn)
        .context("cannot bring the state file up to this version's schema")?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn migrations_are_valid() {
        migrations().validate().unwrap();
        assert_eq!(
            migrations()
                .pending_migrations(&Connection::open_in_memory().unwrap())
                .unwrap(),
            SCHEMA_VERSION as i32
        );
    }

    #[test]
    fn keys_sort_as_numbers() {
        let (a, b) = (5u128, 1u128 << 100);
        assert!(encode_key(a) < encode_key(b));
        assert_eq!(decode_key(&encode_key(b)), Some(b));
        assert_eq!(decode_key(&[1, 2]), None);
    }
}
