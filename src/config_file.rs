//! The configuration file and the command line together: defaults for flags from
//! `--config FILE` (env `NL_IMPORT_CONFIG`), or `nl-import.toml` in the working directory
//! when there is one; `--print-config`.
//!
//! Precedence: flags over environment over the file over built-in defaults. The file's
//! values become clap defaults of the flags they name (so clap applies the order, and each
//! value goes through its flag's own parser), and clap's `value_source` tells afterwards
//! where each setting came from. A key is the flag's name with `_` (`batch_size = 20`, the
//! field in `cli`): a flag added to `cli` is a key of the file and a line of
//! `--print-config` with no change here. Keys are checked against every subcommand the file
//! serves (`import`, `check`, `status`); one that none of them has is an error naming the
//! key and the file, with a did-you-mean. Relative paths in the file are relative to the
//! file. The API key never goes in the file (`api_key` is refused, saying why; name a key
//! file with `api_key_file`), and a key file named in the file gives way to
//! `NATURALEAD_API_KEY`, as the file gives way to the environment everywhere.

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use anyhow::anyhow;
use clap::parser::ValueSource;
use clap::{Arg, ArgAction, ArgMatches, Command, CommandFactory, FromArgMatches, ValueHint};

use crate::cli::Cli;

/// The file looked for in the working directory when `--config` is not given.
pub const DEFAULT_FILE: &str = "nl-import.toml";

/// The subcommands whose flags the file sets.
const SERVED: [&str; 3] = ["import", "check", "status"];

/// Flags that are one-off actions rather than defaults, refused in the file, with why.
const ONE_SHOT: [(&str, &str); 5] = [
    (
        "restart",
        "every run would abandon the unfinished one instead of resuming it",
    ),
    ("dry_run", "no run would ever import anything"),
    ("print_mapping", "it prints the mapping and exits"),
    ("print_config", "it prints the settings and exits"),
    ("config", "it names the file itself"),
];

/// The environment variable holding the key, which outranks a key file named in the file.
const KEY_ENV: &str = "NATURALEAD_API_KEY";

/// Why the command line (with the file) cannot be used.
#[derive(Debug)]
pub enum ArgsError {
    /// clap's own error (or `--help`/`--version`): `exit()` prints it with clap's code.
    Clap(clap::Error),
    /// A usage error found in the file (exit 2).
    Usage(String),
    /// The file could not be read (exit 1).
    Io(anyhow::Error),
}

/// A parsed command line.
#[derive(Debug)]
pub struct Invocation {
    /// The flags, file defaults applied.
    pub cli: Cli,
    /// With `--print-config`: the settings and their origins, to print instead of running.
    pub print_config: Option<String>,
}

/// The config file in use and how it was found.
#[derive(Debug)]
struct FileSource {
    path: PathBuf,
    how: &'static str,
}

/// What the file set: arg id → (value given to clap, the file's line).
type Applied = BTreeMap<String, (String, usize)>;

/// Parses `argv` (program name first) with the config file's defaults applied.
pub fn parse<I, T>(argv: I) -> Result<Invocation, ArgsError>
where
    I: IntoIterator<Item = T>,
    T: Into<OsString>,
{
    let argv: Vec<OsString> = argv.into_iter().map(Into::into).collect();
    // A first pass finds the subcommand and `--config`; its errors are the final ones (the
    // file supplies no argument that could be missing, and defaults cause no conflicts).
    let first = Cli::command()
        .try_get_matches_from(&argv)
        .map_err(ArgsError::Clap)?;
    let sub = first.subcommand_name().unwrap_or_default().to_owned();
    let mut cmd = Cli::command();
    let mut applied = Applied::new();
    let mut notes = Vec::new();
    let file = if SERVED.contains(&sub.as_str()) {
        locate(&first)?
    } else {
        None
    };
    if let Some(file) = &file {
        let text = std::fs::read_to_string(&file.path).map_err(|e| {
            ArgsError::Io(anyhow!(e).context(format!(
                "cannot read the config file `{}`",
                file.path.display()
            )))
        })?;
        cmd = apply(cmd, &sub, file, &text, &mut applied, &mut notes)?;
    }
    let matches = cmd
        .clone()
        .try_get_matches_from(&argv)
        .map_err(ArgsError::Clap)?;
    let cli = Cli::from_arg_matches(&matches).map_err(ArgsError::Clap)?;
    let print_config = cli
        .print_config
        .then(|| render(cmd, &matches, &sub, file.as_ref(), &applied, &notes));
    Ok(Invocation { cli, print_config })
}

