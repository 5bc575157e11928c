//! The batch-job routes: create (the input files translated into an internal batch), retrieve
//! and cancel; the list is in [`super::list`].

use std::sync::Arc;

use axum::Json;
use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use batchlabel_protocol::{Batch, BatchStatus, FileObject};
use serde_json::{Map, Value, json};

use super::records::{Job, finish_if_done};
use super::translate::{Translated, job_id, translate_files};
use super::{ENDPOINT, INTERNAL_ENDPOINT, error, internal, invalid, not_found, status_of};
use crate::faults::BatchFate;
use crate::routes::AppState;

/// The purpose of a job's translated input: not `batch`, so it is not counted (or listed under
/// `purpose=batch`) as an upload of the client's.
const INTERNAL_PURPOSE: &str = "batch_internal";

/// Most bytes of a create body (it names files; it does not carry them).
const MAX_BODY_BYTES: usize = 1 << 20;

/// The BatchJobOut object. A job shows an ended status only once finished, so an ended job
/// always has its files.
pub(super) fn render(job: &Job, batch: Option<&Batch>) -> Value {
    let status = batch.map_or(BatchStatus::Validating, |batch| batch.status);
    let ended = status.is_terminal() && job.ended.is_some();
    let counts = batch
        .and_then(|batch| batch.request_counts)
        .unwrap_or_default();
    let errors: Vec<Value> = batch
        .and_then(|batch| batch.errors.as_ref())
        .map(|errors| errors.data.as_slice())
        .unwrap_or_default()
        .iter()
        .map(|error| {
            let message = match error.line {
                Some(line) => format!("Line {line}: {}", error.message),
                None => error.message.clone(),
            };
            json!({"message": message, "count": 1})
        })
        .collect();
    let completed_at = batch.filter(|_| ended).and_then(|batch| {
        [
            batch.completed_at,
            batch.failed_at,
            batch.expired_at,
            batch.cancelled_at,
        ]
        .into_iter()
        .flatten()
        .max()
    });
    json!({
        "id": job.id,
        "object": "batch",
        "input_files": job.input_files,
        "metadata": job.metadata,
        "endpoint": job.endpoint,
        "model": job.model.clone().or_else(|| batch.and_then(|batch| batch.model.clone())),
        "output_file": batch.filter(|_| ended).and_then(|batch| batch.output_file_id.clone()),
        "error_file": job.ended.as_ref().filter(|_| ended).and_then(|ended| ended.error_file.clone()),
        "errors": errors,
        "status": if ended || !status.is_terminal() { status_of(status) } else { "RUNNING" },
        "created_at": job.created_at,
        "started_at": batch.and_then(|batch| batch.in_progress_at),
        "completed_at": completed_at,
        "total_requests": if counts.total > 0 { counts.total } else { job.requests },
        "completed_requests": counts.completed + counts.failed,
        "succeeded_requests": counts.completed,
        "failed_requests": counts.failed,
    })
}

pub(super) type Found = (Arc<Job>, Option<Batch>);

/// The job and its batch, finished if the batch is over (off the async threads: it may write
/// the error file).
pub(super) async fn current(state: &Arc<AppState>, id: &str) -> Result<Found, Response> {
    let (state, key) = (Arc::clone(state), id.to_string());
    match tokio::task::spawn_blocking(move || finish_if_done(&state, &key)).await {
        Ok(Ok(Some(found))) => Ok(found),
        Ok(Ok(None)) => Err(not_found("Batch job", id)),
        Ok(Err(problem)) => Err(internal(&problem)),
        Err(problem) => Err(internal(&std::io::Error::other(problem.to_string()))),
    }
}

/// A create body, validated.
struct Create {
    input_files: Vec<String>,
    model: Option<String>,
    metadata: Option<Map<String, Value>>,
    timeout_hours: u64,
}

/// Why a create body is refused: its HTTP status and message.
struct Refusal(StatusCode, String);

/// A body that does not validate (Mistral answers these 422, as FastAPI does).
fn unfit(message: &str) -> Refusal {
    Refusal(StatusCode::UNPROCESSABLE_ENTITY, message.into())
}

/// A valid body asking for what this server cannot do.
fn unsupported(message: &str) -> Refusal {
    Refusal(StatusCode::BAD_REQUEST, message.into())
}

