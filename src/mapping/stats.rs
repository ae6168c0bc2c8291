//! What the mapping decided row by row, counted while rows are validated (on every worker
//! thread), for the summary: phones taken from a later column, read in a guessed region or
//! as international digits, extensions kept, country and status values not understood,
//! status values mapped by a table.
//!
//! Workers count into one of several stripes (one per thread, in practice), each behind
//! its own lock, so that counting costs an uncontended lock only on rows that have
//! something to count.

use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use rustc_hash::FxHashMap;

use super::text::MAX_FOLDED;

const STRIPES: usize = 16;

/// Distinct unknown values kept per kind; beyond that they are counted together.
pub const MAX_DISTINCT: usize = 100;

/// Per-row events counted without a value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(usize)]
pub enum Event {
    /// A national number read in `--default-region` (no country given for the row).
    DefaultRegion = 0,
    /// Digits without `+` read as an international number (they began with the country code).
    International,
    /// An extension kept as a custom field.
    Extension,
    /// A phone cell holding several numbers (the first was taken).
    MultiValue,
    /// A country value not understood in a row whose number carries its country code.
    UnknownCountry,
    /// A status value nothing maps.
    UnknownStatus,
}

const EVENTS: usize = 6;

/// The counts of one stripe.
#[derive(Debug, Default)]
struct Tally {
    events: [u64; EVENTS],
    /// Leads whose phone came from candidate `i` (only `i > 0` is counted).
    phone_from: Vec<u64>,
    /// Rows whose status rule `i` mapped.
    status_rules: Vec<u64>,
    unknown_status: FxHashMap<Box<str>, u64>,
    unknown_country: FxHashMap<Box<str>, u64>,
    other_status: u64,
    other_country: u64,
}

/// The counts of a run, shared by the validators of every worker.
#[derive(Debug)]
pub struct Stats {
    stripes: Vec<Mutex<Tally>>,
}

/// One row's events, gathered while it is validated and counted at once.
#[derive(Debug, Default, Clone, Copy)]
pub struct RowNotes<'r> {
    /// Events of the row.
    pub events: [bool; EVENTS],
    /// The phone candidate the lead's phone came from, when not the first.
    pub phone_from: Option<usize>,
    /// The status rule that mapped the row's status.
    pub status_rule: Option<u32>,
    /// The status value nothing maps.
    pub unknown_status: Option<&'r str>,
    /// The country value not understood.
    pub unknown_country: Option<&'r str>,
}

impl RowNotes<'_> {
    /// Notes an event.
    pub fn note(&mut self, event: Event) {
        self.events[event as usize] = true;
    }

    fn is_empty(&self) -> bool {
        !self.events.iter().any(|e| *e)
            && self.phone_from.is_none()
            && self.status_rule.is_none()
            && self.unknown_status.is_none()
            && self.unknown_country.is_none()
    }
}

fn stripe() -> usize {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    thread_local! {
        static STRIPE: usize = NEXT.fetch_add(1, Ordering::Relaxed) % STRIPES;
    }
    STRIPE.with(|s| *s)
}

/// Counts `value` in `map`, keeping at most [`MAX_DISTINCT`] distinct values (cut to a
/// readable length); returns false when the value had no room.
fn count_value(map: &mut FxHashMap<Box<str>, u64>, value: &str) -> bool {
    let mut end = value.len().min(MAX_FOLDED);
    while !value.is_char_boundary(end) {
        end -= 1;
    }
    let value = &value[..end];
    if let Some(n) = map.get_mut(value) {
        *n += 1;
        return true;
    }
    if map.len() >= MAX_DISTINCT {
        return false;
    }
    map.insert(value.into(), 1);
    true
}

/// The totals of a run.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Totals {
    /// Counts per [`Event`].
    pub events: [u64; EVENTS],
    /// Leads per phone candidate (index 0 is not counted).
    pub phone_from: Vec<u64>,
    /// Rows per status rule.
    pub status_rules: Vec<u64>,
    /// Unknown status values, most frequent first.
    pub unknown_status: Vec<(String, u64)>,
    /// Rows with an unknown status beyond the distinct values kept.
    pub other_status: u64,
    /// Unknown country values, most frequent first.
    pub unknown_country: Vec<(String, u64)>,
    /// Rows with an unknown country beyond the distinct values kept.
    pub other_country: u64,
}

impl Totals {
    /// The count of an event.
    pub fn event(&self, event: Event) -> u64 {
        self.events[event as usize]
    }
}

impl Stats {
    /// Counters for `phones` phone candidates and `rules` status rules.
    pub fn new(phones: usize, rules: usize) -> Stats {
        Stats {
            stripes: (0..STRIPES)
                .map(|_| {
                    Mutex::new(Tally {
                        phone_from: vec![0; phones],
                        status_rules: vec![0; rules],
                        ..Tally::default()
                    })
                })
                .collect(),
        }
    }

