//! Error answers in each front end's shape, authorization, and the catch-alls that keep
//! axum's plain-text rejections from reaching a client: OpenAI's SDKs (and strict clients)
//! parse every non-2xx body as `{"error": {"message", "type", "param", "code"}}`, and Azure's
//! gateway answers 401 and unknown paths as `{"error": {"code", "message"}}`.

use axum::Json;
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use serde_json::json;

/// Which protocol a request speaks, told by its path: Azure OpenAI's under `/openai/`, else
/// OpenAI's. The path (not a layer) decides, so it holds in every middleware and handler.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Front {
    OpenAi,
    Azure,
}

impl Front {
    pub(crate) fn of(path: &str) -> Self {
        if path == "/openai" || path.starts_with("/openai/") {
            Self::Azure
        } else {
            Self::OpenAi
        }
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Front {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        Ok(Self::of(parts.uri.path()))
    }
}

/// An error in OpenAI's envelope.
pub(crate) fn error(status: StatusCode, message: &str, kind: &str, code: Option<&str>) -> Response {
    error_with_param(status, message, kind, None, code)
}

/// An error in OpenAI's envelope naming the parameter at fault.
pub(crate) fn error_with_param(
    status: StatusCode,
    message: &str,
    kind: &str,
    param: Option<&str>,
    code: Option<&str>,
) -> Response {
    (
        status,
        Json(json!({"error": {"message": message, "type": kind, "param": param, "code": code}})),
    )
        .into_response()
}

/// An error in the Azure gateway's shape (`code` is a string, often the HTTP status).
pub(crate) fn azure_error(status: StatusCode, code: &str, message: &str) -> Response {
    (
        status,
        Json(json!({"error": {"code": code, "message": message}})),
    )
        .into_response()
}

pub(crate) fn bad_request(message: &str) -> Response {
    error(
        StatusCode::BAD_REQUEST,
        message,
        "invalid_request_error",
        None,
    )
}

/// A 400 naming the parameter at fault, with a machine-readable code.
pub(crate) fn bad_param(message: &str, param: &str, code: &str) -> Response {
    error_with_param(
        StatusCode::BAD_REQUEST,
        message,
        "invalid_request_error",
        Some(param),
        Some(code),
    )
}

pub(crate) fn not_found(what: &str, id: &str) -> Response {
    error(
        StatusCode::NOT_FOUND,
        &format!("No such {what}: '{id}'"),
        "invalid_request_error",
        None,
    )
}

pub(crate) fn internal(error_text: &std::io::Error) -> Response {
    error(
        StatusCode::INTERNAL_SERVER_ERROR,
        &format!("storage error: {error_text}"),
        "server_error",
        None,
    )
}

const AZURE_DENIED: &str = "Access denied due to invalid subscription key or wrong API endpoint. Make sure to provide a valid key for an active subscription and use a correct regional API endpoint for your resource.";

const OPENAI_MISSING_KEY: &str = "You didn't provide an API key. You need to provide your API key in an Authorization header using Bearer auth (i.e. Authorization: Bearer YOUR_KEY), or as the password field (with blank username) if you're accessing the API from your browser and are prompted for a username and password. You can obtain an API key from https://platform.openai.com/account/api-keys.";

/// Check the caller's key when one is configured. OpenAI tells a missing key (code null)
/// from a wrong one (`invalid_api_key`, key masked); Azure answers both with one 401. Azure
/// takes `api-key: <key>` or `Authorization: Bearer <key>`.
pub(crate) fn authorize(
    key: Option<&str>,
    front: Front,
    headers: &HeaderMap,
) -> Result<(), Box<Response>> {
    let Some(key) = key else {
        return Ok(());
    };
    let header = |name: &str| headers.get(name).and_then(|value| value.to_str().ok());
    let bearer = header("authorization")
        .and_then(|value| value.strip_prefix("Bearer "))
        .map(str::trim)
        .filter(|given| !given.is_empty());
    let given = match front {
        Front::Azure => header("api-key").or(bearer),
        Front::OpenAi => bearer,
    };
    if given == Some(key) {
        return Ok(());
    }
    Err(Box::new(match (front, given) {
        (Front::Azure, _) => azure_error(StatusCode::UNAUTHORIZED, "401", AZURE_DENIED),
        (Front::OpenAi, None) => error(
            StatusCode::UNAUTHORIZED,
            OPENAI_MISSING_KEY,
            "invalid_request_error",
            None,
        ),
        (Front::OpenAi, Some(given)) => error(
            StatusCode::UNAUTHORIZED,
            &format!(
                "Incorrect API key provided: {}. You can find your API key at https://platform.openai.com/account/api-keys.",
                mask(given)
            ),
            "invalid_request_error",
            Some("invalid_api_key"),
        ),
    }))
}

/// A key as OpenAI echoes it: its start and its last four characters, the rest starred.
fn mask(key: &str) -> String {
    let chars: Vec<char> = key.chars().collect();
    if chars.len() <= 12 {
        return "*".repeat(chars.len());
    }
    let head: String = chars[..8].iter().collect();
    let tail: String = chars[chars.len() - 4..].iter().collect();
    format!("{head}{}{tail}", "*".repeat(chars.len() - 12))
}

/// Unknown paths. OpenAI's wording, plus what this server does serve, so a client pointed
/// at `/v1/responses` or `/v1/embeddings` learns why; Azure's gateway answer under `/openai/`.
pub(crate) async fn fallback(method: Method, uri: Uri) -> Response {
    let path = uri.path();
    if Front::of(path) == Front::Azure {
        return azure_error(StatusCode::NOT_FOUND, "404", "Resource not found");
    }
    error(
        StatusCode::NOT_FOUND,
        &format!(
            "Invalid URL ({method} {path}): this server supports only /v1/files, /v1/batches and /v1/chat/completions (OpenAI), /openai/… (Azure OpenAI), /v1/messages/batches and /v1/messages (Anthropic) and /v1/batch/jobs (Mistral)."
        ),
        "invalid_request_error",
        None,
    )
}

/// Rewrite any 4xx that is not JSON (axum's extractor rejections, its empty 405) into the
/// envelope, keeping the status and the rejection's text as the message.
pub(crate) async fn envelope(
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let method = request.method().clone();
    let path = request.uri().path().to_string();
    let response = next.run(request).await;
    let status = response.status();
    let is_json = response
        .headers()
        .get("content-type")
        .and_then(|value| value.to_str().ok())
        .is_some_and(|value| value.starts_with("application/json"));
    if !status.is_client_error() || is_json {
        return response;
    }
    let text = axum::body::to_bytes(response.into_body(), 64 * 1024)
        .await
        .map(|bytes| String::from_utf8_lossy(&bytes).trim().to_string())
        .unwrap_or_default();
    if status == StatusCode::METHOD_NOT_ALLOWED {
        return error(
            status,
            &format!("Invalid method for URL ({method} {path})"),
            "invalid_request_error",
            None,
        );
    }
    let param = query_param_at_fault(&text);
    let message = if text.is_empty() {
        status
            .canonical_reason()
            .unwrap_or("bad request")
            .to_string()
    } else {
        text
    };
    error_with_param(
        status,
        &message,
        "invalid_request_error",
        param.as_deref(),
        None,
    )
}

/// The field a query rejection names ("Failed to deserialize query string: limit: …").
fn query_param_at_fault(text: &str) -> Option<String> {
    let rest = text.strip_prefix("Failed to deserialize query string: ")?;
    let (field, _) = rest.split_once(": ")?;
    (!field.is_empty() && field.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'))
        .then(|| field.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masks_keys_like_openai() {
        assert_eq!(
            mask("sk-proj-abcdefghijklmnopMxYA"),
            "sk-proj-****************MxYA"
        );
        assert_eq!(mask("short"), "*****");
    }

    #[test]
    fn finds_the_query_field_at_fault() {
        assert_eq!(
            query_param_at_fault(
                "Failed to deserialize query string: limit: invalid digit found in string"
            )
            .as_deref(),
            Some("limit")
        );
        assert_eq!(query_param_at_fault("something else"), None);
    }
}
