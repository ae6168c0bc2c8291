//! The delta state of each scope (API and `--source`): per lead, the hash of the payload the
//! API last accepted, which a nightly run compares with to send only what changed, and that
//! payload itself, which `--delete-missing` writes to `deleted.csv` as the undo of a delete.
//! Bounded by the number of leads, not of runs: a lead has one entry and one payload, both
//! replaced when the API accepts it again (the payloads of one run's deletes are kept until
//! the next run of the scope deletes).

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

/// The leads of a scope that an export does not identify.
#[derive(Debug, Default)]
pub struct Missing {
    /// Leads the scope has.
    pub known: u64,
    /// Those missing, in `lead_id` order.
    pub leads: Vec<MissingLead>,
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
    /// Where that payload is kept.
    pub payload_id: i64,
}

/// Records accepted leads of scope `scope` (by id): their payloads are appended, cheap to
/// write in file order; [`Checkpoint::merge_payloads`] moves them into the delta state.
pub(super) fn remember(tx: &Transaction<'_>, scope: i64, leads: &[AcceptedLead]) -> Result<()> {
    let mut payload = tx.prepare_cached(
        "INSERT INTO payloads (scope_id, key, hash, lead_id, payload) VALUES (?1, ?2, ?3, ?4, ?5)",
    )?;
    for lead in leads {
        payload.execute(params![
            scope,
            encode_key(lead.key),
            lead.hash as i64,
            lead.lead_id,
            lead.payload
        ])?;
    }
    Ok(())
}

/// A payload appended since the last merge.
struct Appended {
    id: i64,
    scope: i64,
    key: Vec<u8>,
    hash: i64,
    /// The payload the delta state pointed at before.
    old: Option<i64>,
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

    fn merged_upto(&self) -> Result<i64> {
        let value: String = self.conn.query_row(
            "SELECT value FROM meta WHERE key = 'payloads_merged'",
            [],
            |r| r.get(0),
        )?;
        Ok(value.parse().unwrap_or(0))
    }

    /// Moves the payloads appended since the last merge into the delta state, in key order
    /// (so that the delta table is written page after page, not at random); a payload that
    /// replaces an older one of the same lead takes its place. One transaction; cheap when
    /// there is nothing to merge.
    pub fn merge_payloads(&mut self) -> Result<()> {
        let since = self.merged_upto()?;
        let tx = self.conn.transaction()?;
        let appended: Vec<Appended> = {
            let mut read = tx.prepare(
                "SELECT p.id, p.scope_id, p.key, p.hash, d.payload_id FROM payloads p
                 LEFT JOIN delta d ON d.scope_id = p.scope_id AND d.key = p.key
                 WHERE p.id > ?1 ORDER BY p.scope_id, p.key, p.id",
            )?;
            let rows = read.query_map([since], |r| {
                Ok(Appended {
                    id: r.get(0)?,
                    scope: r.get(1)?,
                    key: r.get(2)?,
                    hash: r.get(3)?,
                    old: r.get(4)?,
                })
            })?;
            rows.collect::<rusqlite::Result<_>>()?
        };
        let Some(last) = appended.iter().map(|a| a.id).max() else {
            return Ok(());
        };
        {
            let mut upsert = tx.prepare(
                "INSERT INTO delta (scope_id, key, hash, payload_id) VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT (scope_id, key) DO UPDATE SET hash = excluded.hash,
                     payload_id = excluded.payload_id",
            )?;
            // A lead accepted again: its payload is rewritten where it was (the appended
            // copy, at the end of the table, is dropped), so that changed leads leave no
            // holes behind and the file does not grow night after night.
            let mut rewrite = tx.prepare(
                "UPDATE payloads SET (hash, lead_id, payload, deleted_run) =
                     (SELECT hash, lead_id, payload, NULL FROM payloads WHERE id = ?2)
                 WHERE id = ?1",
            )?;
            let mut drop = tx.prepare("DELETE FROM payloads WHERE id = ?1")?;
            let mut previous: Option<(&Appended, i64)> = None;
            for a in &appended {
                // Where this lead's payload lives: where the last merge (or an earlier
                // copy in this one) put it, or here if it is new.
                let home = match previous {
                    Some((p, home)) if p.scope == a.scope && p.key == a.key => Some(home),
                    _ => a.old,
                };
                let home = match home {
                    Some(home) if home != a.id => {
                        rewrite.execute(params![home, a.id])?;
                        drop.execute([a.id])?;
                        home
                    }
                    _ => a.id,
                };
                upsert.execute(params![a.scope, a.key, a.hash, home])?;
                previous = Some((a, home));
            }
        }
        tx.execute(
            "UPDATE meta SET value = ?1 WHERE key = 'payloads_merged'",
            [last.to_string()],
        )?;
        tx.commit()?;
        Ok(())
    }

