//! What nl-import writes on stderr, for a person or for a log shipper. Every stage writes
//! through one [`Event`] type: as text it is the line a person reads; with
//! `--log-format json` it is one JSON object on one line (`timestamp`, `level`, `event`,
//! `message`, then the event's own figures). [`Stderr`] keeps JSON mode whole for text a
//! stage writes without an event of its own (each such line becomes a `text` event), and
//! `main` sets `tracing`'s JSON lines and errors to the same shape. Colour (only in the
//! `tracing` lines) is used when stderr is a terminal and `NO_COLOR` is not set. While a
//! progress bar shows ([`show_bar`]), every line goes above it rather than through it.

use std::io::{self, IsTerminal, Write};
use std::sync::{Mutex, OnceLock};
use std::time::SystemTime;

use serde::Serialize;
use serde_json::{Map, Value};

/// How stderr is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// Lines for a person.
    Text,
    /// One JSON object per line.
    Json,
}

static FORMAT: OnceLock<Format> = OnceLock::new();

/// The progress bar on screen, if any.
static BAR: Mutex<Option<indicatif::ProgressBar>> = Mutex::new(None);

/// Lines written to stderr go above `bar` (cleared, the line written, drawn again) until
/// the guard is dropped.
pub fn show_bar(bar: &indicatif::ProgressBar) -> BarShown {
    *BAR.lock().unwrap_or_else(|e| e.into_inner()) = Some(bar.clone());
    BarShown(())
}

/// While it lives, stderr's lines go above the bar given to [`show_bar`].
#[derive(Debug)]
pub struct BarShown(());

impl Drop for BarShown {
    fn drop(&mut self) {
        *BAR.lock().unwrap_or_else(|e| e.into_inner()) = None;
    }
}

/// Runs `write` with the bar, if one shows, out of the way.
fn above_bar<R>(write: impl FnOnce() -> R) -> R {
    let bar = BAR.lock().unwrap_or_else(|e| e.into_inner()).clone();
    match bar {
        Some(bar) => bar.suspend(write),
        None => write(),
    }
}

/// The process's stderr for `tracing`'s lines: above the progress bar when one shows.
#[derive(Debug, Default, Clone, Copy)]
pub struct LogWriter;

impl Write for LogWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        above_bar(|| io::stderr().write(buf))
    }

    fn flush(&mut self) -> io::Result<()> {
        io::stderr().flush()
    }
}

/// Sets the format for the process (once, from `main`; later calls change nothing).
pub fn init(format: Format) {
    let _ = FORMAT.set(format);
}

/// The format in force: [`Format::Text`] unless [`init`] said otherwise.
pub fn format() -> Format {
    FORMAT.get().copied().unwrap_or(Format::Text)
}

/// Whether stderr is JSON lines.
pub fn is_json() -> bool {
    format() == Format::Json
}

/// The format `argv` and the environment ask for, before (or without) a full parse: for
/// the errors that come before one (`--log-format json`, `--log-format=json`, or
/// `NL_IMPORT_LOG_FORMAT=json`; the last flag wins, as in clap).
pub fn format_from_args(argv: &[std::ffi::OsString]) -> Format {
    let mut value = std::env::var("NL_IMPORT_LOG_FORMAT").ok();
    let mut args = argv.iter().skip(1).map(|a| a.to_string_lossy());
    while let Some(arg) = args.next() {
        if arg == "--" {
            break;
        }
        if arg == "--log-format" {
            value = args.next().map(|v| v.into_owned());
        } else if let Some(v) = arg.strip_prefix("--log-format=") {
            value = Some(v.to_owned());
        }
    }
    match value.as_deref() {
        Some("json") => Format::Json,
        _ => Format::Text,
    }
}

/// Whether stderr may carry ANSI colour codes: it is a terminal, and `NO_COLOR` is unset
/// or empty (<https://no-color.org>).
pub fn colour() -> bool {
    io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
}

/// How much an event matters (the names `tracing`'s JSON lines use).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum Level {
    /// The run failed.
    Error,
    /// Something a person should look at.
    Warn,
    /// What happens, for the record.
    Info,
}

