//! The Message Batches routes: create (validated as Anthropic does, then run as an internal
//! batch), retrieve, list, cancel, delete and results.

use std::collections::HashSet;
use std::io::Write;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use axum::Json;
use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use batchlabel_protocol::{Batch, BatchStatus, FileObject};
use serde::Deserialize;
use serde_json::{Map, Value, json};

use super::records::{Counts, Record, finish_if_done};
use super::translate::to_chat;
use super::{INTERNAL_ENDPOINT, internal, invalid, not_found, rfc3339};
use crate::faults::BatchFate;
use crate::routes::AppState;

fn valid_custom_id(custom_id: &str) -> bool {
    (1..=64).contains(&custom_id.len())
        && custom_id
            .bytes()
            .all(|byte| byte.is_ascii_alphanumeric() || byte == b'_' || byte == b'-')
}

/// `in_progress`, `canceling` or `ended`, from the record and its internal batch.
pub(super) fn processing_status(state: &AppState, record: &Record) -> &'static str {
    if record.ended.is_some() {
        return "ended";
    }
    // `ended` only once the results are written, so an ended batch always has them.
    match state.store.batch(&record.batch_id) {
        Some(batch) if batch.cancelling_at.is_some() => "canceling",
        _ => "in_progress",
    }
}

/// The MessageBatch object; `results_url` is absolute, on the host the client called.
fn render(state: &AppState, record: &Record, headers: &HeaderMap) -> Value {
    let batch = state.store.batch(&record.batch_id);
    let counts = record.ended.map_or(
        Counts {
            processing: record.custom_ids.len() as u64,
            ..Counts::default()
        },
        |ended| ended.counts,
    );
    let host = headers
        .get("host")
        .and_then(|host| host.to_str().ok())
        .unwrap_or("127.0.0.1");
    json!({
        "id": record.id,
        "type": "message_batch",
        "processing_status": processing_status(state, record),
        "request_counts": counts,
        "created_at": rfc3339(record.created_at),
        "expires_at": rfc3339(record.created_at + 86_400),
        "ended_at": record.ended.map(|ended| rfc3339(ended.at)),
        "cancel_initiated_at": batch.and_then(|batch| batch.cancelling_at).map(rfc3339),
        "archived_at": null,
        "results_url": record.ended.map(|_| format!("http://{host}/v1/messages/batches/{}/results", record.id)),
    })
}

/// The record, finished if its batch is over (off the async threads: it may read files).
async fn current(state: &Arc<AppState>, id: &str) -> Result<Arc<Record>, Response> {
    let (state, key) = (Arc::clone(state), id.to_string());
    match tokio::task::spawn_blocking(move || finish_if_done(&state, &key)).await {
        Ok(Ok(Some(record))) => Ok(record),
        Ok(Ok(None)) => Err(not_found(id)),
        Ok(Err(problem)) => Err(internal(&problem)),
        Err(problem) => Err(internal(&std::io::Error::other(problem.to_string()))),
    }
}

#[derive(Deserialize)]
struct CreateBody {
    requests: Option<Vec<Value>>,
}

