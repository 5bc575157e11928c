//! `batchlabel runs` lists a job's runs; `status`, `eval` and `report` take `--run N`;
//! `batchlabel completions` prints a completion script for each shell.

use std::fmt::Write as _;

use serde_json::Value;

use crate::Scratch;
use crate::local_server::LocalServer;
use crate::run::{job, run, summary};

#[test]
fn runs_are_listed_and_each_can_be_shown_evaluated_and_reported() {
    let scratch = Scratch::new();
    job(&scratch, 30, 100, 1);
    let server = LocalServer::start(scratch.path(), &[]);
    assert_eq!(run(&scratch, &server, &["--limit", "10"]).code, 0);
    let second = run(&scratch, &server, &[]);
    assert_eq!(second.code, 0, "{second:?}");
    assert_eq!(summary(&second)["run"], 2);

    let listed = scratch.run(&["runs", "job.yaml", "--json"]);
    assert_eq!(listed.code, 0, "{listed:?}");
    let listed: Value = serde_json::from_str(&listed.stdout).unwrap();
    let runs = listed["runs"].as_array().unwrap();
    assert_eq!(runs.len(), 2, "{listed:#}");
    assert_eq!(runs[0]["run"], 1);
    assert_eq!(runs[0]["labeled_rows"], 10);
    assert_eq!(runs[1]["labeled_rows"], 30);
    assert_eq!(runs[0]["state"], "finished");
    assert_eq!(runs[1]["state"], "finished");
    for run in runs {
        assert_eq!(run["failed_rows"], 0, "{run:#}");
        assert!(run["cost_usd"].as_f64().unwrap() > 0.0, "{run:#}");
        assert!(run["created_at"].as_i64().unwrap() > 0, "{run:#}");
    }
    // Run 2 labeled 20 more rows and reused run 1's ten: it costs more.
    assert!(
        runs[1]["cost_usd"].as_f64() > runs[0]["cost_usd"].as_f64(),
        "{listed:#}"
    );
    let text = scratch.run(&["runs", "test-job"]);
    assert!(text.stdout.contains("runs of test-job"), "{text:?}");
    let header: Vec<&str> = text
        .stdout
        .lines()
        .nth(1)
        .unwrap()
        .split_whitespace()
        .collect();
    assert_eq!(
        header,
        [
            "run", "started", "state", "rows", "labeled", "failed", "cost", "spec"
        ],
        "{text:?}"
    );
    let first: Vec<&str> = text
        .stdout
        .lines()
        .nth(2)
        .unwrap()
        .split_whitespace()
        .collect();
    assert_eq!(first[0], "1", "{text:?}");
    assert_eq!(first[2..6], ["finished", "10", "10", "0"], "{text:?}");
    assert!(first[6].starts_with('$'), "{text:?}");
    assert_eq!(
        text.stdout
            .lines()
            .filter(|line| line.contains("finished"))
            .count(),
        2
    );

    let first = crate::batchlabel(
        scratch.path(),
        &["status", "job.yaml", "--run", "1", "--json"],
    );
    let first: Value = serde_json::from_str(&first.stdout).unwrap();
    assert_eq!(first["status"]["run"], 1);
    assert_eq!(first["status"]["labeled_rows"], 10);

    // Gold labels for eval: the first ten rows, whatever the scripted engine answered.
    let labels = crate::run::results(&scratch);
    let mut gold = String::from("id,label\n");
    for (id, label) in &labels {
        let _ = writeln!(gold, "{id},{label}");
    }
    scratch.write("gold.csv", gold);
    let eval = scratch.run(&[
        "eval", "job.yaml", "--gold", "gold.csv", "--run", "1", "--json",
    ]);
    assert_eq!(eval.code, 0, "{eval:?}");
    let eval: Value = serde_json::from_str(&eval.stdout).unwrap();
    assert_eq!(eval["run"], 1, "{eval:#}");
    assert_eq!(
        eval["evaluation"]["rows"], 10,
        "run 1 labeled ten rows: {eval:#}"
    );

    let report = scratch.run(&["report", "job.yaml", "--run", "1", "--html", "run1.html"]);
    assert_eq!(report.code, 0, "{report:?}");
    let html = std::fs::read_to_string(scratch.path().join("run1.html")).unwrap();
    assert!(html.contains("<title>batchlabel report: test-job run 1</title>"));
    assert!(
        html.contains("<span class=\"muted\">run 1</span>"),
        "{html}"
    );
    assert!(
        html.contains("<b>10</b>labeled"),
        "run 1's ten rows: {html}"
    );
    let latest = scratch.run(&["report", "job.yaml", "--html", "latest.html"]);
    assert_eq!(latest.code, 0, "{latest:?}");
    let html = std::fs::read_to_string(scratch.path().join("latest.html")).unwrap();
    assert!(
        html.contains("<span class=\"muted\">run 2</span>"),
        "{html}"
    );
    assert!(html.contains("<b>30</b>labeled"), "{html}");

    let missing = scratch.run(&["status", "job.yaml", "--run", "9"]);
    assert_eq!(missing.code, 2, "{missing:?}");
    let message = format!("{}{}", missing.stdout, missing.stderr);
    assert!(
        message.contains("has no run 9 (its runs: 1–2)"),
        "{message}"
    );
    let zero = scratch.run(&["status", "job.yaml", "--run", "0"]);
    assert_eq!(zero.code, 2, "{zero:?}");
}

