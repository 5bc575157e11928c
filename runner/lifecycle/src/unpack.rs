//! Unpacking: a packed request's answer split into one result per item (see
//! `batchlabel_compile::pack`), so each item is judged, recorded and retried on its own.

use batchlabel_core::{FailureReason, Outcome};
use batchlabel_protocol::pack::{PackField, split_answer};
use batchlabel_providers::codec::{Answer, Finish, LineResult, Usage};

/// The outcomes of one result line: for a pack (`items`), its answer split and each item
/// judged as if it had been asked alone; else the request's own. Ingest and pilot both judge
/// through it.
pub(crate) fn judge_line(
    custom_id: String,
    items: Option<&[String]>,
    result: LineResult,
    fields: &[PackField<'_>],
    checks: &crate::OutputChecks,
) -> Vec<(String, Outcome)> {
    let Some(items) = items else {
        let outcome = crate::judge::judge(result, checks, &custom_id);
        return vec![(custom_id, outcome)];
    };
    items
        .iter()
        .zip(split_result(result, items.len(), fields))
        .map(|(custom_id, item)| {
            let outcome = match item {
                ItemResult::Judge(result) => crate::judge::judge(result, checks, custom_id),
                ItemResult::Decided(outcome) => outcome,
            };
            (custom_id.clone(), outcome)
        })
        .collect()
}

/// What one item of a pack got: a result to judge as if it had been asked alone, or an
/// outcome already decided (the answer left it out).
pub(crate) enum ItemResult {
    Judge(LineResult),
    Decided(Outcome),
}

/// Split a pack's result into its items' results, in item order. The pack's tokens are
/// shared out evenly (the first items take the remainder), so totals stay exact.
pub(crate) fn split_result(
    result: LineResult,
    items: usize,
    fields: &[PackField<'_>],
) -> Vec<ItemResult> {
    let answer = match result {
        LineResult::Answered(answer) => answer,
        // A request the provider refused may be refused for being a pack (too long, say):
        // each item is asked again alone, even where the status says it would fail again.
        LineResult::Rejected { status, message } => {
            return (0..items)
                .map(|_| {
                    ItemResult::Decided(Outcome::Failed {
                        reason: FailureReason::HttpError,
                        detail: format!(
                            "HTTP {status}: {message} (the whole pack; asked again alone)"
                        ),
                        output: None,
                        retryable: true,
                        input_tokens: 0,
                        cached_input_tokens: 0,
                        output_tokens: 0,
                    })
                })
                .collect();
        }
        // The pack was not run, or not read: each item the same.
        other => {
            return (0..items)
                .map(|_| ItemResult::Judge(other.clone()))
                .collect();
        }
    };
    let usages = share(answer.usage, items);
    let whole_pack_failed = answer.refusal.is_some() || answer.finish != Finish::Complete;
    let split = match (&answer.content, whole_pack_failed) {
        (Some(content), false) => split_answer(fields, content, items),
        // A refused, filtered or cut-off pack: each item fails the same way, without the
        // pack's partial answer as its own.
        _ => {
            return usages
                .into_iter()
                .map(|usage| {
                    ItemResult::Judge(LineResult::Answered(Answer {
                        content: None,
                        usage,
                        ..answer.clone()
                    }))
                })
                .collect();
        }
    };
    let parts = match split {
        Ok(parts) => parts,
        Err(detail) => {
            return usages
                .into_iter()
                .map(|usage| {
                    ItemResult::Judge(LineResult::Malformed {
                        detail: detail.clone(),
                        usage,
                    })
                })
                .collect();
        }
    };
    parts
        .into_iter()
        .zip(usages)
        .enumerate()
        .map(|(index, (part, usage))| match part {
            Some(value) => ItemResult::Judge(LineResult::Answered(Answer {
                content: Some(value.to_string()),
                usage,
                ..answer.clone()
            })),
            None => ItemResult::Decided(Outcome::Failed {
                reason: FailureReason::Missing,
                detail: format!("the packed answer did not label item {}", index + 1),
                output: None,
                retryable: true,
                input_tokens: usage.input_tokens,
                cached_input_tokens: usage.cached_input_tokens,
                output_tokens: usage.output_tokens,
            }),
        })
        .collect()
}

/// `usage` shared among `parts` items.
fn share(usage: Usage, parts: usize) -> Vec<Usage> {
    let parts_u64 = parts.max(1) as u64;
    let piece = |total: u64, index: u64| total / parts_u64 + u64::from(index < total % parts_u64);
    (0..parts_u64)
        .map(|index| Usage {
            input_tokens: piece(usage.input_tokens, index),
            output_tokens: piece(usage.output_tokens, index),
            cached_input_tokens: piece(usage.cached_input_tokens, index),
        })
        .collect()
}

#[cfg(test)]
#[path = "unpack_tests.rs"]
mod tests;
