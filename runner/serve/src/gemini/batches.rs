//! Batch mode: create (`models/{model}:batchGenerateContent` over an uploaded JSONL file,
//! checked whole before anything is made, as Gemini does), get, list, cancel and delete, each
//! batch shown as the long-running Operation Google answers.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use axum::Json;
use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use batchlabel_protocol::{Batch, BatchStatus, FileObject};
use serde_json::{Map, Value, json};

use super::finish::{finish_if_done, state_of};
use super::input::read_input;
use super::records::BatchRecord;
use super::translate::field;
use super::{BATCH_TYPE, INTERNAL_ENDPOINT, internal, invalid, not_found, timestamp};
use crate::faults::BatchFate;
use crate::routes::AppState;

/// The most a create body may hold (its input is a file; the body is small).
const MAX_BODY_BYTES: usize = 20 * 1024 * 1024;

/// The Operation for a batch.
fn render(state: &AppState, record: &BatchRecord) -> Value {
    let batch = state.store.batch(&record.batch_id);
    let batch_state = state_of(record, batch.as_ref());
    let batch_state = if state.gemini.job_state_names.load(Ordering::Relaxed) {
        batch_state.replacen("BATCH_STATE_", "JOB_STATE_", 1)
    } else {
        batch_state.to_string()
    };
    let total = record.keys.len() as u64;
    let (successful, failed) = match (&record.ended, &batch) {
        (Some(ended), _) => (ended.successful, ended.failed),
        (None, Some(batch)) => batch
            .request_counts
            .map_or((0, 0), |counts| (counts.completed, counts.failed)),
        (None, None) => (0, 0),
    };
    let times = batch.as_ref().map_or_else(Vec::new, |batch| {
        vec![
            batch.in_progress_at,
            batch.finalizing_at,
            batch.cancelling_at,
        ]
    });
    let ended_at = record.ended.as_ref().map(|ended| ended.at);
    let updated = times
        .into_iter()
        .chain([ended_at])
        .flatten()
        .max()
        .unwrap_or(record.created_at);
    let mut metadata = json!({
        "@type": BATCH_TYPE,
        "name": format!("batches/{}", record.id),
        "displayName": record.display_name,
        "model": format!("models/{}", record.model),
        "state": batch_state,
        "createTime": timestamp(record.created_at),
        "updateTime": timestamp(updated),
        // int64 counts are strings in proto JSON. After the end, `pending` is what never
        // ran (a cancelled or expired batch): neither answered nor failed.
        "batchStats": {
            "requestCount": total.to_string(),
            "successfulRequestCount": successful.to_string(),
            "failedRequestCount": failed.to_string(),
            "pendingRequestCount": total.saturating_sub(successful + failed).to_string(),
        },
        "inputConfig": {"fileName": record.input_file},
    });
    let mut operation =
        json!({"name": format!("batches/{}", record.id), "done": ended_at.is_some()});
    if let Some(ended) = &record.ended {
        metadata["endTime"] = json!(timestamp(ended.at));
        if let Some(file) = &ended.responses_file {
            metadata["output"] = json!({"responsesFile": format!("files/{file}")});
        }
        if let Some((code, message)) = &ended.error {
            operation["error"] = json!({"code": code, "message": message});
        } else {
            let mut response = metadata.clone();
            // Where Google's finished operations (and `jq .response.responsesFile` in its
            // guide) keep it, besides `output.responsesFile`.
            if let Some(file) = &ended.responses_file {
                response["responsesFile"] = json!(format!("files/{file}"));
            }
            operation["response"] = response;
        }
    }
    operation["metadata"] = metadata;
    operation
}

/// The record, finished if its batch is over (off the async threads: it may read files).
async fn current(state: &Arc<AppState>, id: &str) -> Result<Arc<BatchRecord>, Response> {
    let (state, key) = (Arc::clone(state), id.to_string());
    match tokio::task::spawn_blocking(move || finish_if_done(&state, &key)).await {
        Ok(Ok(Some(record))) => Ok(record),
        Ok(Ok(None)) => Err(not_found(&format!("Batch batches/{id} was not found."))),
        Ok(Err(problem)) => Err(internal(&problem)),
        Err(problem) => Err(internal(&std::io::Error::other(problem.to_string()))),
    }
}

