//! The record type the source hands out: a row's fields as raw bytes, contiguous, with the
//! end of each field; its buffers are reused from record to record.

use std::ops::Range;

use csv::ByteRecord;

/// One record's fields as read (raw bytes in the file's encoding; UTF-8 for UTF-16 input
/// and workbooks), in one buffer.
///
/// It is filled in place by the CSV reader (no copy after parsing) and keeps its capacity
/// when cleared, so that a reused record allocates nothing per row.
#[derive(Clone, Default)]
pub struct Record {
    /// Field bytes; only the first `ends[len - 1]` are in use, the rest is spare capacity
    /// the parser writes into.
    bytes: Vec<u8>,
    /// End of each field in `bytes`; only the first `len` are in use.
    ends: Vec<usize>,
    /// Fields in use.
    len: usize,
}

impl std::fmt::Debug for Record {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list()
            .entries(self.iter().map(String::from_utf8_lossy))
            .finish()
    }
}

impl PartialEq for Record {
    fn eq(&self, other: &Record) -> bool {
        self.len == other.len && self.iter().eq(other.iter())
    }
}

impl Eq for Record {}

impl Record {
    /// An empty record.
    pub fn new() -> Record {
        Record::default()
    }

    /// Fields in the record.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether the record has no fields.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Bytes of all fields together (delimiters and quotes are not part of them).
    pub fn as_slice(&self) -> &[u8] {
        &self.bytes[..self.used()]
    }

    /// Where field `i` lies in [`Record::as_slice`].
    pub fn range(&self, i: usize) -> Option<Range<usize>> {
        if i >= self.len {
            return None;
        }
        let start = if i == 0 { 0 } else { self.ends[i - 1] };
        Some(start..self.ends[i])
    }

    /// Field `i`.
    pub fn get(&self, i: usize) -> Option<&[u8]> {
        self.range(i).map(|r| &self.bytes[r])
    }

    /// The fields in order.
    pub fn iter(&self) -> impl ExactSizeIterator<Item = &[u8]> + '_ {
        (0..self.len).map(|i| {
            let start = if i == 0 { 0 } else { self.ends[i - 1] };
            &self.bytes[start..self.ends[i]]
        })
    }

    /// Removes every field, keeping the buffers.
    pub fn clear(&mut self) {
        self.len = 0;
    }

    /// Appends a field.
    pub fn push_field(&mut self, field: &[u8]) {
        let start = self.used();
        let end = start + field.len();
        if self.bytes.len() < end {
            self.bytes.resize(end.max(self.bytes.len() * 2), 0);
        }
        self.bytes[start..end].copy_from_slice(field);
        if self.ends.len() == self.len {
            self.ends.push(end);
        } else {
            self.ends[self.len] = end;
        }
        self.len += 1;
    }

    /// A `csv` crate record with the same fields (a copy).
    pub fn to_byte_record(&self) -> ByteRecord {
        let mut out = ByteRecord::with_capacity(self.used(), self.len);
        for field in self.iter() {
            out.push_field(field);
        }
        out
    }

    /// Whether every field is empty (a line of delimiters only, or an empty quoted field).
    pub fn is_blank(&self) -> bool {
        self.used() == 0
    }

    /// Fields that hold something other than spaces.
    pub fn non_empty_fields(&self) -> usize {
        self.iter()
            .filter(|f| !f.iter().all(u8::is_ascii_whitespace))
            .count()
    }

    /// Fields up to and including the last one that holds something other than spaces.
    pub fn trimmed_len(&self) -> usize {
        let mut n = self.len;
        while n > 0
            && self
                .get(n - 1)
                .is_some_and(|f| f.iter().all(u8::is_ascii_whitespace))
        {
            n -= 1;
        }
        n
    }

    /// Whether fields `from..to` are all empty (in constant time).
    pub(crate) fn empty_between(&self, from: usize, to: usize) -> bool {
        let to = to.min(self.len);
        if from >= to {
            return true;
        }
        let start = if from == 0 { 0 } else { self.ends[from - 1] };
        self.ends[to - 1] == start
    }

    /// Keeps the first `n` fields.
    pub(crate) fn truncate(&mut self, n: usize) {
        self.len = self.len.min(n);
    }

    /// Removes the first `n` fields, which must be empty.
    pub(crate) fn drop_leading_empty(&mut self, n: usize) {
        debug_assert!(self.empty_between(0, n));
        let n = n.min(self.len);
        self.ends.copy_within(n..self.len, 0);
        self.len -= n;
    }

    /// Appends empty fields until the record has `n`.
    pub(crate) fn pad_to(&mut self, n: usize) {
        let end = self.used();
        while self.len < n {
            if self.ends.len() == self.len {
                self.ends.push(end);
            } else {
                self.ends[self.len] = end;
            }
            self.len += 1;
        }
    }

    /// Bytes in use.
    fn used(&self) -> usize {
        if self.len == 0 {
            0
        } else {
            self.ends[self.len - 1]
        }
    }

    /// The buffers for a parser to write into: the field bytes and the field ends, each at
    /// its full length (spare capacity included).
    pub(super) fn buffers(&mut self) -> (&mut Vec<u8>, &mut Vec<usize>) {
        (&mut self.bytes, &mut self.ends)
    }

    /// Sets the number of fields a parser wrote.
    pub(super) fn set_len(&mut self, len: usize) {
        debug_assert!(len <= self.ends.len());
        self.len = len;
    }

    /// Gives back memory beyond `bytes` bytes and `fields` fields, after an outsized record.
    pub(super) fn shrink(&mut self, bytes: usize, fields: usize) {
        self.len = self.len.min(fields);
        while self.len > 0 && self.ends[self.len - 1] > bytes {
            self.len -= 1;
        }
        self.bytes.truncate(bytes.max(self.used()));
        self.bytes.shrink_to(bytes);
        self.ends.truncate(fields.max(self.len));
        self.ends.shrink_to(fields);
    }
}

