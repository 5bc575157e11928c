//! `batchlabel estimate SPEC`: tokens and dollars before anything is sent.

use std::fmt::Write as _;

use crate::args::EstimateArgs;
use crate::commands::{load_job_with_plugins, report_compile_error};
use crate::exit_status::ExitStatus;
use crate::printer::Printer;

pub(crate) fn estimate(args: &EstimateArgs, printer: Printer) -> ExitStatus {
    let Some(loaded) = load_job_with_plugins(&args.spec, args.json, printer) else {
        return ExitStatus::Error;
    };
    let job = loaded.job;
    let progress = if args.json {
        None
    } else {
        printer.progress("estimating")
    };
    let estimate =
        match batchlabel_compile::estimate(&job, progress, loaded.plugins.request.clone()) {
            Ok(estimate) => estimate,
            Err(error) => {
                report_compile_error(&job, &error, args.json, printer);
                return ExitStatus::Error;
            }
        };
    if args.json {
        let value = serde_json::json!({ "ok": true, "estimate": estimate });
        printer.data(&format!("{value:#}\n"));
        return ExitStatus::Success;
    }
    let dollars = |value: Option<f64>| {
        value.map_or_else(|| "n/a".to_string(), |value| format!("${value:.4}"))
    };
    let count = |value: Option<u64>| {
        value.map_or_else(|| "unbounded".to_string(), |value| value.to_string())
    };
    let mut text = String::new();
    let _ = writeln!(
        text,
        "{} rows → {} requests ({} duplicate rows share a request), model `{}`, tokenizer {}{}",
        estimate.rows,
        estimate.requests,
        estimate.duplicate_rows,
        estimate.model,
        estimate.encoding,
        if estimate.encoding_assumed {
            " (assumed: model unknown to tiktoken)"
        } else {
            ""
        }
    );
    let _ = writeln!(
        text,
        "{:<20} {:>9} {:>14} {:>16} {:>12}",
        "file", "requests", "input tokens", "output tokens ≤", "cost ≤"
    );
    for shard in &estimate.shards {
        let _ = writeln!(
            text,
            "{:<20} {:>9} {:>14} {:>16} {:>12}",
            shard.file,
            shard.requests,
            shard.input_tokens,
            count(shard.output_tokens_max),
            dollars(shard.cost_usd_max)
        );
    }
    let _ = writeln!(
        text,
        "{:<20} {:>9} {:>14} {:>16} {:>12}",
        "total",
        estimate.requests,
        estimate.input_tokens,
        count(estimate.output_tokens_max),
        dollars(estimate.cost_usd_max)
    );
    let _ = writeln!(
        text,
        "output ≤ {} tokens per request (label schema and max_completion_tokens); input includes {} schema tokens per request",
        count(estimate.output_tokens_per_request_max),
        estimate.schema_tokens_per_request
    );
    match &estimate.price {
        Some(price) => {
            let _ = writeln!(
                text,
                "batch price of `{}`: ${} in / ${} out per 1M tokens (built-in table of {})",
                price.model,
                price.input_per_million,
                price.output_per_million,
                estimate.prices_as_of
            );
        }
        None => {
            let _ = writeln!(
                text,
                "no built-in price for `{}` (table of {}); token counts above still hold",
                estimate.model, estimate.prices_as_of
            );
        }
    }
    if estimate.output_tokens_max.is_none() {
        text.push_str(
            "hint: set `model.max_completion_tokens` to bound the output of `schema` fields\n",
        );
    }
    if let (Some(budget), Some(cost)) = (estimate.budget_usd, estimate.cost_usd_max) {
        if cost > budget {
            let _ = writeln!(
                text,
                "over budget: up to ${cost:.4} against `budget.max_usd` ${budget:.2} (by ${:.4})",
                cost - budget
            );
        } else {
            let _ = writeln!(text, "within budget: up to ${cost:.4} of ${budget:.2}");
        }
    }
    printer.data(&text);
    ExitStatus::Success
}
