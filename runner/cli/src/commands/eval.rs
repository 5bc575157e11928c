//! `batchlabel eval SPEC --gold COLUMN|FILE [--compare OTHER_SPEC]`: the latest run's labels
//! against gold labels (accuracy, F1, per class, confusion), and row-by-row agreement with
//! another run. Also loads what `report` draws.

use std::fmt::Write as _;

use batchlabel_eval::{Comparison, EvalError, Evaluation, Gold, GoldSource};
use batchlabel_lifecycle::{RowResult, RunStatus};
use batchlabel_spec::{Job, LabelField};

use crate::ExitStatus;
use crate::args::{EvalArgs, EvaluateArgs};
use crate::printer::Printer;

/// A spec's latest run, with its evaluation when gold labels were given.
pub(crate) struct LoadedRun {
    pub(crate) job: Job,
    pub(crate) status: RunStatus,
    pub(crate) results: Vec<RowResult>,
    pub(crate) field: LabelField,
    pub(crate) gold: Option<Gold>,
    pub(crate) evaluation: Option<Evaluation>,
}

/// Load `spec`'s run `run` (the latest when `None`) and evaluate it against `gold` when
/// given.
pub(crate) fn load_run(
    spec: &std::path::Path,
    (args, run): (&EvaluateArgs, Option<i64>),
    json: bool,
    printer: Printer,
) -> Option<LoadedRun> {
    let (job, _) = super::load_job(spec, json, printer)?;
    let loaded = (|| -> Result<LoadedRun, EvalError> {
        let field = batchlabel_eval::choose_field(&job, args.field.as_deref())?.clone();
        let settings = super::status::settings(&args.state.state_dir);
        let (status, results) = batchlabel_lifecycle::row_results(&settings, &job.name, run)
            .map_err(|error| match error {
                batchlabel_lifecycle::LifecycleError::NoRun { path } => EvalError::NoRun { path },
                other => EvalError::Run(Box::new(other)),
            })?;
        let gold = match &args.gold {
            Some(gold) => Some(batchlabel_eval::load_gold(
                &job,
                &field,
                &GoldSource::parse(gold),
            )?),
            None => None,
        };
        let evaluation = match &gold {
            Some(gold) => Some(batchlabel_eval::evaluate(&results, &field, gold)?),
            None => None,
        };
        Ok(LoadedRun {
            job: job.clone(),
            status,
            results,
            field,
            gold,
            evaluation,
        })
    })();
    match loaded {
        Ok(loaded) => Some(loaded),
        Err(error) => {
            report_error(&error, json, printer);
            None
        }
    }
}

fn report_error(error: &EvalError, json: bool, printer: Printer) {
    if json {
        super::print_json_error(&error.to_string(), printer);
        return;
    }
    let mut text = format!("error: {error}\n");
    match error {
        EvalError::Source(batchlabel_source::SourceError::MissingColumn { suggestion, .. }) => {
            if let Some(suggestion) = suggestion {
                let _ = writeln!(text, "hint: did you mean `{suggestion}`?");
            }
            text.push_str(
                "hint: `--gold` takes a column of the spec's input, or a path to a CSV/JSONL file of gold labels\n",
            );
        }
        EvalError::NoRun { .. } => {
            text.push_str(
                "hint: `eval` reads the spec's latest run: run it first (`batchlabel run SPEC`), with the same `--state-dir`\n",
            );
        }
        _ => {}
    }
    printer.message(&text);
}

