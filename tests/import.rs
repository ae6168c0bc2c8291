//! `nl-import import` end to end: the built binary against the sandbox over real HTTP on
//! loopback, checking exit codes, stdout, reports, the state file and the sandbox's final
//! contents.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use naturalead_sandbox::{
    Config, ConflictMode, FaultAction, Faults, HeaderStyle, Latency, LeadInput, Limits,
    ScriptedFault,
};
use serde_json::Value;

mod common;

use common::*;

#[test]
fn a_clean_import_leaves_exactly_the_check_payloads_on_the_server() {
    let env = Env::start(Config::default());
    let csv = env.path("leads.csv");
    write_leads(&csv, 230);
    append(
        &csv,
        "crm-bad1,No Phone,,x@example.com,new,,\n\
         crm-bad2,Bad Status,+1 212 399-0199,,maybe,,\n\
         crm-00001,Same Id,+1 212 399-0198,,,,\n\
         crm-bad4,Same Phone,+1 212 300-0002,,,,\n",
    );

    let check = Command::new(env!("CARGO_BIN_EXE_nl-import"))
        .current_dir(env.dir.path())
        .args([
            "check",
            "leads.csv",
            "--report-dir",
            "check",
            "--emit-valid",
            "valid.jsonl",
            "--unknown-status",
            "reject",
        ])
        .output()
        .unwrap();
    assert_exit(&check, 3);
    let out = env.import(
        &csv,
        &["--source", "crm-test", "--unknown-status", "reject"],
    );
    assert_exit(&out, 3);
    let stdout = text(&out.stdout);
    assert!(
        stdout.contains("234 rows read = 230 imported + 0 unchanged + 4 rejected + 0 pending"),
        "{stdout}"
    );

    let expected: Vec<Value> = std::fs::read_to_string(env.path("valid.jsonl"))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(expected.len(), 230);
    let stored = env.leads_by_id();
    assert_eq!(stored.len(), 230);
    for payload in &expected {
        let id = payload["lead_id"].as_str().unwrap();
        let lead = &stored[id].lead;
        assert_eq!(stored[id].write_count, 1, "{id}");
        assert_eq!(lead.phone, payload["phone"].as_str().unwrap(), "{id}");
        assert_eq!(lead.name, payload["name"].as_str().unwrap_or(""), "{id}");
        assert_eq!(lead.email, payload["email"].as_str().unwrap_or(""), "{id}");
        let status = serde_json::to_value(lead.status).unwrap();
        assert_eq!(
            status,
            payload.get("status").cloned().unwrap_or("new".into()),
            "{id}"
        );
        let tags: Vec<String> = payload
            .get("tags")
            .map(|t| serde_json::from_value(t.clone()).unwrap())
            .unwrap_or_default();
        assert_eq!(lead.tags, tags, "{id}");
        let custom = payload.get("customFields").cloned().unwrap_or_default();
        assert_eq!(Value::Object(lead.custom_fields.clone()), custom, "{id}");
        assert_eq!(lead.source, "crm-test");
    }
    // 230 leads in batches of 100: three requests, no more.
    assert_eq!(env.sync_statuses(), vec![Some(200); 3]);

    let summary = env.summary();
    assert_adds_up(&summary);
    assert_eq!(summary["status"], "done");
    assert_eq!(summary["imported"], 230);
    assert_eq!(summary["rejected_by_class"]["missing_phone"], 1);
    assert_eq!(summary["rejected_by_class"]["invalid_status"], 1);
    assert_eq!(summary["rejected_by_class"]["duplicate_in_file"], 2);
    // The import's report is the check's report.
    assert_eq!(
        std::fs::read_to_string(env.path("reports/rejected.csv")).unwrap(),
        std::fs::read_to_string(env.path("check/rejected.csv")).unwrap()
    );

    // A second run of the same file sends nothing (every lead unchanged); with --full it
    // sends everything again, which updates and never duplicates.
    let strict = ["--source", "crm-test", "--unknown-status", "reject"];
    let again = env.import(&csv, &strict);
    assert_exit(&again, 3);
    assert_eq!(env.summary()["unchanged"], 230);
    assert_eq!(env.sync_statuses().len(), 3);
    let full = env.import(&csv, &[&strict[..], &["--full"]].concat());
    assert_exit(&full, 3);
    let stored = env.leads_by_id();
    assert_eq!(stored.len(), 230);
    assert!(stored.values().all(|l| l.write_count == 2));
}

