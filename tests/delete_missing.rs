//! `--delete-missing` against the sandbox: a lead whose row is still in the export is never
//! deleted, whatever is wrong with that row (issue #14). Every combination of an ID column
//! or a phone-derived `lead_id`, a row rejected locally, by the API or as a duplicate, and
//! a phone changed, emptied or garbled; a rejected row that identifies no lead stops every
//! delete (exit 4, the rows named); `deleted.csv` restores what was deleted; the dry run
//! writes the same list as a preview; the API's `notFound` is reported as such; a key
//! without the delete scope is refused before anything is sent.

use std::path::Path;

use naturalead_sandbox::{Config, FaultAction, Faults, KeySpec, LeadInput, ScriptedFault, scopes};
use serde_json::Value;

mod common;

use common::*;

/// The rows of an export: (lead_id, name, phone, status), with or without the ID column.
#[derive(Clone)]
struct Row {
    id: String,
    name: String,
    phone: String,
    status: String,
}

fn rows(n: usize) -> Vec<Row> {
    (0..n)
        .map(|i| Row {
            id: format!("crm-{i:05}"),
            name: format!("Lead {i}"),
            phone: phone(i),
            status: "new".into(),
        })
        .collect()
}

fn write(path: &Path, rows: &[Row], id_column: bool) {
    let mut out = String::from(if id_column {
        "lead_id,name,phone,status\n"
    } else {
        "name,phone,status\n"
    });
    for r in rows {
        if id_column {
            out.push_str(&format!("{},{},{},{}\n", r.id, r.name, r.phone, r.status));
        } else {
            out.push_str(&format!("{},{},{}\n", r.name, r.phone, r.status));
        }
    }
    std::fs::write(path, out).unwrap();
}

/// The `lead_id` row `i` of [`rows`] was imported under.
fn lead_id(i: usize, id_column: bool) -> String {
    if id_column {
        format!("crm-{i:05}")
    } else {
        format!("phone:{}", e164(i))
    }
}

fn json_out(out: &std::process::Output) -> Value {
    serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}\n{}", text(&out.stdout), text(&out.stderr)))
}

fn base_args() -> Vec<&'static str> {
    let mut args = fast();
    // A status nothing maps rejects its row (the issue's case: `bogus`, `invalid_status`).
    args.extend(["--source", "crm", "--unknown-status", "reject"]);
    args
}

fn night_args() -> Vec<&'static str> {
    let mut args = base_args();
    args.extend([
        "--delete-missing",
        "--max-delete-ratio",
        "0.5",
        "--batch-size",
        "1",
        "--json",
    ]);
    args
}

/// The leads the sandbox holds, by external id (leads created without one left out).
fn by_external_id(env: &Env) -> std::collections::BTreeMap<String, naturalead_sandbox::StoredLead> {
    env.leads()
        .into_iter()
        .filter_map(|l| Some((l.lead.external_id.clone()?, l)))
        .collect()
}

/// What happens to row 5 of the second night's export.
#[derive(Clone, Copy, Debug)]
enum Change {
    /// Its status becomes `bogus` (rejected locally; its phone untouched).
    BadStatus,
    /// Its phone changes to a new valid number, and its status becomes `bogus`.
    PhoneChanged,
    /// Its phone is emptied (`missing_phone`).
    PhoneEmptied,
    /// Its phone is garbled (`invalid_phone`).
    PhoneGarbled,
    /// Its phone and its lead_id cell are emptied.
    IdAndPhoneEmptied,
    /// Its name changes (so it is sent) and the API refuses it with a per-lead error.
    RefusedByApi,
    /// Its phone becomes that of a lead another integration created in the account: the
    /// API refuses it as `duplicate_in_account`.
    PhoneTakenInAccount,
    /// Its phone becomes row 4's (`duplicate_in_file`).
    DuplicatePhone,
    /// The row appears twice; the copy has another name (`duplicate_in_file`).
    DuplicateRow,
    /// The row has one field too many (`malformed_row`).
    Malformed,
}

/// What must become of row 5's lead.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Expect {
    /// Still in the account; row 10's lead (gone from the export) deleted.
    Kept,
    /// Deleted with row 10's: no row identifies the lead it was imported as.
    Deleted,
    /// Nothing deleted at all, exit 4, row 6 (data row of index 5) named.
    NothingDeleted,
}

