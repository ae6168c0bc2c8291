//! `nl-import`: a streaming importer of CSV leads into the Naturalead lead sync API.
//!
//! # Layout, in pipeline order
//!
//! - [`cli`] and [`config`]: flags, then validated configuration.
//! - [`source`]: bytes → records (encodings, delimiters, row and line numbers).
//! - [`mapping`]: header → lead fields (automatic, or a TOML mapping file).
//! - [`validate`]: a mapped row → a [`lead::Lead`] or every problem it has.
//! - [`pipeline`]: the three above on several threads, back in file order, plus the
//!   duplicate check.
//! - [`report`]: `rejected.csv`, per-class counts, the stderr table.
//! - [`check`]: the `check` command, wiring the stages.
//! - [`fsutil`] and [`exit`]: owner-only files, exit codes.

pub mod check;
pub mod cli;
pub mod config;
pub mod exit;
pub mod fsutil;
pub mod lead;
pub mod mapping;
pub mod pipeline;
pub mod report;
pub mod source;
pub mod validate;