/// `--config FILE` (or `NL_IMPORT_CONFIG`), else `nl-import.toml` here if it exists.
fn locate(first: &ArgMatches) -> Result<Option<FileSource>, ArgsError> {
    let given = first
        .subcommand()
        .and_then(|(_, m)| m.get_one::<PathBuf>("config"))
        .or_else(|| first.get_one::<PathBuf>("config"));
    if let Some(path) = given {
        let how = match first.value_source("config") {
            Some(ValueSource::EnvVariable) => "NL_IMPORT_CONFIG",
            _ => "--config",
        };
        return Ok(Some(FileSource {
            path: path.clone(),
            how,
        }));
    }
    let here = Path::new(DEFAULT_FILE);
    Ok(here.exists().then(|| FileSource {
        path: here.to_owned(),
        how: "found in the working directory",
    }))
}

/// Every key the file may hold: arg id → the arg, from the root and each served
/// subcommand (the first definition wins; they agree).
fn settable(cmd: &Command) -> BTreeMap<String, Arg> {
    let mut keys = BTreeMap::new();
    let subs = SERVED.iter().filter_map(|s| cmd.find_subcommand(s));
    for arg in cmd
        .get_arguments()
        .chain(subs.flat_map(Command::get_arguments))
    {
        let id = arg.get_id().as_str();
        let action = arg.get_action();
        if arg.is_positional()
            || ONE_SHOT.iter().any(|(k, _)| *k == id)
            || matches!(
                action,
                ArgAction::Help | ArgAction::HelpShort | ArgAction::HelpLong | ArgAction::Version
            )
        {
            continue;
        }
        keys.entry(id.to_owned()).or_insert_with(|| arg.clone());
    }
    keys
}

