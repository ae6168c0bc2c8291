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
///
/// The keys are 128-bit hashes, so they are spread evenly. The delta is a table of half
/// again as many slots as keys, where a key's home slot is its place in proportion (its
/// top 64 bits times the number of homes, over 2^64): keys are laid out in ascending order,
/// each in its home slot or, when an earlier key took that one, in the next free slot; a
/// slot no key took holds a copy of the next key. Loading is appending, because the state
/// file's primary key gives the keys in order (inserting a million keys into a hash table
/// at random places took most of the loading time), and a look-up reads the key's home
/// slot and, now and then, the one after it: one random memory access (the nightly rerun
/// looks up every lead of the export, and each access that misses the cache costs more
/// than the rest of the look-up). 36 bytes a lead.
#[derive(Debug, Default)]
pub struct Delta {
    /// Keys ascending, each at or after its home slot; free slots hold a copy of the slot
    /// after them.
    slots: Vec<Slot>,
    /// Keys in `slots`.
    keys: usize,
    /// Home slots: a key's home is `hi * homes / 2^64`.
    homes: u64,
    /// Payloads not merged into the delta table yet (left by a killed session): they
    /// replace what the table says.
    newer: FxHashMap<u128, u64>,
}

/// A key of the delta (as its two halves, so that a slot takes 24 bytes) and its hash.
#[derive(Debug, Clone, Copy)]
struct Slot {
    hi: u64,
    lo: u64,
    hash: u64,
}

impl Slot {
    fn key(&self) -> (u64, u64) {
        (self.hi, self.lo)
    }
}

/// The halves of `key`, as a [`Slot`] holds them.
fn halves(key: u128) -> (u64, u64) {
    ((key >> 64) as u64, key as u64)
}

impl Delta {
    /// A delta of `keys` (ascending or not) and their `hashes`; a key given twice keeps
    /// its last hash.
    fn build(mut keys: Vec<u128>, mut hashes: Vec<u64>, newer: FxHashMap<u128, u64>) -> Delta {
        if !keys.is_sorted() {
            let mut pairs: Vec<(u128, u64)> = keys.into_iter().zip(hashes).collect();
            // Stable: of equal keys, the last loaded stays last.
            pairs.sort_by_key(|p| p.0);
            (keys, hashes) = pairs.into_iter().unzip();
        }
        let homes = (keys.len() + keys.len() / 2) as u64;
        let mut slots: Vec<Slot> = Vec::with_capacity(keys.len() + keys.len() / 2 + 64);
        let mut count = 0;
        for (key, hash) in keys.into_iter().zip(hashes) {
            let (hi, lo) = halves(key);
            let slot = Slot { hi, lo, hash };
            if let Some(last) = slots.last_mut()
                && last.key() == slot.key()
            {
                // Equal neighbours: keep the last one's hash.
                last.hash = hash;
                continue;
            }
            let home = Delta::home(hi, homes);
            if slots.len() < home {
                slots.resize(home, slot);
            }
            slots.push(slot);
            count += 1;
        }
        Delta {
            slots,
            keys: count,
            homes,
            newer,
        }
    }

    /// The home slot of a key whose top half is `hi`: in proportion, so in key order.
    fn home(hi: u64, homes: u64) -> usize {
        ((u128::from(hi) * u128::from(homes)) >> 64) as usize
    }

    /// The hash of the payload last accepted for the lead `key`, if the API holds it.
    pub fn get(&self, key: u128) -> Option<u64> {
        if !self.newer.is_empty()
            && let Some(hash) = self.newer.get(&key)
        {
            return Some(*hash);
        }
        self.stored(key)
    }

    /// The hash the delta table itself holds for `key`.
    fn stored(&self, key: u128) -> Option<u64> {
        let (hi, lo) = halves(key);
        let from = Delta::home(hi, self.homes);
        // Every slot from the home to the key's own holds a smaller key: the first slot
        // holding `key` or more is the key's, if the table has it.
        let slot = self
            .slots
            .get(from..)?
            .iter()
            .find(|s| s.key() >= (hi, lo))?;
        (slot.key() == (hi, lo)).then_some(slot.hash)
    }