#[test]
fn pacing_uses_the_scaled_quota_without_a_single_429() {
    let window = Duration::from_secs(2);
    let limit = 20;
    let env = Env::start(Config {
        window,
        limits: Limits {
            sync_per_key: limit,
            ..Limits::default()
        },
        faults: Faults {
            latency: Some(Latency::range(50, 250)),
            ..Faults::default()
        },
        header_style: HeaderStyle::Draft7,
        ..Config::default()
    });
    let csv = env.path("leads.csv");
    write_leads(&csv, 800);
    let out = env.import(
        &csv,
        &["--batch-size", "10", "--rate", "20", "--rate-window", "2"],
    );
    assert_exit(&out, 0);
    assert_eq!(env.leads().len(), 800);

    let requests: Vec<_> = env
        .sandbox()
        .state()
        .requests()
        .into_iter()
        .filter(|r| r.path.ends_with("/leads/sync"))
        .collect();
    // 80 batches; a request that timed out on a loaded machine is sent again (an upsert).
    let retries = env.summary()["session"]["retries"].as_u64().unwrap();
    assert_eq!(requests.len() as u64, 80 + retries);
    assert!(
        requests.iter().all(|r| r.status == Some(200)),
        "{:?}",
        requests.iter().map(|r| r.status).collect::<Vec<_>>()
    );
    // Achieved rate over the span of the requests, against the allowed limit / window: a
    // loose floor that catches a pacer running at a fraction of the quota, not a benchmark
    // (BENCHMARKS.md measures quota use; a loaded CI machine may lag its schedule).
    let span = Duration::from_millis(requests.last().unwrap().at_ms - requests[0].at_ms);
    let achieved = (requests.len() - 1) as f64 / span.as_secs_f64();
    let allowed = f64::from(limit) / window.as_secs_f64();
    assert!(
        achieved >= 0.75 * allowed,
        "achieved {achieved:.2}/s of {allowed}/s over {span:?}: {}",
        env.summary()["session"]
    );
    // (The sandbox's exact sliding window is the judge: every request above passed it.)
    let summary = env.summary();
    assert_eq!(summary["session"]["throttled"], 0);
}

