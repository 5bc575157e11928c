//! `batchlabel runs SPEC`: a job's runs, one line each; and `batchlabel completions SHELL`.

use std::fmt::Write as _;

use batchlabel_lifecycle::RunOverview;

use crate::ExitStatus;
use crate::args::{CompletionsArgs, RunsArgs, Shell};
use crate::printer::{Printer, field};

pub(crate) fn runs(args: &RunsArgs, printer: Printer) -> ExitStatus {
    let Some(name) = super::status::job_name(&args.spec, printer) else {
        return ExitStatus::Error;
    };
    let settings = super::status::settings(&args.state.state_dir);
    match batchlabel_lifecycle::runs(&settings, &name) {
        Ok(runs) => {
            if args.json {
                let value = serde_json::json!({"ok": true, "job": name, "runs": runs});
                printer.data(&format!("{value:#}\n"));
            } else {
                printer.data(&render(&name, &runs));
            }
            ExitStatus::Success
        }
        Err(error) => {
            super::run::report_lifecycle_error(&error, args.json, printer);
            ExitStatus::Error
        }
    }
}

fn render(name: &str, runs: &[RunOverview]) -> String {
    let mut text = format!("runs of {}\n", field(name));
    let _ = writeln!(
        text,
        "{:>4}  {:<20}  {:<11}  {:>9}  {:>9}  {:>9}  {:>10}  spec",
        "run", "started", "state", "rows", "labeled", "failed", "cost"
    );
    for run in runs {
        let _ = writeln!(
            text,
            "{:>4}  {:<20}  {:<11}  {:>9}  {:>9}  {:>9}  {:>10}  {}",
            run.run,
            batchlabel_lifecycle::rfc3339(run.created_at),
            run.state.as_str(),
            run.rows,
            run.labeled_rows,
            run.failed_rows,
            format!("${:.4}", run.cost_usd),
            &run.spec_fingerprint[..12.min(run.spec_fingerprint.len())]
        );
    }
    text.push_str(
        "\n`batchlabel status SPEC --run N` shows one; `eval` and `report` take `--run N` too.\n",
    );
    text
}

pub(crate) fn completions(args: &CompletionsArgs, printer: Printer) -> ExitStatus {
    let mut command = <crate::args::Cli as clap::CommandFactory>::command();
    let shell = match args.shell {
        Shell::Bash => clap_complete::Shell::Bash,
        Shell::Zsh => clap_complete::Shell::Zsh,
        Shell::Fish => clap_complete::Shell::Fish,
    };
    let mut script = Vec::new();
    clap_complete::generate(shell, &mut command, "batchlabel", &mut script);
    printer.data(&String::from_utf8_lossy(&script));
    ExitStatus::Success
}
