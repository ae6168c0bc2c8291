//! The progress line tells the truth: on a paced run against a sandbox with a scaled
//! rate-limit window, the ETA of each JSON `progress` event (read with its timestamp) is
//! within a factor of two of the time the run really took from then on, the share done
//! only grows, and the figures are named as the summary names them.
//!
//! The default suite runs about six seconds of sending; `NL_PROGRESS_MINUTE=1` runs the
//! issue's minute.

use std::time::{Duration, SystemTime};

use naturalead_sandbox::{Config, Limits};
use serde_json::Value;

mod common;

use common::*;

/// One progress event: when, the ETA it gave, and how far it said the run was.
#[derive(Debug)]
struct Sample {
    at: SystemTime,
    eta: f64,
    percent: f64,
    event: Value,
}

/// Imports `rows` leads at `rate` requests per `window` (the sandbox enforcing the same
/// window) in batches of 10, logging progress every `interval`; returns the progress
/// samples and when the run ended (its `summary` event).
fn paced_run(
    rows: usize,
    rate: u32,
    window: Duration,
    interval: &str,
) -> (Vec<Sample>, SystemTime) {
    let config = Config {
        window,
        limits: Limits {
            global_per_ip: 1_000_000,
            per_key: 1_000_000,
            sync_per_key: rate,
            per_account: 1_000_000,
        },
        ..Config::default()
    };
    let env = Env::start(config);
    let csv = env.path("leads.csv");
    write_leads(&csv, rows);
    let rate_arg = rate.to_string();
    let window_arg = window.as_secs_f64().to_string();
    let out = env.import(
        &csv,
        &[
            "--rate",
            &rate_arg,
            "--rate-window",
            &window_arg,
            "--batch-size",
            "10",
            "--progress-interval",
            interval,
            "--log-format",
            "json",
        ],
    );
    assert_exit(&out, 0);
    assert_eq!(env.leads().len(), rows);
    let events: Vec<Value> = text(&out.stderr)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect();
    let at = |e: &Value| humantime::parse_rfc3339(e["timestamp"].as_str().unwrap()).unwrap();
    let end = events
        .iter()
        .find(|e| e["event"] == "summary")
        .map(at)
        .expect("a summary event");
    let samples = events
        .iter()
        .filter(|e| e["event"] == "progress")
        .map(|e| Sample {
            at: at(e),
            eta: e["eta_seconds"]
                .as_f64()
                .expect("an ETA once the file is read"),
            percent: e["percent"].as_f64().unwrap(),
            event: e.clone(),
        })
        .collect();
    (samples, end)
}

/// The ETA against the time the run really took from each sample on, while at least
/// `from_end` of it remained (near the end one request more or less is a large ratio).
fn assert_truthful(samples: &[Sample], end: SystemTime, from_end: Duration) {
    let judged: Vec<(f64, f64)> = samples
        .iter()
        .filter_map(|s| {
            let real = end.duration_since(s.at).ok()?;
            (real >= from_end).then_some((s.eta, real.as_secs_f64()))
        })
        .collect();
    assert!(judged.len() >= 5, "too few samples: {samples:#?}");
    for (eta, real) in &judged {
        let ratio = eta / real;
        assert!(
            (0.5..=2.0).contains(&ratio),
            "ETA {eta:.1}s where {real:.1}s remained (ratio {ratio:.2}); all: {judged:?}"
        );
    }
    // Done only grows, and the ETA comes down (the issue saw it rise 1s, 3s, 5s…).
    for pair in samples.windows(2) {
        assert!(pair[1].percent >= pair[0].percent, "{pair:#?}");
    }
    let (first, last) = (judged[0].0, judged[judged.len() - 1].0);
    assert!(last < first, "the ETA did not come down: {judged:?}");
    // The figures are named as the summary names them.
    let e = &samples[samples.len() / 2].event;
    for key in ["leads_sent", "leads_to_send", "rows_read", "rows_settled"] {
        assert!(e.get(key).is_some(), "{key} in {e}");
    }
    let message = e["message"].as_str().unwrap();
    assert!(
        message.contains("sent ") && message.contains("rows read") && message.contains("settled"),
        "{message}"
    );
}

