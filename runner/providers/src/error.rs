//! Why a provider call failed, with every outside text redacted.

use std::path::PathBuf;

use crate::Secrets;

/// Why a provider call failed (after its retries). Every text field is redacted (see
/// [`ProviderError::redacted`]) before it leaves the client: it may echo the provider.
#[derive(Debug, thiserror::Error)]
pub enum ProviderError {
    /// The API answered an error that retrying will not fix.
    #[error("{operation}: HTTP {status}{}: {message}", code.as_deref().map(|code| format!(" ({code})")).unwrap_or_default())]
    Api {
        /// What was being done.
        operation: String,
        /// HTTP status.
        status: u16,
        /// The API's message.
        message: String,
        /// The API's error code.
        code: Option<String>,
    },
    /// The request may or may not have taken effect (the answer was lost): look before
    /// trying again.
    #[error("{operation}: no answer ({message}); it may have taken effect")]
    Ambiguous {
        /// What was being done.
        operation: String,
        /// What went wrong.
        message: String,
    },
    /// The provider refused new work because its queue (enqueued tokens or requests) is
    /// full, even after waiting as it asked: nothing was created; try again later.
    #[error("{operation}: the provider's queue is full: {message}")]
    QueueFull {
        /// What was being done.
        operation: String,
        /// The provider's message.
        message: String,
    },
    /// The server could not be reached, even after retries.
    #[error("{operation}: cannot reach {base_url}: {message}")]
    Unreachable {
        /// What was being done.
        operation: String,
        /// The API base URL.
        base_url: String,
        /// What went wrong.
        message: String,
    },
    /// The answer was not what the protocol says.
    #[error("{operation}: unexpected answer: {message}")]
    Protocol {
        /// What was being done.
        operation: String,
        /// What was wrong.
        message: String,
    },
    /// A local file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
}

impl ProviderError {
    /// A create refused with 429 (after waiting as long as the API asked) is a full batch
    /// queue, as Anthropic, Gemini (`RESOURCE_EXHAUSTED`) and Mistral report it: the shard
    /// waits for running batches instead of failing its rows.
    #[must_use]
    pub(crate) fn queue_full_at_create(self) -> Self {
        match self {
            Self::Api {
                status: 429,
                message,
                operation,
                ..
            } => Self::QueueFull { operation, message },
            other => other,
        }
    }

    /// The same error with secrets removed from every text that came from outside.
    #[must_use]
    pub fn redacted(self, secrets: &Secrets) -> Self {
        let clean = |text: String| secrets.redact(&text);
        match self {
            Self::Api {
                operation,
                status,
                message,
                code,
            } => Self::Api {
                operation,
                status,
                message: clean(message),
                code: code.map(clean),
            },
            Self::Ambiguous { operation, message } => Self::Ambiguous {
                operation,
                message: clean(message),
            },
            Self::QueueFull { operation, message } => Self::QueueFull {
                operation,
                message: clean(message),
            },
            Self::Unreachable {
                operation,
                base_url,
                message,
            } => Self::Unreachable {
                operation,
                base_url: clean(base_url),
                message: clean(message),
            },
            Self::Protocol { operation, message } => Self::Protocol {
                operation,
                message: clean(message),
            },
            Self::Io { path, source } => Self::Io { path, source },
        }
    }
}

/// A synchronous answer as a pilot sees it: the body decoded by `codec`; an API error is that
/// one request rejected (with its code); any other error stays one.
pub(crate) fn answered_now(
    answer: Result<serde_json::Value, ProviderError>,
    codec: &dyn crate::Codec,
) -> Result<crate::LineResult, ProviderError> {
    match answer {
        Ok(answer) => Ok(codec.decode_answer(200, &answer.to_string())),
        Err(ProviderError::Api {
            status,
            message,
            code,
            ..
        }) => Ok(crate::LineResult::Rejected {
            status,
            message: format!(
                "{message}{}",
                code.map(|code| format!(" ({code})")).unwrap_or_default()
            ),
        }),
        Err(error) => Err(error),
    }
}
