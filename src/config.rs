//! Configuration: command-line flags turned into validated values, every problem reported
//! before any row is read or any request is sent.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use rlibphonenumber::Region;

use crate::cli::{CheckArgs, InputArgs};
use crate::mapping::{Mapping, MappingFile};
use crate::source::{Source, SourceOptions};
use crate::validate::{Validator, parse_region};

/// Everything needed to read, map and validate an input file.
#[derive(Debug, Clone)]
pub struct InputConfig {
    /// The CSV file.
    pub csv: PathBuf,
    /// Encoding and delimiter.
    pub source: SourceOptions,
    /// The mapping file, parsed and checked, with its path.
    pub mapping_file: Option<(PathBuf, MappingFile)>,
    /// Region for national phone numbers.
    pub default_region: Region,
    /// Where reports go.
    pub report_dir: PathBuf,
    /// JSON summary on stdout.
    pub json: bool,
    /// Print the mapping and exit.
    pub print_mapping: bool,
    /// Validation threads.
    pub threads: usize,
}

impl InputConfig {
    /// Validates the input flags.
    pub fn from_args(args: &InputArgs) -> Result<InputConfig> {
        let default_region = parse_region(&args.default_region).with_context(|| {
            format!(
                "`--default-region {}` is not a region libphonenumber knows: use a two-letter ISO 3166 code such as US, GB or DE",
                args.default_region
            )
        })?;
        let mapping_file = match &args.mapping {
            Some(path) => Some((path.clone(), MappingFile::load(path)?)),
            None => None,
        };
        if args.threads == Some(0) {
            bail!("`--threads` must be at least 1");
        }
        let threads = args.threads.unwrap_or_else(|| {
            std::thread::available_parallelism().map_or(2, std::num::NonZero::get)
        });
        let report_dir = args
            .report_dir
            .clone()
            .unwrap_or_else(|| default_report_dir(&args.csv));
        Ok(InputConfig {
            csv: args.csv.clone(),
            source: SourceOptions {
                encoding: args.encoding,
                delimiter: args.delimiter,
            },
            mapping_file,
            default_region,
            report_dir,
            json: args.json,
            print_mapping: args.print_mapping,
            threads,
        })
    }

    /// Opens the input and resolves the mapping against its header: the checks that need
    /// the file, still before any row is validated.
    pub fn open(&self) -> Result<(Source, Mapping, Validator)> {
        let source = Source::open(&self.csv, self.source)?;
        let mapping = Mapping::resolve(
            source.headers(),
            self.mapping_file.as_ref().map(|(p, m)| (p.as_path(), m)),
            &self.csv,
        )?;
        let validator = Validator::new(&mapping, self.default_region);
        Ok((source, mapping, validator))
    }
}

/// `.nl-import/reports/<file stem>` in the working directory.
fn default_report_dir(csv: &Path) -> PathBuf {
    let stem = csv
        .file_stem()
        .map_or_else(|| "input".into(), |s| s.to_string_lossy().into_owned());
    PathBuf::from(".nl-import").join("reports").join(stem)
}

/// `nl-import check`, validated.
#[derive(Debug, Clone)]
pub struct CheckConfig {
    /// The input.
    pub input: InputConfig,
    /// Where to write valid lead payloads as JSON Lines.
    pub emit_valid: Option<PathBuf>,
    /// No stderr table.
    pub quiet: bool,
}

impl CheckConfig {
    /// Validates the `check` flags.
    pub fn from_args(args: &CheckArgs, quiet: bool) -> Result<CheckConfig> {
        Ok(CheckConfig {
            input: InputConfig::from_args(&args.input)?,
            emit_valid: args.emit_valid.clone(),
            quiet,
        })
    }
}
