//! `batchlabel check SPEC`: the spec, the input's columns, and a test render of the first
//! rows. Exit 0 when all is well, 2 with every problem listed otherwise.

use std::fmt::Write as _;

use batchlabel_compile::{CompileError, RequestRenderer};
use batchlabel_spec::Job;

use crate::args::CheckArgs;
use crate::commands::{load_job_with_plugins, report_compile_error};
use crate::exit_status::ExitStatus;
use crate::printer::{Printer, field};

pub(crate) fn check(args: &CheckArgs, printer: Printer) -> ExitStatus {
    let Some(loaded) = load_job_with_plugins(&args.spec, args.json, printer) else {
        return ExitStatus::Error;
    };
    let job = &loaded.job;
    let diagnostics = &loaded.diagnostics;
    // What `run` would write, with the same state directory.
    let writes = crate::write_guard::run_writes(job, &args.state.state_dir.join(&job.name));
    let reads = crate::write_guard::job_reads(job);
    // Conflicts only: a read-only checkout may still be checked.
    let checked = crate::write_guard::check_conflicts(&reads, &writes);
    if !super::report_unsafe_writes(checked, args.json, printer) {
        return ExitStatus::Error;
    }
    let outcome = match render_first_rows(job, args.rows, loaded.plugins.request.clone()).and_then(
        |mut outcome| {
            if let Some(id) = &args.row {
                outcome.first_request =
                    Some(request_of_row(job, id, loaded.plugins.request.clone())?);
            }
            Ok(outcome)
        },
    ) {
        Ok(outcome) => outcome,
        Err(error) => {
            report_compile_error(job, &error, args.json, printer);
            return ExitStatus::Error;
        }
    };
    // A database output is checked now, as `run` checks it before sending anything.
    if let Err(error) = batchlabel_lifecycle::preflight_output(job) {
        if args.json {
            let value = serde_json::json!({"ok": false, "error": error.to_string()});
            printer.data(&format!("{value:#}\n"));
        } else {
            printer.message(&format!("error: {error}"));
        }
        return ExitStatus::Error;
    }
    if args.json {
        let value = serde_json::json!({
            "ok": true,
            "job": job.name,
            "fingerprint": job.fingerprint,
            "input": job.input.path,
            "columns": outcome.columns,
            "label_fields": job.labels.iter().map(|field| &field.name).collect::<Vec<_>>(),
            "rendered_rows": outcome.rendered,
            "plugins": loaded.summaries,
            "plugin_failures": outcome.plugin_failures,
            "example_overlap": outcome.overlap,
            "first_request": outcome.first_request,
            "warnings": diagnostics.to_json(),
        });
        printer.data(&format!("{value:#}\n"));
        return ExitStatus::Success;
    }
    let mut text = String::new();
    let _ = writeln!(
        text,
        "ok: `{}` is a valid spec (fingerprint {})",
        field(&job.name),
        &job.fingerprint[..12]
    );
    let _ = writeln!(
        text,
        "  input   {} ({} columns: {})",
        job.input.path.display(),
        outcome.columns.len(),
        field(&outcome.columns.join(", "))
    );
    for field in &job.labels {
        let kind = match &field.kind {
            batchlabel_spec::LabelKind::OneOf { labels } => {
                format!("one_of {} labels", labels.len())
            }
            batchlabel_spec::LabelKind::AnyOf { labels, max, .. } => {
                format!(
                    "any_of {} labels{}",
                    labels.len(),
                    max.map_or_else(String::new, |max| format!(", at most {max}"))
                )
            }
            batchlabel_spec::LabelKind::Schema { .. } => "raw schema".to_string(),
        };
        let _ = writeln!(
            text,
            "  label   {}: {kind}",
            crate::printer::field(&field.name)
        );
    }
    let _ = writeln!(
        text,
        "  model   {} `{}`",
        job.model.provider.as_str(),
        field(&job.model.name)
    );
    for plugin in &loaded.summaries {
        let _ = writeln!(
            text,
            "  plugin  {} {}@{} (interface {}, sha256 {}…) at {}",
            plugin.kind,
            plugin.name,
            plugin.version,
            plugin.interface,
            &plugin.sha256[..12],
            plugin.pointer
        );
    }
    let _ = writeln!(
        text,
        "  render  first {} rows rendered without error",
        outcome.rendered
    );
    if outcome.overlap > 0 {
        let _ = writeln!(
            text,
            "  warning: {} input row(s) are also in the examples pool (same id or text): a row never sees itself, but an eval of them is no longer a clean test",
            outcome.overlap
        );
    }
    for failure in &outcome.plugin_failures {
        let _ = writeln!(
            text,
            "  warning: the request plugin failed on a row (it would be recorded as failed): {failure}"
        );
    }
    if args.show_request
        && let Some(first) = &outcome.first_request
    {
        let _ = writeln!(text, "{first:#}");
    }
    printer.data(&text);
    ExitStatus::Success
}

