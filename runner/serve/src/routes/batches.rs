//! The Batches routes: create (with OpenAI's metadata rules), list, retrieve, cancel.

use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Response};
use batchlabel_protocol::{Batch, BatchStatus, CreateBatch};
use serde::Deserialize;
use serde_json::Value;

use super::{AppState, ENDPOINTS, bad_request, internal, not_found, page};

fn check_metadata(metadata: Option<&serde_json::Map<String, Value>>) -> Result<(), String> {
    let Some(metadata) = metadata else {
        return Ok(());
    };
    if metadata.len() > 16 {
        return Err("metadata: at most 16 key-value pairs".into());
    }
    for (key, value) in metadata {
        if key.chars().count() > 64 {
            return Err(format!("metadata key `{key}` is longer than 64 characters"));
        }
        match value.as_str() {
            Some(text) if text.chars().count() <= 512 => {}
            Some(_) => {
                return Err(format!(
                    "metadata value of `{key}` is longer than 512 characters"
                ));
            }
            None => return Err(format!("metadata value of `{key}` must be a string")),
        }
    }
    Ok(())
}

pub(super) async fn create_batch(
    State(state): State<Arc<AppState>>,
    body: axum::body::Bytes,
) -> Response {
    let request: CreateBatch = match serde_json::from_slice(&body) {
        Ok(request) => request,
        Err(problem) => return bad_request(&format!("invalid body: {problem}")),
    };
    if !ENDPOINTS.contains(&request.endpoint.as_str()) {
        return bad_request(&format!(
            "endpoint `{}` is not supported by this server; use {}",
            request.endpoint, ENDPOINTS[0]
        ));
    }
    if request.completion_window != "24h" {
        return bad_request("completion_window must be `24h`");
    }
    if let Err(problem) = check_metadata(request.metadata.as_ref()) {
        return bad_request(&problem);
    }
    match state.store.file(&request.input_file_id) {
        Some(file) if file.purpose == "batch" => {}
        Some(_) => return bad_request("input_file_id must be a file with purpose `batch`"),
        None => return not_found("File", &request.input_file_id),
    }
    let batch = Batch {
        id: state.store.new_id("batch_"),
        object: "batch".into(),
        endpoint: request.endpoint,
        input_file_id: request.input_file_id,
        completion_window: request.completion_window,
        status: BatchStatus::Validating,
        created_at: crate::now(),
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
        metadata: request.metadata,
    };
    if let Err(problem) = state.store.add_batch(batch.clone()) {
        return internal(&problem);
    }
    crate::processor::start(&state, batch.id.clone());
    Json(batch).into_response()
}

#[derive(Deserialize)]
pub(super) struct BatchQuery {
    limit: Option<usize>,
    after: Option<String>,
}

pub(super) async fn list_batches(
    State(state): State<Arc<AppState>>,
    Query(query): Query<BatchQuery>,
) -> Response {
    let mut batches = state.store.batches();
    batches.reverse();
    let limit = query.limit.unwrap_or(20).clamp(1, 100);
    Json(page(
        &batches,
        |batch| &batch.id,
        query.after.as_deref(),
        limit,
    ))
    .into_response()
}

pub(super) async fn get_batch(
    State(state): State<Arc<AppState>>,
    Path(id): Path<String>,
) -> Response {
    if !state.options.faults.slow_poll.is_zero() {
        tokio::time::sleep(state.options.faults.slow_poll).await;
    }
    match state.store.batch(&id) {
        Some(batch) => Json(batch).into_response(),
        None => not_found("Batch", &id),
    }
}

pub(super) async fn cancel_batch(
    State(state): State<Arc<AppState>>,
    Path(id): Path<String>,
) -> Response {
    let outcome = state.store.update_batch(&id, true, |batch| {
        if batch.status.is_terminal() {
            return Err(batch.status);
        }
        if batch.status != BatchStatus::Cancelling {
            batch.status = BatchStatus::Cancelling;
            batch.cancelling_at = Some(crate::now());
        }
        Ok(())
    });
    match outcome {
        Ok(Some((Ok(()), batch))) => Json(batch).into_response(),
        Ok(Some((Err(status), _))) => bad_request(&format!(
            "Cannot cancel a batch with status `{}`.",
            status.as_str()
        )),
        Ok(None) => not_found("Batch", &id),
        Err(problem) => internal(&problem),
    }
}