    /// The delta state of `scope`, in one scan of its rows (and of payloads not merged
    /// yet, if a killed session left any).
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
        let since = self.merged_upto()?;
        for sql in [
            "SELECT key, hash FROM delta WHERE scope_id = ?1",
            "SELECT key, hash FROM payloads WHERE scope_id = ?1 AND id > ?2 ORDER BY id",
        ] {
            let mut stmt = self.conn.prepare(sql)?;
            let mut rows = if sql.contains("?2") {
                stmt.query(params![scope, since])?
            } else {
                stmt.query(params![scope])?
            };
            while let Some(r) = rows.next()? {
                if let Some(key) = decode_key(r.get_ref(0)?.as_blob()?) {
                    hashes.insert(key, r.get::<_, i64>(1)? as u64);
                }
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

    /// The leads of `scope` that `seen` does not hold, with their last accepted payloads.
    pub fn missing(&self, scope: &str, seen: &FxHashSet<u128>) -> Result<Missing> {
        let Some(scope) = self.scope_id(scope)? else {
            return Ok(Missing::default());
        };
        let mut gone = Vec::new();
        let mut known = 0u64;
        {
            let mut stmt = self
                .conn
                .prepare("SELECT key, payload_id FROM delta WHERE scope_id = ?1")?;
            let mut rows = stmt.query([scope])?;
            while let Some(r) = rows.next()? {
                known += 1;
                match decode_key(r.get_ref(0)?.as_blob()?) {
                    Some(key) if !seen.contains(&key) => gone.push((key, r.get::<_, i64>(1)?)),
                    _ => {}
                }
            }
        }
        let mut fetch = self
            .conn
            .prepare("SELECT lead_id, payload FROM payloads WHERE id = ?1")?;
        let mut leads = Vec::with_capacity(gone.len());
        for (key, payload_id) in gone {
            let (lead_id, payload) = fetch
                .query_row([payload_id], |r| Ok((r.get(0)?, r.get(1)?)))
                .optional()?
                .unwrap_or_default();
            leads.push(MissingLead {
                key,
                lead_id,
                payload,
                payload_id,
            });
        }
        leads.sort_by(|a, b| a.lead_id.cmp(&b.lead_id));
        Ok(Missing { known, leads })
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

    /// Records a delete the API answered: the `leads` leave the delta state (their
    /// payloads are kept, marked as deleted by `run`, for `deleted.csv`), and the API's
    /// counts are added to the run.
    pub fn forget_deleted(
        &mut self,
        scope: &str,
        run: i64,
        leads: &[MissingLead],
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
            let mut mark =
                tx.prepare_cached("UPDATE payloads SET deleted_run = ?2 WHERE id = ?1")?;
            for lead in leads {
                forget.execute(params![scope, encode_key(lead.key)])?;
                mark.execute(params![lead.payload_id, run])?;
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checkpoint::{BatchRecord, RunSpec, lead_key_of};
    use crate::stats::Counts;

    #[test]
    fn a_lead_accepted_night_after_night_keeps_one_payload_and_its_last_hash() {
        let dir = tempfile::tempdir().unwrap();
        let mut cp = Checkpoint::open(&dir.path().join("state.db")).unwrap();
        let spec = RunSpec {
            input: "/x.csv".into(),
            fingerprint: "f".into(),
            config_hash: "c".into(),
            config: "{}".into(),
            scope: "api|crm".into(),
        };
        let key = lead_key_of("c-1");
        for night in 1..=4u64 {
            let run = cp.begin_run(&spec).unwrap();
            let batch = BatchRecord {
                accepted: 1,
                accepted_leads: vec![AcceptedLead {
                    key,
                    lead_id: "c-1".into(),
                    hash: night,
                    payload: format!(r#"{{"lead_id":"c-1","name":"v{night}"}}"#),
                }],
                ..BatchRecord::default()
            };
            cp.commit(run, &[batch], &[], 1, &Counts::default())
                .unwrap();
            // Not merged yet, but a reader sees it.
            assert_eq!(cp.delta("api|crm").unwrap().get(key), Some(night));
            cp.finish(run, crate::checkpoint::RunStatus::Done, Some(1), None)
                .unwrap();
            assert_eq!(cp.delta("api|crm").unwrap().get(key), Some(night));
            let payloads: i64 = cp
                .conn
                .query_row("SELECT count(*) FROM payloads", [], |r| r.get(0))
                .unwrap();
            assert_eq!(payloads, 1, "night {night}");
        }
        let missing = cp.missing("api|crm", &FxHashSet::default()).unwrap();
        assert_eq!(missing.known, 1);
        assert_eq!(
            missing.leads[0].payload.as_deref(),
            Some(r#"{"lead_id":"c-1","name":"v4"}"#)
        );
    }
}
