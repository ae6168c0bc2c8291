//! The `nl-import` binary: parse flags (with the config file's defaults), set up logging,
//! run a command, map the outcome to an exit code. Everything else lives in the library.

use std::io::{self, Write};
use std::process::ExitCode;

use clap::CommandFactory;
use naturalead_import::cli::{Cli, Command, UsageError};
use naturalead_import::config::{CheckConfig, ImportConfig};
use naturalead_import::config_file::{self, ArgsError};
use naturalead_import::{check, exit, import, status};

fn main() -> ExitCode {
    let invocation = match config_file::parse(std::env::args_os()) {
        Ok(invocation) => invocation,
        Err(ArgsError::Clap(e)) => e.exit(),
        Err(ArgsError::Usage(message)) => return fail(&message, exit::USAGE),
        Err(ArgsError::Io(e)) => return fail(&format!("{e:#}"), exit::FATAL),
    };
    if let Some(settings) = invocation.print_config {
        return match io::stdout().lock().write_all(settings.as_bytes()) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) if e.kind() == io::ErrorKind::BrokenPipe => ExitCode::SUCCESS,
            Err(e) => fail(&e.to_string(), exit::FATAL),
        };
    }
    let cli = invocation.cli;
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
            let code = if err.chain().any(|e| e.is::<UsageError>()) {
                exit::USAGE
            } else {
                exit::FATAL
            };
            fail(&format!("{err:#}"), code)
        }
    }
}

fn fail(message: &str, code: u8) -> ExitCode {
    let _ = writeln!(io::stderr(), "nl-import: error: {message}");
    ExitCode::from(code)
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
