//! The run lock follows the state file, not its name: a second run through a symlink or a
//! hard link to the state file a slow import is using exits 5 and sends nothing, and the
//! file stays intact; a hard-linked state file is refused even when free. `status` shows a
//! run whose process was killed (SIGKILL: no lock held) as `interrupted`, not `running`.

use std::path::Path;
use std::process::{Command, Output, Stdio};

use naturalead_sandbox::{Latency, Limits};
use serde_json::Value;

mod common;

use common::*;

/// `nl-import import <csv> --state <state>` against the sandbox.
fn import_with_state(env: &Env, csv: &Path, state: &str, extra: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_nl-import"))
        .current_dir(env.dir.path())
        .arg("import")
        .arg(csv)
        .args(["--api-url", &env.sandbox().base_url()])
        .args(["--state", state, "--report-dir", "other-reports"])
        .args(extra)
        .env("NATURALEAD_API_KEY", env.sandbox().test_key())
        .env_remove("NATURALEAD_API_URL")
        .env_remove("NL_IMPORT_STATE")
        .stdin(Stdio::null())
        .output()
        .unwrap()
}

fn status(env: &Env, state: &str, extra: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_nl-import"))
        .current_dir(env.dir.path())
        .args(["status", "--state", state])
        .args(extra)
        .env_remove("NL_IMPORT_STATE")
        .output()
        .unwrap()
}

/// Leads the sandbox received in sync requests it answered 200.
fn leads_sent(env: &Env) -> usize {
    sync_requests(env)
        .iter()
        .filter(|r| r.status == Some(200))
        .map(|r| r.leads.unwrap_or(0))
        .sum()
}

fn integrity(path: &Path) -> String {
    let conn = rusqlite::Connection::open(path).unwrap();
    conn.query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .unwrap()
}

/// Sends `sig` to the child (still unreaped: we hold it).
#[cfg(unix)]
fn signal(child: &std::process::Child, sig: libc::c_int) {
    let pid = libc::pid_t::try_from(child.id()).unwrap();
    // SAFETY: kill(2) on our own child's pid; it has not been reaped yet (we hold `child`).
    let rc = unsafe { libc::kill(pid, sig) };
    assert_eq!(rc, 0, "kill({pid}, {sig})");
}

/// 100 ms on every sync request, and no quota to wait for.
fn slow_sandbox() -> Env {
    let mut config = with_latency(Latency::fixed(100));
    config.limits = Limits {
        global_per_ip: 1_000_000,
        per_key: 1_000_000,
        sync_per_key: 1_000_000,
        per_account: 1_000_000,
    };
    Env::start(config)
}

fn slow_args() -> Vec<&'static str> {
    let mut args = fast();
    args.extend(["--batch-size", "20", "--concurrency", "2"]);
    args
}

#[cfg(unix)]
#[test]
fn a_second_run_through_a_symlink_or_a_hard_link_finds_the_lock() {
    let env = slow_sandbox();
    let csv = env.path("leads.csv");
    write_leads(&csv, 1000);
    let args = slow_args();
    let mut first = spawn_import(&env, &csv, &args);
    wait_for_leads(&env, 20, &mut first);
    // Stopped, it holds the lock for as long as the test needs, however slow the machine.
    signal(&first, libc::SIGSTOP);
    std::os::unix::fs::symlink("state.db", env.path("link.db")).unwrap();
    let through_symlink = import_with_state(&env, &csv, "link.db", &args);
    assert_exit(&through_symlink, 5);
    let stderr = text(&through_symlink.stderr);
    assert!(
        stderr.contains("another run") && stderr.contains(&format!("pid {}", first.id())),
        "{stderr}"
    );
    // Status through the symlink sees the run going.
    let out = status(&env, "link.db", &["--json"]);
    assert_exit(&out, 0);
    let runs: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(runs[0]["status"], "running", "{runs:#}");

    std::fs::hard_link(env.path("state.db"), env.path("hard.db")).unwrap();
    let through_hard_link = import_with_state(&env, &csv, "hard.db", &args);
    assert_exit(&through_hard_link, 5);
    assert!(
        text(&through_hard_link.stderr).contains("another run"),
        "{}",
        text(&through_hard_link.stderr)
    );
    // A file with two names: status explains that it cannot tell (under one of them,
    // SQLite would read without the writer's log), whichever name it is given.
    for name in ["hard.db", "state.db", "link.db"] {
        let out = status(&env, name, &["--json"]);
        assert_exit(&out, 1);
        assert!(
            text(&out.stderr).contains("2 names (hard links)"),
            "{}",
            text(&out.stderr)
        );
    }

    signal(&first, libc::SIGCONT);
    let out = first.wait_with_output().unwrap();
    assert_exit(&out, 0);
    // Every lead once: the refused runs sent nothing.
    assert_eq!(env.leads_by_id().len(), 1000);
    assert_eq!(leads_sent(&env), 1000);
    assert_eq!(integrity(&env.path("state.db")), "ok");

    // Free now, but the file still has two names: refused, exit 1, nothing sent or changed.
    let before = std::fs::read(env.path("state.db")).unwrap();
    let refused = import_with_state(&env, &csv, "hard.db", &args);
    assert_exit(&refused, 1);
    assert!(
        text(&refused.stderr).contains("2 names (hard links)"),
        "{}",
        text(&refused.stderr)
    );
    assert_exit(&import_with_state(&env, &csv, "state.db", &args), 1);
    assert_eq!(std::fs::read(env.path("state.db")).unwrap(), before);
    assert_eq!(leads_sent(&env), 1000);

    // One name again: a run through the symlink finds the finished run (all unchanged).
    std::fs::remove_file(env.path("hard.db")).unwrap();
    let again = import_with_state(&env, &csv, "link.db", &["--json"]);
    assert_exit(&again, 0);
    let summary: Value = serde_json::from_slice(&again.stdout).unwrap();
    assert_eq!(summary["unchanged"], 1000, "{summary:#}");
    assert_eq!(leads_sent(&env), 1000);
    assert_eq!(integrity(&env.path("state.db")), "ok");
}

#[cfg(unix)]
#[test]
fn status_shows_a_killed_run_as_interrupted() {
    let env = slow_sandbox();
    let csv = env.path("leads.csv");
    write_leads(&csv, 1000);
    let args = slow_args();
    let mut first = spawn_import(&env, &csv, &args);
    wait_for_leads(&env, 20, &mut first);
    signal(&first, libc::SIGSTOP);
    let out = status(&env, "state.db", &["--json"]);
    let runs: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(runs[0]["status"], "running", "{runs:#}");

    // SIGKILL: no handler runs, the state file still says `running`, the lock is gone.
    signal(&first, libc::SIGKILL);
    first.wait().unwrap();
    let out = status(&env, "state.db", &["--json"]);
    assert_exit(&out, 0);
    let runs: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(runs[0]["status"], "interrupted", "{runs:#}");
    assert!(
        runs[0]["message"]
            .as_str()
            .unwrap()
            .contains("run the same command again"),
        "{runs:#}"
    );
    let table = status(&env, "state.db", &[]);
    assert_exit(&table, 0);
    let listing = text(&table.stdout);
    assert!(
        listing.contains("interrupted") && !listing.contains("running"),
        "{listing}"
    );
    assert!(listing.contains(" yes "), "resumable: {listing}");

    // And it is: the same command finishes the run.
    let out = env.import(&csv, &fast());
    assert_exit(&out, 0);
    assert_eq!(env.leads_by_id().len(), 1000);
    let out = status(&env, "state.db", &["--json"]);
    let runs: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(runs[0]["status"], "done", "{runs:#}");
}
