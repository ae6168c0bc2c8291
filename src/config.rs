//! Configuration: command-line flags turned into validated values, every problem reported
//! before any row is read or any request is sent.

use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, Result, bail};
use rlibphonenumber::Region;

use crate::cli::{CheckArgs, ImportArgs, InputArgs, UsageError};
use crate::mapping::{Mapping, MappingFile, MappingOptions};
use crate::pacing::Pace;
use crate::retry::RetryPolicy;
use crate::source::{Source, SourceOptions};
use crate::upload::ApiKey;
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
    /// `--preset` and `--unknown-status`.
    pub mapping_options: MappingOptions,
    /// Validation threads.
    pub threads: usize,
    /// `--metrics-file`.
    pub metrics_file: Option<PathBuf>,
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
        let mapping_options = mapping_options(args)?;
        let threads = args.threads.unwrap_or_else(|| {
            std::thread::available_parallelism().map_or(2, std::num::NonZero::get)
        });
        let report_dir = args
            .report_dir
            .clone()
            .unwrap_or_else(|| default_report_dir(&args.csv));
        refuse_output_over_input(&args.csv, REPORT_FILES.iter().map(|f| report_dir.join(f)))?;
        Ok(InputConfig {
            csv: args.csv.clone(),
            source: SourceOptions {
                encoding: args.encoding,
                delimiter: args.delimiter,
                sheet: args.sheet.clone(),
            },
            mapping_file,
            default_region,
            report_dir,
            json: args.json,
            print_mapping: args.print_mapping,
            mapping_options,
            threads,
            metrics_file: args.metrics_file.clone(),
        })
    }

    /// Opens the input and resolves the mapping against its header: the checks that need
    /// the file, still before any row is validated.
    pub fn open(&self) -> Result<(Source, Mapping, Validator)> {
        let source = Source::open(&self.csv, &self.source)?;
        let mapping = Mapping::resolve_with(
            source.headers(),
            self.mapping_file.as_ref().map(|(p, m)| (p.as_path(), m)),
            &self.csv,
            &self.mapping_options,
        )?;
        let validator = Validator::new(&mapping, self.default_region);
        Ok((source, mapping, validator))
    }
}

impl InputConfig {
    /// Creates the report directory (owner-only) and starts `rejected.csv` in it, for an
    /// input with `headers` read through `mapping`.
    pub fn open_report(
        &self,
        headers: &[String],
        mapping: &crate::mapping::Mapping,
    ) -> Result<crate::report::ReportWriter> {
        let dir = &self.report_dir;
        crate::fsutil::create_private_dir(dir)
            .with_context(|| format!("cannot create report directory `{}`", dir.display()))?;
        Ok(crate::report::ReportWriter::create(dir, headers)
            .with_context(|| format!("cannot write in `{}`", dir.display()))?
            .with_mapping(mapping))
    }
}

/// `--preset` (checked against the presets there are) and `--unknown-status`.
fn mapping_options(args: &InputArgs) -> Result<MappingOptions> {
    if let Some(name) = &args.preset
        && !name.trim().eq_ignore_ascii_case("none")
    {
        crate::mapping::preset::by_name(name)?;
    }
    Ok(MappingOptions {
        preset: args.preset.clone(),
        unknown_status: args
            .unknown_status
            .as_deref()
            .and_then(crate::mapping::status::UnknownStatus::parse),
    })
}

/// The files a run writes in its report directory.
pub const REPORT_FILES: [&str; 5] = [
    "rejected.csv",
    "rejected.xlsx",
    "summary.json",
    "deleted.csv",
    "deleted-preview.csv",
];

/// Refuses a run whose `outputs` (its reports, its `--emit-valid` file) would replace its
/// own input: a report fixed by hand and checked where it lies would be overwritten by the
/// next report, and the fixes lost. A usage error, before anything is read or sent.
pub fn refuse_output_over_input(
    input: &Path,
    outputs: impl IntoIterator<Item = PathBuf>,
) -> Result<()> {
    let Ok(input_real) = std::fs::canonicalize(input) else {
        // A missing input is reported as such when it is opened.
        return Ok(());
    };
    for output in outputs {
        if is_same_file(&input_real, &output) {
            return Err(UsageError(format!(
                "`{}` is the input, and this run would write `{}` over it, losing any fixes made in it: copy it to another name first (e.g. round-2.csv), or pass --report-dir DIR",
                input.display(),
                output.display()
            ))
            .into());
        }
    }
    Ok(())
}

