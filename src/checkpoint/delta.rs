//! The delta state of each scope (API and `--source`): per lead, the hash of the payload the
//! API last accepted, which a nightly run compares with to send only what changed, and that
//! payload itself, which `--delete-missing` writes to `deleted.csv` as the undo of a delete.
//! Bounded by the number of leads, not of runs: a lead has one row, replaced when the API
//! accepts it again.

use anyhow::Result;
use rusqlite::{OptionalExtension, Transaction, params};
use rustc_hash::{FxHashMap, FxHashSet};

use super::{AcceptedLead, Checkpoint, decode_key, decode_keys, encode_key, lead_key};

/// The payload hashes of a scope's leads, by lead key, loaded in one scan.
#[derive(Debug, Default)]
pub struct Delta {
    hashes: FxHashMap<u128, u64>,
}

impl Delta {
    /// The hash of the payload last accepted for the lead `key`, if the API holds it.
    pub fn get(&self, key: u128) -> Option<u64> {
        self.hashes.get(&key).copied()
    }

    /// Leads known.
    pub fn len(&self) -> usize {
        self.hashes.len()
    }

    /// Whether no lead is known.
    pub fn is_empty(&self) -> bool {
        self.hashes.is_empty()
    }
}

/// The leads an export identifies, and its rows that identify none.
#[derive(Debug, Default)]
pub struct Seen {
    /// Lead keys of every row: valid, unchanged, refused by the API or rejected locally.
    pub keys: FxHashSet<u128>,
    /// Rejected rows that identify no lead (no readable phone where the `lead_id` comes
    /// from the phone, or a malformed row): while there are any, no lead can be called
    /// missing.
    pub unidentified: Vec<u64>,
}

/// A lead of the scope that no row of the export identifies.
#[derive(Debug, Clone)]
pub struct MissingLead {
    /// Its key.
    pub key: u128,
    /// Its `lead_id`.
    pub lead_id: String,
    /// The payload the API last accepted for it; `None` for a lead recorded by an older
    /// nl-import, which kept no payloads (such a lead is not deleted: it could not be
    /// restored).
    pub payload: Option<String>,
}

/// Records accepted leads in the delta state of scope `scope` (by id).
pub(super) fn remember(tx: &Transaction<'_>, scope: i64, leads: &[AcceptedLead]) -> Result<()> {
    let mut delta = tx.prepare_cached(
        "INSERT INTO delta (scope_id, key, hash) VALUES (?1, ?2, ?3)
         ON CONFLICT (scope_id, key) DO UPDATE SET hash = excluded.hash",
    )?;
    let mut payload = tx.prepare_cached(
        "INSERT INTO payloads (scope_id, key, lead_id, payload, deleted_run) VALUES (?1, ?2, ?3, ?4, NULL)
         ON CONFLICT (scope_id, key) DO UPDATE SET lead_id = excluded.lead_id,
             payload = excluded.payload, deleted_run = NULL",
    )?;
    for lead in leads {
        let key = encode_key(lead.key);
        delta.execute(params![scope, key, lead.hash as i64])?;
        payload.execute(params![scope, key, lead.lead_id, lead.payload])?;
    }
    Ok(())
}

impl Checkpoint {
    fn scope_id(&self, scope: &str) -> Result<Option<i64>> {
        Ok(self
            .conn
            .query_row("SELECT id FROM scopes WHERE name = ?1", [scope], |r| {
                r.get(0)
            })
            .optional()?)
    }

    /// The delta state of `scope`, in one scan of its rows.
    pub fn delta(&self, scope: &str) -> Result<Delta> {
        let Some(scope) = self.scope_id(scope)? else {
            return Ok(Delta::default());
        };
        let count: i64 = self.conn.query_row(
            "SELECT count(*) FROM delta WHERE scope_id = ?1",
            [scope],
            |r| r.get(0),
        )?;
        let mut hashes = FxHashMap::with_capacity_and_hasher(count as usize, Default::default());
        let mut stmt = self
            .conn
            .prepare("SELECT key, hash FROM delta WHERE scope_id = ?1")?;
        let mut rows = stmt.query([scope])?;
        while let Some(r) = rows.next()? {
            if let Some(key) = decode_key(r.get_ref(0)?.as_blob()?) {
                hashes.insert(key, r.get::<_, i64>(1)? as u64);
            }
        }
        Ok(Delta { hashes })
    }