fn parse_create(bytes: &[u8]) -> Result<Create, Refusal> {
    let Ok(Value::Object(body)) = serde_json::from_slice::<Value>(bytes) else {
        return Err(unfit("body: Input should be a valid JSON object"));
    };
    if body
        .get("requests")
        .is_some_and(|requests| !requests.is_null())
    {
        return Err(unsupported(
            "requests: inline requests are not supported by this server; upload a file and name it in input_files",
        ));
    }
    let input_files = match body.get("input_files") {
        Some(Value::Array(files)) if !files.is_empty() => files
            .iter()
            .map(|file| file.as_str().map(str::to_string))
            .collect::<Option<Vec<String>>>()
            .ok_or_else(|| unfit("input_files: Input should be a list of file ids"))?,
        Some(Value::Array(_)) => return Err(unfit("input_files: at least one file")),
        None | Some(Value::Null) => return Err(unfit("input_files: Field required")),
        Some(_) => return Err(unfit("input_files: Input should be a valid list")),
    };
    match body.get("endpoint") {
        Some(Value::String(endpoint)) if endpoint == ENDPOINT => {}
        Some(Value::String(endpoint)) => {
            return Err(unsupported(&format!(
                "endpoint: `{endpoint}` is not supported; this server serves only {ENDPOINT}"
            )));
        }
        None | Some(Value::Null) => return Err(unfit("endpoint: Field required")),
        Some(_) => return Err(unfit("endpoint: Input should be a valid string")),
    }
    let model = match body.get("model") {
        None | Some(Value::Null) => None,
        Some(Value::String(model)) => Some(model.clone()).filter(|model| !model.is_empty()),
        Some(_) => return Err(unfit("model: Input should be a valid string")),
    };
    let metadata = match body.get("metadata") {
        None | Some(Value::Null) => None,
        Some(Value::Object(metadata)) if metadata.values().all(Value::is_string) => {
            Some(metadata.clone())
        }
        Some(_) => {
            return Err(unfit(
                "metadata: Input should be an object of string values",
            ));
        }
    };
    let timeout_hours = match body.get("timeout_hours") {
        None | Some(Value::Null) => 24,
        Some(hours) => match hours.as_u64() {
            Some(hours) if hours >= 1 => hours,
            _ => {
                return Err(unfit("timeout_hours: Input should be an integer ≥ 1"));
            }
        },
    };
    Ok(Create {
        input_files,
        model,
        metadata,
        timeout_hours,
    })
}

pub(super) async fn create(State(state): State<Arc<AppState>>, body: Body) -> Response {
    let Ok(bytes) = axum::body::to_bytes(body, MAX_BODY_BYTES).await else {
        return error(
            StatusCode::PAYLOAD_TOO_LARGE,
            "invalid_request_error",
            "The request body is too large.",
            None,
        );
    };
    let create = match parse_create(&bytes) {
        Ok(create) => create,
        Err(Refusal(status, message)) => {
            return error(status, "invalid_request_error", &message, None);
        }
    };
    let mut inputs = Vec::with_capacity(create.input_files.len());
    for file_id in &create.input_files {
        match state.store.file(file_id) {
            Some(file) if file.purpose == "batch" => {
                inputs.push(state.store.content_path(file_id));
            }
            Some(file) => {
                return invalid(&format!(
                    "input_files: file `{file_id}` has purpose `{}`, not `batch`",
                    file.purpose
                ));
            }
            None => return not_found("File", file_id),
        }
    }
    let job_id = job_id(&state.store.new_id(""));
    let batch_id = state.store.new_id("batch_");
    let file_id = state.store.new_id("file-");
    let staged = state.store.upload_path(&file_id);
    let (model, target) = (create.model.clone(), staged.clone());
    let translated =
        tokio::task::spawn_blocking(move || translate_files(&inputs, model.as_deref(), &target))
            .await
            .map_err(|problem| std::io::Error::other(problem.to_string()))
            .and_then(|translated| translated);
    let discard = || {
        let _ = std::fs::remove_file(&staged);
    };
    let translated = match translated {
        Ok(translated) => translated,
        Err(problem) => {
            discard();
            return internal(&problem);
        }
    };
    if let Some(line) = translated.unnamed_model {
        discard();
        return invalid(&format!(
            "model: request {line} of the input names no body.model; name the model in the job or on every line"
        ));
    }
    // Mistral refuses at create what its queue cannot take (a drawn `Failed` fate is a full
    // queue); nothing is made.
    let fate = match state.options.faults.next_batch() {
        Some(BatchFate::Failed) => {
            discard();
            return super::rate_limited(
                "Too many batch requests are already queued for this model. Try again once some jobs have ended.",
            );
        }
        Some(BatchFate::Expired) => Some("expired"),
        Some(BatchFate::Cancelled) => Some("cancelled"),
        None => None,
    };
    let tokens = crate::queue::tokens_of(translated.characters);
    if !state.queue.admit(&batch_id, tokens).0 {
        state.queue.release(&batch_id);
        discard();
        return super::rate_limited(
            "Too many tokens are already enqueued for this model. Try again once some jobs have ended.",
        );
    }
    let made = Made {
        job_id,
        batch_id: batch_id.clone(),
        file_id,
        fate,
    };
    match start(&state, made, create, &translated) {
        Ok(job) => {
            let batch = state.store.batch(&job.batch_id);
            Json(render(&job, batch.as_ref())).into_response()
        }
        Err(problem) => {
            state.queue.release(&batch_id);
            discard();
            internal(&problem)
        }
    }
}

