//! Corporate networks, end to end: the built binary imports into a sandbox serving HTTPS
//! with a self-signed certificate (a private CA, as a TLS-inspecting proxy has), trusted
//! with `--ca-cert` or `SSL_CERT_FILE`, directly or through a `CONNECT` proxy named by the
//! proxy variables (`NO_PROXY` bypassing it), with proxy credentials that never show; and
//! an API it cannot reach (an untrusted certificate, a refused connection, a proxy that
//! refuses) stops the run at once with every row pending and a message naming the fix.

use std::io::{BufRead, BufReader};
use std::process::{Command, Output, Stdio};

use base64::Engine as _;
use naturalead_sandbox::Config;
use serde_json::Value;

mod common;

use common::net::{ConnectProxy, start_tls};
use common::*;

const ROWS: usize = 120;

/// Every output of a run, as one string: stdout, stderr, the reports and the state file.
fn everything_written(env: &Env, out: &Output) -> String {
    let mut all = text(&out.stdout) + &text(&out.stderr);
    for name in ["reports/summary.json", "reports/rejected.csv", "state.db"] {
        if let Ok(bytes) = std::fs::read(env.path(name)) {
            all.push_str(&String::from_utf8_lossy(&bytes));
        }
    }
    all
}

fn import_args(env: &Env) -> Vec<String> {
    ["--batch-size", "20", "--rate", "1000", "--rate-window", "1"]
        .into_iter()
        .map(str::to_owned)
        .chain(["--ca-cert".to_owned(), env.ca_file().display().to_string()])
        .collect()
}

fn run(env: &Env, csv: &std::path::Path, args: &[String], vars: &[(&str, &str)]) -> Output {
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let mut cmd = env.net_cmd(csv, &args);
    for (name, value) in vars {
        cmd.env(name, value);
    }
    cmd.output().unwrap()
}

fn assert_all_imported(env: &Env, out: &Output) {
    assert_exit(out, 0);
    assert_eq!(env.leads_by_id().len(), ROWS);
    let summary = env.summary();
    assert_adds_up(&summary);
    assert_eq!(summary["imported"], ROWS);
}

/// Nothing sent, nothing rejected, every row read pending: the rerun does it all.
fn assert_stopped_with_rows_pending(env: &Env, out: &Output) -> Value {
    assert_exit(out, 1);
    let summary = env.summary();
    assert_adds_up(&summary);
    assert_eq!(summary["status"], "stopped", "{summary:#}");
    assert_eq!(summary["imported"], 0);
    assert_eq!(summary["rejected"], 0, "nothing in the reject report");
    assert!(env.rejected_csv().is_empty());
    assert_eq!(summary["pending"], summary["rows_read"]);
    // No retries: the first answers' failure stopped the run.
    assert_eq!(summary["session"]["retries"], 0, "{summary:#}");
    summary
}

#[test]
fn https_with_a_private_ca_imports_with_ca_cert_or_ssl_cert_file() {
    let env = start_tls(Config::default());
    let csv = env.path("leads.csv");
    write_leads(&csv, ROWS);
    assert!(env.sandbox().base_url().starts_with("https://"));
    let out = run(&env, &csv, &import_args(&env), &[]);
    assert_all_imported(&env, &out);

    // The same trust from SSL_CERT_FILE (which replaces the system store, as in OpenSSL).
    let mut args = import_args(&env);
    args.truncate(args.len() - 2);
    args.push("--full".to_owned());
    let ca = env.ca_file().display().to_string();
    let out = run(&env, &csv, &args, &[("SSL_CERT_FILE", &ca)]);
    assert_exit(&out, 0);
    assert!(env.leads().iter().all(|l| l.write_count == 2));
}

#[test]
fn an_untrusted_certificate_stops_at_once_naming_the_fix_and_a_rerun_with_ca_cert_finishes() {
    let env = start_tls(Config::default());
    let csv = env.path("leads.csv");
    write_leads(&csv, ROWS);
    let mut args = import_args(&env);
    args.truncate(args.len() - 2);
    let out = run(&env, &csv, &args, &[]);
    assert_stopped_with_rows_pending(&env, &out);
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("certificate is not trusted")
            && stderr.contains("--ca-cert")
            && stderr.contains("SSL_CERT_FILE")
            && stderr.contains(&env.sandbox().base_url()),
        "{stderr}"
    );
    // The handshake failed: the server saw no request at all.
    assert!(env.sandbox().state().requests().is_empty());

    let out = run(&env, &csv, &import_args(&env), &[]);
    assert_all_imported(&env, &out);
}

