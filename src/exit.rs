//! Exit codes: the one table scripts and schedulers rely on (also in the README).

/// Every row imported (or, for `check`, valid).
pub const SUCCESS: u8 = 0;
/// Fatal: configuration, I/O, authentication, API unreachable after retries.
pub const FATAL: u8 = 1;
/// Usage error: unknown flag, missing argument (clap's own code).
pub const USAGE: u8 = 2;
/// Finished, but some rows were rejected: see the report.
pub const REJECTED: u8 = 3;
/// Finished, but a safety budget was exceeded: more rejected rows than `--max-rejects`, or
/// `--delete-missing` refused by `--max-delete-ratio`. A person should look.
pub const BUDGET: u8 = 4;
/// Another run holds the state file's lock; nothing was done.
pub const LOCKED: u8 = 5;
/// Interrupted (Ctrl-C, SIGTERM, `--max-duration`): run the same command again to resume.
pub const INTERRUPTED: u8 = 130;
