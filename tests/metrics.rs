//! `--metrics-file`: the run's figures in the Prometheus text exposition format, as
//! node_exporter's textfile collector reads them. A strict parser of the format (HELP and
//! TYPE before their samples, every family once, label syntax and escapes, float values)
//! reads the file after import and check runs; the values are the summary's, a failed run
//! keeps the last success time, the file is replaced atomically and a bad path is a
//! configuration error before anything is sent.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Command, Stdio};

use naturalead_sandbox::Config;

mod common;

use common::*;

/// One sample: its labels and value.
#[derive(Debug, Clone, PartialEq)]
struct Sample {
    labels: BTreeMap<String, String>,
    value: f64,
}

/// A parsed exposition: family name → (type, help, samples).
#[derive(Debug, Default)]
struct Exposition {
    families: BTreeMap<String, (String, String, Vec<Sample>)>,
}

impl Exposition {
    /// Parses `text` strictly: panics on anything the text format does not allow.
    fn parse(text: &str) -> Exposition {
        assert!(text.ends_with('\n'), "the last line ends with a line feed");
        let mut out = Exposition::default();
        let mut current: Option<String> = None;
        for (n, line) in text.lines().enumerate() {
            let at = || format!("line {}: {line:?}", n + 1);
            if let Some(rest) = line.strip_prefix("# HELP ") {
                let (name, help) = rest.split_once(' ').unwrap_or_else(|| panic!("{}", at()));
                assert!(valid_name(name), "{}", at());
                assert!(
                    !out.families.contains_key(name),
                    "family listed twice, {}",
                    at()
                );
                out.families.insert(
                    name.to_owned(),
                    (String::new(), help.to_owned(), Vec::new()),
                );
                current = Some(name.to_owned());
            } else if let Some(rest) = line.strip_prefix("# TYPE ") {
                let (name, kind) = rest.split_once(' ').unwrap_or_else(|| panic!("{}", at()));
                assert_eq!(
                    current.as_deref(),
                    Some(name),
                    "TYPE after its HELP, {}",
                    at()
                );
                assert!(
                    ["counter", "gauge", "histogram", "summary", "untyped"].contains(&kind),
                    "{}",
                    at()
                );
                let family = out.families.get_mut(name).unwrap();
                assert!(family.0.is_empty() && family.2.is_empty(), "{}", at());
                family.0 = kind.to_owned();
            } else if line.starts_with('#') || line.is_empty() {
                panic!("unexpected comment or blank, {}", at());
            } else {
                let (name, labels, rest) = sample_parts(line).unwrap_or_else(|| panic!("{}", at()));
                assert_eq!(
                    current.as_deref(),
                    Some(name.as_str()),
                    "sample of its family, {}",
                    at()
                );
                let mut fields = rest.split(' ');
                let value =
                    parse_value(fields.next().unwrap()).unwrap_or_else(|| panic!("{}", at()));
                if let Some(ts) = fields.next() {
                    ts.parse::<i64>().unwrap_or_else(|_| panic!("{}", at()));
                }
                assert!(fields.next().is_none(), "{}", at());
                let family = out.families.get_mut(&name).unwrap();
                assert!(!family.0.is_empty(), "TYPE before samples, {}", at());
                assert!(
                    family.2.iter().all(|s| s.labels != labels),
                    "duplicate series, {}",
                    at()
                );
                family.2.push(Sample { labels, value });
            }
        }
        out
    }

    /// The value of `name`'s only sample with `labels` among its labels.
    fn value(&self, name: &str, labels: &[(&str, &str)]) -> f64 {
        let (_, _, samples) = self
            .families
            .get(name)
            .unwrap_or_else(|| panic!("no {name} in {:#?}", self.families.keys()));
        let matching: Vec<&Sample> = samples
            .iter()
            .filter(|s| {
                labels
                    .iter()
                    .all(|(k, v)| s.labels.get(*k).map(String::as_str) == Some(*v))
            })
            .collect();
        assert_eq!(matching.len(), 1, "{name} {labels:?}: {samples:?}");
        matching[0].value
    }
}

fn valid_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_' || c == ':')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
}

fn parse_value(s: &str) -> Option<f64> {
    match s {
        "NaN" => Some(f64::NAN),
        "+Inf" => Some(f64::INFINITY),
        "-Inf" => Some(f64::NEG_INFINITY),
        _ => s.parse().ok(),
    }
}

