//! Command-line surface: clap types, and the value parsers that make a bad flag value a
//! usage error (exit 2, clap's message) before anything runs. No I/O (see `config` for
//! what needs the file system, and `config_file` for defaults from a file).

use std::path::PathBuf;

use clap::builder::RangedU64ValueParser;
use clap::{Args, Parser, Subcommand};

use crate::config::RejectBudget;
use crate::source::{EncodingChoice, parse_delimiter};

/// Import leads from CSV files into Naturalead: streaming, paced to the API's quota,
/// resumable, with a per-row failure report.
#[derive(Debug, Parser)]
#[command(name = "nl-import", version, about, long_about = None)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
    /// More log output on stderr (-v info, -vv debug).
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
    /// No progress, notices or tables on stderr: only errors, and the summary when stdout
    /// carries the leads (`--emit-valid -`).
    #[arg(short, long, global = true)]
    pub quiet: bool,
    /// stderr as lines of text, or as one JSON object per line (for log shippers): progress,
    /// notices, warnings, the table of rejected rows and errors alike.
    #[arg(long, global = true, value_name = "FORMAT", default_value = "text",
          env = "NL_IMPORT_LOG_FORMAT", value_parser = ["text", "json"])]
    pub log_format: String,
    /// Defaults for flags from this TOML file [default: nl-import.toml in the working
    /// directory, if there is one]. Flags and environment variables override it.
    #[arg(long, global = true, value_name = "FILE", env = "NL_IMPORT_CONFIG")]
    pub config: Option<PathBuf>,
    /// Print the settings the command would use, each with where it comes from (flag,
    /// environment, config file, default), and exit.
    #[arg(long, global = true)]
    pub print_config: bool,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Import a CSV file into Naturalead (resumes an interrupted run of the same file).
    Import(ImportArgs),
    /// Read, map and validate a CSV file; write the same reports an import would. No network.
    Check(CheckArgs),
    /// List the runs in the state file: progress, counts, whether they can be resumed.
    Status(StatusArgs),
    /// Run the local Naturalead stand-in server (prints its URL and a test key; Ctrl-C stops).
    Sandbox(naturalead_sandbox::cli::SandboxArgs),
    /// Print a shell completion script on stdout.
    Completions(CompletionsArgs),
    /// Print the manual page (roff) on stdout: `nl-import man | man -l -`.
    Man(ManArgs),
}

/// `nl-import completions`.
#[derive(Debug, Args)]
pub struct CompletionsArgs {
    /// The shell, e.g. `nl-import completions bash > ~/.local/share/bash-completion/completions/nl-import`.
    #[arg(value_enum)]
    pub shell: clap_complete::Shell,
}

/// `nl-import man`.
#[derive(Debug, Args)]
pub struct ManArgs {
    /// A subcommand's page (`nl-import-import(1)`) instead of the main one.
    #[arg(value_parser = ["import", "check", "status", "sandbox", "completions", "man"])]
    pub command: Option<String>,
}

