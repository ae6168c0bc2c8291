//! The fault matrix: one import per kind of trouble between the importer and the API, each
//! ending with nothing lost. Every case checks the same end state: the sandbox holds every
//! row of the file exactly once by `lead_id` with its phone, the summary adds up with no row
//! pending, and each lead is counted as imported once.

use std::process::Stdio;
use std::time::{Duration, Instant};

use naturalead_sandbox::{
    Config, FaultAction, Faults, Latency, Limits, RandomFailures, Sandbox, ScriptedFault, Storm,
};
use serde_json::Value;

mod common;

use common::*;

fn config(faults: Faults) -> Config {
    Config {
        faults,
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

fn args<'a>(extra: &[&'a str]) -> Vec<&'a str> {
    let mut a = fast();
    a.extend_from_slice(extra);
    a
}

/// Every row of a `write_leads(…, rows)` file, once, with its phone; the summary adds up
/// with nothing pending and every lead imported once.
fn assert_nothing_lost(env: &Env, rows: usize) -> Value {
    let stored = env.leads_by_id();
    assert_eq!(stored.len(), rows, "every lead, once");
    for n in 0..rows {
        let lead = &stored[&format!("crm-{n:05}")];
        assert_eq!(lead.lead.phone, e164(n));
        assert!(lead.write_count >= 1);
    }
    let summary = env.summary();
    let k = |key: &str| summary[key].as_u64().unwrap();
    assert_eq!(summary["status"], "done", "{summary:#}");
    assert_eq!(k("rows_read"), rows as u64, "{summary:#}");
    assert_eq!(k("pending"), 0, "{summary:#}");
    assert_eq!(
        k("imported"),
        rows as u64,
        "each lead counted once: {summary:#}"
    );
    assert_eq!(
        k("rows_read"),
        k("imported") + k("unchanged") + k("rejected") + k("pending")
    );
    summary
}

