//! `batchlabel run SPEC`: the whole lifecycle against the spec's provider, resumable.

use std::fmt::Write as _;
use std::time::Duration;

use batchlabel_lifecycle::{LifecycleError, RunSettings, RunSummary};
use batchlabel_providers::{BatchProvider, OpenOptions};
use batchlabel_spec::Job;

use crate::ExitStatus;
use crate::args::{ApiArgs, RunArgs};
use crate::printer::Printer;
use crate::run_progress::RunProgress;

/// Open `job`'s provider (the one factory: `batchlabel_providers::open`); a provider that
/// keeps local state (the local model's batches) keeps it in `state_dir`.
pub(crate) fn open_provider(
    job: &Job,
    api: &ApiArgs,
    (state_dir, threads): (std::path::PathBuf, Option<u32>),
    runtime: &tokio::runtime::Runtime,
) -> Result<Box<dyn BatchProvider>, String> {
    let options = OpenOptions {
        base_url: api.base_url.clone(),
        state_dir,
        threads,
    };
    runtime.block_on(batchlabel_providers::open(job, &options))
}

pub(crate) fn runtime() -> Result<tokio::runtime::Runtime, String> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|error| format!("error: cannot start the async runtime: {error}\n"))
}

pub(crate) fn run(args: &RunArgs, printer: Printer) -> ExitStatus {
    let Some(loaded) = super::load_job_with_plugins(&args.spec, args.json, printer) else {
        return ExitStatus::Error;
    };
    let job = loaded.job;
    let run_dir = args.state.state_dir.join(&job.name);
    let writes = crate::write_guard::run_writes(&job, &run_dir);
    let reads = crate::write_guard::job_reads(&job);
    if !super::writes_are_safe(&reads, &writes, args.json, printer) {
        return ExitStatus::Error;
    }
    let Some(runtime) = super::reported(runtime(), printer) else {
        return ExitStatus::Error;
    };
    let local_state = (run_dir.join("local-batches"), args.threads);
    let provider = open_provider(&job, &args.api, local_state, &runtime);
    let Some(provider) = super::reported(provider, printer) else {
        return ExitStatus::Error;
    };
    let tuning = provider.tuning();
    let poll_interval = args.poll_interval.unwrap_or(tuning.poll_seconds).max(0.01);
    let settings = RunSettings {
        state_dir: args.state.state_dir.clone(),
        limit: args.limit,
        no_wait: args.no_wait,
        new_run: args.new_run,
        poll_interval: Duration::from_secs_f64(poll_interval),
        max_poll_interval: Duration::from_secs_f64(
            args.max_poll_interval
                .unwrap_or(tuning.max_poll_seconds)
                .max(poll_interval),
        ),
        concurrency: tuning.concurrency.unwrap_or(args.concurrency),
        max_usd: args.max_usd,
        plugins: loaded.plugins,
    };
    let progress = RunProgress::new(printer.quiet || args.json);
    let outcome = runtime.block_on(batchlabel_lifecycle::run(
        &job,
        &settings,
        provider.as_ref(),
        &progress,
    ));
    progress.finish();
    match outcome {
        Ok(summary) => {
            if args.json {
                let value = serde_json::json!({"ok": true, "summary": summary});
                printer.data(&format!("{value:#}\n"));
            } else {
                printer.data(&render_summary(&summary));
            }
            if summary.submitted_only {
                ExitStatus::Success
            } else if summary.counts.failed_rows > 0 {
                ExitStatus::RowsFailed
            } else {
                ExitStatus::Success
            }
        }
        Err(error) => report_run_error(&job, &error, args.json, printer),
    }
}

/// Report why a run (or pilot) stopped: compile errors at their spec or input position,
/// the rest with a hint; always exit 2.
pub(crate) fn report_run_error(
    job: &Job,
    error: &LifecycleError,
    json: bool,
    printer: Printer,
) -> ExitStatus {
    match error {
        LifecycleError::Compile(error) => super::report_compile_error(job, error, json, printer),
        error => report_lifecycle_error(error, json, printer),
    }
    ExitStatus::Error
}

pub(crate) fn report_lifecycle_error(error: &LifecycleError, json: bool, printer: Printer) {
    if json {
        super::print_json_error(&error.to_string(), printer);
        return;
    }
    let mut text = format!("error: {error}\n");
    match error {
        LifecycleError::Provider(_) => text.push_str(
            "hint: nothing is lost; fix the cause and run the same command again to resume\n",
        ),
        LifecycleError::OverBudget { .. } => text.push_str(
            "hint: `batchlabel estimate SPEC` shows the bound per batch file; raise `budget.max_usd` or pass `--max-usd`, or run fewer rows with `--limit`; running again resumes\n",
        ),
        _ => {}
    }
    printer.message(&text);
}

fn render_summary(summary: &RunSummary) -> String {
    let mut text = String::new();
    if summary.submitted_only {
        let _ = writeln!(
            text,
            "run {}: {} batch(es) submitted for {} request(s); run the same command again to collect the results (or `batchlabel status`)",
            summary.run,
            summary.counts.batches,
            summary.counts.requests - summary.counts.cached_requests
        );
        return text;
    }
    let _ = writeln!(
        text,
        "run {} finished: {} rows",
        summary.run, summary.counts.rows
    );
    let _ = writeln!(text, "  labeled   {}", summary.counts.labeled_rows);
    let _ = writeln!(text, "  failed    {}", summary.counts.failed_rows);
    for (reason, count) in &summary.counts.failures {
        let _ = writeln!(text, "    {reason:<16} {count}");
    }
    if summary.counts.pending_rows > 0 {
        let _ = writeln!(text, "  pending   {}", summary.counts.pending_rows);
    }
    let _ = writeln!(
        text,
        "  requests  {} ({} duplicate rows shared one, {} reused from earlier runs)",
        summary.counts.requests, summary.counts.duplicate_rows, summary.counts.cached_requests
    );
    let _ = writeln!(
        text,
        "  batches   {} over {} attempt(s)",
        summary.counts.batches, summary.counts.attempts
    );
    let _ = writeln!(
        text,
        "  tokens    {} in / {} out, ${:.4}",
        summary.counts.input_tokens, summary.counts.output_tokens, summary.counts.cost_usd
    );
    if let Some(output) = &summary.output {
        let _ = writeln!(text, "  results   {}", output.display());
    }
    if let Some(errors) = &summary.errors
        && summary.counts.failed_rows > 0
    {
        let _ = writeln!(text, "  errors    {}", errors.display());
    }
    text
}