/// `name{a="x",b="y"} rest` → (name, labels, rest); escapes `\\`, `\"`, `\n` undone.
fn sample_parts(line: &str) -> Option<(String, BTreeMap<String, String>, &str)> {
    let end = line.find(['{', ' '])?;
    let name = &line[..end];
    if !valid_name(name) {
        return None;
    }
    let mut labels = BTreeMap::new();
    let mut rest = &line[end..];
    if let Some(body) = rest.strip_prefix('{') {
        let mut pos = 0;
        loop {
            if let Some(after) = body[pos..].strip_prefix('}') {
                rest = after;
                break;
            }
            let eq = body[pos..].find('=')? + pos;
            let key = &body[pos..eq];
            if !valid_name(key) || key.contains(':') || !body[eq + 1..].starts_with('"') {
                return None;
            }
            let mut value = String::new();
            let mut iter = body[eq + 2..].char_indices();
            let close = loop {
                match iter.next()? {
                    (i, '"') => break eq + 2 + i,
                    (_, '\\') => match iter.next()?.1 {
                        '\\' => value.push('\\'),
                        '"' => value.push('"'),
                        'n' => value.push('\n'),
                        _ => return None,
                    },
                    (_, c) => value.push(c),
                }
            };
            if labels.insert(key.to_owned(), value).is_some() {
                return None;
            }
            pos = close + 1;
            if body[pos..].starts_with(',') {
                pos += 1;
            } else if !body[pos..].starts_with('}') {
                return None;
            }
        }
    }
    let rest = rest.strip_prefix(' ')?;
    Some((name.to_owned(), labels, rest))
}

fn read(path: &Path) -> Exposition {
    Exposition::parse(&std::fs::read_to_string(path).unwrap())
}

/// `promtool check metrics` on the file, when Prometheus's tool is installed (its linter:
/// names, HELP, TYPE, units); says so when it is not.
fn promtool_check(path: &Path) {
    let Ok(mut child) = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
    else {
        eprintln!("promtool is not installed: only the parser here checked the format");
        return;
    };
    std::io::Write::write_all(
        &mut child.stdin.take().unwrap(),
        &std::fs::read(path).unwrap(),
    )
    .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success() && out.stdout.is_empty() && out.stderr.is_empty(),
        "promtool check metrics: {}{}",
        text(&out.stdout),
        text(&out.stderr)
    );
}

fn now() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64()
}

#[test]
fn the_parser_is_strict() {
    let good =
        "# HELP a_b x\n# TYPE a_b gauge\na_b{k=\"v\\\"\\\\\\n\",j=\"\"} 1.5\na_b 2 1700000000000\n";
    let e = Exposition::parse(good);
    assert_eq!(e.value("a_b", &[("k", "v\"\\\n")]), 1.5);
    for bad in [
        "a_b 1\n",
        "# HELP a_b x\na_b 1\n",
        "# HELP a_b x\n# TYPE a_b gauge\na_b{k=v} 1\n",
        "# HELP a_b x\n# TYPE a_b gauge\na_b one\n",
        "# HELP a_b x\n# TYPE a_b gauge\na_b 1\na_b 2\n",
        "# HELP a_b x\n# TYPE a_b gauge\na_b 1",
    ] {
        assert!(
            std::panic::catch_unwind(|| Exposition::parse(bad)).is_err(),
            "{bad:?} accepted"
        );
    }
}