#[test]
fn an_unusable_ca_file_is_a_config_error_before_any_request() {
    let env = start_tls(Config::default());
    let csv = env.path("leads.csv");
    write_leads(&csv, 10);
    std::fs::write(env.path("empty.pem"), "not a certificate\n").unwrap();
    for (flag, value, says) in [
        ("--ca-cert", "missing.pem", "cannot read --ca-cert"),
        ("--ca-cert", "empty.pem", "holds no certificate"),
    ] {
        let out = run(&env, &csv, &[flag.to_owned(), value.to_owned()], &[]);
        assert_exit(&out, 1);
        assert!(text(&out.stderr).contains(says), "{}", text(&out.stderr));
    }
    let empty = env.path("empty.pem").display().to_string();
    let out = run(&env, &csv, &[], &[("SSL_CERT_FILE", &empty)]);
    assert_exit(&out, 1);
    assert!(
        text(&out.stderr).contains("SSL_CERT_FILE"),
        "{}",
        text(&out.stderr)
    );
    assert!(env.sandbox().state().requests().is_empty());
}

#[test]
fn the_proxy_variables_send_every_request_through_a_connect_tunnel() {
    let env = start_tls(Config::default());
    let proxy = ConnectProxy::start(&env, None);
    let csv = env.path("leads.csv");
    write_leads(&csv, ROWS);
    let sandbox = env.sandbox().addr().to_string();
    let mut args = import_args(&env);
    for (round, variable) in ["HTTPS_PROXY", "https_proxy", "ALL_PROXY"]
        .iter()
        .enumerate()
    {
        let before = proxy.tunnels().len();
        let out = run(&env, &csv, &args, &[(variable, &proxy.url())]);
        assert_exit(&out, 0);
        let tunnels = proxy.tunnels();
        assert!(
            tunnels.len() > before,
            "{variable}: nothing went through the proxy"
        );
        for t in &tunnels {
            assert_eq!(
                (t.method.as_str(), t.target.as_str(), t.status),
                ("CONNECT", sandbox.as_str(), 200)
            );
            // TLS inside the tunnel (a handshake record first): the proxy never sees the
            // request, let alone the key.
            assert_eq!(t.bytes.first(), Some(&0x16), "{variable}");
            let seen = String::from_utf8_lossy(&t.bytes);
            assert!(!seen.contains(env.sandbox().test_key()) && !seen.contains("X-API-Key"));
        }
        assert!(
            env.leads()
                .iter()
                .all(|l| l.write_count == round as u32 + 1)
        );
        if round == 0 {
            args.push("--full".to_owned());
        }
    }
    assert_eq!(env.leads().len(), ROWS);
}

#[test]
fn no_proxy_bypasses_the_proxy_by_name_address_range_or_port() {
    let env = start_tls(Config::default());
    let proxy = ConnectProxy::start(&env, None);
    let csv = env.path("leads.csv");
    write_leads(&csv, ROWS);
    let port = env.sandbox().addr().port();
    let mut args = import_args(&env);
    let by_port = format!("example.com, 127.0.0.1:{port}");
    for (round, list) in ["127.0.0.1", ".example.com,127.0.0.0/8", &by_port]
        .iter()
        .enumerate()
    {
        let out = run(
            &env,
            &csv,
            &args,
            &[("HTTPS_PROXY", &proxy.url()), ("NO_PROXY", list)],
        );
        assert_exit(&out, 0);
        assert!(
            env.leads()
                .iter()
                .all(|l| l.write_count == round as u32 + 1)
        );
        if round == 0 {
            args.push("--full".to_owned());
        }
    }
    assert!(proxy.tunnels().is_empty(), "{:?}", proxy.tunnels());
    // A NO_PROXY entry for another port does not bypass it.
    let other = format!("127.0.0.1:{}", port.wrapping_add(1));
    let out = run(
        &env,
        &csv,
        &args,
        &[("https_proxy", &proxy.url()), ("no_proxy", &other)],
    );
    assert_exit(&out, 0);
    assert!(!proxy.tunnels().is_empty());
}

