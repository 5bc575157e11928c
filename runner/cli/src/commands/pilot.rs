//! `batchlabel pilot SPEC --rows N`: a table of row → labels or failure, the failure
//! breakdown, tokens, and the projected tokens and cost of the full batch run. `--pack N`
//! sends the rows packed; `--compare-pack N` sends them as the spec says and packed, and
//! compares the labels row by row.

use std::fmt::Write as _;

use batchlabel_lifecycle::{PilotOptions, PilotReport};

use crate::ExitStatus;
use crate::args::PilotArgs;
use crate::printer::{Printer, field};
use crate::run_progress::RunProgress;

pub(crate) fn pilot(args: &PilotArgs, printer: Printer) -> ExitStatus {
    let Some(loaded) = super::load_job_with_plugins(&args.spec, args.json, printer) else {
        return ExitStatus::Error;
    };
    let mut job = loaded.job;
    let answer = args.pack_answer.unwrap_or(job.batching.pack_answer);
    if let Some(pack) = args.pack {
        job = match job.with_packing(pack, answer) {
            Ok(job) => job,
            Err(problems) => return packing_refused(&problems, args.json, printer),
        };
    }
    let compared = match args.compare_pack {
        Some(pack) => match job.clone().with_packing(pack, answer) {
            Ok(packed) => Some(packed),
            Err(problems) => return packing_refused(&problems, args.json, printer),
        },
        None => None,
    };
    let Some(runtime) = super::reported(super::run::runtime(), printer) else {
        return ExitStatus::Error;
    };
    // The local model answers through an in-process server whose state is thrown away.
    let scratch = tempfile::tempdir();
    let provider = match &scratch {
        Ok(scratch) => {
            let local_state = (scratch.path().join("serve"), args.threads);
            super::run::open_provider(&job, &args.api, local_state, &runtime)
        }
        Err(error) => Err(format!("error: no temporary folder: {error}\n")),
    };
    let Some(provider) = super::reported(provider, printer) else {
        return ExitStatus::Error;
    };
    let options = PilotOptions {
        rows: args.rows,
        seed: (!args.first).then_some(args.seed),
        concurrency: usize::try_from(args.concurrency).unwrap_or(8),
        plugins: loaded.plugins,
    };
    let progress = RunProgress::new(printer.quiet || args.json);
    let outcome = runtime.block_on(async {
        let report =
            batchlabel_lifecycle::pilot(&job, &options, provider.as_ref(), &progress).await?;
        let other = match &compared {
            Some(packed) => Some(
                batchlabel_lifecycle::pilot(packed, &options, provider.as_ref(), &progress).await?,
            ),
            None => None,
        };
        Ok::<_, batchlabel_lifecycle::LifecycleError>((report, other))
    });
    progress.finish();
    let (report, other) = match outcome {
        Ok(reports) => reports,
        Err(error) => return super::run::report_run_error(&job, &error, args.json, printer),
    };
    let comparison = compared
        .as_ref()
        .zip(other.as_ref())
        .map(|(packed, other)| super::pilot_compare::compare(&report, packed, other));
    if args.json {
        let value = serde_json::json!({"ok": true, "pilot": report, "compare": comparison});
        printer.data(&format!("{value:#}\n"));
    } else {
        printer.data(&render(&job.name, &report));
        if let (Some(comparison), Some(other)) = (&comparison, &other) {
            printer.data(&super::pilot_compare::render(&job.name, other, comparison));
        }
    }
    let failed = report.failed + other.as_ref().map_or(0, |other| other.failed);
    if failed > 0 {
        ExitStatus::RowsFailed
    } else {
        ExitStatus::Success
    }
}

/// `--pack` / `--compare-pack` asked for a packing this job cannot have.
fn packing_refused(problems: &[String], json: bool, printer: Printer) -> ExitStatus {
    if json {
        let value = serde_json::json!({"ok": false, "error": problems.join("\n")});
        printer.data(&format!("{value:#}\n"));
    } else {
        for problem in problems {
            printer.message(&format!("error: {problem}\n"));
        }
    }
    ExitStatus::Error
}

