//! Reading and batching: the validation workers serialise each valid lead once and compare
//! it with the delta state ([`Compare`], through [`compare`], also the dry run's); the
//! reader thread pulls the checked rows from the [`Pipeline`] in file order, sets aside
//! those the API already holds unchanged, writes the rest into batch bodies, and hands
//! everything over to the coordinator.
//!
//! Memory is bounded by bytes as well as by rows: a batch is cut before its body would
//! pass [`MAX_BODY_BYTES`] or what it holds (body and the records kept for the report)
//! would pass [`MAX_BATCH_BYTES`], and everything handed over but not yet committed takes
//! its size from one [`ByteBudget`] of [`IN_FLIGHT_BYTES`], which the reader waits for.

use std::sync::{Arc, Condvar, Mutex};

use csv::ByteRecord;
use tokio::sync::mpsc;

use crate::body::{Body, BodyBuilder, MAX_BODY_BYTES};
use crate::checkpoint::delta::Delta;
use crate::checkpoint::{Rejection, SettledRow, lead_key};
use crate::lead::Lead;
use crate::pipeline::{Finish, IndexKeys, Outcome, Pipeline};
use crate::report::RejectedRow;
use crate::source::SourceError;
use crate::stats::Stats;
use crate::upload::BatchLead;

/// Rejected and unchanged rows collected before they are handed over without a batch.
const HANDOVER_ROWS: usize = 512;

/// Bytes of rejected rows collected before they are handed over without a batch (a
/// rejected row keeps its fields as read, which for a wide row is a lot).
pub(super) const HANDOVER_BYTES: usize = 4 << 20;

/// The most a batch holds: its body (at most [`MAX_BODY_BYTES`]) and the records of its
/// leads as read, kept for the report in case the API refuses one.
pub(super) const MAX_BATCH_BYTES: usize = 2 * MAX_BODY_BYTES;

/// Bytes of batches and rows handed over by the reader and not yet settled and committed
/// (in the channel, in the upload tasks, buffered by the coordinator): room for three
/// full batches while the coordinator holds rows to commit.
pub(super) const IN_FLIGHT_BYTES: usize = 64 << 20;

/// What a lead in a batch takes besides its JSON and its record (its structs, its keys).
const LEAD_OVERHEAD: usize = 160;

/// What the delta state compares of a lead.
#[derive(Debug, Clone, Copy)]
pub(super) struct Payload {
    /// The hash of the lead's JSON (kept in the delta state once the API accepts it).
    pub hash: u64,
    /// The lead's key in the delta state.
    pub key: u128,
}

/// Feeds what is written to a hash: the payload's hash without the payload in memory.
struct HashWriter(xxhash_rust::xxh3::Xxh3);

impl std::io::Write for HashWriter {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.update(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Payload {
    /// The payload of a valid row's `lead`, whose identities are `keys`: the hash of its
    /// JSON (as [`Compare`] writes it), computed as it is written, without keeping it (the
    /// dry run's, which sends nothing).
    pub(super) fn of(lead: &Lead, keys: &IndexKeys) -> Payload {
        let mut hasher = HashWriter(xxhash_rust::xxh3::Xxh3::new());
        serde_json::to_writer(&mut hasher, lead).expect("a lead always serialises");
        Payload {
            hash: hasher.0.digest(),
            key: lead_key(keys).expect("a valid row identifies its lead"),
        }
    }
}

/// How a payload compares with what the API last accepted for the same lead.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Change {
    /// Not known: a new lead.
    New,
    /// Known with another payload.
    Changed,
    /// Known with this payload: not sent.
    Unchanged,
}

/// Compares `payload` with the delta state (`None`: `--full`, everything is sent).
pub(super) fn compare(delta: Option<&Delta>, payload: &Payload) -> Change {
    compare_known(delta.and_then(|d| d.get(payload.key)), payload.hash)
}

/// Compares a payload's `hash` with the hash the delta state holds for its lead.
fn compare_known(known: Option<u64>, hash: u64) -> Change {
    match known {
        None => Change::New,
        Some(known) if known == hash => Change::Unchanged,
        Some(_) => Change::Changed,
    }
}

/// A valid lead as the validation workers leave it for the reader ([`Compare`]).
#[derive(Debug)]
pub(super) enum Finished {
    /// The API holds this payload already: not sent (the lead is dropped on the worker).
    Unchanged,
    /// New or changed: to send.
    Send(ToSend),
}

/// A lead to send, serialised on a worker.
#[derive(Debug)]
pub(super) struct ToSend {
    /// Its `lead_id`.
    pub lead_id: String,
    /// Its JSON, as sent.
    pub json: Vec<u8>,
    /// The hash of `json` and the lead's key in the delta state.
    pub payload: Payload,
    /// Whether it is new to the delta state (else changed).
    pub new: bool,
}

/// The import's per-lead work, run on the validation workers: serialise the lead, hash
/// it, compare it with the delta state. A nightly rerun where most leads are unchanged
/// thus spreads its real work over the workers (as `check` does), and the reader thread
/// only counts the unchanged rows.
#[derive(Debug)]
pub(super) struct Compare {
    /// The delta state; `None` sends everything.
    delta: Option<Delta>,
}

impl Compare {
    /// Compares with `delta` (`None`: `--full`).
    pub(super) fn new(delta: Option<Delta>) -> Compare {
        Compare { delta }
    }
}

impl Finish for Compare {
    type Output = Finished;
    /// The lead's key and the hash the delta state holds for it.
    type Ahead = (u128, Option<u64>);

