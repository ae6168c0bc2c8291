//! Pipeline: source → mapping → validate → duplicate check, as an ordered stream of checked
//! rows, with the validation spread over the machine's cores.
//!
//! A reader thread cuts the file into chunks of records; worker threads decode and validate
//! chunks independently, and prepare what the consumer hands out (the lead, or the problems
//! and the row's fields as read); the consuming thread puts the chunks back in file order
//! and runs only the duplicate check, which needs that order ("the first wins"). A consumed
//! chunk goes back to the reader, which reads the next records into the same buffers: a
//! fixed number of chunks circulates, so memory holds a few chunks at most whatever the
//! file size, and rows are not allocated on one thread and freed on another. The only state
//! that grows is the [`DuplicateIndex`], which is sized in advance from the file's size.
//!
//! [`Pipeline`] hands out each row with its [`Lead`] and record, or with what a [`Finish`]
//! made of the lead on the workers (what `import` needs: the payload, compared with the
//! delta state); [`Verdicts`] only the verdicts (what `check` needs without
//! `--emit-valid`), and so builds no leads.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::{self, JoinHandle};

use crossbeam_channel::{Receiver, Sender, bounded};
use csv::ByteRecord;
use rustc_hash::FxHashSet;

use crate::lead::{ErrorClass, Lead, Problem};
use crate::report::{RejectedRow, ReportLayout};
use crate::source::{FieldDecoder, RawRow, Source, SourceError};
use crate::validate::{DedupKeys, Validator};

mod table;
use table::{Probe, Table, id_key as id_words, phone_key as phone_words};

/// Records per chunk handed to a worker: large enough that hand-offs between threads (and
/// the wake-ups they cost) are rare, small enough that the chunks in flight stay within a
/// few MiB.
const CHUNK_ROWS: usize = 1024;

/// Bytes of fields after which a chunk is handed over with fewer rows, so that very wide
/// rows do not make chunks large.
const CHUNK_BYTES: usize = 1 << 20;

/// What each field of a record counts for against [`CHUNK_BYTES`] besides its bytes: a
/// field becomes an entry of the lead's `customFields` (a key, a value, a slot: some 100
/// bytes), so a chunk of rows of 100,000 one-letter cells holds one row, not ten.
const CHUNK_FIELD_BYTES: usize = 32;

/// How many rows ahead the consumer reads where the duplicate index holds a row's keys:
/// the index is far larger than the caches, so each check waits for memory unless that
/// wait overlaps with the checks of the rows before.
const TOUCH_AHEAD: usize = 8;

/// The chunk after which the reader estimates the rows of the whole file from the bytes
/// they took, for the consumer to size the duplicate index (until then it grows, while it
/// is still small): about 16,000 rows make a better sample than the first few.
const ESTIMATE_AT: u64 = 15;

/// Chunks in circulation per worker thread (plus two: one being read, one being consumed).
const CHUNKS_PER_WORKER: usize = 2;

/// What the workers do with the lead of each valid row before it is handed out: work per
/// lead (serialising it, hashing, comparing it with the delta state) is spread over the
/// workers with the validation, rather than left to the one thread that consumes the rows
/// in order, and what a lead allocated is freed on the thread that allocated it.
pub trait Finish: Send + Sync + 'static {
    /// What a valid row is handed out as.
    type Output: Send + 'static;

    /// What [`Finish::ahead`] learns of a lead from its identities alone.
    type Ahead: Copy + Default + Send + 'static;

    /// Looks up what `finish` will need of a lead whose identities are `keys`. It runs for
    /// every valid row of a chunk in one tight loop before `finish` runs for each, so that
    /// the memory accesses of consecutive rows overlap: a random access into a large table
    /// costs more than everything else a look-up does, and waiting for each in turn,
    /// between the serialisations, costs it in full every time.
    fn ahead(&self, keys: &IndexKeys) -> Self::Ahead;

    /// Turns the `lead` of a valid row whose identities are `keys` into what is handed
    /// out, with what [`Finish::ahead`] found for it; `scratch` is the worker's own
    /// buffer, kept from row to row.
    fn finish(
        &self,
        lead: Lead,
        keys: &IndexKeys,
        ahead: Self::Ahead,
        scratch: &mut Vec<u8>,
    ) -> Self::Output;

    /// Whether the row's record is wanted beside `output` (it is copied for each row that
    /// wants it).
    fn wants_record(&self, output: &Self::Output) -> bool {
        let _ = output;
        true
    }
}

/// The lead as validation built it: what [`Pipeline::start`] hands out.
#[derive(Debug, Clone, Copy, Default)]
pub struct KeepLead;

impl Finish for KeepLead {
    type Output = Lead;
    type Ahead = ();

    fn ahead(&self, _: &IndexKeys) {}

    fn finish(&self, lead: Lead, _: &IndexKeys, (): (), _: &mut Vec<u8>) -> Lead {
        lead
    }
}

/// A worker's buffers for [`Finish`], kept from chunk to chunk.
struct Finishing<F: Finish> {
    /// The leads of a chunk, as validation built them.
    built: Vec<Option<Lead>>,
    /// What [`Finish::ahead`] found for each.
    ahead: Vec<F::Ahead>,
    /// The finisher's own buffer.
    scratch: Vec<u8>,
}

impl<F: Finish> Default for Finishing<F> {
    fn default() -> Self {
        Finishing {
            built: Vec::new(),
            ahead: Vec::new(),
            scratch: Vec::new(),
        }
    }
}

