//! `batchlabel report SPEC --html out.html [--gold COLUMN|FILE]`: a self-contained HTML page
//! of the latest run (summary, cost, label distribution; with gold labels, the confusion
//! heatmap, per-class F1 and the worst rows).

use batchlabel_report::{ReportInput, RunFacts};
use serde_json::Value;

use crate::ExitStatus;
use crate::args::ReportArgs;
use crate::commands::eval::LoadedRun;
use crate::printer::Printer;

pub(crate) fn report(args: &ReportArgs, printer: Printer) -> ExitStatus {
    let Some(loaded) =
        super::eval::load_run(&args.run.spec, (&args.run, args.run.run), false, printer)
    else {
        return ExitStatus::Error;
    };
    // The page must not replace anything the job reads or wrote (its results included).
    let mut reads = crate::write_guard::job_reads(&loaded.job);
    if let Some(output) = &loaded.job.output {
        for (what, path) in [
            ("the results file", &output.path),
            ("the errors file", &output.errors_path),
        ] {
            reads.push(crate::write_guard::Read {
                what: what.into(),
                path: path.clone(),
            });
        }
    }
    if let Some(batchlabel_eval::GoldSource::File(path)) = args
        .run
        .gold
        .as_deref()
        .map(batchlabel_eval::GoldSource::parse)
    {
        reads.push(crate::write_guard::Read {
            what: "the gold labels file (`--gold`)".into(),
            path,
        });
    }
    let run_dir = args.run.state.state_dir.join(&loaded.job.name);
    let writes = [
        crate::write_guard::Write::file("the report (`--html`)", &args.html),
        crate::write_guard::Write::run_directory(&run_dir),
    ];
    if !super::writes_are_safe(&reads, &writes, false, printer) {
        return ExitStatus::Error;
    }
    let (labels, predicted) = distribution(&loaded);
    let input = ReportInput {
        facts: facts(&loaded),
        field: loaded.field.name.clone(),
        labels,
        predicted,
        evaluation: loaded.evaluation.as_ref(),
        generated_at: batchlabel_lifecycle::rfc3339(
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |elapsed| elapsed.as_secs() as i64),
        ),
    };
    let html = match batchlabel_report::render_html(&input) {
        Ok(html) => html,
        Err(error) => {
            printer.message(&format!("error: drawing a chart failed: {error}\n"));
            return ExitStatus::Error;
        }
    };
    if let Some(parent) = args.html.parent()
        && !parent.as_os_str().is_empty()
        && let Err(error) = std::fs::create_dir_all(parent)
    {
        printer.message(&format!("error: `{}`: {error}\n", parent.display()));
        return ExitStatus::Error;
    }
    if let Err(error) = std::fs::write(&args.html, html) {
        printer.message(&format!("error: `{}`: {error}\n", args.html.display()));
        return ExitStatus::Error;
    }
    printer.data(&format!(
        "wrote {} (run {} of {})\n",
        args.html.display(),
        loaded.status.run,
        loaded.job.name
    ));
    ExitStatus::Success
}

fn facts(loaded: &LoadedRun) -> RunFacts {
    let status = &loaded.status;
    let counts = &status.counts;
    RunFacts {
        job: loaded.job.name.clone(),
        description: loaded.job.description.clone(),
        run: status.run,
        state: status.state.to_string(),
        model: format!(
            "{:?} · {}",
            loaded.job.model.provider, loaded.job.model.name
        )
        .to_lowercase(),
        spec_fingerprint: status.spec_fingerprint.clone(),
        started: batchlabel_lifecycle::rfc3339(status.created_at),
        rows: [
            counts.rows,
            counts.labeled_rows,
            counts.failed_rows,
            counts.pending_rows,
        ],
        requests: [
            counts.requests,
            counts.duplicate_rows,
            counts.cached_requests,
        ],
        batches: counts.batches,
        attempts: counts.attempts,
        failures: counts
            .failures
            .iter()
            .map(|(reason, count)| (reason.clone(), *count))
            .collect(),
        tokens: [counts.input_tokens, counts.output_tokens],
        cost_usd: counts.cost_usd,
        estimated_usd_max: (counts.cost.estimated_shards > 0)
            .then_some(counts.cost.estimated_usd_max),
        actual_usd: counts.cost.actual_usd,
    }
}

/// Rows predicted with each of the field's labels, over all results.
fn distribution(loaded: &LoadedRun) -> (Vec<String>, Vec<u64>) {
    let labels: Vec<String> = match &loaded.field.kind {
        batchlabel_spec::LabelKind::OneOf { labels }
        | batchlabel_spec::LabelKind::AnyOf { labels, .. } => {
            labels.iter().map(|label| label.name.clone()).collect()
        }
        batchlabel_spec::LabelKind::Schema { .. } => Vec::new(),
    };
    let mut counts = vec![0u64; labels.len()];
    for result in &loaded.results {
        let Some(output) = &result.output else {
            continue;
        };
        let names: Vec<&str> = match &output[&loaded.field.name] {
            Value::String(name) => vec![name.as_str()],
            Value::Array(items) => items.iter().filter_map(Value::as_str).collect(),
            _ => Vec::new(),
        };
        for name in names {
            if let Some(index) = labels.iter().position(|label| label == name) {
                counts[index] += 1;
            }
        }
    }
    (labels, counts)
}