fn case(id_column: bool, change: Change, expect: Expect) {
    let env = Env::start(Config::default());
    let csv = env.path("export.csv");
    let first = rows(20);
    write(&csv, &first, id_column);
    assert_exit(&env.import(&csv, &base_args()), 0);
    assert_eq!(env.leads().len(), 20);

    // The next night: row 10 is gone, row 5 changed.
    let mut next: Vec<Row> = first.clone();
    next.remove(10);
    let row5 = &mut next[5];
    match change {
        Change::BadStatus => row5.status = "bogus".into(),
        Change::PhoneChanged => {
            row5.phone = phone(500);
            row5.status = "bogus".into();
        }
        Change::PhoneEmptied => row5.phone.clear(),
        Change::PhoneGarbled => row5.phone = "+1 212 30".into(),
        Change::IdAndPhoneEmptied => {
            row5.id.clear();
            row5.phone.clear();
        }
        Change::RefusedByApi => {
            row5.name = "Renamed".into();
            // The probe (an empty delete) is sync request 1; row 5 alone is sent, as 2.
            env.sandbox().state().set_faults(Faults {
                script: vec![ScriptedFault::at(
                    2,
                    FaultAction::Respond {
                        status: 200,
                        body: Some(
                            r#"{"created":0,"updated":0,"failed":1,"errors":[{"index":0,"error":"Lead rejected by a workflow rule"}]}"#
                                .into(),
                        ),
                        retry_after_secs: None,
                    },
                )],
                ..Faults::default()
            });
        }
        Change::PhoneTakenInAccount => {
            env.sandbox()
                .state()
                .insert_lead(LeadInput::new(e164(700)).with_name("Created elsewhere"))
                .unwrap();
            row5.phone = phone(700);
        }
        Change::DuplicatePhone => row5.phone = phone(4),
        Change::DuplicateRow => {
            let mut copy = next[5].clone();
            copy.name = "Copy".into();
            next.insert(6, copy);
        }
        Change::Malformed => row5.status = "new,extra".into(),
    }
    write(&csv, &next, id_column);
    let out = env.import(&csv, &night_args());
    let summary = json_out(&out);
    let deletion = &summary["deletion"];
    let stored = by_external_id(&env);
    let five = lead_id(5, id_column);
    let ten = lead_id(10, id_column);
    let context = format!("{id_column} {change:?}: {summary:#}\n{}", text(&out.stderr));
    match expect {
        Expect::Kept | Expect::Deleted => {
            assert_exit(&out, 3);
            assert!(
                !stored.contains_key(&ten),
                "row 10's lead deleted: {context}"
            );
            let deleted = if expect == Expect::Kept { 1 } else { 2 };
            assert_eq!(deletion["deleted"], deleted, "{context}");
            assert_eq!(
                stored.contains_key(&five),
                expect == Expect::Kept,
                "{context}"
            );
            // deleted.csv lists exactly the deleted leads.
            let mut listed: Vec<String> = csv::Reader::from_path(env.path("reports/deleted.csv"))
                .unwrap()
                .records()
                .map(|r| r.unwrap()[0].to_owned())
                .collect();
            listed.sort();
            let mut want = vec![ten.clone()];
            if expect == Expect::Deleted {
                want.push(five.clone());
                want.sort();
            }
            assert_eq!(listed, want, "{context}");
        }
        Expect::NothingDeleted => {
            assert_exit(&out, 4);
            assert_eq!(deletion["deleted"], 0, "{context}");
            assert!(stored.contains_key(&ten), "{context}");
            assert!(stored.contains_key(&five), "{context}");
            assert_eq!(
                deletion["unidentified_rows"],
                serde_json::json!([6]),
                "{context}"
            );
            let why = summary["message"].as_str().unwrap();
            assert!(
                why.contains("row 6 was rejected") && why.contains("nothing was deleted"),
                "{why}"
            );
            assert!(!env.path("reports/deleted.csv").exists());
            let deletes = env
                .sandbox()
                .state()
                .requests()
                .into_iter()
                .filter(|r| r.method == "DELETE" && r.leads != Some(0))
                .count();
            assert_eq!(deletes, 0, "only the empty probe: {context}");
        }
    }
}

macro_rules! cases {
    ($($name:ident: $id:expr, $change:ident => $expect:ident;)*) => {
        $(
            #[test]
            fn $name() {
                case($id, Change::$change, Expect::$expect);
            }
        )*
    };
}

