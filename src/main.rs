//! The `nl-import` binary: parse flags, set up logging, run a command, map the outcome to an
//! exit code. Everything else lives in the library.

use std::io::{self, Write};
use std::process::ExitCode;

use clap::Parser;
use naturalead_import::cli::{Cli, Command};
use naturalead_import::config::{CheckConfig, ImportConfig};
use naturalead_import::{check, exit, import, status};

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logging(cli.verbose, cli.quiet, cli.log_format == "json");
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
            let _ = writeln!(io::stderr(), "nl-import: error: {err:#}");
            ExitCode::from(exit::FATAL)
        }
    }
}

fn run(cli: Cli) -> anyhow::Result<u8> {
    match cli.command {
        // stderr is passed unlocked: log lines come from other threads while a command runs.
        Command::Import(args) => {
            let cfg = ImportConfig::from_args(&args, cli.quiet)?;
            import::run(&cfg, &mut io::stdout().lock(), &mut io::stderr())
        }
        Command::Status(args) => status::run(&args.state, args.json, &mut io::stdout().lock()),
        Command::Check(args) => {
            let cfg = CheckConfig::from_args(&args, cli.quiet)?;
            check::run(&cfg, &mut io::stdout().lock(), &mut io::stderr())
        }
        Command::Sandbox(args) => {
            let runtime = tokio::runtime::Runtime::new()?;
            runtime.block_on(naturalead_sandbox::cli::serve(args, async {
                let _ = tokio::signal::ctrl_c().await;
            }))?;
            Ok(exit::SUCCESS)
        }
    }
}

/// Log lines on stderr; `progress` lines (the periodic ones when stderr is not a terminal)
/// show by default, everything else from warnings up.
fn init_logging(verbose: u8, quiet: bool, json: bool) {
    let level = match (quiet, verbose) {
        (true, _) => "error",
        (false, 0) => "warn,progress=info",
        (false, 1) => "info",
        (false, _) => "debug",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_env("NL_IMPORT_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(level));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(io::stderr);
    if json {
        builder.json().init();
    } else {
        builder.with_target(false).init();
    }
}
