//! Crash torture: an import of a few thousand rows (some invalid, some colliding with leads
//! the account already holds) against the sandbox with faults on, killed with SIGKILL at
//! seeded random moments and restarted, round after round; then a final run to completion.
//! At the end of every epoch (one import from an empty sandbox and state file to "done"):
//!
//! - the sandbox holds each valid row exactly once by `lead_id`, with the fields `check
//!   --emit-valid` says the row maps to, and nothing else;
//! - `rejected.csv` holds exactly the rows `check` rejected plus those the API refused;
//! - the summary adds up: `rows_read = imported + unchanged + rejected + pending`, pending 0,
//!   and each accepted lead is counted once however many sessions it took.
//!
//! Kill moments, chosen per round from a seeded generator:
//!
//! - **timed**: at a random delay after the start (startup, resume transaction, validation,
//!   uploads, the final report);
//! - **progress**: once the sandbox holds a random number of further leads;
//! - **applied, not recorded**: every sync request of the round is applied by the server and
//!   then held back (`Slow`); the importer is killed as soon as the server wrote a lead, so
//!   the server has leads the state file has never heard of;
//! - **SQLite write**: the harness watches the state file's write-ahead log; when it moves,
//!   it stops the importer (SIGSTOP), reads the log, and kills it (SIGKILL) only if the log
//!   ends in a transaction that is partly written (frames without their commit frame, or a
//!   frame whose checksum does not match yet); otherwise it lets the importer go on
//!   (SIGCONT) and waits for the next write. Small batches (one commit per batch, hundreds
//!   per second) make such moments frequent. The kills that really landed inside a
//!   transaction are counted and reported.
//!
//! Faults during the other rounds: latency, random 500/503, and scripted drops before and
//! after the batch was applied, 200s that do not account for every lead, truncated JSON,
//! slow answers and 429s.
//!
//! Size: `NL_TORTURE_ROUNDS` (default 6), `NL_TORTURE_ROWS` (default 2000),
//! `NL_TORTURE_SEED` (default 1); `NL_TORTURE_REPORT=FILE` writes the figures as JSON.
//! The long run recorded in RELIABILITY.md:
//! `NL_TORTURE_ROUNDS=250 cargo test --release --test torture -- --nocapture`.
#![cfg(unix)]

use std::collections::{BTreeMap, BTreeSet};
use std::fs::File;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use naturalead_sandbox::{
    Config, FaultAction, Faults, Latency, LeadInput, Limits, RandomFailures, ScriptedFault,
    StoredLead,
};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::Value;

mod common;

use common::{Env, phone, text};