cases! {
    id_column_bad_status_keeps_the_lead: true, BadStatus => Kept;
    phone_id_bad_status_keeps_the_lead: false, BadStatus => Kept;
    id_column_phone_changed_keeps_the_lead: true, PhoneChanged => Kept;
    phone_id_phone_changed_is_another_lead: false, PhoneChanged => Deleted;
    id_column_phone_emptied_keeps_the_lead: true, PhoneEmptied => Kept;
    phone_id_phone_emptied_deletes_nothing: false, PhoneEmptied => NothingDeleted;
    id_column_phone_garbled_keeps_the_lead: true, PhoneGarbled => Kept;
    phone_id_phone_garbled_deletes_nothing: false, PhoneGarbled => NothingDeleted;
    id_column_id_and_phone_emptied_deletes_nothing: true, IdAndPhoneEmptied => NothingDeleted;
    id_column_refused_by_the_api_keeps_the_lead: true, RefusedByApi => Kept;
    phone_id_refused_by_the_api_keeps_the_lead: false, RefusedByApi => Kept;
    id_column_phone_taken_in_account_keeps_the_lead: true, PhoneTakenInAccount => Kept;
    phone_id_phone_taken_in_account_is_another_lead: false, PhoneTakenInAccount => Deleted;
    id_column_duplicate_phone_keeps_the_lead: true, DuplicatePhone => Kept;
    phone_id_duplicate_phone_is_another_lead: false, DuplicatePhone => Deleted;
    id_column_duplicate_row_keeps_the_lead: true, DuplicateRow => Kept;
    phone_id_duplicate_row_keeps_the_lead: false, DuplicateRow => Kept;
    id_column_malformed_row_deletes_nothing: true, Malformed => NothingDeleted;
    phone_id_malformed_row_deletes_nothing: false, Malformed => NothingDeleted;
}

/// The leads the sandbox holds, by external id, as the fields a re-import can restore.
fn contents(env: &Env) -> std::collections::BTreeMap<String, Value> {
    env.leads()
        .into_iter()
        .map(|l| {
            let lead = l.lead;
            (
                lead.external_id.clone().unwrap_or_default(),
                serde_json::json!({
                    "name": lead.name, "phone": lead.phone, "email": lead.email,
                    "status": lead.status, "tags": lead.tags, "customFields": lead.custom_fields,
                    "source": lead.source,
                }),
            )
        })
        .collect()
}

#[test]
fn deleted_csv_restores_every_deleted_lead_and_the_dry_run_previews_it() {
    let env = Env::start(Config::default());
    let csv = env.path("export.csv");
    let mut export = String::from("lead_id,name,phone,email,status,tags,company,customFields\n");
    for n in 0..40 {
        export.push_str(&format!(
            "crm-{n:05},Lead {n},{},lead{n}@example.com,{},\"a;b{}\",Company {},\n",
            phone(n),
            ["new", "Contacted", "qualified", ""][n % 4],
            n % 3,
            n % 7
        ));
    }
    export.push_str(
        "crm-json,\"Ann \"\"Quote\"\", Jr\",+1 212 555-0100,ann@example.com,qualified,\"[\"\"x\"\", \"\"y\"\"]\",,\"{\"\"seats\"\": 3, \"\"vip\"\": true}\"\n",
    );
    std::fs::write(&csv, export).unwrap();
    let first = base_args();
    assert_exit(&env.import(&csv, &first), 0);
    let before = contents(&env);
    assert_eq!(before.len(), 41);
    assert_eq!(before["crm-json"]["customFields"]["seats"], 3);
    assert_eq!(before["crm-00001"]["customFields"]["company"], "Company 1");

    // Four rows gone, the JSON one among them.
    let text_before = std::fs::read_to_string(&csv).unwrap();
    let kept: Vec<&str> = text_before
        .lines()
        .filter(|l| {
            !["crm-00003", "crm-00017", "crm-00029", "crm-json"]
                .iter()
                .any(|id| l.starts_with(id))
        })
        .collect();
    std::fs::write(&csv, kept.join("\n") + "\n").unwrap();
    let mut night = first.clone();
    night.extend(["--delete-missing", "--max-delete-ratio", "0.2", "--json"]);

    // The dry run lists them in a preview, sends nothing, changes nothing.
    let requests = env.sandbox().state().requests().len();
    let mut dry = night.clone();
    dry.push("--dry-run");
    let out = env.import(&csv, &dry);
    assert_exit(&out, 0);
    let preview = std::fs::read_to_string(env.path("reports/deleted-preview.csv")).unwrap();
    assert_eq!(json_out(&out)["deletion"]["deleted"], 4);
    assert_eq!(env.sandbox().state().requests().len(), requests);

    let out = env.import(&csv, &night);
    assert_exit(&out, 0);
    let summary = json_out(&out);
    assert_eq!(summary["deletion"]["deleted"], 4, "{summary:#}");
    assert_eq!(summary["deletion"]["not_found"], 0);
    assert_eq!(env.leads().len(), 37);
    let undo = std::fs::read_to_string(env.path("reports/deleted.csv")).unwrap();
    assert_eq!(undo, preview, "the preview is the list the run deleted");

    // The undo: importing deleted.csv (same --source) brings back exactly what was there.
    std::fs::copy(env.path("reports/deleted.csv"), env.path("deleted.csv")).unwrap();
    let out = env.import(&env.path("deleted.csv"), &base_args());
    assert_exit(&out, 0);
    assert_eq!(contents(&env), before);
}