/// Flags shared by every command that reads a CSV file.
#[derive(Debug, Args)]
pub struct InputArgs {
    /// The CSV file to read.
    pub csv: PathBuf,
    /// TOML file mapping columns to lead fields (see samples/mapping.toml).
    #[arg(long, value_name = "FILE")]
    pub mapping: Option<PathBuf>,
    /// Region (ISO 3166 alpha-2) for phone numbers written without a country code.
    #[arg(
        long,
        value_name = "CC",
        default_value = "US",
        env = "NL_IMPORT_DEFAULT_REGION",
        value_parser = region
    )]
    pub default_region: String,
    /// Text encoding: auto (BOM, else UTF-8, or the single-byte code page a detector finds
    /// in the file's start), utf-8, utf-16le, utf-16be, windows-1252 (latin-1),
    /// windows-1250 … windows-1258, windows-874, iso-8859-2, iso-8859-15.
    #[arg(long, value_name = "NAME", default_value = "auto")]
    pub encoding: EncodingChoice,
    /// Field delimiter (one character, or `tab`); sniffed from the header line when absent.
    #[arg(long, value_name = "CHAR", value_parser = parse_delimiter)]
    pub delimiter: Option<u8>,
    /// The sheet of a workbook (.xlsx, .xlsm, .xlsb, .xls, .ods) to read [default: the first
    /// visible worksheet].
    #[arg(long, value_name = "NAME")]
    pub sheet: Option<String>,
    /// Where to write `rejected.csv` and `summary.json` (default
    /// `.nl-import/reports/<file stem>`).
    #[arg(
        long,
        value_name = "DIR",
        help = "Where to write rejected.csv and summary.json [default: .nl-import/reports/<file stem>]"
    )]
    pub report_dir: Option<PathBuf>,
    /// Print the machine-readable summary (JSON) on stdout instead of the human one.
    #[arg(long)]
    pub json: bool,
    /// Print the column → field table that would be used, and exit.
    #[arg(long)]
    pub print_mapping: bool,
    /// CRM preset to apply (hubspot, salesforce-report, salesforce-export, pipedrive, zoho,
    /// google-contacts, outlook, mailchimp), or `none` [default: recognised from the headers].
    #[arg(long, value_name = "NAME", value_parser = crate::mapping::preset::parse_name)]
    pub preset: Option<String>,
    /// A status value nothing maps: `omit` imports the lead without a status, `reject`
    /// rejects the row [default: the mapping file's `unknown_status`, else omit].
    #[arg(long, value_name = "POLICY", value_parser = ["omit", "reject"])]
    pub unknown_status: Option<String>,
    /// Validation threads [default: the number of cores].
    #[arg(long, value_name = "N", value_parser = positive::<usize>)]
    pub threads: Option<usize>,
    /// Write the run's figures to FILE in the Prometheus text format (for node_exporter's
    /// textfile collector), replacing it atomically at the end of the run.
    #[arg(long, value_name = "FILE", value_parser = metrics_path)]
    pub metrics_file: Option<PathBuf>,
}

/// `nl-import check`.
#[derive(Debug, Args)]
pub struct CheckArgs {
    /// Input and mapping flags.
    #[command(flatten)]
    pub input: InputArgs,
    /// Also write, as JSON Lines in input order, the exact lead payloads an import would send
    /// (`-` for stdout; the summary then goes to stderr).
    #[arg(long, value_name = "FILE")]
    pub emit_valid: Option<PathBuf>,
}