pub(super) async fn create(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let bytes = match super::read_body(body).await {
        Ok(bytes) => bytes,
        Err(response) => return response,
    };
    let requests = match serde_json::from_slice::<CreateBody>(&bytes) {
        Ok(CreateBody {
            requests: Some(requests),
        }) => requests,
        Ok(_) => return invalid("requests: Field required"),
        Err(problem) => return invalid(&format!("invalid JSON body: {problem}")),
    };
    let max = state.anthropic.max_requests.load(Ordering::Relaxed);
    if requests.is_empty() || requests.len() as u64 > max {
        return invalid(&format!(
            "requests: a batch holds 1 to {max} requests, not {}",
            requests.len()
        ));
    }
    let mut custom_ids = Vec::with_capacity(requests.len());
    let mut forms = Vec::with_capacity(requests.len());
    let mut lines = Vec::new();
    let mut seen = HashSet::with_capacity(requests.len());
    for (index, request) in requests.iter().enumerate() {
        let Some(custom_id) = request["custom_id"].as_str() else {
            return invalid(&format!("requests.{index}.custom_id: Field required"));
        };
        if !valid_custom_id(custom_id) {
            return invalid(&format!(
                "requests.{index}.custom_id: String should match pattern '^[a-zA-Z0-9_-]{{1,64}}$'"
            ));
        }
        if !seen.insert(custom_id) {
            return invalid(&format!(
                "requests.{index}.custom_id: `{custom_id}` is used by an earlier request; custom_id must be unique within a batch"
            ));
        }
        let Some(params) = request.get("params").filter(|params| params.is_object()) else {
            return invalid(&format!(
                "requests.{index}.params: Field required (a Messages create body)"
            ));
        };
        let (chat, form) = match to_chat(params) {
            Ok(translated) => translated,
            Err(problem) => return invalid(&format!("requests.{index}.params.{problem}")),
        };
        let line = json!({"custom_id": custom_id, "method": "POST", "url": INTERNAL_ENDPOINT, "body": chat});
        if writeln!(lines, "{line}").is_err() {
            return internal(&std::io::Error::other("cannot write the input"));
        }
        custom_ids.push(custom_id.to_string());
        forms.push(form);
    }
    let fate = match state.options.faults.next_batch() {
        Some(BatchFate::Failed) => {
            return super::rate_limited(
                "Your organization's batch queue is full: too many requests are already processing. Try again once some batches have ended.",
            );
        }
        Some(BatchFate::Expired) => Some("expired"),
        Some(BatchFate::Cancelled) => Some("canceled"),
        None => None,
    };
    let id = state.store.new_id("msgbatch_");
    // Anthropic refuses at create what its queue cannot take; nothing is made.
    let batch_id = state.store.new_id("batch_");
    let tokens = crate::queue::tokens_of(crate::queue::characters(&lines));
    if !state.queue.admit(&batch_id, tokens).0 {
        state.queue.release(&batch_id);
        return super::rate_limited(
            "Your organization's batch queue is full: too many tokens are already enqueued. Try again once some batches have ended.",
        );
    }
    let made = Made {
        id: &id,
        batch_id: &batch_id,
        fate,
    };
    match start(&state, &made, &lines, custom_ids, forms) {
        Ok(record) => Json(render(&state, &record, &headers)).into_response(),
        Err(problem) => {
            state.queue.release(&batch_id);
            internal(&problem)
        }
    }
}

/// The ids of a message batch being made (its own and its internal batch's, counted in the
/// queue before it exists) and its drawn fate.
struct Made<'a> {
    id: &'a str,
    batch_id: &'a str,
    fate: Option<&'a str>,
}

/// Store the translated input as an internal file and batch, record the message batch, and
/// hand the batch to the shared processor.
fn start(
    state: &Arc<AppState>,
    made: &Made<'_>,
    input: &[u8],
    custom_ids: Vec<String>,
    forms: Vec<super::translate::Form>,
) -> std::io::Result<Arc<Record>> {
    let Made { id, batch_id, fate } = *made;
    let now = crate::now();
    let file_id = state.store.new_id("file-");
    std::fs::write(state.store.upload_path(&file_id), input)?;
    state.store.add_file(FileObject {
        id: file_id.clone(),
        object: "file".into(),
        bytes: input.len() as u64,
        created_at: now,
        filename: format!("{id}_input.jsonl"),
        purpose: "batch".into(),
        status: Some("processed".into()),
        expires_at: Some(now + 2_592_000),
    })?;
    let mut metadata = Map::new();
    metadata.insert("anthropic_message_batch".into(), json!(id));
    if let Some(fate) = fate {
        metadata.insert(super::FATE_KEY.into(), json!(fate));
    }
    let batch = Batch {
        id: batch_id.to_string(),
        object: "batch".into(),
        endpoint: INTERNAL_ENDPOINT.into(),
        input_file_id: file_id,
        completion_window: "24h".into(),
        status: BatchStatus::Validating,
        created_at: now,
        model: None,
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
    };
    state.store.add_batch(batch)?;
    let record = state.anthropic.save(Record {
        id: id.to_string(),
        batch_id: batch_id.to_string(),
        created_at: now,
        custom_ids,
        forms,
        ended: None,
    })?;
    crate::processor::start(state, batch_id.to_string());
    Ok(record)
}

