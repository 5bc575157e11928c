//! The HTTP surface: OpenAI's Files, Batches and chat-completions routes under `/v1/`, the
//! same service in Azure OpenAI's dialect under `/openai/` ([`azure`]), errors in each one's
//! envelope ([`errors`]), plus `GET /v1/_batchlabel/stats` (the server's own counters, for
//! tests) and `GET /health`. Injected HTTP faults are applied here.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::Json;
use axum::body::Body;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use batchlabel_protocol::ListPage;
use serde_json::{Value, json};

use crate::ServeOptions;
use crate::faults::CallFault;
use crate::store::Store;

mod azure;
mod batches;
mod chat;
mod errors;
mod files;

use batches::{cancel_batch, create_batch, get_batch, list_batches};
pub(crate) use errors::Front;
use errors::{bad_param, bad_request, error, internal, not_found};
use files::{delete_file, file_content, get_file, list_files, upload_file};

pub(crate) struct AppState {
    pub(crate) store: Store,
    pub(crate) options: ServeOptions,
    /// Batches being worked on at once, at most one per core: memory stays bounded however
    /// many batches are queued (the rest wait in `validating`, as on a busy provider).
    pub(crate) workers: crate::processor::WorkerSlots,
    /// The Anthropic front end's message batches.
    pub(crate) anthropic: crate::anthropic::Records,
    /// The Mistral front end's batch jobs.
    pub(crate) mistral: crate::mistral::Records,
    /// The Gemini front end's files and batches.
    pub(crate) gemini: crate::gemini::Records,
    /// Input tokens queued (`ServeOptions::max_enqueued_tokens`).
    pub(crate) queue: crate::queue::Queue,
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
            mistral: crate::mistral::Records::new(&options.state_dir),
            gemini: crate::gemini::Records::new(&options.state_dir),
            queue: crate::queue::Queue::new(options.max_enqueued_tokens),
            options,
            workers: crate::processor::WorkerSlots::new(slots),
        }
    }

    /// Authorize the call and draw its fault: `Err` is the answer to send instead.
    fn begin(&self, front: Front, headers: &HeaderMap) -> Result<CallFault, Box<Response>> {
        errors::authorize(self.options.api_key.as_deref(), front, headers)?;
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
    front: Front,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let fault = match state.begin(front, request.headers()) {
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

pub(crate) fn router(state: Arc<AppState>) -> axum::Router {
    let api = axum::Router::new()
        .route("/v1/files", post(upload_file).get(list_files))
        .route("/v1/files/{id}", get(get_file).delete(delete_file))
        .route("/v1/files/{id}/content", get(file_content))
        .route("/v1/batches", post(create_batch).get(list_batches))
        .route("/v1/batches/{id}", get(get_batch))
        .route("/v1/batches/{id}/cancel", post(cancel_batch))
        .route("/v1/chat/completions", post(chat::chat_completions))
        .merge(azure::routes())
        .route_layer(axum::middleware::from_fn_with_state(
            Arc::clone(&state),
            guard,
        ));
    let own = axum::Router::new()
        .route("/v1/_batchlabel/stats", get(stats))
        .route_layer(axum::middleware::from_fn_with_state(
            Arc::clone(&state),
            require_key,
        ));
    axum::Router::new()
        .merge(api)
        .merge(own)
        .merge(crate::anthropic::router(Arc::clone(&state)))
        .merge(crate::gemini::router(Arc::clone(&state)))
        .merge(crate::mistral::router(Arc::clone(&state)))
        .route("/health", get(|| async { "ok" }))
        .fallback(errors::fallback)
        .layer(axum::middleware::from_fn(errors::envelope))
        .layer(DefaultBodyLimit::disable())
        .with_state(state)
}

/// The key without faults: the server's own routes are not part of the tested protocol.
async fn require_key(
    State(state): State<Arc<AppState>>,
    front: Front,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    // Whichever protocol the client speaks, its own key header is enough here.
    let headers = request.headers();
    let other_key = ["x-api-key", "api-key"]
        .iter()
        .filter_map(|name| headers.get(*name))
        .any(|value| Some(value.as_bytes()) == state.options.api_key.as_deref().map(str::as_bytes));
    if other_key {
        return next.run(request).await;
    }
    match errors::authorize(state.options.api_key.as_deref(), front, headers) {
        Ok(()) => next.run(request).await,
        Err(response) => *response,
    }
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

/// The only endpoint this server serves, in batches and as a route.
pub(super) const ENDPOINTS: [&str; 1] = [batchlabel_protocol::CHAT_COMPLETIONS];

/// The server's own counters, from its stored state (so they survive restarts); batches of
/// both front ends count, `batches_by_front` tells them apart. `uploads` counts every batch
/// input ever uploaded, deleted or not; `files_held` what is stored now.
async fn stats(State(state): State<Arc<AppState>>) -> Response {
    let files = state.store.files();
    let deleted = state.store.deleted_files();
    let batches = state.store.batches();
    let mut uploads_by_filename: BTreeMap<String, u64> = BTreeMap::new();
    for file in files
        .iter()
        .chain(&deleted)
        .filter(|file| file.purpose == "batch")
    {
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
    let azure = batches
        .iter()
        .filter(|batch| state.store.is_azure(&batch.id))
        .count();
    let mistral = batches
        .iter()
        .filter(|batch| batch.endpoint == crate::mistral::INTERNAL_ENDPOINT)
        .count();
    let gemini = batches
        .iter()
        .filter(|batch| batch.endpoint == crate::gemini::INTERNAL_ENDPOINT)
        .count();
    // Lines across every batch: a packed run sends far fewer than it has rows.
    let requests_in_batches: u64 = batches
        .iter()
        .filter_map(|batch| batch.request_counts.as_ref())
        .map(|counts| counts.total)
        .sum();
    let mut counters = json!({
        "uploads": uploads_by_filename.values().sum::<u64>(),
        "requests_in_batches": requests_in_batches,
        "batches": batches.len(),
        "files_held": files.len(),
        "files_deleted": deleted.len(),
        "uploads_by_filename": uploads_by_filename,
        "batches_by_metadata": batches_by_metadata,
        "batches_by_status": batches_by_status,
        "batches_by_front": {"openai": batches.len() - azure - mistral - gemini, "azure": azure, "mistral": mistral, "gemini": gemini},
        "queue": state.queue.stats(),
    });
    if let (Some(counters), Value::Object(anthropic)) =
        (counters.as_object_mut(), crate::anthropic::stats(&state))
    {
        counters.extend(anthropic);
    }
    if let (Some(counters), Value::Object(mistral)) =
        (counters.as_object_mut(), crate::mistral::stats(&state))
    {
        counters.extend(mistral);
    }
    if let (Some(counters), Value::Object(gemini)) =
        (counters.as_object_mut(), crate::gemini::stats(&state))
    {
        counters.extend(gemini);
    }
    Json(counters).into_response()
}
