//! The end of a batch: once its internal batch is over, its output and error files are
//! translated once into a Gemini responses file (`{"key", "response"}` or `{"key", "error"}`
//! lines, in input order) and the batch's final state and counts are recorded.

use std::collections::HashMap;
use std::sync::Arc;

use batchlabel_protocol::{Batch, BatchStatus};
use serde::Deserialize;
use serde_json::json;

use super::records::{BatchRecord, Ended, FileRecord};
use super::translate::{status_name, to_response};
use crate::routes::AppState;

/// The batch's state, from its record and its internal batch.
pub(crate) fn state_of(record: &BatchRecord, batch: Option<&Batch>) -> &'static str {
    if let Some(ended) = &record.ended {
        return match ended.state.as_str() {
            "BATCH_STATE_FAILED" => "BATCH_STATE_FAILED",
            "BATCH_STATE_CANCELLED" => "BATCH_STATE_CANCELLED",
            "BATCH_STATE_EXPIRED" => "BATCH_STATE_EXPIRED",
            _ => "BATCH_STATE_SUCCEEDED",
        };
    }
    // Ended only once its responses are written, so an ended batch always has them.
    match batch.map(|batch| batch.status) {
        None | Some(BatchStatus::Validating) => "BATCH_STATE_PENDING",
        Some(_) => "BATCH_STATE_RUNNING",
    }
}

/// The record, finished if its internal batch is over (reads files: call off async threads).
pub(crate) fn finish_if_done(
    state: &AppState,
    id: &str,
) -> std::io::Result<Option<Arc<BatchRecord>>> {
    let Some(record) = state.gemini.batch(id) else {
        return Ok(None);
    };
    let Some(batch) = state.store.batch(&record.batch_id) else {
        return Ok(Some(record));
    };
    if record.ended.is_some() || !batch.status.is_terminal() {
        return Ok(Some(record));
    }
    let _finishing = state
        .gemini
        .finishing
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    // Another caller may have finished it while this one waited.
    let Some(record) = state.gemini.batch(id) else {
        return Ok(None);
    };
    if record.ended.is_some() {
        return Ok(Some(record));
    }
    let at = [
        batch.completed_at,
        batch.cancelled_at,
        batch.expired_at,
        batch.failed_at,
    ]
    .into_iter()
    .flatten()
    .max()
    .unwrap_or_else(crate::now);
    let (ended_state, error) = match batch.status {
        BatchStatus::Failed => {
            let first = batch.errors.as_ref().and_then(|errors| errors.data.first());
            // A full queue was refused at create (429), so a batch failing here failed
            // validation. Operation errors are google.rpc.Status: gRPC codes (3 is
            // INVALID_ARGUMENT), not HTTP ones.
            let message = first.map_or("The batch failed.", |error| error.message.as_str());
            ("BATCH_STATE_FAILED", Some((3, message.to_string())))
        }
        BatchStatus::Cancelled => ("BATCH_STATE_CANCELLED", None),
        BatchStatus::Expired => ("BATCH_STATE_EXPIRED", None),
        _ => ("BATCH_STATE_SUCCEEDED", None),
    };
    let mut ended = Ended {
        at,
        state: ended_state.into(),
        successful: 0,
        failed: 0,
        responses_file: None,
        error,
    };
    if batch.status != BatchStatus::Failed {
        let lines = translate(state, &record, &batch, &mut ended)?;
        ended.responses_file = Some(write_responses(state, &record, &lines)?);
    }
    let mut record = BatchRecord::clone(&record);
    record.ended = Some(ended);
    state.gemini.save_batch(record).map(Some)
}

#[derive(Deserialize)]
struct OutputLine {
    custom_id: String,
    #[serde(default)]
    response: Option<OutputResponse>,
}

#[derive(Deserialize)]
struct OutputResponse {
    status_code: u16,
    body: Box<serde_json::value::RawValue>,
}

