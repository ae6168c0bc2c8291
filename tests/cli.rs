//! The command line as an operator meets it: every bad flag value is a usage error (exit 2,
//! nothing sent, nothing written) while problems that need the file system stay fatal (1);
//! shell completions and the manual page; the configuration file (precedence of flag,
//! environment, file and default, `--print-config`, unknown keys, the key refused).

use std::path::Path;
use std::process::{Command, Output, Stdio};

use naturalead_sandbox::Config;

mod common;

use common::*;

/// The binary in `dir`, with none of its environment variables inherited.
fn nl(dir: &Path, args: &[&str]) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_nl-import"));
    cmd.current_dir(dir).args(args).stdin(Stdio::null());
    for var in [
        "NATURALEAD_API_KEY",
        "NATURALEAD_API_URL",
        "NL_IMPORT_STATE",
        "NL_IMPORT_DEFAULT_REGION",
        "NL_IMPORT_CONFIG",
        "NL_IMPORT_LOG",
    ] {
        cmd.env_remove(var);
    }
    cmd
}

fn run(cmd: &mut Command) -> Output {
    cmd.output().unwrap()
}

/// A file with one London number written nationally: valid with region GB, not with US.
fn london(path: &Path) {
    std::fs::write(path, "lead_id,phone\nl-1,020 7946 0958\n").unwrap();
}

#[test]
fn every_bad_flag_value_is_a_usage_error_and_nothing_runs() {
    let env = Env::start(Config::default());
    let csv = env.path("leads.csv");
    write_leads(&csv, 3);
    let cases: &[&[&str]] = &[
        &["--batch-size", "0"],
        &["--batch-size", "101"],
        &["--batch-size", "ten"],
        &["--default-region", "XX"],
        &["--default-region", "USA"],
        &["--max-rejects", "5x"],
        &["--max-rejects", "150%"],
        &["--max-rejects=-1"],
        &["--rate", "0"],
        &["--rate=-5"],
        &["--rate-window", "0"],
        &["--rate-window", "nan"],
        &["--concurrency", "0"],
        &["--timeout", "0"],
        &["--timeout=-1"],
        &["--max-attempts", "0"],
        &["--max-delete-ratio", "1.5"],
        &["--threads", "0"],
        &["--encoding", "klingon"],
        &["--delimiter", "ab"],
        &["--max-duration", "forever"],
        &["--log-format", "xml"],
        &["--api-url", "not a url"],
        &["--api-url", "ftp://api.naturalead.ai/api"],
        &["--api-url", "http://api.naturalead.ai/api"],
        &["--delete-missing", "--sandbox"],
        &["--no-such-flag"],
    ];
    for case in cases {
        let out = env.import(&csv, case);
        assert_exit(&out, 2);
        let stderr = text(&out.stderr);
        let flag = case[0].split('=').next().unwrap();
        assert!(stderr.contains(flag), "{case:?} names the flag: {stderr}");
        assert!(!stderr.contains("panicked"), "{case:?}: {stderr}");
    }
    // The environment's values go through the same checks.
    let out = env
        .import_cmd(&csv, &[])
        .env("NL_IMPORT_DEFAULT_REGION", "XX")
        .output()
        .unwrap();
    assert_exit(&out, 2);
    // `check` takes the input flags, checked the same way.
    for case in [
        &["--default-region", "XX"][..],
        &["--threads", "0"],
        &["--encoding", "x"],
    ] {
        let mut args = vec!["check", csv.to_str().unwrap()];
        args.extend_from_slice(case);
        assert_exit(&run(&mut nl(env.dir.path(), &args)), 2);
    }
    assert!(env.sync_statuses().is_empty(), "nothing was sent");
    assert!(!env.path("state.db").exists(), "no state was written");
    // Credentials in a URL are refused without being repeated, whatever the scheme.
    for url in [
        "https://user:secret@api.naturalead.ai/api",
        "ftp://user:secret@api.naturalead.ai/api",
    ] {
        let out = env.import(&csv, &["--api-url", url]);
        assert_exit(&out, 2);
        assert!(
            !text(&out.stderr).contains("secret"),
            "{}",
            text(&out.stderr)
        );
    }
}