/// The ids of a job being made (its own, its internal batch's and input's, counted in the
/// queue before they exist) and its drawn fate.
struct Made {
    job_id: String,
    batch_id: String,
    file_id: String,
    fate: Option<&'static str>,
}

/// Store the translated input as an internal file and batch (carrying the job's metadata, so
/// the stats count it by metadata like any batch), record the job, and hand the batch to the
/// shared processor.
fn start(
    state: &Arc<AppState>,
    made: Made,
    create: Create,
    translated: &Translated,
) -> std::io::Result<Arc<Job>> {
    let now = crate::now();
    state.store.add_file(FileObject {
        id: made.file_id.clone(),
        object: "file".into(),
        bytes: translated.bytes,
        created_at: now,
        filename: format!("{}_input.jsonl", made.job_id),
        purpose: INTERNAL_PURPOSE.into(),
        status: Some("processed".into()),
        expires_at: Some(now + 2_592_000),
    })?;
    let model = create.model.or_else(|| translated.first_model.clone());
    state.store.add_batch(Batch {
        id: made.batch_id.clone(),
        object: "batch".into(),
        endpoint: INTERNAL_ENDPOINT.into(),
        input_file_id: made.file_id,
        completion_window: "24h".into(),
        status: BatchStatus::Validating,
        created_at: now,
        model: model.clone(),
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
        metadata: create.metadata.clone(),
    })?;
    let job = state.mistral.save(Job {
        id: made.job_id,
        batch_id: made.batch_id.clone(),
        input_files: create.input_files,
        endpoint: ENDPOINT.into(),
        model,
        metadata: create.metadata,
        timeout_hours: create.timeout_hours,
        created_at: now,
        requests: translated.requests,
        fate: made.fate.map(str::to_string),
        ended: None,
    })?;
    crate::processor::start(state, made.batch_id);
    Ok(job)
}

pub(super) async fn retrieve(
    State(state): State<Arc<AppState>>,
    Path(id): Path<String>,
) -> Response {
    if !state.options.faults.slow_poll.is_zero() {
        tokio::time::sleep(state.options.faults.slow_poll).await;
    }
    match current(&state, &id).await {
        Ok((job, batch)) => Json(render(&job, batch.as_ref())).into_response(),
        Err(response) => response,
    }
}

/// Cancel: the internal batch goes to `cancelling` and the processor stops. Cancelling a job
/// that has ended answers it unchanged, so a retried cancel is harmless.
pub(super) async fn cancel(State(state): State<Arc<AppState>>, Path(id): Path<String>) -> Response {
    let (job, batch) = match current(&state, &id).await {
        Ok(found) => found,
        Err(response) => return response,
    };
    let outcome = state.store.update_batch(&job.batch_id, true, |batch| {
        if !batch.status.is_terminal() && batch.status != BatchStatus::Cancelling {
            batch.status = BatchStatus::Cancelling;
            batch.cancelling_at = Some(crate::now());
        }
    });
    match outcome {
        Ok(Some(((), batch))) => Json(render(&job, Some(&batch))).into_response(),
        Ok(None) => Json(render(&job, batch.as_ref())).into_response(),
        Err(problem) => internal(&problem),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn create_bodies_are_validated() {
        let status = |body: Value| {
            parse_create(body.to_string().as_bytes())
                .err()
                .map(|Refusal(status, _)| status.as_u16())
        };
        let good = json!({"input_files": ["f"], "endpoint": ENDPOINT, "model": "m",
            "metadata": {"k": "v"}, "timeout_hours": 24});
        assert_eq!(status(good), None);
        assert_eq!(status(json!({"endpoint": ENDPOINT})), Some(422));
        assert_eq!(
            status(json!({"input_files": ["f"], "endpoint": "/v1/embeddings"})),
            Some(400)
        );
        assert_eq!(
            status(json!({"input_files": ["f"], "endpoint": ENDPOINT, "metadata": {"k": 1}})),
            Some(422)
        );
        assert_eq!(
            status(json!({"input_files": ["f"], "endpoint": ENDPOINT, "timeout_hours": 0})),
            Some(422)
        );
        assert_eq!(
            status(json!({"requests": [], "endpoint": ENDPOINT})),
            Some(400)
        );
    }
}
