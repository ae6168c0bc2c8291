//! Scheduled (nightly) imports against the sandbox: delta runs that send only what changed,
//! `--delete-missing` and its safety ratio, `--dry-run`, the run lock, `--max-duration`,
//! `--max-rejects`, and the exit codes a scheduler acts on.

use std::path::Path;
use std::process::Command;

use naturalead_sandbox::{Config, Latency};
use serde_json::Value;

mod common;

use common::*;

/// An export of rows `rows` (by number), with `renamed` rows' names changed.
fn export(path: &Path, rows: impl IntoIterator<Item = usize>, renamed: &[usize]) {
    let mut out = String::from("lead_id,name,phone,status\n");
    for n in rows {
        let name = if renamed.contains(&n) {
            format!("Renamed {n}")
        } else {
            format!("Lead {n}")
        };
        out.push_str(&format!("crm-{n:05},{name},{},new\n", phone(n)));
    }
    std::fs::write(path, out).unwrap();
}

fn json_out(out: &std::process::Output) -> Value {
    serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}\n{}", text(&out.stdout), text(&out.stderr)))
}

#[test]
fn a_nightly_run_sends_only_what_changed() {
    let env = Env::start(roomy(Config::default()));
    let csv = env.path("export.csv");
    export(&csv, 0..1000, &[]);
    let mut args = fast();
    args.push("--json");
    let first = env.import(&csv, &args);
    assert_exit(&first, 0);
    let summary = json_out(&first);
    assert_eq!(
        (summary["new"].as_u64(), summary["changed"].as_u64()),
        (Some(1000), Some(0))
    );
    assert_eq!(sync_requests(&env).len(), 10);

    // The same export again: nothing to send.
    let second = env.import(&csv, &args);
    assert_exit(&second, 0);
    let summary = json_out(&second);
    assert_eq!(
        sync_requests(&env).len(),
        10,
        "zero requests for an unchanged export"
    );
    assert_eq!(summary["unchanged"], 1000);
    assert_eq!(summary["imported"], 0);
    assert_eq!(summary["session"]["requests"], 0);
    assert_eq!(summary["exit_code"], 0);
    assert_eq!(
        summary["rows_read"].as_u64().unwrap(),
        summary["imported"].as_u64().unwrap()
            + summary["unchanged"].as_u64().unwrap()
            + summary["rejected"].as_u64().unwrap()
            + summary["pending"].as_u64().unwrap()
    );

    // Ten rows changed: exactly those ten, in one request.
    let changed = [3, 99, 100, 250, 251, 500, 640, 777, 901, 999];
    export(&csv, 0..1000, &changed);
    let dry = env.import(&csv, &["--dry-run"]);
    assert_exit(&dry, 0);
    assert!(
        text(&dry.stdout)
            .contains("would send 10 leads (0 new, 10 changed) in 1 requests; 990 unchanged"),
        "{}",
        text(&dry.stdout)
    );
    assert_eq!(sync_requests(&env).len(), 10, "a dry run sends nothing");
    let third = env.import(&csv, &args);
    assert_exit(&third, 0);
    let summary = json_out(&third);
    let requests = sync_requests(&env);
    assert_eq!(requests.len(), 11);
    assert_eq!(requests.last().unwrap().leads, Some(10));
    assert_eq!(
        (summary["changed"].as_u64(), summary["unchanged"].as_u64()),
        (Some(10), Some(990))
    );
    let stored = env.leads_by_id();
    for n in changed {
        assert_eq!(
            stored[&format!("crm-{n:05}")].lead.name,
            format!("Renamed {n}")
        );
    }
    assert_eq!(stored["crm-00004"].write_count, 1);

    // --full sends everything again.
    let full = env.import(&csv, &["--full", "--rate", "1000", "--rate-window", "1"]);
    assert_exit(&full, 0);
    assert_eq!(sync_requests(&env).len(), 21);
}

#[test]
fn rows_rejected_last_time_and_still_bad_are_reported_again() {
    let env = Env::start(Config::default());
    let csv = env.path("export.csv");
    export(&csv, 0..20, &[]);
    append(&csv, "crm-bad,Broken,12345,new\n");
    assert_exit(&env.import(&csv, &fast()), 3);
    assert_exit(&env.import(&csv, &fast()), 3);
    let report = env.rejected_csv();
    assert_eq!(report.len(), 1);
    assert_eq!(report[0][1], "invalid_phone");
    let summary = env.summary();
    assert_eq!(
        (summary["unchanged"].as_u64(), summary["rejected"].as_u64()),
        (Some(20), Some(1))
    );
}