#[test]
fn configuration_that_needs_the_file_system_stays_fatal() {
    let env = Env::start(Config::default());
    let csv = env.path("leads.csv");
    write_leads(&csv, 3);
    for case in [
        &["--mapping", "missing.toml"][..],
        &["--api-key-file", "missing-key"],
        &["--config", "missing.toml"],
    ] {
        let out = env.import(&csv, case);
        assert_exit(&out, 1);
        assert!(
            text(&out.stderr).contains("missing"),
            "{}",
            text(&out.stderr)
        );
    }
    let out = env
        .import_cmd(&csv, &[])
        .env_remove("NATURALEAD_API_KEY")
        .output()
        .unwrap();
    assert_exit(&out, 1);
    assert!(text(&out.stderr).contains("no API key"));
    assert!(env.sync_statuses().is_empty());
}

#[test]
fn completions_for_each_shell() {
    let dir = tempfile::tempdir().unwrap();
    for (shell, marker) in [
        ("bash", "complete -F"),
        ("zsh", "#compdef nl-import"),
        ("fish", "complete -c nl-import"),
        ("powershell", "Register-ArgumentCompleter"),
        ("elvish", "edit:completion:arg-completer"),
    ] {
        let out = run(&mut nl(dir.path(), &["completions", shell]));
        assert_exit(&out, 0);
        let script = text(&out.stdout);
        assert!(script.contains(marker), "{shell}: {script}");
        for word in ["import", "check", "status", "sandbox", "batch-size"] {
            assert!(script.contains(word), "{shell} completes {word}");
        }
        if shell == "bash" && Path::new("/bin/bash").exists() {
            let path = dir.path().join("nl-import.bash");
            std::fs::write(&path, &script).unwrap();
            let syntax = Command::new("/bin/bash")
                .arg("-n")
                .arg(&path)
                .output()
                .unwrap();
            assert!(syntax.status.success(), "{}", text(&syntax.stderr));
        }
    }
    assert_exit(&run(&mut nl(dir.path(), &["completions", "tcsh"])), 2);
}

#[test]
fn the_manual_pages() {
    let dir = tempfile::tempdir().unwrap();
    let out = run(&mut nl(dir.path(), &["man"]));
    assert_exit(&out, 0);
    let page = text(&out.stdout);
    assert!(
        page.lines().any(|l| l.starts_with(".TH nl-import 1")),
        "{page}"
    );
    for section in [".SH NAME", ".SH SYNOPSIS", ".SH SUBCOMMANDS"] {
        assert!(page.contains(section), "{section}: {page}");
    }
    assert!(page.contains("nl\\-import\\-import(1)"), "{page}");
    let out = run(&mut nl(dir.path(), &["man", "import"]));
    assert_exit(&out, 0);
    let page = text(&out.stdout);
    assert!(
        page.lines()
            .any(|l| l.starts_with(".TH nl-import-import 1")),
        "{page}"
    );
    assert!(page.contains("\\-\\-batch\\-size"), "{page}");
    assert!(page.contains("NATURALEAD_API_URL"), "{page}");
    assert_exit(&run(&mut nl(dir.path(), &["man", "nope"])), 2);
}

