//! The Batches routes: create (with OpenAI's metadata rules), list, retrieve, cancel; the
//! Azure front end's batches differ only at create (endpoint spelling, quota headers).

use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Response};
use batchlabel_protocol::{Batch, BatchStatus, CreateBatch};
use serde::Deserialize;
use serde_json::Value;

use super::chat::UNPARSEABLE_JSON;
use super::{AppState, ENDPOINTS, Front, bad_param, bad_request, internal, not_found, page};

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
    front: Front,
    body: axum::body::Bytes,
) -> Response {
    let request: CreateBatch = match serde_json::from_slice(&body) {
        Ok(request) => request,
        Err(problem) if problem.is_data() => return invalid_body(&problem),
        Err(_) => return bad_request(UNPARSEABLE_JSON),
    };
    // Azure's docs spell the endpoint without `/v1`; both name the one this server serves.
    let endpoint_ok = ENDPOINTS.contains(&request.endpoint.as_str())
        || (front == Front::Azure && request.endpoint == "/chat/completions");
    if !endpoint_ok {
        return bad_param(
            &format!(
                "Invalid value for 'endpoint': `{}` is not supported; this server supports only {}.",
                request.endpoint, ENDPOINTS[0]
            ),
            "endpoint",
            "invalid_value",
        );
    }
    if request.completion_window != "24h" {
        return bad_param(
            "Invalid value for 'completion_window': only `24h` is supported.",
            "completion_window",
            "invalid_value",
        );
    }
    if let Err(problem) = check_metadata(request.metadata.as_ref()) {
        return bad_param(&problem, "metadata", "invalid_value");
    }
    match state.store.file(&request.input_file_id) {
        Some(file) if file.purpose == "batch" => {}
        Some(_) => return bad_request("input_file_id must be a file with purpose `batch`"),
        None => return not_found("File", &request.input_file_id),
    }
    let path = state.store.content_path(&request.input_file_id);
    let (model, chars) = tokio::task::spawn_blocking(move || scan_input(&path))
        .await
        .unwrap_or_default();
    let created_at = crate::now();
    let id = state.store.new_id("batch_");
    // Counted (or refused: the processor fails it) before it exists, so two creates at once
    // cannot both slip under the cap.
    let (_, enqueued) = state.queue.admit(&id, crate::queue::tokens_of(chars));
    let batch = Batch {
        id,
        object: "batch".into(),
        endpoint: request.endpoint,
        input_file_id: request.input_file_id,
        completion_window: request.completion_window,
        status: BatchStatus::Validating,
        created_at,
        model,
        errors: None,
        output_file_id: None,
        error_file_id: None,
        in_progress_at: None,
        // The 24 h window runs from creation.
        expires_at: Some(created_at + 86_400),
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
    if front == Front::Azure
        && let Err(problem) = state.store.mark_azure(&batch.id)
    {
        return internal(&problem);
    }
    if let Err(problem) = state.store.add_batch(batch.clone()) {
        state.queue.release(&batch.id);
        return internal(&problem);
    }
    crate::processor::start(&state, batch.id.clone());
    let mut response = Json(batch).into_response();
    if front == Front::Azure {
        let headers = response.headers_mut();
        // The deployment's queue with this batch in it (when admitted), against its quota.
        headers.insert("deployment-enqueued-tokens", enqueued.into());
        let maximum = state
            .queue
            .limit()
            .unwrap_or(state.options.azure_max_enqueued_tokens);
        headers.insert("deployment-maximum-enqueued-tokens", maximum.into());
    }
    response
}

/// A body that is JSON but not a valid create request: a missing field is named as OpenAI
/// names it, anything else keeps serde's description.
fn invalid_body(problem: &serde_json::Error) -> Response {
    let text = problem.to_string();
    let missing = text
        .strip_prefix("missing field `")
        .and_then(|rest| rest.split_once('`'))
        .map(|(field, _)| field);
    match missing {
        Some(field) => bad_param(
            &format!("Missing required parameter: '{field}'."),
            field,
            "missing_required_parameter",
        ),
        None => bad_request(&format!("Invalid request body: {text}")),
    }
}

/// What create reads from the input file: the first request's `body.model` (the batch's
/// model from the start, as OpenAI reports it) and its number of characters (the
/// enqueued-token estimate). An unreadable file reads as nothing: validation reports it.
fn scan_input(path: &std::path::Path) -> (Option<String>, u64) {
    #[derive(Deserialize)]
    struct FirstLine {
        body: FirstBody,
    }
    #[derive(Deserialize)]
    struct FirstBody {
        model: Option<String>,
    }
    let Ok(file) = std::fs::File::open(path) else {
        return (None, 0);
    };
    let mut reader = std::io::BufReader::with_capacity(1 << 20, file);
    let mut line = Vec::new();
    let (mut model, mut seen_first, mut chars) = (None, false, 0u64);
    loop {
        line.clear();
        match std::io::BufRead::read_until(&mut reader, b'\n', &mut line) {
            Ok(0) | Err(_) => break,
            Ok(_) => {}
        }
        chars += crate::queue::characters(&line);
        if !seen_first && !line.iter().all(u8::is_ascii_whitespace) {
            seen_first = true;
            model = serde_json::from_slice::<FirstLine>(&line)
                .ok()
                .and_then(|first| first.body.model)
                .filter(|model| !model.is_empty());
        }
    }
    (model, chars)
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
