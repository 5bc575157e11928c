//! Synchronous chat completions: `POST /v1/chat/completions` (also Azure's
//! `/openai/v1/chat/completions`) and Azure's `/openai/deployments/{deployment}/chat/completions`,
//! where the deployment in the path names the model. Requests are checked the way OpenAI
//! checks them before the engine sees them, and what this server cannot do is refused.

use std::borrow::Cow;
use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::value::RawValue;

use super::{AppState, bad_param, bad_request, error};

/// OpenAI's answer to a body that is not JSON.
pub(super) const UNPARSEABLE_JSON: &str = "We could not parse the JSON body of your request. (HINT: This likely means you aren't using your HTTP library correctly. The OpenAI API expects a JSON payload, but what was sent was not valid JSON.)";

/// The parts of a request checked before answering; the rest stays raw.
#[derive(Deserialize)]
struct RequestView<'a> {
    #[serde(borrow, default)]
    model: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    messages: Option<Vec<&'a RawValue>>,
    #[serde(borrow, default)]
    stream: Option<&'a RawValue>,
    #[serde(borrow, default)]
    n: Option<&'a RawValue>,
}

pub(super) async fn chat_completions(
    State(state): State<Arc<AppState>>,
    body: axum::body::Bytes,
) -> Response {
    answer(&state, &body, None).await
}

pub(super) async fn deployment_chat_completions(
    State(state): State<Arc<AppState>>,
    Path(deployment): Path<String>,
    body: axum::body::Bytes,
) -> Response {
    answer(&state, &body, Some(&deployment)).await
}

/// Check the request, then let the engine answer it. `deployment` (Azure) stands in for an
/// absent `model`.
async fn answer(state: &AppState, body: &[u8], deployment: Option<&str>) -> Response {
    let body = match checked(body, deployment) {
        Ok(body) => body,
        Err(response) => return *response,
    };
    let engine = state.options.engine.clone();
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

/// The body to answer (with the deployment as its model where it named none), or the 400.
fn checked(body: &[u8], deployment: Option<&str>) -> Result<String, Box<Response>> {
    let Ok(text) = std::str::from_utf8(body) else {
        return Err(Box::new(bad_request(UNPARSEABLE_JSON)));
    };
    let request = match serde_json::from_str::<RequestView<'_>>(text) {
        Ok(request) => request,
        Err(problem) if problem.is_data() => {
            return Err(Box::new(bad_request(&format!(
                "Invalid chat completions request: {problem}"
            ))));
        }
        Err(_) => return Err(Box::new(bad_request(UNPARSEABLE_JSON))),
    };
    match request.messages.as_deref() {
        None => {
            return Err(Box::new(bad_param(
                "Missing required parameter: 'messages'.",
                "messages",
                "missing_required_parameter",
            )));
        }
        Some([]) => {
            return Err(Box::new(bad_param(
                "Invalid 'messages': empty array. Expected an array with minimum length 1, but got an empty array instead.",
                "messages",
                "empty_array",
            )));
        }
        Some(_) => {}
    }
    if let Some(problem) = crate::file_check::unsupported(request.stream, request.n) {
        return Err(Box::new(bad_param(
            &problem.message,
            problem.param,
            problem.code,
        )));
    }
    let has_model = request
        .model
        .as_deref()
        .is_some_and(|model| !model.is_empty());
    // Mistral's `random_seed` is OpenAI's `seed`, for engines that forward the body upstream.
    if text.contains("\"random_seed\"") {
        let mut object: serde_json::Map<String, serde_json::Value> =
            serde_json::from_str(text).map_err(|_| Box::new(bad_request(UNPARSEABLE_JSON)))?;
        if object.contains_key("random_seed") {
            crate::mistral::rename_mistral_fields(&mut object);
            let renamed = serde_json::Value::Object(object).to_string();
            return checked(renamed.as_bytes(), deployment);
        }
    }
    match deployment {
        _ if has_model => Ok(text.to_string()),
        None => Err(Box::new(bad_param(
            "you must provide a model parameter",
            "model",
            "missing_required_parameter",
        ))),
        Some(deployment) => {
            let mut object: serde_json::Map<String, serde_json::Value> =
                serde_json::from_str(text).map_err(|_| Box::new(bad_request(UNPARSEABLE_JSON)))?;
            object.insert("model".into(), deployment.into());
            Ok(serde_json::Value::Object(object).to_string())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn status_of(body: &str, deployment: Option<&str>) -> Result<String, u16> {
        checked(body.as_bytes(), deployment).map_err(|response| response.status().as_u16())
    }

    #[test]
    fn refuses_what_it_cannot_answer() {
        let good = r#"{"model":"m","messages":[{"role":"user","content":"hi"}]}"#;
        assert_eq!(status_of(good, None).as_deref(), Ok(good));
        for bad in [
            "not json",
            r#"{"model":"m"}"#,
            r#"{"model":"m","messages":[]}"#,
            r#"{"model":"m","messages":[{}],"stream":true}"#,
            r#"{"model":"m","messages":[{}],"n":2}"#,
            r#"{"messages":[{}]}"#,
        ] {
            assert_eq!(status_of(bad, None), Err(400), "{bad}");
        }
    }

    #[test]
    fn mistral_fields_are_accepted() {
        let body = status_of(
            r#"{"model":"m","messages":[{"role":"user","content":"hi"}],"max_tokens":5,"random_seed":3}"#,
            None,
        )
        .unwrap();
        let body: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert_eq!(
            (body["seed"].as_u64(), body["max_tokens"].as_u64()),
            (Some(3), Some(5))
        );
        assert!(body.get("random_seed").is_none());
    }

    #[test]
    fn the_deployment_stands_in_for_the_model() {
        let body = status_of(
            r#"{"messages":[{"role":"user","content":"hi"}]}"#,
            Some("dep"),
        )
        .unwrap();
        let body: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert_eq!(body["model"], "dep");
    }
}
