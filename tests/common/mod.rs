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
    let deadline = Instant::now() + HANG;
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

/// How long a test waits for a process that should exit before it calls it hung, kills it
/// and fails. A guard against hanging, far above any run's normal duration on a loaded
/// machine; never a measure of speed (CPU time and order of events are, see [`Usage`]).
pub const HANG: Duration = Duration::from_secs(60);

/// What the kernel counted for a child process: its peak resident memory and the CPU
/// time it used (user and system, every thread), both independent of how busy the
/// machine is.
#[derive(Debug, Clone, Copy)]
pub struct Usage {
    /// Peak RSS (`ru_maxrss`), KiB.
    pub peak_rss_kib: u64,
    /// User and system CPU time.
    pub cpu: Duration,
}

/// Runs `cmd` to the end (stdin closed, stdout and stderr collected) and reaps it with
/// `wait4`, which gives its peak RSS and CPU time. Fails the test after [`HANG`].
pub fn run_measured(mut cmd: Command) -> (Output, Usage) {
    let child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    finish_measured(child)
}

/// Waits for `child` (stdout and stderr piped) to exit and reaps it with `wait4`: its
/// output, peak RSS and CPU time. A child still running after [`HANG`] is killed and the
/// test fails (it hung).
// The child is reaped by `wait4`, which clippy does not see.
#[allow(clippy::zombie_processes)]
pub fn finish_measured(mut child: Child) -> (Output, Usage) {
    use std::io::Read;
    use std::os::unix::process::ExitStatusExt;
    let drain = |pipe: Option<Box<dyn Read + Send>>| {
        std::thread::spawn(move || {
            let mut bytes = Vec::new();
            if let Some(mut pipe) = pipe {
                let _ = pipe.read_to_end(&mut bytes);
            }
            bytes
        })
    };
    let stdout = drain(
        child
            .stdout
            .take()
            .map(|p| Box::new(p) as Box<dyn Read + Send>),
    );
    let stderr = drain(
        child
            .stderr
            .take()
            .map(|p| Box::new(p) as Box<dyn Read + Send>),
    );
    let pid = i32::try_from(child.id()).unwrap();
    let deadline = Instant::now() + HANG;
    let mut status = 0;
    // SAFETY: a zeroed rusage is a valid value for wait4 to fill in.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    loop {
        // SAFETY: waits for our own child, with valid pointers to the status and usage.
        let waited = unsafe { libc::wait4(pid, &mut status, libc::WNOHANG, &mut usage) };
        if waited == pid {
            break;
        }
        assert_eq!(waited, 0, "wait4");
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "still running after {HANG:?} (hung):\n{}",
                text(&stderr.join().unwrap())
            );
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    let time = |t: libc::timeval| {
        Duration::from_secs(u64::try_from(t.tv_sec).unwrap())
            + Duration::from_micros(u64::try_from(t.tv_usec).unwrap())
    };
    (
        Output {
            status: std::process::ExitStatus::from_raw(status),
            stdout: stdout.join().unwrap(),
            stderr: stderr.join().unwrap(),
        },
        Usage {
            peak_rss_kib: u64::try_from(usage.ru_maxrss).unwrap(),
            cpu: time(usage.ru_utime) + time(usage.ru_stime),
        },
    )
}

/// Waits for `child` to exit (failing the test after [`HANG`]: it hung).
pub fn exits(child: Child) -> Output {
    finish_measured(child).0
}

/// CPU time `pid` has used so far, user and system, every thread (`/proc/<pid>/stat`).
pub fn cpu_time(pid: u32) -> Duration {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    // The fields after the command name (in parentheses, which may hold spaces): state is
    // the 3rd field, utime and stime the 14th and 15th, in clock ticks.
    let fields: Vec<&str> = stat[stat.rfind(')').unwrap() + 1..]
        .split_whitespace()
        .collect();
    let ticks: u64 = fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap();
    // SAFETY: sysconf has no preconditions.
    let per_second = u64::try_from(unsafe { libc::sysconf(libc::_SC_CLK_TCK) }).unwrap();
    Duration::from_millis(ticks * 1000 / per_second)
}

/// Sends `sig` to `child` (not yet reaped).
pub fn signal(child: &Child, sig: i32) {
    let pid = i32::try_from(child.id()).unwrap();
    // SAFETY: kill(2) on our own child's pid; it has not been reaped yet (we hold `child`).
    let rc = unsafe { libc::kill(pid, sig) };
    assert_eq!(rc, 0, "kill({pid}, {sig})");
}

/// The signals `pid` catches, from `/proc/<pid>/status` (`SigCgt`).
pub fn caught_signals(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("SigCgt:"))
        .and_then(|mask| u64::from_str_radix(mask.trim(), 16).ok())
        .unwrap_or(0)
}

/// Waits until `child` has its SIGINT and SIGTERM handlers in place: the earliest moment
/// a signal can mean anything but the default (an exit by the signal, which a test cannot
/// tell from a missing handler).
pub fn wait_for_handlers(child: &mut Child) {
    let wanted = (1u64 << (libc::SIGINT - 1)) | (1u64 << (libc::SIGTERM - 1));
    let deadline = Instant::now() + HANG;
    while caught_signals(child.id()) & wanted != wanted {
        assert!(
            child.try_wait().unwrap().is_none(),
            "ended before its handlers were installed"
        );
        assert!(Instant::now() < deadline, "no signal handlers");
        std::thread::sleep(Duration::from_micros(200));
    }
}

/// Bytes `pid` has read so far (`rchar` of `/proc/<pid>/io`).
pub fn bytes_read(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/io"))
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("rchar:"))
        .and_then(|n| n.trim().parse().ok())
        .unwrap_or(0)
}

/// Whether `pid` has a file named `name` open.
pub fn has_open(pid: u32, name: &str) -> bool {
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .map(|fds| {
            fds.filter_map(Result::ok)
                .filter_map(|fd| std::fs::read_link(fd.path()).ok())
                .any(|target| target.file_name().is_some_and(|n| n == name))
        })
        .unwrap_or(false)
}