#[test]
fn leads_the_api_no_longer_has_are_reported_as_not_found() {
    let env = Env::start(Config::default());
    let csv = env.path("export.csv");
    let first = rows(30);
    write(&csv, &first, true);
    assert_exit(&env.import(&csv, &base_args()), 0);
    // Someone deletes crm-00002 in Naturalead itself; the export drops it and crm-00004.
    let url = format!("{}/leads/sync", env.sandbox().base_url());
    let key = env.sandbox().test_key();
    let status = env.runtime.block_on(async {
        reqwest::Client::new()
            .delete(&url)
            .header("X-API-Key", key)
            .json(&serde_json::json!({"lead_ids": ["crm-00002"]}))
            .send()
            .await
            .unwrap()
            .status()
    });
    assert_eq!(status, 200);
    let next: Vec<Row> = first
        .iter()
        .filter(|r| r.id != "crm-00002" && r.id != "crm-00004")
        .cloned()
        .collect();
    write(&csv, &next, true);
    let mut args = night_args();
    args.retain(|a| *a != "--json");
    let out = env.import(&csv, &args);
    assert_exit(&out, 0);
    let summary = env.summary();
    assert_eq!(summary["deletion"]["missing"], 2, "{summary:#}");
    assert_eq!(summary["deletion"]["deleted"], 1);
    assert_eq!(summary["deletion"]["not_found"], 1);
    let stdout = text(&out.stdout);
    assert!(
        stdout.contains(
            "deleted: 1 of 2 leads missing from the export (30 known); 1 not found in the account"
        ),
        "{stdout}"
    );
    assert!(
        stdout.contains("undo:    nl-import import reports/deleted.csv"),
        "{stdout}"
    );
    assert_eq!(env.leads().len(), 28);
}

#[test]
fn a_key_without_the_delete_scope_is_refused_before_anything_is_sent() {
    let env = Env::start(Config::default());
    let csv = env.path("export.csv");
    write(&csv, &rows(10), true);
    let key = env.sandbox().state().add_key(KeySpec {
        scopes: vec![scopes::LEADS_SYNC_CREATE.to_owned()],
        ..KeySpec::default()
    });
    let out = env
        .import_cmd(&csv, &night_args())
        .env("NATURALEAD_API_KEY", &key)
        .output()
        .unwrap();
    assert_exit(&out, 1);
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("leads:sync_delete")
            && stderr.contains("Owner")
            && stderr.contains("nothing was sent"),
        "{stderr}"
    );
    assert!(!stderr.contains(&key));
    let requests = env.sandbox().state().requests();
    assert_eq!(requests.len(), 1, "one probe");
    assert_eq!(requests[0].method, "DELETE");
    assert_eq!(requests[0].status, Some(403));
    assert!(env.leads().is_empty());
    // Without --delete-missing the same key imports.
    let out = env
        .import_cmd(&csv, &base_args())
        .env("NATURALEAD_API_KEY", &key)
        .output()
        .unwrap();
    assert_exit(&out, 0);
    assert_eq!(env.leads().len(), 10);
}
