//! stderr is what `--log-format` says, written to a file as cron or a log shipper would
//! take it: with `json`, every line of every path is one JSON object (progress with its
//! figures, notices, the class table as one structured event, interrupts, the summary,
//! errors from `main`, clap's usage errors); with `text`, not one escape byte (no colour
//! when stderr is not a terminal, even without `NO_COLOR`).

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use naturalead_sandbox::Latency;
use serde_json::Value;

mod common;

use common::*;

#[derive(Debug, Clone, Copy, PartialEq)]
enum Format {
    Json,
    Text,
}

impl Format {
    fn flag(self) -> &'static str {
        match self {
            Format::Json => "json",
            Format::Text => "text",
        }
    }
}

/// What one run left: its exit code and stderr as written to a file.
struct Logged {
    name: String,
    code: Option<i32>,
    stderr: String,
}

/// Runs `cmd` with `--log-format <format>` and stderr to a file (and colour allowed as far
/// as the environment goes: `NO_COLOR` unset).
fn run_logged(env: &Env, name: &str, mut cmd: Command, format: Format) -> Logged {
    let path = env.path(&format!("{name}.{}.stderr", format.flag()));
    cmd.args(["--log-format", format.flag()])
        .env_remove("NO_COLOR")
        .env_remove("NL_IMPORT_LOG_FORMAT")
        .stdout(Stdio::null())
        .stderr(File::create(&path).unwrap());
    let status = cmd.status().unwrap();
    Logged {
        name: name.to_owned(),
        code: status.code(),
        stderr: std::fs::read_to_string(&path).unwrap(),
    }
}

/// Every line of `log` as a JSON object (panics naming the line that is not one).
fn events(log: &Logged) -> Vec<Value> {
    let body = log.stderr.strip_suffix('\n').unwrap_or(&log.stderr);
    assert!(!body.is_empty(), "{}: nothing on stderr", log.name);
    body.split('\n')
        .map(|line| {
            let v: Value = serde_json::from_str(line).unwrap_or_else(|e| {
                panic!(
                    "{}: a stderr line is not JSON ({e}): {line:?}\n{}",
                    log.name, log.stderr
                )
            });
            assert!(v.is_object(), "{}: {line}", log.name);
            for key in ["timestamp", "level", "message"] {
                assert!(v.get(key).is_some(), "{}: no {key} in {line}", log.name);
            }
            humantime::parse_rfc3339(v["timestamp"].as_str().unwrap())
                .unwrap_or_else(|e| panic!("{}: timestamp of {line}: {e}", log.name));
            v
        })
        .collect()
}

fn of_kind<'a>(events: &'a [Value], kind: &str) -> Vec<&'a Value> {
    events.iter().filter(|e| e["event"] == kind).collect()
}

fn check_cmd(env: &Env, csv: &Path, extra: &[&str]) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_nl-import"));
    cmd.current_dir(env.dir.path())
        .arg("check")
        .arg(csv)
        .args(["--report-dir", "check-reports"])
        .args(extra)
        .stdin(Stdio::null());
    cmd
}

/// A file of `valid` rows and three bad ones (two classes).
fn leads_with_rejects(env: &Env, name: &str, valid: usize) -> PathBuf {
    let csv = env.path(name);
    write_leads(&csv, valid);
    append(
        &csv,
        "bad-1,Bad One,12,b1@example.com,new,,X\nbad-2,Bad Two,+1 212 309-9999,not an email,new,,X\nbad-3,Bad Three,,b3@example.com,new,,X\n",
    );
    csv
}

#[cfg(unix)]
fn interrupt(child: &std::process::Child) {
    let pid = libc::pid_t::try_from(child.id()).unwrap();
    // SAFETY: kill(2) on our own child, not reaped yet (we hold it).
    assert_eq!(unsafe { libc::kill(pid, libc::SIGINT) }, 0);
}

