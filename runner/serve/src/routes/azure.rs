//! Azure OpenAI's front end: the same files, batches and engines, under
//! `/openai/`. Two URL styles: the v1 API (`/openai/v1/files`, `/openai/v1/batches`, …, no
//! api-version) and the dated one (`/openai/files?api-version=2024-10-21`, …, plus
//! `/openai/deployments/{deployment}/chat/completions`), where `api-version` is required.
//! Auth (`api-key` header) and the 401 shape are in [`super::errors`]; Azure's validation
//! rules in [`crate::file_check`]; its always-present error file in [`crate::processor`].

use std::sync::Arc;

use axum::Router;
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::{get, post};

use super::errors::azure_error;
use super::{
    AppState, cancel_batch, chat, create_batch, delete_file, file_content, get_batch, get_file,
    list_batches, list_files, upload_file,
};

pub(super) fn routes() -> Router<Arc<AppState>> {
    let v1 = Router::new()
        .route("/openai/v1/files", post(upload_file).get(list_files))
        .route("/openai/v1/files/{id}", get(get_file).delete(delete_file))
        .route("/openai/v1/files/{id}/content", get(file_content))
        .route("/openai/v1/batches", post(create_batch).get(list_batches))
        .route("/openai/v1/batches/{id}", get(get_batch))
        .route("/openai/v1/batches/{id}/cancel", post(cancel_batch))
        .route("/openai/v1/chat/completions", post(chat::chat_completions));
    let dated = Router::new()
        .route("/openai/files", post(upload_file).get(list_files))
        .route("/openai/files/{id}", get(get_file).delete(delete_file))
        .route("/openai/files/{id}/content", get(file_content))
        .route("/openai/batches", post(create_batch).get(list_batches))
        .route("/openai/batches/{id}", get(get_batch))
        .route("/openai/batches/{id}/cancel", post(cancel_batch))
        .route(
            "/openai/deployments/{deployment}/chat/completions",
            post(chat::deployment_chat_completions),
        )
        .route_layer(axum::middleware::from_fn(require_api_version));
    v1.merge(dated)
}

/// The dated routes need `api-version=YYYY-MM-DD` or `YYYY-MM-DD-preview`; any such date is
/// taken (the server has one behaviour), so clients can pin whichever version they target.
async fn require_api_version(
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let version = request.uri().query().and_then(|query| {
        query
            .split('&')
            .filter_map(|pair| pair.split_once('='))
            .find(|(key, _)| *key == "api-version")
            .map(|(_, value)| value.to_string())
    });
    match version {
        Some(version) if is_api_version(&version) => next.run(request).await,
        Some(version) => azure_error(
            StatusCode::BAD_REQUEST,
            "InvalidApiVersionParameter",
            &format!(
                "The api-version '{version}' is invalid: use a date, YYYY-MM-DD or YYYY-MM-DD-preview (e.g. 2024-10-21)."
            ),
        ),
        None => azure_error(
            StatusCode::BAD_REQUEST,
            "MissingApiVersionParameter",
            "The api-version query parameter (?api-version=) is required for all requests.",
        ),
    }
}

fn is_api_version(text: &str) -> bool {
    let date = text.strip_suffix("-preview").unwrap_or(text);
    let bytes = date.as_bytes();
    bytes.len() == 10
        && bytes.iter().enumerate().all(|(index, byte)| match index {
            4 | 7 => *byte == b'-',
            _ => byte.is_ascii_digit(),
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn api_versions_are_dates() {
        assert!(is_api_version("2024-10-21"));
        assert!(is_api_version("2025-04-01-preview"));
        assert!(!is_api_version("latest"));
        assert!(!is_api_version("2024-1-21"));
        assert!(!is_api_version("2024-10-21-beta"));
    }
}