struct CheckOutcome {
    /// Input rows that are also pool examples.
    overlap: u64,
    columns: Vec<String>,
    rendered: usize,
    first_request: Option<serde_json::Value>,
    plugin_failures: Vec<String>,
}

fn render_first_rows(
    job: &Job,
    rows: usize,
    hook: Option<std::sync::Arc<dyn batchlabel_compile::RequestHook>>,
) -> Result<CheckOutcome, CompileError> {
    let mut source = batchlabel_compile::open_source(job)?;
    let columns = source.columns().names().to_vec();
    let renderer = RequestRenderer::new(job, source.columns().clone(), false)
        .map_err(CompileError::Setup)?
        .with_hook(hook);
    let mut plugin_failures = Vec::new();
    let mut chunk = Vec::new();
    source.next_chunk(rows.max(1), &mut chunk)?;
    if chunk.is_empty() {
        return Err(CompileError::NoRows {
            path: job.input.path.clone(),
        });
    }
    let mut problems = Vec::new();
    let mut first_request = None;
    let mut rendered = 0;
    for item in chunk {
        match item {
            Ok(row) => match renderer.render(row) {
                Ok(line) => {
                    rendered += 1;
                    if first_request.is_none() {
                        first_request = serde_json::from_slice(&line).ok();
                    }
                }
                Err(failure) if failure.plugin.is_some() => {
                    plugin_failures.push(format!("{}: {}", failure.row_id, failure.message));
                }
                Err(failure) => problems.push(failure.into_problem(&job.input.path)),
            },
            Err(error) => problems.push(error.into()),
        }
    }
    if !problems.is_empty() {
        let total = problems.len() as u64;
        return Err(CompileError::Rows { problems, total });
    }
    Ok(CheckOutcome {
        overlap: pool_overlap(job)?,
        columns,
        rendered,
        first_request,
        plugin_failures,
    })
}

/// The request of the input row with id `id` (the input is read until it is found).
fn request_of_row(
    job: &Job,
    id: &str,
    hook: Option<std::sync::Arc<dyn batchlabel_compile::RequestHook>>,
) -> Result<serde_json::Value, CompileError> {
    let mut source = batchlabel_compile::open_source(job)?;
    let renderer = RequestRenderer::new(job, source.columns().clone(), false)
        .map_err(CompileError::Setup)?
        .with_hook(hook);
    let mut chunk = Vec::new();
    loop {
        chunk.clear();
        source.next_chunk(4096, &mut chunk)?;
        if chunk.is_empty() {
            return Err(CompileError::Setup(format!(
                "no row has the id `{id}` in `{}`",
                job.input.path.display()
            )));
        }
        for row in chunk.drain(..).flatten() {
            if row.id == id {
                let line = renderer
                    .render(row)
                    .map_err(|failure| CompileError::Setup(failure.message))?;
                return serde_json::from_slice(&line)
                    .map_err(|error| CompileError::Setup(error.to_string()));
            }
        }
    }
}

/// How many input rows share an id or a text with an example of the pool (the whole input is
/// read; only when the job has examples).
fn pool_overlap(job: &Job) -> Result<u64, CompileError> {
    if job.examples.is_none() {
        return Ok(0);
    }
    let pool = batchlabel_compile::examples::pool_of(job)
        .map_err(|error| CompileError::Setup(error.to_string()))?;
    let normalize = |text: &str| {
        text.split_whitespace()
            .map(str::to_lowercase)
            .collect::<Vec<_>>()
            .join(" ")
    };
    let ids: std::collections::HashSet<&str> = pool
        .iter()
        .filter_map(|example| example.id.as_deref())
        .collect();
    let texts: std::collections::HashSet<String> = pool
        .iter()
        .map(|example| normalize(&example.text))
        .collect();
    let mut source = batchlabel_compile::open_source(job)?;
    let columns = source.columns().clone();
    let mut chunk = Vec::new();
    let mut overlap = 0;
    loop {
        chunk.clear();
        source.next_chunk(4096, &mut chunk)?;
        if chunk.is_empty() {
            return Ok(overlap);
        }
        for row in chunk.iter().flatten() {
            let text = job
                .input
                .text_column
                .as_deref()
                .and_then(|column| row.value(&columns, column))
                .and_then(batchlabel_source::Value::as_str)
                .map(normalize);
            if ids.contains(row.id.as_str()) || text.is_some_and(|text| texts.contains(&text)) {
                overlap += 1;
            }
        }
    }
}