#[test]
fn the_eta_is_within_a_factor_of_two_on_a_scaled_paced_run() {
    // 1,200 leads, 120 requests at 20 per second: about six seconds of sending.
    let (samples, end) = paced_run(1_200, 20, Duration::from_secs(1), "250ms");
    assert_truthful(&samples, end, Duration::from_secs(1));
}

#[test]
fn the_eta_is_within_a_factor_of_two_on_a_minute_long_run() {
    if std::env::var_os("NL_PROGRESS_MINUTE").is_none() {
        eprintln!("skipped: set NL_PROGRESS_MINUTE=1 to run the minute-long run");
        return;
    }
    // 5,000 leads, 500 requests at 50 per 6 s: about a minute.
    let (samples, end) = paced_run(5_000, 50, Duration::from_secs(6), "2s");
    assert_truthful(&samples, end, Duration::from_secs(5));
}

/// Sends SIGINT to the child (not reaped yet: we hold it).
#[cfg(unix)]
fn interrupt(child: &std::process::Child) {
    let pid = libc::pid_t::try_from(child.id()).unwrap();
    // SAFETY: kill(2) on our own child's pid.
    assert_eq!(unsafe { libc::kill(pid, libc::SIGINT) }, 0);
}

fn json_lines(bytes: &[u8]) -> Vec<Value> {
    text(bytes)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect()
}

/// The issue saw four "read" figures at one interrupt (progress 5,900, summary 4,600,
/// `status` 3,100, "rows up to 1,100 settled"). Now each says what it counts: rows
/// settled agree between the summary, `status` and the resumed session; the progress line's
/// settled rows are no more than that, its rows read (ahead of sending) no fewer.
#[cfg(unix)]
#[test]
fn the_figures_at_an_interrupt_agree_where_they_are_named_alike() {
    let env = Env::start(roomy(with_latency(naturalead_sandbox::Latency::fixed(30))));
    let csv = env.path("leads.csv");
    write_leads(&csv, 3_000);
    let args = [
        "--rate",
        "40",
        "--rate-window",
        "1",
        "--batch-size",
        "10",
        "--concurrency",
        "2",
        "--progress-interval",
        "100ms",
        "--log-format",
        "json",
    ];
    let mut child = spawn_import(&env, &csv, &args);
    wait_for_leads(&env, 300, &mut child);
    interrupt(&child);
    let out = child.wait_with_output().unwrap();
    assert_exit(&out, 130);
    let events = json_lines(&out.stderr);
    let of = |kind: &str| -> Vec<&Value> { events.iter().filter(|e| e["event"] == kind).collect() };
    let progress = *of("progress").last().expect("progress events");
    let summary = of("summary")[0];
    let n = |v: &Value, k: &str| v[k].as_u64().unwrap_or_else(|| panic!("{k} in {v}"));
    assert_eq!(
        n(summary, "rows_read"),
        n(summary, "rows_settled") + n(summary, "pending")
    );
    let status = std::process::Command::new(env!("CARGO_BIN_EXE_nl-import"))
        .current_dir(env.dir.path())
        .args(["status", "--state", "state.db", "--json"])
        .output()
        .unwrap();
    let runs: Value = serde_json::from_slice(&status.stdout).unwrap();
    let run = &runs[0];
    let settled = n(run, "imported") + n(run, "unchanged") + n(run, "rejected");
    assert_eq!(n(summary, "rows_settled"), settled, "{summary}\n{run}");
    assert!(n(progress, "rows_settled") <= settled, "{progress}");
    assert!(
        n(progress, "rows_read") >= n(progress, "rows_settled"),
        "{progress}"
    );
    let table = std::process::Command::new(env!("CARGO_BIN_EXE_nl-import"))
        .current_dir(env.dir.path())
        .args(["status", "--state", "state.db"])
        .output()
        .unwrap();
    let listing = text(&table.stdout);
    assert!(
        listing.contains("settled") && listing.contains(&format!(" {settled} ")),
        "{listing}"
    );

    let out = env.import(&csv, &args);
    assert_exit(&out, 0);
    let events = json_lines(&out.stderr);
    let resuming = events
        .iter()
        .find(|e| e["event"] == "resuming")
        .expect("a resuming event");
    assert_eq!(n(resuming, "rows_settled"), settled, "{resuming}");
    assert!(n(resuming, "settled_through_row") <= settled);
    assert_eq!(env.leads().len(), 3_000);
}