#[test]
fn retries_survive_throttling_server_errors_and_dropped_connections() {
    let env = Env::start(Config {
        faults: Faults::script([
            ScriptedFault::at(1, FaultAction::too_many_requests(Some(1))),
            ScriptedFault::at(2, FaultAction::status(500)),
            ScriptedFault::at(3, FaultAction::status(503)),
            ScriptedFault::at(4, FaultAction::DropBefore),
            ScriptedFault::at(5, FaultAction::DropAfter),
            // A 200 whose counts do not account for every lead: applied, but unknown to us.
            ScriptedFault::at(
                6,
                FaultAction::ApplyThenRespond {
                    status: 200,
                    body: r#"{"created":1,"updated":0,"failed":0,"errors":[]}"#.into(),
                },
            ),
            ScriptedFault::at(7, FaultAction::raw(200, r#"{"created":40,"upd"#)),
            ScriptedFault::at(8, FaultAction::status(429)),
        ]),
        ..Config::default()
    });
    let csv = env.path("leads.csv");
    write_leads(&csv, 400);
    let mut args = fast();
    args.extend(["--batch-size", "40"]);
    let out = env.import(&csv, &args);
    assert_exit(&out, 0);

    let stored = env.leads_by_id();
    assert_eq!(stored.len(), 400, "nothing lost");
    for n in 0..400 {
        assert_eq!(stored[&format!("crm-{n:05}")].lead.phone, e164(n));
    }
    let summary = env.summary();
    assert_adds_up(&summary);
    assert_eq!(summary["imported"], 400);
    assert_eq!(summary["session"]["retries"], 8, "{summary:#}");
    assert_eq!(summary["session"]["throttled"], 2);
    assert_eq!(summary["session"]["unknown_outcomes"], 2);
    assert_eq!(summary["session"]["transport_errors"], 2);
    assert_eq!(summary["session"]["requests"], 18);
}

#[test]
fn batches_that_run_out_of_retries_give_up_and_a_rerun_sends_them() {
    let env = Env::start(Config {
        faults: Faults::script([ScriptedFault::at(1, FaultAction::status(503)).times(3)]),
        ..Config::default()
    });
    let csv = env.path("leads.csv");
    write_leads(&csv, 50);
    let mut args = fast();
    args.extend(["--max-attempts", "3"]);
    let out = env.import(&csv, &args);
    assert_exit(&out, 1);
    assert!(
        text(&out.stderr).contains("resumable"),
        "{}",
        text(&out.stderr)
    );
    let summary = env.summary();
    assert_adds_up(&summary);
    assert_eq!(summary["status"], "incomplete");
    assert_eq!(summary["rejected_by_class"]["gave_up"], 50);
    let report = env.rejected_csv();
    assert_eq!(report.len(), 50);
    assert!(
        report
            .iter()
            .all(|r| r[1] == "gave_up" && r[3].contains("HTTP 503"))
    );
    assert!(env.leads().is_empty());

    let again = env.import(&csv, &args);
    assert_exit(&again, 0);
    assert_eq!(env.leads().len(), 50);
    let summary = env.summary();
    assert_eq!(summary["status"], "done");
    assert_eq!(summary["imported"], 50);
    assert_eq!(summary["rejected"], 0);
    assert!(env.rejected_csv().is_empty());
}

#[test]
fn an_unknown_key_stops_the_run_and_a_good_key_finishes_it() {
    let env = Env::start(Config::default());
    let csv = env.path("leads.csv");
    write_leads(&csv, 300);
    let wrong = format!("nl_test_{}", "ab".repeat(32));
    let out = env
        .import_cmd(&csv, &fast())
        .env("NATURALEAD_API_KEY", &wrong)
        .output()
        .unwrap();
    assert_exit(&out, 1);
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("HTTP 401: Invalid or expired API key"),
        "{stderr}"
    );
    assert!(stderr.contains("NATURALEAD_API_KEY"), "{stderr}");
    assert!(!stderr.contains(&wrong) && !text(&out.stdout).contains(&wrong));
    assert!(env.leads().is_empty());
    let summary = env.summary();
    assert_eq!(summary["status"], "stopped");
    assert_eq!(summary["imported"], 0);
    assert_eq!(
        summary["rejected"], 0,
        "401 leaves rows pending, not rejected"
    );
    assert_adds_up(&summary);

    let status = Command::new(env!("CARGO_BIN_EXE_nl-import"))
        .current_dir(env.dir.path())
        .args(["status", "--state", "state.db"])
        .output()
        .unwrap();
    assert_exit(&status, 0);
    assert!(
        text(&status.stdout).contains("stopped"),
        "{}",
        text(&status.stdout)
    );

    let out = env.import(&csv, &fast());
    assert_exit(&out, 0);
    assert_eq!(env.leads().len(), 300);
}

#[test]
fn a_key_without_the_sync_scope_gets_the_documented_403_and_stops() {
    let env = Env::start(Config::default());
    let csv = env.path("leads.csv");
    write_leads(&csv, 10);
    let out = env
        .import_cmd(&csv, &fast())
        .env("NATURALEAD_API_KEY", env.sandbox().no_sync_key())
        .output()
        .unwrap();
    assert_exit(&out, 1);
    let stderr = text(&out.stderr);
    assert!(stderr.contains("HTTP 403"), "{stderr}");
    assert!(stderr.contains("leads:sync_create"), "{stderr}");
    assert_eq!(env.sync_statuses(), vec![Some(403)]);
}

fn seed_conflicts(env: &Env) {
    // Three phones of the file already belong to other leads of the account.
    for n in [5usize, 105, 177] {
        env.sandbox()
            .state()
            .insert_lead(LeadInput::new(e164(n)).with_lead_id(format!("other-{n}")))
            .unwrap();
    }
}

fn assert_conflicts_reported(env: &Env) {
    let report = env.rejected_csv();
    let rows: Vec<(&str, &str, &str)> = report
        .iter()
        .map(|r| (r[0].as_str(), r[1].as_str(), r[3].as_str()))
        .collect();
    assert_eq!(
        rows.iter().map(|r| (r.0, r.1)).collect::<Vec<_>>(),
        vec![
            ("6", "duplicate_in_account"),
            ("106", "duplicate_in_account"),
            ("178", "duplicate_in_account")
        ]
    );
    assert!(
        rows.iter()
            .all(|r| r.2.contains("A lead with this phone number already exists"))
    );
    // Everyone else arrived.
    let stored = env.leads_by_id();
    assert_eq!(stored.len(), 200 - 3 + 3);
    assert!(!stored.contains_key("crm-00005"));
    assert!(stored.contains_key("crm-00006"));
    let summary = env.summary();
    assert_adds_up(&summary);
    assert_eq!(summary["imported"], 197);
    assert_eq!(summary["rejected_by_class"]["duplicate_in_account"], 3);
}

#[test]
fn per_lead_phone_conflicts_are_reported_as_duplicate_in_account() {
    let env = Env::start(Config::default());
    seed_conflicts(&env);
    let csv = env.path("leads.csv");
    write_leads(&csv, 200);
    let out = env.import(&csv, &fast());
    assert_exit(&out, 3);
    assert_conflicts_reported(&env);
    assert_eq!(env.summary()["session"]["splits"], 0);
}

#[test]
fn a_batch_refused_whole_with_409_is_split_down_to_the_conflicting_leads() {
    let env = Env::start(Config {
        conflict_mode: ConflictMode::WholeRequest409,
        ..Config::default()
    });
    seed_conflicts(&env);
    let csv = env.path("leads.csv");
    write_leads(&csv, 200);
    let out = env.import(&csv, &fast());
    assert_exit(&out, 3);
    assert_conflicts_reported(&env);
    let splits = env.summary()["session"]["splits"].as_u64().unwrap();
    // Each conflicting lead costs about log2(100) splits, far fewer than one per lead.
    assert!((3..=3 * 8).contains(&splits), "{splits} splits");
}

/// Starts an import in the background, small batches and few in flight, so that it is
/// killed or interrupted mid-run.
fn spawn_slow_import(env: &Env, csv: &Path) -> Child {
    let mut args = fast();
    args.extend(["--batch-size", "20", "--concurrency", "4"]);
    spawn_import(env, csv, &args)
}

#[test]
fn a_killed_import_resumes_and_every_lead_arrives_exactly_once() {
    let env = Env::start(roomy(with_latency(Latency::range(20, 80))));
    let csv = env.path("leads.csv");
    write_leads(&csv, 1500);
    append(&csv, "bad-1,No Phone,,,,,\nbad-2,Bad Phone,12,,,,\n");

    for round in 0..3 {
        let mut child = spawn_slow_import(&env, &csv);
        wait_for_leads(&env, 200 * (round + 1), &mut child);
        child.kill().unwrap();
        child.wait().unwrap();
    }
    assert!(env.leads().len() < 1500, "killed before the end");

    let out = env.import(&csv, &fast());
    assert_exit(&out, 3);
    let stored = env.leads_by_id();
    assert_eq!(stored.len(), 1500);
    for n in 0..1500 {
        assert_eq!(stored[&format!("crm-{n:05}")].lead.phone, e164(n));
    }
    let summary = env.summary();
    assert_adds_up(&summary);
    assert_eq!(summary["rows_read"], 1502);
    assert_eq!(
        summary["imported"], 1500,
        "each lead counted once across sessions"
    );
    assert_eq!(summary["rejected"], 2);
    assert_eq!(summary["pending"], 0);
    assert!(summary["session"]["resumed"].as_bool().unwrap());
    assert!(summary["session"]["rows_skipped"].as_u64().unwrap() >= 400);
    // Only what was in flight at each kill was sent twice.
    let rewritten = stored.values().filter(|l| l.write_count > 1).count();
    assert!(
        rewritten <= 3 * 4 * 20,
        "{rewritten} leads written more than once"
    );
    let report = env.rejected_csv();
    assert_eq!(report.len(), 2);
}

#[test]
fn ctrl_c_finishes_in_flight_requests_exits_130_and_the_rerun_completes() {
    let env = Env::start(with_latency(Latency::fixed(50)));
    let csv = env.path("leads.csv");
    write_leads(&csv, 1000);
    let mut child = spawn_slow_import(&env, &csv);
    wait_for_leads(&env, 100, &mut child);
    let kill = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(kill.success());
    let out = child.wait_with_output().unwrap();
    assert_exit(&out, 130);
    assert!(
        text(&out.stderr).contains("run the same command again"),
        "{}",
        text(&out.stderr)
    );
    let summary = env.summary();
    assert_eq!(summary["status"], "interrupted");
    assert_adds_up(&summary);
    // In-flight requests were let finish: what the server holds is what we recorded.
    assert_eq!(
        summary["imported"].as_u64().unwrap() as usize,
        env.leads().len(),
        "{summary:#}"
    );

    // Same file, changed: explained, not silently mixed.
    let changed = env.path("leads.csv");
    append(&changed, "crm-new,New,+1 212 399-0001,,,,\n");
    let out = env.import(&changed, &fast());
    assert_exit(&out, 1);
    assert!(
        text(&out.stderr).contains("has changed"),
        "{}",
        text(&out.stderr)
    );
    // --restart starts over (upserts: nothing is duplicated on the server).
    let out = env.import(&changed, &{
        let mut a = fast();
        a.push("--restart");
        a
    });
    assert_exit(&out, 0);
    assert_eq!(env.leads_by_id().len(), 1001);
}

#[test]
fn the_key_never_reaches_output_reports_or_state_and_files_are_owner_only() {
    let env = Env::start(Config::default());
    let csv = env.path("leads.csv");
    write_leads(&csv, 20);
    append(&csv, "bad,No Phone,,,,,\n");
    let out = env.import(&csv, &["-vv"]);
    assert_exit(&out, 3);
    let key = env.sandbox().test_key();
    let mut haystacks: HashMap<String, Vec<u8>> = HashMap::new();
    haystacks.insert("stdout".into(), out.stdout.clone());
    haystacks.insert("stderr".into(), out.stderr.clone());
    for entry in walk(env.dir.path()) {
        haystacks.insert(entry.display().to_string(), std::fs::read(&entry).unwrap());
    }
    assert!(haystacks.len() >= 5, "{:?}", haystacks.keys());
    for (name, bytes) in &haystacks {
        assert!(
            !bytes.windows(key.len()).any(|w| w == key.as_bytes()),
            "the key leaked into {name}"
        );
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        for file in ["state.db", "reports/rejected.csv", "reports/summary.json"] {
            let mode = std::fs::metadata(env.path(file))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o077, 0, "{file} is readable by others: {mode:o}");
        }
    }
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            files.extend(walk(&path));
        } else {
            files.push(path);
        }
    }
    files
}