/// Every path, in one format: check (valid, rejects, leads on stdout), import (success,
/// rejects, progress, interrupted and resumed, a refused key, an unreachable API, a missing
/// file), usage errors (clap's and a config file's). Returns the logs.
fn every_path(format: Format) -> Vec<Logged> {
    // The documented limits (50 a minute): the server's policy is learnt, and said, as a
    // `rate_policy` warning; 40 ms on each request so that progress has time to show.
    let env = Env::start(with_latency(Latency::fixed(40)));
    let clean = env.path("clean.csv");
    write_leads(&clean, 300);
    let dirty = leads_with_rejects(&env, "dirty.csv", 300);
    let mut logs = Vec::new();

    logs.push(run_logged(
        &env,
        "check-valid",
        check_cmd(&env, &clean, &[]),
        format,
    ));
    logs.push(run_logged(
        &env,
        "check-rejects",
        check_cmd(&env, &dirty, &[]),
        format,
    ));
    logs.push(run_logged(
        &env,
        "check-emit-stdout",
        check_cmd(&env, &dirty, &["--emit-valid", "-"]),
        format,
    ));

    // One request at a time: 15 requests of at least 40 ms each outlast the progress
    // display's first sample (250 ms) whatever the machine's speed, since the learnt policy
    // (50 a minute) lets all 15 leave at once.
    let progress = [
        "--progress-interval",
        "100ms",
        "--batch-size",
        "20",
        "--concurrency",
        "1",
    ];
    let mut args = fast();
    args.extend(progress);
    logs.push(run_logged(
        &env,
        "import-clean",
        env.import_cmd(&clean, &args),
        format,
    ));
    // With -v: `tracing`'s log lines (the route, the reports' timings) join the events.
    let mut args = fast();
    args.extend(progress);
    args.push("-v");
    logs.push(run_logged(
        &env,
        "import-rejects",
        env.import_cmd(&dirty, &args),
        format,
    ));

    // Interrupted: Ctrl-C while the requests go, then the same command resumes (on a
    // sandbox of its own, with no quota to wait for).
    let roomy_env = Env::start(roomy(with_latency(Latency::fixed(40))));
    let big = roomy_env.path("big.csv");
    write_leads(&big, 1_000);
    let args = [
        "--rate",
        "50",
        "--rate-window",
        "1",
        "--batch-size",
        "10",
        "--concurrency",
        "2",
    ];
    let path = env.path(&format!("import-interrupted.{}.stderr", format.flag()));
    let mut child = roomy_env
        .import_cmd(&big, &args)
        .args(["--log-format", format.flag()])
        .env_remove("NO_COLOR")
        .stdout(Stdio::null())
        .stderr(File::create(&path).unwrap())
        .spawn()
        .unwrap();
    wait_for_leads(&roomy_env, 100, &mut child);
    interrupt(&child);
    let status = child.wait().unwrap();
    logs.push(Logged {
        name: "import-interrupted".into(),
        code: status.code(),
        stderr: std::fs::read_to_string(&path).unwrap(),
    });
    logs.push(run_logged(
        &env,
        "import-resumed",
        roomy_env.import_cmd(&big, &args),
        format,
    ));

    // Fatal: a key the API refuses; an API that is not there; an input that is not there.
    let other = env.path("other.csv");
    write_leads(&other, 50);
    let mut args = fast();
    args.push("--full");
    let mut cmd = env.import_cmd(&other, &args);
    cmd.env("NATURALEAD_API_KEY", format!("nl_test_{}", "ab".repeat(32)));
    logs.push(run_logged(&env, "import-refused", cmd, format));
    let mut args = fast();
    args.extend(["--api-url", "http://127.0.0.1:9/api", "--restart"]);
    logs.push(run_logged(
        &env,
        "import-unreachable",
        env.import_cmd(&other, &args),
        format,
    ));
    logs.push(run_logged(
        &env,
        "import-missing-file",
        env.import_cmd(&env.path("missing.csv"), &fast()),
        format,
    ));

    // Usage errors: clap's (a bad value, an unknown flag), and one found in a config file.
    let mut args = fast();
    args.extend(["--batch-size", "101"]);
    logs.push(run_logged(
        &env,
        "bad-value",
        env.import_cmd(&clean, &args),
        format,
    ));
    logs.push(run_logged(
        &env,
        "unknown-flag",
        check_cmd(&env, &clean, &["--no-such-flag"]),
        format,
    ));
    std::fs::write(env.path("bad.toml"), "batch_sise = 20\n").unwrap();
    logs.push(run_logged(
        &env,
        "bad-config",
        check_cmd(&env, &clean, &["--config", "bad.toml"]),
        format,
    ));
    logs
}

