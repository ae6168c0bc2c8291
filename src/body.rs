//! What one sync request body may hold: the size limit, a batch's body written once and
//! shared by every attempt (and sliced for a split half), and the bound that tells cheaply
//! whether a row's lead could ever pass the limit.
//!
//! The API documents no body limit (`naturalead-api.md` §9: "Request size limits … not
//! documented"); the sandbox refuses bodies over 10 MiB with 413, a common server default.
//! A batch is cut before its body would pass [`MAX_BODY_BYTES`], and a lead whose JSON alone
//! passes [`MAX_LEAD_BYTES`] is rejected locally (`malformed_row`), never sent. A server
//! with a smaller limit answers 413, and the batch is split down to the lead as before.

use std::ops::Range;

use bytes::Bytes;

use crate::lead::Lead;

/// The largest request body sent: 10 MiB, the sandbox's limit.
pub const MAX_BODY_BYTES: usize = 10 << 20;

/// Room kept in a body for everything but the leads: `{"source":…,"leads":[` and `]}`.
pub const ENVELOPE_BYTES: usize = 4 << 10;

/// The largest JSON of one lead: a lead beyond it could not be sent even alone.
pub const MAX_LEAD_BYTES: usize = MAX_BODY_BYTES - ENVELOPE_BYTES;

/// An upper bound of the JSON of a lead built from a record of `cells` bytes of cell text
/// in `fields` fields, by a validator whose keys (custom field names, phone headers) take
/// `keys` bytes: every character is at most six in JSON (`\u0001`), a cell may be sent
/// twice (a phone and its original), and every field and key brings quotes, a colon and a
/// comma. A row whose bound is under [`MAX_LEAD_BYTES`] needs no measuring.
pub fn lead_size_bound(cells: usize, fields: usize, keys: usize) -> usize {
    cells
        .saturating_mul(12)
        .saturating_add(keys.saturating_mul(6))
        .saturating_add(fields.saturating_mul(8))
        .saturating_add(1024)
}

