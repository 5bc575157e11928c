//! The File API: Google's resumable upload (a `start` call that answers an upload URL, then
//! `upload` chunks at increasing offsets, the last one `upload, finalize`), and get, list,
//! delete and download (`files/{id}:download?alt=media`, under `/v1beta/` or `/download/`).

use std::sync::Arc;

use axum::Json;
use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use futures_util::StreamExt;
use serde_json::{Value, json};

use super::records::{FileRecord, Upload};
use super::{internal, invalid, not_found, query_value, timestamp};
use crate::routes::AppState;

/// Files are kept 48 hours on Gemini; `expirationTime` says so (nothing expires here).
const KEPT_SECONDS: i64 = 48 * 3_600;

/// The request's origin (`http://host:port`), from its Host header.
fn origin(headers: &HeaderMap) -> String {
    let host = headers
        .get("host")
        .and_then(|host| host.to_str().ok())
        .unwrap_or("127.0.0.1");
    format!("http://{host}")
}

/// The File resource.
pub(super) fn render(file: &FileRecord, headers: &HeaderMap) -> Value {
    let mut value = json!({
        "name": format!("files/{}", file.id),
        "mimeType": file.mime_type,
        "sizeBytes": file.size_bytes.to_string(),
        "createTime": timestamp(file.created_at),
        "updateTime": timestamp(file.created_at),
        "expirationTime": timestamp(file.created_at + KEPT_SECONDS),
        "sha256Hash": file.sha256,
        "uri": format!("{}/v1beta/files/{}", origin(headers), file.id),
        "state": "ACTIVE",
        "source": file.source,
    });
    if let Some(name) = &file.display_name {
        value["displayName"] = json!(name);
    }
    if file.source == "GENERATED" {
        value["downloadUri"] = json!(format!(
            "{}/download/v1beta/files/{}:download?alt=media",
            origin(headers),
            file.id
        ));
    }
    value
}

fn header<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get(name)
        .and_then(|value| value.to_str().ok())
        .map(str::trim)
}

/// An upload answer with its `x-goog-upload-status`.
fn with_status(mut response: Response, status: &'static str) -> Response {
    response
        .headers_mut()
        .insert("x-goog-upload-status", HeaderValue::from_static(status));
    response
}

/// `POST /upload/v1beta/files`: a `start` (with the key), or a chunk (`?upload_id=`).
pub(super) async fn upload(
    State(state): State<Arc<AppState>>,
    uri: Uri,
    headers: HeaderMap,
    body: Body,
) -> Response {
    if let Some(token) = query_value(uri.query(), "upload_id") {
        return chunk(&state, &token, &headers, body).await;
    }
    if header(&headers, "x-goog-upload-protocol") != Some("resumable")
        || header(&headers, "x-goog-upload-command") != Some("start")
    {
        return invalid(
            "Uploads must be resumable: send X-Goog-Upload-Protocol: resumable and X-Goog-Upload-Command: start, then the bytes to the x-goog-upload-url answered.",
        );
    }
    let Ok(bytes) = axum::body::to_bytes(body, 1 << 20).await else {
        return invalid("The upload's start body (the File's metadata) is too large.");
    };
    let metadata: Value = if bytes.iter().all(u8::is_ascii_whitespace) {
        json!({})
    } else {
        match serde_json::from_slice(&bytes) {
            Ok(metadata) => metadata,
            Err(problem) => return invalid(&format!("Invalid JSON payload received. {problem}")),
        }
    };
    let file = &metadata["file"];
    let declared = match header(&headers, "x-goog-upload-header-content-length") {
        None => None,
        Some(length) => match length.parse::<u64>() {
            Ok(length) => Some(length),
            Err(_) => return invalid("X-Goog-Upload-Header-Content-Length: not a number"),
        },
    };
    let mime_type = file
        .get("mimeType")
        .or_else(|| file.get("mime_type"))
        .and_then(Value::as_str)
        .or_else(|| header(&headers, "x-goog-upload-header-content-type"))
        .unwrap_or("application/octet-stream")
        .to_string();
    let display_name = file
        .get("displayName")
        .or_else(|| file.get("display_name"))
        .and_then(Value::as_str)
        .map(str::to_string);
    let id = state.gemini.new_id();
    if let Err(problem) = std::fs::write(state.gemini.part_path(&id), b"") {
        return internal(&problem);
    }
    let token = state.gemini.start_upload(Upload {
        file: FileRecord {
            id,
            display_name,
            mime_type,
            size_bytes: 0,
            created_at: crate::now(),
            sha256: String::new(),
            source: "UPLOADED".into(),
            deleted: false,
        },
        declared,
        received: 0,
        hasher: Some(super::digest::Sha256::new()),
        finished: None,
    });
    let url = format!("{}/upload/v1beta/files?upload_id={token}", origin(&headers));
    let mut response = with_status(Json(json!({})).into_response(), "active");
    if let Ok(url) = HeaderValue::from_str(&url) {
        response.headers_mut().insert("x-goog-upload-url", url);
    }
    response
}