pub(super) async fn retrieve(
    State(state): State<Arc<AppState>>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Response {
    if !state.options.faults.slow_poll.is_zero() {
        tokio::time::sleep(state.options.faults.slow_poll).await;
    }
    match current(&state, &id).await {
        Ok(record) => Json(render(&state, &record, &headers)).into_response(),
        Err(response) => response,
    }
}

#[derive(Deserialize)]
pub(super) struct ListQuery {
    before_id: Option<String>,
    after_id: Option<String>,
    limit: Option<String>,
}

pub(super) async fn list(
    State(state): State<Arc<AppState>>,
    Query(query): Query<ListQuery>,
    headers: HeaderMap,
) -> Response {
    let limit = match query.limit.as_deref().map(str::parse::<usize>) {
        None => 20,
        Some(Ok(limit)) if (1..=1000).contains(&limit) => limit,
        Some(_) => return invalid("limit: Input should be an integer from 1 to 1000"),
    };
    // Newest first; ids sort by creation, so a cursor need not still exist.
    let mut ids: Vec<String> = state
        .anthropic
        .all()
        .iter()
        .rev()
        .map(|record| record.id.clone())
        .collect();
    let has_more;
    if let Some(before) = &query.before_id {
        ids.retain(|id| id > before);
        has_more = ids.len() > limit;
        ids = ids.split_off(ids.len().saturating_sub(limit));
    } else {
        if let Some(after) = &query.after_id {
            ids.retain(|id| id < after);
        }
        has_more = ids.len() > limit;
        ids.truncate(limit);
    }
    let mut data = Vec::with_capacity(ids.len());
    for id in &ids {
        match current(&state, id).await {
            Ok(record) => data.push(render(&state, &record, &headers)),
            Err(response) if response.status() == StatusCode::NOT_FOUND => {}
            Err(response) => return response,
        }
    }
    Json(json!({
        "data": data,
        "has_more": has_more,
        "first_id": data.first().map(|batch| batch["id"].clone()),
        "last_id": data.last().map(|batch| batch["id"].clone()),
    }))
    .into_response()
}

/// Cancel: the internal batch goes to `cancelling` and the processor stops. Cancelling a
/// batch that has ended answers it unchanged, so a retried cancel is harmless.
pub(super) async fn cancel(
    State(state): State<Arc<AppState>>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Response {
    let record = match current(&state, &id).await {
        Ok(record) => record,
        Err(response) => return response,
    };
    let outcome = state.store.update_batch(&record.batch_id, true, |batch| {
        if !batch.status.is_terminal() && batch.status != BatchStatus::Cancelling {
            batch.status = BatchStatus::Cancelling;
            batch.cancelling_at = Some(crate::now());
        }
    });
    if let Err(problem) = outcome {
        return internal(&problem);
    }
    Json(render(&state, &record, &headers)).into_response()
}

pub(super) async fn delete(State(state): State<Arc<AppState>>, Path(id): Path<String>) -> Response {
    let record = match current(&state, &id).await {
        Ok(record) => record,
        Err(response) => return response,
    };
    if record.ended.is_none() {
        return invalid(&format!(
            "Message Batch `{id}` cannot be deleted while it is processing; cancel it and delete it once it has ended."
        ));
    }
    match state.anthropic.delete(&id) {
        Ok(()) => Json(json!({"id": id, "type": "message_batch_deleted"})).into_response(),
        Err(problem) => internal(&problem),
    }
}

pub(super) async fn results(
    State(state): State<Arc<AppState>>,
    Path(id): Path<String>,
) -> Response {
    let record = match current(&state, &id).await {
        Ok(record) => record,
        Err(response) => return response,
    };
    if record.ended.is_none() {
        return invalid(&format!(
            "Message Batch `{id}` has not ended; its results are available once `processing_status` is `ended`."
        ));
    }
    let handle = match tokio::fs::File::open(state.anthropic.results_path(&id)).await {
        Ok(handle) => handle,
        Err(problem) => return internal(&problem),
    };
    Response::builder()
        .header("content-type", "application/binary")
        .body(Body::from_stream(
            tokio_util::io::ReaderStream::with_capacity(handle, 1 << 20),
        ))
        .unwrap_or_else(|_| StatusCode::INTERNAL_SERVER_ERROR.into_response())
}