fn labels_text(labels: &serde_json::Value) -> String {
    match labels {
        serde_json::Value::Object(fields) => fields
            .iter()
            .map(|(name, value)| match value {
                serde_json::Value::String(text) => format!("{}={}", field(name), field(text)),
                serde_json::Value::Array(items) => format!(
                    "{}=[{}]",
                    field(name),
                    items
                        .iter()
                        .map(|item| item
                            .as_str()
                            .map_or_else(|| item.to_string(), |text| field(text).into_owned()))
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
                other => format!("{}={other}", field(name)),
            })
            .collect::<Vec<_>>()
            .join("  "),
        other => other.to_string(),
    }
}

pub(super) fn render(name: &str, report: &PilotReport) -> String {
    let mut text = String::new();
    let width = report
        .results
        .iter()
        .map(|row| field(&row.id).chars().count())
        .max()
        .unwrap_or(2)
        .clamp(2, 40);
    let _ = writeln!(text, "{:<width$}  {:>6} {:>5}  answer", "id", "in", "out");
    for row in &report.results {
        let answer = match (&row.labels, &row.reason) {
            (Some(labels), _) => labels_text(labels),
            (None, Some(reason)) => format!(
                "FAILED {reason}: {}",
                field(
                    &row.detail
                        .as_deref()
                        .unwrap_or_default()
                        .chars()
                        .take(100)
                        .collect::<String>()
                )
            ),
            (None, None) => String::new(),
        };
        let duplicates = if row.duplicate_rows > 0 {
            format!(" (+{} duplicate rows)", row.duplicate_rows)
        } else {
            String::new()
        };
        let _ = writeln!(
            text,
            "{:<width$}  {:>6} {:>5}  {answer}{duplicates}",
            field(&row.id),
            row.input_tokens,
            row.output_tokens
        );
    }
    let _ = writeln!(
        text,
        "\npilot of {name}: {} rows in {} requests, {:.1}s",
        report.rows, report.requests, report.seconds
    );
    let _ = writeln!(text, "  labeled   {}", report.labeled);
    let _ = writeln!(text, "  failed    {}", report.failed);
    for (reason, count) in &report.failures {
        let _ = writeln!(text, "    {reason:<16} {count}");
    }
    let _ = writeln!(
        text,
        "  tokens    {} in / {} out (as the provider reported){}",
        report.input_tokens,
        report.output_tokens,
        if report.retries > 0 {
            format!(
                "; {} request(s) retried after rate limits or errors",
                report.retries
            )
        } else {
            String::new()
        }
    );
    if report.calibrated_changes > 0 {
        let _ = writeln!(
            text,
            "  calibration over the pilot's rows changed {} answer(s)",
            report.calibrated_changes
        );
    }
    let projection = &report.projection;
    let _ = writeln!(
        text,
        "\nprojected batch run: {} rows → {} requests",
        projection.rows, projection.requests
    );
    let _ = writeln!(
        text,
        "  input     {} tokens (tokenizer){}",
        projection.input_tokens,
        projection
            .input_tokens_observed
            .map(|observed| format!(", ~{observed} at the pilot's reported rate"))
            .unwrap_or_default()
    );
    if let (Some(per_request), Some(output)) = (
        projection.output_tokens_per_request,
        projection.output_tokens,
    ) {
        let _ = writeln!(
            text,
            "  output    ~{output} tokens ({per_request:.1} per answer in the pilot)"
        );
    }
    match (projection.cost_usd, projection.cost_usd_max) {
        (Some(cost), Some(bound)) => {
            let _ = writeln!(
                text,
                "  cost      ~${cost:.4} at the batch price (at most ${bound:.4} if every answer is as long as allowed)"
            );
        }
        (Some(cost), None) => {
            let _ = writeln!(text, "  cost      ~${cost:.4} at the batch price");
        }
        _ => {
            let _ = writeln!(
                text,
                "  cost      unknown: no price for this model in the built-in table"
            );
        }
    }
    text
}
