//! Pipeline: source → mapping → validate → duplicate check, as an ordered stream of checked
//! rows, with the validation spread over the machine's cores.
//!
//! A reader thread cuts the file into chunks of records; worker threads decode and validate
//! chunks independently; the consuming thread puts them back in file order and runs the
//! duplicate check, which needs that order ("the first wins"). Channels are bounded, so
//! memory holds a few chunks at most whatever the file size; the only state that grows is
//! the [`DuplicateIndex`].

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::{self, JoinHandle};

use crossbeam_channel::{Receiver, bounded};
use csv::ByteRecord;
use rustc_hash::{FxHashMap, FxHashSet};

use crate::lead::{ErrorClass, Lead, Problem};
use crate::source::{FieldDecoder, RawRow, Source, SourceError};
use crate::validate::{DedupKeys, Validator};

/// Records per chunk handed to a worker: large enough that channel traffic is negligible,
/// small enough that a few chunks in flight stay well under a megabyte or two.
const CHUNK_ROWS: usize = 512;

/// One row after validation and the duplicate check.
#[derive(Debug, Clone)]
pub struct CheckedRow {
    /// 1-based data row number.
    pub row: u64,
    /// 1-based physical line where the record starts.
    pub line: u64,
    /// The verdict.
    pub outcome: Outcome,
    /// The identities a valid row claimed in the duplicate index (what a resumed run must
    /// put back in the index without validating the row again).
    pub keys: IndexKeys,
    /// The record as read, for a valid row (a rejected row carries its decoded fields in
    /// [`Outcome::Rejected`]); an import needs it if the API refuses the lead later.
    pub record: Option<ByteRecord>,
}

/// The identities of a row as the [`DuplicateIndex`] holds them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct IndexKeys {
    /// The E.164 digits of the phone.
    pub phone: Option<u64>,
    /// The 128-bit hash of the lead_id, when the file has an ID column.
    pub id: Option<u128>,
}

/// Rows a resumed run does not read again: every row up to `through`, and the rows in
/// `rows` (settled after it). They are counted, never decoded or validated.
#[derive(Debug, Clone, Default)]
pub struct SkipPlan {
    /// Every row up to and including this one is settled.
    pub through: u64,
    /// Settled rows after `through`.
    pub rows: FxHashSet<u64>,
}

impl SkipPlan {
    fn skips(&self, row: u64) -> bool {
        row <= self.through || self.rows.contains(&row)
    }
}

/// The verdict on a row.
#[derive(Debug, Clone)]
pub enum Outcome {
    /// The row is a lead ready to send.
    Valid(Lead),
    /// The row is rejected; `original` holds its fields as read (lossily decoded if needed).
    Rejected {
        /// Every problem found, in the order found.
        problems: Vec<Problem>,
        /// The row's fields as read.
        original: Vec<String>,
    },
}

/// A row validated by a worker, before the duplicate check.
struct Pre {
    row: u64,
    line: u64,
    result: Result<Lead, Vec<Problem>>,
    keys: DedupKeys,
    /// Kept until the duplicate check has spoken, since it may still reject a valid row.
    record: ByteRecord,
}

/// Rows seen so far, by identity, for "same lead_id or phone earlier in the input".
///
/// Per distinct row it holds the phone as a `u64` (exact: the E.164 digits) and, when the
/// file has its own ID column, a 128-bit hash of the lead_id (a collision needs about 2^64
/// distinct IDs), each with the first row's number as a `u32`. See BENCHMARKS.md for the
/// measured bytes per row.
#[derive(Debug, Default)]
pub struct DuplicateIndex {
    phones: FxHashMap<u64, u32>,
    ids: FxHashMap<u128, u32>,
    track_ids: bool,
}

impl DuplicateIndex {
    /// An index; `track_ids` when lead_ids come from a column rather than from the phone.
    pub fn new(track_ids: bool) -> Self {
        DuplicateIndex {
            track_ids,
            ..Default::default()
        }
    }

