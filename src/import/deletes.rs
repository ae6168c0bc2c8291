//! `--delete-missing`: which leads of the scope no row of a complete export identifies,
//! whether deleting them is safe (no rejected row that identifies no lead, not more than
//! `--max-delete-ratio` of the known leads), the deletes themselves with the API's counts,
//! and `deleted.csv`, the undo: the last payload the API accepted for every deleted lead,
//! in columns that `nl-import import deleted.csv` reads back. A dry run plans the same way
//! and writes the same list as `deleted-preview.csv`.

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, anyhow};
use serde::Serialize;
use serde_json::Value;

use crate::checkpoint::Checkpoint;
use crate::checkpoint::delta::{Missing, MissingLead, Seen};
use crate::fsutil::AtomicFile;
use crate::output::Event;
use crate::upload::{DeleteError, Stop, Uploader};

/// Leads per delete request (the sync endpoint's batch size; the API documents no maximum).
const DELETE_CHUNK: usize = 100;

/// Rows named in a message before "and N more".
const ROWS_NAMED: usize = 20;

/// The undo file's columns: the lead fields, as `import` maps them automatically.
const COLUMNS: [&str; 7] = [
    "lead_id",
    "name",
    "phone",
    "email",
    "status",
    "tags",
    "customFields",
];

/// What `--delete-missing` did (or, in a dry run, would do).
#[derive(Debug, Clone, Default, Serialize)]
pub struct Deletion {
    /// Leads of the source the state file knew of.
    pub known: u64,
    /// Those that no row of this export identifies.
    pub missing: u64,
    /// Those the API deleted (its `deleted` count); in a dry run, those it would be asked
    /// to delete.
    pub deleted: u64,
    /// Ids sent that the API did not find (its `notFound` count): gone from the account
    /// already, not deleted by this run.
    pub not_found: u64,
    /// Missing leads not deleted because no payload of theirs is known to restore them
    /// (recorded by an older nl-import): a run that sends them again (`--full`) records it.
    pub kept_without_payload: u64,
    /// Rejected rows that identify no lead (their phone cannot be read and the `lead_id`
    /// comes from it, or the row is malformed): while there are any, nothing is deleted.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub unidentified_rows: Vec<u64>,
    /// Why nothing (or not everything) was deleted.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refused: Option<String>,
    /// `deleted.csv` (or `deleted-preview.csv`): every lead deleted, with its last accepted
    /// payload; `nl-import import` on it restores them.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub file: Option<PathBuf>,
}

/// What to delete, decided before anything is sent.
#[derive(Debug)]
pub(super) struct Plan {
    /// The summary so far (`refused` set when nothing may be deleted).
    pub deletion: Deletion,
    /// The leads to delete, with their payloads, in `lead_id` order.
    pub leads: Vec<MissingLead>,
}

/// Decides what a complete export that `seen` describes allows to delete among the
/// leads of the scope, of which `missing` are not in it. Shared by the run and the dry run.
pub(super) fn plan(seen: &Seen, missing: Missing, max_ratio: f64) -> Plan {
    let Missing {
        known,
        leads: missing,
    } = missing;
    let mut deletion = Deletion {
        known,
        missing: missing.len() as u64,
        unidentified_rows: seen.unidentified.clone(),
        ..Deletion::default()
    };
    if !seen.unidentified.is_empty() {
        let (verb, their, theirs, rows) = if seen.unidentified.len() == 1 {
            ("ies", "its", "its", "that row")
        } else {
            ("y", "their", "theirs", "those rows")
        };
        deletion.refused = Some(format!(
            "--delete-missing refused: {} rejected (see rejected.csv) and identif{verb} no lead: {their} phone cannot be read and the lead_id comes from the phone, or the row is malformed. Any missing lead might be {theirs}, so nothing was deleted; fix {rows} and run again",
            name_rows(&seen.unidentified),
        ));
        return Plan {
            deletion,
            leads: Vec::new(),
        };
    }
    let ratio = if known == 0 {
        0.0
    } else {
        deletion.missing as f64 / known as f64
    };
    if ratio > max_ratio {
        deletion.refused = Some(format!(
            "--delete-missing refused: {} of the {known} leads imported for this source ({:.1}%) are not in this export, more than --max-delete-ratio {:.1}%. A truncated export? Nothing was deleted; check the file, or raise --max-delete-ratio if the shrink is real",
            deletion.missing,
            ratio * 100.0,
            max_ratio * 100.0
        ));
        return Plan {
            deletion,
            leads: Vec::new(),
        };
    }
    let (leads, kept): (Vec<MissingLead>, Vec<MissingLead>) =
        missing.into_iter().partition(|lead| lead.payload.is_some());
    deletion.kept_without_payload = kept.len() as u64;
    Plan { deletion, leads }
}

