//! The Google Gemini API front end: the
//! File API (resumable uploads under `/upload/v1beta/files`, files under `/v1beta/files`),
//! batch mode (`models/{model}:batchGenerateContent`, long-running operations under
//! `/v1beta/batches`) and the synchronous `models/{model}:generateContent`, with Google's
//! `x-goog-api-key` auth and error envelope (`{"error": {"code", "message", "status"}}`).
//! Like the Anthropic front end it owns no processing: a batch's input file is translated
//! into an internal OpenAI-shaped batch run by the shared processor (same engines, same
//! faults, same state folder), and its answers are translated back into a responses file.
//! Only status 200 is success to Google's SDK, so every success here is a 200.

mod batches;
mod digest;
mod files;
mod finish;
mod generate;
mod input;
mod records;
mod translate;

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get, post};
use serde_json::{Value, json};

use crate::faults::CallFault;
use crate::routes::AppState;

pub(crate) use records::Records;

/// The `endpoint` (and line `url`) of internal batches: it tells the stats, and anyone
/// reading `/v1/batches`, that the batch came from this front end.
pub(crate) const INTERNAL_ENDPOINT: &str = "/gemini/v1beta/chat/completions";

/// The internal batch's metadata key holding the fate drawn at create.
const FATE_KEY: &str = "gemini_fate";

/// The fate the processor gives a batch of this front end: the one drawn at create (a
/// `Failed` fate never gets this far: it was a 429 there).
pub(crate) fn batch_fate(batch: &batchlabel_protocol::Batch) -> Option<crate::faults::BatchFate> {
    let fate = batch
        .metadata
        .as_ref()
        .and_then(|metadata| metadata.get(FATE_KEY))
        .and_then(Value::as_str);
    match fate {
        Some("expired") => Some(crate::faults::BatchFate::Expired),
        Some("cancelled") => Some(crate::faults::BatchFate::Cancelled),
        _ => None,
    }
}

/// The `@type` of a batch in an operation's `metadata` and `response`.
const BATCH_TYPE: &str =
    "type.googleapis.com/google.ai.generativelanguage.v1main.GenerateContentBatch";

pub(crate) fn router(state: Arc<AppState>) -> Router<Arc<AppState>> {
    Router::new()
        .route(
            "/upload/v1beta/files",
            post(files::upload).fallback(unknown_route),
        )
        .route("/v1beta/files", get(files::list).fallback(unknown_route))
        .route(
            "/v1beta/files/{name}",
            get(files::get_or_download)
                .delete(files::delete)
                .fallback(unknown_route),
        )
        .route(
            "/download/v1beta/files/{name}",
            get(files::download).fallback(unknown_route),
        )
        .route(
            "/v1beta/models/{call}",
            post(model_call).fallback(unknown_route),
        )
        .route(
            "/v1beta/batches",
            get(batches::list).fallback(unknown_route),
        )
        .route(
            "/v1beta/batches/{call}",
            get(batches::get)
                .post(batches::cancel)
                .delete(batches::delete)
                .fallback(unknown_route),
        )
        .route("/v1beta/{*rest}", any(unknown_route))
        .route("/upload/{*rest}", any(unknown_route))
        .route("/download/{*rest}", any(unknown_route))
        .route_layer(axum::middleware::from_fn_with_state(state, guard))
}

/// `POST models/{model}:{method}`: the two methods share one path segment.
async fn model_call(
    state: axum::extract::State<Arc<AppState>>,
    axum::extract::Path(call): axum::extract::Path<String>,
    body: Body,
) -> Response {
    match call.rsplit_once(':') {
        Some((model, "batchGenerateContent")) if !model.is_empty() => {
            batches::create(state, model.to_string(), body).await
        }
        Some((model, "generateContent")) if !model.is_empty() => {
            generate::generate(state, model.to_string(), body).await
        }
        _ => not_found(&format!(
            "models/{call}: unknown method; this server serves :batchGenerateContent and :generateContent"
        )),
    }
}

/// Counters for `/v1/_batchlabel/stats`: batches ever created (by state and by display
/// name) and files ever uploaded, deleted ones included.
pub(crate) fn stats(state: &AppState) -> Value {
    let records = state.gemini.all_batches();
    let mut by_state: BTreeMap<&str, u64> = BTreeMap::new();
    let mut by_name: BTreeMap<&str, u64> = BTreeMap::new();
    for record in &records {
        let batch = state.store.batch(&record.batch_id);
        *by_state
            .entry(finish::state_of(record, batch.as_ref()))
            .or_default() += 1;
        *by_name.entry(record.display_name.as_str()).or_default() += 1;
    }
    let uploads = state
        .gemini
        .all_files()
        .iter()
        .filter(|file| file.source == "UPLOADED")
        .count();
    json!({"gemini_batches": records.len(), "gemini_batches_by_state": by_state,
        "gemini_batches_by_display_name": by_name, "gemini_uploads": uploads})
}

/// An error in Google's envelope; `status` is Google's name for it.
pub(crate) fn error_with(code: StatusCode, status: &str, message: &str) -> Response {
    let body = json!({"error": {"code": code.as_u16(), "message": message, "status": status}});
    (code, axum::Json(body)).into_response()
}

/// An error in Google's envelope, its status named after the HTTP code.
pub(crate) fn error(code: StatusCode, message: &str) -> Response {
    error_with(code, translate::status_name(code.as_u16()), message)
}