/// One chunk of an upload: `upload` (more to come), `upload, finalize` (the last), or
/// `query` (how much arrived, for a client whose answer was lost).
async fn chunk(state: &Arc<AppState>, token: &str, headers: &HeaderMap, body: Body) -> Response {
    let Some(upload) = state.gemini.upload(token) else {
        return with_status(
            not_found(
                "No upload session with this upload_id (it may have ended with a server restart).",
            ),
            "final",
        );
    };
    let mut upload = upload.lock().await;
    let command = header(headers, "x-goog-upload-command")
        .unwrap_or_default()
        .to_ascii_lowercase();
    let commands: Vec<&str> = command.split(',').map(str::trim).collect();
    let received = |upload: &Upload| {
        let mut response = with_status(
            Json(json!({})).into_response(),
            if upload.finished.is_some() {
                "final"
            } else {
                "active"
            },
        );
        if let Ok(size) = HeaderValue::from_str(&upload.received.to_string()) {
            response
                .headers_mut()
                .insert("x-goog-upload-size-received", size);
        }
        response
    };
    if commands == ["query"] {
        return received(&upload);
    }
    if !commands.contains(&"upload") {
        return with_status(
            invalid("X-Goog-Upload-Command must be `upload`, `upload, finalize` or `query`."),
            "active",
        );
    }
    let finalize = commands.contains(&"finalize");
    let offset =
        header(headers, "x-goog-upload-offset").and_then(|offset| offset.parse::<u64>().ok());
    if let Some(file) = &upload.finished {
        // A final chunk sent again (its answer was lost): the same answer.
        if finalize && offset.is_some_and(|offset| offset <= upload.received) {
            return with_status(
                Json(json!({"file": render(file, headers)})).into_response(),
                "final",
            );
        }
        return with_status(invalid("This upload is already finalized."), "final");
    }
    if offset != Some(upload.received) {
        return with_status(
            invalid(&format!(
                "X-Goog-Upload-Offset must be {} (the bytes received so far), not {}.",
                upload.received,
                offset.map_or_else(|| "absent".to_string(), |offset| offset.to_string())
            )),
            "active",
        );
    }
    let part = state.gemini.part_path(&upload.file.id);
    let mut file = match std::fs::OpenOptions::new().append(true).open(&part) {
        Ok(file) => std::io::BufWriter::with_capacity(1 << 20, file),
        Err(problem) => return internal(&problem),
    };
    let mut stream = body.into_data_stream();
    let mut length = 0u64;
    while let Some(piece) = stream.next().await {
        let Ok(piece) = piece else {
            // An interrupted chunk: nothing of it counts, the client sends it again; the
            // running hash saw part of it, so the final chunk hashes the whole file instead.
            let _ = file.into_inner().map(|file| file.set_len(upload.received));
            upload.hasher = None;
            return with_status(invalid("The chunk was interrupted."), "active");
        };
        if let Some(hasher) = upload.hasher.as_mut() {
            hasher.update(&piece);
        }
        length += piece.len() as u64;
        if let Err(problem) = std::io::Write::write_all(&mut file, &piece) {
            return internal(&problem);
        }
    }
    if let Err(problem) = std::io::Write::flush(&mut file) {
        return internal(&problem);
    }
    drop(file);
    upload.received += length;
    if !finalize {
        return received(&upload);
    }
    if let Some(declared) = upload
        .declared
        .filter(|declared| *declared != upload.received)
    {
        return with_status(
            invalid(&format!(
                "The upload declared {declared} bytes but sent {}.",
                upload.received
            )),
            "active",
        );
    }
    let mut record = upload.file.clone();
    record.size_bytes = upload.received;
    let hasher = upload.hasher.take();
    let saved = {
        let state = Arc::clone(state);
        tokio::task::spawn_blocking(move || {
            record.sha256 = match hasher {
                Some(hasher) => hasher.finish_base64(),
                None => super::digest::of_file(&state.gemini.part_path(&record.id))?,
            };
            state.gemini.save_file(record)
        })
        .await
    };
    match saved {
        Ok(Ok(file)) => {
            let answer = Json(json!({"file": render(&file, headers)})).into_response();
            upload.finished = Some(file);
            with_status(answer, "final")
        }
        Ok(Err(problem)) => internal(&problem),
        Err(problem) => internal(&std::io::Error::other(problem.to_string())),
    }
}