impl From<Vec<&str>> for Record {
    fn from(fields: Vec<&str>) -> Record {
        let mut record = Record::new();
        for field in fields {
            record.push_field(field.as_bytes());
        }
        record
    }
}

impl From<Vec<&[u8]>> for Record {
    fn from(fields: Vec<&[u8]>) -> Record {
        let mut record = Record::new();
        for field in fields {
            record.push_field(field);
        }
        record
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_ranges_and_reuse() {
        let mut r = Record::from(vec!["a", "", "bc"]);
        assert_eq!(r.len(), 3);
        assert_eq!(r.as_slice(), b"abc");
        assert_eq!(r.get(1), Some(&b""[..]));
        assert_eq!(r.range(2), Some(1..3));
        assert_eq!(r.get(3), None);
        assert_eq!(r.to_byte_record(), ByteRecord::from(vec!["a", "", "bc"]));
        r.clear();
        assert!(r.is_empty() && r.is_blank());
        r.push_field(b"x");
        assert_eq!(r.iter().collect::<Vec<_>>(), [b"x"]);
    }

    #[test]
    fn blank_trimmed_and_padding() {
        let mut r = Record::from(vec!["", "a", " ", ""]);
        assert!(!r.is_blank());
        assert_eq!(r.non_empty_fields(), 1);
        assert_eq!(r.trimmed_len(), 2);
        assert!(r.empty_between(2, 2));
        assert!(!r.empty_between(1, 4));
        assert!(!r.empty_between(2, 4), "a space is not empty");
        assert!(r.empty_between(0, 1));
        r.drop_leading_empty(1);
        assert_eq!(r.iter().collect::<Vec<_>>(), [&b"a"[..], b" ", b""]);
        r.truncate(1);
        r.pad_to(3);
        assert_eq!(r.iter().collect::<Vec<_>>(), [&b"a"[..], b"", b""]);
        assert!(Record::from(vec!["", ""]).is_blank());
    }
}
