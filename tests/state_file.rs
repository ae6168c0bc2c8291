//! The state file end to end: a damaged one (garbage, truncated, someone else's SQLite
//! database) or one from a newer nl-import is refused with a clear message and left byte
//! for byte as it was, nothing sent; `status` reads it while an import writes it.

use std::path::Path;
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use naturalead_sandbox::{Config, Limits};
use serde_json::Value;

mod common;

use common::*;

fn config() -> Config {
    Config {
        window: Duration::from_secs(1),
        limits: Limits {
            global_per_ip: 1_000_000,
            per_key: 1_000_000,
            sync_per_key: 1_000_000,
            per_account: 1_000_000,
        },
        ..Config::default()
    }
}

fn status(env: &Env, extra: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_nl-import"))
        .current_dir(env.dir.path())
        .args(["status", "--state", "state.db"])
        .args(extra)
        .output()
        .unwrap()
}

/// Import and status both refuse the state file with `messages`, leave it (and the
/// absence of a WAL beside it) untouched, and send nothing.
fn assert_refused(env: &Env, csv: &Path, messages: &[&str]) {
    let state = env.path("state.db");
    let before = std::fs::read(&state).unwrap();
    let requests = env.sync_statuses().len();
    let out = env.import(csv, &fast());
    let stderr = text(&out.stderr);
    assert_exit(&out, 1);
    assert!(!stderr.contains("panicked"), "{stderr}");
    for message in messages {
        assert!(stderr.contains(message), "`{message}` not in {stderr}");
    }
    let out = status(env, &[]);
    assert_exit(&out, 1);
    assert!(
        text(&out.stderr).contains("state.db"),
        "{}",
        text(&out.stderr)
    );
    assert_eq!(std::fs::read(&state).unwrap(), before, "never overwritten");
    assert_eq!(env.sync_statuses().len(), requests, "nothing was sent");
}

/// An import stopped by a wrong key: a resumable run with every row pending.
fn stopped_run(env: &Env, csv: &Path) {
    let out = env
        .import_cmd(csv, &fast())
        .env("NATURALEAD_API_KEY", format!("nl_test_{}", "ab".repeat(32)))
        .output()
        .unwrap();
    assert_exit(&out, 1);
}

#[test]
fn a_state_file_of_garbage_is_refused_and_kept() {
    let env = Env::start(config());
    let csv = env.path("leads.csv");
    write_leads(&csv, 50);
    let garbage: Vec<u8> = (0..10_000u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    std::fs::write(env.path("state.db"), &garbage).unwrap();
    assert_refused(
        &env,
        &csv,
        &["`state.db` is not a usable nl-import state file", "--state"],
    );
    assert!(!env.path("state.db-wal").exists());
}

#[test]
fn a_truncated_state_file_is_refused_and_kept() {
    let env = Env::start(config());
    let csv = env.path("leads.csv");
    write_leads(&csv, 3000);
    append(&csv, "bad,No Phone,,,,,\n");
    let out = env.import(&csv, &fast());
    assert_exit(&out, 3);
    let state = env.path("state.db");
    let bytes = std::fs::read(&state).unwrap();
    assert!(bytes.len() > 8192, "{}", bytes.len());
    std::fs::write(&state, &bytes[..bytes.len() / 2]).unwrap();
    assert_refused(
        &env,
        &csv,
        &["not a usable nl-import state file", "damaged"],
    );
}

#[test]
fn someone_elses_sqlite_database_is_refused_and_not_even_switched_to_wal() {
    let env = Env::start(config());
    let csv = env.path("leads.csv");
    write_leads(&csv, 10);
    let conn = rusqlite::Connection::open(env.path("state.db")).unwrap();
    conn.execute_batch(
        "CREATE TABLE invoices (id INTEGER, total REAL); INSERT INTO invoices VALUES (1, 9.5);",
    )
    .unwrap();
    drop(conn);
    assert_refused(
        &env,
        &csv,
        &["not a usable nl-import state file", "no nl-import metadata"],
    );
}

#[test]
fn a_state_file_from_a_newer_version_is_refused_and_kept() {
    let env = Env::start(config());
    let csv = env.path("leads.csv");
    write_leads(&csv, 40);
    stopped_run(&env, &csv);
    let conn = rusqlite::Connection::open(env.path("state.db")).unwrap();
    conn.execute(
        "UPDATE meta SET value = '2' WHERE key = 'schema_version'",
        [],
    )
    .unwrap();
    drop(conn);
    assert_refused(&env, &csv, &["newer nl-import", "upgrade nl-import"]);
    // `--restart` does not get around it either.
    let out = env.import(&csv, &{
        let mut a = fast();
        a.push("--restart");
        a
    });
    assert_exit(&out, 1);
    assert!(env.leads().is_empty());
}

#[test]
fn a_damaged_write_ahead_log_loses_at_most_commits_that_are_sent_again() {
    let env = Env::start(config());
    let csv = env.path("leads.csv");
    write_leads(&csv, 600);
    let mut child = spawn_import(
        &env,
        &csv,
        &[
            "--rate",
            "100",
            "--rate-window",
            "1",
            "--batch-size",
            "10",
            "--concurrency",
            "2",
        ],
    );
    wait_for_leads(&env, 200, &mut child);
    child.kill().unwrap();
    child.wait().unwrap();
    // Scribble over the WAL the killed process left (its commits since the last
    // checkpoint are lost to the state file, not to the server).
    let wal = env.path("state.db-wal");
    if let Ok(bytes) = std::fs::read(&wal) {
        std::fs::write(&wal, vec![0x5a; bytes.len()]).unwrap();
    }
    let out = env.import(&csv, &fast());
    assert_exit(&out, 0);
    let stored = env.leads_by_id();
    assert_eq!(stored.len(), 600);
    let summary = env.summary();
    assert_eq!(summary["pending"], 0);
    assert_eq!(summary["imported"], 600, "{summary:#}");
}

#[test]
fn status_reads_the_state_while_an_import_writes_it() {
    let env = Env::start(config());
    let csv = env.path("leads.csv");
    write_leads(&csv, 800);
    let mut child = spawn_import(
        &env,
        &csv,
        &[
            "--rate",
            "40",
            "--rate-window",
            "1",
            "--batch-size",
            "10",
            "--concurrency",
            "2",
        ],
    );
    wait_for_leads(&env, 20, &mut child);
    let mut seen = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    while child.try_wait().unwrap().is_none() && seen.len() < 8 {
        assert!(Instant::now() < deadline);
        let out = status(&env, &["--json"]);
        assert_exit(&out, 0);
        let runs: Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(runs[0]["status"], "running", "{runs:#}");
        seen.push(runs[0]["imported"].as_u64().unwrap());
        let table = status(&env, &[]);
        assert_exit(&table, 0);
        assert!(text(&table.stdout).contains("running"));
        std::thread::sleep(Duration::from_millis(150));
    }
    assert!(seen.len() >= 3, "{seen:?}");
    assert!(seen.windows(2).all(|w| w[0] <= w[1]), "{seen:?}");
    assert!(seen.last() > seen.first(), "{seen:?}");
    let out = child.wait_with_output().unwrap();
    assert_exit(&out, 0);
    assert_eq!(env.leads().len(), 800);
    let out = status(&env, &[]);
    assert_exit(&out, 0);
    assert!(text(&out.stdout).contains("done"));
}
