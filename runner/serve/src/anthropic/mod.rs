//! The Anthropic front end: Message Batches under `/v1/messages/batches`
//! and the synchronous `POST /v1/messages`, with Anthropic's headers, error envelope and
//! rate-limit headers. It owns no processing: a message batch is translated into an internal
//! OpenAI-shaped batch run by the shared processor, and answers are translated back on read,
//! so both protocols share one batch service, one state folder and one set of faults.

mod batches;
mod messages;
mod records;
mod translate;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use axum::Router;
use axum::body::Body;
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get, post};
use serde_json::{Value, json};

use crate::faults::{BatchFate, CallFault};
use crate::routes::AppState;

pub(crate) use records::Records;

/// The `endpoint` (and line `url`) of internal batches: it tells the processor and the file
/// check that the batch came from this front end.
pub(crate) const INTERNAL_ENDPOINT: &str = "/v1/messages";

/// Anthropic's cap on requests per message batch.
pub const DEFAULT_MAX_REQUESTS: u64 = 100_000;

/// Anthropic's cap on a create body (256 MB).
const MAX_BODY_BYTES: usize = 256 * 1024 * 1024;

/// The internal batch's metadata key that holds its fate, drawn at create: the fate must not
/// be drawn twice (once at create for `Failed`, again by the processor) or after a restart.
const FATE_KEY: &str = "anthropic_fate";

pub(crate) fn router(state: Arc<AppState>) -> Router<Arc<AppState>> {
    Router::new()
        .route(
            "/v1/messages",
            post(messages::create_message).fallback(unknown_route),
        )
        .route(
            "/v1/messages/batches",
            post(batches::create)
                .get(batches::list)
                .fallback(unknown_route),
        )
        .route(
            "/v1/messages/batches/{id}",
            get(batches::retrieve)
                .delete(batches::delete)
                .fallback(unknown_route),
        )
        .route(
            "/v1/messages/batches/{id}/cancel",
            post(batches::cancel).fallback(unknown_route),
        )
        .route(
            "/v1/messages/batches/{id}/results",
            get(batches::results).fallback(unknown_route),
        )
        .route("/v1/messages/{*rest}", any(unknown_route))
        .route_layer(axum::middleware::from_fn_with_state(state, guard))
}

/// The fate the processor gives a batch: drawn now for an OpenAI batch, read back for a
/// batch of this front end (drawn once, at create).
pub(crate) fn batch_fate(
    faults: &crate::faults::Faults,
    batch: &batchlabel_protocol::Batch,
) -> Option<BatchFate> {
    if batch.endpoint != INTERNAL_ENDPOINT {
        return faults.next_batch();
    }
    let fate = batch
        .metadata
        .as_ref()
        .and_then(|metadata| metadata.get(FATE_KEY))
        .and_then(Value::as_str);
    match fate {
        Some("expired") => Some(BatchFate::Expired),
        Some("canceled") => Some(BatchFate::Cancelled),
        _ => None,
    }
}

/// Counters for `/v1/_batchlabel/stats`: message batches, and how many per processing status.
pub(crate) fn stats(state: &AppState) -> Value {
    let mut by_status = serde_json::Map::new();
    let records = state.anthropic.all();
    for record in &records {
        let status = batches::processing_status(state, record);
        let count = by_status.get(status).and_then(Value::as_u64).unwrap_or(0);
        by_status.insert(status.into(), json!(count + 1));
    }
    json!({"anthropic_batches": records.len(), "anthropic_batches_by_status": by_status})
}

static REQUEST_SEQUENCE: AtomicU64 = AtomicU64::new(0);

fn request_id() -> String {
    let sequence = REQUEST_SEQUENCE.fetch_add(1, Ordering::Relaxed);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |elapsed| elapsed.as_nanos());
    let hash = xxhash_rust::xxh3::xxh3_64(&(nanos ^ u128::from(sequence)).to_le_bytes());
    format!("req_{sequence:06}{hash:016x}")
}

/// An error in Anthropic's envelope.
pub(crate) fn error(status: StatusCode, kind: &str, message: &str) -> Response {
    let body = json!({"type": "error", "error": {"type": kind, "message": message}});
    (status, axum::Json(body)).into_response()
}

pub(crate) fn invalid(message: &str) -> Response {
    error(StatusCode::BAD_REQUEST, "invalid_request_error", message)
}

pub(crate) fn not_found(id: &str) -> Response {
    error(
        StatusCode::NOT_FOUND,
        "not_found_error",
        &format!("Message Batch `{id}` was not found."),
    )
}

pub(crate) fn internal(problem: &std::io::Error) -> Response {
    error(
        StatusCode::INTERNAL_SERVER_ERROR,
        "api_error",
        &format!("storage error: {problem}"),
    )
}

/// The error type Anthropic uses for an HTTP status.
pub(crate) fn error_type(status: u16) -> &'static str {
    match status {
        400 | 422 => "invalid_request_error",
        401 => "authentication_error",
        403 => "permission_error",
        404 => "not_found_error",
        413 => "request_too_large",
        429 => "rate_limit_error",
        529 => "overloaded_error",
        _ => "api_error",
    }
}

