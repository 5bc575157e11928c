//! Turning failed HTTP exchanges into [`ProviderError`]s, with secrets removed.

use crate::ProviderError;

/// A network error with its causes, on one line.
pub(crate) fn describe(error: &reqwest::Error) -> String {
    // reqwest errors name the URL (a password in it is masked by the caller's redaction),
    // never headers.
    let mut text = error.to_string();
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

/// The error for an HTTP error answer. The body is redacted before it is cut to length, so
/// a cut can never leave part of a key that the redaction would no longer recognise.
pub(crate) fn api_error(
    operation: &str,
    status: u16,
    body: &str,
    secrets: &crate::Secrets,
) -> ProviderError {
    let text = secrets.redact(body);
    let text = text.as_str();
    // OpenAI and Azure: `{"error": {"message", "code"}}`; Anthropic: `{"type": "error",
    // "error": {"type", "message"}}` (its error type stands for the code).
    let parsed: Option<serde_json::Value> = serde_json::from_str(text).ok();
    let error = parsed.as_ref().and_then(|body| body.get("error"));
    let field = |name: &str| {
        error
            .and_then(|error| error.get(name))
            .and_then(|value| match value {
                serde_json::Value::String(text) => Some(text.clone()),
                serde_json::Value::Number(number) => Some(number.to_string()),
                _ => None,
            })
    };
    let (message, code) = match field("message") {
        Some(message) => {
            let anthropic = parsed.as_ref().is_some_and(|body| {
                body.get("type").and_then(|kind| kind.as_str()) == Some("error")
            });
            let code = field("code").or_else(|| anthropic.then(|| field("type")).flatten());
            (message, code)
        }
        None => (text.chars().take(300).collect(), None),
    };
    ProviderError::Api {
        operation: operation.into(),
        status,
        message,
        code,
    }
}