    fn ahead(&self, keys: &IndexKeys) -> (u128, Option<u64>) {
        let key = lead_key(keys).expect("a valid row identifies its lead");
        (key, self.delta.as_ref().and_then(|d| d.get(key)))
    }

    fn finish(
        &self,
        lead: Lead,
        _: &IndexKeys,
        (key, known): (u128, Option<u64>),
        scratch: &mut Vec<u8>,
    ) -> Finished {
        scratch.clear();
        serde_json::to_writer(&mut *scratch, &lead).expect("a lead always serialises");
        let payload = Payload {
            hash: xxhash_rust::xxh3::xxh3_64(scratch),
            key,
        };
        match compare_known(known, payload.hash) {
            Change::Unchanged => Finished::Unchanged,
            change => Finished::Send(ToSend {
                lead_id: lead.lead_id,
                json: scratch.clone(),
                payload,
                new: change == Change::New,
            }),
        }
    }

    fn wants_record(&self, output: &Finished) -> bool {
        matches!(output, Finished::Send(_))
    }
}

/// The pipeline of an import: valid rows come finished by [`Compare`].
pub(super) type ImportPipeline = Pipeline<Compare>;

/// A shared allowance of bytes: the reader takes some for each handover (waiting while
/// there is not enough), and a [`Held`] gives them back when it is dropped, i.e. when what
/// it stands for is settled and committed. Closing it wakes the reader for good.
#[derive(Debug)]
pub(super) struct ByteBudget {
    capacity: usize,
    /// Bytes free, and whether the budget is closed.
    state: Mutex<(usize, bool)>,
    freed: Condvar,
}

/// Bytes taken from a [`ByteBudget`], given back on drop.
#[derive(Debug)]
pub(super) struct Held {
    budget: Option<Arc<ByteBudget>>,
    bytes: usize,
}

impl ByteBudget {
    /// A budget of `capacity` bytes.
    pub(super) fn new(capacity: usize) -> Arc<ByteBudget> {
        Arc::new(ByteBudget {
            capacity,
            state: Mutex::new((capacity, false)),
            freed: Condvar::new(),
        })
    }

    /// Takes `bytes` (at most the whole budget: a single row larger than it waits until
    /// everything else is given back), waiting until they are free; `None` once closed.
    pub(super) fn take(self: &Arc<Self>, bytes: usize) -> Option<Held> {
        let bytes = bytes.min(self.capacity);
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        loop {
            if state.1 {
                return None;
            }
            if state.0 >= bytes {
                state.0 -= bytes;
                return Some(Held {
                    budget: Some(Arc::clone(self)),
                    bytes,
                });
            }
            state = self.freed.wait(state).unwrap_or_else(|e| e.into_inner());
        }
    }

    /// Wakes a waiting reader and refuses every later [`ByteBudget::take`].
    pub(super) fn close(&self) {
        self.state.lock().unwrap_or_else(|e| e.into_inner()).1 = true;
        self.freed.notify_all();
    }