async fn unknown_route(uri: axum::http::Uri) -> Response {
    error(
        StatusCode::NOT_FOUND,
        "not_found_error",
        &format!("Not found: {}", uri.path()),
    )
}

/// A 429 with Anthropic's rate-limit headers. `retry-after` is whole seconds as Anthropic
/// sends it; `retry-after-ms` (which the SDKs read first) keeps test retries fast.
pub(crate) fn rate_limited(message: &str) -> Response {
    let mut response = error(StatusCode::TOO_MANY_REQUESTS, "rate_limit_error", message);
    let headers = response.headers_mut();
    headers.insert("retry-after", HeaderValue::from_static("1"));
    headers.insert("retry-after-ms", HeaderValue::from_static("20"));
    headers.insert(
        "anthropic-ratelimit-requests-remaining",
        HeaderValue::from_static("0"),
    );
    if let Ok(reset) = HeaderValue::from_str(&rfc3339(crate::now() + 1)) {
        headers.insert("anthropic-ratelimit-requests-reset", reset);
    }
    response
}

fn fault_response(status: u16) -> Response {
    match status {
        429 => rate_limited("Number of request tokens has exceeded your per-minute rate limit."),
        529 => error(
            StatusCode::from_u16(529).unwrap_or(StatusCode::SERVICE_UNAVAILABLE),
            "overloaded_error",
            "Overloaded",
        ),
        status => error(
            StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
            error_type(status),
            "Internal server error",
        ),
    }
}

fn given_key(headers: &HeaderMap) -> Option<&str> {
    if let Some(key) = headers.get("x-api-key") {
        return key.to_str().ok();
    }
    headers
        .get("authorization")
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.strip_prefix("Bearer "))
}

/// Auth (`x-api-key`, or a bearer token as the SDK sends), the required `anthropic-version`
/// header and injected faults, for every call of this front end; every answer carries a
/// `request-id` header, and error bodies a `request_id`, as Anthropic's do.
async fn guard(
    axum::extract::State(state): axum::extract::State<Arc<AppState>>,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let id = request_id();
    let headers = request.headers();
    let mut response = if state
        .options
        .api_key
        .as_deref()
        .is_some_and(|key| given_key(headers) != Some(key))
    {
        error(
            StatusCode::UNAUTHORIZED,
            "authentication_error",
            "invalid x-api-key",
        )
    } else if !headers.contains_key("anthropic-version") {
        invalid("anthropic-version: header is required")
    } else {
        match state.options.faults.next_call() {
            CallFault::Status(status) => fault_response(status),
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
    };
    if !response.status().is_success() {
        response = with_request_id(response, &id).await;
    }
    if let Ok(value) = HeaderValue::from_str(&id) {
        response.headers_mut().insert("request-id", value);
    }
    response
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

/// Add `request_id` to an error envelope (small bodies only; anything else passes as is).
async fn with_request_id(response: Response, id: &str) -> Response {
    let (mut parts, body) = response.into_parts();
    let Ok(bytes) = axum::body::to_bytes(body, 1 << 20).await else {
        return (parts.status, "").into_response();
    };
    let Ok(mut value) = serde_json::from_slice::<Value>(&bytes) else {
        return Response::from_parts(parts, Body::from(bytes));
    };
    if let Some(object) = value.as_object_mut() {
        object.insert("request_id".into(), json!(id));
    }
    parts.headers.remove("content-length");
    Response::from_parts(parts, Body::from(value.to_string()))
}

/// Read a body up to Anthropic's size cap (413 `request_too_large` above it).
pub(crate) async fn read_body(body: Body) -> Result<axum::body::Bytes, Response> {
    axum::body::to_bytes(body, MAX_BODY_BYTES)
        .await
        .map_err(|_| {
            error(
                StatusCode::PAYLOAD_TOO_LARGE,
                "request_too_large",
                "Request exceeds the maximum allowed number of bytes (256 MB).",
            )
        })
}

/// Seconds since the epoch as an RFC 3339 UTC time (`2026-11-27T07:19:42Z`).
pub(crate) fn rfc3339(seconds: i64) -> String {
    let days = seconds.div_euclid(86_400);
    let of_day = seconds.rem_euclid(86_400);
    // Howard Hinnant's civil-from-days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let day_of_era = z.rem_euclid(146_097);
    let year_of_era =
        (day_of_era - day_of_era / 1_460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let month_index = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * month_index + 2) / 5 + 1;
    let month = if month_index < 10 {
        month_index + 3
    } else {
        month_index - 9
    };
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        of_day / 3_600,
        of_day % 3_600 / 60,
        of_day % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_rfc3339() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(rfc3339(1_795_763_982), "2026-11-27T07:19:42Z");
        assert_eq!(rfc3339(-1), "1969-12-31T23:59:59Z");
    }
}