    /// Checks `keys` of row `row` against earlier rows; a row that is otherwise `valid`
    /// becomes the first of its identities when no earlier row claims them.
    pub fn check(&mut self, row: u64, keys: &DedupKeys, valid: bool) -> Vec<Problem> {
        let row32 = u32::try_from(row).unwrap_or(u32::MAX);
        let id_hash = self.index_keys(keys).id;
        let mut problems = Vec::new();
        if let (Some(hash), Some(id)) = (id_hash, &keys.lead_id)
            && let Some(first) = self.ids.get(&hash)
        {
            problems.push(Problem::new(
                ErrorClass::DuplicateInFile,
                "lead_id",
                format!("lead_id `{id}` already appears in row {first} (the first one wins)"),
            ));
        }
        if let Some(phone) = keys.phone
            && let Some(first) = self.phones.get(&phone)
        {
            problems.push(Problem::new(
                ErrorClass::DuplicateInFile,
                "phone",
                format!("phone +{phone} already appears in row {first} (the first one wins)"),
            ));
        }
        if valid && problems.is_empty() {
            if let Some(hash) = id_hash {
                self.ids.insert(hash, row32);
            }
            if let Some(phone) = keys.phone {
                self.phones.insert(phone, row32);
            }
        }
        problems
    }

    /// Distinct identities held.
    pub fn len(&self) -> usize {
        self.phones.len() + self.ids.len()
    }

    /// Whether the index is empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Whether lead_ids are tracked (the file has an ID column).
    pub fn tracks_ids(&self) -> bool {
        self.track_ids
    }

    /// Puts back the identities of a row settled by an earlier run.
    pub fn insert(&mut self, row: u64, keys: IndexKeys) {
        let row32 = u32::try_from(row).unwrap_or(u32::MAX);
        if let Some(phone) = keys.phone {
            self.phones.entry(phone).or_insert(row32);
        }
        if let Some(id) = keys.id.filter(|_| self.track_ids) {
            self.ids.entry(id).or_insert(row32);
        }
    }

    /// The identities `keys` stand for in this index.
    fn index_keys(&self, keys: &DedupKeys) -> IndexKeys {
        IndexKeys {
            phone: keys.phone,
            id: keys
                .lead_id
                .as_deref()
                .filter(|_| self.track_ids)
                .map(|id| xxhash_rust::xxh3::xxh3_128(id.as_bytes())),
        }
    }
}

/// The running pipeline; iterate it for rows in file order.
pub struct Pipeline {
    results: Receiver<(u64, Vec<Pre>)>,
    parked: BTreeMap<u64, Vec<Pre>>,
    current: std::vec::IntoIter<Pre>,
    next_chunk: u64,
    index: DuplicateIndex,
    decoder: FieldDecoder,
    error: Arc<Mutex<Option<SourceError>>>,
    threads: Vec<JoinHandle<()>>,
    finished: bool,
    progress: Arc<ReadProgress>,
}

/// What the reader thread has done so far, readable while it runs.
#[derive(Debug, Default)]
struct ReadProgress {
    /// Data rows read from the file (skipped ones included).
    rows: AtomicU64,
    /// Rows skipped by the [`SkipPlan`].
    skipped: AtomicU64,
    /// Set to stop reading (Ctrl-C).
    stop: AtomicBool,
}

/// Stops a running [`Pipeline`] from reading further; cheap to clone and send.
#[derive(Debug, Clone)]
pub struct StopReading(Arc<ReadProgress>);

impl StopReading {
    /// Asks the reader to stop after the current record. Rows already read are still
    /// delivered; the iterator then ends.
    pub fn stop(&self) {
        self.0.stop.store(true, Ordering::Relaxed);
    }
}

impl Pipeline {
    /// Starts reading `source` and validating with `validator` on `workers` threads.
    pub fn start(source: Source, validator: Validator, workers: usize) -> Pipeline {
        let index = DuplicateIndex::new(validator.has_id_column());
        Pipeline::resume(source, validator, workers, index, SkipPlan::default())
    }

