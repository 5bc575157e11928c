//! A pilot's projection of the full batch run: the estimate's token count (packing
//! included) with the output length and input rate the pilot observed, priced at the batch
//! rate.

use batchlabel_compile::Estimate;
use batchlabel_spec::Job;

use crate::LifecycleError;
use crate::pilot::{PilotReport, PilotRow, Projection};

pub(crate) fn empty_projection() -> Projection {
    Projection {
        rows: 0,
        requests: 0,
        input_tokens: 0,
        input_tokens_observed: None,
        output_tokens_per_request: None,
        output_tokens: None,
        cost_usd: None,
        cost_usd_max: None,
        price: None,
    }
}

pub(crate) fn project(
    job: &Job,
    pilot: &PilotReport,
    request_hook: Option<std::sync::Arc<dyn batchlabel_compile::RequestHook>>,
) -> Result<Projection, LifecycleError> {
    let estimate: Estimate = batchlabel_compile::estimate(job, None, request_hook)?;
    let price = batchlabel_compile::job_price(job);
    let answered: Vec<&PilotRow> = pilot
        .results
        .iter()
        .filter(|row| row.output_tokens > 0 || row.labels.is_some())
        .collect();
    let per_request = |pick: fn(&PilotRow) -> u64| {
        (!answered.is_empty()).then(|| {
            answered.iter().map(|row| pick(row)).sum::<u64>() as f64 / answered.len() as f64
        })
    };
    let output_per_request = per_request(|row| row.output_tokens);
    let input_per_request = per_request(|row| row.input_tokens);
    let output_tokens =
        output_per_request.map(|average| (average * estimate.requests as f64).round() as u64);
    Ok(Projection {
        rows: estimate.rows,
        requests: estimate.requests,
        input_tokens: estimate.input_tokens,
        input_tokens_observed: input_per_request
            .map(|average| (average * estimate.requests as f64).round() as u64),
        output_tokens_per_request: output_per_request,
        output_tokens,
        cost_usd: price
            .zip(output_tokens)
            .map(|(price, output)| price.cost(estimate.input_tokens, output)),
        cost_usd_max: estimate.cost_usd_max.or_else(|| {
            price
                .zip(estimate.output_tokens_max)
                .map(|(price, output)| price.cost(estimate.input_tokens, output))
        }),
        price,
    })
}