/// One thing said on stderr: a human line (or lines), and in JSON mode an object with the
/// same message and the figures behind it.
#[derive(Debug, Clone)]
pub struct Event {
    level: Level,
    kind: &'static str,
    message: String,
    /// What a person reads instead of `message`, when they differ (a table).
    text: Option<String>,
    fields: Map<String, Value>,
}

impl Event {
    /// An event of `kind` (`progress`, `notice`, `rejects`, …) saying `message`.
    pub fn new(level: Level, kind: &'static str, message: impl Into<String>) -> Event {
        Event {
            level,
            kind,
            message: message.into(),
            text: None,
            fields: Map::new(),
        }
    }

    /// An [`Level::Info`] event.
    pub fn info(kind: &'static str, message: impl Into<String>) -> Event {
        Event::new(Level::Info, kind, message)
    }

    /// A [`Level::Warn`] event.
    pub fn warn(kind: &'static str, message: impl Into<String>) -> Event {
        Event::new(Level::Warn, kind, message)
    }

    /// An [`Level::Error`] event.
    pub fn error(kind: &'static str, message: impl Into<String>) -> Event {
        Event::new(Level::Error, kind, message)
    }

    /// Adds a figure (JSON mode only; the text is the message alone).
    pub fn with(mut self, key: &str, value: impl Serialize) -> Event {
        let value = serde_json::to_value(value).unwrap_or(Value::Null);
        self.fields.insert(key.to_owned(), value);
        self
    }

    /// Shows `text` in text mode instead of the message (which stays the JSON line's), for
    /// an event whose figures are a table a person reads as such.
    pub fn with_text(mut self, text: impl Into<String>) -> Event {
        self.text = Some(text.into());
        self
    }

    /// The message as a person reads it.
    pub fn message(&self) -> &str {
        self.text.as_deref().unwrap_or(&self.message)
    }

    /// The event as one line of JSON (no line break): `timestamp`, `level`, `event`,
    /// `message` (without the `nl-import: ` a terminal line starts with), then the figures.
    pub fn json_line(&self) -> String {
        let mut object = Map::new();
        object.insert(
            "timestamp".into(),
            humantime::format_rfc3339_millis(SystemTime::now())
                .to_string()
                .into(),
        );
        object.insert(
            "level".into(),
            serde_json::to_value(self.level).unwrap_or(Value::Null),
        );
        object.insert("event".into(), self.kind.into());
        let message = self.message.trim_end_matches('\n');
        let message = message.strip_prefix("nl-import: ").unwrap_or(message);
        object.insert("message".into(), message.into());
        for (key, value) in &self.fields {
            object.entry(key.clone()).or_insert_with(|| value.clone());
        }
        Value::Object(object).to_string()
    }

    /// Writes the event to `out` in the process's [`format()`], as one write.
    pub fn write_to(&self, out: &mut dyn Write) -> io::Result<()> {
        let mut line = match format() {
            Format::Json => self.json_line(),
            Format::Text if self.message().is_empty() => return Ok(()),
            Format::Text => self.message().to_owned(),
        };
        if !line.ends_with('\n') {
            line.push('\n');
        }
        out.write_all(line.as_bytes())
    }

    /// Writes the event to the process's stderr (for tasks that hold no writer); a stderr
    /// that cannot be written to is ignored, as `eprintln!` cannot be.
    pub fn emit(&self) {
        let _ = above_bar(|| self.write_to(&mut io::stderr().lock()));
    }
}

/// The table of rejected rows by class: the table in text mode; in JSON mode one event
/// with the figures (`rows_rejected`, and `classes`: each class's `class`, `rows`,
/// `problems`, `example`, `fix`, the `columns` involved and the first `lines`).
pub fn rejects(counts: &crate::report::ClassCounts) -> Event {
    let rows = counts.total_rows();
    let problems: u64 = counts
        .problems_by_class()
        .values()
        .filter_map(Value::as_u64)
        .sum();
    Event::new(
        Level::Warn,
        "rejects",
        format!("{rows} rows rejected ({problems} problems); see the report"),
    )
    .with_text(counts.table())
    .with("rows_rejected", rows)
    .with("problems", problems)
    .with("classes", counts.summary().classes)
}