/// Whether `path` names the file `real` (a canonical path): by its canonical path, or
/// (Unix) by device and inode, so that a hard link counts too.
fn is_same_file(real: &Path, path: &Path) -> bool {
    let Ok(other) = std::fs::canonicalize(path) else {
        return false;
    };
    if other == real {
        return true;
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        if let (Ok(a), Ok(b)) = (std::fs::metadata(real), std::fs::metadata(&other)) {
            return a.dev() == b.dev() && a.ino() == b.ino();
        }
    }
    false
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
        let input = InputConfig::from_args(&args.input)?;
        // The report files were checked with the input; `-` is stdout.
        let emit = args.emit_valid.as_ref().filter(|p| p.as_os_str() != "-");
        refuse_output_over_input(&input.csv, emit.cloned())?;
        Ok(CheckConfig {
            input,
            emit_valid: args.emit_valid.clone(),
            quiet,
        })
    }
}

/// Where an import sends its leads.
#[derive(Debug, Clone)]
pub enum Target {
    /// The in-process stand-in server (`--sandbox`).
    Sandbox,
    /// A real (or separately started) API.
    Api {
        /// Base URL, `…/api`.
        base_url: String,
        /// The key.
        key: ApiKey,
    },
}

/// `nl-import import`, validated.
#[derive(Debug, Clone)]
pub struct ImportConfig {
    /// The input.
    pub input: InputConfig,
    /// Where the leads go.
    pub target: Target,
    /// How the API is reached: proxy and trusted certificates.
    pub network: crate::http::Network,
    /// The state file.
    pub state: PathBuf,
    /// `source` sent with each batch.
    pub source: Option<String>,
    /// Leads per request.
    pub batch_size: usize,
    /// Pace of the sync tier.
    pub pace: Pace,
    /// Requests in flight at most.
    pub concurrency: usize,
    /// Time limit of one request.
    pub timeout: Duration,
    /// Retries.
    pub policy: RetryPolicy,
    /// Start over instead of resuming.
    pub restart: bool,
    /// No stderr table or progress.
    pub quiet: bool,
    /// Send unchanged leads too.
    pub full: bool,
    /// Delete leads missing from the export.
    pub delete_missing: bool,
    /// Largest share of known leads `--delete-missing` may delete.
    pub max_delete_ratio: f64,
    /// Send nothing; report what would be sent and deleted.
    pub dry_run: bool,
    /// Stop cleanly after this long.
    pub max_duration: Option<Duration>,
    /// Rejected rows allowed before exit code 4.
    pub max_rejects: Option<RejectBudget>,
    /// How often progress is logged when stderr is not a terminal.
    pub progress_interval: Duration,
}

/// Every setting that shapes the payloads sent: serialised, it is a run's configuration
/// (`runs.config` in the state file), and a run resumes only under the same. Built by
/// [`ImportConfig::payload_settings`], which names every field of the configuration and of
/// the resolved mapping, so a new flag does not compile until it is either put here or
/// said not to shape payloads. (Fields, their order and their forms are those schema-1
/// nl-import wrote, so its runs resume; a field added later should be left out of the
/// JSON at its default value, `skip_serializing_if`, for the same reason.)
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct PayloadSettings {
    /// Each column and the lead field it fills, as `header -> Target`.
    pub mapping: Vec<String>,
    /// The tag separator of the mapping file.
    pub tag_separator: Option<String>,
    /// `--default-region`.
    pub default_region: String,
    /// The encoding the file is read with (after detection).
    pub encoding: &'static str,
    /// The delimiter (after sniffing; none for a workbook).
    pub delimiter: Option<String>,
    /// `--source`, sent with every batch.
    pub source: Option<String>,
    /// Where the leads go (`sandbox` for `--sandbox`).
    pub api: String,
    /// The sheet of a workbook.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sheet: Option<String>,
    /// What of the mapping shapes payloads beyond its column list (presets, phone order,
    /// value tables, the unknown-status policy): the mapping's own account of it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mapping_rules: Option<serde_json::Value>,
}

