//! The synchronous `models/{model}:generateContent`, for pilots: one request translated,
//! answered by the engine and translated back, with engine errors in Google's envelope.

use std::sync::Arc;

use axum::body::Body;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::Value;

use super::translate::{to_chat, to_response};
use super::{error, internal, invalid};
use crate::routes::AppState;

/// The most a request body may hold (Gemini's inline request cap).
const MAX_BODY_BYTES: usize = 20 * 1024 * 1024;

pub(super) async fn generate(
    State(state): State<Arc<AppState>>,
    model: String,
    body: Body,
) -> Response {
    let model = model.strip_prefix("models/").unwrap_or(&model).to_string();
    let Ok(bytes) = axum::body::to_bytes(body, MAX_BODY_BYTES).await else {
        return error(
            StatusCode::PAYLOAD_TOO_LARGE,
            "Request payload size exceeds the limit: 20 MB.",
        );
    };
    let request: Value = match serde_json::from_slice(&bytes) {
        Ok(request) => request,
        Err(problem) => return invalid(&format!("Invalid JSON payload received. {problem}")),
    };
    let chat = match to_chat(&request, &model) {
        Ok(chat) => chat.to_string(),
        Err(problem) => return invalid(&problem),
    };
    let engine = state.options.engine.clone();
    let seed = format!("{}/{}", crate::now(), xxhash_rust::xxh3::xxh3_64(&bytes));
    let answer = tokio::task::spawn_blocking(move || {
        engine.answer(&chat, &reqwest::blocking::Client::new())
    })
    .await;
    let answer = match answer {
        Ok(answer) => answer,
        Err(problem) => return internal(&std::io::Error::other(problem.to_string())),
    };
    match to_response(answer.status, &answer.body, &model, &seed) {
        Ok(response) => axum::Json(response).into_response(),
        Err(failure) => error(
            StatusCode::from_u16(failure.code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
            &failure.message,
        ),
    }
}