/// The process's stderr as the commands write to it: as it is in text mode; in JSON mode,
/// each line that is not a JSON object already becomes a `text` event, so that nothing a
/// stage writes can break the stream. Blank lines are dropped in JSON mode.
#[derive(Debug, Default)]
pub struct Stderr {
    pending: Vec<u8>,
}

impl Stderr {
    /// The process's stderr.
    pub fn new() -> Stderr {
        Stderr::default()
    }

    fn line(line: &[u8]) -> io::Result<()> {
        let text = String::from_utf8_lossy(line);
        let text = text.trim_end_matches('\r');
        if text.trim().is_empty() {
            return Ok(());
        }
        let mut err = io::stderr().lock();
        if is_json_object(text) {
            err.write_all(format!("{text}\n").as_bytes())
        } else {
            Event::info("text", text).write_to(&mut err)
        }
    }
}

/// Whether `text` is one JSON object (what an [`Event`] writes in JSON mode).
fn is_json_object(text: &str) -> bool {
    text.trim_start().starts_with('{')
        && serde_json::from_str::<serde::de::IgnoredAny>(text).is_ok()
}

impl Write for Stderr {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if !is_json() {
            return above_bar(|| io::stderr().write(buf));
        }
        self.pending.extend_from_slice(buf);
        while let Some(end) = self.pending.iter().position(|&b| b == b'\n') {
            let line: Vec<u8> = self.pending.drain(..=end).collect();
            Stderr::line(&line[..end])?;
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        if !self.pending.is_empty() {
            let rest = std::mem::take(&mut self.pending);
            Stderr::line(&rest)?;
        }
        io::stderr().flush()
    }
}

impl Drop for Stderr {
    fn drop(&mut self) {
        let _ = self.flush();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_event_is_one_json_object_with_its_figures() {
        let event = Event::warn("progress", "nl-import: half done\n")
            .with("percent", 50.0)
            .with("leads_sent", 1200u64)
            .with("level", "shadowed");
        let line = event.json_line();
        assert!(!line.contains('\n'));
        let v: Value = serde_json::from_str(&line).unwrap();
        assert_eq!(v["level"], "WARN");
        assert_eq!(v["event"], "progress");
        assert_eq!(v["message"], "half done");
        assert_eq!(v["percent"], 50.0);
        assert_eq!(v["leads_sent"], 1200);
        let keys: Vec<&str> = v.as_object().unwrap().keys().map(String::as_str).collect();
        assert_eq!(
            keys,
            [
                "timestamp",
                "level",
                "event",
                "message",
                "percent",
                "leads_sent"
            ]
        );
        humantime::parse_rfc3339(v["timestamp"].as_str().unwrap()).unwrap();
    }

    #[test]
    fn a_multi_line_message_stays_one_json_line() {
        let line = Event::info("mapping", "a\nb\n").json_line();
        let v: Value = serde_json::from_str(&line).unwrap();
        assert_eq!(v["message"], "a\nb");
    }

    #[test]
    fn json_objects_are_told_from_text() {
        assert!(is_json_object(r#"{"a":1}"#));
        assert!(!is_json_object("{not json"));
        assert!(!is_json_object("[1]"));
        assert!(!is_json_object("mapping: no preset"));
    }

    #[test]
    fn the_format_is_read_from_argv_before_a_parse() {
        let argv = |args: &[&str]| -> Vec<std::ffi::OsString> {
            std::iter::once("nl-import")
                .chain(args.iter().copied())
                .map(Into::into)
                .collect()
        };
        // Without NL_IMPORT_LOG_FORMAT in the environment, text unless a flag says json.
        if std::env::var_os("NL_IMPORT_LOG_FORMAT").is_none() {
            assert_eq!(format_from_args(&argv(&["check", "x"])), Format::Text);
            assert_eq!(
                format_from_args(&argv(&["--", "--log-format=json"])),
                Format::Text
            );
        }
        assert_eq!(
            format_from_args(&argv(&["--log-format", "json", "check", "--bad"])),
            Format::Json
        );
        assert_eq!(
            format_from_args(&argv(&["check", "--log-format=json"])),
            Format::Json
        );
        assert_eq!(
            format_from_args(&argv(&["--log-format=json", "--log-format", "text"])),
            Format::Text
        );
    }
}