    /// Leads known.
    pub fn len(&self) -> usize {
        self.keys
            + self
                .newer
                .keys()
                .filter(|k| self.stored(**k).is_none())
                .count()
    }

    /// Whether no lead is known.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// A delta of these keys and hashes, as a state file would give them.
    #[cfg(test)]
    pub(crate) fn from_pairs(pairs: impl IntoIterator<Item = (u128, u64)>) -> Delta {
        let (keys, hashes) = pairs.into_iter().unzip();
        Delta::build(keys, hashes, FxHashMap::default())
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
    key: u128,
    hash: i64,
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
    /// there is nothing to merge. The payloads are read in the order they were appended and
    /// sorted here: a million of them, SQLite would sort on disk.
    pub fn merge_payloads(&mut self) -> Result<()> {
        let since = self.merged_upto()?;
        let tx = self.conn.transaction()?;
        let mut appended: Vec<Appended> = Vec::new();
        let mut last = None;
        {
            let mut read = tx.prepare(
                "SELECT id, scope_id, key, hash FROM payloads WHERE id > ?1 ORDER BY id",
            )?;
            let mut rows = read.query([since])?;
            while let Some(r) = rows.next()? {
                let id = r.get(0)?;
                last = Some(id);
                // A key that is not one (a damaged file) is merged nowhere, as `delta`
                // reads none.
                if let Some(key) = decode_key(r.get_ref(2)?.as_blob()?) {
                    appended.push(Appended {
                        id,
                        scope: r.get(1)?,
                        key,
                        hash: r.get(3)?,
                    });
                }
            }
        }
        let Some(last) = last else {
            return Ok(());
        };
        appended.sort_unstable_by_key(|a| (a.scope, a.key, a.id));
        {
            let mut old =
                tx.prepare("SELECT payload_id FROM delta WHERE scope_id = ?1 AND key = ?2")?;
            let mut held = tx.prepare("SELECT EXISTS (SELECT 1 FROM delta WHERE scope_id = ?1)")?;
            // Whether the delta state holds leads of the scope at hand: the first import of
            // a scope looks none up.
            let mut scope_held: Option<(i64, bool)> = None;
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
                let key = encode_key(a.key);
                // Where this lead's payload lives: where an earlier copy in this merge put
                // it, or where the last merge did, or here if it is new.
                if scope_held.is_none_or(|(scope, _)| scope != a.scope) {
                    scope_held = Some((a.scope, held.query_row([a.scope], |r| r.get(0))?));
                }
                let home = match previous {
                    Some((p, home)) if p.scope == a.scope && p.key == a.key => Some(home),
                    _ if scope_held.is_some_and(|(_, held)| held) => old
                        .query_row(params![a.scope, key], |r| r.get(0))
                        .optional()?,
                    _ => None,
                };
                let home = match home {
                    Some(home) if home != a.id => {
                        rewrite.execute(params![home, a.id])?;
                        drop.execute([a.id])?;
                        home
                    }
                    _ => a.id,
                };
                upsert.execute(params![a.scope, key, a.hash, home])?;
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

    /// The delta state of `scope`, in one scan of its rows in key order (and of payloads
    /// not merged yet, if a killed session left any).
    pub fn delta(&self, scope: &str) -> Result<Delta> {
        let Some(scope) = self.scope_id(scope)? else {
            return Ok(Delta::default());
        };
        let mut keys: Vec<u128> = Vec::new();
        let mut hashes: Vec<u64> = Vec::new();
        {
            let mut stmt = self
                .conn
                .prepare("SELECT key, hash FROM delta WHERE scope_id = ?1 ORDER BY key")?;
            let mut rows = stmt.query(params![scope])?;
            while let Some(r) = rows.next()? {
                if let Some(key) = decode_key(r.get_ref(0)?.as_blob()?) {
                    keys.push(key);
                    hashes.push(r.get::<_, i64>(1)? as u64);
                }
            }
        }
        let mut newer = FxHashMap::default();
        let since = self.merged_upto()?;
        let mut stmt = self.conn.prepare(
            "SELECT key, hash FROM payloads WHERE scope_id = ?1 AND id > ?2 ORDER BY id",
        )?;
        let mut rows = stmt.query(params![scope, since])?;
        while let Some(r) = rows.next()? {
            if let Some(key) = decode_key(r.get_ref(0)?.as_blob()?) {
                newer.insert(key, r.get::<_, i64>(1)? as u64);
            }
        }
        Ok(Delta::build(keys, hashes, newer))
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

    /// Keys spread like hashes, and a few placed at the edges of the key space.
    fn keys(n: u64) -> Vec<u128> {
        let mut keys: Vec<u128> = (0..n)
            .map(|i| xxhash_rust::xxh3::xxh3_128(&i.to_le_bytes()))
            .collect();
        keys.extend([0, 1, u128::MAX, u128::MAX - 1, 1 << 127]);
        keys
    }

    #[test]
    fn the_delta_finds_every_key_it_holds_and_no_other() {
        for n in [0u64, 1, 2, 3, 100, 5000] {
            let all = keys(n);
            let held: Vec<u128> = all.iter().copied().step_by(2).collect();
            let hashes: Vec<u64> = held.iter().map(|k| *k as u64 ^ 0x55).collect();
            let mut sorted: Vec<(u128, u64)> = held.iter().copied().zip(hashes.clone()).collect();
            sorted.sort();
            for delta in [
                // In key order, as loaded, and in any order.
                Delta::build(
                    sorted.iter().map(|p| p.0).collect(),
                    sorted.iter().map(|p| p.1).collect(),
                    FxHashMap::default(),
                ),
                Delta::build(held.clone(), hashes.clone(), FxHashMap::default()),
            ] {
                assert_eq!(delta.len(), held.len(), "n = {n}");
                for (i, key) in all.iter().enumerate() {
                    let expected = (i % 2 == 0).then_some(*key as u64 ^ 0x55);
                    assert_eq!(delta.get(*key), expected, "n = {n}, key {key:x}");
                }
            }
        }
    }

    #[test]
    fn a_key_loaded_twice_keeps_its_last_hash_and_newer_payloads_win() {
        let delta = Delta::build(vec![9, 3, 9, 5], vec![1, 2, 3, 4], FxHashMap::default());
        assert_eq!(
            (delta.get(9), delta.get(3), delta.get(5), delta.len()),
            (Some(3), Some(2), Some(4), 3)
        );
        let newer: FxHashMap<u128, u64> = [(3, 30), (7, 70)].into_iter().collect();
        let delta = Delta::build(vec![3, 5], vec![2, 4], newer);
        assert_eq!(
            (delta.get(3), delta.get(5), delta.get(7), delta.get(8)),
            (Some(30), Some(4), Some(70), None)
        );
        assert_eq!(delta.len(), 3);
        assert!(Delta::default().is_empty());
        assert_eq!(Delta::default().get(0), None);
    }

    #[test]
    fn an_empty_delta_and_a_one_key_delta() {
        let empty = Delta::build(Vec::new(), Vec::new(), FxHashMap::default());
        assert!(empty.is_empty());
        for key in [0, 1, 1 << 127, u128::MAX] {
            assert_eq!(empty.get(key), None);
        }
        for only in [0, 1, (1 << 127) - 1, 1 << 127, u128::MAX - 1, u128::MAX] {
            let delta = Delta::build(vec![only], vec![7], FxHashMap::default());
            assert_eq!((delta.len(), delta.get(only)), (1, Some(7)), "{only:x}");
            for other in [0, 1, (1 << 127) - 1, 1 << 127, u128::MAX - 1, u128::MAX] {
                if other != only {
                    assert_eq!(delta.get(other), None, "{only:x} holds no {other:x}");
                }
            }
        }
    }

    #[test]
    fn keys_at_both_ends_of_the_key_space_crowding_their_home_slots() {
        // Many keys with the first and the last home slot: each pushed past its home.
        let mut held: Vec<u128> = (0..50).chain(u128::MAX - 49..=u128::MAX).collect();
        held.push(1 << 127);
        let hashes: Vec<u64> = held.iter().map(|k| (*k % 1000) as u64).collect();
        let delta = Delta::build(held.clone(), hashes, FxHashMap::default());
        assert_eq!(delta.len(), held.len());
        for key in &held {
            assert_eq!(delta.get(*key), Some((*key % 1000) as u64), "{key:x}");
        }
        for key in [50, 51, (1 << 127) - 1, (1 << 127) + 1, u128::MAX - 50] {
            assert_eq!(delta.get(key), None, "{key:x}");
        }
    }

    #[test]
    fn the_delta_agrees_with_a_map_whatever_the_spread_of_its_keys() {
        use std::collections::BTreeMap;
        // Clusters (keys sharing their top half, so one home slot; neighbours in the low
        // half), gaps, and hash-spread keys, in one table, with keys given twice.
        let mut oracle: BTreeMap<u128, u64> = BTreeMap::new();
        let (mut keys, mut hashes) = (Vec::new(), Vec::new());
        let mut add = |key: u128, hash: u64| {
            oracle.insert(key, hash);
            keys.push(key);
            hashes.push(hash);
        };
        for i in 0..300u64 {
            let spread = xxhash_rust::xxh3::xxh3_128(&i.to_le_bytes());
            add(spread, i);
            add(((i as u128 % 7) << 64) | (i as u128 * 3), i + 1000);
            add(((u64::MAX - i % 5) as u128) << 64 | i as u128, i + 2000);
            if i % 10 == 0 {
                add(spread, i + 3000);
            }
        }
        let delta = Delta::build(keys, hashes, FxHashMap::default());
        assert_eq!(delta.len(), oracle.len());
        for (key, hash) in &oracle {
            assert_eq!(delta.get(*key), Some(*hash), "{key:x}");
            for near in [key.wrapping_add(1), key.wrapping_sub(1), key ^ (1 << 64)] {
                assert_eq!(delta.get(near), oracle.get(&near).copied(), "{near:x}");
            }
        }
    }

    #[test]
    fn duplicates_keep_the_last_hash_in_any_order_and_in_key_order() {
        // Sorted with duplicates, as a table without a unique key would give them.
        let delta = Delta::build(
            vec![1, 1, 2, u128::MAX, u128::MAX],
            vec![10, 11, 20, 30, 31],
            FxHashMap::default(),
        );
        assert_eq!(
            (
                delta.len(),
                delta.get(1),
                delta.get(2),
                delta.get(u128::MAX)
            ),
            (3, Some(11), Some(20), Some(31))
        );
        // Unsorted, a key three times.
        let delta = Delta::build(
            vec![5, 0, 5, 3, 5],
            vec![1, 2, 3, 4, 5],
            FxHashMap::default(),
        );
        assert_eq!(
            (delta.len(), delta.get(5), delta.get(0), delta.get(3)),
            (3, Some(5), Some(2), Some(4))
        );
    }

    #[test]
    fn newer_payloads_override_the_table_and_count_once() {
        let newer: FxHashMap<u128, u64> = [(0, 100), (u128::MAX, 200), (42, 300)]
            .into_iter()
            .collect();
        let delta = Delta::build(vec![0, 7, u128::MAX], vec![1, 2, 3], newer);
        assert_eq!(
            (
                delta.get(0),
                delta.get(7),
                delta.get(u128::MAX),
                delta.get(42)
            ),
            (Some(100), Some(2), Some(200), Some(300))
        );
        // 0 and MAX are in both: counted once.
        assert_eq!(delta.len(), 4);
        // Only newer payloads, an empty table.
        let newer: FxHashMap<u128, u64> = [(9, 1)].into_iter().collect();
        let delta = Delta::build(Vec::new(), Vec::new(), newer);
        assert_eq!(
            (delta.len(), delta.get(9), delta.get(8)),
            (1, Some(1), None)
        );
        assert!(!delta.is_empty());
    }

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

    #[test]
    fn merges_keep_the_last_payload_of_every_lead_of_every_scope() {
        use std::collections::BTreeMap;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.db");
        let mut model: BTreeMap<(&str, u128), (u64, String)> = BTreeMap::new();
        let mut x: u64 = 7;
        let mut cp = Checkpoint::open(&path).unwrap();
        // Rounds over three scopes; the sessions of rounds 0, 4 and 6 end without merging
        // (as if killed), so that the next merge takes two sessions' payloads of one scope
        // at once, some leads twice: of a scope new to the delta state (c), or not.
        for round in 0..9u64 {
            let scope = [
                "api|c", "api|c", "api|a", "api|b", "api|a", "api|a", "api|b", "api|b", "api|a",
            ][round as usize];
            if round == 6 {
                // Opened again: what the killed session of round 4 left is merged now.
                cp = Checkpoint::open(&path).unwrap();
            }
            let run = cp
                .begin_run(&RunSpec {
                    input: format!("/r{round}.csv"),
                    fingerprint: "f".into(),
                    config_hash: "c".into(),
                    config: "{}".into(),
                    scope: scope.into(),
                })
                .unwrap();
            let mut leads = BTreeMap::new();
            for _ in 0..300 {
                x = x.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
                let id = format!("c-{}", x >> 54);
                let hash = round * 1000 + (x >> 60);
                let payload = format!(r#"{{"lead_id":"{id}","round":{round}}}"#);
                leads.insert(id, (hash, payload));
            }
            let accepted_leads: Vec<AcceptedLead> = leads
                .iter()
                .map(|(id, (hash, payload))| AcceptedLead {
                    key: lead_key_of(id),
                    lead_id: id.clone(),
                    hash: *hash,
                    payload: payload.clone(),
                })
                .collect();
            for lead in &accepted_leads {
                model.insert((scope, lead.key), (lead.hash, lead.payload.clone()));
            }
            let batch = BatchRecord {
                accepted: accepted_leads.len() as u64,
                accepted_leads,
                ..BatchRecord::default()
            };
            cp.commit(run, &[batch], &[], 1, &Counts::default())
                .unwrap();
            if [0, 4, 6].contains(&round) {
                continue;
            }
            cp.finish(run, crate::checkpoint::RunStatus::Done, Some(1), None)
                .unwrap();
            for scope in ["api|a", "api|b", "api|c"] {
                let held: Vec<_> = model.iter().filter(|((s, _), _)| *s == scope).collect();
                let delta = cp.delta(scope).unwrap();
                assert_eq!(delta.len(), held.len(), "round {round}");
                let missing = cp.missing(scope, &FxHashSet::default()).unwrap();
                assert_eq!(missing.leads.len(), held.len());
                let payloads: BTreeMap<u128, Option<String>> = missing
                    .leads
                    .into_iter()
                    .map(|lead| (lead.key, lead.payload))
                    .collect();
                for ((_, key), (hash, payload)) in held {
                    assert_eq!(delta.get(*key), Some(*hash), "round {round}");
                    assert_eq!(payloads[key].as_ref(), Some(payload), "round {round}");
                }
            }
            // One payload kept per lead, whatever was accepted more than once.
            let kept: i64 = cp
                .conn
                .query_row("SELECT count(*) FROM payloads", [], |r| r.get(0))
                .unwrap();
            assert_eq!(kept as usize, model.len(), "round {round}");
        }
    }
}