/// "row 7", "rows 3, 9 and 12", "rows 1, 2, … (40 rows)".
fn name_rows(rows: &[u64]) -> String {
    let named: Vec<String> = rows.iter().take(ROWS_NAMED).map(u64::to_string).collect();
    match rows.len() {
        1 => format!("row {} was", named[0]),
        n if n <= ROWS_NAMED => format!(
            "rows {} and {} were",
            named[..n - 1].join(", "),
            named[n - 1]
        ),
        n => format!("rows {}, … ({n} rows) were", named.join(", ")),
    }
}

/// Deletes the planned leads, `DELETE_CHUNK` at a time, recording each answer in the state
/// file, then writes `deleted.csv` in `report_dir` from the state file (so that it also
/// lists what an earlier, killed session of the run deleted).
pub(super) async fn execute(
    checkpoint: &mut Checkpoint,
    uploader: &Uploader,
    (scope, run): (&str, i64),
    plan: Plan,
    report_dir: &Path,
    stderr: &mut dyn Write,
) -> Result<Deletion> {
    let Plan {
        mut deletion,
        leads,
    } = plan;
    if deletion.refused.is_some() {
        return Ok(deletion);
    }
    checkpoint.start_deleting(scope, run)?;
    for chunk in leads.chunks(DELETE_CHUNK) {
        let ids: Vec<String> = chunk.iter().map(|l| l.lead_id.clone()).collect();
        match uploader.delete(&ids).await {
            Ok(answer) => {
                checkpoint.forget_deleted(scope, run, chunk, answer.deleted, answer.not_found)?;
                deletion.deleted += answer.deleted;
                deletion.not_found += answer.not_found;
            }
            Err(e) => {
                let _ = Event::warn(
                    "deletion",
                    format!("nl-import: deleting missing leads stopped: {e}"),
                )
                .with("deleted", deletion.deleted)
                .write_to(stderr);
                deletion.refused = Some(format!(
                    "deleting missing leads stopped after {} of {}: {e}{}",
                    deletion.deleted + deletion.not_found,
                    leads.len(),
                    if matches!(e, DeleteError::Stopped(Stop::Auth { status: 403, .. })) {
                        "; the key needs the leads:sync_delete scope, which only an account Owner can grant"
                    } else {
                        ""
                    }
                ));
                break;
            }
        }
    }
    let payloads = checkpoint.deleted_payloads(scope, run)?;
    if !payloads.is_empty() {
        let path = report_dir.join("deleted.csv");
        write_leads_csv(&path, &payloads)?;
        deletion.file = Some(path);
    }
    Ok(deletion)
}

/// Writes the leads whose payloads (JSON, as sent) are `payloads` as a CSV that `import`
/// maps automatically and turns back into the same payloads: tags as a JSON array,
/// `customFields` as a JSON object, each in one cell. Owner-only, written atomically.
pub(super) fn write_leads_csv(path: &Path, payloads: &[String]) -> Result<PathBuf> {
    let context = || format!("cannot write `{}`", path.display());
    let mut file = AtomicFile::create(path).with_context(context)?;
    {
        let mut out = csv::Writer::from_writer(&mut file);
        out.write_record(COLUMNS).with_context(context)?;
        for payload in payloads {
            let lead: Value = serde_json::from_str(payload)
                .map_err(|e| anyhow!("a payload in the state file is damaged ({e})"))?;
            let cells = COLUMNS.map(|column| match lead.get(column) {
                None | Some(Value::Null) => String::new(),
                Some(Value::String(s)) => s.clone(),
                Some(other) => other.to_string(),
            });
            out.write_record(&cells).with_context(context)?;
        }
        out.flush().with_context(context)?;
    }
    file.commit().with_context(context)
}