fn env_number(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(default)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum KillMode {
    Timed,
    Progress,
    AppliedNotRecorded,
    SqliteWrite,
    /// No kill: the round runs until the importer exits (it may give up, or finish).
    None,
}

/// What the harness did, for the final line and RELIABILITY.md.
#[derive(Debug, Default, serde::Serialize)]
struct Figures {
    seed: u64,
    rows_per_epoch: usize,
    rounds: u64,
    epochs: u64,
    kills: u64,
    kills_by_mode: BTreeMap<String, u64>,
    /// SQLite-mode kills that landed inside a partly written transaction (checked in the WAL).
    kills_inside_sqlite_transaction: u64,
    /// Rounds whose importer exited by itself before the kill, by exit code.
    exits: BTreeMap<String, u64>,
    sync_requests: u64,
    faults_injected: u64,
    faults_by_kind: BTreeMap<String, u64>,
    /// Leads the server wrote more than once (sent again after a kill or an unknown answer).
    leads_rewritten: u64,
    rows_lost: u64,
    leads_duplicated: u64,
    seconds: f64,
}

/// The input file and what `check` says about it.
struct Input {
    rows: usize,
    /// `lead_id` → the payload `check --emit-valid` wrote.
    valid: BTreeMap<String, Value>,
    /// Data row → error class, for every row `check` rejected.
    invalid: BTreeMap<u64, String>,
    /// Row → the valid row's phone (E.164), to pick account collisions from.
    valid_rows: Vec<(u64, String, String)>,
}

/// A CSV of `rows` rows, about 8% of them invalid in one of several ways.
fn write_input(path: &Path, rows: usize, rng: &mut StdRng) {
    let mut out = String::from("lead_id,name,phone,email,status,tags,company\n");
    for n in 0..rows {
        let statuses = ["new", "Contacted", "qualified", "", "DISQUALIFIED"];
        let status = statuses[n % statuses.len()];
        let (mut id, mut ph, mut email, mut st) = (
            format!("crm-{n:05}"),
            phone(n),
            format!("lead{n}@example.com"),
            status.to_owned(),
        );
        let mut tags = format!("\"a;b{}\"", n % 3);
        let mut malformed = false;
        if n > 10 && rng.random_bool(0.08) {
            let earlier = rng.random_range(0..n);
            match rng.random_range(0..8) {
                0 => ph.clear(),
                1 => ph = "12345".into(),
                2 => st = "maybe".into(),
                3 => email = "not-an-email".into(),
                4 => id = format!("crm-{earlier:05}"),
                5 => ph = phone(earlier),
                6 => malformed = true,
                _ => tags = "\"[1,\"".into(),
            }
        }
        if malformed {
            out.push_str(&format!("{id},Short Row {n},{ph}\n"));
        } else {
            out.push_str(&format!(
                "{id},Lead {n},{ph},{email},{st},{tags},Company {}\n",
                n % 7
            ));
        }
    }
    std::fs::write(path, out).unwrap();
}

/// Runs `check` on the input: the oracle for what an import must end with.
fn check_input(env: &Env, csv: &Path, rows: usize) -> Input {
    let out = Command::new(env!("CARGO_BIN_EXE_nl-import"))
        .current_dir(env.dir.path())
        .arg("check")
        .arg(csv)
        .args(["--report-dir", "check", "--emit-valid", "valid.jsonl"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(3), "{}", text(&out.stderr));
    let mut valid = BTreeMap::new();
    for line in std::fs::read_to_string(env.path("valid.jsonl"))
        .unwrap()
        .lines()
    {
        let payload: Value = serde_json::from_str(line).unwrap();
        let id = payload["lead_id"].as_str().unwrap().to_owned();
        assert!(valid.insert(id, payload).is_none());
    }
    let mut invalid = BTreeMap::new();
    let mut reader = csv::ReaderBuilder::new()
        .flexible(true)
        .from_path(env.path("check/rejected.csv"))
        .unwrap();
    for record in reader.records() {
        let record = record.unwrap();
        invalid.insert(record[0].parse().unwrap(), record[1].to_owned());
    }
    assert_eq!(
        valid.len() + invalid.len(),
        rows,
        "check accounts for every row"
    );
    let invalid_rows: BTreeSet<u64> = invalid.keys().copied().collect();
    // Valid rows in file order: rows not rejected, each with the next payload.
    let mut payloads = std::fs::read_to_string(env.path("valid.jsonl"))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .collect::<Vec<_>>()
        .into_iter();
    let valid_rows = (1..=rows as u64)
        .filter(|r| !invalid_rows.contains(r))
        .map(|r| {
            let p = payloads.next().unwrap();
            (
                r,
                p["lead_id"].as_str().unwrap().to_owned(),
                p["phone"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    Input {
        rows,
        valid,
        invalid,
        valid_rows,
    }
}

fn sandbox_config(seed: u64) -> Config {
    Config {
        window: Duration::from_secs(1),
        limits: Limits {
            global_per_ip: 1_000_000,
            per_key: 1_000_000,
            sync_per_key: 1_000_000,
            per_account: 1_000_000,
        },
        seed,
        ..Config::default()
    }
}

/// Faults for an ordinary round: latency, random 5xx and a seeded script of the rest.
fn round_faults(rng: &mut StdRng) -> Faults {
    // Counts that cannot add up to a batch of any size (a `created: 1` would be a
    // consistent, if false, success for a batch of one, and rightly believed).
    let bad_counts = r#"{"created":0,"updated":0,"failed":0,"errors":[]}"#;
    let mut script = Vec::new();
    for nth in 1..=2000u64 {
        if !rng.random_bool(0.06) {
            continue;
        }
        let action = match rng.random_range(0..7) {
            0 => FaultAction::DropBefore,
            1 => FaultAction::DropAfter,
            2 => FaultAction::ApplyThenRespond {
                status: 200,
                body: bad_counts.into(),
            },
            3 => FaultAction::ApplyThenRespond {
                status: 200,
                body: r#"{"created":2,"upd"#.into(),
            },
            // (Truncated JSON is never a success, whatever the batch.)
            4 => FaultAction::Slow {
                delay_ms: rng.random_range(50..400),
                trickle: None,
            },
            5 => FaultAction::too_many_requests(None),
            _ => FaultAction::raw(200, "<html>gateway</html>"),
        };
        script.push(ScriptedFault::at(nth, action));
    }
    Faults {
        latency: Some(Latency::range(0, 15)),
        random: Some(RandomFailures::new(0.08)),
        script,
        ..Faults::default()
    }
}

/// Every sync request is applied, then its answer held back for a long time.
fn applied_not_answered() -> Faults {
    Faults::script([ScriptedFault::at(
        1,
        FaultAction::Slow {
            delay_ms: 30_000,
            trickle: None,
        },
    )
    .times(1_000_000)])
}

fn spawn(env: &Env, csv: &Path, args: &[String], log: &Path) -> Child {
    let stderr = File::options().create(true).append(true).open(log).unwrap();
    let mut cmd = env.import_cmd(csv, &args.iter().map(String::as_str).collect::<Vec<_>>());
    cmd.stdout(Stdio::null()).stderr(Stdio::from(stderr));
    cmd.spawn().unwrap()
}

fn total_writes(env: &Env) -> u64 {
    env.leads().iter().map(|l| u64::from(l.write_count)).sum()
}

fn signal(child: &Child, sig: libc::c_int) {
    let pid = libc::pid_t::try_from(child.id()).unwrap();
    // SAFETY: kill(2) on our own child's pid; it has not been reaped yet (we hold `child`).
    let rc = unsafe { libc::kill(pid, sig) };
    assert_eq!(rc, 0, "kill({pid}, {sig})");
}

/// Waits until the stopped child is really stopped (Linux: state `T` in /proc).
fn wait_stopped(child: &Child) {
    let stat = format!("/proc/{}/stat", child.id());
    let deadline = Instant::now() + Duration::from_millis(200);
    while Instant::now() < deadline {
        match std::fs::read_to_string(&stat) {
            Ok(s) => {
                let state = s
                    .rsplit(')')
                    .next()
                    .unwrap_or("")
                    .trim_start()
                    .chars()
                    .next();
                if matches!(state, Some('T' | 't')) {
                    return;
                }
            }
            Err(_) => return,
        }
        std::thread::yield_now();
    }
}

/// What the write-ahead log holds: valid frames, the index after the last commit frame,
/// and whether a frame at the end is half written (its checksum does not match yet).
#[derive(Debug, Default, PartialEq, Eq)]
struct WalState {
    frames: usize,
    committed: usize,
    torn: bool,
}

impl WalState {
    fn inside_transaction(&self) -> bool {
        self.torn || self.frames > self.committed
    }
}

/// Reads an SQLite WAL file (format: sqlite.org/fileformat2.html#walformat).
fn inspect_wal(bytes: &[u8]) -> WalState {
    let be = |b: &[u8], at: usize| u32::from_be_bytes(b[at..at + 4].try_into().unwrap());
    let mut state = WalState::default();
    if bytes.len() < 32 || be(bytes, 0) & !1 != 0x377f_0682 {
        return state;
    }
    let big = be(bytes, 0) & 1 == 1;
    let page = be(bytes, 8) as usize;
    let salts = (be(bytes, 16), be(bytes, 20));
    let checksum = |(mut s0, mut s1): (u32, u32), data: &[u8]| {
        for c in data.chunks_exact(8) {
            let word = |b: &[u8]| {
                let b: [u8; 4] = b.try_into().unwrap();
                if big {
                    u32::from_be_bytes(b)
                } else {
                    u32::from_le_bytes(b)
                }
            };
            s0 = s0.wrapping_add(word(&c[0..4])).wrapping_add(s1);
            s1 = s1.wrapping_add(word(&c[4..8])).wrapping_add(s0);
        }
        (s0, s1)
    };
    let mut sum = checksum((0, 0), &bytes[0..24]);
    if sum != (be(bytes, 24), be(bytes, 28)) {
        return state;
    }
    let mut at = 32;
    while at + 24 <= bytes.len() {
        let header = &bytes[at..at + 24];
        if (be(header, 8), be(header, 12)) != salts {
            break;
        }
        if at + 24 + page > bytes.len() {
            state.torn = true;
            break;
        }
        let next = checksum(
            checksum(sum, &header[0..8]),
            &bytes[at + 24..at + 24 + page],
        );
        if next != (be(header, 16), be(header, 20)) {
            state.torn = true;
            break;
        }
        sum = next;
        state.frames += 1;
        if be(header, 4) != 0 {
            state.committed = state.frames;
        }
        at += 24 + page;
    }
    state
}

/// Watches the WAL; each time it moves, stops the importer and looks: inside a transaction,
/// kill; otherwise let it go on. Gives up (and kills anyway) after `patience`. Returns
/// whether the kill landed inside a transaction, or `None` if the importer exited first.
fn kill_inside_sqlite_write(child: &mut Child, wal: &Path, patience: Duration) -> Option<bool> {
    let deadline = Instant::now() + patience;
    let stamp = |p: &Path| {
        std::fs::metadata(p)
            .ok()
            .map(|m| (m.len(), m.modified().ok()))
    };
    let mut last = stamp(wal);
    while Instant::now() < deadline {
        if child.try_wait().unwrap().is_some() {
            return None;
        }
        let now = stamp(wal);
        if now == last {
            std::hint::spin_loop();
            continue;
        }
        signal(child, libc::SIGSTOP);
        wait_stopped(child);
        let state = inspect_wal(&std::fs::read(wal).unwrap_or_default());
        if state.inside_transaction() {
            child.kill().unwrap();
            child.wait().unwrap();
            return Some(true);
        }
        last = stamp(wal);
        signal(child, libc::SIGCONT);
    }
    if child.try_wait().unwrap().is_some() {
        return None;
    }
    child.kill().unwrap();
    child.wait().unwrap();
    Some(false)
}

/// Waits for `done` while the child runs; `false` if it exited first or time ran out.
fn wait_while_running(child: &mut Child, limit: Duration, mut done: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + limit;
    while Instant::now() < deadline {
        if child.try_wait().unwrap().is_some() {
            return false;
        }
        if done() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    false
}

fn assert_no_panic(log: &Path) {
    let stderr = std::fs::read_to_string(log).unwrap_or_default();
    assert!(
        !stderr.contains("panicked"),
        "the importer panicked:\n{stderr}"
    );
}

struct Torture {
    env: Env,
    csv: std::path::PathBuf,
    input: Input,
    rng: StdRng,
    figures: Figures,
    log: std::path::PathBuf,
}

impl Torture {
    /// Empties the sandbox and the state, and seeds leads that collide with three valid rows.
    fn new_epoch(&mut self) -> BTreeMap<u64, String> {
        self.collect_log_figures();
        let state = self.env.sandbox().state();
        state.reset();
        for name in ["state.db", "state.db-wal", "state.db-shm", "state.db.lock"] {
            let _ = std::fs::remove_file(self.env.path(name));
        }
        let _ = std::fs::remove_dir_all(self.env.path("reports"));
        let mut conflicts = BTreeMap::new();
        while conflicts.len() < 3 {
            let (row, id, phone) =
                &self.input.valid_rows[self.rng.random_range(0..self.input.valid_rows.len())];
            if conflicts.insert(*row, id.clone()).is_none() {
                state
                    .insert_lead(LeadInput::new(phone.clone()).with_lead_id(format!("other-{row}")))
                    .unwrap();
            }
        }
        self.figures.epochs += 1;
        conflicts
    }

    /// Adds the request log's figures (before a reset clears it).
    fn collect_log_figures(&mut self) {
        for r in self.env.sandbox().state().requests() {
            if !r.path.ends_with("/leads/sync") {
                continue;
            }
            self.figures.sync_requests += 1;
            if let Some(kind) = r.fault {
                let kind = serde_json::to_value(kind).unwrap();
                let kind = kind.as_str().unwrap().to_owned();
                if kind != "latency" {
                    self.figures.faults_injected += 1;
                    *self.figures.faults_by_kind.entry(kind).or_default() += 1;
                }
            }
        }
    }

    fn args(&mut self, final_run: bool) -> Vec<String> {
        let rng = &mut self.rng;
        let batch = if final_run {
            50
        } else {
            [1, 1, 2, 5, 10, 25, 50][rng.random_range(0..7)]
        };
        let concurrency = [1, 4, 16][rng.random_range(0..3)];
        let rate = if final_run {
            1000
        } else {
            [100, 200, 400][rng.random_range(0..3)]
        };
        let mut args: Vec<String> = [
            "--rate",
            &rate.to_string(),
            "--rate-window",
            "1",
            "--batch-size",
            &batch.to_string(),
            "--concurrency",
            &concurrency.to_string(),
            "--timeout",
            "5",
            "--max-attempts",
            if final_run { "12" } else { "4" },
        ]
        .iter()
        .map(|s| (*s).to_owned())
        .collect();
        args.push("-v".into());
        args
    }

    /// One kill round; `true` when the importer finished the run by itself.
    fn round(&mut self) -> bool {
        self.figures.rounds += 1;
        let mode = match self.rng.random_range(0..100) {
            0..30 => KillMode::Timed,
            30..50 => KillMode::Progress,
            50..70 => KillMode::AppliedNotRecorded,
            70..95 => KillMode::SqliteWrite,
            _ => KillMode::None,
        };
        let faults = if mode == KillMode::AppliedNotRecorded {
            applied_not_answered()
        } else {
            round_faults(&mut self.rng)
        };
        self.env.sandbox().state().set_faults(faults);
        let mut args = self.args(false);
        if mode == KillMode::SqliteWrite {
            // Many tiny commits.
            args[5] = "1".into();
        }
        let before = total_writes(&self.env);
        let delay = if self.rng.random_bool(0.3) {
            Duration::from_millis(self.rng.random_range(0..80))
        } else {
            Duration::from_millis(self.rng.random_range(80..700))
        };
        let more = self.rng.random_range(1..150u64);
        self.note(&format!(
            "=== round {} mode {mode:?} args {args:?} delay {delay:?} more {more}",
            self.figures.rounds
        ));
        let mut child = spawn(&self.env, &self.csv, &args, &self.log);
        let killed = match mode {
            KillMode::Timed => {
                wait_while_running(&mut child, delay, || false);
                kill(&mut child)
            }
            KillMode::Progress => {
                wait_while_running(&mut child, Duration::from_secs(10), || {
                    total_writes(&self.env) >= before + more
                });
                kill(&mut child)
            }
            KillMode::AppliedNotRecorded => {
                wait_while_running(&mut child, Duration::from_secs(10), || {
                    total_writes(&self.env) > before
                });
                kill(&mut child)
            }
            KillMode::SqliteWrite => {
                match kill_inside_sqlite_write(
                    &mut child,
                    &self.env.path("state.db-wal"),
                    Duration::from_secs(3),
                ) {
                    Some(inside) => {
                        if inside {
                            self.figures.kills_inside_sqlite_transaction += 1;
                        }
                        true
                    }
                    None => false,
                }
            }
            KillMode::None => false,
        };
        let mode_name = format!("{mode:?}");
        self.note(&format!(
            "=== round {} killed: {killed}",
            self.figures.rounds
        ));
        if killed {
            self.figures.kills += 1;
            *self.figures.kills_by_mode.entry(mode_name).or_default() += 1;
            assert_no_panic(&self.log);
            return false;
        }
        let status = child.wait().unwrap();
        assert_no_panic(&self.log);
        let code = status.code().expect("exited, not signalled");
        assert!(
            [0, 1, 3].contains(&code),
            "unexpected exit {code}:\n{}",
            std::fs::read_to_string(&self.log).unwrap_or_default()
        );
        *self.figures.exits.entry(code.to_string()).or_default() += 1;
        code != 1
    }

    /// Runs to completion with mild faults (a few attempts, in case retries run out).
    fn finish(&mut self) {
        for _ in 0..5 {
            self.env.sandbox().state().set_faults(Faults {
                latency: Some(Latency::range(0, 5)),
                random: Some(RandomFailures::new(0.05)),
                ..Faults::default()
            });
            let args = self.args(true);
            self.note(&format!("=== final run args {args:?}"));
            let mut child = spawn(&self.env, &self.csv, &args, &self.log);
            let status = child.wait().unwrap();
            assert_no_panic(&self.log);
            match status.code() {
                Some(0 | 3) => return,
                Some(1) => continue,
                other => panic!(
                    "final run exited {other:?}:\n{}",
                    std::fs::read_to_string(&self.log).unwrap_or_default()
                ),
            }
        }
        panic!("the final runs never completed");
    }

    /// A line in the importer's log, to follow a failure round by round.
    fn note(&self, line: &str) {
        let mut log = File::options()
            .create(true)
            .append(true)
            .open(&self.log)
            .unwrap();
        std::io::Write::write_all(&mut log, format!("{line}\n").as_bytes()).unwrap();
    }

    /// On a failed check, keeps the evidence (`NL_TORTURE_KEEP=DIR`, default a temporary
    /// directory that is not removed) and says where it is.
    fn keep_evidence(&self) -> String {
        let dir = std::env::var("NL_TORTURE_KEEP").map_or_else(
            |_| std::env::temp_dir().join(format!("nl-torture-{}", std::process::id())),
            std::path::PathBuf::from,
        );
        let _ = std::fs::create_dir_all(&dir);
        for name in [
            "state.db",
            "state.db-wal",
            "state.db-shm",
            "importer.log",
            "leads.csv",
            "valid.jsonl",
        ] {
            let _ = std::fs::copy(self.env.path(name), dir.join(name));
        }
        let _ = std::fs::copy(
            self.env.path("reports/rejected.csv"),
            dir.join("rejected.csv"),
        );
        let _ = std::fs::copy(
            self.env.path("reports/summary.json"),
            dir.join("summary.json"),
        );
        let leads = serde_json::to_string_pretty(&self.env.leads()).unwrap();
        let _ = std::fs::write(dir.join("sandbox-leads.json"), leads);
        format!("evidence kept in {}", dir.display())
    }

    /// The sandbox, the report and the summary against the oracle.
    fn verify(&mut self, conflicts: &BTreeMap<u64, String>) {
        let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            self.check_epoch(conflicts);
        }));
        if let Err(panic) = result {
            eprintln!(
                "torture: epoch {} failed; {}",
                self.figures.epochs,
                self.keep_evidence()
            );
            std::panic::resume_unwind(panic);
        }
    }

    fn check_epoch(&mut self, conflicts: &BTreeMap<u64, String>) {
        let stored: BTreeMap<String, StoredLead> = self.env.leads_by_id();
        let conflict_ids: BTreeSet<&String> = conflicts.values().collect();
        let mut expected_ids: BTreeSet<String> = self
            .input
            .valid
            .keys()
            .filter(|id| !conflict_ids.contains(id))
            .cloned()
            .collect();
        let accepted = expected_ids.len();
        expected_ids.extend(conflicts.keys().map(|row| format!("other-{row}")));
        let stored_ids: BTreeSet<String> = stored.keys().cloned().collect();
        let lost: Vec<_> = expected_ids.difference(&stored_ids).collect();
        let extra: Vec<_> = stored_ids.difference(&expected_ids).collect();
        self.figures.rows_lost += lost.len() as u64;
        assert!(lost.is_empty(), "leads lost: {lost:?}");
        assert!(
            extra.is_empty(),
            "leads that should not be there: {extra:?}"
        );
        for (id, payload) in &self.input.valid {
            if conflict_ids.contains(id) {
                continue;
            }
            assert_fields(&stored[id], payload);
            if stored[id].write_count > 1 {
                self.figures.leads_rewritten += 1;
            }
        }

        let mut report: BTreeMap<u64, String> = BTreeMap::new();
        let mut reader = csv::ReaderBuilder::new()
            .flexible(true)
            .from_path(self.env.path("reports/rejected.csv"))
            .unwrap();
        for record in reader.records() {
            let record = record.unwrap();
            let row: u64 = record[0].parse().unwrap();
            assert!(
                report.insert(row, record[1].to_owned()).is_none(),
                "row {row} twice in the report"
            );
        }
        let mut expected_report = self.input.invalid.clone();
        for row in conflicts.keys() {
            expected_report.insert(*row, "duplicate_in_account".into());
        }
        assert_eq!(
            report, expected_report,
            "the report holds exactly the invalid rows"
        );

        let summary: Value = serde_json::from_str(
            &std::fs::read_to_string(self.env.path("reports/summary.json")).unwrap(),
        )
        .unwrap();
        let n = |k: &str| {
            summary[k]
                .as_u64()
                .unwrap_or_else(|| panic!("{k}: {summary}"))
        };
        assert_eq!(summary["status"], "done", "{summary:#}");
        assert_eq!(n("rows_read"), self.input.rows as u64, "{summary:#}");
        assert_eq!(n("pending"), 0, "{summary:#}");
        assert_eq!(
            n("rows_read"),
            n("imported") + n("unchanged") + n("rejected") + n("pending"),
            "{summary:#}"
        );
        assert_eq!(
            n("imported") + n("unchanged"),
            accepted as u64,
            "each accepted lead counted once: {summary:#}"
        );
        assert_eq!(n("rejected"), expected_report.len() as u64, "{summary:#}");
        let by_class: u64 = summary["rejected_by_class"]
            .as_object()
            .unwrap()
            .values()
            .map(|v| v.as_u64().unwrap())
            .sum();
        assert_eq!(by_class, n("rejected"));
    }
}

fn kill(child: &mut Child) -> bool {
    if child.try_wait().unwrap().is_some() {
        return false;
    }
    child.kill().unwrap();
    child.wait().unwrap();
    true
}

fn assert_fields(stored: &StoredLead, payload: &Value) {
    let id = payload["lead_id"].as_str().unwrap();
    let lead = &stored.lead;
    assert_eq!(lead.phone, payload["phone"].as_str().unwrap(), "{id}");
    assert_eq!(lead.name, payload["name"].as_str().unwrap_or(""), "{id}");
    assert_eq!(lead.email, payload["email"].as_str().unwrap_or(""), "{id}");
    assert_eq!(
        serde_json::to_value(lead.status).unwrap(),
        payload.get("status").cloned().unwrap_or("new".into()),
        "{id}"
    );
    let tags: Vec<String> = payload
        .get("tags")
        .map(|t| serde_json::from_value(t.clone()).unwrap())
        .unwrap_or_default();
    assert_eq!(lead.tags, tags, "{id}");
    assert_eq!(
        Value::Object(lead.custom_fields.clone()),
        payload.get("customFields").cloned().unwrap_or_default(),
        "{id}"
    );
}

#[test]
fn killed_at_random_moments_under_faults_nothing_is_lost_or_doubled() {
    let started = Instant::now();
    let rounds = env_number("NL_TORTURE_ROUNDS", 6);
    let rows = env_number("NL_TORTURE_ROWS", 2000) as usize;
    let seed = env_number("NL_TORTURE_SEED", 1);
    let env = Env::start(sandbox_config(seed));
    let csv = env.path("leads.csv");
    let mut rng = StdRng::seed_from_u64(seed);
    write_input(&csv, rows, &mut rng);
    let input = check_input(&env, &csv, rows);
    let log = env.path("importer.log");
    let mut t = Torture {
        env,
        csv,
        input,
        rng,
        figures: Figures {
            seed,
            rows_per_epoch: rows,
            ..Figures::default()
        },
        log,
    };
    while t.figures.rounds < rounds {
        let conflicts = t.new_epoch();
        let budget = t.rng.random_range(4..=12);
        let mut finished = false;
        for _ in 0..budget {
            if t.figures.rounds >= rounds {
                break;
            }
            if t.round() {
                finished = true;
                break;
            }
        }
        if !finished {
            t.finish();
        }
        t.verify(&conflicts);
        // A fresh log per epoch keeps the panic check cheap.
        let _ = std::fs::remove_file(&t.log);
    }
    t.collect_log_figures();
    t.env.sandbox().state().reset();
    t.figures.seconds = started.elapsed().as_secs_f64();
    let f = &t.figures;
    eprintln!(
        "torture: seed {}, {} rounds in {} epochs of {} rows, {} kills {:?} ({} inside an SQLite transaction), exits {:?}, {} sync requests, {} faults injected {:?}, {} leads rewritten, rows lost: {}, {:.1}s",
        f.seed,
        f.rounds,
        f.epochs,
        f.rows_per_epoch,
        f.kills,
        f.kills_by_mode,
        f.kills_inside_sqlite_transaction,
        f.exits,
        f.sync_requests,
        f.faults_injected,
        f.faults_by_kind,
        f.leads_rewritten,
        f.rows_lost,
        f.seconds
    );
    if let Ok(path) = std::env::var("NL_TORTURE_REPORT") {
        std::fs::write(path, serde_json::to_string_pretty(f).unwrap()).unwrap();
    }
    assert!(f.kills > 0, "no round was killed");
}

#[test]
fn the_wal_reader_sees_a_transaction_cut_short() {
    // A real WAL from SQLite, then the same cut at every frame boundary and mid-frame.
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("t.db");
    let conn = rusqlite::Connection::open(&db).unwrap();
    conn.query_row("PRAGMA journal_mode=WAL", [], |r| r.get::<_, String>(0))
        .unwrap();
    conn.execute_batch("PRAGMA wal_autocheckpoint=0; CREATE TABLE t (x BLOB);")
        .unwrap();
    conn.execute("INSERT INTO t VALUES (zeroblob(20000))", [])
        .unwrap();
    let wal = std::fs::read(dir.path().join("t.db-wal")).unwrap();
    let whole = inspect_wal(&wal);
    assert!(whole.frames >= 5, "{whole:?}");
    assert_eq!(whole.frames, whole.committed);
    assert!(!whole.inside_transaction());
    let page = u32::from_be_bytes(wal[8..12].try_into().unwrap()) as usize;
    // The last transaction's frames without its commit frame.
    let cut = inspect_wal(&wal[..wal.len() - (24 + page)]);
    assert!(cut.inside_transaction(), "{cut:?}");
    // A frame half written.
    let torn = inspect_wal(&wal[..wal.len() - page / 2]);
    assert!(torn.torn, "{torn:?}");
    drop(conn);
}
