//! Judging one answer: an HTTP error, a request that never ran, a refusal, a truncated
//! answer, invalid JSON, a schema violation, a plugin's rejection or crash — or labels. Batch
//! result lines and pilot answers go through the same checks, whatever the provider.

use batchlabel_core::{FailureReason, Outcome};
use batchlabel_providers::codec::{Answer, Finish, LineResult, NotRun, Usage};

use crate::OutputChecks;

/// Judge what the provider said about one request to `custom_id`: an HTTP error, a request
/// that never ran, a refusal, a truncated answer, invalid JSON, a schema violation, a
/// plugin's rejection or crash, or labels. Batch result lines and pilot answers go through
/// the same checks.
pub(crate) fn judge(result: LineResult, checks: &OutputChecks, custom_id: &str) -> Outcome {
    match result {
        LineResult::Answered(answer) => judge_answer(answer, checks, custom_id),
        LineResult::Rejected { status, message } => Outcome::Failed {
            reason: FailureReason::HttpError,
            detail: format!("HTTP {status}: {message}"),
            output: None,
            retryable: matches!(status, 408 | 409 | 429) || status >= 500,
            input_tokens: 0,
            cached_input_tokens: 0,
            output_tokens: 0,
        },
        LineResult::NotRun { reason, detail } => {
            let reason = match reason {
                NotRun::Expired => FailureReason::Expired,
                NotRun::Cancelled => FailureReason::Cancelled,
                NotRun::Timeout => FailureReason::Timeout,
                NotRun::NoAnswer => FailureReason::Missing,
                NotRun::Other => FailureReason::HttpError,
            };
            Outcome::failed(reason, detail)
        }
        LineResult::Malformed { detail, usage } => {
            failed(usage, FailureReason::InvalidJson, detail, None)
        }
    }
}

fn failed(usage: Usage, reason: FailureReason, detail: String, output: Option<String>) -> Outcome {
    Outcome::Failed {
        reason,
        detail,
        output,
        retryable: true,
        input_tokens: usage.input_tokens,
        cached_input_tokens: usage.cached_input_tokens,
        output_tokens: usage.output_tokens,
    }
}

fn judge_answer(answer: Answer, checks: &OutputChecks, custom_id: &str) -> Outcome {
    let usage = answer.usage;
    if let Some(refusal) = answer.refusal {
        return failed(usage, FailureReason::Refusal, refusal, None);
    }
    match answer.finish {
        Finish::Truncated => {
            return failed(
                usage,
                FailureReason::Truncated,
                "the answer was cut off by max_completion_tokens".into(),
                answer.content,
            );
        }
        Finish::Filtered => {
            return failed(
                usage,
                FailureReason::Refusal,
                "the content filter stopped the answer".into(),
                None,
            );
        }
        Finish::Complete => {}
    }
    let Some(content) = answer.content else {
        return failed(
            usage,
            FailureReason::InvalidJson,
            "the message has no content".into(),
            None,
        );
    };
    let value: serde_json::Value = match crate::strict_json::parse_unique_keys(&content) {
        Ok(value) => value,
        Err(error) => {
            return failed(
                usage,
                FailureReason::InvalidJson,
                format!("the answer is not valid JSON: {error}"),
                Some(content),
            );
        }
    };
    if let Some(problems) = checks.schema_problems(&value) {
        return failed(
            usage,
            FailureReason::SchemaViolation,
            problems,
            Some(content),
        );
    }
    let unchecked = (!checks.plugins.is_empty()).then(|| value.clone());
    let value = match run_plugins(value, &content, checks, custom_id, usage) {
        Ok(value) => value,
        Err(outcome) => return outcome,
    };
    let changed = unchecked.is_some_and(|unchecked| unchecked != value);
    Outcome::Labeled {
        output: value.to_string(),
        answer: changed.then_some(content),
        scores: answer.scores,
        model_snapshot: answer.model_snapshot,
        input_tokens: usage.input_tokens,
        cached_input_tokens: usage.cached_input_tokens,
        output_tokens: usage.output_tokens,
    }
}

/// What this job's checks make of an answer an earlier run got for `custom_id`: the label
/// schema, then every validator plugin in turn. `None` when they reject it.
pub(crate) fn judged_again(
    answer: &str,
    checks: &OutputChecks,
    custom_id: &str,
) -> Option<serde_json::Value> {
    let value = crate::strict_json::parse_unique_keys(answer).ok()?;
    if checks.schema_problems(&value).is_some() {
        return None;
    }
    run_plugins(value, answer, checks, custom_id, Usage::default()).ok()
}

/// Each validator plugin in turn may normalize the answer or reject it.
fn run_plugins(
    value: serde_json::Value,
    content: &str,
    checks: &OutputChecks,
    custom_id: &str,
    usage: Usage,
) -> Result<serde_json::Value, Outcome> {
    let failed = |reason, detail, output| failed(usage, reason, detail, output);
    let content = content.to_string();
    let mut value = value;
    if !checks.plugins.is_empty() {
        let row_id =
            batchlabel_compile::row_id_of(custom_id).unwrap_or_else(|| custom_id.to_string());
        let row = serde_json::json!({"id": row_id, "custom_id": custom_id}).to_string();
        for plugin in &checks.plugins {
            match plugin.check(&value.to_string(), &row) {
                Ok(normalized) => {
                    if let Some(problems) = checks.schema_problems(&normalized) {
                        return Err(not_retryable(failed(
                            FailureReason::PluginError,
                            format!(
                                "a validator plugin on row {row_id} returned an output that breaks the label schema: {problems}"
                            ),
                            Some(normalized.to_string()),
                        )));
                    }
                    value = normalized;
                }
                Err(failure) if failure.crashed => {
                    return Err(not_retryable(failed(
                        FailureReason::PluginError,
                        format!("{} (row {row_id})", failure.message),
                        Some(content.clone()),
                    )));
                }
                Err(failure) => {
                    return Err(failed(
                        FailureReason::PluginRejected,
                        failure.message,
                        Some(content.clone()),
                    ));
                }
            }
        }
    }
    Ok(value)
}

/// A plugin that crashed on an output would crash again: asking the model again only costs.
fn not_retryable(mut outcome: Outcome) -> Outcome {
    if let Outcome::Failed { retryable, .. } = &mut outcome {
        *retryable = false;
    }
    outcome
}
