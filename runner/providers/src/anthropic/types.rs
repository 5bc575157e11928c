//! The Message Batches objects batchlabel reads (the shapes of the official SDK's
//! `MessageBatch`, `MessageBatchRequestCounts` and list page).

use serde::Deserialize;

/// A batch (`type: "message_batch"`).
#[derive(Debug, Clone, Deserialize)]
pub(crate) struct MessageBatch {
    pub(crate) id: String,
    /// `in_progress` | `canceling` | `ended`.
    pub(crate) processing_status: String,
    pub(crate) request_counts: BatchCounts,
    /// RFC 3339.
    pub(crate) created_at: String,
    /// Set once it ended.
    #[serde(default)]
    pub(crate) results_url: Option<String>,
    /// Set when a cancel was asked for.
    #[serde(default)]
    pub(crate) cancel_initiated_at: Option<String>,
}

/// Requests by outcome; only `processing` moves before the batch ends.
#[derive(Debug, Clone, Copy, Default, Deserialize)]
pub(crate) struct BatchCounts {
    #[serde(default)]
    pub(crate) processing: u64,
    #[serde(default)]
    pub(crate) succeeded: u64,
    #[serde(default)]
    pub(crate) errored: u64,
    #[serde(default)]
    pub(crate) canceled: u64,
    #[serde(default)]
    pub(crate) expired: u64,
}

impl BatchCounts {
    pub(crate) fn total(&self) -> u64 {
        self.processing + self.succeeded + self.errored + self.canceled + self.expired
    }
}

/// One page of `GET /v1/messages/batches`, newest first.
#[derive(Debug, Deserialize)]
pub(crate) struct BatchPage {
    pub(crate) data: Vec<MessageBatch>,
    #[serde(default)]
    pub(crate) has_more: bool,
    #[serde(default)]
    pub(crate) last_id: Option<String>,
}
