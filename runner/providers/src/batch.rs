//! Batches in provider-neutral terms: where a batch is, what it counts, where its results
//! are. Each provider maps its own objects to these.

use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};

/// Key/value tags a batch carries so it can be found again (OpenAI metadata, Anthropic's
/// reconstruction from request ids, Gemini display names…).
pub type Tags = BTreeMap<String, String>;

/// Where a batch is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum BatchState {
    /// Accepted, being checked.
    Validating,
    /// Running.
    InProgress,
    /// Its results are being written.
    Finalizing,
    /// Done: its results can be fetched.
    Completed,
    /// Failed as a whole (see [`RemoteBatch::failure`]).
    Failed,
    /// Its window ended before every request ran; what ran can be fetched.
    Expired,
    /// Being cancelled.
    Cancelling,
    /// Cancelled; what ran can be fetched.
    Cancelled,
}

impl BatchState {
    /// Nothing more will happen to it.
    pub fn is_terminal(self) -> bool {
        matches!(
            self,
            Self::Completed | Self::Failed | Self::Expired | Self::Cancelled
        )
    }

    /// The neutral word for it (stored in the ledger, shown by `status`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Validating => "validating",
            Self::InProgress => "in_progress",
            Self::Finalizing => "finalizing",
            Self::Completed => "completed",
            Self::Failed => "failed",
            Self::Expired => "expired",
            Self::Cancelling => "cancelling",
            Self::Cancelled => "cancelled",
        }
    }
}

/// Requests of a batch by how they went.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RequestCounts {
    /// All of them.
    pub total: u64,
    /// Answered.
    pub completed: u64,
    /// Failed.
    pub failed: u64,
}

/// Why a batch failed as a whole.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BatchFailure {
    /// The provider's reasons, joined (redacted).
    pub note: String,
    /// The provider refused it because the queue (enqueued tokens) was full: sending it again
    /// later may work.
    pub queue_full: bool,
}

/// A batch as the provider reports it.
#[derive(Debug, Clone, PartialEq)]
pub struct RemoteBatch {
    /// The provider's id.
    pub id: String,
    /// Where it is.
    pub state: BatchState,
    /// The staged input it reads, when the provider stages inputs.
    pub input_id: Option<String>,
    /// Unix seconds.
    pub created_at: i64,
    /// Its tags.
    pub tags: Tags,
    /// Progress.
    pub counts: RequestCounts,
    /// Set when it failed as a whole.
    pub failure: Option<BatchFailure>,
    /// The provider's handles of its result files, when ready.
    pub results: Vec<(ResultKind, String)>,
}

/// What a result file holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResultKind {
    /// Answers (and, for some providers, per-request errors too).
    Answers,
    /// Per-request errors only.
    Errors,
}

/// A shard's input as the provider holds it before a batch is created over it (an uploaded
/// file, for providers with uploads).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StagedInput {
    /// The provider's id for it.
    pub id: String,
    /// Its size in bytes, when the provider reports it.
    pub bytes: Option<u64>,
}

/// A finished batch's result files, downloaded.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ResultFiles {
    /// The answers.
    pub output: Option<PathBuf>,
    /// Per-request errors.
    pub errors: Option<PathBuf>,
}

/// How the runner should pace a provider: local models answer in seconds, hosted batch APIs
/// in minutes to hours.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Tuning {
    /// First wait between polls, in seconds.
    pub poll_seconds: f64,
    /// Longest wait between polls, in seconds.
    pub max_poll_seconds: f64,
    /// Shards submitted at once, when the provider needs a fixed number (a local model runs
    /// one batch at a time: submitting in order keeps it deterministic).
    pub concurrency: Option<usize>,
}

impl Default for Tuning {
    fn default() -> Self {
        Self {
            poll_seconds: 5.0,
            max_poll_seconds: 60.0,
            concurrency: None,
        }
    }
}

/// How a provider's batches are found again after a crash or a lost answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BatchIdentity {
    /// Inputs are uploaded under a name and batches carry tags (OpenAI, Azure): both are found
    /// by lookup, whatever the ledger knows.
    Tagged,
    /// No uploads, no tags (Anthropic): a lost create is found by listing the batches created
    /// since and matching the request count and, once ended, the custom_ids; batches sent by
    /// a lost ledger cannot be found.
    Untagged,
}

/// What is known of a create whose answer was lost, to find the batch it may have made.
#[derive(Debug, Clone, Copy)]
pub struct LostCreate<'a> {
    /// The tags it was created with (run and shard).
    pub tags: &'a Tags,
    /// The staged input it was created over.
    pub input: &'a StagedInput,
    /// When the create was about to be sent (Unix seconds).
    pub since: i64,
    /// The shard file it carried.
    pub shard: &'a Path,
    /// Its number of requests.
    pub requests: u64,
    /// Batches already recorded for other shards: never this one's.
    pub known: &'a HashSet<String>,
}

/// What looking for a lost create found.
#[derive(Debug, Clone)]
pub enum Found {
    /// No batch: the create did not take effect, so creating again is safe.
    Nothing,
    /// The batch it made.
    Batch(RemoteBatch),
    /// Batches still running could be it, and only their results can tell: send nothing for
    /// the shard and look again later (once they end).
    Waiting(Vec<RemoteBatch>),
    /// Several batches are it by every sign looking can read: creating again could pay twice,
    /// and adopting one could take another's, so the caller stops and names them.
    Several(Vec<RemoteBatch>),
}