    /// The leads run `run` found in its export: every settled row of its batches and every
    /// rejected row that still identifies a lead, and the rejected rows that identify none.
    pub fn seen_by_run(&self, run: i64) -> Result<Seen> {
        let mut seen = Seen::default();
        let mut stmt = self
            .conn
            .prepare("SELECT keys FROM batches WHERE run_id = ?1")?;
        let mut rows = stmt.query([run])?;
        while let Some(r) = rows.next()? {
            for settled in decode_keys(r.get_ref(0)?.as_blob()?) {
                if let Some(key) = lead_key(&settled.keys) {
                    seen.keys.insert(key);
                }
            }
        }
        let mut stmt = self
            .conn
            .prepare("SELECT row, lead_key FROM rejections WHERE run_id = ?1 ORDER BY row")?;
        let mut rows = stmt.query([run])?;
        while let Some(r) = rows.next()? {
            let key = r.get_ref(1)?.as_blob_or_null()?.and_then(decode_key);
            match key {
                Some(key) => {
                    seen.keys.insert(key);
                }
                None => seen.unidentified.push(r.get::<_, i64>(0)? as u64),
            }
        }
        Ok(seen)
    }

    /// The leads of `scope` that `seen` does not hold, with their last accepted payloads,
    /// in `lead_id` order; and how many leads the scope has.
    pub fn missing(&self, scope: &str, seen: &FxHashSet<u128>) -> Result<(u64, Vec<MissingLead>)> {
        let Some(scope) = self.scope_id(scope)? else {
            return Ok((0, Vec::new()));
        };
        let mut stmt = self.conn.prepare(
            "SELECT d.key, p.lead_id, p.payload FROM delta d
             LEFT JOIN payloads p ON p.scope_id = d.scope_id AND p.key = d.key
             WHERE d.scope_id = ?1",
        )?;
        let mut rows = stmt.query([scope])?;
        let (mut known, mut missing) = (0u64, Vec::new());
        while let Some(r) = rows.next()? {
            known += 1;
            let Some(key) = decode_key(r.get_ref(0)?.as_blob()?) else {
                continue;
            };
            if seen.contains(&key) {
                continue;
            }
            missing.push(MissingLead {
                key,
                lead_id: r.get::<_, Option<String>>(1)?.unwrap_or_default(),
                payload: r.get(2)?,
            });
        }
        missing.sort_by(|a, b| a.lead_id.cmp(&b.lead_id));
        Ok((known, missing))
    }

    /// Before run `run` deletes leads of `scope`: the payloads kept from an earlier run's
    /// deletes are let go (that run's `deleted.csv` holds them).
    pub fn start_deleting(&mut self, scope: &str, run: i64) -> Result<()> {
        if let Some(scope) = self.scope_id(scope)? {
            self.conn.execute(
                "DELETE FROM payloads WHERE scope_id = ?1 AND deleted_run IS NOT NULL AND deleted_run != ?2",
                params![scope, run],
            )?;
        }
        Ok(())
    }

    /// Records a delete the API answered: the leads `keys` leave the delta state (their
    /// payloads are kept, marked as deleted by `run`, for `deleted.csv`), and the API's
    /// counts are added to the run.
    pub fn forget_deleted(
        &mut self,
        scope: &str,
        run: i64,
        keys: &[u128],
        deleted: u64,
        not_found: u64,
    ) -> Result<()> {
        let Some(scope) = self.scope_id(scope)? else {
            return Ok(());
        };
        let tx = self.conn.transaction()?;
        {
            let mut forget =
                tx.prepare_cached("DELETE FROM delta WHERE scope_id = ?1 AND key = ?2")?;
            let mut mark = tx.prepare_cached(
                "UPDATE payloads SET deleted_run = ?3 WHERE scope_id = ?1 AND key = ?2",
            )?;
            for key in keys {
                let key = encode_key(*key);
                forget.execute(params![scope, key])?;
                mark.execute(params![scope, key, run])?;
            }
            tx.execute(
                "UPDATE runs SET deleted = deleted + ?2, not_found = not_found + ?3 WHERE id = ?1",
                params![run, deleted as i64, not_found as i64],
            )?;
        }
        tx.commit()?;
        Ok(())
    }

    /// The payloads of the leads run `run` deleted from `scope`, in `lead_id` order.
    pub fn deleted_payloads(&self, scope: &str, run: i64) -> Result<Vec<String>> {
        let Some(scope) = self.scope_id(scope)? else {
            return Ok(Vec::new());
        };
        let mut stmt = self.conn.prepare(
            "SELECT payload FROM payloads WHERE scope_id = ?1 AND deleted_run = ?2 AND payload IS NOT NULL
             ORDER BY lead_id",
        )?;
        let rows = stmt.query_map(params![scope, run], |r| r.get(0))?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }
}