/// The exact size of `lead` as JSON, counted without writing it anywhere.
pub fn lead_json_len(lead: &Lead) -> usize {
    struct Count(usize);
    impl std::io::Write for Count {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            self.0 += bytes.len();
            Ok(bytes.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let mut count = Count(0);
    serde_json::to_writer(&mut count, lead).expect("a lead always serialises");
    count.0
}

/// The `malformed_row` message of a lead too large to send, found at `line`.
pub fn too_large_message(line: u64, json_len: usize) -> String {
    format!(
        "line {line}: the lead takes {} as JSON, more than one request may carry ({}): shorten its cells or send fewer columns as customFields",
        mib(json_len),
        mib(MAX_LEAD_BYTES)
    )
}

fn mib(bytes: usize) -> String {
    format!("{:.1} MiB", bytes as f64 / f64::from(1u32 << 20))
}

/// A sync request body, written once: `{"source":…,"leads":[…]}`. Cloning it, or handing
/// it to a request, shares the bytes.
#[derive(Debug, Clone)]
pub struct Body {
    bytes: Bytes,
    /// Where the first lead starts (the envelope's opening ends there).
    leads_at: usize,
}

impl Body {
    /// The whole body, shared.
    pub fn bytes(&self) -> Bytes {
        self.bytes.clone()
    }

    /// Its size.
    pub fn len(&self) -> usize {
        self.bytes.len()
    }

    /// Whether it is empty (never: a body holds at least its envelope).
    pub fn is_empty(&self) -> bool {
        self.bytes.is_empty()
    }

    /// The JSON of the lead written at `range` (as [`BodyBuilder::push`] returned it).
    pub fn json(&self, range: &Range<usize>) -> &[u8] {
        &self.bytes[range.clone()]
    }

    /// A body of the same envelope holding only the leads at `ranges` (a split half): a
    /// new buffer, no larger than this body.
    pub fn part<'a>(&self, ranges: impl Iterator<Item = &'a Range<usize>>) -> Bytes {
        let mut out = Vec::with_capacity(self.bytes.len());
        out.extend_from_slice(&self.bytes[..self.leads_at]);
        for (i, range) in ranges.enumerate() {
            if i > 0 {
                out.push(b',');
            }
            out.extend_from_slice(&self.bytes[range.clone()]);
        }
        out.extend_from_slice(b"]}");
        Bytes::from(out)
    }
}

/// Writes a [`Body`] lead by lead.
#[derive(Debug)]
pub struct BodyBuilder {
    buf: Vec<u8>,
    leads_at: usize,
    leads: usize,
}

impl BodyBuilder {
    /// An empty body with `source` (sent with every batch) in its envelope.
    pub fn new(source: Option<&str>) -> BodyBuilder {
        let mut buf = Vec::with_capacity(256);
        buf.push(b'{');
        if let Some(source) = source {
            buf.extend_from_slice(b"\"source\":");
            serde_json::to_writer(&mut buf, source).expect("a string always serialises");
            buf.push(b',');
        }
        buf.extend_from_slice(b"\"leads\":[");
        let leads_at = buf.len();
        BodyBuilder {
            buf,
            leads_at,
            leads: 0,
        }
    }

    /// Leads written so far.
    pub fn leads(&self) -> usize {
        self.leads
    }

    /// The size of the finished body if a lead of `json_len` bytes were added now.
    pub fn len_with(&self, json_len: usize) -> usize {
        self.buf.len() + usize::from(self.leads > 0) + json_len + 2
    }

    /// Adds a lead's JSON; returns where it lies in the body.
    pub fn push(&mut self, json: &[u8]) -> Range<usize> {
        if self.leads > 0 {
            self.buf.push(b',');
        }
        let start = self.buf.len();
        self.buf.extend_from_slice(json);
        self.leads += 1;
        start..self.buf.len()
    }

    /// The body, closed.
    pub fn finish(mut self) -> Body {
        self.buf.extend_from_slice(b"]}");
        Body {
            bytes: Bytes::from(self.buf),
            leads_at: self.leads_at,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lead(id: &str, name: &str) -> Lead {
        serde_json::from_value(serde_json::json!({
            "lead_id": id, "name": name, "phone": "+14155550100"
        }))
        .unwrap()
    }

    #[test]
    fn a_body_is_the_json_of_its_leads_and_a_part_holds_only_some() {
        let mut builder = BodyBuilder::new(Some("CRM \"x\""));
        let (a, b, c) = (lead("a", "Ann"), lead("b", "Bo\n"), lead("c", "Cy"));
        let mut ranges = Vec::new();
        for l in [&a, &b, &c] {
            let json = serde_json::to_vec(l).unwrap();
            let expected = builder.len_with(json.len());
            ranges.push(builder.push(&json));
            assert_eq!(expected, builder.buf.len() + 2);
        }
        let body = builder.finish();
        let value: serde_json::Value = serde_json::from_slice(&body.bytes()).unwrap();
        assert_eq!(value["source"], "CRM \"x\"");
        assert_eq!(value["leads"].as_array().unwrap().len(), 3);
        assert_eq!(body.len(), body.bytes().len());
        assert_eq!(
            serde_json::from_slice::<Lead>(body.json(&ranges[1])).unwrap(),
            b
        );
        let half = body.part([&ranges[0], &ranges[2]].into_iter());
        let value: serde_json::Value = serde_json::from_slice(&half).unwrap();
        assert_eq!(value["source"], "CRM \"x\"");
        let ids: Vec<&str> = value["leads"]
            .as_array()
            .unwrap()
            .iter()
            .map(|l| l["lead_id"].as_str().unwrap())
            .collect();
        assert_eq!(ids, ["a", "c"]);
        let empty = BodyBuilder::new(None).finish();
        assert_eq!(&empty.bytes()[..], br#"{"leads":[]}"#);
    }

    #[test]
    fn the_bound_is_above_the_json_of_the_worst_cells() {
        // Control characters: six bytes each in JSON.
        let cell = "\u{1}".repeat(1000);
        let mut l = lead(&cell, &cell);
        l.tags = Some(vec![cell.clone(), "t".into()]);
        let mut custom = serde_json::Map::new();
        custom.insert(cell.clone(), serde_json::Value::String(cell.clone()));
        l.custom_fields = Some(custom);
        let cells = 4 * cell.len() + 2 + 12;
        let json = lead_json_len(&l);
        assert_eq!(json, serde_json::to_vec(&l).unwrap().len());
        assert!(json <= lead_size_bound(cells, 6, cell.len()), "{json}");
        assert!(too_large_message(7, MAX_BODY_BYTES + 1).contains("line 7"));
    }
}
