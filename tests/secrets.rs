//! Secrets and data: the API key never reaches any output, log, report or the state file,
//! on the fault paths too (401 bodies that echo it, retries, JSON and trace logs); every
//! file and directory nl-import creates is owner-only; the key never leaves for another
//! origin (no redirects followed) nor over plain HTTP except to loopback.
#![cfg(unix)]

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::TcpListener;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Output;
use std::sync::{Arc, Mutex};

use naturalead_sandbox::{Config, FaultAction, Faults, Limits, ScriptedFault};

mod common;

use common::*;

fn config(faults: Faults) -> Config {
    Config {
        faults,
        window: std::time::Duration::from_secs(1),
        limits: Limits {
            global_per_ip: 1_000_000,
            per_key: 1_000_000,
            sync_per_key: 1_000_000,
            per_account: 1_000_000,
        },
        ..Config::default()
    }
}

fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        out.push(path.clone());
        if path.is_dir() {
            walk(&path, out);
        }
    }
}

/// The key, its 64 hex digits, and any 16 characters of it.
fn leaks(haystack: &[u8], key: &str) -> bool {
    let key = key.as_bytes();
    key.windows(16)
        .any(|needle| haystack.windows(needle.len()).any(|w| w == needle))
}

/// Searches the outputs and every file under the scratch directory for the key.
fn assert_no_key(env: &Env, key: &str, outputs: &[(&str, &Output)]) {
    let mut searched = BTreeMap::new();
    for (name, out) in outputs {
        searched.insert(format!("{name} stdout"), out.stdout.clone());
        searched.insert(format!("{name} stderr"), out.stderr.clone());
    }
    let mut files = Vec::new();
    walk(env.dir.path(), &mut files);
    for file in files.iter().filter(|f| f.is_file()) {
        if file.extension().is_some_and(|e| e == "csv") && file.parent() == Some(env.dir.path()) {
            continue; // the input
        }
        searched.insert(file.display().to_string(), std::fs::read(file).unwrap());
    }
    assert!(
        searched.keys().any(|k| k.ends_with("state.db")),
        "{:?}",
        searched.keys()
    );
    for (name, bytes) in &searched {
        assert!(!leaks(bytes, key), "the key leaked into {name}");
    }
}

#[test]
fn the_key_is_nowhere_on_the_fault_paths_in_any_log_format() {
    let env = Env::start(config(Faults::none()));
    let key = env.sandbox().test_key();
    let csv = env.path("leads.csv");
    write_leads(&csv, 60);
    append(&csv, "bad,No Phone,,,,,\n");
    let faults = || {
        Faults::script([
            ScriptedFault::at(1, FaultAction::status(500)),
            // A server that echoes the key it was given, in errors and per-lead messages.
            ScriptedFault::at(
                2,
                FaultAction::raw(503, format!("upstream said: bad key {key}")),
            ),
            ScriptedFault::at(
                3,
                FaultAction::ApplyThenRespond {
                    status: 200,
                    body: format!(
                        r#"{{"created":19,"updated":0,"failed":1,"errors":[{{"index":0,"error":"refused for key {key}"}}]}}"#
                    ),
                },
            ),
            ScriptedFault::at(4, FaultAction::raw(200, format!("{{\"created\":\"{key}"))),
        ])
    };
    let mut outputs = Vec::new();
    // Every log line there is (trace: reqwest, hyper, tokio), as text; then JSON logs.
    for (i, (extra, filter)) in [
        (vec!["-vv"], "trace"),
        (vec!["-vv", "--log-format", "json", "--json"], "debug"),
    ]
    .into_iter()
    .enumerate()
    {
        env.sandbox().state().set_faults(faults());
        let mut args = fast();
        args.extend(["--batch-size", "20", "--concurrency", "1", "--restart"]);
        args.extend(extra);
        let out = env
            .import_cmd(&csv, &args)
            .env("NL_IMPORT_LOG", filter)
            .output()
            .unwrap();
        assert!(out.status.code() == Some(3), "{}", text(&out.stderr));
        outputs.push((format!("run {i}"), out));
    }
    // A 401 whose body repeats the key it was given.
    env.sandbox()
        .state()
        .set_faults(Faults::script([ScriptedFault::at(
            1,
            FaultAction::raw(401, format!("{{\"error\":\"Invalid API key {key}\"}}")),
        )]));
    let mut args = fast();
    args.extend(["--full", "-vv", "--log-format", "json"]);
    let refused = env.import_cmd(&csv, &args).output().unwrap();
    assert_exit(&refused, 1);
    // An unknown key (the sandbox itself answers 401).
    let wrong = format!("nl_test_{}", "cd".repeat(32));
    let mut args = fast();
    args.extend(["--full", "-vv"]);
    let unknown = env
        .import_cmd(&csv, &args)
        .env("NATURALEAD_API_KEY", &wrong)
        .output()
        .unwrap();
    assert_exit(&unknown, 1);
    let status = std::process::Command::new(env!("CARGO_BIN_EXE_nl-import"))
        .current_dir(env.dir.path())
        .args(["status", "--state", "state.db", "--json"])
        .output()
        .unwrap();
    let mut all: Vec<(&str, &Output)> = outputs.iter().map(|(n, o)| (n.as_str(), o)).collect();
    all.push(("401 run", &refused));
    all.push(("unknown key run", &unknown));
    all.push(("status", &status));
    assert_no_key(&env, key, &all);
    assert_no_key(&env, &wrong, &all);
    assert!(
        text(&refused.stderr).contains("HTTP 401"),
        "{}",
        text(&refused.stderr)
    );
}