/// One row after validation and the duplicate check; a valid row comes with `T`, its
/// [`Lead`] or what a [`Finish`] made of it.
#[derive(Debug, Clone)]
pub struct CheckedRow<T = Lead> {
    /// 1-based data row number.
    pub row: u64,
    /// 1-based physical line where the record starts.
    pub line: u64,
    /// The verdict.
    pub outcome: Outcome<T>,
    /// The identities a valid row claimed in the duplicate index (what a resumed run must
    /// put back in the index without validating the row again). For a rejected row, the
    /// identities it can still be read with (a valid phone, its lead_id when the file has
    /// an ID column), so that `--delete-missing` knows which lead it stands for; none for
    /// a malformed row.
    pub keys: IndexKeys,
    /// The record as read, for a valid row when the [`Finish`] wants it (a rejected row
    /// carries its decoded fields in [`Outcome::Rejected`]); an import needs it if the API
    /// refuses the lead later.
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
#[derive(Debug, Default)]
pub struct SkipPlan {
    /// Every row up to and including this one is settled.
    pub through: u64,
    /// Settled rows after `through`.
    pub rows: FxHashSet<u64>,
    /// Rows already read past by [`SkipPlan::read_past`].
    read: u64,
    /// The error that stopped [`SkipPlan::read_past`], for the pipeline to report first.
    read_error: Option<SourceError>,
}

impl SkipPlan {
    fn skips(&self, row: u64) -> bool {
        row <= self.through || self.rows.contains(&row)
    }

    /// Reads `source` past the rows up to `through` before the pipeline starts, so that a
    /// resumed session can do it while it loads the state file; the pipeline started with
    /// this plan and `source` reads on from there, as if it had skipped them itself (an
    /// error is the pipeline's first). Checks `stop` every few thousand rows and, when it
    /// says so, leaves the rest to the pipeline.
    pub fn read_past(&mut self, source: &mut Source, stop: impl Fn() -> bool) {
        let mut raw = RawRow::default();
        while self.read < self.through && self.read_error.is_none() {
            if self.read.is_multiple_of(4096) && stop() {
                return;
            }
            match source.next_row_into(&mut raw) {
                // Rows are numbered one after the other: this one is `read + 1`.
                Ok(true) => self.read = raw.row,
                Ok(false) => return,
                Err(e) => self.read_error = Some(e),
            }
        }
    }
}

/// The verdict on a row.
#[derive(Debug, Clone)]
pub enum Outcome<T = Lead> {
    /// The row is a lead ready to send: its [`Lead`], or what a [`Finish`] made of it.
    Valid(T),
    /// The row is rejected; `original` holds its fields as read (lossily decoded if needed).
    Rejected {
        /// Every problem found, in the order found.
        problems: Vec<Problem>,
        /// The row's fields as read.
        original: Vec<String>,
    },
}

/// The verdict on a row as [`Verdicts`] gives it: no lead, and nothing but what a report of
/// the rejected rows needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// The row is valid and the first of its identities.
    Valid,
    /// The row is rejected, with every problem found and its fields as read (the same
    /// problems and fields as [`Outcome::Rejected`]).
    Rejected(RejectedRow),
}

/// Rows seen so far, by identity, for "same lead_id or phone earlier in the input".
///
/// Per distinct row it holds the phone as a `u64` (exact: the E.164 digits) and, when the
/// file has its own ID column, a 128-bit hash of the lead_id (a collision needs about 2^64
/// distinct IDs), each with the first row's number as a `u32`: a 12-byte and a 20-byte slot
/// in two open-addressing tables. The pipeline sizes the tables from the file's size
/// ([`DuplicateIndex::reserve`]) to be 70 % full at the end, so they do not grow by
/// doubling (and hold an old and a new table at once) while the rows come in: about 46
/// bytes per row with an ID column, 17 without. See BENCHMARKS.md for the measured figures.
#[derive(Debug, Default)]
pub struct DuplicateIndex {
    phones: Table<2>,
    ids: Table<4>,
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
        let id = self.index_keys(keys).id.zip(keys.lead_id.as_deref());
        self.check_keys(row, keys.phone, id, valid)
    }

    /// [`DuplicateIndex::check`] with the lead_id already hashed ([`DuplicateIndex::id_key`])
    /// when the index tracks IDs: `id` is the hash and the lead_id, for the message.
    fn check_keys(
        &mut self,
        row: u64,
        phone: Option<u64>,
        id: Option<(u128, &str)>,
        valid: bool,
    ) -> Vec<Problem> {
        let row32 = u32::try_from(row).unwrap_or(u32::MAX);
        let mut problems = Vec::new();
        let id = id.map(|(hash, text)| {
            self.ids.make_room();
            (self.ids.probe(id_words(hash)), hash, text)
        });
        if let Some((Probe::Found(first), _, id)) = &id {
            problems.push(Problem::new(
                ErrorClass::DuplicateInFile,
                "lead_id",
                format!("lead_id `{id}` already appears in row {first} (the first one wins)"),
            ));
        }
        let phone = phone.map(|phone| {
            self.phones.make_room();
            (self.phones.probe(phone_words(phone)), phone)
        });
        if let Some((Probe::Found(first), phone)) = &phone {
            problems.push(Problem::new(
                ErrorClass::DuplicateInFile,
                "phone",
                format!("phone +{phone} already appears in row {first} (the first one wins)"),
            ));
        }
        if valid && problems.is_empty() {
            if let Some((Probe::Vacant(at), hash, _)) = id {
                self.ids.fill(at, id_words(hash), row32);
            }
            if let Some((Probe::Vacant(at), phone)) = phone {
                self.phones.fill(at, phone_words(phone), row32);
            }
        }
        problems
    }

    /// Reads where the identities of a row coming soon are held, so that checking it then
    /// does not wait for memory (see [`Table::touch`]).
    fn touch(&self, phone: Option<u64>, id: Option<u128>) {
        if let Some(hash) = id {
            self.ids.touch(id_words(hash));
        }
        if let Some(phone) = phone {
            self.phones.touch(phone_words(phone));
        }
    }

    /// Makes room for `rows` rows in all (the rows already held included), so that the
    /// index does not grow, and briefly hold its old and new tables at once, until then.
    pub fn reserve(&mut self, rows: usize) {
        self.phones.reserve(rows);
        if self.track_ids {
            self.ids.reserve(rows);
        }
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

    /// Puts back the identities of rows settled by an earlier run, in file order (the first
    /// row of an identity keeps it), reading ahead where each will go: a resumed run puts
    /// back millions, each a wait for memory unless they overlap.
    pub fn restore(&mut self, settled: &[(u64, IndexKeys)]) {
        for (i, (row, keys)) in settled.iter().enumerate() {
            if let Some((_, ahead)) = settled.get(i + TOUCH_AHEAD) {
                self.touch(ahead.phone, ahead.id.filter(|_| self.track_ids));
            }
            self.insert(*row, *keys);
        }
    }

    /// Puts back the identities of a row settled by an earlier run.
    pub fn insert(&mut self, row: u64, keys: IndexKeys) {
        let row32 = u32::try_from(row).unwrap_or(u32::MAX);
        if let Some(phone) = keys.phone {
            self.phones.insert(phone_words(phone), row32);
        }
        if let Some(id) = keys.id.filter(|_| self.track_ids) {
            self.ids.insert(id_words(id), row32);
        }
    }

    /// The hash a lead_id is held under.
    pub fn id_key(lead_id: &str) -> u128 {
        xxhash_rust::xxh3::xxh3_128(lead_id.as_bytes())
    }

    /// The identities `keys` stand for in this index.
    fn index_keys(&self, keys: &DedupKeys) -> IndexKeys {
        IndexKeys {
            phone: keys.phone,
            id: keys
                .lead_id
                .as_deref()
                .filter(|_| self.track_ids)
                .map(DuplicateIndex::id_key),
        }
    }
}