    /// Bytes taken and not given back.
    #[cfg(test)]
    pub(super) fn in_use(&self) -> usize {
        self.capacity - self.state.lock().unwrap().0
    }
}

impl Drop for Held {
    fn drop(&mut self) {
        if let Some(budget) = self.budget.take() {
            budget.state.lock().unwrap_or_else(|e| e.into_inner()).0 += self.bytes;
            budget.freed.notify_all();
        }
    }
}

/// A batch on its way from the reader to an upload task.
#[derive(Debug)]
pub(super) struct PendingBatch {
    /// Set by the coordinator when it dispatches the batch.
    pub seq: u64,
    /// The request body, written once: every attempt sends these bytes.
    pub body: Body,
    /// Its leads, in the order sent.
    pub leads: Vec<PendingLead>,
    /// Its share of the in-flight budget, given back once the batch is settled and
    /// committed.
    pub held: Held,
}

/// A lead in flight: what is sent, and what the coordinator needs to settle it.
#[derive(Debug)]
pub(super) struct PendingLead {
    /// Row, `lead_id` and where its payload lies in the body.
    pub lead: BatchLead,
    /// Its identities in the duplicate index.
    pub keys: IndexKeys,
    /// Its key in the delta state.
    pub key: u128,
    /// The record as read, for the report if the API refuses it.
    pub record: ByteRecord,
    /// Hash of its payload (the delta state once accepted).
    pub hash: u64,
    /// Whether it is new to the delta state (else changed).
    pub new: bool,
}

impl AsRef<BatchLead> for PendingLead {
    fn as_ref(&self) -> &BatchLead {
        &self.lead
    }
}

impl PendingBatch {
    /// The first row in it.
    pub(super) fn first_row(&self) -> u64 {
        self.leads.first().map_or(u64::MAX, |l| l.lead.row)
    }

    /// The payload of the lead at `i`, as sent.
    pub(super) fn payload(&self, i: usize) -> String {
        String::from_utf8_lossy(self.body.json(&self.leads[i].lead.json)).into_owned()
    }
}

/// The batch being filled by the reader.
struct OpenBatch {
    body: BodyBuilder,
    leads: Vec<PendingLead>,
    /// Bytes it holds (body, records, the rest).
    bytes: usize,
}

/// The memory a record takes: its bytes and the end of each field.
fn record_bytes(record: &ByteRecord) -> usize {
    record.as_slice().len() + record.len() * std::mem::size_of::<usize>() + 64
}

/// The memory a rejected row takes until it is committed.
fn rejection_bytes(rejection: &Rejection) -> usize {
    let row = &rejection.row;
    let fields: usize = row.original.iter().map(|f| f.len() + 32).sum();
    let problems: usize = row
        .problems
        .iter()
        .map(|p| p.message.len() + p.field.len() + 64)
        .sum();
    fields + problems + 128
}

/// What the reader thread hands over.
pub(super) enum Handover {
    /// Rows in file order: rejections, maybe a full batch, and the lowest row not yet
    /// handed over (everything before it is in this or an earlier handover).
    Rows {
        /// Rows rejected locally and valid rows whose payload the API already holds, with
        /// their share of the in-flight budget.
        rows: Collected,
        /// A batch to send.
        batch: Option<PendingBatch>,
        /// Every row before this one is handed over.
        low_water: u64,
        /// The last row read so far.
        last_row: u64,
    },
    /// The end of the file (or of reading): rows read in all, and a read error if any.
    End {
        /// Data rows read.
        rows_read: u64,
        /// Why reading stopped early.
        error: Option<SourceError>,
    },
}

/// The rows collected but not handed over yet (the reader's, then the coordinator's until
/// it commits them).
#[derive(Debug, Default)]
pub(super) struct Collected {
    /// Rows rejected.
    pub rejections: Vec<Rejection>,
    /// Rows unchanged.
    pub unchanged: Vec<SettledRow>,
    /// The memory they take.
    pub bytes: usize,
    /// Their share of the in-flight budget, given back once they are committed.
    pub held: Vec<Held>,
}

impl Collected {
    /// Rows held.
    pub(super) fn len(&self) -> usize {
        self.rejections.len() + self.unchanged.len()
    }

    /// Takes over `other`'s rows and budget.
    pub(super) fn extend(&mut self, other: Collected) {
        self.rejections.extend(other.rejections);
        self.unchanged.extend(other.unchanged);
        self.bytes += other.bytes;
        self.held.extend(other.held);
    }