impl PayloadSettings {
    /// The JSON text stored with a run, and its hash (xxh3-128, hex), which decides.
    pub fn fingerprint(&self) -> (String, String) {
        let text = serde_json::to_string(self).expect("settings always serialise");
        let hash = format!("{:032x}", xxhash_rust::xxh3::xxh3_128(text.as_bytes()));
        (text, hash)
    }
}

/// `--max-rejects`: a count or a share of the rows read.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum RejectBudget {
    /// At most this many rows.
    Rows(u64),
    /// At most this share (0 to 1) of the rows read.
    Share(f64),
}

impl RejectBudget {
    /// Parses `N` or `P%`.
    pub fn parse(s: &str) -> Option<RejectBudget> {
        let s = s.trim();
        match s.strip_suffix('%') {
            Some(p) => p
                .trim()
                .parse::<f64>()
                .ok()
                .filter(|p| (0.0..=100.0).contains(p))
                .map(|p| RejectBudget::Share(p / 100.0)),
            None => s.parse().ok().map(RejectBudget::Rows),
        }
    }

    /// Whether `rejected` of `read` rows exceeds the budget.
    pub fn exceeded(self, rejected: u64, read: u64) -> bool {
        match self {
            RejectBudget::Rows(n) => rejected > n,
            RejectBudget::Share(p) => rejected as f64 > p * read as f64,
        }
    }
}

impl ImportConfig {
    /// Validates the `import` flags and reads the key; nothing is sent yet.
    pub fn from_args(args: &ImportArgs, quiet: bool) -> Result<ImportConfig> {
        // Single values were checked by clap's value parsers (see `cli`); combinations here.
        let input = InputConfig::from_args(&args.input)?;
        if args.delete_missing && args.sandbox {
            return Err(UsageError(
                "`--delete-missing` needs a server that outlives the run; the in-process --sandbox does not".to_owned()
            ).into());
        }
        let (target, network) = if args.sandbox {
            (Target::Sandbox, crate::http::Network::direct())
        } else {
            let base_url = check_url(&args.api_url, args.allow_insecure_http).map_err(|e| {
                let shown = crate::cli::redact_userinfo(&args.api_url);
                UsageError(format!("{e:#}").replace(&args.api_url, &shown))
            })?;
            let network = crate::http::Network::from_env(&base_url, args.ca_cert.as_deref())?;
            let key = read_key(args.api_key_file.as_deref())?;
            (Target::Api { base_url, key }, network)
        };
        Ok(ImportConfig {
            input,
            target,
            network,
            state: args.state.clone(),
            source: args.source.clone(),
            batch_size: args.batch_size,
            pace: Pace {
                rate: args.rate,
                window: Duration::from_secs_f64(args.rate_window),
            },
            concurrency: args.concurrency,
            timeout: Duration::from_secs_f64(args.timeout),
            policy: RetryPolicy {
                max_attempts: args.max_attempts,
                ..RetryPolicy::default()
            },
            restart: args.restart,
            quiet,
            // The in-process sandbox starts empty every time: nothing in it is unchanged.
            full: args.full || args.sandbox,
            delete_missing: args.delete_missing,
            max_delete_ratio: args.max_delete_ratio,
            dry_run: args.dry_run,
            max_duration: args.max_duration,
            max_rejects: args.max_rejects,
            progress_interval: args.progress_interval,
        })
    }
}