#[test]
fn proxy_credentials_reach_the_proxy_and_nothing_else() {
    let env = start_tls(Config::default());
    let (user, password) = ("alice", "s3cr3t-Pr0xy-pw");
    let proxy = ConnectProxy::start(&env, Some((user, password)));
    let csv = env.path("leads.csv");
    write_leads(&csv, ROWS);
    let encoded = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
    let secrets = [password, encoded.as_str()];

    // Wrong credentials: the proxy answers 407; the run stops, naming the fix, not them.
    let wrong = proxy.url_with(user, "wrong-pw-9f8e7d");
    let mut cmd = env.net_cmd(&csv, &["--ca-cert", &env.ca_file().display().to_string()]);
    let out = cmd
        .env("HTTPS_PROXY", &wrong)
        .env("NL_IMPORT_LOG", "trace")
        .output()
        .unwrap();
    assert_stopped_with_rows_pending(&env, &out);
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("407") && stderr.contains("credentials"),
        "{stderr}"
    );
    assert!(!everything_written(&env, &out).contains("wrong-pw-9f8e7d"));

    // The right ones, with every log line on (trace, and JSON logs): they go to the proxy
    // in Proxy-Authorization and appear nowhere in what the run writes.
    for log_format in ["text", "json"] {
        let mut args = import_args(&env);
        args.extend([
            "--full".to_owned(),
            "--log-format".to_owned(),
            log_format.to_owned(),
        ]);
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let out = env
            .net_cmd(&csv, &args)
            .env("HTTPS_PROXY", proxy.url_with(user, password))
            .env("NL_IMPORT_LOG", "trace")
            .output()
            .unwrap();
        assert_exit(&out, 0);
        let written = everything_written(&env, &out);
        assert!(
            written.contains("through the proxy http://***@127.0.0.1"),
            "{}",
            text(&out.stderr)
        );
        for secret in secrets {
            assert!(
                !written.contains(secret),
                "{log_format}: `{secret}` was written"
            );
        }
    }
    assert_eq!(env.leads().len(), ROWS);
    let tunnels = proxy.tunnels();
    assert!(tunnels.iter().any(|t| t.status == 407));
    assert!(
        tunnels
            .iter()
            .filter(|t| t.status == 200)
            .all(|t| t.proxy_authorization.as_deref() == Some(&format!("Basic {encoded}")))
    );
}

#[test]
fn an_api_or_proxy_that_cannot_be_reached_stops_at_once_with_rows_pending() {
    let env = Env::start(Config::default());
    let csv = env.path("leads.csv");
    write_leads(&csv, ROWS);
    // A port nobody listens on.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let dead = closed.local_addr().unwrap();
    drop(closed);
    let url = format!("http://{dead}/api");
    let out = env.net_cmd(&csv, &["--api-url", &url]).output().unwrap();
    assert_stopped_with_rows_pending(&env, &out);
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains(&format!("cannot reach {url}")) && stderr.contains("connection refused"),
        "{stderr}"
    );

    // A proxy that is not there.
    let tls = start_tls(Config::default());
    let csv = tls.path("leads.csv");
    write_leads(&csv, ROWS);
    let args = import_args(&tls);
    let out = run(
        &tls,
        &csv,
        &args,
        &[("HTTPS_PROXY", &format!("http://{dead}"))],
    );
    assert_stopped_with_rows_pending(&tls, &out);
    assert!(
        text(&out.stderr).contains("connection refused by the proxy"),
        "{}",
        text(&out.stderr)
    );
    // A proxy URL nl-import cannot use: a config error before anything is sent.
    let out = run(
        &tls,
        &csv,
        &args,
        &[("ALL_PROXY", "socks5://u:sekrit@127.0.0.1:1080")],
    );
    assert_exit(&out, 1);
    assert!(text(&out.stderr).contains("HTTP proxies only"));
    assert!(!text(&out.stderr).contains("sekrit"));
    assert!(tls.sandbox().state().requests().is_empty());
}

#[test]
fn the_sandbox_command_serves_https_and_writes_its_certificate() {
    let dir = tempfile::tempdir().unwrap();
    let cert = dir.path().join("sandbox.pem");
    let mut sandbox = Command::new(env!("CARGO_BIN_EXE_nl-import"))
        .args(["sandbox", "--port", "0", "--tls", "--tls-cert-out"])
        .arg(&cert)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(sandbox.stdout.take().unwrap()).lines();
    let first = lines.next().unwrap().unwrap();
    let url = first
        .strip_prefix("Naturalead sandbox listening on ")
        .unwrap_or_else(|| panic!("{first}"))
        .to_owned();
    assert!(url.starts_with("https://127.0.0.1:"), "{url}");
    let banner: Vec<String> = lines.by_ref().take(6).map(Result::unwrap).collect();
    assert!(banner.iter().any(|l| l.contains("--ca-cert")), "{banner:?}");
    let csv = dir.path().join("leads.csv");
    write_leads(&csv, 30);
    let mut import = Command::new(env!("CARGO_BIN_EXE_nl-import"));
    import
        .current_dir(dir.path())
        .arg("import")
        .arg(&csv)
        .args([
            "--api-url",
            &url,
            "--rate",
            "1000",
            "--rate-window",
            "1",
            "--json",
        ])
        .arg("--ca-cert")
        .arg(&cert)
        .env("NATURALEAD_API_KEY", naturalead_sandbox::TEST_KEY)
        .env_remove("NATURALEAD_API_URL")
        .env_remove("NL_IMPORT_STATE");
    for name in common::net::NETWORK_VARIABLES {
        import.env_remove(name);
    }
    let out = import.output().unwrap();
    let _ = sandbox.kill();
    let _ = sandbox.wait();
    assert_exit(&out, 0);
    let summary: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(summary["imported"], 30);
}