fn expected_codes(logs: &[Logged]) {
    for (name, expected) in [
        ("check-valid", 0),
        ("check-rejects", 3),
        ("check-emit-stdout", 3),
        ("import-clean", 0),
        ("import-rejects", 3),
        ("import-interrupted", 130),
        ("import-resumed", 0),
        ("import-refused", 1),
        ("import-unreachable", 1),
        ("import-missing-file", 1),
        ("bad-value", 2),
        ("unknown-flag", 2),
        ("bad-config", 2),
    ] {
        let log = logs.iter().find(|l| l.name == name).unwrap();
        assert_eq!(log.code, Some(expected), "{name}:\n{}", log.stderr);
    }
}

#[test]
fn with_log_format_json_every_stderr_line_is_a_json_object() {
    let logs = every_path(Format::Json);
    expected_codes(&logs);
    let all: Vec<(String, Vec<Value>)> = logs.iter().map(|l| (l.name.clone(), events(l))).collect();
    let get = |name: &str| &all.iter().find(|(n, _)| n == name).unwrap().1;

    // Progress events carry their figures.
    let progress = of_kind(get("import-clean"), "progress");
    assert!(!progress.is_empty(), "{:?}", get("import-clean"));
    for p in &progress {
        for key in [
            "percent",
            "eta_seconds",
            "leads_sent",
            "leads_to_send",
            "rows_read",
            "rows_settled",
            "quota_used",
        ] {
            assert!(p.get(key).is_some(), "{key} in {p}");
        }
        assert!(p["leads_sent"].as_u64().unwrap() <= p["leads_to_send"].as_u64().unwrap());
    }

    // The class table is one event with a row per class.
    for name in ["check-rejects", "import-rejects"] {
        let rejects = of_kind(get(name), "rejects");
        assert_eq!(rejects.len(), 1, "{name}");
        let r = rejects[0];
        assert_eq!(r["level"], "WARN");
        assert_eq!(r["rows_rejected"], 3);
        let classes: Vec<&str> = r["classes"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| {
                for key in ["rows", "problems", "fix"] {
                    assert!(c.get(key).is_some(), "{key} in {c}");
                }
                assert!(c["example"]["row"].as_u64().unwrap() > 300, "{c}");
                assert!(!c["example"]["message"].as_str().unwrap().is_empty());
                c["class"].as_str().unwrap()
            })
            .collect();
        assert_eq!(
            classes,
            ["missing_phone", "invalid_phone", "invalid_email"],
            "{r}"
        );
    }

    // The summary as an event, also when the leads own stdout.
    for name in [
        "check-valid",
        "check-emit-stdout",
        "import-clean",
        "import-rejects",
    ] {
        let summary = of_kind(get(name), "summary");
        assert_eq!(summary.len(), 1, "{name}: {:?}", get(name));
    }
    let summary = of_kind(get("import-rejects"), "summary")[0];
    assert_eq!(
        (summary["rejected"].as_u64(), summary["exit_code"].as_u64()),
        (Some(3), Some(3))
    );
    assert_eq!(summary["rows_read"], 303);

    // The interrupt, the resumable run, and the resumed session's start.
    let interrupted = get("import-interrupted");
    assert_eq!(of_kind(interrupted, "interrupt")[0]["reason"], "signal");
    assert!(!of_kind(interrupted, "resumable").is_empty());
    let resuming = of_kind(get("import-resumed"), "resuming");
    assert_eq!(resuming.len(), 1);
    assert!(resuming[0]["rows_settled"].as_u64().unwrap() >= 100);

    // The learnt rate policy, said once, with its figures.
    let policy = of_kind(get("import-clean"), "rate_policy");
    assert_eq!(policy.len(), 1, "{:?}", get("import-clean"));
    assert_eq!(policy[0]["level"], "WARN");
    assert_eq!(policy[0]["limit"], 50, "{}", policy[0]);
    assert!(
        policy[0]["window_secs"].as_f64().unwrap() > 1.0,
        "{}",
        policy[0]
    );
    assert!(policy[0]["source"].is_string(), "{}", policy[0]);
    assert_eq!(policy[0]["configured"]["limit"], 1000, "{}", policy[0]);
    assert!(
        policy[0]["message"]
            .as_str()
            .unwrap()
            .contains("a rate policy of 50 requests per "),
        "{}",
        policy[0]
    );
    // Tracing's lines (-v) have the same shape, with their `target`.
    assert!(
        get("import-rejects")
            .iter()
            .any(|e| e["level"] == "INFO" && e.get("target").is_some() && e.get("event").is_none()),
        "{:?}",
        get("import-rejects")
    );

    // Errors from main and from clap, with their exit codes.
    for (name, kind, exit) in [
        ("import-missing-file", "error", 1),
        ("import-unreachable", "outcome", 1),
        ("bad-value", "usage_error", 2),
        ("unknown-flag", "usage_error", 2),
        ("bad-config", "error", 2),
    ] {
        let events = get(name);
        let errors = of_kind(events, kind);
        assert_eq!(errors.len(), 1, "{name}: {events:?}");
        assert_eq!(errors[0]["level"], "ERROR");
        assert_eq!(errors[0]["exit_code"], exit, "{name}");
    }
    assert!(
        of_kind(get("bad-value"), "usage_error")[0]["message"]
            .as_str()
            .unwrap()
            .contains("101")
    );
    // A refused key ends the run with its reason.
    let refused = get("import-refused");
    assert!(
        refused
            .iter()
            .any(|e| e["level"] == "ERROR" && e["message"].as_str().unwrap().contains("401")),
        "{refused:?}"
    );
    // No stage's text slipped through unconverted.
    for (name, events) in &all {
        assert!(of_kind(events, "text").is_empty(), "{name}: {events:?}");
    }
}

