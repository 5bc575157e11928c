//! The Mistral front end: batch jobs under `/v1/batch/jobs`
//! over the shared `/v1/files` store, with Mistral's job object, upper-case statuses,
//! page-numbered lists and error envelope (`{"object": "error", "message", "type", "param",
//! "code"}`). Like the Anthropic front end it owns no processing: a job's input files are
//! translated into an internal OpenAI-shaped batch run by the shared processor (same engines,
//! same faults, same state folder), and the batch is read back as a job.

mod jobs;
mod list;
mod records;
mod translate;

use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get, post};
use batchlabel_protocol::BatchStatus;
use serde_json::{Value, json};

use crate::faults::{BatchFate, CallFault};
use crate::routes::AppState;

pub(crate) use records::Records;
pub(crate) use translate::rename_mistral_fields;

/// The `endpoint` (and line `url`) of internal batches: it tells the processor, the file check
/// and the stats that the batch came from this front end.
pub(crate) const INTERNAL_ENDPOINT: &str = "/mistral/v1/chat/completions";

/// The only endpoint a job may name (the one this server answers).
const ENDPOINT: &str = "/v1/chat/completions";

/// Mistral's cap on requests per job (1M), applied instead of the OpenAI per-file cap.
pub(crate) const MAX_REQUESTS: u64 = 1_000_000;

pub(crate) fn router(state: Arc<AppState>) -> Router<Arc<AppState>> {
    Router::new()
        .route(
            "/v1/batch/jobs",
            post(jobs::create)
                .get(list::list)
                .fallback(method_not_allowed),
        )
        .route(
            "/v1/batch/jobs/{id}",
            get(jobs::retrieve).fallback(method_not_allowed),
        )
        .route(
            "/v1/batch/jobs/{id}/cancel",
            post(jobs::cancel).fallback(method_not_allowed),
        )
        .route("/v1/batch", any(unknown_route))
        .route("/v1/batch/{*rest}", any(unknown_route))
        .route_layer(axum::middleware::from_fn_with_state(state, guard))
}

/// The fate the processor gives a job's batch: drawn once, at create (a `Failed` fate is a
/// 429 there and makes nothing), and kept in the job record so a restart does not redraw it.
pub(crate) fn batch_fate(state: &AppState, batch_id: &str) -> Option<BatchFate> {
    match state.mistral.by_batch(batch_id)?.fate.as_deref() {
        Some("expired") => Some(BatchFate::Expired),
        Some("cancelled") => Some(BatchFate::Cancelled),
        _ => None,
    }
}

/// A job's status, from its internal batch's.
pub(crate) fn status_of(status: BatchStatus) -> &'static str {
    match status {
        BatchStatus::Validating => "QUEUED",
        BatchStatus::InProgress | BatchStatus::Finalizing => "RUNNING",
        BatchStatus::Completed => "SUCCESS",
        BatchStatus::Failed => "FAILED",
        BatchStatus::Expired => "TIMEOUT_EXCEEDED",
        BatchStatus::Cancelling => "CANCELLATION_REQUESTED",
        BatchStatus::Cancelled => "CANCELLED",
    }
}

/// Counters for `/v1/_batchlabel/stats`: jobs, and how many per status.
pub(crate) fn stats(state: &AppState) -> Value {
    let mut by_status = serde_json::Map::new();
    let records = state.mistral.all();
    for record in &records {
        let status = state
            .store
            .batch(&record.batch_id)
            .map_or("QUEUED", |batch| status_of(batch.status));
        let count = by_status.get(status).and_then(Value::as_u64).unwrap_or(0);
        by_status.insert(status.into(), json!(count + 1));
    }
    json!({"mistral_jobs": records.len(), "mistral_jobs_by_status": by_status})
}

/// An error in Mistral's envelope.
pub(crate) fn error(status: StatusCode, kind: &str, message: &str, code: Option<&str>) -> Response {
    let body =
        json!({"object": "error", "message": message, "type": kind, "param": null, "code": code});
    (status, axum::Json(body)).into_response()
}

