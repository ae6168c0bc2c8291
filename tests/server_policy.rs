//! What the server says, taken in: its own rate policy, learnt from the headers and adopted
//! when it is stricter than `--rate`/`--rate-window` (no 429 for it, said once, in the
//! summary), and its error pages, cut to one sane line wherever they are shown.

use std::time::Duration;

use naturalead_sandbox::{Config, FaultAction, Faults, HeaderStyle, Limits, ScriptedFault};
use serde_json::{Value, json};

mod common;

use common::*;

/// The field report scaled down: the client is told 150 requests per 10 s, the server
/// allows 10 per 2 s and says so. Pacing to the configured figure would send 15 a second
/// against the server's 5, a 429 every few requests.
fn import_against_a_stricter_server(style: HeaderStyle) -> (Env, std::process::Output) {
    let env = Env::start(Config {
        window: Duration::from_secs(2),
        limits: Limits {
            sync_per_key: 10,
            ..Limits::default()
        },
        header_style: style,
        ..Config::default()
    });
    let csv = env.path("leads.csv");
    write_leads(&csv, 300);
    let out = env
        .net_cmd(
            &csv,
            &["--batch-size", "10", "--rate", "150", "--rate-window", "10"],
        )
        .output()
        .unwrap();
    (env, out)
}

fn assert_adopted_without_a_429(env: &Env, out: &std::process::Output, source: &str) {
    assert_exit(out, 0);
    assert_eq!(env.leads().len(), 300);
    let statuses = env.sync_statuses();
    assert_eq!(statuses.len(), 30, "{statuses:?}");
    assert!(statuses.iter().all(|s| *s == Some(200)), "{statuses:?}");
    let summary = env.summary();
    assert_adds_up(&summary);
    assert_eq!(summary["session"]["throttled"], 0);
    assert_eq!(
        summary["session"]["rate_policy"],
        json!({
            "configured": {"limit": 150, "window_secs": 10.0},
            "adopted": [{"limit": 10, "window_secs": 2.0, "source": source}],
        })
    );
    // Said once, as a warning.
    let stderr = text(&out.stderr);
    assert_eq!(
        stderr
            .matches("a rate policy of 10 requests per 2 s, stricter than --rate 150 per --rate-window 10 s")
            .count(),
        1,
        "{stderr}"
    );
}

#[test]
fn an_advertised_stricter_policy_is_adopted_and_no_request_gets_429() {
    let (env, out) = import_against_a_stricter_server(HeaderStyle::Draft7);
    assert_adopted_without_a_429(&env, &out, "RateLimit-Policy");
}

#[test]
fn a_window_revealed_by_the_resets_is_adopted_and_no_request_gets_429() {
    let (env, out) = import_against_a_stricter_server(HeaderStyle::Draft6);
    assert_adopted_without_a_429(&env, &out, "RateLimit-Limit and RateLimit-Reset");
}

#[test]
fn a_policy_no_stricter_than_the_configured_one_is_not_adopted() {
    let env = Env::start(Config {
        window: Duration::from_secs(1),
        limits: Limits {
            sync_per_key: 100,
            ..Limits::default()
        },
        header_style: HeaderStyle::Draft7,
        ..Config::default()
    });
    let csv = env.path("leads.csv");
    write_leads(&csv, 100);
    let out = env
        .net_cmd(
            &csv,
            &["--batch-size", "10", "--rate", "20", "--rate-window", "1"],
        )
        .output()
        .unwrap();
    assert_exit(&out, 0);
    let summary = env.summary();
    assert_eq!(summary["session"]["rate_policy"]["adopted"], json!([]));
    assert!(!text(&out.stderr).contains("rate policy"));
}

/// nginx's answer to a body over `client_max_body_size`.
const NGINX_413: &str = "<html>\r\n<head><title>413 Request Entity Too Large</title></head>\r\n<body>\r\n<center><h1>413 Request Entity Too Large</h1></center>\r\n<hr><center>nginx/1.24.0</center>\r\n</body>\r\n</html>\r\n";

#[test]
fn an_html_error_page_becomes_one_line_in_the_table_and_the_reports() {
    // Every request answers 413 with the page: the batch of 4 is split down to single
    // leads (4 + 2 + 2 + 1 + 1 + 1 + 1 leads: 7 requests), each refused by the page.
    let env = Env::start(Config {
        faults: Faults::script([ScriptedFault::at(1, FaultAction::raw(413, NGINX_413)).times(7)]),
        ..Config::default()
    });
    let csv = env.path("leads.csv");
    write_leads(&csv, 4);
    let out = env
        .net_cmd(
            &csv,
            &["--batch-size", "4", "--rate", "1000", "--rate-window", "1"],
        )
        .output()
        .unwrap();
    assert_exit(&out, 3);
    assert_eq!(env.sync_statuses(), vec![Some(413); 7]);
    let expected = "HTTP 413: 413 Request Entity Too Large";
    let report = env.rejected_csv();
    assert_eq!(report.len(), 4);
    for row in &report {
        assert_eq!(
            (row[1].as_str(), row[3].as_str()),
            ("rejected_by_api", expected)
        );
    }
    let summary = env.summary();
    assert_adds_up(&summary);
    assert_eq!(summary["rejected_by_class"]["rejected_by_api"], 4);
    // Nothing of the page but its title reaches the terminal or the files.
    let stderr = text(&out.stderr);
    let summary_text = std::fs::read_to_string(env.path("reports/summary.json")).unwrap();
    for shown in [&stderr, &summary_text] {
        assert!(
            !shown.contains("<html")
                && !shown.contains("<center>")
                && !shown.contains("nginx/1.24"),
            "{shown}"
        );
    }
    let state = std::fs::read(env.path("state.db")).unwrap();
    assert!(!String::from_utf8_lossy(&state).contains("<center>"));
    assert!(stderr.lines().all(|l| l.chars().count() <= 300), "{stderr}");
    let _: Value = serde_json::from_str(&summary_text).unwrap();
}