pub(crate) fn eval(args: &EvalArgs, printer: Printer) -> ExitStatus {
    if args.run.gold.is_none() && args.compare.is_none() {
        printer.message(
            "error: nothing to compare with\nhint: pass `--gold COLUMN|FILE` (gold labels), `--compare OTHER_SPEC` (another run), or both\n",
        );
        return ExitStatus::Error;
    }
    let Some(first) = load_run(
        &args.run.spec,
        (&args.run, args.run.run),
        args.json,
        printer,
    ) else {
        return ExitStatus::Error;
    };
    let mut second = None;
    let mut comparison = None;
    if let Some(other) = &args.compare {
        // The other spec's latest run: `--run` picks this spec's.
        let Some(other_run) = load_run(other, (&args.run, None), args.json, printer) else {
            return ExitStatus::Error;
        };
        comparison = Some(batchlabel_eval::compare(
            &first.field.name,
            &first.results,
            &other_run.results,
            first.gold.as_ref(),
        ));
        second = Some(other_run);
    }
    if args.json {
        let value = serde_json::json!({
            "ok": true,
            "job": first.job.name,
            "run": first.status.run,
            "evaluation": first.evaluation,
            "compare": second.as_ref().map(|second| serde_json::json!({
                "job": second.job.name,
                "run": second.status.run,
                "evaluation": second.evaluation,
                "comparison": comparison,
            })),
        });
        printer.data(&format!("{value:#}\n"));
        return ExitStatus::Success;
    }
    let mut text = String::new();
    if let Some(evaluation) = &first.evaluation {
        render_evaluation(&mut text, &first, evaluation, args.show);
    }
    if let (Some(second), Some(comparison)) = (&second, &comparison) {
        if let Some(evaluation) = &second.evaluation {
            text.push('\n');
            render_evaluation(&mut text, second, evaluation, args.show);
        }
        text.push('\n');
        render_comparison(&mut text, &first, second, comparison, args.show);
    }
    printer.data(&text);
    ExitStatus::Success
}

fn render_evaluation(text: &mut String, run: &LoadedRun, evaluation: &Evaluation, show: usize) {
    let _ = writeln!(
        text,
        "{} run {}: field `{}` against {} — {} rows",
        run.job.name, run.status.run, evaluation.field, evaluation.gold, evaluation.rows
    );
    if evaluation.gold_rows_without_result > 0 || evaluation.results_without_gold > 0 {
        let _ = writeln!(
            text,
            "  not evaluated: {} gold rows without a result, {} results without gold",
            evaluation.gold_rows_without_result, evaluation.results_without_gold
        );
    }
    for (label, count) in &evaluation.unknown_gold_labels {
        let _ = writeln!(
            text,
            "  warning: gold label `{label}` ({count} rows) is not a label of the spec; those rows can never be right"
        );
    }
    let per_class = if let Some(metrics) = &evaluation.single_label {
        let _ = writeln!(
            text,
            "  accuracy {:.3}   macro-F1 {:.3}   weighted-F1 {:.3}   failed {} (counted wrong)",
            metrics.accuracy, metrics.macro_f1, metrics.weighted_f1, metrics.failed_rows
        );
        &metrics.classes
    } else if let Some(metrics) = &evaluation.multi_label_metrics {
        let _ = writeln!(
            text,
            "  micro-F1 {:.3} (P {:.3} R {:.3})   macro-F1 {:.3}   exact match {:.3}   Jaccard {:.3}   failed {} (counted wrong)",
            metrics.micro_f1,
            metrics.micro_precision,
            metrics.micro_recall,
            metrics.macro_f1,
            metrics.exact_match,
            metrics.jaccard,
            metrics.failed_rows
        );
        &metrics.labels
    } else {
        return;
    };
    let width = per_class
        .iter()
        .map(|class| class.label.chars().count())
        .max()
        .unwrap_or(5)
        .clamp(5, 32);
    let _ = writeln!(
        text,
        "  {:<width$}  precision  recall     f1  support  predicted",
        "label"
    );
    for class in per_class
        .iter()
        .filter(|class| class.support > 0 || class.predicted > 0)
    {
        let _ = writeln!(
            text,
            "  {:<width$}  {:>9.3}  {:>6.3}  {:>5.3}  {:>7}  {:>9}",
            class.label, class.precision, class.recall, class.f1, class.support, class.predicted
        );
    }
    if let Some(metrics) = &evaluation.single_label
        && metrics.classes.len() <= 12
    {
        let _ = writeln!(text, "  confusion (rows: gold, columns: predicted):");
        let names: Vec<String> = metrics
            .classes
            .iter()
            .map(|class| class.label.chars().take(8).collect())
            .chain(std::iter::once("failed".to_string()))
            .collect();
        let _ = write!(text, "  {:<width$}", "");
        for name in &names {
            let _ = write!(text, " {name:>8}");
        }
        text.push('\n');
        for (class, counts) in metrics.classes.iter().zip(&metrics.confusion) {
            let _ = write!(text, "  {:<width$}", class.label);
            for count in counts {
                let _ = write!(text, " {count:>8}");
            }
            text.push('\n');
        }
    }
    if show > 0 && !evaluation.wrong_rows.is_empty() {
        let _ = writeln!(text, "  wrong rows (most confident first):");
        for row in evaluation.wrong_rows.iter().take(show) {
            let confidence = row
                .confidence
                .map(|confidence| format!(" ({:.0}% sure)", confidence * 100.0))
                .unwrap_or_default();
            let _ = writeln!(
                text,
                "    {}: gold {} → {}{confidence}  {}",
                row.id,
                row.gold.join(", "),
                row.predicted.join(", "),
                row.text.as_deref().map(shorten).unwrap_or_default()
            );
        }
    }
    if !evaluation.failed_rows.is_empty() {
        let _ = writeln!(text, "  failed rows (counted wrong):");
        for row in evaluation.failed_rows.iter().take(show.max(1)) {
            let _ = writeln!(
                text,
                "    {}: gold {}; {}: {}",
                row.id,
                row.gold.join(", "),
                row.reason,
                shorten(&row.detail)
            );
        }
    }
}