#[test]
fn flags_over_environment_over_file_over_defaults() {
    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("london.csv");
    london(&csv);
    let check = |file: Option<&str>, env: Option<&str>, flag: Option<&str>| {
        match file {
            Some(region) => std::fs::write(
                dir.path().join("nl-import.toml"),
                format!("default_region = \"{region}\"\n"),
            )
            .unwrap(),
            None => {
                let _ = std::fs::remove_file(dir.path().join("nl-import.toml"));
            }
        }
        let mut args = vec!["check", "london.csv", "--report-dir", "r"];
        if let Some(region) = flag {
            args.extend(["--default-region", region]);
        }
        let mut cmd = nl(dir.path(), &args);
        if let Some(region) = env {
            cmd.env("NL_IMPORT_DEFAULT_REGION", region);
        }
        // 0: read as a GB number (valid); 3: read as a US one (rejected).
        match run(&mut cmd).status.code() {
            Some(0) => "GB",
            Some(3) => "US",
            other => panic!("{other:?}"),
        }
    };
    assert_eq!(check(None, None, None), "US", "built-in default");
    assert_eq!(check(Some("GB"), None, None), "GB", "file over default");
    assert_eq!(check(Some("GB"), Some("US"), None), "US", "env over file");
    assert_eq!(check(Some("US"), Some("GB"), None), "GB", "env over file");
    assert_eq!(
        check(Some("US"), Some("US"), Some("GB")),
        "GB",
        "flag over env"
    );
    assert_eq!(check(None, Some("US"), Some("GB")), "GB", "flag over env");

    // --print-config names each origin.
    std::fs::write(
        dir.path().join("nl-import.toml"),
        "default_region = \"GB\"\nbatch_size = 7\nstate = \"from-file.db\"\nrate = 3\n",
    )
    .unwrap();
    let key = format!("nl_test_{}", "0123456789abcdef".repeat(4));
    let out = run(nl(
        dir.path(),
        &["import", "london.csv", "--rate", "9", "--print-config"],
    )
    .env("NL_IMPORT_STATE", "from-env.db")
    .env("NATURALEAD_API_KEY", &key));
    assert_exit(&out, 0);
    let shown = text(&out.stdout);
    let line = |key: &str| {
        shown
            .lines()
            .find(|l| l.starts_with(&format!("{key} =")))
            .unwrap_or_else(|| panic!("{key} in {shown}"))
            .to_owned()
    };
    assert!(
        line("rate").contains("= 9") && line("rate").ends_with("# flag --rate"),
        "{shown}"
    );
    assert!(
        line("state").contains("from-env.db") && line("state").contains("# env NL_IMPORT_STATE"),
        "{shown}"
    );
    assert!(
        line("batch_size").contains("= 7")
            && line("batch_size").contains("# file nl-import.toml, line 2"),
        "{shown}"
    );
    assert!(line("concurrency").ends_with("# default"), "{shown}");
    assert!(shown.contains("# config file: nl-import.toml (found in the working directory)"));
    assert!(shown.contains("# API key: from env NATURALEAD_API_KEY (never shown)"));
    assert!(!shown.contains(&key) && !text(&out.stderr).contains(&key));
    // It only printed: nothing read, nothing written.
    assert!(!dir.path().join("from-env.db").exists());
    assert!(!dir.path().join(".nl-import").exists());

    // What it prints is a config file that gives the same settings back.
    std::fs::write(dir.path().join("copy.toml"), &shown).unwrap();
    let again = run(nl(
        dir.path(),
        &[
            "import",
            "london.csv",
            "--config",
            "copy.toml",
            "--print-config",
        ],
    )
    .env("NATURALEAD_API_KEY", &key));
    assert_exit(&again, 0);
    let values = |s: &str| -> Vec<String> {
        s.lines()
            .filter(|l| !l.starts_with('#'))
            .map(|l| l.split("  #").next().unwrap().trim().to_owned())
            .collect()
    };
    assert_eq!(values(&text(&again.stdout)), values(&shown));
    assert!(
        text(&again.stdout)
            .lines()
            .filter(|l| !l.starts_with('#'))
            .all(|l| l.contains("# file copy.toml")),
        "{}",
        text(&again.stdout)
    );
}

