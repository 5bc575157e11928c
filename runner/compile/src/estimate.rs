//! The pre-flight estimate: plan the job without writing, count prompt tokens with the
//! model's tokenizer, bound output tokens by the label schema and `max_completion_tokens`,
//! and price it all at the batch rate, per shard and in total.

use batchlabel_spec::Job;
use serde::Serialize;

use std::path::Path;

use crate::cost_model::{CostBound, CostModel};
use crate::{CompileError, CompileOptions, compile};

/// The estimate of one batch file.
#[derive(Debug, Clone, Serialize)]
pub struct ShardEstimate {
    /// File name it would have.
    pub file: String,
    /// Requests in it.
    pub requests: u64,
    /// Its size in bytes.
    pub bytes: u64,
    /// Prompt tokens.
    pub input_tokens: u64,
    /// Most output tokens (requests × per-request bound), when bounded.
    pub output_tokens_max: Option<u64>,
    /// Most dollars, when the model's price and the output bound are known.
    pub cost_usd_max: Option<f64>,
}

/// The estimate of a whole job.
#[derive(Debug, Clone, Serialize)]
pub struct Estimate {
    /// Model priced.
    pub model: String,
    /// Tokenizer used.
    pub encoding: &'static str,
    /// Whether the tokenizer was assumed (model unknown to tiktoken).
    pub encoding_assumed: bool,
    /// Rows read.
    pub rows: u64,
    /// Requests to send (after dedupe).
    pub requests: u64,
    /// Requests as sent: with `batch.pack`, packs (and lines sent alone); else `requests`.
    pub requests_sent: u64,
    /// Rows served by another row's identical request.
    pub duplicate_rows: u64,
    /// Prompt tokens in all (messages, chat overhead, and the output schema).
    pub input_tokens: u64,
    /// Of these, per request: the output schema's tokens.
    pub schema_tokens_per_request: u64,
    /// Bound on output tokens per request.
    pub output_tokens_per_request_max: Option<u64>,
    /// Bound on output tokens in all.
    pub output_tokens_max: Option<u64>,
    /// Batch price used, per 1M tokens.
    pub price: Option<crate::BatchPrice>,
    /// Date of the built-in price table.
    pub prices_as_of: &'static str,
    /// Dollars for the input tokens.
    pub input_cost_usd: Option<f64>,
    /// Most dollars in all.
    pub cost_usd_max: Option<f64>,
    /// The spec's budget, if any.
    pub budget_usd: Option<f64>,
    /// Per batch file.
    pub shards: Vec<ShardEstimate>,
}

/// Estimate tokens and cost of `job` without writing anything.
pub fn estimate(
    job: &Job,
    progress: Option<std::sync::Arc<dyn crate::Progress>>,
    request_hook: Option<std::sync::Arc<dyn crate::RequestHook>>,
) -> Result<Estimate, CompileError> {
    // Packing reads the compiled lines: a packed job is compiled into a scratch folder.
    let scratch = if job.batching.pack > 1 {
        Some(tempfile::tempdir().map_err(|error| CompileError::io(Path::new("."), error))?)
    } else {
        None
    };
    let report = compile(
        job,
        &CompileOptions {
            out_dir: scratch.as_ref().map(|scratch| scratch.path().join("plan")),
            count_tokens: true,
            progress,
            labeled: None,
            row_limit: None,
            row_filter: None,
            request_hook,
        },
    )?;
    let model = CostModel::for_job(job);
    let shards: Vec<ShardEstimate> = report
        .shards
        .iter()
        .map(|shard| {
            let bound = model.shard_bound(shard);
            ShardEstimate {
                file: shard.sent_file().to_string(),
                requests: shard.requests,
                bytes: shard.sent_bytes(),
                input_tokens: bound.input_tokens,
                output_tokens_max: bound.output_tokens_max,
                cost_usd_max: bound.cost_usd_max,
            }
        })
        .collect();
    let total = shards
        .iter()
        .fold(model.bound(0, 0), |total, shard| CostBound {
            input_tokens: total.input_tokens + shard.input_tokens,
            output_tokens_max: total
                .output_tokens_max
                .zip(shard.output_tokens_max)
                .map(|(a, b)| a + b),
            cost_usd_max: total
                .cost_usd_max
                .zip(shard.cost_usd_max)
                .map(|(a, b)| a + b),
        });
    let counter = model.counter();
    let price = model.price;
    let input_tokens = total.input_tokens;
    Ok(Estimate {
        model: job.model.name.clone(),
        encoding: counter.encoding,
        encoding_assumed: counter.assumed,
        rows: report.rows,
        requests: report.requests,
        requests_sent: report
            .shards
            .iter()
            .map(|shard| {
                shard
                    .packed
                    .as_ref()
                    .map_or(shard.requests, |packed| packed.requests)
            })
            .sum(),
        duplicate_rows: report.duplicate_rows,
        input_tokens,
        schema_tokens_per_request: model.schema_tokens_per_request,
        output_tokens_per_request_max: model.output_tokens_per_request_max,
        output_tokens_max: total.output_tokens_max,
        price,
        prices_as_of: batchlabel_providers::prices_as_of(job.model.provider),
        input_cost_usd: price.map(|price| price.cost(input_tokens, 0)),
        cost_usd_max: total.cost_usd_max,
        budget_usd: job.budget_usd,
        shards,
    })
}
