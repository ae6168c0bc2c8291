//! The `nl-import` binary: parse flags (with the config file's defaults), set up logging,
//! run a command, map the outcome to an exit code. Everything else lives in the library.

use std::ffi::OsString;
use std::io::{self, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use clap::CommandFactory;
use naturalead_import::cli::{Cli, Command, UsageError};
use naturalead_import::config::{CheckConfig, ImportConfig};
use naturalead_import::config_file::{self, ArgsError};
use naturalead_import::metrics::Metrics;
use naturalead_import::output::{self, Event, Format, Stderr};
use naturalead_import::{check, exit, import, status};

fn main() -> ExitCode {
    let argv: Vec<OsString> = std::env::args_os().collect();
    let invocation = match config_file::parse(argv.iter().cloned()) {
        Ok(invocation) => invocation,
        Err(e) => {
            // Before the flags are known, `--log-format` is read from argv and the
            // environment, so that a bad flag is a JSON line too.
            output::init(output::format_from_args(&argv));
            return match e {
                ArgsError::Clap(e) => clap_error(e),
                ArgsError::Usage(message) => fail(&message, exit::USAGE),
                ArgsError::Io(e) => fail(&format!("{e:#}"), exit::FATAL),
            };
        }
    };
    let cli = invocation.cli;
    output::init(if cli.log_format == "json" {
        Format::Json
    } else {
        Format::Text
    });
    if let Some(settings) = invocation.print_config {
        return match io::stdout().lock().write_all(settings.as_bytes()) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) if e.kind() == io::ErrorKind::BrokenPipe => ExitCode::SUCCESS,
            Err(e) => fail(&e.to_string(), exit::FATAL),
        };
    }
    init_logging(cli.verbose, cli.quiet);
    let started = Instant::now();
    let metrics = metrics_of(&cli.command);
    match run(cli) {
        Ok(code) => ExitCode::from(code),
        Err(err) => {
            // A closed stdout (`nl-import check … | head`) is not a failure.
            if err
                .chain()
                .filter_map(|e| e.downcast_ref::<io::Error>())
                .any(|e| e.kind() == io::ErrorKind::BrokenPipe)
            {
                return ExitCode::SUCCESS;
            }
            let code = if err.chain().any(|e| e.is::<UsageError>()) {
                exit::USAGE
            } else {
                exit::FATAL
            };
            // The run's figures are unknown; its ending is not.
            if let Some((path, metrics)) = metrics
                && let Err(e) = metrics.write(&path, code, started.elapsed())
            {
                tracing::warn!("cannot write the metrics file `{}`: {e}", path.display());
            }
            fail(&format!("{err:#}"), code)
        }
    }
}

/// The `--metrics-file` of a command that has one, and the run's labels.
fn metrics_of(command: &Command) -> Option<(PathBuf, Metrics)> {
    match command {
        Command::Import(args) => args.input.metrics_file.clone().map(|path| {
            (
                path,
                Metrics::new("import", Some(args.source.as_deref().unwrap_or_default())),
            )
        }),
        Command::Check(args) => args
            .input
            .metrics_file
            .clone()
            .map(|path| (path, Metrics::new("check", None))),
        _ => None,
    }
}

/// clap's error (or `--help`, `--version`): as clap prints it, or one JSON line.
fn clap_error(e: clap::Error) -> ExitCode {
    if !e.use_stderr() || !output::is_json() {
        e.exit();
    }
    let code = u8::try_from(e.exit_code()).unwrap_or(exit::USAGE);
    let message = e.render().to_string();
    Event::error("usage_error", message.trim_end())
        .with("exit_code", code)
        .emit();
    ExitCode::from(code)
}

fn fail(message: &str, code: u8) -> ExitCode {
    Event::error("error", format!("nl-import: error: {message}"))
        .with("exit_code", code)
        .emit();
    ExitCode::from(code)
}

fn run(cli: Cli) -> anyhow::Result<u8> {
    match cli.command {
        // stderr is passed unlocked: log lines come from other threads while a command runs.
        Command::Import(args) => {
            let cfg = ImportConfig::from_args(&args, cli.quiet)?;
            import::run(&cfg, &mut io::stdout().lock(), &mut Stderr::new())
        }
        Command::Status(args) => status::run(&args.state, args.json, &mut io::stdout().lock()),
        Command::Check(args) => {
            let cfg = CheckConfig::from_args(&args, cli.quiet)?;
            check::run(&cfg, &mut io::stdout().lock(), &mut Stderr::new())
        }
        Command::Sandbox(args) => {
            let runtime = tokio::runtime::Runtime::new()?;
            runtime.block_on(naturalead_sandbox::cli::serve(args, async {
                let _ = tokio::signal::ctrl_c().await;
            }))?;
            Ok(exit::SUCCESS)
        }
        Command::Completions(args) => {
            let mut out = io::stdout().lock();
            clap_complete::generate(args.shell, &mut Cli::command(), "nl-import", &mut out);
            out.flush()?;
            Ok(exit::SUCCESS)
        }
        Command::Man(args) => {
            let mut cmd = Cli::command();
            cmd.build();
            let page = match &args.command {
                Some(name) => cmd
                    .find_subcommand(name)
                    .cloned()
                    .ok_or_else(|| anyhow::anyhow!("no subcommand `{name}`"))?,
                None => cmd,
            };
            let mut out = io::stdout().lock();
            clap_mangen::Man::new(page)
                .source(concat!("nl-import ", env!("CARGO_PKG_VERSION")))
                .manual("nl-import manual")
                .render(&mut out)?;
            out.flush()?;
            Ok(exit::SUCCESS)
        }
    }
}

/// `tracing`'s log lines on stderr: from warnings up by default (progress, notices and the
/// tables are [`output::Event`]s, not log lines). In JSON mode each is one object
/// with its fields at the top (`timestamp`, `level`, `message`, `target`), as
/// [`output::Event`]s are; in text mode, colour only where [`output::colour`] allows.
fn init_logging(verbose: u8, quiet: bool) {
    let level = match (quiet, verbose) {
        (true, _) => "error",
        (false, 0) => "warn",
        (false, 1) => "info",
        (false, _) => "debug",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_env("NL_IMPORT_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(level));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(|| output::LogWriter);
    if output::is_json() {
        builder
            .json()
            .flatten_event(true)
            .with_current_span(false)
            .with_span_list(false)
            .with_ansi(false)
            .init();
    } else {
        builder
            .with_target(false)
            .with_ansi(output::colour())
            .init();
    }
}