impl ImportConfig {
    /// The settings of this configuration that shape payloads, with the `mapping` resolved
    /// against the file and the `source` as opened (encoding and delimiter detected).
    pub fn payload_settings(&self, mapping: &Mapping, source: &Source) -> PayloadSettings {
        // Every field by name: adding one is a compile error here until it is sorted.
        let ImportConfig {
            input,
            target,
            state: _,
            source: sync_source,
            batch_size: _,
            pace: _,
            concurrency: _,
            timeout: _,
            policy: _,
            restart: _,
            quiet: _,
            full: _,
            delete_missing: _,
            max_delete_ratio: _,
            dry_run: _,
            max_duration: _,
            max_rejects: _,
            network: _,
            progress_interval: _,
        } = self;
        let InputConfig {
            csv: _,
            // Both resolved: into `source` (encoding, delimiter) and `mapping`.
            source: _,
            mapping_file: _,
            default_region,
            report_dir: _,
            json: _,
            print_mapping: _,
            // Resolved into `mapping` (`--preset`, `--unknown-status`).
            mapping_options: _,
            threads: _,
            metrics_file: _,
        } = input;
        let Mapping {
            columns,
            headers,
            tag_separator,
            // The mapping's own account of these: `Mapping::fingerprint`.
            tags_ignore: _,
            phones: _,
            phone_order_from: _,
            international: _,
            international_from: _,
            preset: _,
            preset_tie: _,
            status: _,
            policy_source: _,
            country_names: _,
            extension_key: _,
        } = mapping;
        PayloadSettings {
            mapping: headers
                .iter()
                .zip(columns)
                .map(|(h, (target, _))| format!("{h} -> {target:?}"))
                .collect(),
            tag_separator: tag_separator.clone(),
            default_region: format!("{default_region:?}"),
            encoding: source.decoder().name(),
            delimiter: source.delimiter().map(|d| (d as char).to_string()),
            source: sync_source.clone(),
            api: match target {
                Target::Sandbox => "sandbox".to_owned(),
                Target::Api { base_url, .. } => base_url.clone(),
            },
            sheet: source.sheet().map(str::to_owned),
            mapping_rules: mapping.fingerprint(),
        }
    }

    /// Where the leads go, as the summary and the delta scope name it (`sandbox` for
    /// `--sandbox`).
    pub fn api(&self) -> String {
        match &self.target {
            Target::Sandbox => "sandbox".to_owned(),
            Target::Api { base_url, .. } => base_url.clone(),
        }
    }

    /// The delta scope: whose leads the delta state (and `--delete-missing`) covers.
    pub fn scope(&self) -> String {
        format!("{}|{}", self.api(), self.source.as_deref().unwrap_or(""))
    }
}

/// Checks the API URL: `https://`, or `http://` to a loopback host, or `http://` anywhere
/// with `allow_insecure`. Returns it without a trailing slash.
pub fn check_url(url: &str, allow_insecure: bool) -> Result<String> {
    let parsed =
        reqwest::Url::parse(url).with_context(|| format!("`--api-url {url}` is not a URL"))?;
    match parsed.scheme() {
        "https" => {}
        "http" => {
            let loopback = match parsed.host() {
                Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
                Some(url::Host::Ipv4(ip)) => IpAddr::V4(ip).is_loopback(),
                Some(url::Host::Ipv6(ip)) => IpAddr::V6(ip).is_loopback(),
                None => false,
            };
            if !loopback && !allow_insecure {
                bail!(
                    "`--api-url {url}` is plain http:// to a host other than this machine: the API key would cross the network unencrypted. Use https://, or pass --allow-insecure-http if you really mean it"
                );
            }
        }
        other => bail!("`--api-url {url}`: unsupported scheme `{other}` (use https://)"),
    }
    if !parsed.username().is_empty() || parsed.password().is_some() {
        bail!(
            "`--api-url` must not carry credentials; the key goes in NATURALEAD_API_KEY or --api-key-file"
        );
    }
    // Not echoed: a query string may be where someone put the key.
    if parsed.query().is_some() || parsed.fragment().is_some() {
        bail!(
            "`--api-url` must not carry a query string or fragment (`?…`, `#…`): give the API's base URL, e.g. https://api.naturalead.ai/api; the key goes in NATURALEAD_API_KEY or --api-key-file"
        );
    }
    Ok(url.trim_end_matches('/').to_owned())
}

/// Reads the key from `file` or the `NATURALEAD_API_KEY` environment variable, and checks
/// its shape (`nl_live_` or `nl_test_` and 64 hex digits). Never puts it in a message.
pub fn read_key(file: Option<&Path>) -> Result<ApiKey> {
    let (key, origin) = match file {
        Some(path) => {
            // A key pasted where its file's name belongs: never echo it in the error.
            if looks_like_a_key(&path.to_string_lossy()) {
                bail!(
                    "--api-key-file takes the name of a file holding the key, and was given what looks like the key itself (not shown); put the key in a file readable by you only, or in NATURALEAD_API_KEY"
                );
            }
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("cannot read the API key file `{}`", path.display()))?;
            (text, format!("the key in `{}`", path.display()))
        }
        None => match std::env::var("NATURALEAD_API_KEY") {
            Ok(key) => (key, "NATURALEAD_API_KEY".to_owned()),
            Err(_) => bail!(
                "no API key: set NATURALEAD_API_KEY or pass --api-key-file FILE (or rehearse with --sandbox)"
            ),
        },
    };
    let key = ApiKey::new(&key);
    if !is_key_shaped(key.expose()) {
        bail!(
            "{origin} does not look like a Naturalead API key (nl_live_ or nl_test_ followed by 64 hex digits)"
        );
    }
    Ok(key)
}