fn missing(id: &str) -> Response {
    not_found(&format!("File files/{id} was not found (or was deleted)."))
}

/// `GET /v1beta/files/{id}` (the File) or `GET /v1beta/files/{id}:download` (its bytes).
pub(super) async fn get_or_download(
    state: State<Arc<AppState>>,
    Path(name): Path<String>,
    headers: HeaderMap,
) -> Response {
    if name.ends_with(":download") {
        return download(state, Path(name)).await;
    }
    match state.gemini.file(&name) {
        Some(file) => Json(render(&file, &headers)).into_response(),
        None => missing(&name),
    }
}

/// `GET …/files/{id}:download?alt=media`: the raw bytes.
pub(super) async fn download(
    State(state): State<Arc<AppState>>,
    Path(name): Path<String>,
) -> Response {
    let Some(id) = name.strip_suffix(":download") else {
        return not_found(&format!(
            "files/{name}: download as files/{{id}}:download?alt=media"
        ));
    };
    if state.gemini.file(id).is_none() {
        return missing(id);
    }
    let handle = match tokio::fs::File::open(state.gemini.file_path(id)).await {
        Ok(handle) => handle,
        Err(problem) => return internal(&problem),
    };
    Response::builder()
        .header("content-type", "application/octet-stream")
        .body(Body::from_stream(
            tokio_util::io::ReaderStream::with_capacity(handle, 1 << 20),
        ))
        .unwrap_or_else(|_| StatusCode::INTERNAL_SERVER_ERROR.into_response())
}

/// `GET /v1beta/files?pageSize=&pageToken=`: newest first, 10 a page unless asked (≤ 100).
pub(super) async fn list(
    State(state): State<Arc<AppState>>,
    uri: Uri,
    headers: HeaderMap,
) -> Response {
    let size = match super::page_size(uri.query(), 10, 100) {
        Ok(size) => size,
        Err(response) => return *response,
    };
    let files: Vec<_> = state
        .gemini
        .all_files()
        .into_iter()
        .rev()
        .filter(|file| !file.deleted)
        .collect();
    let ids: Vec<String> = files.iter().map(|file| file.id.clone()).collect();
    let (page, next) = match super::page_of(&ids, uri.query(), size) {
        Ok(page) => page,
        Err(response) => return *response,
    };
    let rendered: Vec<Value> = files
        .iter()
        .filter(|file| page.contains(&file.id))
        .map(|file| render(file, &headers))
        .collect();
    let mut body = json!({"files": rendered});
    if let Some(next) = next {
        body["nextPageToken"] = json!(next);
    }
    Json(body).into_response()
}

pub(super) async fn delete(State(state): State<Arc<AppState>>, Path(id): Path<String>) -> Response {
    match state.gemini.delete_file(&id) {
        Ok(true) => Json(json!({})).into_response(),
        Ok(false) => missing(&id),
        Err(problem) => internal(&problem),
    }
}