/// The error for a key that may not delete (or an API that cannot be reached), found by
/// the probe before the import starts.
pub(super) fn probe_error(e: DeleteError) -> anyhow::Error {
    match e {
        DeleteError::Stopped(Stop::Auth {
            status: 403,
            message,
        }) => anyhow!(
            "nothing was sent: --delete-missing needs a key with the leads:sync_delete scope, and this one lacks it (HTTP 403: {message}). Only an account Owner can grant that scope: ask an Owner to mint a key with leads:sync_create and leads:sync_delete (Settings > API Keys), or run without --delete-missing"
        ),
        DeleteError::Stopped(Stop::Auth { status, message }) => anyhow!(
            "nothing was sent: the API refused the key (HTTP {status}: {message}); check NATURALEAD_API_KEY / --api-key-file: the key may be mistyped, revoked or expired"
        ),
        DeleteError::Stopped(Stop::NotFound(message)) => anyhow!(
            "nothing was sent: the API answered {message} for the sync endpoint: check --api-url (it should end in /api)"
        ),
        DeleteError::Stopped(Stop::Interrupted) => anyhow!("interrupted before the import started"),
        other => anyhow!(
            "nothing was sent: checking that the key may delete (an empty DELETE /leads/sync) failed: {other}"
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn missing(id: &str, payload: bool) -> MissingLead {
        MissingLead {
            key: crate::checkpoint::lead_key_of(id),
            lead_id: id.to_owned(),
            payload: payload.then(|| format!(r#"{{"lead_id":"{id}","phone":"+14155550100"}}"#)),
            payload_id: 0,
        }
    }

    fn of(known: u64, leads: Vec<MissingLead>) -> Missing {
        Missing { known, leads }
    }

    #[test]
    fn an_unidentified_row_refuses_every_delete() {
        let seen = Seen {
            unidentified: vec![4, 9],
            ..Seen::default()
        };
        let plan = plan(&seen, of(100, vec![missing("a", true)]), 0.5);
        assert!(plan.leads.is_empty());
        let refused = plan.deletion.refused.unwrap();
        assert!(refused.contains("rows 4 and 9 were rejected"), "{refused}");
        assert_eq!(plan.deletion.unidentified_rows, vec![4, 9]);
    }

    #[test]
    fn the_ratio_guard_and_leads_without_payload() {
        let seen = Seen::default();
        let three = vec![missing("a", true), missing("b", false), missing("c", true)];
        let plan1 = plan(&seen, of(10, three.clone()), 0.2);
        assert!(plan1.deletion.refused.unwrap().contains("3 of the 10"));
        let plan2 = plan(&seen, of(10, three), 0.3);
        assert_eq!(plan2.deletion.refused, None);
        assert_eq!(plan2.leads.len(), 2);
        assert_eq!(plan2.deletion.kept_without_payload, 1);
    }

    #[test]
    fn rows_are_named() {
        assert_eq!(name_rows(&[7]), "row 7 was");
        assert_eq!(name_rows(&[3, 9, 12]), "rows 3, 9 and 12 were");
        let many: Vec<u64> = (1..=25).collect();
        assert!(name_rows(&many).ends_with("… (25 rows) were"));
    }

    #[test]
    fn the_undo_file_holds_every_field() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("deleted.csv");
        let payload = r#"{"lead_id":"c-1","name":"Ann, \"A\"","phone":"+14155550100","status":"new","tags":["a","b"],"customFields":{"plan":"pro","seats":3}}"#;
        write_leads_csv(&path, &[payload.to_owned()]).unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        assert_eq!(
            text,
            "lead_id,name,phone,email,status,tags,customFields\nc-1,\"Ann, \"\"A\"\"\",+14155550100,,new,\"[\"\"a\"\",\"\"b\"\"]\",\"{\"\"plan\"\":\"\"pro\"\",\"\"seats\"\":3}\"\n"
        );
    }
}