    fn reject(&mut self, rejection: Rejection) {
        self.bytes += rejection_bytes(&rejection);
        self.rejections.push(rejection);
    }

    fn unchanged(&mut self, row: SettledRow) {
        self.bytes += std::mem::size_of::<SettledRow>();
        self.unchanged.push(row);
    }

    /// Whether enough is collected to hand it over.
    fn full(&self) -> bool {
        self.len() >= HANDOVER_ROWS || self.bytes >= HANDOVER_BYTES
    }
}

/// What the reader needs besides the pipeline.
pub(super) struct ReaderSetup {
    /// Leads per batch.
    pub batch_size: usize,
    /// `source` sent with every batch.
    pub source: Option<String>,
    /// Where to count rows.
    pub stats: Arc<Stats>,
}

/// The reader thread's state between rows.
struct Reader<'a> {
    setup: &'a ReaderSetup,
    tx: &'a mpsc::Sender<Handover>,
    budget: &'a Arc<ByteBudget>,
    open: Option<OpenBatch>,
    collected: Collected,
    last_row: u64,
}

impl Reader<'_> {
    /// Hands over what is collected (and `batch`), once the budget has room for them;
    /// `false` when the coordinator is gone.
    fn send(&mut self, batch: Option<OpenBatch>, low_water: u64) -> bool {
        let mut rows = std::mem::take(&mut self.collected);
        let batch = match batch {
            Some(open) => {
                let Some(held) = self.budget.take(open.bytes) else {
                    return false;
                };
                Some(PendingBatch {
                    seq: 0,
                    body: open.body.finish(),
                    leads: open.leads,
                    held,
                })
            }
            None => None,
        };
        if rows.bytes > 0 {
            let Some(held) = self.budget.take(rows.bytes) else {
                return false;
            };
            rows.held.push(held);
        }
        let handover = Handover::Rows {
            rows,
            batch,
            low_water,
            last_row: self.last_row,
        };
        self.tx.blocking_send(handover).is_ok()
    }

    /// Takes one valid row: unchanged, or into the open batch (handed over when full: by
    /// leads, by body size, or by what it holds).
    fn valid(
        &mut self,
        row: u64,
        lead: Finished,
        keys: IndexKeys,
        record: Option<ByteRecord>,
    ) -> bool {
        let ToSend {
            lead_id,
            json,
            payload,
            new,
        } = match lead {
            Finished::Unchanged => {
                Stats::add(&self.setup.stats.unchanged, 1);
                self.collected.unchanged(SettledRow { row, keys });
                return true;
            }
            Finished::Send(lead) => lead,
        };
        debug_assert_eq!(xxhash_rust::xxh3::xxh3_64(&json), payload.hash);
        let record = record.expect("a valid row keeps its record");
        let bytes = json.len() + record_bytes(&record) + lead_id.len() + LEAD_OVERHEAD;
        let no_room = self.open.as_ref().is_some_and(|open| {
            open.body.len_with(json.len()) > MAX_BODY_BYTES || open.bytes + bytes > MAX_BATCH_BYTES
        });
        if no_room {
            // This row is not handed over yet: it starts the next batch.
            let full = self.open.take();
            if !self.send(full, row) {
                return false;
            }
        }
        let size = self.setup.batch_size;
        let source = self.setup.source.as_deref();
        let open = self.open.get_or_insert_with(|| OpenBatch {
            body: BodyBuilder::new(source),
            leads: Vec::with_capacity(size),
            bytes: 0,
        });
        Stats::add(&self.setup.stats.leads_queued, 1);
        let json = open.body.push(&json);
        open.bytes += bytes;
        open.leads.push(PendingLead {
            lead: BatchLead { row, lead_id, json },
            keys,
            key: payload.key,
            record,
            hash: payload.hash,
            new,
        });
        if open.leads.len() < size {
            return true;
        }
        let full = self.open.take();
        self.send(full, row + 1)
    }
}