    /// Counts one row's notes (nothing to do for most rows).
    pub fn record(&self, notes: &RowNotes<'_>) {
        if notes.is_empty() {
            return;
        }
        let Ok(mut tally) = self.stripes[stripe()].lock() else {
            return;
        };
        for (slot, happened) in tally.events.iter_mut().zip(notes.events) {
            *slot += u64::from(happened);
        }
        if let Some(i) = notes.phone_from
            && let Some(slot) = tally.phone_from.get_mut(i)
        {
            *slot += 1;
        }
        if let Some(i) = notes.status_rule
            && let Some(slot) = tally.status_rules.get_mut(i as usize)
        {
            *slot += 1;
        }
        if let Some(value) = notes.unknown_status
            && !count_value(&mut tally.unknown_status, value)
        {
            tally.other_status += 1;
        }
        if let Some(value) = notes.unknown_country
            && !count_value(&mut tally.unknown_country, value)
        {
            tally.other_country += 1;
        }
    }

    /// The totals so far.
    pub fn totals(&self) -> Totals {
        let mut totals = Totals::default();
        let mut status: FxHashMap<Box<str>, u64> = FxHashMap::default();
        let mut country: FxHashMap<Box<str>, u64> = FxHashMap::default();
        for stripe in &self.stripes {
            let Ok(tally) = stripe.lock() else { continue };
            for (t, v) in totals.events.iter_mut().zip(tally.events) {
                *t += v;
            }
            add(&mut totals.phone_from, &tally.phone_from);
            add(&mut totals.status_rules, &tally.status_rules);
            for (k, v) in &tally.unknown_status {
                *status.entry(k.clone()).or_default() += v;
            }
            for (k, v) in &tally.unknown_country {
                *country.entry(k.clone()).or_default() += v;
            }
            totals.other_status += tally.other_status;
            totals.other_country += tally.other_country;
        }
        (totals.unknown_status, totals.other_status) = sorted(status, totals.other_status);
        (totals.unknown_country, totals.other_country) = sorted(country, totals.other_country);
        totals
    }
}

fn add(total: &mut Vec<u64>, part: &[u64]) {
    if total.len() < part.len() {
        total.resize(part.len(), 0);
    }
    for (t, p) in total.iter_mut().zip(part) {
        *t += p;
    }
}

/// The values most frequent first, at most [`MAX_DISTINCT`] of them; the rows of the others
/// are added to `other`.
fn sorted(map: FxHashMap<Box<str>, u64>, other: u64) -> (Vec<(String, u64)>, u64) {
    let mut out: Vec<(String, u64)> = map.into_iter().map(|(k, v)| (k.into(), v)).collect();
    out.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    let rest: u64 = out.iter().skip(MAX_DISTINCT).map(|v| v.1).sum();
    out.truncate(MAX_DISTINCT);
    (out, other + rest)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_add_up_across_threads() {
        let stats = std::sync::Arc::new(Stats::new(2, 3));
        let threads: Vec<_> = (0..4)
            .map(|t| {
                let stats = std::sync::Arc::clone(&stats);
                std::thread::spawn(move || {
                    for i in 0..1000 {
                        let mut notes = RowNotes::default();
                        notes.note(Event::DefaultRegion);
                        notes.phone_from = Some(1);
                        notes.status_rule = Some(2);
                        let value = format!("v{}", (i + t) % 3);
                        notes.unknown_status = Some(&value);
                        stats.record(&notes);
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        stats.record(&RowNotes::default());
        let totals = stats.totals();
        assert_eq!(totals.event(Event::DefaultRegion), 4000);
        assert_eq!(totals.phone_from, [0, 4000]);
        assert_eq!(totals.status_rules, [0, 0, 4000]);
        assert_eq!(totals.unknown_status.iter().map(|v| v.1).sum::<u64>(), 4000);
        assert_eq!(totals.unknown_status.len(), 3);
    }

    #[test]
    fn distinct_values_are_bounded() {
        let stats = Stats::new(0, 0);
        for i in 0..(MAX_DISTINCT + 50) {
            let value = format!("country {i}");
            stats.record(&RowNotes {
                unknown_country: Some(&value),
                ..RowNotes::default()
            });
        }
        let totals = stats.totals();
        assert!(totals.unknown_country.len() <= MAX_DISTINCT);
        assert_eq!(
            totals.unknown_country.iter().map(|v| v.1).sum::<u64>() + totals.other_country,
            (MAX_DISTINCT + 50) as u64
        );
    }
}
