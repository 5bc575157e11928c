//! Ingest: join a shard's output and error lines on custom_id, check each line's HTTP status,
//! parse the message content as JSON, validate it against the label schema, and classify
//! every failure. Requests of the shard found in neither file are failures too. Parsing runs
//! on many shards at once; the ledger write of one shard is one transaction, so a crash
//! mid-ingest leaves the shard to be ingested again from its downloaded files.

use std::collections::HashSet;
use std::io::BufRead;
use std::path::Path;

use serde::Deserialize;
use serde_json::value::RawValue;

use crate::LifecycleError;
use batchlabel_core::{FailureReason, Outcome};

/// What one shard's files said.
pub(crate) struct ShardIngest {
    pub(crate) outcomes: Vec<(String, Outcome)>,
    /// Lines that could not be read at all (their requests count as missing).
    pub(crate) unreadable_lines: u64,
    /// Lines naming a custom_id that is not in the shard, or naming one twice.
    pub(crate) stray_lines: u64,
}

#[derive(Deserialize)]
struct Line<'a> {
    #[serde(borrow)]
    custom_id: std::borrow::Cow<'a, str>,
    #[serde(borrow)]
    response: Option<LineResponse<'a>>,
    error: Option<LineError>,
}

#[derive(Deserialize)]
struct LineResponse<'a> {
    status_code: u16,
    #[serde(borrow)]
    body: &'a RawValue,
}

#[derive(Deserialize)]
struct LineError {
    code: String,
    message: String,
}

#[derive(Deserialize)]
struct Completion<'a> {
    #[serde(default)]
    model: Option<String>,
    /// Raw per-label scores, from the local model (for calibration over the job).
    #[serde(borrow, default)]
    batchlabel_scores: Option<&'a RawValue>,
    choices: Vec<Choice>,
    #[serde(default)]
    usage: Option<Usage>,
}

#[derive(Deserialize)]
struct Choice {
    message: Message,
    #[serde(default)]
    finish_reason: Option<String>,
}

#[derive(Deserialize)]
struct Message {
    #[serde(default)]
    content: Option<String>,
    #[serde(default)]
    refusal: Option<String>,
}

#[derive(Deserialize, Default)]
struct Usage {
    #[serde(default)]
    prompt_tokens: u64,
    #[serde(default)]
    completion_tokens: u64,
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
pub(crate) fn shard_custom_ids(path: &Path) -> Result<Vec<String>, LifecycleError> {
    const PREFIX: &[u8] = br#"{"custom_id":""#;
    let mut ids = Vec::new();
    for_each_line(path, |line| {
        // Shards are ours, written with custom_id first; fall back to parsing otherwise.
        let fast = line
            .strip_prefix(PREFIX)
            .and_then(|rest| {
                rest.iter()
                    .position(|byte| *byte == b'"')
                    .map(|end| &rest[..end])
            })
            .and_then(|id| std::str::from_utf8(id).ok());
        if let Some(id) = fast {
            ids.push(id.to_string());
        } else {
            let value: serde_json::Value = serde_json::from_slice(line).map_err(|error| {
                LifecycleError::Internal(format!(
                    "{}: unreadable shard line: {error}",
                    path.display()
                ))
            })?;
            ids.push(value["custom_id"].as_str().unwrap_or_default().to_string());
        }
        Ok(())
    })?;
    Ok(ids)
}

/// Read a shard's downloaded output and error files and classify every request in it.
/// `expected` is the shard's request count and id-set hash: when the files name exactly
/// those ids, the shard file need not be read again; otherwise it is, to name the missing.
pub(crate) fn ingest_shard(
    shard_path: &Path,
    files: &[&Path],
    validator: &crate::OutputChecks,
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
            let Ok(parsed) = serde_json::from_slice::<Line<'_>>(line) else {
                ingest.unreadable_lines += 1;
                return Ok(());
            };
            let hash = batchlabel_ledger::id_hash(&parsed.custom_id);
            if !seen.insert(hash) {
                ingest.stray_lines += 1;
                return Ok(());
            }
            seen_hash = seen_hash.wrapping_add(hash);
            ingest
                .outcomes
                .push((parsed.custom_id.to_string(), classify(&parsed, validator)));
            Ok(())
        })?;
    }
    if seen.len() as u64 == expected.0 && seen_hash == expected.1 {
        return Ok(ingest);
    }
    // Something is missing (or stray): settle it against the shard itself.
    let expected_ids = shard_custom_ids(shard_path)?;
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

fn classify(line: &Line<'_>, validator: &crate::OutputChecks) -> Outcome {
    let Some(response) = &line.response else {
        let (reason, detail) = match &line.error {
            Some(error) => (
                match error.code.as_str() {
                    "batch_expired" => FailureReason::Expired,
                    "batch_cancelled" => FailureReason::Cancelled,
                    "request_timeout" => FailureReason::Timeout,
                    _ => FailureReason::HttpError,
                },
                format!("{}: {}", error.code, error.message),
            ),
            None => (
                FailureReason::Missing,
                "line has neither response nor error".into(),
            ),
        };
        return Outcome::failed(reason, detail);
    };
    judge_response(
        response.status_code,
        response.body.get(),
        validator,
        &line.custom_id,
    )
}

