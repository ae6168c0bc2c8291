//! Command-line surface: clap types only, flag-shaped, no I/O (see `config` for validation).

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

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
    /// Only errors on stderr; no tables.
    #[arg(short, long, global = true)]
    pub quiet: bool,
    /// Log lines on stderr as text or as JSON objects (for log shippers).
    #[arg(long, global = true, value_name = "FORMAT", default_value = "text", value_parser = ["text", "json"])]
    pub log_format: String,
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
        env = "NL_IMPORT_DEFAULT_REGION"
    )]
    pub default_region: String,
    /// Text encoding: auto (BOM, else UTF-8), utf-8, utf-16le, utf-16be, windows-1252 (latin-1).
    #[arg(long, value_name = "NAME", default_value = "auto")]
    pub encoding: EncodingChoice,
    /// Field delimiter (one character, or `tab`); sniffed from the header line when absent.
    #[arg(long, value_name = "CHAR", value_parser = parse_delimiter)]
    pub delimiter: Option<u8>,
    /// Where to write rejected.csv and summary.json [default: .nl-import/reports/<file stem>].
    #[arg(long, value_name = "DIR")]
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
    #[arg(long, value_name = "N")]
    pub threads: Option<usize>,
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
        default_value = "https://api.naturalead.ai/api"
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
    #[arg(long, value_name = "N", default_value_t = 100)]
    pub batch_size: usize,
    /// Requests per rate-limit window (the API allows 50 sync requests a minute per key).
    #[arg(long, value_name = "N", default_value_t = 50)]
    pub rate: u32,
    /// Length of the rate-limit window in seconds (60 for the API; smaller for a scaled
    /// sandbox).
    #[arg(long, value_name = "SECS", default_value_t = 60.0)]
    pub rate_window: f64,
    /// Requests in flight at most, so that latency does not waste quota.
    #[arg(long, value_name = "N", default_value_t = 16)]
    pub concurrency: usize,
    /// Time limit of one request, in seconds.
    #[arg(long, value_name = "SECS", default_value_t = 60.0)]
    pub timeout: f64,
    /// Attempts per batch before its leads are `gave_up` (resumable).
    #[arg(long, value_name = "N", default_value_t = 8)]
    pub max_attempts: u32,
    /// Ignore an unfinished run of this file in the state file and start over.
    #[arg(long)]
    pub restart: bool,
    /// Allow plain http:// to hosts other than loopback (the key then crosses the network
    /// unencrypted).
    #[arg(long)]
    pub allow_insecure_http: bool,
    /// Send every valid lead, even those whose payload the API already accepted unchanged.
    #[arg(long)]
    pub full: bool,
    /// After a complete run, delete (DELETE /leads/sync) the leads an earlier run of the same
    /// source imported that are no longer in this export.
    #[arg(long)]
    pub delete_missing: bool,
    /// Refuse `--delete-missing` when more than this share of the source's known leads would
    /// go (a truncated export must not wipe an account).
    #[arg(long, value_name = "RATIO", default_value_t = 0.10)]
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
    #[arg(long, value_name = "N|P%")]
    pub max_rejects: Option<String>,
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