#[test]
fn in_text_mode_a_log_file_has_no_escape_codes() {
    let logs = every_path(Format::Text);
    expected_codes(&logs);
    for log in &logs {
        assert!(!log.stderr.is_empty(), "{}", log.name);
        assert!(
            !log.stderr.contains('\u{1b}'),
            "{}: an escape code in\n{}",
            log.name,
            log.stderr
        );
        // Nothing is JSON in text mode.
        assert!(
            !log.stderr.lines().any(|l| l.starts_with("{\"timestamp\"")),
            "{}",
            log.stderr
        );
    }
    let get = |name: &str| &logs.iter().find(|l| l.name == name).unwrap().stderr;
    assert!(
        get("import-clean").contains("progress: "),
        "{}",
        get("import-clean")
    );
    assert!(
        get("import-clean").contains("nl-import: the server reveals"),
        "{}",
        get("import-clean")
    );
    assert!(
        get("import-rejects").contains(" INFO "),
        "{}",
        get("import-rejects")
    );
    assert!(get("import-rejects").contains("error class"));
    assert!(
        get("import-interrupted").contains("interrupted: finishing the requests in flight"),
        "{}",
        get("import-interrupted")
    );
    assert!(get("import-resumed").contains("rows settled before"));
    assert!(get("bad-value").contains("101"));
}