#[test]
fn completions_are_printed_for_each_shell() {
    let scratch = Scratch::new();
    for (shell, marker) in [
        ("bash", "_batchlabel()"),
        ("zsh", "#compdef batchlabel"),
        ("fish", "complete -c batchlabel"),
    ] {
        let outcome = scratch.run(&["completions", shell]);
        assert_eq!(outcome.code, 0, "{outcome:?}");
        assert!(
            outcome.stdout.contains(marker),
            "{shell}: {}",
            outcome.stdout
        );
        for subcommand in ["run", "pilot", "runs", "estimate"] {
            assert!(
                outcome.stdout.contains(subcommand),
                "{shell} lacks {subcommand}"
            );
        }
    }
    let unknown = scratch.run(&["completions", "tcsh"]);
    assert_eq!(unknown.code, 2, "{unknown:?}");
}

#[test]
fn a_mistyped_subcommand_or_flag_gets_the_nearest_one() {
    let scratch = Scratch::new();
    let subcommand = scratch.run(&["rnus", "job.yaml"]);
    assert_eq!(subcommand.code, 2, "{subcommand:?}");
    assert!(
        subcommand
            .stderr
            .contains("similar subcommands exist: 'run', 'runs'"),
        "{subcommand:?}"
    );
    let flag = scratch.run(&["status", "job.yaml", "--runs", "2"]);
    assert_eq!(flag.code, 2, "{flag:?}");
    assert!(
        flag.stderr.contains("a similar argument exists: '--run'"),
        "{flag:?}"
    );
}

/// `batchlabel ARGS` with only `env` among the colour variables (the harness's `NO_COLOR`
/// removed), its stdout and stderr together; stdout and stderr are pipes, not a terminal.
fn colour_output(args: &[&str], env: &[(&str, &str)]) -> String {
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_batchlabel"))
        .args(args)
        .env_remove("NO_COLOR")
        .env_remove("CLICOLOR_FORCE")
        .env_remove("CLICOLOR")
        .envs(env.iter().copied())
        .output()
        .unwrap();
    format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

#[test]
fn color_follows_the_flag_then_no_color_then_clicolor_force() {
    let escapes = |text: &str| text.contains('\u{1b}');
    for (args, env, coloured) in [
        // Not a terminal: no colour unless asked for.
        (&["rnus"][..], &[][..], false),
        (&["--help"][..], &[][..], false),
        (&["--color", "always", "rnus"][..], &[][..], true),
        (&["--color=always", "--help"][..], &[][..], true),
        (&["--color=never", "rnus"][..], &[][..], false),
        (&["rnus"][..], &[("CLICOLOR_FORCE", "1")][..], true),
        (&["--help"][..], &[("CLICOLOR_FORCE", "1")][..], true),
        // `NO_COLOR` wins over `CLICOLOR_FORCE`; `--color never` over both.
        (
            &["rnus"][..],
            &[("CLICOLOR_FORCE", "1"), ("NO_COLOR", "1")][..],
            false,
        ),
        (
            &["--help"][..],
            &[("CLICOLOR_FORCE", "1"), ("NO_COLOR", "1")][..],
            false,
        ),
        (
            &["--color", "never", "rnus"][..],
            &[("CLICOLOR_FORCE", "1")][..],
            false,
        ),
        (&["rnus"][..], &[("NO_COLOR", "1")][..], false),
    ] {
        let output = colour_output(args, env);
        assert_eq!(
            escapes(&output),
            coloured,
            "{args:?} with {env:?}:\n{output}"
        );
    }
}