/// Checks the file's entries and makes each a default of its flag in `cmd`.
fn apply(
    mut cmd: Command,
    sub: &str,
    file: &FileSource,
    text: &str,
    applied: &mut Applied,
    notes: &mut Vec<String>,
) -> Result<Command, ArgsError> {
    let name = file.path.display().to_string();
    let usage = |line: Option<usize>, msg: String| {
        ArgsError::Usage(match line {
            Some(line) => format!("config file `{name}`, line {line}: {msg}"),
            None => format!("config file `{name}`: {msg}"),
        })
    };
    let table: toml::Table = toml::from_str(text).map_err(|e| {
        usage(
            None,
            format!("not valid TOML: {}", e.to_string().trim_end()),
        )
    })?;
    let lines = key_lines(text);
    let keys = settable(&cmd);
    let dir = file.path.parent().unwrap_or(Path::new(""));
    let subcommand = cmd.find_subcommand(sub).cloned();
    let mut entries: Vec<(&String, &toml::Value)> = table.iter().collect();
    entries.sort_by_key(|(k, _)| lines.get(k.as_str()).copied().unwrap_or(0));
    for (key, value) in entries {
        let line = lines.get(key.as_str()).copied();
        if key == "api_key" {
            return Err(usage(
                line,
                format!(
                    "`api_key`: the API key never goes in a config file (whoever can read the file, its backups or the repository it is kept in would hold the key). Put the key alone in an owner-only file and name that file with `api_key_file`, or set {KEY_ENV}"
                ),
            ));
        }
        if value.is_table() {
            return Err(usage(
                line,
                format!(
                    "`[{key}]`: the file has no sections; write `key = value` lines at the top"
                ),
            ));
        }
        if let Some((_, why)) = ONE_SHOT.iter().find(|(k, _)| k == key) {
            return Err(usage(
                line,
                format!(
                    "`{key}` cannot be set in a config file ({why}); pass --{} when you mean it",
                    key.replace('_', "-")
                ),
            ));
        }
        if !keys.contains_key(key.as_str()) {
            return Err(usage(line, unknown_key(key, &keys)));
        }
        // A key of another subcommand (`api_url` for `check`): not this command's business.
        let here = subcommand
            .as_ref()
            .and_then(|s| s.get_arguments().find(|a| a.get_id() == key.as_str()))
            .or_else(|| cmd.get_arguments().find(|a| a.get_id() == key.as_str()));
        let Some(arg) = here else {
            continue;
        };
        let raw = file_value(arg, value, dir).map_err(|msg| usage(line, msg))?;
        if key == "api_key_file" {
            if looks_like_a_key(&raw) {
                return Err(usage(
                    line,
                    format!(
                        "`api_key_file` holds what looks like an API key, not the name of a file: the key never goes in a config file; put it alone in an owner-only file and name that file here, or set {KEY_ENV}"
                    ),
                ));
            }
            if std::env::var_os(KEY_ENV).is_some_and(|v| !v.is_empty()) {
                notes.push(format!(
                    "api_key_file from the config file is not used: {KEY_ENV} is set, and the environment outranks the file"
                ));
                continue;
            }
        }
        check_value(arg, &raw)
            .map_err(|e| usage(line, format!("`{key} = {value}`: {}", clap_reason(&e))))?;
        let global = cmd.get_arguments().any(|a| a.get_id() == key.as_str());
        let default = raw.clone();
        let id = key.clone();
        cmd = if global {
            cmd.mut_arg(&id, |a| a.default_value(default))
        } else {
            cmd.mut_subcommand(sub, |s| s.mut_arg(&id, |a| a.default_value(default)))
        };
        applied.insert(key.clone(), (raw, line.unwrap_or(0)));
    }
    Ok(cmd)
}

/// The string clap gets for a file value: booleans for switches, counts for counters,
/// one scalar for the others, paths relative to the file's directory.
fn file_value(arg: &Arg, value: &toml::Value, dir: &Path) -> Result<String, String> {
    let key = arg.get_id().as_str();
    match (arg.get_action(), value) {
        (ArgAction::SetTrue, toml::Value::Boolean(b)) => Ok(b.to_string()),
        (ArgAction::SetTrue, _) => Err(format!("`{key}` is a switch: write true or false")),
        (ArgAction::Count, toml::Value::Integer(n)) if (0..=255).contains(n) => Ok(n.to_string()),
        (ArgAction::Count, _) => Err(format!("`{key}` is a count: write 0, 1, 2…")),
        (
            _,
            toml::Value::Array(_)
            | toml::Value::Table(_)
            | toml::Value::Boolean(_)
            | toml::Value::Datetime(_),
        ) => Err(format!(
            "`{key}` takes one value, like --{}",
            key.replace('_', "-")
        )),
        (_, toml::Value::String(s)) => {
            let path_like = matches!(
                arg.get_value_hint(),
                ValueHint::AnyPath | ValueHint::FilePath | ValueHint::DirPath
            );
            if path_like && !s.is_empty() && Path::new(s).is_relative() {
                Ok(dir.join(s).to_string_lossy().into_owned())
            } else {
                Ok(s.clone())
            }
        }
        (_, toml::Value::Integer(n)) => Ok(n.to_string()),
        (_, toml::Value::Float(f)) => Ok(f.to_string()),
    }
}