/// Judge one chat-completions answer (an HTTP status and its body) to the request
/// `custom_id`: an HTTP error, a refusal, a truncated answer, invalid JSON, a schema
/// violation, a plugin's rejection or crash, or labels. Batch output lines and pilot
/// requests go through the same checks.
pub fn judge_response(
    status: u16,
    body: &str,
    checks: &crate::OutputChecks,
    custom_id: &str,
) -> Outcome {
    if status != 200 {
        let message = serde_json::from_str::<batchlabel_protocol::ErrorBody>(body).map_or_else(
            |_| body.chars().take(200).collect(),
            |body| {
                let code = body
                    .error
                    .code
                    .map(|code| format!(" ({code})"))
                    .unwrap_or_default();
                format!("{}{code}", body.error.message)
            },
        );
        return Outcome::Failed {
            reason: FailureReason::HttpError,
            detail: format!("HTTP {status}: {message}"),
            output: None,
            retryable: matches!(status, 408 | 409 | 429) || status >= 500,
            input_tokens: 0,
            output_tokens: 0,
        };
    }
    let completion: Completion<'_> = match serde_json::from_str(body) {
        Ok(completion) => completion,
        Err(error) => {
            return Outcome::failed(
                FailureReason::InvalidJson,
                format!("the response body is not a chat completion: {error}"),
            );
        }
    };
    let usage = completion.usage.unwrap_or_default();
    let failed = |reason, detail: String, output: Option<String>| Outcome::Failed {
        reason,
        detail,
        output,
        retryable: true,
        input_tokens: usage.prompt_tokens,
        output_tokens: usage.completion_tokens,
    };
    let Some(choice) = completion.choices.into_iter().next() else {
        return failed(
            FailureReason::InvalidJson,
            "the completion has no choices".into(),
            None,
        );
    };
    if let Some(refusal) = choice.message.refusal {
        return failed(FailureReason::Refusal, refusal, None);
    }
    match choice.finish_reason.as_deref() {
        Some("length") => {
            return failed(
                FailureReason::Truncated,
                "the answer was cut off by max_completion_tokens".into(),
                choice.message.content,
            );
        }
        Some("content_filter") => {
            return failed(
                FailureReason::Refusal,
                "the content filter stopped the answer".into(),
                None,
            );
        }
        _ => {}
    }
    let Some(content) = choice.message.content else {
        return failed(
            FailureReason::InvalidJson,
            "the message has no content".into(),
            None,
        );
    };
    let value: serde_json::Value = match crate::strict_json::parse_unique_keys(&content) {
        Ok(value) => value,
        Err(error) => {
            return failed(
                FailureReason::InvalidJson,
                format!("the answer is not valid JSON: {error}"),
                Some(content),
            );
        }
    };
    if let Some(problems) = checks.schema_problems(&value) {
        return failed(FailureReason::SchemaViolation, problems, Some(content));
    }
    let mut value = value;
    if !checks.plugins.is_empty() {
        let row_id =
            batchlabel_compile::row_id_of(custom_id).unwrap_or_else(|| custom_id.to_string());
        let row = serde_json::json!({"id": row_id, "custom_id": custom_id}).to_string();
        for plugin in &checks.plugins {
            match plugin.check(&value.to_string(), &row) {
                Ok(normalized) => {
                    if let Some(problems) = checks.schema_problems(&normalized) {
                        return not_retryable(failed(
                            FailureReason::PluginError,
                            format!(
                                "a validator plugin on row {row_id} returned an output that breaks the label schema: {problems}"
                            ),
                            Some(normalized.to_string()),
                        ));
                    }
                    value = normalized;
                }
                Err(failure) if failure.crashed => {
                    return not_retryable(failed(
                        FailureReason::PluginError,
                        format!("{} (row {row_id})", failure.message),
                        Some(content),
                    ));
                }
                Err(failure) => {
                    return failed(
                        FailureReason::PluginRejected,
                        failure.message,
                        Some(content),
                    );
                }
            }
        }
    }
    Outcome::Labeled {
        output: value.to_string(),
        scores: completion
            .batchlabel_scores
            .map(|scores| scores.get().to_string()),
        model_snapshot: completion.model,
        input_tokens: usage.prompt_tokens,
        output_tokens: usage.completion_tokens,
    }
}

/// A plugin that crashed on an output would crash again: asking the model again only costs.
fn not_retryable(mut outcome: Outcome) -> Outcome {
    if let Outcome::Failed { retryable, .. } = &mut outcome {
        *retryable = false;
    }
    outcome
}
