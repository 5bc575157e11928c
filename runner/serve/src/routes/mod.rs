//! The HTTP surface: OpenAI's Files, Batches and chat-completions routes, errors in OpenAI's
//! envelope, plus `GET /v1/_batchlabel/stats` (the server's own counters, for tests) and
//! `GET /health`. Injected HTTP faults are applied here.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::Json;
use axum::body::Body;
use axum::extract::{DefaultBodyLimit, Multipart, Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use batchlabel_protocol::{FileObject, ListPage};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::ServeOptions;
use crate::faults::CallFault;
use crate::store::Store;

mod batches;

use batches::{cancel_batch, create_batch, get_batch, list_batches};

pub(crate) struct AppState {
    pub(crate) store: Store,
    pub(crate) options: ServeOptions,
    /// Batches being worked on at once, at most one per core: memory stays bounded however
    /// many batches are queued (the rest wait in `validating`, as on a busy provider).
    pub(crate) workers: crate::processor::WorkerSlots,
    /// The Anthropic front end's message batches.
    pub(crate) anthropic: crate::anthropic::Records,
}

impl AppState {
    pub(crate) fn new(store: Store, options: ServeOptions) -> Self {
        let slots = match options.engine {
            // One model, one request at a time, in a fixed order.
            crate::Engine::InProcess(_) => 1,
            _ => std::thread::available_parallelism().map_or(2, std::num::NonZero::get),
        };
        Self {
            store,
            anthropic: crate::anthropic::Records::new(&options.state_dir),
            options,
            workers: crate::processor::WorkerSlots::new(slots),
        }
    }

    /// Authorize the call and draw its fault: `Err` is the answer to send instead.
    fn begin(&self, headers: &HeaderMap) -> Result<CallFault, Box<Response>> {
        if let Some(key) = &self.options.api_key {
            let given = headers
                .get("authorization")
                .and_then(|value| value.to_str().ok())
                .and_then(|value| value.strip_prefix("Bearer "));
            if given != Some(key.as_str()) {
                return Err(Box::new(error(
                    StatusCode::UNAUTHORIZED,
                    "Incorrect API key provided.",
                    "invalid_request_error",
                    Some("invalid_api_key"),
                )));
            }
        }
        match self.options.faults.next_call() {
            CallFault::Status(status) => {
                let status = StatusCode::from_u16(status).unwrap_or(StatusCode::TOO_MANY_REQUESTS);
                let mut response = if status == StatusCode::TOO_MANY_REQUESTS {
                    error(
                        status,
                        "Rate limit reached for requests. Please try again in 0.02s.",
                        "requests",
                        Some("rate_limit_exceeded"),
                    )
                } else {
                    error(
                        status,
                        "The server had an error while processing your request.",
                        "server_error",
                        None,
                    )
                };
                let headers = response.headers_mut();
                headers.insert("retry-after-ms", HeaderValue::from_static("20"));
                headers.insert("retry-after", HeaderValue::from_static("0.02"));
                headers.insert(
                    "x-ratelimit-remaining-requests",
                    HeaderValue::from_static("0"),
                );
                headers.insert(
                    "x-ratelimit-reset-requests",
                    HeaderValue::from_static("20ms"),
                );
                Err(Box::new(response))
            }
            fault => Ok(fault),
        }
    }
}

/// Authorization and injected faults for every API call. A drawn HTTP fault answers instead
/// of the handler; a dropped connection lets the handler act, then loses its answer
/// (headers, then a broken body), which is what makes a client look before it retries.
async fn guard(
    State(state): State<Arc<AppState>>,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let fault = match state.begin(request.headers()) {
        Ok(fault) => fault,
        Err(response) => return *response,
    };
    let response = next.run(request).await;
    if fault != CallFault::Drop || !response.status().is_success() {
        return response;
    }
    let broken = futures_util::stream::once(async {
        Err::<axum::body::Bytes, std::io::Error>(std::io::Error::other("injected drop"))
    });
    Response::builder()
        .status(StatusCode::OK)
        .header("content-type", "application/json")
        .body(Body::from_stream(broken))
        .unwrap_or_else(|_| StatusCode::INTERNAL_SERVER_ERROR.into_response())
}

pub(super) fn error(status: StatusCode, message: &str, kind: &str, code: Option<&str>) -> Response {
    (
        status,
        Json(json!({"error": {"message": message, "type": kind, "param": null, "code": code}})),
    )
        .into_response()
}

pub(super) fn bad_request(message: &str) -> Response {
    error(
        StatusCode::BAD_REQUEST,
        message,
        "invalid_request_error",
        None,
    )
}

pub(super) fn not_found(what: &str, id: &str) -> Response {
    error(
        StatusCode::NOT_FOUND,
        &format!("No such {what}: '{id}'"),
        "invalid_request_error",
        None,
    )
}

pub(super) fn internal(error_text: &std::io::Error) -> Response {
    error(
        StatusCode::INTERNAL_SERVER_ERROR,
        &format!("storage error: {error_text}"),
        "server_error",
        None,
    )
}

pub(crate) fn router(state: Arc<AppState>) -> axum::Router {
    let api = axum::Router::new()
        .route("/v1/files", post(upload_file).get(list_files))
        .route("/v1/files/{id}", get(get_file).delete(delete_file))
        .route("/v1/files/{id}/content", get(file_content))
        .route("/v1/batches", post(create_batch).get(list_batches))
        .route("/v1/batches/{id}", get(get_batch))
        .route("/v1/batches/{id}/cancel", post(cancel_batch))
        .route("/v1/chat/completions", post(chat_completions))
        .route_layer(axum::middleware::from_fn_with_state(
            Arc::clone(&state),
            guard,
        ));
    axum::Router::new()
        .merge(api)
        .merge(crate::anthropic::router(Arc::clone(&state)))
        .route("/health", get(|| async { "ok" }))
        .route("/v1/_batchlabel/stats", get(stats))
        .layer(DefaultBodyLimit::disable())
        .with_state(state)
}

async fn upload_file(State(state): State<Arc<AppState>>, mut multipart: Multipart) -> Response {
    let file_id = state.store.new_id("file-");
    let staged = state.store.upload_path(&file_id);
    let mut purpose = None;
    let mut filename = None;
    let mut bytes = 0u64;
    loop {
        let field = match multipart.next_field().await {
            Ok(Some(field)) => field,
            Ok(None) => break,
            Err(problem) => return bad_request(&format!("malformed multipart body: {problem}")),
        };
        match field.name() {
            Some("purpose") => purpose = field.text().await.ok(),
            Some("file") => {
                filename = Some(field.file_name().unwrap_or("upload").to_string());
                // Plain buffered writes: one blocking-pool hop per chunk would halve the speed.
                let mut file = match std::fs::File::create(&staged) {
                    Ok(file) => std::io::BufWriter::with_capacity(1 << 20, file),
                    Err(problem) => return internal(&problem),
                };
                let mut field = field;
                loop {
                    match field.chunk().await {
                        Ok(Some(chunk)) => {
                            bytes += chunk.len() as u64;
                            if let Err(problem) = std::io::Write::write_all(&mut file, &chunk) {
                                return internal(&problem);
                            }
                        }
                        Ok(None) => break,
                        Err(problem) => {
                            let _ = tokio::fs::remove_file(&staged).await;
                            return bad_request(&format!("upload interrupted: {problem}"));
                        }
                    }
                }
                // Flushed, not synced: state survives a server restart, not a power cut.
                if let Err(problem) = std::io::Write::flush(&mut file) {
                    return internal(&problem);
                }
            }
            _ => {}
        }
    }
    let (Some(purpose), Some(filename)) = (purpose, filename) else {
        let _ = tokio::fs::remove_file(&staged).await;
        return bad_request("'file' and 'purpose' are required");
    };
    if purpose == "batch"
        && !std::path::Path::new(&filename)
            .extension()
            .is_some_and(|extension| extension.eq_ignore_ascii_case("jsonl"))
    {
        let _ = tokio::fs::remove_file(&staged).await;
        return bad_request("Invalid file format for Batch API. Must be .jsonl");
    }
    let now = crate::now();
    let file = FileObject {
        id: file_id,
        object: "file".into(),
        bytes,
        created_at: now,
        filename,
        purpose,
        status: Some("processed".into()),
        expires_at: Some(now + 2_592_000),
    };
    if let Err(problem) = state.store.add_file(file.clone()) {
        return internal(&problem);
    }
    Json(file).into_response()
}

#[derive(Deserialize)]
struct FileQuery {
    purpose: Option<String>,
    limit: Option<usize>,
    order: Option<String>,
    after: Option<String>,
}

pub(super) fn page<T: Clone + serde::Serialize>(
    items: &[T],
    id_of: impl Fn(&T) -> &str,
    after: Option<&str>,
    limit: usize,
) -> ListPage<T> {
    let start = after
        .and_then(|after| items.iter().position(|item| id_of(item) == after))
        .map_or(0, |position| position + 1);
    let rest = &items[start.min(items.len())..];
    let data: Vec<T> = rest.iter().take(limit).cloned().collect();
    ListPage {
        object: "list".into(),
        first_id: data.first().map(|item| id_of(item).to_string()),
        last_id: data.last().map(|item| id_of(item).to_string()),
        has_more: rest.len() > data.len(),
        data,
    }
}

async fn list_files(
    State(state): State<Arc<AppState>>,
    Query(query): Query<FileQuery>,
) -> Response {
    let mut files: Vec<FileObject> = state
        .store
        .files()
        .into_iter()
        .filter(|file| {
            query
                .purpose
                .as_ref()
                .is_none_or(|purpose| *purpose == file.purpose)
        })
        .collect();
    if query.order.as_deref() != Some("asc") {
        files.reverse();
    }
    let limit = query.limit.unwrap_or(10_000).clamp(1, 10_000);
    Json(page(&files, |file| &file.id, query.after.as_deref(), limit)).into_response()
}

async fn get_file(State(state): State<Arc<AppState>>, Path(id): Path<String>) -> Response {
    match state.store.file(&id) {
        Some(file) => Json(file).into_response(),
        None => not_found("File", &id),
    }
}

async fn delete_file(State(state): State<Arc<AppState>>, Path(id): Path<String>) -> Response {
    match state.store.delete_file(&id) {
        Ok(true) => Json(json!({"id": id, "object": "file", "deleted": true})).into_response(),
        Ok(false) => not_found("File", &id),
        Err(problem) => internal(&problem),
    }
}

async fn file_content(State(state): State<Arc<AppState>>, Path(id): Path<String>) -> Response {
    let Some(file) = state.store.file(&id) else {
        return not_found("File", &id);
    };
    let handle = match tokio::fs::File::open(state.store.content_path(&id)).await {
        Ok(handle) => handle,
        Err(problem) => return internal(&problem),
    };
    Response::builder()
        .header("content-type", "application/octet-stream")
        .header("content-length", file.bytes)
        .body(Body::from_stream(
            tokio_util::io::ReaderStream::with_capacity(handle, 1 << 20),
        ))
        .unwrap_or_else(|_| StatusCode::INTERNAL_SERVER_ERROR.into_response())
}

pub(super) const ENDPOINTS: [&str; 1] = [batchlabel_protocol::CHAT_COMPLETIONS];

async fn chat_completions(State(state): State<Arc<AppState>>, body: axum::body::Bytes) -> Response {
    let engine = state.options.engine.clone();
    let Ok(body) = String::from_utf8(body.to_vec()) else {
        return bad_request("the body is not UTF-8");
    };
    let answer = tokio::task::spawn_blocking(move || {
        engine.answer(&body, &reqwest::blocking::Client::new())
    })
    .await;
    match answer {
        Ok(answer) => (
            StatusCode::from_u16(answer.status).unwrap_or(StatusCode::BAD_GATEWAY),
            [("content-type", "application/json")],
            answer.body,
        )
            .into_response(),
        Err(problem) => error(
            StatusCode::INTERNAL_SERVER_ERROR,
            &problem.to_string(),
            "server_error",
            None,
        ),
    }
}

/// The server's own counters, from its stored state (so they survive restarts).
async fn stats(State(state): State<Arc<AppState>>) -> Response {
    let files = state.store.files();
    let batches = state.store.batches();
    let mut uploads_by_filename: BTreeMap<String, u64> = BTreeMap::new();
    for file in files.iter().filter(|file| file.purpose == "batch") {
        *uploads_by_filename
            .entry(file.filename.clone())
            .or_default() += 1;
    }
    let mut batches_by_metadata: BTreeMap<String, u64> = BTreeMap::new();
    let mut batches_by_status: BTreeMap<&str, u64> = BTreeMap::new();
    for batch in &batches {
        let key = batch
            .metadata
            .as_ref()
            .map_or_else(String::new, |metadata| {
                Value::Object(metadata.clone()).to_string()
            });
        *batches_by_metadata.entry(key).or_default() += 1;
        *batches_by_status.entry(batch.status.as_str()).or_default() += 1;
    }
    let mut counters = json!({
        "uploads": uploads_by_filename.values().sum::<u64>(),
        "batches": batches.len(),
        "uploads_by_filename": uploads_by_filename,
        "batches_by_metadata": batches_by_metadata,
        "batches_by_status": batches_by_status,
    });
    if let (Some(counters), Value::Object(anthropic)) =
        (counters.as_object_mut(), crate::anthropic::stats(&state))
    {
        counters.extend(anthropic);
    }
    Json(counters).into_response()
}