#[test]
fn every_file_and_directory_created_is_owner_only() {
    let env = Env::start(config(Faults::none()));
    let csv = env.path("leads.csv");
    write_leads(&csv, 400);
    append(&csv, "bad,No Phone,,,,,\n");
    // A permissive umask (0) must not matter.
    let permissive = |cmd: &mut std::process::Command| {
        use std::os::unix::process::CommandExt;
        // SAFETY: umask(2) is async-signal-safe and touches only the child's own state.
        unsafe {
            cmd.pre_exec(|| {
                libc::umask(0);
                Ok(())
            });
        }
    };
    let command = |extra: &[&str]| {
        let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_nl-import"));
        cmd.current_dir(env.dir.path())
            .arg("import")
            .arg(&csv)
            .args(["--api-url", &env.sandbox().base_url()])
            .args(["--state", "deep/er/state.db", "--report-dir", "out/reports"])
            .args(extra)
            .env("NATURALEAD_API_KEY", env.sandbox().test_key())
            .env_remove("NL_IMPORT_STATE");
        cmd
    };
    let mut cmd = command(&["--rate", "50", "--rate-window", "1", "--batch-size", "5"]);
    permissive(&mut cmd);
    let mut child = cmd
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    wait_for_leads(&env, 50, &mut child);
    child.kill().unwrap();
    child.wait().unwrap();
    let mut cmd = command(&fast());
    permissive(&mut cmd);
    let out = cmd.output().unwrap();
    assert_exit(&out, 3);
    let created = [
        "deep",
        "deep/er",
        "deep/er/state.db",
        "deep/er/state.db.lock",
        "out",
        "out/reports",
        "out/reports/rejected.csv",
        "out/reports/summary.json",
    ];
    let mut paths: Vec<PathBuf> = created.iter().map(|p| env.path(p)).collect();
    for extra in ["deep/er/state.db-wal", "deep/er/state.db-shm"] {
        if env.path(extra).exists() {
            paths.push(env.path(extra));
        }
    }
    for path in paths {
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode & 0o077, 0, "{} is {mode:o}", path.display());
    }
}

/// A one-shot HTTP server on loopback that answers every request with `response` and
/// keeps what it received.
fn one_shot_server(response: String) -> (String, Arc<Mutex<Vec<u8>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let seen = Arc::new(Mutex::new(Vec::new()));
    let keep = Arc::clone(&seen);
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { break };
            let mut buf = [0u8; 65536];
            let mut got = Vec::new();
            // Headers, then whatever body arrives promptly.
            stream
                .set_read_timeout(Some(std::time::Duration::from_millis(300)))
                .unwrap();
            while let Ok(n) = stream.read(&mut buf) {
                if n == 0 {
                    break;
                }
                got.extend_from_slice(&buf[..n]);
                if got.windows(4).any(|w| w == b"\r\n\r\n") {
                    break;
                }
            }
            keep.lock().unwrap().extend_from_slice(&got);
            let _ = stream.write_all(response.as_bytes());
        }
    });
    (url, seen)
}

#[test]
fn the_key_never_follows_a_redirect_to_another_origin() {
    let env = Env::start(config(Faults::none()));
    let key = env.sandbox().test_key();
    let body = r#"{"created":5,"updated":0,"failed":0,"errors":[]}"#;
    let (elsewhere, stolen) = one_shot_server(format!(
        "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    ));
    let (redirector, _) = one_shot_server(format!(
        "HTTP/1.1 307 Temporary Redirect\r\nLocation: {elsewhere}/api/leads/sync\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
    ));
    let csv = env.path("leads.csv");
    write_leads(&csv, 5);
    let mut args = fast();
    let api = format!("{redirector}/api");
    args.extend(["--api-url", &api]);
    let out = env.import(&csv, &args);
    assert_exit(&out, 1);
    let stderr = text(&out.stderr);
    assert!(stderr.contains("307"), "{stderr}");
    assert!(stderr.contains("--api-url"), "{stderr}");
    assert!(
        !leaks(&stolen.lock().unwrap(), key),
        "the key was sent to the redirect's target"
    );
    let summary = env.summary();
    assert_eq!(summary["imported"], 0);
    assert_eq!(
        summary["pending"], 5,
        "left pending, not rejected: {summary:#}"
    );
}

#[test]
fn plain_http_only_to_loopback_unless_allowed() {
    let env = Env::start(config(Faults::none()));
    let csv = env.path("leads.csv");
    write_leads(&csv, 3);
    let port = env.sandbox().addr().port();
    for (url, ok) in [
        (format!("http://localhost:{port}/api"), true),
        (format!("http://127.0.0.1:{port}/api"), true),
        ("http://api.naturalead.ai/api".to_owned(), false),
        ("http://10.0.0.1/api".to_owned(), false),
        ("ftp://api.naturalead.ai/api".to_owned(), false),
    ] {
        let mut args = fast();
        args.extend(["--api-url", &url, "--restart"]);
        let out = env.import(&csv, &args);
        if ok {
            assert_exit(&out, 0);
        } else {
            // A bad flag value: a usage error.
            assert_exit(&out, 2);
            let stderr = text(&out.stderr);
            assert!(
                stderr.contains("https://") || stderr.contains("--allow-insecure-http"),
                "{url}: {stderr}"
            );
        }
    }
    // There is no flag to pass the key on the command line (where `ps` would show it).
    let key = env.sandbox().test_key();
    let out = env.import(&csv, &["--api-key", key]);
    assert_exit(&out, 2);
    assert!(!text(&out.stderr).contains(key), "{}", text(&out.stderr));
    // A URL with credentials in it is refused, without echoing them.
    let mut args = fast();
    args.extend(["--api-url", "https://user:secret@api.naturalead.ai/api"]);
    let out = env.import(&csv, &args);
    assert_exit(&out, 2);
    assert!(
        !text(&out.stderr).contains("secret@"),
        "{}",
        text(&out.stderr)
    );
}
