//! Reading and batching: the validation workers serialise each valid lead once and compare
//! it with the delta state ([`Compare`], through [`compare`], also the dry run's); the
//! reader thread pulls the checked rows from the [`Pipeline`] in file order, sets aside
//! those the API already holds unchanged, cuts the rest into batches, and hands everything
//! over to the coordinator.

use std::sync::Arc;

use csv::ByteRecord;
use tokio::sync::mpsc;

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
    pub json: String,
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
                json: String::from_utf8(scratch.clone()).expect("serde_json writes UTF-8"),
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

/// A batch on its way from the reader to an upload task.
#[derive(Debug)]
pub(super) struct PendingBatch {
    /// Set by the coordinator when it dispatches the batch.
    pub seq: u64,
    /// Its leads, in the order sent.
    pub leads: Vec<PendingLead>,
}

/// A lead in flight: what is sent, and what the coordinator needs to settle it.
#[derive(Debug)]
pub(super) struct PendingLead {
    /// Row, `lead_id` and payload, as sent.
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
}

/// What the reader thread hands over.
pub(super) enum Handover {
    /// Rows in file order: rejections, maybe a full batch, and the lowest row not yet
    /// handed over (everything before it is in this or an earlier handover).
    Rows {
        /// Rows rejected locally.
        rejections: Vec<Rejection>,
        /// A batch to send.
        batch: Option<PendingBatch>,
        /// Valid rows whose payload the API already holds: not sent.
        unchanged: Vec<SettledRow>,
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
#[derive(Default)]
pub(super) struct Collected {
    /// Rows rejected.
    pub rejections: Vec<Rejection>,
    /// Rows unchanged.
    pub unchanged: Vec<SettledRow>,
}

impl Collected {
    /// Rows held.
    pub(super) fn len(&self) -> usize {
        self.rejections.len() + self.unchanged.len()
    }

    fn handover(&mut self, batch: Option<PendingBatch>, low_water: u64, last_row: u64) -> Handover {
        let taken = std::mem::take(self);
        Handover::Rows {
            rejections: taken.rejections,
            batch,
            unchanged: taken.unchanged,
            low_water,
            last_row,
        }
    }
}

/// What the reader needs besides the pipeline.
pub(super) struct ReaderSetup {
    /// Leads per batch.
    pub batch_size: usize,
    /// Where to count rows.
    pub stats: Arc<Stats>,
}

/// The reader thread's state between rows.
struct Reader<'a> {
    setup: &'a ReaderSetup,
    tx: &'a mpsc::Sender<Handover>,
    open: Option<PendingBatch>,
    collected: Collected,
    last_row: u64,
}

impl Reader<'_> {
    /// Hands over what is collected (and `batch`); `false` when the coordinator is gone.
    fn send(&mut self, batch: Option<PendingBatch>, low_water: u64) -> bool {
        let handover = self.collected.handover(batch, low_water, self.last_row);
        self.tx.blocking_send(handover).is_ok()
    }

    /// Takes one valid row: unchanged, or into the open batch (handed over when full).
    fn valid(
        &mut self,
        row: u64,
        lead: Finished,
        keys: IndexKeys,
        record: Option<ByteRecord>,
    ) -> bool {
        let lead = match lead {
            Finished::Unchanged => {
                Stats::add(&self.setup.stats.unchanged, 1);
                self.collected.unchanged.push(SettledRow { row, keys });
                return true;
            }
            Finished::Send(lead) => lead,
        };
        let size = self.setup.batch_size;
        let batch = self.open.get_or_insert_with(|| PendingBatch {
            seq: 0,
            leads: Vec::with_capacity(size),
        });
        Stats::add(&self.setup.stats.leads_queued, 1);
        debug_assert_eq!(
            xxhash_rust::xxh3::xxh3_64(lead.json.as_bytes()),
            lead.payload.hash
        );
        batch.leads.push(PendingLead {
            lead: BatchLead {
                row,
                lead_id: lead.lead_id,
                json: lead.json,
            },
            keys,
            key: lead.payload.key,
            record: record.expect("a valid row keeps its record"),
            hash: lead.payload.hash,
            new: lead.new,
        });
        if batch.leads.len() < size {
            return true;
        }
        let full = self.open.take();
        self.send(full, row + 1)
    }
}

/// The reader thread: every row of `pipeline`, handed over through `tx` in file order,
/// then [`Handover::End`].
pub(super) fn read_batches(
    pipeline: &mut ImportPipeline,
    tx: &mpsc::Sender<Handover>,
    setup: &ReaderSetup,
) {
    let mut reader = Reader {
        setup,
        tx,
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
                reader.collected.rejections.push(Rejection {
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
        if reader.collected.len() >= HANDOVER_ROWS {
            let low_water = reader
                .open
                .as_ref()
                .map_or(reader.last_row + 1, PendingBatch::first_row);
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

    fn lead(json: &str) -> (Lead, IndexKeys) {
        let lead: Lead = serde_json::from_str(json).unwrap();
        let keys = IndexKeys {
            phone: Some(14155550100),
            id: None,
        };
        (lead, keys)
    }

    /// What a worker does with a lead: its look-up, then the rest.
    fn finish(compare: &Compare, lead: Lead, keys: &IndexKeys, scratch: &mut Vec<u8>) -> Finished {
        let ahead = compare.ahead(keys);
        compare.finish(lead, keys, ahead, scratch)
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
        assert_eq!(sent.json, serde_json::to_string(&lead).unwrap());
        assert_eq!(
            payload.hash,
            xxhash_rust::xxh3::xxh3_64(sent.json.as_bytes())
        );
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
        assert_eq!(sent.json, serde_json::to_string(&changed).unwrap());
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