    /// Starts like [`Pipeline::start`], for a run that settled some rows before: rows in
    /// `skip` are counted but not read again, and `index` already holds their identities.
    pub fn resume(
        source: Source,
        validator: Validator,
        workers: usize,
        index: DuplicateIndex,
        skip: SkipPlan,
    ) -> Pipeline {
        let workers = workers.max(1);
        let decoder = source.decoder();
        let width = source.headers().len();
        let progress = Arc::new(ReadProgress::default());
        let (chunk_tx, chunk_rx) = bounded::<(u64, Vec<RawRow>)>(workers * 2);
        let (result_tx, result_rx) = bounded::<(u64, Vec<Pre>)>(workers * 2);
        let error = Arc::new(Mutex::new(None));
        let mut threads = Vec::with_capacity(workers + 1);

        let reader_error = Arc::clone(&error);
        let reader_progress = Arc::clone(&progress);
        threads.push(thread::spawn(move || {
            read_chunks(source, &chunk_tx, &reader_error, &skip, &reader_progress);
        }));
        let validator = Arc::new(validator);
        for _ in 0..workers {
            let rx = chunk_rx.clone();
            let tx = result_tx.clone();
            let validator = Arc::clone(&validator);
            threads.push(thread::spawn(move || {
                for (seq, rows) in rx {
                    let checked = rows
                        .into_iter()
                        .map(|raw| pre_validate(raw, &validator, decoder, width))
                        .collect();
                    if tx.send((seq, checked)).is_err() {
                        return;
                    }
                }
            }));
        }
        Pipeline {
            results: result_rx,
            parked: BTreeMap::new(),
            current: Vec::new().into_iter(),
            next_chunk: 0,
            index,
            decoder,
            error,
            threads,
            finished: false,
            progress,
        }
    }

    /// A handle that stops the reading.
    pub fn stopper(&self) -> StopReading {
        StopReading(Arc::clone(&self.progress))
    }

    /// Data rows read from the file so far, skipped ones included.
    pub fn rows_read(&self) -> u64 {
        self.progress.rows.load(Ordering::Relaxed)
    }

    /// Rows skipped so far because an earlier run settled them.
    pub fn rows_skipped(&self) -> u64 {
        self.progress.skipped.load(Ordering::Relaxed)
    }

    /// The decoder of the file's fields.
    pub fn decoder(&self) -> FieldDecoder {
        self.decoder
    }

    /// The duplicate index, for its size.
    pub fn index(&self) -> &DuplicateIndex {
        &self.index
    }

    /// The next chunk in file order, or `None` when every worker is done.
    fn next_in_order(&mut self) -> Option<Vec<Pre>> {
        loop {
            if let Some(chunk) = self.parked.remove(&self.next_chunk) {
                self.next_chunk += 1;
                return Some(chunk);
            }
            match self.results.recv() {
                Ok((seq, chunk)) => {
                    self.parked.insert(seq, chunk);
                }
                Err(_) => return None,
            }
        }
    }

    fn finish(&mut self) -> Option<SourceError> {
        self.finished = true;
        for handle in self.threads.drain(..) {
            // A worker can only panic through a bug; surface it rather than hide rows.
            if let Err(panic) = handle.join() {
                std::panic::resume_unwind(panic);
            }
        }
        self.error.lock().ok().and_then(|mut e| e.take())
    }
}

impl Iterator for Pipeline {
    type Item = Result<CheckedRow, SourceError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.finished {
            return None;
        }
        let pre = loop {
            if let Some(pre) = self.current.next() {
                break pre;
            }
            match self.next_in_order() {
                Some(chunk) => self.current = chunk.into_iter(),
                None => return self.finish().map(Err),
            }
        };
        let valid = pre.result.is_ok();
        let duplicates = self.index.check(pre.row, &pre.keys, valid);
        let mut keys = IndexKeys::default();
        let mut record = None;
        let outcome = match (pre.result, duplicates.is_empty()) {
            (Ok(lead), true) => {
                keys = self.index.index_keys(&pre.keys);
                record = Some(pre.record);
                Outcome::Valid(lead)
            }
            (Ok(_), false) => Outcome::Rejected {
                problems: duplicates,
                original: self.decoder.decode_lossy(&pre.record),
            },
            (Err(mut problems), _) => {
                problems.extend(duplicates);
                Outcome::Rejected {
                    problems,
                    original: self.decoder.decode_lossy(&pre.record),
                }
            }
        };
        Some(Ok(CheckedRow {
            row: pre.row,
            line: pre.line,
            outcome,
            keys,
            record,
        }))
    }
}

