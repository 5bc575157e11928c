//! Ingest: join a shard's result lines on custom_id (read by the provider's codec), judge
//! each answer — refusal, truncation, invalid JSON, the label schema, validator plugins — and
//! classify every failure. Requests of the shard found in no result file are failures too.
//! Parsing runs on many shards at once; the ledger write of one shard is one transaction, so
//! a crash mid-ingest leaves the shard to be ingested again from its downloaded files.

use std::collections::HashSet;
use std::io::BufRead;
use std::path::Path;

use batchlabel_core::{FailureReason, Outcome};
use batchlabel_providers::Codec;
use batchlabel_providers::codec::{Answer, Finish, LineResult, NotRun, Usage};

use crate::{LifecycleError, OutputChecks};

/// What one shard's files said.
pub(crate) struct ShardIngest {
    pub(crate) outcomes: Vec<(String, Outcome)>,
    /// Lines that could not be read at all (their requests count as missing).
    pub(crate) unreadable_lines: u64,
    /// Lines naming a custom_id that is not in the shard, or naming one twice.
    pub(crate) stray_lines: u64,
}

/// Call `each` with every line of `path` (newline included), reading in 1 MiB blocks.
fn for_each_line(
    path: &Path,
    mut each: impl FnMut(&[u8]) -> Result<(), LifecycleError>,
) -> Result<(), LifecycleError> {
    let file = std::fs::File::open(path).map_err(|source| LifecycleError::io(path, source))?;
    let mut reader = std::io::BufReader::with_capacity(1 << 20, file);
    let mut line = Vec::new();
    loop {
        line.clear();
        let read = reader
            .read_until(b'\n', &mut line)
            .map_err(|source| LifecycleError::io(path, source))?;
        if read == 0 {
            return Ok(());
        }
        each(&line)?;
    }
}

/// The custom_ids of a shard input file, in order.
pub(crate) fn shard_custom_ids(
    path: &Path,
    codec: &dyn Codec,
) -> Result<Vec<String>, LifecycleError> {
    let mut ids = Vec::new();
    for_each_line(path, |line| {
        let id = codec.request_custom_id(line).ok_or_else(|| {
            LifecycleError::Internal(format!("{}: unreadable shard line", path.display()))
        })?;
        ids.push(id);
        Ok(())
    })?;
    Ok(ids)
}

/// Read a shard's downloaded result files and classify every request in it. `expected` is
/// the shard's request count and id-set hash: when the files name exactly those ids, the
/// shard file need not be read again; otherwise it is, to name the missing.
pub(crate) fn ingest_shard(
    shard_path: &Path,
    files: &[&Path],
    checks: &OutputChecks,
    expected: (u64, u64),
) -> Result<ShardIngest, LifecycleError> {
    let mut ingest = ShardIngest {
        outcomes: Vec::with_capacity(expected.0 as usize),
        unreadable_lines: 0,
        stray_lines: 0,
    };
    let mut seen: HashSet<u64> = HashSet::with_capacity(expected.0 as usize);
    let mut seen_hash = 0u64;
    for path in files {
        for_each_line(path, |line| {
            if line.iter().all(u8::is_ascii_whitespace) {
                return Ok(());
            }
            let Some(parsed) = checks.codec.decode_result_line(line) else {
                ingest.unreadable_lines += 1;
                return Ok(());
            };
            let hash = batchlabel_ledger::id_hash(&parsed.custom_id);
            if !seen.insert(hash) {
                ingest.stray_lines += 1;
                return Ok(());
            }
            seen_hash = seen_hash.wrapping_add(hash);
            let outcome = judge(parsed.result, checks, &parsed.custom_id);
            ingest.outcomes.push((parsed.custom_id, outcome));
            Ok(())
        })?;
    }
    if seen.len() as u64 == expected.0 && seen_hash == expected.1 {
        return Ok(ingest);
    }
    // Something is missing (or stray): settle it against the shard itself.
    let expected_ids = shard_custom_ids(shard_path, checks.codec.as_ref())?;
    let wanted: HashSet<&str> = expected_ids.iter().map(String::as_str).collect();
    let before = ingest.outcomes.len();
    ingest
        .outcomes
        .retain(|(custom_id, _)| wanted.contains(custom_id.as_str()));
    ingest.stray_lines += (before - ingest.outcomes.len()) as u64;
    let found: HashSet<&str> = ingest.outcomes.iter().map(|(id, _)| id.as_str()).collect();
    let missing: Vec<String> = expected_ids
        .iter()
        .filter(|id| !found.contains(id.as_str()))
        .cloned()
        .collect();
    for custom_id in missing {
        ingest.outcomes.push((
            custom_id,
            Outcome::failed(
                FailureReason::Missing,
                "the request is in neither the output nor the error file".into(),
            ),
        ));
    }
    Ok(ingest)
}

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
    let value = match run_plugins(value, &content, checks, custom_id, usage) {
        Ok(value) => value,
        Err(outcome) => return outcome,
    };
    Outcome::Labeled {
        output: value.to_string(),
        scores: answer.scores,
        model_snapshot: answer.model_snapshot,
        input_tokens: usage.input_tokens,
        output_tokens: usage.output_tokens,
    }
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