/// Runs `raw` through the flag's own value parser, as if given on the command line.
fn check_value(arg: &Arg, raw: &str) -> Result<(), clap::Error> {
    if matches!(arg.get_action(), ArgAction::SetTrue | ArgAction::Count) {
        return Ok(());
    }
    let id = arg.get_id().as_str();
    let long = arg.get_long().unwrap_or(id);
    let mut probe = Arg::new(id.to_owned())
        .long(long.to_owned())
        .value_parser(arg.get_value_parser().clone())
        .action(ArgAction::Set);
    if let Some(name) = arg.get_value_names().and_then(|n| n.first()) {
        probe = probe.value_name(name.clone());
    }
    Command::new("nl-import")
        .no_binary_name(true)
        .arg(probe)
        .try_get_matches_from([format!("--{long}={raw}")])
        .map(drop)
}

/// The line of each top-level key, for messages.
fn key_lines(text: &str) -> BTreeMap<String, usize> {
    let Ok(table) = toml::de::DeTable::parse(text) else {
        return BTreeMap::new();
    };
    table
        .get_ref()
        .iter()
        .map(|(k, _)| {
            let line = text[..k.span().start.min(text.len())].matches('\n').count() + 1;
            (k.get_ref().to_string(), line)
        })
        .collect()
}

/// "unknown key `…`", with the nearest known key when one is close.
fn unknown_key(key: &str, keys: &BTreeMap<String, Arg>) -> String {
    let normal = key.trim().to_ascii_lowercase().replace('-', "_");
    if keys.contains_key(&normal) {
        return format!(
            "unknown key `{key}`: did you mean `{normal}`? (keys are written with `_`)"
        );
    }
    let best = keys
        .keys()
        .map(|k| (strsim::jaro_winkler(&normal, k), k))
        .filter(|(score, _)| *score > 0.8)
        .max_by(|a, b| a.0.total_cmp(&b.0));
    match best {
        Some((_, k)) => format!("unknown key `{key}`: did you mean `{k}`?"),
        None => format!(
            "unknown key `{key}`: the keys are the flags' names with `_` (`batch_size = 20`); `--print-config` lists them"
        ),
    }
}

/// The reason in a clap error, without its "error: " and its footer.
fn clap_reason(e: &clap::Error) -> String {
    let text = e.render().to_string();
    let first = text.lines().next().unwrap_or_default();
    first.strip_prefix("error: ").unwrap_or(first).to_owned()
}

/// `nl_live_…`/`nl_test_…`: a key, not a file name.
fn looks_like_a_key(s: &str) -> bool {
    let name = Path::new(s)
        .file_name()
        .map_or_else(String::new, |n| n.to_string_lossy().into_owned());
    (name.starts_with("nl_live_") || name.starts_with("nl_test_")) && name.len() >= 72
}

/// `--print-config`: each setting of the command as a line of a config file, with where
/// its value comes from.
fn render(
    mut cmd: Command,
    matches: &ArgMatches,
    sub: &str,
    file: Option<&FileSource>,
    applied: &Applied,
    notes: &[String],
) -> String {
    // In the order of `--help` (a file default moves its arg to the end of `cmd`).
    let mut pristine = Cli::command();
    pristine.build();
    cmd.build();
    let keys = settable(&cmd);
    let (command, matches) = match (
        pristine.find_subcommand(sub),
        matches.subcommand_matches(sub),
    ) {
        (Some(c), Some(m)) => (c.clone(), m),
        _ => (pristine.clone(), matches),
    };
    let mut out = format!("# nl-import {sub}: the settings in effect, and where each comes from\n");
    match file {
        Some(f) => {
            let _ = writeln!(out, "# config file: {} ({})", f.path.display(), f.how);
        }
        None if SERVED.contains(&sub) => {
            let _ = writeln!(
                out,
                "# config file: none (no --config, and no {DEFAULT_FILE} in the working directory)"
            );
        }
        None => {
            let _ = writeln!(out, "# config file: not used by `{sub}`");
        }
    }
    let mut lines = Vec::new();
    for arg in command.get_arguments() {
        let id = arg.get_id().as_str();
        if !keys.contains_key(id) {
            continue;
        }
        let value = match arg.get_action() {
            ArgAction::SetTrue => Some(matches.get_flag(id).to_string()),
            ArgAction::Count => Some(matches.get_count(id).to_string()),
            _ => matches.get_raw(id).map(|vals| {
                let vals: Vec<String> = vals.map(|v| toml_scalar(&v.to_string_lossy())).collect();
                if vals.len() == 1 {
                    vals[0].clone()
                } else {
                    format!("[{}]", vals.join(", "))
                }
            }),
        };
        let origin = match matches.value_source(id) {
            Some(ValueSource::CommandLine) => format!("flag --{}", arg.get_long().unwrap_or(id)),
            Some(ValueSource::EnvVariable) => format!(
                "env {}",
                arg.get_env()
                    .map_or_else(String::new, |e| e.to_string_lossy().into_owned())
            ),
            Some(ValueSource::DefaultValue) => match (applied.get(id), file) {
                (Some((_, line)), Some(f)) => format!("file {}, line {line}", f.path.display()),
                _ => "default".to_owned(),
            },
            _ => "not set".to_owned(),
        };
        match value {
            Some(v) => lines.push((format!("{id} = {v}"), origin)),
            None => lines.push((format!("# {id} ="), origin)),
        }
    }
    let width = lines.iter().map(|(l, _)| l.len()).max().unwrap_or(0);
    for (line, origin) in lines {
        let _ = writeln!(out, "{line:width$}  # {origin}");
    }
    if sub == "import" {
        let _ = writeln!(out, "# API key: {}", key_origin(matches));
    }
    for note in notes {
        let _ = writeln!(out, "# note: {note}");
    }
    out
}