#[test]
fn an_import_writes_its_figures_and_a_failed_run_keeps_the_last_success() {
    let env = Env::start(roomy(Config::default()));
    let csv = env.path("leads.csv");
    write_leads(&csv, 250);
    append(&csv, "bad-1,Bad,12,b@example.com,new,,X\n");
    let metrics = env.path("nl-import.prom");
    let mut args = fast();
    args.extend([
        "--batch-size",
        "50",
        "--source",
        "crm \"eu\"",
        "--metrics-file",
    ]);
    args.push(metrics.to_str().unwrap());
    let before = now();
    let out = env.import(&csv, &args);
    assert_exit(&out, 3);
    let summary = env.summary();
    let m = read(&metrics);
    let labels = [("command", "import"), ("source", "crm \"eu\"")];
    let v = |name: &str| m.value(name, &labels);
    assert_eq!(v("nl_import_rows_read"), 251.0);
    assert_eq!(v("nl_import_rows_imported"), 250.0);
    assert_eq!(v("nl_import_rows_unchanged"), 0.0);
    assert_eq!(v("nl_import_rows_pending"), 0.0);
    assert_eq!(
        m.value("nl_import_rows_rejected", &[("class", "invalid_phone")]),
        1.0
    );
    // Every class is a series, zeros included.
    assert_eq!(m.families["nl_import_rows_rejected"].2.len(), 11);
    assert_eq!(
        m.value("nl_import_rows_rejected", &[("class", "gave_up")]),
        0.0
    );
    assert_eq!(
        v("nl_import_requests"),
        summary["session"]["requests"].as_f64().unwrap()
    );
    assert_eq!(v("nl_import_requests"), 5.0);
    assert_eq!(v("nl_import_throttled_requests"), 0.0);
    assert_eq!(v("nl_import_exit_code"), 3.0);
    assert!(v("nl_import_duration_seconds") > 0.0);
    let success = v("nl_import_last_success_timestamp_seconds");
    assert!(
        success >= before.floor() && success <= now() + 1.0,
        "{success}"
    );
    assert_eq!(v("nl_import_last_run_timestamp_seconds"), success);
    for (name, (kind, help, _)) in &m.families {
        assert_eq!(kind, "gauge", "{name}");
        assert!(!help.is_empty() && name.starts_with("nl_import_"));
    }
    // Readable by its group (a collector's), by nobody else; no temporary file left.
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&metrics).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o640, "{mode:o}");
    }
    let names: Vec<String> = std::fs::read_dir(env.dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains("prom"))
        .collect();
    assert_eq!(names, ["nl-import.prom"]);
    promtool_check(&metrics);

    // A failed run (the key refused): its exit code and time, the success time kept.
    std::thread::sleep(std::time::Duration::from_millis(1100));
    let other = env.path("other.csv");
    write_leads(&other, 20);
    let mut cmd = env.import_cmd(&other, &args);
    cmd.args(["--full"])
        .env("NATURALEAD_API_KEY", format!("nl_test_{}", "ab".repeat(32)));
    let out = cmd.output().unwrap();
    assert_exit(&out, 1);
    let m = read(&metrics);
    let v = |name: &str| m.value(name, &labels);
    assert_eq!(v("nl_import_exit_code"), 1.0);
    assert_eq!(v("nl_import_last_success_timestamp_seconds"), success);
    assert!(v("nl_import_last_run_timestamp_seconds") > success);
    assert_eq!(v("nl_import_rows_pending"), 20.0);

    // A run that fails before it starts (its input is missing): still its ending.
    let out = env.import(&env.path("missing.csv"), &args);
    assert_exit(&out, 1);
    let m = read(&metrics);
    let v = |name: &str| m.value(name, &labels);
    assert_eq!(v("nl_import_exit_code"), 1.0);
    assert_eq!(v("nl_import_last_success_timestamp_seconds"), success);
    assert!(!m.families.contains_key("nl_import_rows_read"));

    // The next success moves it on.
    let out = env.import(&other, &args);
    assert_exit(&out, 0);
    let m = read(&metrics);
    assert!(m.value("nl_import_last_success_timestamp_seconds", &labels) > success);
    assert_eq!(m.value("nl_import_exit_code", &labels), 0.0);
}

#[test]
fn a_check_writes_its_figures_too() {
    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("leads.csv");
    write_leads(&csv, 40);
    append(&csv, "bad-1,Bad,,b@example.com,new,,X\n");
    let metrics = dir.path().join("check.prom");
    let out = Command::new(env!("CARGO_BIN_EXE_nl-import"))
        .current_dir(dir.path())
        .args(["check", "leads.csv", "--metrics-file", "check.prom"])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert_exit(&out, 3);
    let m = read(&metrics);
    let labels = [("command", "check")];
    assert_eq!(m.value("nl_import_rows_read", &labels), 41.0);
    assert_eq!(m.value("nl_import_rows_valid", &labels), 40.0);
    assert_eq!(
        m.value("nl_import_rows_rejected", &[("class", "missing_phone")]),
        1.0
    );
    assert_eq!(m.value("nl_import_exit_code", &labels), 3.0);
    assert!(
        m.families
            .contains_key("nl_import_last_success_timestamp_seconds")
    );
    assert!(!m.families.contains_key("nl_import_requests"));
    promtool_check(&metrics);
}

#[test]
fn a_metrics_file_that_cannot_be_written_stops_the_run_before_anything_is_sent() {
    let env = Env::start(roomy(Config::default()));
    let csv = env.path("leads.csv");
    write_leads(&csv, 20);
    let mut args = fast();
    args.extend(["--metrics-file", "no/such/dir/nl-import.prom"]);
    let out = env.import(&csv, &args);
    assert_exit(&out, 1);
    assert!(
        text(&out.stderr).contains("the directory of --metrics-file"),
        "{}",
        text(&out.stderr)
    );
    assert!(sync_requests(&env).is_empty());
    assert!(env.leads().is_empty());
}

#[test]
fn a_dash_for_the_metrics_file_is_a_usage_error_and_creates_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("leads.csv");
    write_leads(&csv, 5);
    let out = Command::new(env!("CARGO_BIN_EXE_nl-import"))
        .current_dir(dir.path())
        .args(["check", "leads.csv", "--metrics-file", "-"])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert_exit(&out, 2);
    assert!(
        text(&out.stderr).contains("node_exporter"),
        "{}",
        text(&out.stderr)
    );
    assert!(!dir.path().join("-").exists());
}