#[test]
fn an_import_configured_by_a_file_elsewhere() {
    let env = Env::start(Config::default());
    let csv = env.path("leads.csv");
    write_leads(&csv, 30);
    let conf = env.path("conf");
    std::fs::create_dir(&conf).unwrap();
    // Paths in the file are relative to the file; the key comes from a key file it names.
    std::fs::write(conf.join("key"), env.sandbox().test_key()).unwrap();
    std::fs::write(
        conf.join("nightly.toml"),
        format!(
            "# the nightly import\napi_url = \"{}\"\napi_key_file = \"key\"\nstate = \"state/nightly.db\"\nreport_dir = \"reports\"\nbatch_size = 7\nrate = 1000\nrate_window = 1\njson = true\n",
            env.sandbox().base_url()
        ),
    )
    .unwrap();
    let out = run(&mut nl(
        env.dir.path(),
        &["import", "leads.csv", "--config", "conf/nightly.toml"],
    ));
    assert_exit(&out, 0);
    let summary: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(summary["imported"], 30, "{summary:#}");
    assert!(conf.join("state/nightly.db").is_file());
    assert!(conf.join("reports/summary.json").is_file());
    let mut sizes: Vec<usize> = sync_requests(&env).iter().filter_map(|r| r.leads).collect();
    sizes.sort_unstable();
    assert_eq!(sizes, [2, 7, 7, 7, 7], "batch_size from the file");

    // A flag beats the file.
    let out = run(&mut nl(
        env.dir.path(),
        &[
            "import",
            "leads.csv",
            "--config",
            "conf/nightly.toml",
            "--batch-size",
            "10",
            "--full",
            "--restart",
        ],
    ));
    assert_exit(&out, 0);
    let sizes: Vec<usize> = sync_requests(&env)
        .iter()
        .skip(5)
        .filter_map(|r| r.leads)
        .collect();
    assert_eq!(sizes, [10, 10, 10]);

    // The environment's key beats the file's key file: a wrong key in the environment is
    // the one used (and refused by the API).
    let wrong = format!("nl_test_{}", "a".repeat(64));
    let out = run(nl(
        env.dir.path(),
        &[
            "import",
            "leads.csv",
            "--config",
            "conf/nightly.toml",
            "--full",
            "--restart",
        ],
    )
    .env("NATURALEAD_API_KEY", &wrong));
    assert_exit(&out, 1);
    assert!(!text(&out.stderr).contains(&wrong));
}

#[test]
fn the_file_is_checked_before_anything_runs() {
    let env = Env::start(Config::default());
    let csv = env.path("leads.csv");
    write_leads(&csv, 3);
    let key = env.sandbox().test_key().to_owned();
    let refused = |contents: &str, expected: &[&str]| {
        std::fs::write(env.path("nl-import.toml"), contents).unwrap();
        let out = env.import(&csv, &fast());
        assert_exit(&out, 2);
        let stderr = text(&out.stderr);
        for e in expected {
            assert!(stderr.contains(e), "{contents:?}: {e:?} in {stderr}");
        }
        assert!(!stderr.contains(&key), "{stderr}");
        assert!(!stderr.contains("secret-value"), "{stderr}");
    };
    refused(
        "rate = 5\nbach_size = 5\n",
        &[
            "nl-import.toml",
            "line 2",
            "unknown key `bach_size`",
            "did you mean `batch_size`",
        ],
    );
    refused(
        "batch-size = 5\n",
        &["unknown key `batch-size`", "did you mean `batch_size`"],
    );
    refused(
        "colour = \"secret-value\"\n",
        &["unknown key `colour`", "--print-config"],
    );
    refused(
        &format!("api_key = \"{key}\"\n"),
        &[
            "line 1",
            "`api_key`",
            "never goes in a config file",
            "api_key_file",
        ],
    );
    refused(
        &format!("api_key_file = \"{key}\"\n"),
        &["looks like an API key"],
    );
    refused(
        "restart = true\n",
        &["`restart` cannot be set", "--restart"],
    );
    refused(
        "batch_size = 500\n",
        &["`batch_size = 500`", "--batch-size", "1..=100"],
    );
    refused("json = \"yes\"\n", &["`json` is a switch"]);
    refused("[import]\nrate = 5\n", &["`[import]`", "no sections"]);
    refused("rate = \n", &["not valid TOML", "line 1"]);
    assert!(env.sync_statuses().is_empty());
    assert!(!env.path("state.db").exists());
    // A key of another command is not an error: `api_url` means nothing to `check`.
    std::fs::write(
        env.path("nl-import.toml"),
        "api_url = \"https://x.example/api\"\n",
    )
    .unwrap();
    let out = run(&mut nl(
        env.dir.path(),
        &["check", "leads.csv", "--report-dir", "r"],
    ));
    assert_exit(&out, 0);
}