impl Drop for Pipeline {
    fn drop(&mut self) {
        // Closing our end makes the workers' sends fail, which ends them, which ends the
        // reader; threads are detached rather than joined so dropping never blocks.
        self.threads.clear();
    }
}

fn read_chunks(
    mut source: Source,
    tx: &crossbeam_channel::Sender<(u64, Vec<RawRow>)>,
    error: &Mutex<Option<SourceError>>,
    skip: &SkipPlan,
    progress: &ReadProgress,
) {
    let mut seq = 0;
    let mut chunk = Vec::with_capacity(CHUNK_ROWS);
    loop {
        if progress.stop.load(Ordering::Relaxed) {
            break;
        }
        match source.next_row() {
            Ok(Some(row)) => {
                progress.rows.store(row.row, Ordering::Relaxed);
                if skip.skips(row.row) {
                    progress.skipped.fetch_add(1, Ordering::Relaxed);
                    continue;
                }
                chunk.push(row);
                if chunk.len() == CHUNK_ROWS {
                    let full = std::mem::replace(&mut chunk, Vec::with_capacity(CHUNK_ROWS));
                    if tx.send((seq, full)).is_err() {
                        return;
                    }
                    seq += 1;
                }
            }
            Ok(None) => break,
            Err(e) => {
                if let Ok(mut slot) = error.lock() {
                    *slot = Some(e);
                }
                break;
            }
        }
    }
    if !chunk.is_empty() {
        let _ = tx.send((seq, chunk));
    }
}

/// Decodes and validates one record; a record of the wrong width or with undecodable bytes
/// is a `malformed_row`.
fn pre_validate(raw: RawRow, validator: &Validator, decoder: FieldDecoder, width: usize) -> Pre {
    let malformed = |message: String| Pre {
        row: raw.row,
        line: raw.line,
        result: Err(vec![Problem::new(ErrorClass::MalformedRow, "", message)]),
        keys: DedupKeys::default(),
        record: raw.record.clone(),
    };
    if raw.record.len() != width {
        return malformed(format!(
            "line {}: expected {width} fields (the header's width) but found {}",
            raw.line,
            raw.record.len()
        ));
    }
    let validated = match decoder.decode_record(&raw.record) {
        Ok(fields) => validator.validate(&fields),
        Err((column, _)) => {
            return malformed(format!(
                "line {}: column {} holds bytes that are not valid {}; pass --encoding if the file uses another one",
                raw.line,
                column + 1,
                decoder.name()
            ));
        }
    };
    Pre {
        row: raw.row,
        line: raw.line,
        result: validated.result,
        keys: validated.keys,
        record: raw.record,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_occurrence_wins_and_later_ones_name_it() {
        let mut index = DuplicateIndex::new(true);
        let keys = |phone: u64, id: &str| DedupKeys {
            phone: Some(phone),
            lead_id: Some(id.to_owned()),
        };
        assert!(index.check(1, &keys(1, "a"), true).is_empty());
        let dup = index.check(2, &keys(2, "a"), true);
        assert_eq!(dup.len(), 1);
        assert_eq!(
            dup[0].message,
            "lead_id `a` already appears in row 1 (the first one wins)"
        );
        let dup = index.check(3, &keys(1, "b"), true);
        assert_eq!(dup[0].field, "phone");
        assert!(dup[0].message.contains("row 1"));
        // An invalid row never becomes "the first": a later valid row with its phone is fine.
        assert!(index.check(4, &keys(9, "z"), false).is_empty());
        assert!(index.check(5, &keys(9, "y"), true).is_empty());
    }
}