#[test]
fn configuration_errors_come_before_any_request() {
    let env = Env::start(Config::default());
    let csv = env.path("leads.csv");
    write_leads(&csv, 5);
    // Bad flag values are usage errors (2); a bad key or a missing file, fatal (1).
    let cases: Vec<(Vec<&str>, Option<&str>, &str, i32)> = vec![
        (
            vec!["--api-url", "http://api.example.com/api"],
            None,
            "--allow-insecure-http",
            2,
        ),
        (vec!["--batch-size", "101"], None, "1..=100", 2),
        (
            vec![],
            Some("not-a-key"),
            "does not look like a Naturalead API key",
            1,
        ),
        (vec!["--mapping", "missing.toml"], None, "missing.toml", 1),
    ];
    for (args, key, message, code) in cases {
        let mut cmd = env.import_cmd(&csv, &args);
        if let Some(key) = key {
            cmd.env("NATURALEAD_API_KEY", key);
        }
        let out = cmd.output().unwrap();
        assert_exit(&out, code);
        let stderr = text(&out.stderr);
        assert!(stderr.contains(message), "{args:?}: {stderr}");
        assert!(!stderr.contains(env.sandbox().test_key()));
    }
    let out = env
        .import_cmd(&csv, &[])
        .env_remove("NATURALEAD_API_KEY")
        .output()
        .unwrap();
    assert_exit(&out, 1);
    assert!(text(&out.stderr).contains("no API key"));
    assert!(env.sync_statuses().is_empty(), "nothing was sent");
}