/// Where `import` would take the key from (never the key itself).
fn key_origin(matches: &ArgMatches) -> String {
    if matches.get_flag("sandbox") {
        "none needed (--sandbox)".to_owned()
    } else if let Some(path) = matches.get_one::<PathBuf>("api_key_file") {
        format!("read from the file {} (never shown)", path.display())
    } else if std::env::var_os(KEY_ENV).is_some() {
        format!("from env {KEY_ENV} (never shown)")
    } else {
        format!("none: set {KEY_ENV} or api_key_file")
    }
}

/// A value as TOML: bare when it reads back as a TOML number, else a quoted string.
fn toml_scalar(raw: &str) -> String {
    let bare = format!("v = {raw}");
    match toml::from_str::<toml::Table>(&bare) {
        Ok(t)
            if matches!(
                t.get("v"),
                Some(toml::Value::Integer(_) | toml::Value::Float(_))
            ) =>
        {
            raw.to_owned()
        }
        _ => toml::Value::String(raw.to_owned()).to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_print_as_toml_that_reads_back() {
        assert_eq!(toml_scalar("100"), "100");
        assert_eq!(toml_scalar("0.1"), "0.1");
        assert_eq!(toml_scalar("US"), "\"US\"");
        assert_eq!(toml_scalar("a \"b\""), "'a \"b\"'");
        assert_eq!(toml_scalar("Infinity"), "\"Infinity\"");
        assert_eq!(toml_scalar("1 = 2"), "\"1 = 2\"");
    }

    #[test]
    fn unknown_keys_get_the_nearest_known_one() {
        let keys = settable(&Cli::command());
        assert!(keys.contains_key("batch_size") && keys.contains_key("state"));
        assert!(!keys.contains_key("restart") && !keys.contains_key("csv"));
        assert!(unknown_key("batch-size", &keys).contains("did you mean `batch_size`"));
        assert!(unknown_key("bach_size", &keys).contains("did you mean `batch_size`"));
        assert!(unknown_key("zzz", &keys).contains("--print-config"));
    }

    #[test]
    fn key_lines_are_found() {
        let lines = key_lines("# c\nrate = 5\n\n'batch_size' = 10\n");
        assert_eq!(lines.get("rate"), Some(&2));
        assert_eq!(lines.get("batch_size"), Some(&4));
    }

    #[test]
    fn keys_are_not_file_names() {
        let key = format!("nl_test_{}", "0123456789abcdef".repeat(4));
        assert!(looks_like_a_key(&key));
        assert!(!looks_like_a_key("/etc/nl-import/key"));
    }
}
