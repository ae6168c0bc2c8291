//! The leads of each account: the lead object, upsert on `lead_id`, phone uniqueness,
//! sync and bulk delete, with the per-request atomic modes.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::config::ConflictMode;
use crate::validate::{LeadError, LeadInput, LeadStatus, SyncBody};

/// A lead as the API returns it: the fields of the docs' lead object (§4.1) the sandbox
/// keeps, with the docs' field names.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Lead {
    /// Integer id, sequential within the account, from 1.
    pub id: u64,
    /// Name (`""` when never sent).
    pub name: String,
    /// Phone, exactly as sent; unique within the account.
    pub phone: String,
    /// Email (`""` by default).
    pub email: String,
    /// Status (`"new"` by default).
    pub status: LeadStatus,
    /// The owning account's id (24-hex ObjectId).
    pub account_id: String,
    /// Where the lead came from: the sync body's `source`, or `"api"`.
    pub source: String,
    /// Tags.
    pub tags: Vec<String>,
    /// Custom fields, with the JSON types they were sent with.
    pub custom_fields: Map<String, Value>,
    /// The sync `lead_id`, when the lead has one.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub external_id: Option<String>,
    /// Creation time, RFC 3339.
    pub created_at: String,
    /// Last write time, RFC 3339.
    pub updated_at: String,
}

/// A lead as the sandbox holds it: the API object plus evidence for tests.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StoredLead {
    /// The lead as the API shows it.
    #[serde(flatten)]
    pub lead: Lead,
    /// How many times the API wrote this lead (created or updated). Leads seeded with
    /// [`SharedState::insert_lead`](crate::SharedState::insert_lead) start at 0.
    pub write_count: u32,
}

/// One entry of a sync response's `errors` (our shape; see the crate docs).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SyncError {
    /// 0-based position of the lead in the request's `leads`.
    pub index: usize,
    /// The lead's `lead_id`, when it had a usable one.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub lead_id: Option<String>,
    /// The API's message for the failure.
    pub error: String,
}

/// The body of a well-formed sync request's 200 (our shape; see the crate docs).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct SyncOutcome {
    /// Leads created.
    pub created: usize,
    /// Leads updated.
    pub updated: usize,
    /// Leads refused (one `errors` entry each).
    pub failed: usize,
    /// Why each refused lead was refused, in request order.
    pub errors: Vec<SyncError>,
}

/// The body of a bulk delete's 200 (documented shape).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DeleteOutcome {
    /// How many ids were processed.
    pub total: usize,
    /// How many leads were removed.
    pub deleted: usize,
    /// How many ids matched no lead.
    pub not_found: usize,
}

/// A whole sync request refused by an atomic mode; nothing was applied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum SyncRefusal {
    /// `strict_validation`: 400 with the first failing lead's message.
    Invalid(LeadError),
    /// `ConflictMode::WholeRequest409`: 409.
    Conflict,
}

/// Whether an upsert created or updated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Written {
    Created(u64),
    Updated(u64),
}

/// One account's leads and their indexes.
#[derive(Debug, Clone)]
pub(crate) struct Account {
    id: String,
    leads: BTreeMap<u64, StoredLead>,
    /// Ids are never reused, even after a delete, like a database sequence.
    next_id: u64,
    // Ordered maps rather than hash tables: a hash table that doubles holds the sandbox's
    // lock for a tenth of a second at 229,376 leads, long enough to push the requests
    // behind it into a later rate-limit window; a B-tree grows a node at a time.
    by_external: BTreeMap<String, u64>,
    by_phone: BTreeMap<String, u64>,
}

impl Account {
    pub(crate) fn new(id: &str) -> Self {
        Account {
            id: id.to_owned(),
            leads: BTreeMap::new(),
            next_id: 1,
            by_external: BTreeMap::new(),
            by_phone: BTreeMap::new(),
        }
    }

    /// Every lead, by id.
    pub(crate) fn leads(&self) -> impl Iterator<Item = &StoredLead> {
        self.leads.values()
    }

    pub(crate) fn get(&self, id: u64) -> Option<&StoredLead> {
        self.leads.get(&id)
    }

