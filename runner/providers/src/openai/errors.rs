//! Turning failed HTTP exchanges into [`ProviderError`]s, with secrets removed.

use crate::ProviderError;

/// A network error with its causes, on one line.
pub(super) fn describe(error: &reqwest::Error) -> String {
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
pub(super) fn api_error(
    operation: &str,
    status: u16,
    body: &str,
    secrets: &crate::Secrets,
) -> ProviderError {
    let text = secrets.redact(body);
    let text = text.as_str();
    let parsed: Option<batchlabel_protocol::ErrorBody> = serde_json::from_str(text).ok();
    let (message, code) = match parsed {
        Some(body) => (body.error.message, body.error.code),
        None => (text.chars().take(300).collect(), None),
    };
    ProviderError::Api {
        operation: operation.into(),
        status,
        message,
        code,
    }
}
