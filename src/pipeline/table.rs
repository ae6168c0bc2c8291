//! The tables behind [`super::DuplicateIndex`]: open addressing with linear probing over
//! packed slots of a fixed-width key and a row number, sized to the rows expected.
//!
//! A general-purpose hash map would do, but it stores a `u64` key with a `u32` value in 16
//! bytes and a 128-bit key with one in 24 or 32, and grows only to powers of two (so it is
//! often 60 % full); here a slot is 12 or 20 bytes and the table is sized to be 70 % full,
//! which at ten million rows is hundreds of MiB less. The index only ever inserts and looks
//! up, which keeps it simple.

/// Fill ratio a table is sized for ([`Table::reserve`]): short probe sequences.
const TARGET_LOAD: f64 = 0.7;
/// Fill ratio past which a table doubles.
const MAX_LOAD: f64 = 0.85;

/// A key and the first row that had it; all zeros is an empty slot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Slot<const N: usize> {
    key: [u32; N],
    row: u32,
}

impl<const N: usize> Slot<N> {
    const EMPTY: Slot<N> = Slot {
        key: [0; N],
        row: 0,
    };
}

/// A set of `N × 32`-bit keys, each with a row number.
#[derive(Debug, Default)]
pub(super) struct Table<const N: usize> {
    slots: Vec<Slot<N>>,
    /// Keys held in `slots`.
    len: usize,
    /// The row of the all-zeros key, which marks empty slots and so is kept apart.
    zero: Option<u32>,
}

/// Where a key is, or where it would go.
pub(super) enum Probe {
    /// The key is held, with this row.
    Found(u32),
    /// The key is not held; inserting it takes this slot (until the table changes).
    Vacant(usize),
}

impl<const N: usize> Table<N> {
    /// Keys held.
    pub(super) fn len(&self) -> usize {
        self.len + usize::from(self.zero.is_some())
    }

    /// Slots allocated (the keys it holds before it grows is 85 % of that).
    #[cfg(test)]
    pub(super) fn slots(&self) -> usize {
        self.slots.len()
    }

    /// Makes room for `keys` keys in all without growing.
    pub(super) fn reserve(&mut self, keys: usize) {
        let wanted = ((keys as f64 / TARGET_LOAD).ceil() as usize).max(16);
        if keys as f64 > self.slots.len() as f64 * MAX_LOAD || self.slots.is_empty() {
            self.rehash(wanted.max(self.slots.len()));
        }
    }

    /// Makes sure one more key fits.
    pub(super) fn make_room(&mut self) {
        if (self.len + 1) as f64 > self.slots.len() as f64 * MAX_LOAD {
            self.rehash((self.slots.len() * 2).max(16));
        }
    }

    /// Looks `key` up. A [`Probe::Vacant`] slot is only good until the next insert or
    /// growth, and needs [`Table::make_room`] called before the probe.
    pub(super) fn probe(&self, key: [u32; N]) -> Probe {
        if key == [0; N] {
            return match self.zero {
                Some(row) => Probe::Found(row),
                None => Probe::Vacant(usize::MAX),
            };
        }
        if self.slots.is_empty() {
            return Probe::Vacant(usize::MAX);
        }
        let mut i = self.home(key);
        loop {
            let slot = &self.slots[i];
            if slot.key == key {
                return Probe::Found(slot.row);
            }
            if slot.key == [0; N] {
                return Probe::Vacant(i);
            }
            i += 1;
            if i == self.slots.len() {
                i = 0;
            }
        }
    }

    /// Fills the slot a [`Probe::Vacant`] for `key` gave.
    pub(super) fn fill(&mut self, at: usize, key: [u32; N], row: u32) {
        if key == [0; N] {
            self.zero = Some(row);
        } else {
            debug_assert_eq!(self.slots[at].key, [0; N]);
            self.slots[at] = Slot { key, row };
            self.len += 1;
        }
    }

    /// Inserts `key` with `row` unless it is held already.
    pub(super) fn insert(&mut self, key: [u32; N], row: u32) {
        self.make_room();
        if let Probe::Vacant(at) = self.probe(key) {
            self.fill(at, key, row);
        }
    }