/// The responses file's lines, in input order, counting them into `ended`. Requests that
/// never ran (a batch cancelled or expired before reaching them) are absent from the file,
/// as on Gemini; in a completed batch, lines an injected fault left out stay out too.
fn translate(
    state: &AppState,
    record: &BatchRecord,
    batch: &Batch,
    ended: &mut Ended,
) -> std::io::Result<Vec<String>> {
    let index: HashMap<&str, usize> = record
        .keys
        .iter()
        .enumerate()
        .map(|(position, key)| (key.as_str(), position))
        .collect();
    let mut lines: Vec<(usize, String)> = Vec::with_capacity(record.keys.len());
    for file_id in [&batch.output_file_id, &batch.error_file_id]
        .into_iter()
        .flatten()
    {
        let content = std::fs::read(state.store.content_path(file_id))?;
        for raw in content.split(|byte| *byte == b'\n') {
            if raw.iter().all(u8::is_ascii_whitespace) {
                continue;
            }
            let Ok(line) = serde_json::from_slice::<OutputLine>(raw) else {
                // A line the fault injector cut in half: cut the translated line too, and
                // count it delivered (the provider thinks it was).
                ended.successful += 1;
                lines.push(broken_line(raw, &index));
                continue;
            };
            // No response: never ran (cancelled or expired); left out.
            let Some(response) = line.response else {
                continue;
            };
            let seed = format!("{}/{}", record.id, line.custom_id);
            let text = match to_response(
                response.status_code,
                response.body.get(),
                &record.model,
                &seed,
            ) {
                Ok(answer) => {
                    ended.successful += 1;
                    json!({"key": line.custom_id, "response": answer})
                }
                Err(failure) => {
                    ended.failed += 1;
                    json!({"key": line.custom_id, "error": {"code": failure.code,
                        "message": failure.message, "status": status_name(failure.code)}})
                }
            };
            let position = index
                .get(line.custom_id.as_str())
                .copied()
                .unwrap_or(usize::MAX);
            lines.push((position, text.to_string()));
        }
    }
    lines.sort_by_key(|(position, _)| *position);
    Ok(lines.into_iter().map(|(_, line)| line).collect())
}

/// The first half of a translated line for a malformed internal line, placed by its key.
fn broken_line(raw: &[u8], index: &HashMap<&str, usize>) -> (usize, String) {
    let text = String::from_utf8_lossy(raw);
    let key = text.find("\"custom_id\":").and_then(|start| {
        let rest = &text[start + "\"custom_id\":".len()..];
        serde_json::Deserializer::from_str(rest)
            .into_iter::<String>()
            .next()
            .and_then(Result::ok)
    });
    let position = key
        .as_deref()
        .and_then(|key| index.get(key).copied())
        .unwrap_or(usize::MAX);
    let whole = json!({"key": key.unwrap_or_default(), "response": {"candidates": [{"content":
        {"parts": [{"text": "{}"}], "role": "model"}, "finishReason": "STOP", "index": 0}]}})
    .to_string();
    let mut cut = whole.len() / 2;
    while !whole.is_char_boundary(cut) {
        cut -= 1;
    }
    (position, whole[..cut].to_string())
}

/// Store the responses as a generated File; its id.
fn write_responses(
    state: &AppState,
    record: &BatchRecord,
    lines: &[String],
) -> std::io::Result<String> {
    let id = state.gemini.new_id();
    let mut content = Vec::with_capacity(lines.iter().map(|line| line.len() + 1).sum());
    for line in lines {
        content.extend_from_slice(line.as_bytes());
        content.push(b'\n');
    }
    let mut hasher = super::digest::Sha256::new();
    hasher.update(&content);
    let path = state.gemini.part_path(&id);
    std::fs::write(&path, &content)?;
    state.gemini.save_file(FileRecord {
        id: id.clone(),
        display_name: Some(format!("batches/{} responses", record.id)),
        mime_type: "application/jsonl".into(),
        size_bytes: content.len() as u64,
        created_at: crate::now(),
        sha256: hasher.finish_base64(),
        source: "GENERATED".into(),
        deleted: false,
    })?;
    Ok(id)
}