/// `POST models/{model}:batchGenerateContent`.
pub(super) async fn create(
    State(state): State<Arc<AppState>>,
    model: String,
    body: Body,
) -> Response {
    let model = model.strip_prefix("models/").unwrap_or(&model).to_string();
    let Ok(bytes) = axum::body::to_bytes(body, MAX_BODY_BYTES).await else {
        return super::error(
            StatusCode::PAYLOAD_TOO_LARGE,
            "Request payload size exceeds the limit: 20 MB.",
        );
    };
    let body: Value = match serde_json::from_slice(&bytes) {
        Ok(body) => body,
        Err(problem) => return invalid(&format!("Invalid JSON payload received. {problem}")),
    };
    let Some(batch) = body.get("batch").unwrap_or(&body).as_object() else {
        return invalid("batch: required, a GenerateContentBatch object");
    };
    let display_name = field(batch, "displayName")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    let Some(Value::Object(input)) = field(batch, "inputConfig") else {
        return invalid("batch.inputConfig: required, with a fileName (files/…)");
    };
    let Some(file_name) = field(input, "fileName").and_then(Value::as_str) else {
        if field(input, "requests").is_some() {
            return invalid(
                "batch.inputConfig.requests: inline requests are not supported by this server; upload a JSONL file and name it in inputConfig.fileName",
            );
        }
        return invalid("batch.inputConfig.fileName: required (files/…)");
    };
    let Some(file_id) = file_name
        .strip_prefix("files/")
        .filter(|id| state.gemini.file(id).is_some())
    else {
        return not_found(&format!("File {file_name} was not found."));
    };
    let path = state.gemini.file_path(file_id);
    let (file_name, max) = (file_name.to_string(), state.options.max_requests_per_file);
    let checked = {
        let model = model.clone();
        let file_name = file_name.clone();
        tokio::task::spawn_blocking(move || match std::fs::read(path) {
            Ok(content) => Ok(read_input(&content, &model, &file_name, max)),
            Err(problem) => Err(problem),
        })
        .await
    };
    let input = match checked {
        Ok(Ok(Ok(input))) => input,
        Ok(Ok(Err(problem))) => return invalid(&problem),
        Ok(Err(problem)) => return internal(&problem),
        Err(problem) => return internal(&std::io::Error::other(problem.to_string())),
    };
    // Gemini reports a full queue as a 429 at create, never as a failed batch: a drawn
    // `Failed` fate is a full queue, refused here, and nothing is made.
    let fate = match state.options.faults.next_batch() {
        Some(BatchFate::Failed) => {
            return super::exhausted(
                "Resource has been exhausted: too many batches are already queued for this model. Try again once some batches have ended.",
            );
        }
        Some(BatchFate::Expired) => Some("expired"),
        Some(BatchFate::Cancelled) => Some("cancelled"),
        None => None,
    };
    let id = state.gemini.new_id();
    let batch_id = state.store.new_id("batch_");
    // Refused at create when the queue cannot take it, as Gemini does: nothing is made.
    let tokens = crate::queue::tokens_of(crate::queue::characters(&input.lines));
    if !state.queue.admit(&batch_id, tokens).0 {
        state.queue.release(&batch_id);
        return super::exhausted(
            "Resource has been exhausted: the batch's tokens would exceed the enqueued-token limit of this model. Try again once some batches have ended.",
        );
    }
    let record = BatchRecord {
        id,
        batch_id: batch_id.clone(),
        model,
        display_name,
        input_file: file_name,
        created_at: crate::now(),
        keys: input.keys,
        ended: None,
        deleted: false,
    };
    match start(&state, record, &input.lines, fate) {
        Ok(record) => Json(render(&state, &record)).into_response(),
        Err(problem) => {
            state.queue.release(&batch_id);
            internal(&problem)
        }
    }
}