/// `nl-import import`.
#[derive(Debug, Args)]
pub struct ImportArgs {
    /// Input and mapping flags.
    #[command(flatten)]
    pub input: InputArgs,
    /// The API's base URL.
    #[arg(
        long,
        value_name = "URL",
        env = "NATURALEAD_API_URL",
        default_value = "https://api.naturalead.ai/api",
        value_parser = base_url
    )]
    pub api_url: String,
    /// Read the API key from this file (otherwise from the NATURALEAD_API_KEY environment
    /// variable). The key is never printed, logged or stored.
    #[arg(long, value_name = "FILE")]
    pub api_key_file: Option<PathBuf>,
    /// Start the local stand-in server on a loopback port and import into it (no key, no
    /// network): a rehearsal.
    #[arg(long, conflicts_with_all = ["api_key_file"])]
    pub sandbox: bool,
    /// The state file that makes runs resumable.
    #[arg(
        long,
        value_name = "FILE",
        env = "NL_IMPORT_STATE",
        default_value = ".nl-import/state.db"
    )]
    pub state: PathBuf,
    /// `source` sent with every batch (e.g. the CRM's name).
    #[arg(long, value_name = "NAME")]
    pub source: Option<String>,
    /// Leads per request (at most 100, the API's limit).
    #[arg(long, value_name = "N", default_value_t = 100,
          value_parser = RangedU64ValueParser::<usize>::new().range(1..=100))]
    pub batch_size: usize,
    /// Requests per rate-limit window (the API allows 50 sync requests a minute per key).
    #[arg(long, value_name = "N", default_value_t = 50,
          value_parser = positive::<u32>)]
    pub rate: u32,
    /// Length of the rate-limit window in seconds (60 for the API; smaller for a scaled
    /// sandbox).
    #[arg(long, value_name = "SECS", default_value_t = 60.0, value_parser = seconds)]
    pub rate_window: f64,
    /// Requests in flight at most, so that latency does not waste quota.
    #[arg(long, value_name = "N", default_value_t = 16, value_parser = positive::<usize>)]
    pub concurrency: usize,
    /// Time limit of one request, in seconds.
    #[arg(long, value_name = "SECS", default_value_t = 60.0, value_parser = seconds)]
    pub timeout: f64,
    /// Attempts per batch before its leads are `gave_up` (resumable).
    #[arg(long, value_name = "N", default_value_t = 8,
          value_parser = positive::<u32>)]
    pub max_attempts: u32,
    /// Ignore an unfinished run of this file in the state file and start over.
    #[arg(long)]
    pub restart: bool,
    /// Allow plain http:// to hosts other than loopback (the key then crosses the network
    /// unencrypted).
    #[arg(long)]
    pub allow_insecure_http: bool,
    /// Also trust the certificates in FILE (PEM), e.g. the CA of a TLS-inspecting proxy.
    #[arg(long, value_name = "FILE")]
    pub ca_cert: Option<PathBuf>,
    /// Send every valid lead, even those whose payload the API already accepted unchanged.
    #[arg(long)]
    pub full: bool,
    /// After a complete run, delete (DELETE /leads/sync) the leads an earlier run of the same
    /// source imported that are no longer in this export.
    #[arg(long)]
    pub delete_missing: bool,
    /// Refuse `--delete-missing` when more than this share of the source's known leads would
    /// go (a truncated export must not wipe an account).
    #[arg(long, value_name = "RATIO", default_value_t = 0.10, value_parser = share)]
    pub max_delete_ratio: f64,
    /// Show what would be sent and deleted, without sending anything or changing the state.
    #[arg(long)]
    pub dry_run: bool,
    /// Stop cleanly (as Ctrl-C does) after this long, e.g. `45m` or `2h`; the next run
    /// continues.
    #[arg(long, value_name = "DURATION", value_parser = humantime::parse_duration)]
    pub max_duration: Option<std::time::Duration>,
    /// Exit with code 4 when more rows than this are rejected: a count, or a percentage of
    /// the rows read such as `5%`.
    #[arg(long, value_name = "N|P%", value_parser = reject_budget)]
    pub max_rejects: Option<RejectBudget>,
    /// How often a progress line is logged when stderr is not a terminal (cron, CI, log
    /// shippers), e.g. `10s` or `1m`.
    #[arg(long, value_name = "DURATION", default_value = "10s", value_parser = interval)]
    pub progress_interval: std::time::Duration,
}

/// `nl-import status`.
#[derive(Debug, Args)]
pub struct StatusArgs {
    /// The state file.
    #[arg(
        long,
        value_name = "FILE",
        env = "NL_IMPORT_STATE",
        default_value = ".nl-import/state.db"
    )]
    pub state: PathBuf,
    /// Print JSON instead of a table.
    #[arg(long)]
    pub json: bool,
}

/// A whole number of at least 1.
fn positive<T: TryFrom<u64>>(s: &str) -> Result<T, String> {
    match s.trim().parse::<u64>() {
        Ok(0) => Err("must be at least 1".to_owned()),
        Ok(n) => T::try_from(n).map_err(|_| "too large".to_owned()),
        Err(_) => Err("not a whole number".to_owned()),
    }
}

/// A region libphonenumber knows (ISO 3166 alpha-2), as given.
fn region(s: &str) -> Result<String, String> {
    crate::validate::parse_region(s)
        .map(|_| s.to_owned())
        .ok_or_else(|| {
            "not a region libphonenumber knows: use a two-letter ISO 3166 code such as US, GB or DE"
                .to_owned()
        })
}

/// A URL whose shape can carry the API (the policy checks, which depend on other flags,
/// are `config::check_url`'s). clap's message repeats the value, so one that may carry
/// credentials (`user:secret@`) is left to `check_url`, which refuses it without echoing.
fn base_url(s: &str) -> Result<String, String> {
    if s.contains('@') {
        return Ok(s.to_owned());
    }
    match url::Url::parse(s) {
        Ok(u) if matches!(u.scheme(), "https" | "http") && u.has_host() => Ok(s.to_owned()),
        Ok(u) if matches!(u.scheme(), "https" | "http") => Err("the URL has no host".to_owned()),
        Ok(u) => Err(format!(
            "unsupported scheme `{}` (use https://)",
            u.scheme()
        )),
        Err(e) => Err(format!("not a URL ({e})")),
    }
}