    /// Creates a lead, whatever its `lead_id` (which must be free when given).
    /// `counted` says whether this is an API write (`write_count` 1) or seeding (0).
    pub(crate) fn create(
        &mut self,
        input: LeadInput,
        source: Option<&str>,
        now: &str,
        counted: bool,
    ) -> Result<&StoredLead, LeadError> {
        if self.by_phone.contains_key(&input.phone) {
            return Err(LeadError::PhoneTaken);
        }
        if input
            .lead_id
            .as_ref()
            .is_some_and(|ext| self.by_external.contains_key(ext))
        {
            return Err(LeadError::LeadIdTaken);
        }
        let id = self.next_id;
        self.next_id += 1;
        let lead = Lead {
            id,
            name: input.name.unwrap_or_default(),
            phone: input.phone,
            email: input.email.unwrap_or_default(),
            status: input.status.unwrap_or_default(),
            account_id: self.id.clone(),
            source: source.unwrap_or("api").to_owned(),
            tags: input.tags.unwrap_or_default(),
            custom_fields: input.custom_fields.unwrap_or_default(),
            external_id: input.lead_id,
            created_at: now.to_owned(),
            updated_at: now.to_owned(),
        };
        self.by_phone.insert(lead.phone.clone(), id);
        if let Some(ext) = &lead.external_id {
            self.by_external.insert(ext.clone(), id);
        }
        let stored = StoredLead {
            lead,
            write_count: u32::from(counted),
        };
        Ok(self.leads.entry(id).or_insert(stored))
    }

    /// Sync's upsert: updates the lead with the same `lead_id` (replacing the fields sent,
    /// keeping the others), or creates one. A phone held by another lead is refused.
    pub(crate) fn upsert(
        &mut self,
        input: LeadInput,
        source: Option<&str>,
        now: &str,
    ) -> Result<Written, LeadError> {
        let existing = input
            .lead_id
            .as_ref()
            .and_then(|ext| self.by_external.get(ext))
            .copied();
        let Some(id) = existing else {
            return self
                .create(input, source, now, true)
                .map(|l| Written::Created(l.lead.id));
        };
        if self
            .by_phone
            .get(&input.phone)
            .is_some_and(|&owner| owner != id)
        {
            return Err(LeadError::PhoneTaken);
        }
        let Some(stored) = self.leads.get_mut(&id) else {
            unreachable!("the external-id index points at a stored lead");
        };
        let lead = &mut stored.lead;
        if lead.phone != input.phone {
            self.by_phone.remove(&lead.phone);
            self.by_phone.insert(input.phone.clone(), id);
            lead.phone = input.phone;
        }
        if let Some(v) = input.name {
            lead.name = v;
        }
        if let Some(v) = input.email {
            lead.email = v;
        }
        if let Some(v) = input.status {
            lead.status = v;
        }
        if let Some(v) = input.tags {
            lead.tags = v;
        }
        if let Some(v) = input.custom_fields {
            lead.custom_fields = v;
        }
        if let Some(v) = source {
            lead.source = v.to_owned();
        }
        lead.updated_at = now.to_owned();
        stored.write_count += 1;
        Ok(Written::Updated(id))
    }

    /// Processes a sync body lead by lead, in order, so a later lead sees the earlier ones.
    /// In the default modes each lead stands alone; with `strict` or
    /// `ConflictMode::WholeRequest409`, the first lead that fails the mode's rule refuses
    /// the whole request and nothing is applied.
    pub(crate) fn sync(
        &mut self,
        body: SyncBody,
        mode: ConflictMode,
        strict: bool,
        now: &str,
    ) -> Result<SyncOutcome, SyncRefusal> {
        let atomic = strict || mode == ConflictMode::WholeRequest409;
        if !atomic {
            return Ok(self.apply(body, now).0);
        }
        // Work on a copy and keep it only if no lead broke the mode's rule.
        let mut scratch = self.clone();
        let (outcome, failures) = scratch.apply(body, now);
        for e in failures {
            if e.is_conflict() && mode == ConflictMode::WholeRequest409 {
                return Err(SyncRefusal::Conflict);
            }
            if !e.is_conflict() && strict {
                return Err(SyncRefusal::Invalid(e));
            }
        }
        *self = scratch;
        Ok(outcome)
    }

    /// Applies every lead it can; also returns the failures, in order, as typed errors.
    fn apply(&mut self, body: SyncBody, now: &str) -> (SyncOutcome, Vec<LeadError>) {
        let mut out = SyncOutcome::default();
        let mut failures = Vec::new();
        let source = body.source.as_deref();
        for (index, raw) in body.leads.iter().enumerate() {
            let result =
                LeadInput::from_json(raw).and_then(|input| self.upsert(input, source, now));
            match result {
                Ok(Written::Created(_)) => out.created += 1,
                Ok(Written::Updated(_)) => out.updated += 1,
                Err(e) => {
                    failures.push(e);
                    out.failed += 1;
                    out.errors.push(SyncError {
                        index,
                        lead_id: raw
                            .get("lead_id")
                            .and_then(Value::as_str)
                            .filter(|s| !s.is_empty())
                            .map(str::to_owned),
                        error: e.to_string(),
                    });
                }
            }
        }
        (out, failures)
    }

