//! The synchronous Messages API (`POST /v1/messages`), for pilots: one request translated,
//! answered by the engine and translated back, with engine errors in Anthropic's envelope.

use std::sync::Arc;

use axum::body::Body;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::Value;

use super::translate::{to_chat, to_message};
use super::{error, internal, invalid};
use crate::routes::AppState;

pub(super) async fn create_message(State(state): State<Arc<AppState>>, body: Body) -> Response {
    let bytes = match super::read_body(body).await {
        Ok(bytes) => bytes,
        Err(response) => return response,
    };
    let params: Value = match serde_json::from_slice(&bytes) {
        Ok(params) => params,
        Err(problem) => return invalid(&format!("invalid JSON body: {problem}")),
    };
    let (chat, form) = match to_chat(&params) {
        Ok(translated) => translated,
        Err(problem) => return invalid(&problem),
    };
    let engine = state.options.engine.clone();
    let chat = chat.to_string();
    let seed = format!("{}/{}", crate::now(), xxhash_rust::xxh3::xxh3_64(&bytes));
    let answer = tokio::task::spawn_blocking(move || {
        engine.answer(&chat, &reqwest::blocking::Client::new())
    })
    .await;
    let answer = match answer {
        Ok(answer) => answer,
        Err(problem) => return internal(&std::io::Error::other(problem.to_string())),
    };
    match to_message(answer.status, &answer.body, &form, &seed, "standard") {
        Ok(message) => axum::Json(message).into_response(),
        Err(failure) => error(
            StatusCode::from_u16(failure.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
            super::error_type(failure.status),
            &failure.message,
        ),
    }
}