/// What a worker found for one row, kept in its chunk beside the record (the buffers are
/// reused from chunk to chunk).
#[derive(Debug, Default)]
struct Pre {
    /// Whether validation passed (the duplicate check may still reject the row).
    valid: bool,
    /// The problems validation found, for a row that is not `valid`.
    problems: Vec<Problem>,
    /// The fields as read (lossily decoded), for a row that is not `valid`.
    original: Vec<String>,
    /// The phone key.
    phone: Option<u64>,
    /// The lead_id's hash, when the index tracks IDs and the row has a lead_id.
    id: Option<u128>,
    /// That lead_id, for the message of a duplicate.
    lead_id: String,
}

impl Pre {
    fn reset(&mut self) {
        self.valid = false;
        self.problems.clear();
        self.original.clear();
        self.phone = None;
        self.id = None;
        self.lead_id.clear();
    }
}

/// Rows read together and validated together.
#[derive(Debug)]
struct Chunk<T> {
    /// Position in file order.
    seq: u64,
    /// Rows in use; the vectors may hold more, left from earlier use.
    len: usize,
    /// The records as read.
    raw: Vec<RawRow>,
    /// What the worker found, per record.
    pre: Vec<Pre>,
    /// What became of the lead of each valid record, when leads are wanted (apart from
    /// `pre`, which the consumer reads for every row).
    leads: Vec<Option<T>>,
    /// One chunk ([`ESTIMATE_AT`]) carries an estimate of the file's rows, to size the
    /// index.
    estimate: Option<u64>,
}

impl<T> Default for Chunk<T> {
    fn default() -> Self {
        Chunk {
            seq: 0,
            len: 0,
            raw: Vec::new(),
            pre: Vec::new(),
            leads: Vec::new(),
            estimate: None,
        }
    }
}

/// What workers do to a row besides validating it.
#[derive(Debug, Clone, Copy)]
struct WorkerSetup {
    decoder: FieldDecoder,
    width: usize,
    /// Build the lead of each valid row.
    leads: bool,
    /// Hash lead_ids (the index tracks them).
    track_ids: bool,
    /// Bytes of the keys the validator may write (see [`Validator::key_bytes`]).
    key_bytes: usize,
}

/// A row after the duplicate check, before it is dressed for [`Pipeline`] or [`Verdicts`].
// Built and taken apart once per row, right away: boxing the lead would cost more.
#[allow(clippy::large_enum_variant)]
enum Resolved<T> {
    Valid {
        lead: Option<T>,
        keys: IndexKeys,
        record: Option<ByteRecord>,
    },
    Rejected {
        problems: Vec<Problem>,
        original: Vec<String>,
        keys: IndexKeys,
    },
}

/// A row's number, its line, and what became of it.
type RowAt<T> = (u64, u64, Resolved<T>);

/// The threads and the consuming end shared by [`Pipeline`] and [`Verdicts`].
struct Engine<F: Finish> {
    results: Receiver<Chunk<F::Output>>,
    recycle: Sender<Chunk<F::Output>>,
    parked: BTreeMap<u64, Chunk<F::Output>>,
    current: Option<Chunk<F::Output>>,
    /// The next row of `current` to hand out.
    pos: usize,
    next_chunk: u64,
    index: DuplicateIndex,
    decoder: FieldDecoder,
    error: Arc<Mutex<Option<SourceError>>>,
    threads: Vec<JoinHandle<()>>,
    finished: bool,
    progress: Arc<ReadProgress>,
    /// Hand out the records of valid rows (those the finisher wants).
    records: bool,
    finisher: Arc<F>,
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
    /// The data rows of the whole file as [`Source::estimate_rows`] last put it (0 before
    /// it could), exact once `ended`.
    estimate: AtomicU64,
    /// The file was read to its end.
    ended: AtomicBool,
}