fn no_panic(out: &std::process::Output) {
    assert!(
        !text(&out.stderr).contains("panicked"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn latency_beyond_the_request_timeout() {
    // Requests 2 and 5 are applied, then answered after the timeout; request 3 waits
    // before it is processed (a spike), longer than the timeout too.
    let slow = FaultAction::Slow {
        delay_ms: 2500,
        trickle: None,
    };
    let env = Env::start(config(Faults::script([
        ScriptedFault::at(2, slow.clone()),
        ScriptedFault::at(5, slow),
    ])));
    let csv = env.path("leads.csv");
    write_leads(&csv, 300);
    // A latency spike on every request until two of them have timed out.
    env.sandbox().state().set_faults(Faults {
        latency: Some(Latency::fixed(1500)),
        ..Faults::default()
    });
    let mut child = spawn_import(
        &env,
        &csv,
        &args(&["--batch-size", "30", "--concurrency", "2", "--timeout", "1"]),
    );
    // A request is logged when the sandbox is done with it, here when the client gave up.
    let deadline = Instant::now() + HANG;
    while sync_requests(&env).len() < 2 {
        assert!(Instant::now() < deadline, "no request timed out");
        assert!(child.try_wait().unwrap().is_none(), "ended early");
        std::thread::sleep(Duration::from_millis(10));
    }
    let slow = FaultAction::Slow {
        delay_ms: 2500,
        trickle: None,
    };
    env.sandbox().state().set_faults(Faults::script([
        ScriptedFault::at(2, slow.clone()),
        ScriptedFault::at(5, slow),
    ]));
    let out = child.wait_with_output().unwrap();
    no_panic(&out);
    assert_exit(&out, 0);
    let summary = assert_nothing_lost(&env, 300);
    assert!(
        summary["session"]["transport_errors"].as_u64().unwrap() >= 3,
        "{summary:#}"
    );
    assert!(text(&out.stderr).contains("timed out") || summary["session"]["retries"] != 0);
}

#[test]
fn bursts_of_500_and_503() {
    let env = Env::start(config(Faults::script([
        ScriptedFault::at(2, FaultAction::status(500)).times(4),
        ScriptedFault::at(8, FaultAction::status(503)).times(4),
        ScriptedFault::at(14, FaultAction::raw(502, "<html>Bad Gateway</html>")).times(2),
    ])));
    let csv = env.path("leads.csv");
    write_leads(&csv, 400);
    let out = env.import(&csv, &args(&["--batch-size", "25", "--concurrency", "4"]));
    no_panic(&out);
    assert_exit(&out, 0);
    let summary = assert_nothing_lost(&env, 400);
    assert_eq!(summary["session"]["retries"], 10, "{summary:#}");
}

fn storm(retry_after_secs: Option<u64>) -> Env {
    let env = Env::start(config(Faults {
        storm: Some(Storm {
            start_at_request: Some(3),
            duration_ms: 1500,
            retry_after_secs,
        }),
        ..Faults::default()
    }));
    let csv = env.path("leads.csv");
    write_leads(&csv, 300);
    let out = env.import(&csv, &args(&["--batch-size", "20", "--concurrency", "4"]));
    no_panic(&out);
    assert_exit(&out, 0);
    let summary = assert_nothing_lost(&env, 300);
    assert!(
        summary["session"]["throttled"].as_u64().unwrap() >= 1,
        "{summary:#}"
    );
    env
}

#[test]
fn a_429_storm_with_retry_after_pauses_every_request() {
    let env = storm(Some(1));
    // After the first 429 with Retry-After: 1, nothing is sent for a second.
    let requests = sync_requests(&env);
    let first = requests.iter().position(|r| r.status == Some(429)).unwrap();
    let at = requests[first].at_ms;
    // (Requests already on their way when the 429 arrived may land a few ms later.)
    let early: Vec<_> = requests
        .iter()
        .filter(|r| r.at_ms > at + 50 && r.at_ms < at + 950)
        .collect();
    assert!(early.is_empty(), "sent during the pause: {early:?}");
    assert!(
        requests.iter().any(|r| r.at_ms >= at + 950),
        "nothing was sent after the pause"
    );
    assert!(env.summary()["session"]["pauses"].as_u64().unwrap() >= 1);
}

#[test]
fn a_429_storm_without_retry_after_backs_off_and_finishes() {
    let env = storm(None);
    let throttled = sync_requests(&env)
        .iter()
        .filter(|r| r.status == Some(429))
        .count();
    // Backing off, not hammering: a handful of 429s per batch in flight, not hundreds.
    assert!(throttled <= 4 * 8, "{throttled} 429s");
}

#[test]
fn connections_dropped_before_and_after_the_batch_was_applied() {
    let env = Env::start(config(Faults::script([
        ScriptedFault::at(1, FaultAction::DropBefore),
        ScriptedFault::at(3, FaultAction::DropAfter).times(3),
        ScriptedFault::at(9, FaultAction::DropBefore).times(2),
        ScriptedFault::at(12, FaultAction::DropAfter),
    ])));
    let csv = env.path("leads.csv");
    write_leads(&csv, 300);
    let out = env.import(&csv, &args(&["--batch-size", "25", "--concurrency", "3"]));
    no_panic(&out);
    assert_exit(&out, 0);
    let summary = assert_nothing_lost(&env, 300);
    assert_eq!(summary["session"]["transport_errors"], 7, "{summary:#}");
    // Only the batches dropped after they were applied were written twice.
    let rewritten = env.leads().iter().filter(|l| l.write_count > 1).count();
    assert!((25..=4 * 25).contains(&rewritten), "{rewritten}");
}

#[test]
fn a_server_restart_in_the_middle_on_the_same_address() {
    let mut env = Env::start(config(Faults {
        latency: Some(Latency::fixed(30)),
        ..Faults::default()
    }));
    let csv = env.path("leads.csv");
    write_leads(&csv, 1000);
    let mut child = spawn_import(
        &env,
        &csv,
        &[
            "--batch-size",
            "10",
            "--concurrency",
            "2",
            "--rate",
            "50",
            "--rate-window",
            "1",
        ],
    );
    let deadline = Instant::now() + HANG;
    while env.leads().len() < 100 {
        assert!(Instant::now() < deadline, "no progress");
        if child.try_wait().unwrap().is_some() {
            let out = child.wait_with_output().unwrap();
            panic!("ended early: {}", text(&out.stderr));
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    // Stop the server (requests in flight finish within its grace), stay down until the
    // importer has come back twice and found nothing but dropped connections, and start
    // it again on the same address with the same data.
    let sandbox = env.sandbox.take().unwrap();
    let (addr, state) = (sandbox.addr(), sandbox.state().clone());
    env.runtime.block_on(sandbox.shutdown());
    let held = state.leads().len();
    let down = std::net::TcpListener::bind(addr).unwrap();
    down.set_nonblocking(true).unwrap();
    let (mut refused, deadline) = (0, Instant::now() + HANG);
    while refused < 2 {
        assert!(Instant::now() < deadline, "the importer did not come back");
        match down.accept() {
            Ok((conn, _)) => {
                drop(conn);
                refused += 1;
            }
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                std::thread::sleep(Duration::from_millis(5));
            }
            Err(e) => panic!("{e}"),
        }
    }
    drop(down);
    assert!(child.try_wait().unwrap().is_none(), "still retrying");
    env.sandbox = Some(
        env.runtime
            .block_on(Sandbox::start_with_state(addr, state))
            .unwrap(),
    );
    let out = child.wait_with_output().unwrap();
    no_panic(&out);
    assert_exit(&out, 0);
    assert!(held < 1000, "the restart came in the middle");
    let summary = assert_nothing_lost(&env, 1000);
    assert!(summary["session"]["transport_errors"].as_u64().unwrap() >= 1);
}

#[test]
fn unexpected_and_truncated_json_answers() {
    let env = Env::start(config(Faults::script([
        // Not applied, garbled answers.
        ScriptedFault::at(1, FaultAction::raw(200, r#"{"created":3,"upd"#)),
        ScriptedFault::at(2, FaultAction::raw(200, "<html>proxy error</html>")),
        ScriptedFault::at(3, FaultAction::raw(200, "")),
        ScriptedFault::at(4, FaultAction::raw(200, "[]")),
        ScriptedFault::at(5, FaultAction::raw(200, r#"{"errors":"all failed"}"#)),
        ScriptedFault::at(6, FaultAction::raw(500, "<html>oops</html>")),
        ScriptedFault::at(7, FaultAction::raw(429, "slow down")),
        // Applied, then answered with garbage.
        ScriptedFault::at(
            8,
            FaultAction::ApplyThenRespond {
                status: 200,
                body: r#"{"created":20,"updated":0,"fai"#.into(),
            },
        ),
        ScriptedFault::at(
            9,
            FaultAction::ApplyThenRespond {
                status: 200,
                body: r#"{"created":"twenty","errors":[{"index":99,"error":"?"}]}"#.into(),
            },
        ),
        ScriptedFault::at(
            10,
            FaultAction::Slow {
                delay_ms: 0,
                trickle: Some(naturalead_sandbox::Trickle {
                    chunk_bytes: 3,
                    interval_ms: 2,
                }),
            },
        ),
    ])));
    let csv = env.path("leads.csv");
    write_leads(&csv, 200);
    let out = env.import(&csv, &args(&["--batch-size", "20", "--concurrency", "2"]));
    no_panic(&out);
    assert_exit(&out, 0);
    let summary = assert_nothing_lost(&env, 200);
    assert!(
        summary["session"]["unknown_outcomes"].as_u64().unwrap() >= 7,
        "{summary:#}"
    );
}

/// The first request is applied but its 200 does not account for every lead; every later
/// attempt fails. The batch must end `gave_up`, not imported, and a rerun sends it.
fn short_answer_then_outage(body: &str) {
    let env = Env::start(config(Faults::script([
        ScriptedFault::at(
            1,
            FaultAction::ApplyThenRespond {
                status: 200,
                body: body.into(),
            },
        ),
        ScriptedFault::at(2, FaultAction::status(503)).times(1000),
    ])));
    let csv = env.path("leads.csv");
    write_leads(&csv, 10);
    let out = env.import(&csv, &args(&["--max-attempts", "2"]));
    no_panic(&out);
    assert_exit(&out, 1);
    assert_eq!(env.leads().len(), 10, "the server has them");
    let summary = env.summary();
    assert_eq!(summary["imported"], 0, "{body}: {summary:#}");
    assert_eq!(summary["rejected_by_class"]["gave_up"], 10, "{summary:#}");
    let status = std::process::Command::new(env!("CARGO_BIN_EXE_nl-import"))
        .current_dir(env.dir.path())
        .args(["status", "--state", "state.db", "--json"])
        .output()
        .unwrap();
    let runs: Value = serde_json::from_slice(&status.stdout).unwrap();
    assert_eq!(runs[0]["imported"], 0, "{runs:#}");

    env.sandbox().state().set_faults(Faults::none());
    let out = env.import(&csv, &fast());
    assert_exit(&out, 0);
    assert_nothing_lost(&env, 10);
}

#[test]
fn a_200_that_does_not_account_for_every_lead_marks_none_imported() {
    for body in [
        r#"{"created":1,"updated":0,"failed":0,"errors":[]}"#,
        r#"{"created":3,"updated":2,"failed":0}"#,
        r#"{"created":4}"#,
        r#"{"updated":9,"failed":0,"errors":[]}"#,
        r#"{"total":3,"errors":[]}"#,
        r#"{"created":9,"failed":0,"errors":[{"lead_id":"someone-else","error":"x"}]}"#,
    ] {
        short_answer_then_outage(body);
    }
}

#[test]
fn a_huge_retry_after_neither_panics_nor_blocks_ctrl_c() {
    // 429 with Retry-After: u64::MAX seconds, then a very long one.
    let env = Env::start(config(Faults::script([
        ScriptedFault::at(1, FaultAction::too_many_requests(Some(u64::MAX))),
        ScriptedFault::at(2, FaultAction::too_many_requests(Some(3600))).times(1000),
    ])));
    let csv = env.path("leads.csv");
    write_leads(&csv, 50);
    let mut child = spawn_import(&env, &csv, &fast());
    let deadline = Instant::now() + HANG;
    while sync_requests(&env).is_empty() {
        assert!(Instant::now() < deadline, "no request");
        std::thread::sleep(Duration::from_millis(20));
    }
    std::thread::sleep(Duration::from_millis(300));
    if child.try_wait().unwrap().is_some() {
        let out = child.wait_with_output().unwrap();
        panic!("ended while it should wait: {}", text(&out.stderr));
    }
    signal(&child, libc::SIGINT);
    // It exits at all: the pause it waits out is 15 minutes (capped), far beyond the
    // guard against hanging.
    let out = exits(child);
    no_panic(&out);
    assert_exit(&out, 130);
    let summary = env.summary();
    assert_eq!(summary["pending"], 50, "{summary:#}");

    env.sandbox().state().set_faults(Faults::none());
    let out = env.import(&csv, &fast());
    assert_exit(&out, 0);
    assert_nothing_lost(&env, 50);
}

#[test]
fn everything_at_once_at_random() {
    let env = Env::start(Config {
        seed: 7,
        ..config(Faults {
            latency: Some(Latency::range(0, 40)),
            random: Some(RandomFailures {
                rate: 0.25,
                statuses: vec![500, 502, 503, 504, 408, 429],
            }),
            script: (1..200)
                .step_by(7)
                .map(|n| {
                    ScriptedFault::at(
                        n,
                        match n % 3 {
                            0 => FaultAction::DropAfter,
                            1 => FaultAction::DropBefore,
                            _ => FaultAction::ApplyThenRespond {
                                status: 200,
                                body: "{}{".into(),
                            },
                        },
                    )
                })
                .collect(),
            ..Faults::default()
        })
    });
    let csv = env.path("leads.csv");
    write_leads(&csv, 300);
    let out = env
        .import_cmd(
            &csv,
            &args(&[
                "--batch-size",
                "20",
                "--concurrency",
                "6",
                "--max-attempts",
                "20",
            ]),
        )
        .stdin(Stdio::null())
        .output()
        .unwrap();
    no_panic(&out);
    assert_exit(&out, 0);
    assert_nothing_lost(&env, 300);
}
