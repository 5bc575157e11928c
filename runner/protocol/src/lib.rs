//! batchlabel-protocol: the OpenAI Files + Batches wire types (files, batches, input and
//! result lines), shared by
//! the client (`batchlabel-providers`) and the local server (`batchlabel-serve`) so both
//! speak exactly the same shapes.
//!
//! It owns serde types only: no HTTP, no I/O.

use serde::{Deserialize, Serialize};

mod lenient;
pub mod pack;

pub use lenient::unix_seconds;

/// The endpoint every batchlabel request line targets.
pub const CHAT_COMPLETIONS: &str = "/v1/chat/completions";

/// How the user turn that asks again after a rejected answer starts (the runner writes it;
/// `serve`'s scripted engine recognises it to answer the row's own turn again).
pub const FEEDBACK_PREFIX: &str = "Your previous answer was rejected: ";

/// A file object (`object: "file"`).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct FileObject {
    /// `file-…`.
    pub id: String,
    /// Always `file`.
    pub object: String,
    /// Size in bytes.
    pub bytes: u64,
    /// Unix seconds.
    #[serde(deserialize_with = "lenient::time")]
    pub created_at: i64,
    /// The name it was uploaded with.
    pub filename: String,
    /// `batch`, `batch_output`, …
    pub purpose: String,
    /// Deprecated but still sent: `uploaded` | `processed` | `error`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    /// Unix seconds.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "lenient::optional_time"
    )]
    pub expires_at: Option<i64>,
}

/// A page of a list endpoint.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ListPage<T> {
    /// Always `list`.
    pub object: String,
    /// The items.
    pub data: Vec<T>,
    /// Id of the first item.
    #[serde(default)]
    pub first_id: Option<String>,
    /// Id of the last item: the `after` cursor of the next page.
    #[serde(default)]
    pub last_id: Option<String>,
    /// Whether more pages follow.
    #[serde(default)]
    pub has_more: bool,
}

/// A batch's status (read in any spelling Azure uses: see `lenient`).
#[derive(Debug, Clone, Copy, Serialize, PartialEq, Eq, Hash)]
#[serde(rename_all = "snake_case")]
pub enum BatchStatus {
    /// The input file is being checked.
    Validating,
    /// The input file was invalid (see `errors`), or the queue was full.
    Failed,
    /// Requests are running.
    InProgress,
    /// Output files are being written.
    Finalizing,
    /// Done.
    Completed,
    /// Not done within the window; finished work is delivered.
    Expired,
    /// Cancel requested.
    Cancelling,
    /// Cancelled; finished work is delivered.
    Cancelled,
}

impl BatchStatus {
    /// Whether the batch will not change any more.
    pub fn is_terminal(self) -> bool {
        matches!(
            self,
            Self::Failed | Self::Completed | Self::Expired | Self::Cancelled
        )
    }

    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Validating => "validating",
            Self::Failed => "failed",
            Self::InProgress => "in_progress",
            Self::Finalizing => "finalizing",
            Self::Completed => "completed",
            Self::Expired => "expired",
            Self::Cancelling => "cancelling",
            Self::Cancelled => "cancelled",
        }
    }
}

/// `request_counts` of a batch.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct RequestCounts {
    /// Lines in the input file.
    pub total: u64,
    /// Lines that succeeded.
    pub completed: u64,
    /// Lines that errored.
    pub failed: u64,
}

/// One whole-file problem (`errors.data[]`).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct BatchError {
    /// E.g. `duplicate_custom_id`, `token_limit_exceeded`.
    pub code: String,
    /// What is wrong.
    pub message: String,
    /// The parameter at fault, if any.
    #[serde(default)]
    pub param: Option<String>,
    /// The 1-based input line, if any.
    #[serde(default)]
    pub line: Option<u64>,
}

/// `errors` of a batch.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct BatchErrors {
    /// Always `list`.
    pub object: String,
    /// The problems.
    pub data: Vec<BatchError>,
}

/// Token usage of a whole batch. Every field is required by OpenAI's schema (strict clients
/// reject a usage without the two details objects); they default when reading older state.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct BatchUsage {
    /// Prompt tokens.
    pub input_tokens: u64,
    /// Breakdown of the prompt tokens.
    #[serde(default)]
    pub input_tokens_details: InputTokensDetails,
    /// Completion tokens.
    pub output_tokens: u64,
    /// Breakdown of the completion tokens.
    #[serde(default)]
    pub output_tokens_details: OutputTokensDetails,
    /// Both.
    pub total_tokens: u64,
}

/// `usage.input_tokens_details` of a batch.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct InputTokensDetails {
    /// Prompt tokens read from the prompt cache.
    #[serde(default)]
    pub cached_tokens: u64,
}