fn render_comparison(
    text: &mut String,
    first: &LoadedRun,
    second: &LoadedRun,
    comparison: &Comparison,
    show: usize,
) {
    let _ = writeln!(
        text,
        "{} run {} vs {} run {}: field `{}` on {} common rows",
        first.job.name,
        first.status.run,
        second.job.name,
        second.status.run,
        comparison.field,
        comparison.common_rows
    );
    let kappa = comparison
        .kappa
        .map(|kappa| format!("   Cohen's kappa {kappa:.3}"))
        .unwrap_or_default();
    let _ = writeln!(
        text,
        "  agreement {:.3} ({} of {}){kappa}   changed {}   failed in both {}",
        comparison.agreement,
        comparison.agreeing_rows,
        comparison.common_rows - comparison.both_failed,
        comparison.changed_rows,
        comparison.both_failed
    );
    if comparison.only_first > 0 || comparison.only_second > 0 {
        let _ = writeln!(
            text,
            "  rows in only one run: {} (first), {} (second)",
            comparison.only_first, comparison.only_second
        );
    }
    if let (Some(fixed), Some(broken)) = (comparison.fixed, comparison.broken) {
        let _ = writeln!(
            text,
            "  against gold: {fixed} changed rows fixed by the second run, {broken} broken"
        );
    }
    for (from, to, count) in comparison.transitions.iter().take(show) {
        let _ = writeln!(text, "    {from} → {to}: {count}");
    }
    if show > 0 && !comparison.changed.is_empty() {
        let _ = writeln!(text, "  changed rows:");
        for row in comparison.changed.iter().take(show) {
            let gold = row
                .gold
                .as_deref()
                .map(|gold| format!(" (gold {gold})"))
                .unwrap_or_default();
            let _ = writeln!(
                text,
                "    {}: {} → {}{gold}  {}",
                row.id,
                row.first,
                row.second,
                row.text.as_deref().map(shorten).unwrap_or_default()
            );
        }
    }
}

fn shorten(text: &str) -> String {
    let flat: String = text
        .chars()
        .map(|character| {
            if character.is_control() {
                ' '
            } else {
                character
            }
        })
        .collect();
    if flat.chars().count() > 80 {
        format!("{}…", flat.chars().take(79).collect::<String>())
    } else {
        flat
    }
}