#[test]
fn the_sandbox_demo_imports_the_sample_file() {
    let dir = tempfile::tempdir().unwrap();
    let sample = Path::new(env!("CARGO_MANIFEST_DIR")).join("samples/leads.csv");
    let out = Command::new(env!("CARGO_BIN_EXE_nl-import"))
        .current_dir(dir.path())
        .arg("import")
        .arg(&sample)
        .arg("--sandbox")
        .arg("--json")
        .env_remove("NATURALEAD_API_KEY")
        .env_remove("NL_IMPORT_STATE")
        .output()
        .unwrap();
    assert_exit(&out, 0);
    let summary: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(summary["api"], "sandbox");
    assert_eq!(summary["imported"], 12);
    assert_adds_up(&summary);
    assert!(dir.path().join(".nl-import/state.db").exists());
}

#[test]
fn killed_after_the_server_applied_a_batch_but_before_the_answer_was_recorded() {
    // The third request is applied, then its answer is held back: the importer is killed
    // while the server has the leads and the state file does not know it.
    let env = Env::start(Config {
        faults: Faults::script([ScriptedFault::at(
            3,
            FaultAction::Slow {
                delay_ms: 60_000,
                trickle: None,
            },
        )]),
        ..Config::default()
    });
    let csv = env.path("leads.csv");
    write_leads(&csv, 200);
    let mut args = fast();
    args.extend(["--batch-size", "20", "--concurrency", "1"]);
    let mut child = env
        .import_cmd(&csv, &args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    wait_for_leads(&env, 60, &mut child);
    // One request at a time: while the third is held, no other can be in flight. The
    // first two were answered (logged), the third was applied but is not answered.
    assert_eq!(env.leads().len(), 60, "stuck on the third");
    assert_eq!(sync_requests(&env).len(), 2);
    child.kill().unwrap();
    child.wait().unwrap();

    let out = env.import(&csv, &args);
    assert_exit(&out, 0);
    let stored = env.leads_by_id();
    assert_eq!(stored.len(), 200);
    for (n, lead) in stored.values().enumerate() {
        let expected = if (40..60).contains(&n) { 2 } else { 1 };
        assert_eq!(lead.write_count, expected, "crm-{n:05}");
    }
    let summary = env.summary();
    assert_adds_up(&summary);
    assert_eq!(summary["imported"], 200);
    assert_eq!(summary["session"]["rows_skipped"], 40);
}

#[test]
fn another_client_spending_the_same_key_slows_the_import_down() {
    let window = Duration::from_secs(2);
    let env = Env::start(Config {
        window,
        limits: Limits {
            sync_per_key: 20,
            ..Limits::default()
        },
        ..Config::default()
    });
    // Another client syncs with the same key, 6 times per window, for the whole import.
    let url = format!("{}/leads/sync", env.sandbox().base_url());
    let key = env.sandbox().test_key().to_owned();
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let other = env.runtime.spawn({
        let stop = std::sync::Arc::clone(&stop);
        async move {
            let client = reqwest::Client::new();
            let mut tick = tokio::time::interval(window / 6);
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                tick.tick().await;
                let _ = client
                    .post(&url)
                    .header("X-API-Key", &key)
                    .header("Content-Type", "application/json")
                    .body(r#"{"leads":[]}"#)
                    .send()
                    .await;
            }
        }
    });
    std::thread::sleep(window);
    let csv = env.path("leads.csv");
    write_leads(&csv, 600);
    let out = env.import(
        &csv,
        &["--batch-size", "10", "--rate", "20", "--rate-window", "2"],
    );
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    env.runtime.block_on(other).unwrap();
    assert_exit(&out, 0);
    assert_eq!(env.leads().len(), 600);
    let summary = env.summary();
    assert!(
        summary["session"]["shared_budget_signals"]
            .as_u64()
            .unwrap()
            > 0,
        "{summary:#}"
    );
    // Pacing to the full quota regardless would make about a quarter of all requests on
    // the key (ours and the other client's) collide with 429s; sharing leaves room.
    let refused = env
        .sandbox()
        .state()
        .requests()
        .iter()
        .filter(|r| r.status == Some(429))
        .count();
    let throttled = summary["session"]["throttled"].as_u64().unwrap();
    let ours = summary["session"]["requests"].as_u64().unwrap();
    eprintln!("429s: {refused} in all, {throttled} of our {ours} requests");
    // Counts, not timing: ignoring the other client would refuse about 6 of every 26
    // requests on the key (23 %); a tenth of ours is the bound, whatever the machine's load.
    assert!(
        throttled * 10 <= ours && refused as u64 * 10 <= ours,
        "{refused} requests on the key got 429 ({throttled} of our {ours})"
    );
}