/// `usage.output_tokens_details` of a batch.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct OutputTokensDetails {
    /// Completion tokens spent on reasoning.
    #[serde(default)]
    pub reasoning_tokens: u64,
}

/// A batch object (`object: "batch"`).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Batch {
    /// `batch_…`.
    pub id: String,
    /// Always `batch` (some compatible hosts leave it out).
    #[serde(default)]
    pub object: String,
    /// E.g. `/v1/chat/completions`.
    #[serde(default)]
    pub endpoint: String,
    /// The input file.
    pub input_file_id: String,
    /// Always `24h` (some compatible hosts leave it out).
    #[serde(default)]
    pub completion_window: String,
    /// Where it is.
    pub status: BatchStatus,
    /// Unix seconds.
    #[serde(deserialize_with = "lenient::time")]
    pub created_at: i64,
    /// The model that served it.
    #[serde(default)]
    pub model: Option<String>,
    /// Whole-file problems.
    #[serde(default)]
    pub errors: Option<BatchErrors>,
    /// Successful lines.
    #[serde(default)]
    pub output_file_id: Option<String>,
    /// Failed lines.
    #[serde(default)]
    pub error_file_id: Option<String>,
    /// Unix seconds.
    #[serde(default, deserialize_with = "lenient::optional_time")]
    pub in_progress_at: Option<i64>,
    /// Unix seconds.
    #[serde(default, deserialize_with = "lenient::optional_time")]
    pub expires_at: Option<i64>,
    /// Unix seconds.
    #[serde(default, deserialize_with = "lenient::optional_time")]
    pub finalizing_at: Option<i64>,
    /// Unix seconds.
    #[serde(default, deserialize_with = "lenient::optional_time")]
    pub completed_at: Option<i64>,
    /// Unix seconds.
    #[serde(default, deserialize_with = "lenient::optional_time")]
    pub failed_at: Option<i64>,
    /// Unix seconds.
    #[serde(default, deserialize_with = "lenient::optional_time")]
    pub expired_at: Option<i64>,
    /// Unix seconds.
    #[serde(default, deserialize_with = "lenient::optional_time")]
    pub cancelling_at: Option<i64>,
    /// Unix seconds.
    #[serde(default, deserialize_with = "lenient::optional_time")]
    pub cancelled_at: Option<i64>,
    /// Progress.
    #[serde(default)]
    pub request_counts: Option<RequestCounts>,
    /// Token usage, once known.
    #[serde(default)]
    pub usage: Option<BatchUsage>,
    /// Caller metadata (≤ 16 pairs).
    #[serde(default)]
    pub metadata: Option<serde_json::Map<String, serde_json::Value>>,
}

/// The body of `POST /v1/batches`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CreateBatch {
    /// A `purpose=batch` file.
    pub input_file_id: String,
    /// The endpoint every line targets.
    pub endpoint: String,
    /// Only `24h`.
    pub completion_window: String,
    /// Up to 16 string pairs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metadata: Option<serde_json::Map<String, serde_json::Value>>,
}

/// An API error body: `{"error": {...}}`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ErrorBody {
    /// The error.
    pub error: ApiError,
}

/// The inside of an API error body.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ApiError {
    /// What happened.
    pub message: String,
    /// E.g. `invalid_request_error`.
    #[serde(rename = "type", default)]
    pub kind: Option<String>,
    /// The parameter at fault.
    #[serde(default)]
    pub param: Option<String>,
    /// E.g. `rate_limit_exceeded`.
    #[serde(default)]
    pub code: Option<String>,
}

/// One line of a batch input file.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct InputLine {
    /// Unique within the file.
    pub custom_id: String,
    /// Only `POST`.
    pub method: String,
    /// Must equal the batch endpoint.
    pub url: String,
    /// The endpoint's request body.
    pub body: serde_json::Value,
}

/// One line of an output or error file.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct OutputLine {
    /// `batch_req_…`.
    pub id: String,
    /// The input line's custom_id.
    pub custom_id: String,
    /// The endpoint's answer (any HTTP status), or null for non-HTTP failures.
    pub response: Option<LineResponse>,
    /// Non-HTTP failure: `batch_expired`, `batch_cancelled`, `request_timeout`.
    pub error: Option<LineError>,
}

/// `response` of an output line.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LineResponse {
    /// HTTP status of the request.
    pub status_code: u16,
    /// `req_…`.
    pub request_id: String,
    /// The endpoint's JSON answer (a chat.completion, or an error body).
    pub body: serde_json::Value,
}

/// `error` of an output line.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LineError {
    /// E.g. `batch_expired`.
    pub code: String,
    /// What happened.
    pub message: String,
}