pub(crate) fn invalid(message: &str) -> Response {
    error(StatusCode::BAD_REQUEST, message)
}

pub(crate) fn not_found(message: &str) -> Response {
    error(StatusCode::NOT_FOUND, message)
}

pub(crate) fn internal(problem: &std::io::Error) -> Response {
    error(
        StatusCode::INTERNAL_SERVER_ERROR,
        &format!("storage error: {problem}"),
    )
}

/// A 429 as Google sends it: `RESOURCE_EXHAUSTED`, with a `RetryInfo` detail (short, so
/// test retries stay fast) and a `retry-after` header for clients that read one.
pub(crate) fn exhausted(message: &str) -> Response {
    let body = json!({"error": {"code": 429, "message": message, "status": "RESOURCE_EXHAUSTED",
        "details": [{"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "0.020s"}]}});
    let mut response = (StatusCode::TOO_MANY_REQUESTS, axum::Json(body)).into_response();
    response
        .headers_mut()
        .insert("retry-after", HeaderValue::from_static("1"));
    response
}

async fn unknown_route(method: axum::http::Method, uri: axum::http::Uri) -> Response {
    not_found(&format!(
        "Method not found: {method} {}; this server's Gemini API serves /upload/v1beta/files, /v1beta/files, /v1beta/models/{{model}}:batchGenerateContent|generateContent and /v1beta/batches.",
        uri.path()
    ))
}

/// The key a call carries: `x-goog-api-key`, else `?key=`.
fn given_key(request: &axum::extract::Request) -> Option<String> {
    if let Some(key) = request.headers().get("x-goog-api-key") {
        return key.to_str().ok().map(|key| key.trim().to_string());
    }
    query_value(request.uri().query(), "key")
}

/// A query parameter's (percent-decoded) value.
pub(crate) fn query_value(query: Option<&str>, name: &str) -> Option<String> {
    let pairs: Vec<(String, String)> = serde_urlencoded_pairs(query?);
    pairs
        .into_iter()
        .find(|(key, _)| key == name)
        .map(|(_, value)| value)
}

fn serde_urlencoded_pairs(query: &str) -> Vec<(String, String)> {
    axum::extract::Query::<Vec<(String, String)>>::try_from_uri(
        &format!("/?{query}").parse().unwrap_or_default(),
    )
    .map(|axum::extract::Query(pairs)| pairs)
    .unwrap_or_default()
}

/// Auth and injected faults for every call of this front end. An upload's chunks carry no
/// key (Google's SDK sends them bare): their unguessable `upload_id` authorizes them.
async fn guard(
    axum::extract::State(state): axum::extract::State<Arc<AppState>>,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let chunk = request.uri().path() == "/upload/v1beta/files"
        && query_value(request.uri().query(), "upload_id").is_some();
    if let Some(key) = state.options.api_key.as_deref()
        && !chunk
        && given_key(&request).as_deref() != Some(key)
    {
        return error(
            StatusCode::UNAUTHORIZED,
            "API key not valid. Please pass a valid API key in the x-goog-api-key header.",
        );
    }
    match state.options.faults.next_call() {
        CallFault::Status(429) => exhausted("Resource has been exhausted (e.g. check quota)."),
        CallFault::Status(status) => error(
            StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
            "An internal error has occurred. Please retry or report in https://developers.generativeai.google/guide/troubleshooting",
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

/// Seconds since the epoch as Google's RFC 3339 timestamps.
pub(crate) fn timestamp(seconds: i64) -> String {
    crate::anthropic::rfc3339(seconds)
}

/// The page size asked for (`pageSize`), `default` when absent, at most `max`.
pub(crate) fn page_size(
    query: Option<&str>,
    default: usize,
    max: usize,
) -> Result<usize, Box<Response>> {
    match query_value(query, "pageSize").or_else(|| query_value(query, "page_size")) {
        None => Ok(default),
        Some(size) => match size.parse::<usize>() {
            Ok(0) => Ok(default),
            Ok(size) => Ok(size.min(max)),
            Err(_) => Err(Box::new(invalid(&format!(
                "pageSize: `{size}` is not a number"
            )))),
        },
    }
}

/// One page of `ids` (newest first) after `pageToken` (the last id of the previous page):
/// the page and the next token, absent on the last page.
pub(crate) fn page_of(
    ids: &[String],
    query: Option<&str>,
    size: usize,
) -> Result<(Vec<String>, Option<String>), Box<Response>> {
    let token = query_value(query, "pageToken").or_else(|| query_value(query, "page_token"));
    let start = match token.as_deref().filter(|token| !token.is_empty()) {
        None => 0,
        // Ids sort by creation: a token stays good when its item was deleted since.
        Some(token)
            if token.len() == 26 && token.bytes().all(|byte| byte.is_ascii_alphanumeric()) =>
        {
            ids.iter()
                .position(|id| id.as_str() < token)
                .unwrap_or(ids.len())
        }
        Some(token) => {
            return Err(Box::new(invalid(&format!(
                "pageToken: `{token}` is not a valid page token"
            ))));
        }
    };
    let page: Vec<String> = ids[start..].iter().take(size).cloned().collect();
    let next = (start + page.len() < ids.len())
        .then(|| page.last().cloned())
        .flatten();
    Ok((page, next))
}