/// The reader thread: every row of `pipeline`, handed over through `tx` in file order,
/// then [`Handover::End`]. Each handover waits for its bytes in `budget`; a closed budget
/// (the session is stopping) ends the thread.
pub(super) fn read_batches(
    pipeline: &mut ImportPipeline,
    tx: &mpsc::Sender<Handover>,
    budget: &Arc<ByteBudget>,
    setup: &ReaderSetup,
) {
    let mut reader = Reader {
        setup,
        tx,
        budget,
        open: None,
        collected: Collected::default(),
        last_row: 0,
    };
    let mut error = None;
    for checked in pipeline.by_ref() {
        let checked = match checked {
            Ok(c) => c,
            Err(e) => {
                error = Some(e);
                break;
            }
        };
        reader.last_row = checked.row;
        setup
            .stats
            .rows_read
            .store(checked.row, std::sync::atomic::Ordering::Relaxed);
        Stats::add(&setup.stats.rows_checked, 1);
        match checked.outcome {
            Outcome::Valid(lead) => {
                if !reader.valid(checked.row, lead, checked.keys, checked.record) {
                    return;
                }
            }
            Outcome::Rejected { problems, original } => {
                Stats::add(&setup.stats.rejected, 1);
                reader.collected.reject(Rejection {
                    lead_key: lead_key(&checked.keys),
                    row: RejectedRow {
                        row: checked.row,
                        line: checked.line,
                        problems,
                        original,
                    },
                });
            }
        }
        if reader.collected.full() {
            let low_water = reader
                .open
                .as_ref()
                .and_then(|open| open.leads.first())
                .map_or(reader.last_row + 1, |lead| lead.lead.row);
            if !reader.send(None, low_water) {
                return;
            }
        }
    }
    // The last, partly filled batch, and the end. A read error stops short of it: the rows
    // in it were read, so they are sent; the error is reported after.
    let rows_read = if error.is_some() {
        reader.last_row
    } else {
        pipeline.rows_read()
    };
    let open = reader.open.take();
    if (reader.collected.len() > 0 || open.is_some()) && !reader.send(open, reader.last_row + 1) {
        return;
    }
    let _ = tx.blocking_send(Handover::End { rows_read, error });
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicBool, Ordering};

    /// A valid lead of row `row` whose JSON takes about `size` bytes.
    fn big_lead(row: u64, size: usize) -> (Lead, IndexKeys) {
        let lead = Lead {
            lead_id: format!("r{row}"),
            name: Some("x".repeat(size)),
            phone: format!("+1415555{row:04}"),
            email: None,
            status: None,
            tags: None,
            custom_fields: None,
        };
        let keys = IndexKeys {
            phone: Some(14_155_550_000 + row),
            id: None,
        };
        (lead, keys)
    }

    #[test]
    fn batches_are_cut_before_their_body_passes_the_limit() {
        let (tx, mut rx) = mpsc::channel(64);
        let budget = ByteBudget::new(IN_FLIGHT_BYTES);
        let setup = ReaderSetup {
            batch_size: 100,
            source: Some("crm".into()),
            stats: Arc::default(),
        };
        let mut reader = Reader {
            setup: &setup,
            tx: &tx,
            budget: &budget,
            open: None,
            collected: Collected::default(),
            last_row: 0,
        };
        // Leads of 3 MiB: three to a body of at most 10 MiB.
        let mut scratch = Vec::new();
        for row in 1..=10 {
            let (lead, keys) = big_lead(row, 3 << 20);
            let record = ByteRecord::from(vec![format!("r{row}")]);
            let lead = finish(&Compare::new(None), lead, &keys, &mut scratch);
            assert!(reader.valid(row, lead, keys, Some(record)));
        }
        let open = reader.open.take();
        assert!(reader.send(open, 11));
        let mut sizes = Vec::new();
        let mut rows = Vec::new();
        let mut held = Vec::new();
        while let Ok(handover) = rx.try_recv() {
            let Handover::Rows {
                batch: Some(batch), ..
            } = handover
            else {
                continue;
            };
            assert!(batch.body.len() <= MAX_BODY_BYTES, "{}", batch.body.len());
            let body: serde_json::Value = serde_json::from_slice(&batch.body.bytes()).unwrap();
            assert_eq!(body["source"], "crm");
            let leads = body["leads"].as_array().unwrap();
            assert_eq!(leads.len(), batch.leads.len());
            for (i, (sent, pending)) in leads.iter().zip(&batch.leads).enumerate() {
                assert_eq!(sent["lead_id"], pending.lead.lead_id);
                assert_eq!(
                    xxhash_rust::xxh3::xxh3_64(batch.payload(i).as_bytes()),
                    pending.hash
                );
                rows.push(pending.lead.row);
            }
            sizes.push(batch.leads.len());
            held.push(batch);
        }
        assert_eq!(sizes, [3, 3, 3, 1]);
        assert_eq!(rows, (1..=10).collect::<Vec<_>>());
        // Every batch holds its share of the budget until it is dropped.
        assert!(budget.in_use() > 30 << 20, "{}", budget.in_use());
        drop(held);
        assert_eq!(budget.in_use(), 0);
    }

    #[test]
    fn the_budget_waits_for_room_and_lets_go_when_closed() {
        let budget = ByteBudget::new(100);
        let first = budget.take(80).unwrap();
        let released = Arc::new(AtomicBool::new(false));
        let waiter = {
            let (budget, released) = (Arc::clone(&budget), Arc::clone(&released));
            std::thread::spawn(move || {
                // More than is free: it waits until `first` is given back.
                let second = budget.take(50).unwrap();
                assert!(released.load(Ordering::SeqCst));
                // More than the whole budget: capped, so it waits for everything.
                drop(second);
                budget.take(1000).map(|h| h.bytes)
            })
        };
        std::thread::sleep(std::time::Duration::from_millis(50));
        released.store(true, Ordering::SeqCst);
        drop(first);
        assert_eq!(waiter.join().unwrap(), Some(100));
        assert_eq!(budget.in_use(), 0);
        let held = budget.take(100).unwrap();
        let waiter = {
            let budget = Arc::clone(&budget);
            std::thread::spawn(move || budget.take(1).is_none())
        };
        budget.close();
        assert!(waiter.join().unwrap(), "a closed budget lets the reader go");
        drop(held);
        assert!(budget.take(1).is_none());
    }

    /// What a worker does with a lead: its look-up, then the rest.
    fn finish(compare: &Compare, lead: Lead, keys: &IndexKeys, scratch: &mut Vec<u8>) -> Finished {
        let ahead = compare.ahead(keys);
        compare.finish(lead, keys, ahead, scratch)
    }

    fn lead(json: &str) -> (Lead, IndexKeys) {
        let lead: Lead = serde_json::from_str(json).unwrap();
        let keys = IndexKeys {
            phone: Some(14155550100),
            id: None,
        };
        (lead, keys)
    }

    const ANN: &str = r#"{"lead_id":"c-1","name":"Ann \"A\" é","phone":"+14155550100","tags":["a","b"],"customFields":{"n":3}}"#;

    #[test]
    fn the_streamed_hash_is_the_hash_of_the_json_sent() {
        let (lead, keys) = lead(ANN);
        let payload = Payload::of(&lead, &keys);
        let Finished::Send(sent) =
            finish(&Compare::new(None), lead.clone(), &keys, &mut Vec::new())
        else {
            panic!("--full sends everything");
        };
        assert_eq!(sent.json, serde_json::to_vec(&lead).unwrap());
        assert_eq!(payload.hash, xxhash_rust::xxh3::xxh3_64(&sent.json));
        assert_eq!(
            (sent.payload.hash, sent.payload.key),
            (payload.hash, payload.key)
        );
        assert_eq!(Some(payload.key), lead_key(&keys));
        assert!(sent.new);
    }

    #[test]
    fn the_workers_compare_with_the_delta_state() {
        let (ann, keys) = lead(ANN);
        let (changed, _) = lead(&ANN.replace("Ann", "Anne"));
        let payload = Payload::of(&ann, &keys);
        let compare = Compare::new(Some(Delta::from_pairs([(payload.key, payload.hash)])));
        let mut scratch = b"left from the last lead".to_vec();
        let unchanged = finish(&compare, ann.clone(), &keys, &mut scratch);
        assert!(matches!(unchanged, Finished::Unchanged));
        assert!(!compare.wants_record(&unchanged));
        let Finished::Send(sent) = finish(&compare, changed.clone(), &keys, &mut scratch) else {
            panic!("a changed lead is sent");
        };
        assert!(!sent.new, "known, with another payload");
        assert_eq!(sent.json, serde_json::to_vec(&changed).unwrap());
        assert!(compare.wants_record(&Finished::Send(sent)));
        // Another lead (another phone) is new.
        let other = IndexKeys {
            phone: Some(14155550101),
            id: None,
        };
        let Finished::Send(sent) = finish(&compare, ann, &other, &mut scratch) else {
            panic!("a new lead is sent");
        };
        assert!(sent.new);
    }
}