    /// Bulk delete by external id; an id listed twice is found once.
    pub(crate) fn delete_external(&mut self, ids: &[String]) -> DeleteOutcome {
        let mut out = DeleteOutcome {
            total: ids.len(),
            ..DeleteOutcome::default()
        };
        for ext in ids {
            match self
                .by_external
                .remove(ext)
                .and_then(|id| self.leads.remove(&id))
            {
                Some(stored) => {
                    self.by_phone.remove(&stored.lead.phone);
                    out.deleted += 1;
                }
                None => out.not_found += 1,
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::validate::parse_sync_body;

    fn body(v: Value) -> SyncBody {
        parse_sync_body(v.to_string().as_bytes()).unwrap()
    }

    fn sync(acc: &mut Account, v: Value) -> SyncOutcome {
        acc.sync(body(v), ConflictMode::PerLead, false, "T1")
            .unwrap()
    }

    fn by_ext<'a>(acc: &'a Account, ext: &str) -> &'a StoredLead {
        acc.leads()
            .find(|l| l.lead.external_id.as_deref() == Some(ext))
            .unwrap()
    }

    #[test]
    fn create_fills_defaults_and_sequential_ids() {
        let mut acc = Account::new("665f1e2d3c4b5a6978877665");
        let out = sync(
            &mut acc,
            json!({"leads": [{"lead_id": "a", "phone": "+1"}, {"phone": "+2", "name": "B"}]}),
        );
        assert_eq!((out.created, out.updated, out.failed), (2, 0, 0));
        let leads: Vec<_> = acc.leads().cloned().collect();
        assert_eq!(leads[0].lead.id, 1);
        assert_eq!(leads[1].lead.id, 2);
        let a = serde_json::to_value(&leads[0].lead).unwrap();
        assert_eq!(
            a,
            json!({"id": 1, "name": "", "phone": "+1", "email": "", "status": "new",
                   "accountId": "665f1e2d3c4b5a6978877665", "source": "api", "tags": [],
                   "customFields": {}, "externalId": "a", "createdAt": "T1", "updatedAt": "T1"})
        );
        assert!(
            serde_json::to_value(&leads[1].lead)
                .unwrap()
                .get("externalId")
                .is_none()
        );
        assert_eq!(serde_json::to_value(&leads[1]).unwrap()["writeCount"], 1);
    }

    #[test]
    fn update_replaces_fields_sent_and_keeps_the_rest() {
        let mut acc = Account::new("acc");
        sync(
            &mut acc,
            json!({"source": "hubspot", "leads": [{"lead_id": "a", "phone": "+1", "name": "Ann",
                "email": "a@x.io", "status": "contacted", "tags": ["t"], "customFields": {"k": 1}}]}),
        );
        let out = acc
            .sync(
                body(json!({"leads": [{"lead_id": "a", "phone": "+9", "tags": []}]})),
                ConflictMode::PerLead,
                false,
                "T2",
            )
            .unwrap();
        assert_eq!((out.created, out.updated), (0, 1));
        let a = by_ext(&acc, "a");
        assert_eq!(a.write_count, 2);
        let l = &a.lead;
        assert_eq!(
            (
                l.name.as_str(),
                l.phone.as_str(),
                l.email.as_str(),
                l.status,
                l.source.as_str()
            ),
            ("Ann", "+9", "a@x.io", LeadStatus::Contacted, "hubspot")
        );
        assert!(l.tags.is_empty());
        assert_eq!(l.custom_fields["k"], 1);
        assert_eq!((l.created_at.as_str(), l.updated_at.as_str()), ("T1", "T2"));
        // The old phone is free again.
        assert_eq!(
            sync(
                &mut acc,
                json!({"leads": [{"lead_id": "b", "phone": "+1"}]})
            )
            .created,
            1
        );
    }

    #[test]
    fn partial_failure_reports_each_failed_lead_and_keeps_the_others() {
        let mut acc = Account::new("acc");
        sync(
            &mut acc,
            json!({"leads": [{"lead_id": "old", "phone": "+1"}]}),
        );
        let out = sync(
            &mut acc,
            json!({"leads": [
                {"lead_id": "a", "phone": "+2"},
                {"lead_id": "b", "phone": "+1"},
                {"lead_id": "c"},
                {"lead_id": "d", "phone": "+3", "status": "won"},
                {"lead_id": "a", "phone": "+2", "name": "again"},
                {"phone": "+2"},
                {"lead_id": 7, "phone": "+4"}
            ]}),
        );
        let errors: Vec<_> = out
            .errors
            .iter()
            .map(|e| (e.index, e.lead_id.as_deref(), e.error.as_str()))
            .collect();
        assert_eq!(
            errors,
            [
                (1, Some("b"), "A lead with this phone number already exists"),
                (2, Some("c"), "phone is required"),
                (
                    3,
                    Some("d"),
                    "Invalid status. Must be one of: new, contacted, qualified, disqualified"
                ),
                (5, None, "A lead with this phone number already exists"),
                (6, None, "lead_id must be a non-empty string"),
            ]
        );
        assert_eq!((out.created, out.updated, out.failed), (1, 1, 5));
        assert_eq!(by_ext(&acc, "a").lead.name, "again");
        assert_eq!(by_ext(&acc, "a").write_count, 2);
        assert_eq!(acc.leads().count(), 2);
        assert_eq!(
            serde_json::to_value(&out).unwrap()["errors"][3],
            json!({"index": 5, "error": "A lead with this phone number already exists"})
        );
    }

    #[test]
    fn atomic_modes_apply_nothing_on_failure() {
        let fresh = || {
            let mut acc = Account::new("acc");
            sync(
                &mut acc,
                json!({"leads": [{"lead_id": "old", "phone": "+1"}]}),
            );
            acc
        };
        let conflict =
            json!({"leads": [{"lead_id": "a", "phone": "+2"}, {"lead_id": "b", "phone": "+1"}]});
        let invalid =
            json!({"leads": [{"lead_id": "a", "phone": "+2"}, {"lead_id": "b", "tags": 1}]});
        // (body, mode, strict, expected refusal; None = applied per lead)
        let cases = [
            (
                &conflict,
                ConflictMode::WholeRequest409,
                false,
                Some(SyncRefusal::Conflict),
            ),
            (&conflict, ConflictMode::PerLead, true, None),
            (&invalid, ConflictMode::WholeRequest409, false, None),
            (
                &invalid,
                ConflictMode::PerLead,
                true,
                Some(SyncRefusal::Invalid(LeadError::PhoneRequired)),
            ),
        ];
        for (b, mode, strict, want) in cases {
            let mut acc = fresh();
            let got = acc.sync(body(b.clone()), mode, strict, "T");
            match want {
                Some(refusal) => {
                    assert_eq!(got, Err(refusal), "{b} {mode:?} {strict}");
                    assert_eq!(acc.leads().count(), 1, "nothing applied");
                }
                None => {
                    let out = got.unwrap();
                    assert_eq!((out.created, out.failed), (1, 1), "{b} {mode:?} {strict}");
                    assert_eq!(acc.leads().count(), 2);
                }
            }
        }
        // Both modes: the first failing lead in order decides.
        let both = json!({"leads": [{"lead_id": "b", "phone": "+1"}, {"lead_id": "c", "tags": 1}]});
        let mut acc = fresh();
        assert_eq!(
            acc.sync(body(both), ConflictMode::WholeRequest409, true, "T"),
            Err(SyncRefusal::Conflict)
        );
        // A clean request in atomic mode applies everything.
        let mut acc = fresh();
        let ok = json!({"leads": [{"lead_id": "a", "phone": "+2"}, {"lead_id": "old", "phone": "+1", "name": "n"}]});
        let out = acc
            .sync(body(ok), ConflictMode::WholeRequest409, true, "T")
            .unwrap();
        assert_eq!((out.created, out.updated, out.failed), (1, 1, 0));
    }

    #[test]
    fn delete_counts_and_frees_phone_and_id() {
        let mut acc = Account::new("acc");
        sync(
            &mut acc,
            json!({"leads": [{"lead_id": "a", "phone": "+1"}, {"lead_id": "b", "phone": "+2"}]}),
        );
        let ids = ["a", "x", "a", "b"].map(str::to_owned);
        assert_eq!(
            acc.delete_external(&ids),
            DeleteOutcome {
                total: 4,
                deleted: 2,
                not_found: 2
            }
        );
        assert_eq!(
            serde_json::to_value(DeleteOutcome::default()).unwrap(),
            json!({"total": 0, "deleted": 0, "notFound": 0})
        );
        let out = sync(
            &mut acc,
            json!({"leads": [{"lead_id": "a", "phone": "+1"}]}),
        );
        assert_eq!(out.created, 1);
        assert_eq!(acc.leads().next().unwrap().lead.id, 3, "ids are not reused");
    }

    #[test]
    fn seeded_lead_conflicts_and_starts_at_zero_writes() {
        let mut acc = Account::new("acc");
        let seeded = acc
            .create(LeadInput::new("+1").with_name("Pre"), None, "T0", false)
            .unwrap();
        assert_eq!(seeded.write_count, 0);
        let out = sync(
            &mut acc,
            json!({"leads": [{"lead_id": "n", "phone": "+1"}]}),
        );
        assert_eq!(
            out.errors[0].error,
            "A lead with this phone number already exists"
        );
    }
}
