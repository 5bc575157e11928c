//! What happened to one request in one attempt: labeled with a schema-valid output, or failed
//! for a classified reason. Failures are data: every one is recorded and counted.

use serde::Serialize;

/// Why a request failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, PartialOrd, Ord)]
#[serde(rename_all = "snake_case")]
pub enum FailureReason {
    /// The endpoint answered an HTTP error for this line.
    HttpError,
    /// The model refused (or its content was filtered).
    Refusal,
    /// The answer was cut off by `max_completion_tokens`.
    Truncated,
    /// The content is not JSON.
    InvalidJson,
    /// The JSON does not match the label schema.
    SchemaViolation,
    /// The batch expired before the request ran.
    Expired,
    /// The batch was cancelled before the request ran.
    Cancelled,
    /// The request timed out at the provider.
    Timeout,
    /// The request is in neither the output nor the error file (or its line is unreadable).
    Missing,
    /// The whole batch failed (e.g. the file was rejected).
    BatchFailed,
    /// A plugin rejected the row or the output (asked again with its message).
    PluginRejected,
    /// A plugin crashed, timed out, ran out of memory or answered malformed data.
    PluginError,
}

impl FailureReason {
    /// The name used in the ledger, errors file and summary.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::HttpError => "http_error",
            Self::Refusal => "refusal",
            Self::Truncated => "truncated",
            Self::InvalidJson => "invalid_json",
            Self::SchemaViolation => "schema_violation",
            Self::Expired => "expired",
            Self::Cancelled => "cancelled",
            Self::Timeout => "timeout",
            Self::Missing => "missing",
            Self::BatchFailed => "batch_failed",
            Self::PluginRejected => "plugin_rejected",
            Self::PluginError => "plugin_error",
        }
    }

    /// Parse a ledger name.
    pub fn parse(text: &str) -> Option<Self> {
        Some(match text {
            "http_error" => Self::HttpError,
            "refusal" => Self::Refusal,
            "truncated" => Self::Truncated,
            "invalid_json" => Self::InvalidJson,
            "schema_violation" => Self::SchemaViolation,
            "expired" => Self::Expired,
            "cancelled" => Self::Cancelled,
            "timeout" => Self::Timeout,
            "missing" => Self::Missing,
            "batch_failed" => Self::BatchFailed,
            "plugin_rejected" => Self::PluginRejected,
            "plugin_error" => Self::PluginError,
            _ => return None,
        })
    }

    /// Whether the model should be asked again with the problem as feedback.
    pub fn wants_feedback(self) -> bool {
        matches!(
            self,
            Self::InvalidJson | Self::SchemaViolation | Self::PluginRejected
        )
    }
}

/// One request's result in one attempt.
#[derive(Debug, Clone)]
pub enum Outcome {
    /// Valid labels.
    Labeled {
        /// The labels (JSON).
        output: String,
        /// The model's own answer, when the validators changed it: kept so that a later run
        /// with other validators judges what the model said, not what these made of it.
        answer: Option<String>,
        /// Raw per-label scores (JSON), when the model gave them.
        scores: Option<String>,
        /// The model that answered.
        model_snapshot: Option<String>,
        /// Prompt tokens.
        input_tokens: u64,
        /// Of these, prompt tokens served from the provider's cache (priced lower).
        cached_input_tokens: u64,
        /// Completion tokens.
        output_tokens: u64,
    },
    /// No valid labels.
    Failed {
        /// Why.
        reason: FailureReason,
        /// The detail.
        detail: String,
        /// The content the model gave, for feedback on a retry.
        output: Option<String>,
        /// Whether another attempt may succeed.
        retryable: bool,
        /// Prompt tokens.
        input_tokens: u64,
        /// Of these, prompt tokens served from the provider's cache (priced lower).
        cached_input_tokens: u64,
        /// Completion tokens.
        output_tokens: u64,
    },
}

impl Outcome {
    /// Prompt tokens served from the provider's prompt cache.
    pub fn cached_tokens(&self) -> u64 {
        match self {
            Self::Labeled {
                cached_input_tokens,
                ..
            }
            | Self::Failed {
                cached_input_tokens,
                ..
            } => *cached_input_tokens,
        }
    }

    /// Prompt and completion tokens the provider reported for this answer.
    pub fn tokens(&self) -> (u64, u64) {
        match self {
            Self::Labeled {
                input_tokens,
                output_tokens,
                ..
            }
            | Self::Failed {
                input_tokens,
                output_tokens,
                ..
            } => (*input_tokens, *output_tokens),
        }
    }

    pub fn failed(reason: FailureReason, detail: String) -> Self {
        Self::Failed {
            reason,
            detail,
            output: None,
            retryable: true,
            input_tokens: 0,
            cached_input_tokens: 0,
            output_tokens: 0,
        }
    }
}
