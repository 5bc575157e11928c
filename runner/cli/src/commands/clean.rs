//! `batchlabel clean SPEC|JOB [--older-than DAYS] [--dry-run]`: remove the local shard files
//! and downloads of a job's runs that are over; the logic is `batchlabel_lifecycle::clean`.

use std::fmt::Write as _;

use batchlabel_lifecycle::{CleanOptions, CleanReport};

use crate::ExitStatus;
use crate::args::CleanArgs;
use crate::printer::{Printer, field};

pub(crate) fn clean(args: &CleanArgs, printer: Printer) -> ExitStatus {
    // A spec names its job and the files the user asked for (kept whatever happens); a job
    // name is taken as it is.
    let (name, keep) = if args.spec.is_file() {
        let Some((job, _)) = super::load_job(&args.spec, args.json, printer) else {
            return ExitStatus::Error;
        };
        let keep = job
            .output
            .iter()
            .flat_map(|output| [output.path.clone(), output.errors_path.clone()])
            .collect();
        (job.name, keep)
    } else {
        (args.spec.to_string_lossy().into_owned(), Vec::new())
    };
    let options = CleanOptions {
        older_than_days: args.older_than,
        dry_run: args.dry_run,
        keep,
    };
    let settings = super::status::settings(&args.state.state_dir);
    match batchlabel_lifecycle::clean(&settings, &name, &options) {
        Ok(report) => {
            if args.json {
                let value = serde_json::json!({"ok": true, "clean": report});
                printer.data(&format!("{value:#}\n"));
            } else {
                printer.data(&render(&name, &report));
            }
            ExitStatus::Success
        }
        Err(error) => {
            super::run::report_lifecycle_error(&error, args.json, printer);
            ExitStatus::Error
        }
    }
}

fn render(name: &str, report: &CleanReport) -> String {
    let mut text = String::new();
    let verb = if report.dry_run {
        "would remove"
    } else {
        "removed"
    };
    for run in &report.runs {
        match &run.kept {
            Some(why) => {
                let _ = writeln!(text, "  run {} ({}): kept, {}", run.run, run.state, why);
            }
            None => {
                let _ = writeln!(
                    text,
                    "  run {} ({}): {verb} {} file(s), {}",
                    run.run,
                    run.state,
                    run.files,
                    batchlabel_lifecycle::human_bytes(run.bytes)
                );
            }
        }
        for problem in &run.problems {
            let _ = writeln!(text, "    could not remove {}", field(problem));
        }
    }
    let _ = writeln!(
        text,
        "{}: {verb} {} file(s), {}; the ledger and the results are kept",
        field(name),
        report.files,
        batchlabel_lifecycle::human_bytes(report.bytes)
    );
    text
}
