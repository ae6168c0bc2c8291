//! Stopping, cleanly and at once: SIGTERM or SIGINT at any moment from the first instant
//! of a run gives exit 130 and a state file that the next run resumes (never the default
//! exit of a killed process, 143), and a run whose state file is deleted or replaced while
//! it runs stops with exit 1 instead of reporting `done` into a file nobody will read.

use std::io::Write as _;
use std::path::Path;
use std::process::{Command, Output};
use std::time::Duration;

use naturalead_sandbox::Latency;

mod common;

use common::*;

/// Exit 130 (not a death by the signal), no panic, and `message` on stderr.
fn assert_interrupted(out: &Output, message: &str) {
    let stderr = text(&out.stderr);
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert_exit(out, 130);
    assert!(stderr.contains(message), "`{message}` not in:\n{stderr}");
}

/// `nl-import status` reads the state file (when there is one) without complaint.
fn assert_state_usable(env: &Env) {
    if !env.path("state.db").exists() {
        return;
    }
    let out = Command::new(env!("CARGO_BIN_EXE_nl-import"))
        .current_dir(env.dir.path())
        .args(["status", "--state", "state.db", "--json"])
        .output()
        .unwrap();
    assert_exit(&out, 0);
}

const NOTHING_SENT: &str = "interrupted before anything was sent";

#[test]
fn sigterm_at_any_early_moment_exits_130_and_the_next_run_finishes() {
    let env = Env::start(roomy(with_latency(Latency::fixed(20))));
    let csv = env.path("leads.csv");
    write_leads(&csv, 300);
    let slow = ["--rate", "40", "--rate-window", "1", "--batch-size", "10"];

    // As soon as the handlers are in place (a few milliseconds after the start), at three
    // slightly different moments.
    for delay in [0, 2, 10] {
        let mut child = spawn_import(&env, &csv, &slow);
        wait_for_handlers(&mut child);
        std::thread::sleep(Duration::from_millis(delay));
        signal(&child, libc::SIGTERM);
        let out = exits(child);
        assert_exit(&out, 130);
        assert!(!text(&out.stderr).contains("panicked"));
        assert_state_usable(&env);
    }

    // While the input is fingerprinted (hashed in full before anything is sent): a large
    // file, signalled once part of it is read.
    let big = env.path("big.csv");
    {
        let mut file = std::io::BufWriter::new(std::fs::File::create(&big).unwrap());
        file.write_all(b"lead_id,name,phone\n").unwrap();
        let row = b"b1,Big,+12125550100\n".repeat(1 << 16);
        while file.get_ref().metadata().unwrap().len() < 96 << 20 {
            file.write_all(&row).unwrap();
        }
        file.flush().unwrap();
    }
    let size = std::fs::metadata(&big).unwrap().len();
    // Caught in the act: stopped (SIGSTOP) once it has read 8 MiB, signalled if it is still
    // hashing (has not read the whole file, has not opened the state file), then let go.
    // On a machine too loaded to catch it in time, killed, and another try.
    let mut caught = None;
    for _ in 0..5 {
        let mut child = spawn_import(&env, &big, &slow);
        let pid = child.id();
        while bytes_read(pid) < 8 << 20 {
            assert!(
                child.try_wait().unwrap().is_none(),
                "ended before it was signalled"
            );
            std::thread::sleep(Duration::from_micros(200));
        }
        signal(&child, libc::SIGSTOP);
        let hashing = bytes_read(pid) < size && !has_open(pid, "state.db");
        signal(
            &child,
            if hashing {
                libc::SIGTERM
            } else {
                libc::SIGKILL
            },
        );
        signal(&child, libc::SIGCONT);
        let out = exits(child);
        if hashing {
            caught = Some(out);
            break;
        }
    }
    let out = caught.expect("never caught fingerprinting in five tries");
    assert_interrupted(&out, NOTHING_SENT);
    std::fs::remove_file(&big).unwrap();
    assert_state_usable(&env);

    // As the state file is opened and the run begun or resumed, at several moments.
    for delay in [0, 1, 3, 8] {
        let mut child = spawn_import(&env, &csv, &slow);
        while !has_open(child.id(), "state.db") {
            assert!(child.try_wait().unwrap().is_none(), "ended too early");
            std::thread::sleep(Duration::from_micros(200));
        }
        std::thread::sleep(Duration::from_millis(delay));
        signal(&child, libc::SIGTERM);
        let out = exits(child);
        assert_interrupted(&out, "interrupted");
        assert_state_usable(&env);
    }

    // During the session: the graceful path, with its summary.
    let mut child = spawn_import(&env, &csv, &slow);
    wait_for_leads(&env, 20, &mut child);
    signal(&child, libc::SIGTERM);
    let out = exits(child);
    assert_interrupted(&out, "run the same command again");
    let summary = env.summary();
    assert_eq!(summary["status"], "interrupted", "{summary:#}");
    assert_adds_up(&summary);

    // Whatever moment the signals came, the next run finishes, and each lead is there once.
    let out = env.import(&csv, &fast());
    assert_exit(&out, 0);
    let summary = env.summary();
    assert_eq!(summary["status"], "done", "{summary:#}");
    assert_eq!(summary["imported"], 300, "{summary:#}");
    assert_eq!(env.leads_by_id().len(), 300);
}

/// Starts an import of 400 leads paced to last a few seconds, waits until the server
/// holds some, and does `what` to the state file.
fn state_file_changed_mid_run(what: impl FnOnce(&Path)) -> (Env, Output) {
    let env = Env::start(roomy(with_latency(Latency::fixed(10))));
    let csv = env.path("leads.csv");
    write_leads(&csv, 400);
    let mut child = spawn_import(
        &env,
        &csv,
        &["--rate", "30", "--rate-window", "1", "--batch-size", "5"],
    );
    wait_for_leads(&env, 30, &mut child);
    what(&env.path("state.db"));
    let out = exits(child);
    (env, out)
}

/// The run stopped with exit 1 saying `message`, did not report `done`, and the next
/// run sends everything again and finishes with every lead once.
fn assert_stopped_then_rerun(env: &Env, out: &Output, message: &str) {
    let stderr = text(&out.stderr);
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert_exit(out, 1);
    assert!(stderr.contains(message), "`{message}` not in:\n{stderr}");
    assert!(
        !env.path("reports/summary.json").exists(),
        "a summary was written: {:#}",
        env.summary()
    );
    assert!(
        env.leads().len() < 400,
        "it went on to the end: {}",
        env.leads().len()
    );
    let out = env.import(&env.path("leads.csv"), &fast());
    assert_exit(&out, 0);
    let summary = env.summary();
    assert_eq!(summary["status"], "done", "{summary:#}");
    assert_eq!(summary["imported"], 400, "{summary:#}");
    assert_eq!(env.leads_by_id().len(), 400);
}

#[test]
fn a_state_file_deleted_mid_run_stops_the_run_with_exit_1() {
    let (env, out) = state_file_changed_mid_run(|state| std::fs::remove_file(state).unwrap());
    assert_stopped_then_rerun(&env, &out, "was deleted or moved away");
}

#[test]
fn a_state_file_replaced_mid_run_stops_the_run_with_exit_1() {
    // Renamed over, as a restore from a backup would do.
    let (env, out) = state_file_changed_mid_run(|state| {
        let other = state.with_file_name("other.db");
        std::fs::write(&other, b"").unwrap();
        std::fs::rename(&other, state).unwrap();
    });
    assert_stopped_then_rerun(&env, &out, "was replaced by another file");
}
