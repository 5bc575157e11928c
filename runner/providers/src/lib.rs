//! batchlabel-providers: the [`BatchProvider`] trait (upload, create, retrieve, cancel,
//! download, and the listings that make submission exactly-once) and its OpenAI
//! implementation, which also talks to anything speaking the OpenAI Files + Batches protocol
//! (`batchlabel serve`, vLLM, litellm, …).
//!
//! It owns HTTP, retries and secrets; it does not know about specs, ledgers or rows.

pub mod api_key;
mod openai;
mod redact;
mod retry;

use std::future::Future;
use std::path::{Path, PathBuf};

use batchlabel_protocol::{Batch, FileObject};

pub use api_key::ApiKey;
pub use openai::OpenAiClient;
pub use redact::{REDACTED, Secrets, redact, redact_userinfo};
pub use retry::RetryPolicy;

/// Metadata keys batchlabel puts on every batch, to find it again after a crash.
pub const METADATA_RUN: &str = "batchlabel_run";
/// See [`METADATA_RUN`].
pub const METADATA_SHARD: &str = "batchlabel_shard";
/// See [`METADATA_RUN`]: the job's name, so a runner that lost its ledger finds its job's
/// batches before it sends anything again.
pub const METADATA_JOB: &str = "batchlabel_job";
/// See [`METADATA_RUN`]: the first 16 hex digits of the spec fingerprint.
pub const METADATA_SPEC: &str = "batchlabel_spec";
/// See [`METADATA_RUN`]: the xxh3-64 (hex) of the shard file, so a batch is only ever taken
/// over for a shard with exactly its requests.
pub const METADATA_CONTENT: &str = "batchlabel_content";

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

/// A batch API: everything the lifecycle needs from a provider.
pub trait BatchProvider: Send + Sync {
    /// Upload a JSONL batch input file under `filename`.
    fn upload(
        &self,
        path: &Path,
        filename: &str,
    ) -> impl Future<Output = Result<FileObject, ProviderError>> + Send;

    /// The uploaded batch input file named `filename`, if any (newest first).
    fn find_upload(
        &self,
        filename: &str,
    ) -> impl Future<Output = Result<Option<FileObject>, ProviderError>> + Send;

    /// Create a batch over an uploaded file, with metadata.
    fn create_batch(
        &self,
        input_file_id: &str,
        metadata: serde_json::Map<String, serde_json::Value>,
    ) -> impl Future<Output = Result<Batch, ProviderError>> + Send;

    /// A batch created after `since` (Unix seconds) whose metadata includes all of `metadata`.
    fn find_batch(
        &self,
        metadata: &serde_json::Map<String, serde_json::Value>,
        since: i64,
    ) -> impl Future<Output = Result<Option<Batch>, ProviderError>> + Send;

    /// Every batch created after `since` (Unix seconds) whose metadata includes all of
    /// `metadata`, newest first.
    fn find_batches(
        &self,
        metadata: &serde_json::Map<String, serde_json::Value>,
        since: i64,
    ) -> impl Future<Output = Result<Vec<Batch>, ProviderError>> + Send;

    /// A batch's current state.
    fn batch(&self, batch_id: &str) -> impl Future<Output = Result<Batch, ProviderError>> + Send;

    /// Ask to cancel a batch.
    fn cancel(&self, batch_id: &str) -> impl Future<Output = Result<Batch, ProviderError>> + Send;

    /// Download a file's content to `destination` (atomically); returns its size.
    fn download(
        &self,
        file_id: &str,
        destination: &Path,
    ) -> impl Future<Output = Result<u64, ProviderError>> + Send;
}