#[test]
fn delete_missing_removes_exactly_the_leads_gone_from_the_export_and_refuses_a_truncated_one() {
    let env = Env::start(Config::default());
    let csv = env.path("export.csv");
    export(&csv, 0..1000, &[]);
    assert_exit(&env.import(&csv, &fast()), 0);
    assert_eq!(env.leads().len(), 1000);

    // 50 rows gone (5%): deleted, the others untouched.
    let gone: Vec<usize> = (0..1000).filter(|n| n % 20 == 7).collect();
    export(&csv, (0..1000).filter(|n| !gone.contains(n)), &[]);
    let mut args = fast();
    args.extend(["--delete-missing", "--json"]);
    let out = env.import(&csv, &args);
    assert_exit(&out, 0);
    let summary = json_out(&out);
    assert_eq!(summary["deletion"]["deleted"], 50, "{summary:#}");
    let stored = env.leads_by_id();
    assert_eq!(stored.len(), 950);
    for n in &gone {
        assert!(!stored.contains_key(&format!("crm-{n:05}")));
    }
    let deletes = env
        .sandbox()
        .state()
        .requests()
        .into_iter()
        .filter(|r| r.method == "DELETE")
        .map(|r| r.leads)
        .collect::<Vec<_>>();
    assert_eq!(
        deletes,
        vec![Some(0), Some(50)],
        "an empty probe of the delete scope first; 50 ids fit one request"
    );

    // A truncated export (half the rows): nothing deleted, and it says why.
    export(&csv, 0..500, &[]);
    let out = env.import(&csv, &args);
    assert_exit(&out, 4);
    let summary = json_out(&out);
    assert_eq!(summary["deletion"]["deleted"], 0);
    let why = summary["message"].as_str().unwrap();
    assert!(
        why.contains("--max-delete-ratio") && why.contains("truncated"),
        "{why}"
    );
    assert!(text(&out.stderr).contains("Nothing was deleted"));
    // (The 25 rows of the truncated export deleted before are back, as new leads.)
    assert_eq!(env.leads().len(), 975);
    // The dry run tells the same story without sending anything.
    let dry = env.import(&csv, &["--dry-run", "--delete-missing"]);
    assert_exit(&dry, 4);
    assert!(
        text(&dry.stdout).contains("would delete 0 of 975 known leads"),
        "{}",
        text(&dry.stdout)
    );
}

#[test]
fn a_second_run_on_the_same_state_exits_with_the_lock_code_and_a_stale_lock_is_taken_over() {
    let env = Env::start(roomy(with_latency(Latency::fixed(100))));
    let csv = env.path("export.csv");
    export(&csv, 0..400, &[]);
    let mut args = fast();
    args.extend(["--batch-size", "20", "--concurrency", "2"]);
    let mut first = spawn_import(&env, &csv, &args);
    wait_for_leads(&env, 20, &mut first);
    let second = env.import(&csv, &args);
    assert_exit(&second, 5);
    let stderr = text(&second.stderr);
    assert!(
        stderr.contains("another run") && stderr.contains(&format!("pid {}", first.id())),
        "{stderr}"
    );
    assert!(
        stderr.contains("started 20"),
        "names the start time: {stderr}"
    );
    // The first one is undisturbed; kill it, and the next run takes the stale lock over.
    first.kill().unwrap();
    first.wait().unwrap();
    let third = env.import(&csv, &args);
    assert_exit(&third, 0);
    assert!(
        text(&third.stderr).contains("taking over the lock"),
        "{}",
        text(&third.stderr)
    );
    assert_eq!(env.leads().len(), 400);
}

#[test]
fn max_duration_stops_cleanly_and_the_next_run_finishes() {
    let env = Env::start(roomy(with_latency(Latency::fixed(100))));
    let csv = env.path("export.csv");
    export(&csv, 0..1000, &[]);
    let mut args = fast();
    args.extend(["--batch-size", "20", "--concurrency", "2", "--json"]);
    let mut limited = args.clone();
    limited.extend(["--max-duration", "1s"]);
    let out = env.import(&csv, &limited);
    assert_exit(&out, 130);
    let summary = json_out(&out);
    assert_eq!(summary["status"], "interrupted");
    assert!(
        summary["message"]
            .as_str()
            .unwrap()
            .contains("--max-duration")
    );
    let imported = summary["imported"].as_u64().unwrap();
    assert!(imported > 0 && imported < 1000, "{imported}");
    assert_eq!(
        imported as usize,
        env.leads().len(),
        "in-flight requests were finished"
    );

    let out = env.import(&csv, &args);
    assert_exit(&out, 0);
    let summary = json_out(&out);
    assert_eq!(summary["imported"], 1000);
    assert_eq!(env.leads_by_id().len(), 1000);
}

#[test]
fn max_rejects_turns_too_many_rejections_into_exit_code_4() {
    let env = Env::start(Config::default());
    let csv = env.path("export.csv");
    export(&csv, 0..20, &[]);
    append(
        &csv,
        "crm-x1,Broken,1,new\ncrm-x2,Broken,2,new\ncrm-x3,Broken,3,new\n",
    );
    let mut args = fast();
    args.extend(["--max-rejects", "2"]);
    assert_exit(&env.import(&csv, &args), 4);
    let mut args = fast();
    args.extend(["--max-rejects", "20%"]);
    assert_exit(&env.import(&csv, &args), 3);
    // The status command shows the runs per source.
    let status = Command::new(env!("CARGO_BIN_EXE_nl-import"))
        .current_dir(env.dir.path())
        .args(["status", "--state", "state.db"])
        .output()
        .unwrap();
    assert_exit(&status, 0);
    let listing = text(&status.stdout);
    assert!(listing.contains("source "), "{listing}");
    assert_eq!(listing.matches(" done ").count(), 2, "{listing}");
}