/// How far the reader is, readable from another thread while it runs (the progress line).
#[derive(Debug, Clone)]
pub struct Reading(Arc<ReadProgress>);

impl Reading {
    /// Data rows read from the file so far, skipped ones included.
    pub fn rows_read(&self) -> u64 {
        self.0.rows.load(Ordering::Relaxed)
    }

    /// Rows skipped so far because an earlier run settled them.
    pub fn rows_skipped(&self) -> u64 {
        self.0.skipped.load(Ordering::Relaxed)
    }

    /// The data rows of the whole file: an estimate while it is read (`None` before the
    /// first rows), exact once [`Reading::ended`].
    pub fn rows_estimate(&self) -> Option<u64> {
        match self.0.estimate.load(Ordering::Relaxed) {
            0 if !self.ended() => None,
            n => Some(n),
        }
    }

    /// Whether the file was read to its end.
    pub fn ended(&self) -> bool {
        self.0.ended.load(Ordering::Relaxed)
    }
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

    /// Rows skipped so far because an earlier session settled them (what
    /// [`Pipeline::rows_skipped`] says, readable without the pipeline).
    pub fn rows_skipped(&self) -> u64 {
        self.0.skipped.load(Ordering::Relaxed)
    }
}

impl<F: Finish> Engine<F> {
    fn start(
        source: Source,
        validator: Validator,
        workers: usize,
        (index, skip): (DuplicateIndex, SkipPlan),
        leads: bool,
        finisher: F,
    ) -> Engine<F> {
        let workers = workers.max(1);
        let setup = WorkerSetup {
            decoder: source.decoder(),
            width: source.headers().len(),
            leads,
            track_ids: index.tracks_ids(),
            key_bytes: validator.key_bytes(),
        };
        let progress = Arc::new(ReadProgress::default());
        // Rows read past before the start count as skipped by the pipeline.
        progress.rows.store(skip.read, Ordering::Relaxed);
        progress.skipped.store(skip.read, Ordering::Relaxed);
        // A report of an earlier run read back: rows sent back unchanged keep their verdict.
        let report = source.report_layout().cloned().map(Arc::new);
        // Every channel can hold every chunk, so a send never blocks: the chunks in
        // circulation are what bounds the work in flight.
        let chunks = workers * CHUNKS_PER_WORKER + 2;
        let (chunk_tx, chunk_rx) = bounded::<Chunk<F::Output>>(chunks);
        let (result_tx, result_rx) = bounded::<Chunk<F::Output>>(chunks);
        let (recycle_tx, recycle_rx) = bounded::<Chunk<F::Output>>(chunks);
        let error = Arc::new(Mutex::new(None));
        let mut threads = Vec::with_capacity(workers + 1);

        let reader_error = Arc::clone(&error);
        let reader_progress = Arc::clone(&progress);
        let mut skip = skip;
        threads.push(thread::spawn(move || {
            if let Some(e) = skip.read_error.take() {
                if let Ok(mut slot) = reader_error.lock() {
                    *slot = Some(e);
                }
                return;
            }
            let reader = Reader {
                tx: chunk_tx,
                recycle: recycle_rx,
                chunks,
                error: &reader_error,
                skip: &skip,
                progress: &reader_progress,
            };
            reader.run(source);
        }));
        let validator = Arc::new(validator);
        let finisher = Arc::new(finisher);
        for _ in 0..workers {
            let rx = chunk_rx.clone();
            let tx = result_tx.clone();
            let validator = Arc::clone(&validator);
            let finisher = Arc::clone(&finisher);
            let report = report.clone();
            threads.push(thread::spawn(move || {
                let mut finishing = Finishing::<F>::default();
                for mut chunk in rx {
                    validate_chunk(
                        &mut chunk,
                        &validator,
                        (&*finisher, &mut finishing),
                        setup,
                        report.as_deref(),
                    );
                    if tx.send(chunk).is_err() {
                        return;
                    }
                }
            }));
        }
        Engine {
            results: result_rx,
            recycle: recycle_tx,
            parked: BTreeMap::new(),
            current: None,
            pos: 0,
            next_chunk: 0,
            index,
            decoder: setup.decoder,
            error,
            threads,
            finished: false,
            progress,
            records: leads,
            finisher,
        }
    }

