//! `nl-import`: a streaming importer of CSV leads into the Naturalead lead sync API.
//!
//! # Layout, in pipeline order
//!
//! - [`cli`], [`config_file`] and [`config`]: flags (with defaults from a config file), then
//!   validated configuration.
//! - [`source`]: bytes → records (CSV in its encodings, gzip and zstd, workbook sheets;
//!   title rows and footers skipped; row and line numbers).
//! - [`mapping`]: header → lead fields (automatic, or a TOML mapping file).
//! - [`validate`]: a mapped row → a [`lead::Lead`] or every problem it has.
//! - [`pipeline`]: the three above on several threads, back in file order, plus the
//!   duplicate check.
//! - [`report`]: `rejected.csv` (formula-guarded) and `rejected.xlsx`, per-class details,
//!   the stderr table, and reading a report back (the guard, row numbers, unchanged rows).
//! - [`check`]: the `check` command, wiring the stages.
//! - [`import`]: the `import` command, one file per job: `plan` (input fingerprinted, state
//!   file locked, a run resumed or begun; the module itself then loads the delta state,
//!   a resumed run's duplicate index and the read past its settled rows side by side),
//!   `batch` (valid leads serialised and compared with
//!   the delta state on the validation workers, the reader thread cutting the rest into
//!   batches), `coordinator` (upload tasks dispatched, outcomes settled), `committer`
//!   (the settled outcomes written to the state file on a thread of its own), `deletes` (`--delete-missing` and its undo), `dry_run` (the same
//!   logic, nothing sent), `summary` (exit code, `summary.json`), `progress`, `shutdown`
//!   (one cancellation token for Ctrl-C, SIGTERM and `--max-duration`).
//! - [`body`]: a sync request body, written once and shared; the body size limit.
//! - [`upload`]: one batch (or delete) to the sync endpoint, paced by [`pacing`], retried
//!   by [`retry`], over the client of [`http`] (proxies and trusted certificates);
//!   [`stats`]: the session's counters, one set shared by every task.
//! - [`checkpoint`]: the SQLite state file (its versioned schema and migrations, the runs,
//!   the per-lead delta state with the payloads `--delete-missing` can undo); [`lock`]:
//!   one run at a time; [`status`] reads the state.
//! - [`output`]: everything on stderr as text for a person or JSON lines for a log shipper;
//!   [`metrics`]: `--metrics-file` in the Prometheus text format.
//! - [`text`]: server text cut to one sane line for tables, logs and reports.
//! - [`interrupt`]: Ctrl-C and SIGTERM from the first instant of a command.
//! - [`fsutil`] and [`exit`]: owner-only files, exit codes.

pub mod body;
pub mod check;
pub mod checkpoint;
pub mod cli;
pub mod config;
pub mod config_file;
pub mod exit;
pub mod fsutil;
pub mod http;
pub mod import;
pub mod interrupt;
pub mod lead;
pub mod lock;
pub mod mapping;
pub mod metrics;
pub mod output;
pub mod pacing;
pub mod pipeline;
pub mod report;
pub mod retry;
pub mod source;
pub mod stats;
pub mod status;
pub mod text;
pub mod upload;
pub mod validate;
