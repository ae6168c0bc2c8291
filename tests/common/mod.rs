//! Shared by the integration tests that drive `nl-import` against the sandbox: a sandbox
//! on a loopback port with a scratch directory, a file generator, and summary checks.
#![allow(dead_code, unreachable_pub)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use naturalead_sandbox::{Config, Sandbox, StoredLead};
use serde_json::Value;

pub mod net;

/// A sandbox on a loopback port, a scratch directory, and the binary.
pub struct Env {
    pub runtime: tokio::runtime::Runtime,
    pub sandbox: Option<Sandbox>,
    pub dir: tempfile::TempDir,
}

impl Env {
    pub fn start(config: Config) -> Env {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let sandbox = runtime.block_on(Sandbox::start(config)).unwrap();
        Env {
            runtime,
            sandbox: Some(sandbox),
            dir: tempfile::tempdir().unwrap(),
        }
    }

    pub fn sandbox(&self) -> &Sandbox {
        self.sandbox.as_ref().unwrap()
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// `nl-import import <csv>` with the sandbox's URL and test key, fast retries, and the
    /// given extra arguments.
    pub fn import_cmd(&self, csv: &Path, extra: &[&str]) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_nl-import"));
        cmd.current_dir(self.dir.path()).arg("import").arg(csv);
        if !extra.contains(&"--api-url") {
            cmd.args(["--api-url", &self.sandbox().base_url()]);
        }
        cmd.args(["--state", "state.db", "--report-dir", "reports"])
            .args(extra)
            .env("NATURALEAD_API_KEY", self.sandbox().test_key())
            .env_remove("NATURALEAD_API_URL")
            .env_remove("NL_IMPORT_STATE")
            .stdin(Stdio::null());
        cmd
    }

    pub fn import(&self, csv: &Path, extra: &[&str]) -> Output {
        self.import_cmd(csv, extra).output().unwrap()
    }

    pub fn leads(&self) -> Vec<StoredLead> {
        self.sandbox().state().leads()
    }

    pub fn leads_by_id(&self) -> BTreeMap<String, StoredLead> {
        let mut map = BTreeMap::new();
        for lead in self.leads() {
            let id = lead
                .lead
                .external_id
                .clone()
                .expect("every lead has a lead_id");
            assert!(map.insert(id.clone(), lead).is_none(), "{id} stored twice");
        }
        map
    }

    pub fn sync_statuses(&self) -> Vec<Option<u16>> {
        self.sandbox()
            .state()
            .requests()
            .into_iter()
            .filter(|r| r.path.ends_with("/leads/sync"))
            .map(|r| r.status)
            .collect()
    }

    pub fn summary(&self) -> Value {
        serde_json::from_str(&std::fs::read_to_string(self.path("reports/summary.json")).unwrap())
            .unwrap()
    }

    pub fn rejected_csv(&self) -> Vec<Vec<String>> {
        let mut reader = csv::Reader::from_path(self.path("reports/rejected.csv")).unwrap();
        reader
            .records()
            .map(|r| r.unwrap().iter().map(str::to_owned).collect())
            .collect()
    }
}

impl Drop for Env {
    fn drop(&mut self) {
        if let Some(sandbox) = self.sandbox.take() {
            self.runtime.block_on(sandbox.shutdown());
        }
    }
}

/// The default sandbox with `latency` on every sync request.
pub fn with_latency(latency: naturalead_sandbox::Latency) -> Config {
    Config {
        faults: naturalead_sandbox::Faults {
            latency: Some(latency),
            ..naturalead_sandbox::Faults::default()
        },
        ..Config::default()
    }
}

/// `config` with rate limits that never bind: for tests that run several imports back to
/// back and are not about the quota. (The importer adopts the server's advertised policy,
/// and sees an earlier run's requests still in a 60 s window as another client's, so
/// against the documented 50 per 60 s a rerun is paced to what is left, as it should be.)
pub fn roomy(config: Config) -> Config {
    Config {
        limits: naturalead_sandbox::Limits {
            global_per_ip: 1_000_000,
            per_key: 1_000_000,
            sync_per_key: 1_000_000,
            per_account: 1_000_000,
        },
        ..config
    }
}

/// A valid, distinct US phone for row `n`.
pub fn phone(n: usize) -> String {
    format!("+1 212 {}-{:04}", 300 + n / 10000, n % 10000)
}

pub fn e164(n: usize) -> String {
    format!("+1212{}{:04}", 300 + n / 10000, n % 10000)
}

/// A CSV of `valid` valid rows, followed at the given positions by invalid ones.
pub fn write_leads(path: &Path, valid: usize) {
    let mut out = String::from("lead_id,name,phone,email,status,tags,company\n");
    for n in 0..valid {
        out.push_str(&format!(
            "crm-{n:05},Lead {n},{},lead{n}@example.com,{},\"a;b{}\",Company {}\n",
            phone(n),
            ["new", "Contacted", "qualified", ""][n % 4],
            n % 3,
            n % 7
        ));
    }
    std::fs::write(path, out).unwrap();
}

pub fn append(path: &Path, rows: &str) {
    let mut text = std::fs::read_to_string(path).unwrap();
    text.push_str(rows);
    std::fs::write(path, text).unwrap();
}

pub fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

pub fn assert_exit(out: &Output, code: i32) {
    assert_eq!(
        out.status.code(),
        Some(code),
        "stdout:\n{}\nstderr:\n{}",
        text(&out.stdout),
        text(&out.stderr)
    );
}

/// `read = imported + rejected + pending` in the summary.
pub fn assert_adds_up(summary: &Value) {
    let n = |k: &str| {
        summary[k]
            .as_u64()
            .unwrap_or_else(|| panic!("{k} in {summary}"))
    };
    assert_eq!(
        n("rows_read"),
        n("imported") + n("rejected") + n("pending"),
        "{summary:#}"
    );
    let by_class: u64 = summary["rejected_by_class"]
        .as_object()
        .unwrap()
        .values()
        .map(|v| v.as_u64().unwrap())
        .sum();
    assert_eq!(by_class, n("rejected"));
}

pub fn fast() -> Vec<&'static str> {
    vec!["--rate", "1000", "--rate-window", "1"]
}

/// Starts an import in the background (output piped), to be killed or interrupted.
pub fn spawn_import(env: &Env, csv: &Path, extra: &[&str]) -> Child {
    env.import_cmd(csv, extra)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

/// Waits until the sandbox holds `at_least` leads, while `child` still runs.
pub fn wait_for_leads(env: &Env, at_least: usize, child: &mut Child) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while env.leads().len() < at_least {
        assert!(Instant::now() < deadline, "the import made no progress");
        assert!(
            child.try_wait().unwrap().is_none(),
            "the import ended too early"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Sync requests the sandbox received so far.
pub fn sync_requests(env: &Env) -> Vec<naturalead_sandbox::LoggedRequest> {
    env.sandbox()
        .state()
        .requests()
        .into_iter()
        .filter(|r| r.path.ends_with("/leads/sync"))
        .collect()
}