    /// The next chunk in file order, or `None` when every worker is done.
    fn next_in_order(&mut self) -> Option<Chunk<F::Output>> {
        loop {
            if let Some(chunk) = self.parked.remove(&self.next_chunk) {
                self.next_chunk += 1;
                return Some(chunk);
            }
            match self.results.recv() {
                Ok(chunk) => {
                    self.parked.insert(chunk.seq, chunk);
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

    /// The next row in file order, after the duplicate check: its row and line numbers and
    /// what became of it.
    fn next_row(&mut self) -> Option<Result<RowAt<F::Output>, SourceError>> {
        if self.finished {
            return None;
        }
        let chunk = loop {
            match &mut self.current {
                Some(chunk) if self.pos < chunk.len => break chunk,
                current => {
                    if let Some(done) = current.take() {
                        // Back to the reader; it may have stopped, which is fine.
                        let _ = self.recycle.try_send(done);
                    }
                    match self.next_in_order() {
                        Some(chunk) => {
                            if let Some(rows) = chunk.estimate {
                                self.index
                                    .reserve(usize::try_from(rows).unwrap_or(usize::MAX));
                            }
                            self.current = Some(chunk);
                            self.pos = 0;
                        }
                        None => return self.finish().map(Err),
                    }
                }
            }
        };
        let i = self.pos;
        self.pos += 1;
        if i.is_multiple_of(TOUCH_AHEAD) {
            // The next rows but those of this batch, all at once so that their memory
            // accesses overlap.
            // (A chunk's first batch too, when it starts.)
            let from = if i == 0 { 0 } else { i + TOUCH_AHEAD };
            let ahead = from.min(chunk.len)..(i + 2 * TOUCH_AHEAD).min(chunk.len);
            for pre in &chunk.pre[ahead] {
                self.index.touch(pre.phone, pre.id);
            }
        }
        let raw = &mut chunk.raw[i];
        let pre = &mut chunk.pre[i];
        let id = pre.id.map(|hash| (hash, pre.lead_id.as_str()));
        let duplicates = self.index.check_keys(raw.row, pre.phone, id, pre.valid);
        let resolved = match (pre.valid, duplicates.is_empty()) {
            (true, true) => {
                let lead = chunk.leads.get_mut(i).and_then(Option::take);
                let wanted = lead.as_ref().is_some_and(|l| self.finisher.wants_record(l));
                Resolved::Valid {
                    lead,
                    keys: IndexKeys {
                        phone: pre.phone,
                        id: pre.id,
                    },
                    record: (self.records && wanted).then(|| raw.record.to_byte_record()),
                }
            }
            (true, false) => Resolved::Rejected {
                problems: duplicates,
                original: self.decoder.decode_lossy(&raw.record),
                keys: IndexKeys {
                    phone: pre.phone,
                    id: pre.id,
                },
            },
            (false, _) => {
                let mut problems = std::mem::take(&mut pre.problems);
                problems.extend(duplicates);
                Resolved::Rejected {
                    problems,
                    original: std::mem::take(&mut pre.original),
                    keys: IndexKeys {
                        phone: pre.phone,
                        id: pre.id,
                    },
                }
            }
        };
        Some(Ok((raw.row, raw.line, resolved)))
    }
}

impl<F: Finish> Drop for Engine<F> {
    fn drop(&mut self) {
        // Closing our ends makes the workers' sends and the reader's wait for a free chunk
        // fail, which ends them; threads are detached rather than joined so dropping never
        // blocks.
        self.threads.clear();
    }
}

/// The running pipeline; iterate it for rows in file order, each valid one with its lead
/// (or what the [`Finish`] `F` made of it) and record.
pub struct Pipeline<F: Finish = KeepLead> {
    engine: Engine<F>,
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
        Pipeline::resume_with(source, validator, workers, (index, skip), KeepLead)
    }
}

impl<F: Finish> Pipeline<F> {
    /// Starts like [`Pipeline::resume`] (`index` and `skip` as there; a fresh index and an
    /// empty plan read from the start), with `finisher` run on the workers over each valid
    /// row's lead.
    pub fn resume_with(
        source: Source,
        validator: Validator,
        workers: usize,
        (index, skip): (DuplicateIndex, SkipPlan),
        finisher: F,
    ) -> Pipeline<F> {
        Pipeline {
            engine: Engine::start(source, validator, workers, (index, skip), true, finisher),
        }
    }

    /// A handle that stops the reading.
    pub fn stopper(&self) -> StopReading {
        StopReading(Arc::clone(&self.engine.progress))
    }

    /// A handle that tells how far the reading is.
    pub fn reading(&self) -> Reading {
        Reading(Arc::clone(&self.engine.progress))
    }

    /// Data rows read from the file so far, skipped ones included.
    pub fn rows_read(&self) -> u64 {
        self.engine.progress.rows.load(Ordering::Relaxed)
    }

    /// Rows skipped so far because an earlier run settled them.
    pub fn rows_skipped(&self) -> u64 {
        self.engine.progress.skipped.load(Ordering::Relaxed)
    }

    /// The decoder of the file's fields.
    pub fn decoder(&self) -> FieldDecoder {
        self.engine.decoder
    }

    /// The duplicate index, for its size.
    pub fn index(&self) -> &DuplicateIndex {
        &self.engine.index
    }
}

impl<F: Finish> Iterator for Pipeline<F> {
    type Item = Result<CheckedRow<F::Output>, SourceError>;

    fn next(&mut self) -> Option<Self::Item> {
        let (row, line, resolved) = match self.engine.next_row()? {
            Ok(next) => next,
            Err(e) => return Some(Err(e)),
        };
        let (outcome, keys, record) = match resolved {
            Resolved::Valid { lead, keys, record } => (
                Outcome::Valid(lead.expect("workers finish the leads of a Pipeline")),
                keys,
                record,
            ),
            Resolved::Rejected {
                problems,
                original,
                keys,
            } => (Outcome::Rejected { problems, original }, keys, None),
        };
        Some(Ok(CheckedRow {
            row,
            line,
            outcome,
            keys,
            record,
        }))
    }
}

/// A running pipeline that gives only the verdicts: what `check` needs when it writes no
/// leads. It validates and checks duplicates exactly as [`Pipeline`] does (the same rows
/// are rejected, with the same problems and fields), but builds no [`Lead`]s.
pub struct Verdicts {
    engine: Engine<KeepLead>,
}

impl Verdicts {
    /// Starts reading `source` and validating with `validator` on `workers` threads.
    pub fn start(source: Source, validator: Validator, workers: usize) -> Verdicts {
        let index = DuplicateIndex::new(validator.has_id_column());
        Verdicts {
            engine: Engine::start(
                source,
                validator,
                workers,
                (index, SkipPlan::default()),
                false,
                KeepLead,
            ),
        }
    }

    /// The duplicate index, for its size.
    pub fn index(&self) -> &DuplicateIndex {
        &self.engine.index
    }
}

impl Iterator for Verdicts {
    type Item = Result<Verdict, SourceError>;

    fn next(&mut self) -> Option<Self::Item> {
        let (row, line, resolved) = match self.engine.next_row()? {
            Ok(next) => next,
            Err(e) => return Some(Err(e)),
        };
        Some(Ok(match resolved {
            Resolved::Valid { .. } => Verdict::Valid,
            Resolved::Rejected {
                problems, original, ..
            } => Verdict::Rejected(RejectedRow {
                row,
                line,
                problems,
                original,
            }),
        }))
    }
}

/// The reader thread's side: fills free chunks with records and sends them to the workers.
struct Reader<'a, T> {
    tx: Sender<Chunk<T>>,
    recycle: Receiver<Chunk<T>>,
    /// Chunks this reader may make; after that it waits for used ones to come back.
    chunks: usize,
    error: &'a Mutex<Option<SourceError>>,
    skip: &'a SkipPlan,
    progress: &'a ReadProgress,
}

impl<T> Reader<'_, T> {
    fn run(self, mut source: Source) {
        let mut made = 0;
        let mut seq = 0;
        loop {
            let mut chunk = match self.recycle.try_recv() {
                Ok(chunk) => chunk,
                Err(_) if made < self.chunks => {
                    made += 1;
                    Chunk {
                        raw: Vec::with_capacity(CHUNK_ROWS),
                        pre: Vec::with_capacity(CHUNK_ROWS),
                        ..Chunk::default()
                    }
                }
                Err(_) => match self.recycle.recv() {
                    Ok(chunk) => chunk,
                    // The consumer is gone.
                    Err(_) => return,
                },
            };
            chunk.seq = seq;
            chunk.len = 0;
            chunk.estimate = None;
            let more = self.fill(&mut source, &mut chunk);
            if let Some(rows) = source.estimate_rows() {
                self.progress.estimate.store(rows, Ordering::Relaxed);
            }
            if chunk.len > 0 {
                if seq == ESTIMATE_AT {
                    chunk.estimate = source.estimate_rows();
                }
                if self.tx.send(chunk).is_err() {
                    return;
                }
                seq += 1;
            }
            if !more {
                return;
            }
        }
    }

    /// Reads records into `chunk` until it is full; `false` when there are no more to read
    /// (the end of the file, an error, or a stop).
    fn fill(&self, source: &mut Source, chunk: &mut Chunk<T>) -> bool {
        let mut bytes = 0;
        while chunk.len < CHUNK_ROWS && bytes < CHUNK_BYTES {
            if self.progress.stop.load(Ordering::Relaxed) {
                return false;
            }
            if chunk.raw.len() == chunk.len {
                chunk.raw.push(RawRow::default());
            }
            let raw = &mut chunk.raw[chunk.len];
            match source.next_row_into(raw) {
                Ok(true) => {
                    self.progress.rows.store(raw.row, Ordering::Relaxed);
                    if self.skip.skips(raw.row) {
                        self.progress.skipped.fetch_add(1, Ordering::Relaxed);
                        continue;
                    }
                    chunk.len += 1;
                    bytes += raw.record.as_slice().len() + raw.record.len() * CHUNK_FIELD_BYTES;
                }
                Ok(false) => {
                    let rows = self.progress.rows.load(Ordering::Relaxed);
                    self.progress.estimate.store(rows, Ordering::Relaxed);
                    self.progress.ended.store(true, Ordering::Relaxed);
                    return false;
                }
                Err(e) => {
                    if let Ok(mut slot) = self.error.lock() {
                        *slot = Some(e);
                    }
                    return false;
                }
            }
        }
        true
    }
}

/// Decodes and validates the rows of a chunk (a row the report says stands rejected is
/// taken as it stands), and finishes the leads of valid rows.
fn validate_chunk<F: Finish>(
    chunk: &mut Chunk<F::Output>,
    validator: &Validator,
    (finisher, finishing): (&F, &mut Finishing<F>),
    setup: WorkerSetup,
    report: Option<&ReportLayout>,
) {
    let Chunk {
        len,
        raw,
        pre,
        leads,
        ..
    } = chunk;
    if pre.len() < *len {
        pre.resize_with(*len, Pre::default);
    }
    let Finishing {
        built,
        ahead,
        scratch,
    } = finishing;
    built.clear();
    let mut fields: Vec<Cow<'_, str>> = Vec::with_capacity(setup.width);
    for (raw, pre) in raw[..*len].iter().zip(pre.iter_mut()) {
        pre.reset();
        if let Some((problems, original)) =
            report.and_then(|r| r.standing(&raw.record, setup.decoder))
        {
            pre.problems = problems;
            pre.original = original;
            if setup.leads {
                built.push(None);
            }
            continue;
        }
        let lead = pre_validate(raw, pre, &mut fields, validator, setup);
        if setup.leads {
            built.push(lead);
        }
    }
    if !setup.leads {
        return;
    }
    let keys = |pre: &Pre| IndexKeys {
        phone: pre.phone,
        id: pre.id,
    };
    // The look-ups of the whole chunk first, then the leads one by one.
    ahead.clear();
    ahead.extend(built.iter().zip(pre.iter()).map(|(lead, pre)| match lead {
        Some(_) => finisher.ahead(&keys(pre)),
        None => F::Ahead::default(),
    }));
    leads.clear();
    for ((lead, pre), ahead) in built.drain(..).zip(pre.iter()).zip(ahead.iter()) {
        leads.push(lead.map(|lead| finisher.finish(lead, &keys(pre), *ahead, scratch)));
    }
}

/// Decodes and validates one record into `pre`, and returns its lead when it is valid and
/// leads are wanted; a record of the wrong width or with undecodable bytes is a
/// `malformed_row`.
fn pre_validate<'r>(
    raw: &'r RawRow,
    pre: &mut Pre,
    fields: &mut Vec<Cow<'r, str>>,
    validator: &Validator,
    setup: WorkerSetup,
) -> Option<Lead> {
    let decoder = setup.decoder;
    let malformed = |pre: &mut Pre, message: String| {
        pre.problems
            .push(Problem::new(ErrorClass::MalformedRow, "", message));
        pre.original = decoder.decode_lossy(&raw.record);
        None
    };
    if let Some(message) = &raw.malformed {
        return malformed(pre, message.clone());
    }
    if raw.record.len() != setup.width {
        return malformed(
            pre,
            format!(
                "line {}: expected {} fields (the header's width) but found {}",
                raw.line,
                setup.width,
                raw.record.len()
            ),
        );
    }
    if decoder.decode_record_into(&raw.record, fields).is_err() {
        // One problem per undecodable cell, `#N` naming the column for the report.
        for (column, field) in raw.record.iter().enumerate() {
            if decoder.decode(field).is_err() {
                pre.problems.push(Problem::new(
                    ErrorClass::MalformedRow,
                    format!("#{}", column + 1),
                    decoder.problem(raw.line, column + 1),
                ));
            }
        }
        pre.original = decoder.decode_lossy(&raw.record);
        return None;
    }
    let mut lead = None;
    // A row whose lead might not fit in one request body is built and measured, whether
    // leads are wanted or not, so that `check` and `import` reject the same rows.
    let measure = crate::body::lead_size_bound(
        raw.record.as_slice().len(),
        raw.record.len(),
        setup.key_bytes,
    ) > crate::body::MAX_LEAD_BYTES;
    if setup.leads || measure {
        let validated = validator.validate(fields);
        pre.phone = validated.keys.phone;
        if setup.track_ids
            && let Some(id) = validated.keys.lead_id
        {
            pre.id = Some(DuplicateIndex::id_key(&id));
            pre.lead_id = id;
        }
        match validated.result {
            Ok(valid) => match measure.then(|| crate::body::lead_json_len(&valid)) {
                Some(len) if len > crate::body::MAX_LEAD_BYTES => {
                    pre.problems.push(Problem::new(
                        ErrorClass::MalformedRow,
                        "",
                        crate::body::too_large_message(raw.line, len),
                    ));
                }
                _ => {
                    pre.valid = true;
                    lead = setup.leads.then_some(valid);
                }
            },
            Err(problems) => pre.problems = problems,
        }
    } else {
        let findings = validator.findings(fields);
        pre.phone = findings.phone;
        if setup.track_ids
            && let Some(id) = findings.lead_id()
        {
            pre.id = Some(DuplicateIndex::id_key(&id));
            pre.lead_id.push_str(&id);
        }
        pre.valid = findings.is_valid();
        pre.problems = findings.problems;
    }
    if !pre.valid {
        pre.original = decoder.decode_lossy(&raw.record);
    }
    lead
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

    /// A file of several chunks with valid, invalid, malformed and duplicate rows.
    fn mixed_file(rows: usize) -> tempfile::NamedTempFile {
        use std::io::Write as _;
        let mut file = tempfile::NamedTempFile::new().unwrap();
        writeln!(file, "lead_id,name,phone,email,status").unwrap();
        for i in 0..rows {
            let phone = format!("+1 212 200 {:04}", i % 9000);
            match i % 11 {
                0 => writeln!(file, "id-{i},N{i},{phone},bad@,new"),
                1 => writeln!(file, "id-{},N{i},+1 212 201 {:04},,new", i - 1, i % 9000),
                2 => writeln!(file, "id-{i},N{i},{phone}"),
                3 => writeln!(file, "id-{i},N{i},555-12,,qualifed"),
                4 => writeln!(file, ",N{i},+1 212 200 0004,,"),
                _ => writeln!(file, "id-{i},N{i},{phone},n{i}@example.com,contacted"),
            }
            .unwrap();
        }
        file.flush().unwrap();
        file
    }

    fn open(path: &std::path::Path) -> (Source, Validator) {
        let source = Source::open(path, &crate::source::SourceOptions::default()).unwrap();
        let mapping = crate::mapping::Mapping::resolve(source.headers(), None, path).unwrap();
        let validator = Validator::new(&mapping, crate::validate::parse_region("US").unwrap());
        (source, validator)
    }

    #[test]
    fn verdicts_are_the_pipelines_verdicts_in_file_order() {
        let file = mixed_file(CHUNK_ROWS * 5 + 17);
        let (source, validator) = open(file.path());
        let mut pipeline = Pipeline::start(source, validator, 3);
        let mut expected = Vec::new();
        for checked in pipeline.by_ref() {
            let checked = checked.unwrap();
            expected.push(match checked.outcome {
                Outcome::Valid(lead) => {
                    assert!(checked.record.is_some());
                    assert_eq!(
                        checked.keys.phone.map(|p| format!("+{p}")),
                        Some(lead.phone)
                    );
                    Verdict::Valid
                }
                Outcome::Rejected { problems, original } => {
                    assert!(checked.record.is_none());
                    if problems[0].class == ErrorClass::MalformedRow {
                        assert_eq!(checked.keys, IndexKeys::default());
                    }
                    Verdict::Rejected(RejectedRow {
                        row: checked.row,
                        line: checked.line,
                        problems,
                        original,
                    })
                }
            });
        }
        assert_eq!(expected.len(), CHUNK_ROWS * 5 + 17);
        let classes = |v: &[Verdict]| {
            let mut seen = std::collections::BTreeSet::new();
            for verdict in v {
                if let Verdict::Rejected(row) = verdict {
                    seen.insert(row.class());
                }
            }
            seen
        };
        assert_eq!(
            classes(&expected).into_iter().collect::<Vec<_>>(),
            [
                ErrorClass::MalformedRow,
                ErrorClass::InvalidPhone,
                ErrorClass::InvalidEmail,
                ErrorClass::DuplicateInFile
            ]
        );
        for workers in [1, 2] {
            let (source, validator) = open(file.path());
            let mut verdicts = Verdicts::start(source, validator, workers);
            let got: Vec<Verdict> = verdicts.by_ref().map(Result::unwrap).collect();
            assert_eq!(got, expected);
            assert_eq!(verdicts.index().len(), pipeline.index().len());
        }
    }

    #[test]
    fn a_resumed_pipeline_skips_settled_rows() {
        let total = 4096 + 2000;
        let file = mixed_file(total);
        let settled_after = [4510, 4520];
        let expected: Vec<u64> = (4501..=total as u64)
            .filter(|r| !settled_after.contains(r))
            .collect();
        // The pipeline skips the rows itself, or starts after `read_past` read past none
        // of them (stopped at its first check), some (at its second, after 4,096 rows), or
        // all.
        for (stops_at_check, read) in [(None, 0), (Some(1), 0), (Some(2), 4096), (Some(9), 4500)] {
            let (mut source, validator) = open(file.path());
            let mut skip = SkipPlan {
                through: 4500,
                rows: settled_after.into_iter().collect(),
                ..SkipPlan::default()
            };
            if let Some(stop) = stops_at_check {
                let checks = std::cell::Cell::new(0);
                skip.read_past(&mut source, || {
                    checks.set(checks.get() + 1);
                    checks.get() >= stop
                });
            }
            assert_eq!(skip.read, read);
            let index = DuplicateIndex::new(true);
            let mut pipeline = Pipeline::resume(source, validator, 2, index, skip);
            let rows: Vec<u64> = pipeline.by_ref().map(|c| c.unwrap().row).collect();
            assert_eq!(rows, expected);
            assert_eq!(pipeline.rows_read(), total as u64);
            assert_eq!(pipeline.rows_skipped(), 4502);
        }
    }

    #[test]
    fn rows_restored_in_bulk_are_held_as_if_inserted_one_by_one() {
        let settled: Vec<(u64, IndexKeys)> = (1..=5000u64)
            .map(|row| {
                let keys = IndexKeys {
                    phone: (row % 7 != 0).then_some(14_155_550_000 + row % 4000),
                    id: (row % 5 != 0).then_some(u128::from(row % 3000) << 64 | 1),
                };
                (row, keys)
            })
            .collect();
        let mut one_by_one = DuplicateIndex::new(true);
        for (row, keys) in &settled {
            one_by_one.insert(*row, *keys);
        }
        let mut bulk = DuplicateIndex::new(true);
        bulk.reserve(100);
        bulk.restore(&settled);
        assert_eq!(bulk.len(), one_by_one.len());
        for (row, keys) in &settled {
            let problems = |index: &mut DuplicateIndex| {
                index
                    .check_keys(row + 10_000, keys.phone, keys.id.map(|h| (h, "x")), false)
                    .into_iter()
                    .map(|p| p.message)
                    .collect::<Vec<_>>()
            };
            assert_eq!(problems(&mut bulk), problems(&mut one_by_one));
        }
    }

    #[test]
    fn the_index_is_sized_from_the_file() {
        let rows = CHUNK_ROWS * (ESTIMATE_AT as usize + 4);
        let file = mixed_file(rows);
        let (source, validator) = open(file.path());
        let mut verdicts = Verdicts::start(source, validator, 2);
        let skip = CHUNK_ROWS * (ESTIMATE_AT as usize + 1);
        assert!(verdicts.by_ref().take(skip + 1).all(|v| v.is_ok()));
        // Sized for all the rows once the sample is in, before the rest come in.
        let index = verdicts.index();
        assert!(index.phones.slots() as f64 * 0.85 >= rows as f64);
        assert!(index.ids.slots() as f64 * 0.85 >= rows as f64);
        // And not much more (the rows of the file are all alike).
        assert!((index.phones.slots() as f64 * 0.7) < rows as f64 * 1.05);
        let (phones, ids) = (index.phones.slots(), index.ids.slots());
        assert!(verdicts.by_ref().all(|v| v.is_ok()));
        assert_eq!(verdicts.index().phones.slots(), phones);
        assert_eq!(verdicts.index().ids.slots(), ids);
    }

    #[test]
    fn wide_rows_make_smaller_chunks() {
        use std::io::Write as _;
        let mut file = tempfile::NamedTempFile::new().unwrap();
        writeln!(file, "phone,notes").unwrap();
        let notes = "n".repeat(CHUNK_BYTES / 100);
        for i in 0..300 {
            writeln!(file, "+1 212 200 {i:04},{notes}").unwrap();
        }
        file.flush().unwrap();
        let (source, validator) = open(file.path());
        let verdicts: Vec<Verdict> = Verdicts::start(source, validator, 2)
            .map(Result::unwrap)
            .collect();
        assert_eq!(verdicts, vec![Verdict::Valid; 300]);
        let (mut source, _) = open(file.path());
        let mut chunk: Chunk<Lead> = Chunk::default();
        let (_, rx) = bounded(1);
        let (tx, _) = bounded(1);
        let reader = Reader {
            tx,
            recycle: rx,
            chunks: 1,
            error: &Mutex::new(None),
            skip: &SkipPlan::default(),
            progress: &ReadProgress::default(),
        };
        assert!(reader.fill(&mut source, &mut chunk));
        assert!(chunk.len < CHUNK_ROWS && chunk.len >= 100, "{}", chunk.len);
    }
}
