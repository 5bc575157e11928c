//! The Files routes: upload (multipart), list (OpenAI's cursor or Mistral's page numbers),
//! retrieve, content, delete.

use std::sync::Arc;

use axum::Json;
use axum::body::Body;
use axum::extract::{Multipart, Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use batchlabel_protocol::FileObject;
use serde::Deserialize;
use serde_json::json;

use super::{AppState, bad_param, bad_request, internal, not_found, page};

/// The name a part without one is stored under (what httpx names raw bytes).
const UNNAMED: &str = "upload";

/// The `purpose` values OpenAI accepts on upload.
const PURPOSES: [&str; 6] = [
    "assistants",
    "batch",
    "fine-tune",
    "vision",
    "user_data",
    "evals",
];

fn missing(param: &str) -> Response {
    bad_param(
        &format!("Missing required parameter: '{param}'."),
        param,
        "missing_required_parameter",
    )
}

/// OpenAI refuses a batch upload whose name has another extension than `.jsonl`; a name
/// without one (raw bytes, which the SDK sends as `upload`) is accepted.
fn batch_filename_ok(filename: &str) -> bool {
    std::path::Path::new(filename)
        .extension()
        .is_none_or(|extension| extension.eq_ignore_ascii_case("jsonl"))
}

pub(super) async fn upload_file(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    mut multipart: Multipart,
) -> Response {
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
                filename = Some(
                    field
                        .file_name()
                        .filter(|name| !name.is_empty())
                        .unwrap_or(UNNAMED)
                        .to_string(),
                );
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
    let (purpose, filename) = match (purpose, filename) {
        (Some(purpose), Some(filename)) if PURPOSES.contains(&purpose.as_str()) => {
            (purpose, filename)
        }
        (purpose, filename) => {
            let _ = tokio::fs::remove_file(&staged).await;
            return match (purpose, filename) {
                (None, _) => missing("purpose"),
                (_, None) => missing("file"),
                (Some(purpose), _) => bad_param(
                    &format!(
                        "Invalid value for 'purpose': '{purpose}'. Supported values are: {}.",
                        PURPOSES.join(", ")
                    ),
                    "purpose",
                    "invalid_value",
                ),
            };
        }
    };
    if purpose == "batch" && !batch_filename_ok(&filename) {
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
    file_answer(&file, &headers)
}

#[derive(Deserialize)]
pub(super) struct FileQuery {
    purpose: Option<String>,
    limit: Option<usize>,
    order: Option<String>,
    after: Option<String>,
    /// Mistral's paging (0-based page number); with it the answer is Mistral's list.
    page: Option<usize>,
    page_size: Option<usize>,
}

pub(super) async fn list_files(
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
    if query.page.is_some() || query.page_size.is_some() {
        return mistral_page(&files, query.page.unwrap_or(0), query.page_size);
    }
    let limit = query.limit.unwrap_or(10_000).clamp(1, 10_000);
    Json(page(&files, |file| &file.id, query.after.as_deref(), limit)).into_response()
}

/// A file object as the client's protocol has it. Both protocols share `/v1/files`; Mistral's
/// adds fields its SDK requires and OpenAI's has none of, so the client is told by its user
/// agent (Mistral's official SDKs name `mistralai` in it).
fn file_answer(file: &FileObject, headers: &HeaderMap) -> Response {
    let mistral = headers
        .get(axum::http::header::USER_AGENT)
        .and_then(|agent| agent.to_str().ok())
        .is_some_and(|agent| agent.to_ascii_lowercase().contains("mistral"));
    if mistral {
        Json(with_mistral_fields(file)).into_response()
    } else {
        Json(file).into_response()
    }
}

/// A file object as Mistral has it: OpenAI's fields, and Mistral's `sample_type`, `source`
/// and `deleted`.
fn with_mistral_fields(file: &FileObject) -> serde_json::Value {
    let (sample_type, source) = match file.purpose.as_str() {
        "batch_output" if file.filename.contains("error") => ("batch_error", "mistral"),
        "batch_output" => ("batch_result", "mistral"),
        _ => ("batch_request", "upload"),
    };
    let mut value = json!(file);
    if let Some(object) = value.as_object_mut() {
        object.insert("sample_type".into(), json!(sample_type));
        object.insert("source".into(), json!(source));
        object.insert("deleted".into(), json!(false));
    }
    value
}

/// A page of files as Mistral lists them (`{"data", "object": "list", "total"}`), each with
/// Mistral's `sample_type` and `source` beside OpenAI's fields.
fn mistral_page(files: &[FileObject], page: usize, page_size: Option<usize>) -> Response {
    let page_size = page_size.unwrap_or(100).clamp(1, 10_000);
    let data: Vec<serde_json::Value> = files
        .iter()
        .skip(page.saturating_mul(page_size))
        .take(page_size)
        .map(with_mistral_fields)
        .collect();
    Json(json!({"data": data, "object": "list", "total": files.len()})).into_response()
}

pub(super) async fn get_file(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    match state.store.file(&id) {
        Some(file) => file_answer(&file, &headers),
        None => not_found("File", &id),
    }
}

pub(super) async fn delete_file(
    State(state): State<Arc<AppState>>,
    Path(id): Path<String>,
) -> Response {
    match state.store.delete_file(&id) {
        Ok(true) => Json(json!({"id": id, "object": "file", "deleted": true})).into_response(),
        Ok(false) => not_found("File", &id),
        Err(problem) => internal(&problem),
    }
}

pub(super) async fn file_content(
    State(state): State<Arc<AppState>>,
    Path(id): Path<String>,
) -> Response {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batch_uploads_need_jsonl_or_no_extension() {
        assert!(batch_filename_ok("input.jsonl"));
        assert!(batch_filename_ok("INPUT.JSONL"));
        assert!(batch_filename_ok("upload"));
        assert!(!batch_filename_ok("x.csv"));
        assert!(!batch_filename_ok("x.json"));
    }
}