    /// Reads the first slot `key` would be looked up in, so that a probe soon after finds it
    /// in the cache (the probes of the rows ahead then overlap instead of waiting in turn).
    pub(super) fn touch(&self, key: [u32; N]) {
        if !self.slots.is_empty() {
            let slot = &self.slots[self.home(key)];
            // A prefetch, where there is one, does not hold up the instructions after it
            // as a load would while it waits for memory.
            #[cfg(target_arch = "x86_64")]
            // SAFETY: SSE, which the instruction needs, is part of x86-64 itself; and a
            // prefetch reads nothing (`slot` is a valid reference besides).
            unsafe {
                std::arch::x86_64::_mm_prefetch::<{ std::arch::x86_64::_MM_HINT_T0 }>(
                    std::ptr::from_ref(slot).cast(),
                );
            }
            #[cfg(not(target_arch = "x86_64"))]
            std::hint::black_box(slot.row);
        }
    }

    /// The slot where the search for `key` starts.
    fn home(&self, key: [u32; N]) -> usize {
        // Mix the key (phones come in runs) and map it to `0..slots` by multiplying.
        let mut h: u64 = 0x9E37_79B9_7F4A_7C15;
        for pair in key.chunks(2) {
            let word = u64::from(pair[0]) | (u64::from(*pair.get(1).unwrap_or(&0)) << 32);
            h = (h ^ word).wrapping_mul(0xFF51_AFD7_ED55_8CCD);
            h ^= h >> 32;
        }
        h = h.wrapping_mul(0xC4CE_B9FE_1A85_EC53);
        h ^= h >> 29;
        ((u128::from(h) * self.slots.len() as u128) >> 64) as usize
    }

    fn rehash(&mut self, slots: usize) {
        let old = std::mem::replace(&mut self.slots, vec![Slot::EMPTY; slots]);
        self.len = 0;
        for slot in old {
            if slot.key != [0; N] {
                let Probe::Vacant(at) = self.probe(slot.key) else {
                    unreachable!("keys are held once");
                };
                self.fill(at, slot.key, slot.row);
            }
        }
    }
}

/// A phone key as table words.
pub(super) fn phone_key(phone: u64) -> [u32; 2] {
    [phone as u32, (phone >> 32) as u32]
}

/// A lead_id hash as table words.
pub(super) fn id_key(hash: u128) -> [u32; 4] {
    [
        hash as u32,
        (hash >> 32) as u32,
        (hash >> 64) as u32,
        (hash >> 96) as u32,
    ]
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    #[test]
    fn behaves_like_a_map_that_keeps_the_first_row() {
        let mut table = Table::<2>::default();
        let mut model = HashMap::new();
        // Runs of neighbouring keys, repeats, and the all-zeros key.
        let mut x: u64 = 1;
        for row in 0..50_000u32 {
            x = x.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
            let key = match row % 5 {
                0 => u64::from(row),
                1 => x >> 40,
                2 => 0,
                _ => 14_155_550_000 + u64::from(row % 3000),
            };
            table.make_room();
            match table.probe(phone_key(key)) {
                Probe::Found(first) => assert_eq!(Some(&first), model.get(&key)),
                Probe::Vacant(at) => {
                    assert!(!model.contains_key(&key));
                    model.insert(key, row);
                    table.fill(at, phone_key(key), row);
                }
            }
            assert_eq!(table.len(), model.len());
        }
        for (key, row) in &model {
            assert!(matches!(table.probe(phone_key(*key)), Probe::Found(r) if r == *row));
        }
        assert!(table.len() as f64 <= table.slots() as f64 * MAX_LOAD);
    }

    #[test]
    fn sized_in_advance_it_does_not_grow() {
        let mut table = Table::<4>::default();
        table.reserve(10_000);
        let slots = table.slots();
        assert_eq!(slots, 14_286);
        for i in 1..=10_000u128 {
            table.insert(
                id_key(i.wrapping_mul(0x9E37_79B9_7F4A_7C15_F39C_C060_5CED_C835)),
                1,
            );
        }
        assert_eq!(table.len(), 10_000);
        assert_eq!(table.slots(), slots);
        table.insert(id_key(0), 7);
        table.insert(id_key(0), 8);
        assert!(matches!(table.probe(id_key(0)), Probe::Found(7)));
        assert_eq!(table.len(), 10_001);
    }
}