/// Store the translated input as an internal file and batch (carrying the fate drawn at
/// create, so a restart does not draw again), record the batch, and hand it to the shared
/// processor.
fn start(
    state: &Arc<AppState>,
    record: BatchRecord,
    input: &[u8],
    fate: Option<&str>,
) -> std::io::Result<Arc<BatchRecord>> {
    let now = record.created_at;
    let file_id = state.store.new_id("file-");
    std::fs::write(state.store.upload_path(&file_id), input)?;
    state.store.add_file(FileObject {
        id: file_id.clone(),
        object: "file".into(),
        bytes: input.len() as u64,
        created_at: now,
        filename: format!("gemini_{}_input.jsonl", record.id),
        purpose: "batch".into(),
        status: Some("processed".into()),
        expires_at: Some(now + 2_592_000),
    })?;
    let mut metadata = Map::new();
    metadata.insert("gemini_batch".into(), json!(record.id));
    if let Some(fate) = fate {
        metadata.insert(super::FATE_KEY.into(), json!(fate));
    }
    state.store.add_batch(Batch {
        id: record.batch_id.clone(),
        object: "batch".into(),
        endpoint: INTERNAL_ENDPOINT.into(),
        input_file_id: file_id,
        completion_window: "24h".into(),
        status: BatchStatus::Validating,
        created_at: now,
        model: Some(record.model.clone()),
        errors: None,
        output_file_id: None,
        error_file_id: None,
        in_progress_at: None,
        expires_at: None,
        finalizing_at: None,
        completed_at: None,
        failed_at: None,
        expired_at: None,
        cancelling_at: None,
        cancelled_at: None,
        request_counts: Some(batchlabel_protocol::RequestCounts::default()),
        usage: None,
        metadata: Some(metadata),
    })?;
    let batch_id = record.batch_id.clone();
    let record = state.gemini.save_batch(record)?;
    crate::processor::start(state, batch_id);
    Ok(record)
}

/// `GET /v1beta/batches/{id}`.
pub(super) async fn get(State(state): State<Arc<AppState>>, Path(id): Path<String>) -> Response {
    if id.contains(':') {
        return not_found(&format!(
            "batches/{id}: GET takes a batch name; cancel is POST batches/{{id}}:cancel"
        ));
    }
    if !state.options.faults.slow_poll.is_zero() {
        tokio::time::sleep(state.options.faults.slow_poll).await;
    }
    match current(&state, &id).await {
        Ok(record) => Json(render(&state, &record)).into_response(),
        Err(response) => response,
    }
}

/// `GET /v1beta/batches?pageSize=&pageToken=`: newest first, 50 a page unless asked (≤ 1000).
pub(super) async fn list(State(state): State<Arc<AppState>>, uri: Uri) -> Response {
    let size = match super::page_size(uri.query(), 50, 1000) {
        Ok(size) => size,
        Err(response) => return *response,
    };
    let ids: Vec<String> = state
        .gemini
        .all_batches()
        .iter()
        .rev()
        .filter(|record| !record.deleted)
        .map(|record| record.id.clone())
        .collect();
    let (page, next) = match super::page_of(&ids, uri.query(), size) {
        Ok(page) => page,
        Err(response) => return *response,
    };
    let mut operations = Vec::with_capacity(page.len());
    for id in &page {
        match current(&state, id).await {
            Ok(record) => operations.push(render(&state, &record)),
            Err(response) if response.status() == StatusCode::NOT_FOUND => {}
            Err(response) => return response,
        }
    }
    let mut body = json!({"operations": operations});
    if let Some(next) = next {
        body["nextPageToken"] = json!(next);
    }
    Json(body).into_response()
}

/// `POST /v1beta/batches/{id}:cancel`: the internal batch goes to `cancelling` and the
/// processor stops; what was answered is still delivered. Cancelling an ended batch changes
/// nothing, so a retried cancel is harmless.
pub(super) async fn cancel(
    State(state): State<Arc<AppState>>,
    Path(call): Path<String>,
) -> Response {
    let Some(id) = call.strip_suffix(":cancel") else {
        return not_found(&format!(
            "batches/{call}: POST serves only batches/{{id}}:cancel"
        ));
    };
    let record = match current(&state, id).await {
        Ok(record) => record,
        Err(response) => return response,
    };
    let outcome = state.store.update_batch(&record.batch_id, true, |batch| {
        if !batch.status.is_terminal() && batch.status != BatchStatus::Cancelling {
            batch.status = BatchStatus::Cancelling;
            batch.cancelling_at = Some(crate::now());
        }
    });
    match outcome {
        Ok(_) => Json(json!({})).into_response(),
        Err(problem) => internal(&problem),
    }
}

/// `DELETE /v1beta/batches/{id}`: only a batch that has ended.
pub(super) async fn delete(State(state): State<Arc<AppState>>, Path(id): Path<String>) -> Response {
    let record = match current(&state, &id).await {
        Ok(record) => record,
        Err(response) => return response,
    };
    if record.ended.is_none() {
        return super::error_with(
            StatusCode::BAD_REQUEST,
            "FAILED_PRECONDITION",
            &format!("Batch batches/{id} has not ended; cancel it and delete it once it has."),
        );
    }
    let mut record = BatchRecord::clone(&record);
    record.deleted = true;
    match state.gemini.save_batch(record) {
        Ok(_) => Json(json!({})).into_response(),
        Err(problem) => internal(&problem),
    }
}