/// A positive, finite number of seconds.
fn seconds(s: &str) -> Result<f64, String> {
    match s.trim().parse::<f64>() {
        Ok(v) if v.is_finite() && v > 0.0 && v <= 1e9 => Ok(v),
        Ok(_) => Err("give a positive number of seconds".to_owned()),
        Err(_) => Err("not a number of seconds".to_owned()),
    }
}

/// A duration of at least 100 ms, as `--progress-interval` takes it.
/// A file's name for `--metrics-file`: not `-` (the collector reads a file, and stdout is
/// the leads' or the summary's), not empty.
fn metrics_path(s: &str) -> Result<PathBuf, String> {
    match s.trim() {
        "" => Err("a file name is needed".to_owned()),
        "-" => Err(
            "`-` is not a file: the metrics are written to a file that node_exporter's textfile collector reads (e.g. /var/lib/node_exporter/nl-import.prom)"
                .to_owned(),
        ),
        _ => Ok(PathBuf::from(s)),
    }
}

fn interval(s: &str) -> Result<std::time::Duration, String> {
    match humantime::parse_duration(s.trim()) {
        Ok(d) if d >= std::time::Duration::from_millis(100) => Ok(d),
        Ok(_) => Err("give at least 100ms".to_owned()),
        Err(e) => Err(format!("not a duration such as 10s or 1m ({e})")),
    }
}

/// A share between 0 and 1.
fn share(s: &str) -> Result<f64, String> {
    match s.trim().parse::<f64>() {
        Ok(v) if (0.0..=1.0).contains(&v) => Ok(v),
        _ => Err("a share between 0 and 1 (0.1 = 10%)".to_owned()),
    }
}

/// `--max-rejects`: `N` or `P%`.
fn reject_budget(s: &str) -> Result<RejectBudget, String> {
    RejectBudget::parse(s)
        .ok_or_else(|| "give a number of rows, or a percentage such as 5%".to_owned())
}

/// A bad flag value or combination found after parsing (exit 2, like clap's own errors):
/// what `main` reports as a usage error rather than a fatal one.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct UsageError(pub String);

/// `url` with whatever precedes an `@` in it (user and password) replaced by `***`, for
/// messages.
pub fn redact_userinfo(url: &str) -> String {
    match url.rfind('@') {
        Some(at) => {
            let start = url.find("://").map_or(0, |i| i + 3).min(at);
            format!("{}***{}", &url[..start], &url[at..])
        }
        None => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn the_command_line_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn credentials_are_not_shown() {
        assert_eq!(redact_userinfo("ftp://u:secret@h/api"), "ftp://***@h/api");
        assert_eq!(redact_userinfo("u:secret@h/api"), "***@h/api");
        assert_eq!(redact_userinfo("https://h/api"), "https://h/api");
    }

    #[test]
    fn value_checks() {
        assert!(region("GB").is_ok() && region("XX").is_err() && region("GBR").is_err());
        assert!(base_url("https://api.example.com/api").is_ok());
        assert!(base_url("http://127.0.0.1:1/api").is_ok());
        for bad in ["ftp://x/api", "no url", "https://", "mailto:ab"] {
            assert!(base_url(bad).is_err(), "{bad}");
        }
        assert_eq!(seconds("1.5"), Ok(1.5));
        for bad in ["0", "-1", "nan", "inf", "x", "1e300"] {
            assert!(seconds(bad).is_err(), "{bad}");
        }
        assert_eq!(positive::<u32>("7"), Ok(7));
        for bad in ["0", "-1", "1.5", "x", "99999999999"] {
            assert!(positive::<u32>(bad).is_err(), "{bad}");
        }
        assert_eq!(interval("1m"), Ok(std::time::Duration::from_secs(60)));
        assert!(interval("10ms").is_err() && interval("ten").is_err());
        assert_eq!(share("0.25"), Ok(0.25));
        assert!(share("1.5").is_err() && share("-0.1").is_err() && share("10%").is_err());
        assert_eq!(reject_budget("5%"), Ok(RejectBudget::Share(0.05)));
        assert!(reject_budget("5x").is_err());
    }
}