/// A request that is well formed but asks for something this server cannot do.
pub(crate) fn invalid(message: &str) -> Response {
    error(
        StatusCode::BAD_REQUEST,
        "invalid_request_error",
        message,
        None,
    )
}

/// A body or query that does not validate (Mistral answers these 422, as FastAPI does).
pub(crate) fn unprocessable(message: &str) -> Response {
    error(
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid_request_error",
        message,
        None,
    )
}

pub(crate) fn not_found(what: &str, id: &str) -> Response {
    error(
        StatusCode::NOT_FOUND,
        "invalid_request_error",
        &format!("{what} `{id}` was not found."),
        Some("not_found"),
    )
}

pub(crate) fn internal(problem: &std::io::Error) -> Response {
    error(
        StatusCode::INTERNAL_SERVER_ERROR,
        "internal_server_error",
        &format!("storage error: {problem}"),
        None,
    )
}

/// A 429 as Mistral sends it (`rate_limited`, code `1300`). `retry-after` is whole seconds;
/// `retry-after-ms`, which clients may read first, keeps test retries fast.
pub(crate) fn rate_limited(message: &str) -> Response {
    let mut response = error(
        StatusCode::TOO_MANY_REQUESTS,
        "rate_limited",
        message,
        Some("1300"),
    );
    let headers = response.headers_mut();
    headers.insert("retry-after", HeaderValue::from_static("1"));
    headers.insert("retry-after-ms", HeaderValue::from_static("20"));
    headers.insert(
        "x-ratelimit-remaining-req-minute",
        HeaderValue::from_static("0"),
    );
    response
}

async fn unknown_route(uri: axum::http::Uri) -> Response {
    error(
        StatusCode::NOT_FOUND,
        "invalid_request_error",
        &format!(
            "Not found: {}; this server serves /v1/batch/jobs, /v1/batch/jobs/{{id}} and /v1/batch/jobs/{{id}}/cancel.",
            uri.path()
        ),
        None,
    )
}

async fn method_not_allowed(method: axum::http::Method, uri: axum::http::Uri) -> Response {
    error(
        StatusCode::METHOD_NOT_ALLOWED,
        "invalid_request_error",
        &format!("Method not allowed: {method} {}", uri.path()),
        None,
    )
}

fn given_key(headers: &HeaderMap) -> Option<&str> {
    headers
        .get("authorization")
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.strip_prefix("Bearer "))
        .map(str::trim)
}

/// Auth (`Authorization: Bearer <key>`) and injected faults, for every call of this front end,
/// with errors in Mistral's envelope.
async fn guard(
    axum::extract::State(state): axum::extract::State<Arc<AppState>>,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    if state
        .options
        .api_key
        .as_deref()
        .is_some_and(|key| given_key(request.headers()) != Some(key))
    {
        return error(
            StatusCode::UNAUTHORIZED,
            "authentication_error",
            "Unauthorized",
            None,
        );
    }
    match state.options.faults.next_call() {
        CallFault::Status(429) => rate_limited("Requests rate limit exceeded"),
        CallFault::Status(status) => error(
            StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
            "internal_server_error",
            "Internal server error",
            None,
        ),
        CallFault::Drop => {
            let response = next.run(request).await;
            if response.status().is_success() {
                dropped()
            } else {
                response
            }
        }
        CallFault::None => next.run(request).await,
    }
}

/// An answer whose body breaks off: the handler acted, the client never learns how.
fn dropped() -> Response {
    let broken = futures_util::stream::once(async {
        Err::<axum::body::Bytes, std::io::Error>(std::io::Error::other("injected drop"))
    });
    Response::builder()
        .status(StatusCode::OK)
        .header("content-type", "application/json")
        .body(Body::from_stream(broken))
        .unwrap_or_else(|_| StatusCode::INTERNAL_SERVER_ERROR.into_response())
}