/// Whether `text` is a key, or most of one (its prefix and hex digits), rather than a
/// file's name; `nl_live_key.txt` is a name.
fn looks_like_a_key(text: &str) -> bool {
    key_digits(text.trim()).is_some_and(|n| n >= 8)
}

fn is_key_shaped(key: &str) -> bool {
    key_digits(key) == Some(64)
}

/// How many hex digits follow a key's prefix (`nl_live_`, `nl_test_`) in `text`, when
/// nothing else does.
fn key_digits(text: &str) -> Option<usize> {
    let hex = text
        .strip_prefix("nl_live_")
        .or_else(|| text.strip_prefix("nl_test_"))?;
    hex.bytes()
        .all(|b| b.is_ascii_hexdigit())
        .then_some(hex.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_given_as_the_key_file_is_refused_without_echoing_it() {
        let key = format!("nl_live_{}", "ab12".repeat(16));
        let err = read_key(Some(Path::new(&key))).unwrap_err().to_string();
        assert!(!err.contains("ab12ab12"), "{err}");
        assert!(err.contains("looks like the key itself"), "{err}");
        // A file whose name merely starts like a key is a file.
        assert!(!looks_like_a_key("nl_live_key.txt"));
        assert!(!looks_like_a_key("/etc/naturalead/nl_live"));
    }

    #[test]
    fn urls_must_be_https_unless_loopback() {
        assert_eq!(
            check_url("https://api.naturalead.ai/api/", false).unwrap(),
            "https://api.naturalead.ai/api"
        );
        for ok in [
            "http://127.0.0.1:8787/api",
            "http://localhost:8787/api",
            "http://[::1]:8787/api",
            "http://127.1.2.3/api",
        ] {
            assert!(check_url(ok, false).is_ok(), "{ok}");
        }
        let err = check_url("http://api.example.com/api", false)
            .unwrap_err()
            .to_string();
        assert!(err.contains("--allow-insecure-http"), "{err}");
        assert!(check_url("http://api.example.com/api", true).is_ok());
        assert!(check_url("ftp://x/api", true).is_err());
        assert!(check_url("not a url", false).is_err());
        assert!(check_url("https://user:pw@x/api", false).is_err());
    }

    #[test]
    fn urls_with_a_query_or_fragment_are_refused_without_echoing_them() {
        for url in [
            "https://host/api?key=1#x",
            "https://host/api?key=nl_live_secret",
            "https://host/api?",
            "https://host/api#frag",
            "http://127.0.0.1:8787/api?x=1",
        ] {
            let err = check_url(url, false).unwrap_err().to_string();
            assert!(err.contains("query string or fragment"), "{url}: {err}");
            assert!(!err.contains("secret") && !err.contains("key=1"), "{err}");
        }
        assert!(check_url("https://host/api", false).is_ok());
    }

    #[test]
    fn reject_budgets() {
        assert_eq!(RejectBudget::parse("10"), Some(RejectBudget::Rows(10)));
        assert_eq!(RejectBudget::parse(" 5% "), Some(RejectBudget::Share(0.05)));
        assert_eq!(RejectBudget::parse("-1"), None);
        assert_eq!(RejectBudget::parse("150%"), None);
        assert!(RejectBudget::Rows(10).exceeded(11, 100));
        assert!(!RejectBudget::Rows(10).exceeded(10, 100));
        assert!(RejectBudget::Share(0.05).exceeded(6, 100));
        assert!(!RejectBudget::Share(0.05).exceeded(5, 100));
    }

    #[test]
    fn key_shape() {
        let hex = "0123456789abcdef".repeat(4);
        assert!(is_key_shaped(&format!("nl_live_{hex}")));
        assert!(is_key_shaped(&format!("nl_test_{hex}")));
        assert!(!is_key_shaped(&format!("nl_prod_{hex}")));
        assert!(!is_key_shaped(&format!("nl_test_{}", &hex[1..])));
        assert!(!is_key_shaped(&format!("nl_test_{}z", &hex[1..])));
    }
}
