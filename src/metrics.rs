//! `--metrics-file`: a run's figures in the Prometheus text exposition format, for
//! node_exporter's textfile collector (or anything that reads that format). The file is
//! replaced atomically (written under a temporary name in the same directory, then renamed,
//! so a scrape never sees half of it). The time of the last successful run is carried over
//! from the file it replaces when this run is not one.
//!
//! Every sample is a gauge (the figures of the last run, not counters that grow across
//! runs), labelled with the `command` and, for an import, its `--source`.

use std::fmt::Write as _;
use std::io::{self, Write};
use std::path::Path;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::exit;
use crate::fsutil::AtomicFile;

/// Every metric's name starts with this.
pub const PREFIX: &str = "nl_import_";

/// The metric carried across runs.
const LAST_SUCCESS: &str = "last_success_timestamp_seconds";

/// A run ends a success when it finished: every row imported, unchanged or rejected with
/// a reason (exit 0 or 3). Interrupted, fatal, locked out or over a safety budget is not.
pub fn is_success(exit_code: u8) -> bool {
    matches!(exit_code, exit::SUCCESS | exit::REJECTED)
}

/// One metric family: its samples, one per label set.
#[derive(Debug)]
struct Family {
    name: &'static str,
    help: &'static str,
    samples: Vec<(Vec<(&'static str, String)>, f64)>,
}

/// The figures of one run, to write with [`Metrics::write`].
#[derive(Debug)]
pub struct Metrics {
    labels: Vec<(&'static str, String)>,
    families: Vec<Family>,
}

impl Metrics {
    /// Figures of a `command` run; `source` is an import's `--source` (empty without one).
    pub fn new(command: &str, source: Option<&str>) -> Metrics {
        let mut labels = vec![("command", command.to_owned())];
        if let Some(source) = source {
            labels.push(("source", source.to_owned()));
        }
        Metrics {
            labels,
            families: Vec::new(),
        }
    }

    /// Adds a gauge `nl_import_<name>` with the run's labels.
    pub fn gauge(&mut self, name: &'static str, help: &'static str, value: f64) -> &mut Self {
        self.gauge_with(name, help, &[], value)
    }

    /// Adds a sample of gauge `nl_import_<name>` with the run's labels and `extra` ones
    /// (samples of one name share its family; give the same `help`).
    pub fn gauge_with(
        &mut self,
        name: &'static str,
        help: &'static str,
        extra: &[(&'static str, &str)],
        value: f64,
    ) -> &mut Self {
        let mut labels = self.labels.clone();
        labels.extend(extra.iter().map(|(k, v)| (*k, (*v).to_owned())));
        match self.families.iter_mut().find(|f| f.name == name) {
            Some(family) => family.samples.push((labels, value)),
            None => self.families.push(Family {
                name,
                help,
                samples: vec![(labels, value)],
            }),
        }
        self
    }

    /// `nl_import_rows_rejected{class=…}` for every class of `by_class` (`{class: rows}`,
    /// zeros included, so that each series exists from the first run on).
    pub fn rejected_by_class(
        &mut self,
        by_class: &serde_json::Map<String, serde_json::Value>,
    ) -> &mut Self {
        for (class, rows) in by_class {
            self.gauge_with(
                "rows_rejected",
                "Rejected rows by error class (see the README's table of classes).",
                &[("class", class)],
                rows.as_u64().unwrap_or(0) as f64,
            );
        }
        self
    }

    /// The file's text, with the run's ending: `exit_code`, `duration`, `finished` (when it
    /// ended), and `last_success` (this run's end if it is one).
    fn render(
        &self,
        exit_code: u8,
        duration: Duration,
        finished: SystemTime,
        last_success: Option<f64>,
    ) -> String {
        let mut all = Metrics {
            labels: self.labels.clone(),
            families: Vec::new(),
        };
        all.gauge(
            "exit_code",
            "Exit code of the last run (0 all imported, 3 some rows rejected; see the README's table).",
            f64::from(exit_code),
        )
        .gauge(
            "duration_seconds",
            "Wall time of the last run.",
            duration.as_secs_f64(),
        )
        .gauge(
            "last_run_timestamp_seconds",
            "When the last run ended (Unix time).",
            unix(finished),
        );
        if let Some(at) = last_success {
            all.gauge(
                LAST_SUCCESS,
                "When the last successful run (exit 0 or 3) ended (Unix time), kept across failed runs.",
                at,
            );
        }
        let mut out = String::new();
        for family in self.families.iter().chain(&all.families) {
            let _ = writeln!(out, "# HELP {PREFIX}{} {}", family.name, family.help);
            let _ = writeln!(out, "# TYPE {PREFIX}{} gauge", family.name);
            for (labels, value) in &family.samples {
                let labels: Vec<String> = labels
                    .iter()
                    .map(|(k, v)| format!("{k}=\"{}\"", escape(v)))
                    .collect();
                let _ = writeln!(
                    out,
                    "{PREFIX}{}{{{}}} {}",
                    family.name,
                    labels.join(","),
                    number(*value)
                );
            }
        }
        out
    }

    /// [`Metrics::write`] at the end of a run, whose exit code already says how it went:
    /// a file that cannot be written is a warning (its directory was found writable
    /// before the run).
    pub fn write_or_warn(&self, path: &Path, exit_code: u8, duration: Duration) {
        if let Err(e) = self.write(path, exit_code, duration) {
            tracing::warn!("cannot write the metrics file `{}`: {e}", path.display());
        }
    }

    /// Replaces the file at `path` with these figures and the run's ending. The last
    /// success time is this run's end if [`is_success`], else the one the old file holds
    /// (absent if it holds none).
    pub fn write(&self, path: &Path, exit_code: u8, duration: Duration) -> io::Result<()> {
        let finished = SystemTime::now();
        let last_success = if is_success(exit_code) {
            Some(unix(finished))
        } else {
            std::fs::read_to_string(path)
                .ok()
                .and_then(|text| previous_success(&text))
        };
        let text = self.render(exit_code, duration, finished, last_success);
        let mut file = AtomicFile::create(path)?;
        // Counts and times only, no personal data: readable by the group too, so that a
        // collector in the directory's group (node_exporter) can read it.
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            file.writer()
                .get_ref()
                .set_permissions(std::fs::Permissions::from_mode(0o640))?;
        }
        file.write_all(text.as_bytes())?;
        file.commit()?;
        Ok(())
    }
}

/// Checks, before a run, that a metrics file can be written at `path` (its directory
/// exists and takes a new file): a mistake in `--metrics-file` is found before anything
/// is done, not at the end.
pub fn probe(path: &Path) -> anyhow::Result<()> {
    use anyhow::Context;
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    anyhow::ensure!(
        dir.is_dir(),
        "the directory of --metrics-file `{}` does not exist",
        path.display()
    );
    anyhow::ensure!(
        !path.is_dir(),
        "--metrics-file `{}` is a directory",
        path.display()
    );
    drop(
        AtomicFile::create(path)
            .with_context(|| format!("cannot write the metrics file `{}`", path.display()))?,
    );
    Ok(())
}

/// Seconds since the Unix epoch.
fn unix(at: SystemTime) -> f64 {
    at.duration_since(UNIX_EPOCH)
        .map_or(0.0, |d| (d.as_millis() as f64) / 1000.0)
}

/// A sample value as the format writes it (`NaN`, `+Inf`, `-Inf` spelled its way).
fn number(value: f64) -> String {
    if value.is_nan() {
        "NaN".to_owned()
    } else if value.is_infinite() {
        if value > 0.0 { "+Inf" } else { "-Inf" }.to_owned()
    } else {
        value.to_string()
    }
}

/// A label value with `\`, `"` and line breaks escaped.
fn escape(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for c in value.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
    out
}

/// The last success time in an earlier file's text, if it has one.
fn previous_success(text: &str) -> Option<f64> {
    let name = format!("{PREFIX}{LAST_SUCCESS}");
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .find_map(|line| {
            let rest = line.strip_prefix(&name)?;
            // The value follows the label set (or the name, without one).
            let value = match rest.strip_prefix('{') {
                Some(labels) => labels.rsplit_once('}')?.1,
                None => rest,
            };
            value.split_whitespace().next()?.parse::<f64>().ok()
        })
        .filter(|v| v.is_finite())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Metrics {
        let mut m = Metrics::new("import", Some("crm \"main\""));
        m.gauge("rows_read", "Rows read.", 12.0).gauge_with(
            "rows_rejected",
            "Rejected rows by class.",
            &[("class", "invalid_phone")],
            2.0,
        );
        m.gauge_with(
            "rows_rejected",
            "Rejected rows by class.",
            &[("class", "gave_up")],
            0.0,
        );
        m
    }

    #[test]
    fn the_text_format_with_families_labels_and_escapes() {
        let finished = UNIX_EPOCH + Duration::from_millis(1_700_000_000_250);
        let text = sample().render(3, Duration::from_millis(1500), finished, Some(1.5e9));
        let expected = r#"# HELP nl_import_rows_read Rows read.
# TYPE nl_import_rows_read gauge
nl_import_rows_read{command="import",source="crm \"main\""} 12
# HELP nl_import_rows_rejected Rejected rows by class.
# TYPE nl_import_rows_rejected gauge
nl_import_rows_rejected{command="import",source="crm \"main\"",class="invalid_phone"} 2
nl_import_rows_rejected{command="import",source="crm \"main\"",class="gave_up"} 0
"#;
        assert!(text.starts_with(expected), "{text}");
        assert!(
            text.contains(
                "\nnl_import_exit_code{command=\"import\",source=\"crm \\\"main\\\"\"} 3\n"
            )
        );
        assert!(text.contains("} 1.5\n"), "{text}");
        assert!(text.contains("nl_import_last_run_timestamp_seconds{command=\"import\",source=\"crm \\\"main\\\"\"} 1700000000.25\n"));
        assert!(text.ends_with("} 1500000000\n"), "{text}");
    }

    #[test]
    fn the_last_success_is_read_back_whatever_the_labels() {
        let text = sample().render(0, Duration::ZERO, SystemTime::now(), Some(1234.5));
        assert_eq!(previous_success(&text), Some(1234.5));
        assert_eq!(
            previous_success("nl_import_last_success_timestamp_seconds 77\n"),
            Some(77.0)
        );
        assert_eq!(
            previous_success(
                "nl_import_last_success_timestamp_seconds{a=\"}\"} 78 1700000000000\n"
            ),
            Some(78.0)
        );
        assert_eq!(previous_success("# nothing\n"), None);
        assert_eq!(
            previous_success("nl_import_last_success_timestamp_seconds NaN\n"),
            None
        );
    }

    #[test]
    fn numbers_and_successes() {
        assert_eq!(number(f64::NAN), "NaN");
        assert_eq!(number(f64::INFINITY), "+Inf");
        assert_eq!(number(0.25), "0.25");
        assert!(is_success(0) && is_success(3));
        assert!(!is_success(1) && !is_success(4) && !is_success(5) && !is_success(130));
    }
}
