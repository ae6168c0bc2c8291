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
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Read, map and validate a CSV file; write the same reports an import would. No network.
    Check(CheckArgs),
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
