//! Fault injection, switched on by `batchlabel serve` flags so tests can drive the runner
//! through every recovery path over the real protocol. Each fault fires on every Nth event
//! of its kind (API call, created batch or processed line), counted from server start, so a
//! run is reproducible.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// Answer every `every`-th API call with `status` (and a short `retry-after`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HttpFault {
    /// E.g. 429 or 500.
    pub status: u16,
    /// Period in API calls.
    pub every: u64,
}

/// What happens to an unlucky batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BatchFate {
    /// Meets a full enqueued-token queue: OpenAI and Azure fail it in validation with
    /// `token_limit_exceeded`; Anthropic, Gemini and Mistral refuse its create with a 429.
    Failed,
    /// Expires half way: the rest of its lines get `batch_expired`.
    Expired,
    /// Is cancelled half way (as if by someone else): the rest get `batch_cancelled`.
    Cancelled,
}

/// Which faults to inject.
#[derive(Debug, Default)]
pub struct Faults {
    /// HTTP errors on API calls.
    pub http: Vec<HttpFault>,
    /// Drop the connection (after acting) on every Nth API call.
    pub drop_every: Option<u64>,
    /// Delay every batch retrieve by this much.
    pub slow_poll: Duration,
    /// Every Nth created batch meets this fate.
    pub batch_fates: Vec<(BatchFate, u64)>,
    /// Write every Nth output line as malformed JSON.
    pub malformed_every: Option<u64>,
    /// Leave every Nth line out of both output files.
    pub missing_every: Option<u64>,
    /// Answer every Nth line with an HTTP 500 inside the batch (it goes to the error file).
    pub line_error_every: Option<u64>,
    api_calls: AtomicU64,
    batches: AtomicU64,
    lines: AtomicU64,
}

impl Clone for Faults {
    fn clone(&self) -> Self {
        Self {
            http: self.http.clone(),
            drop_every: self.drop_every,
            slow_poll: self.slow_poll,
            batch_fates: self.batch_fates.clone(),
            malformed_every: self.malformed_every,
            missing_every: self.missing_every,
            line_error_every: self.line_error_every,
            api_calls: AtomicU64::new(0),
            batches: AtomicU64::new(0),
            lines: AtomicU64::new(0),
        }
    }
}

/// What to do with one API call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum CallFault {
    None,
    Status(u16),
    Drop,
}

/// What to do with one processed line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum LineFault {
    None,
    Malformed,
    Missing,
    ServerError,
}

fn fires(count: u64, every: Option<u64>) -> bool {
    every.is_some_and(|every| every > 0 && count.is_multiple_of(every))
}

impl Faults {
    pub(crate) fn next_call(&self) -> CallFault {
        let count = self.api_calls.fetch_add(1, Ordering::Relaxed) + 1;
        if let Some(fault) = self
            .http
            .iter()
            .find(|fault| fires(count, Some(fault.every)))
        {
            return CallFault::Status(fault.status);
        }
        if fires(count, self.drop_every) {
            return CallFault::Drop;
        }
        CallFault::None
    }

    pub(crate) fn next_batch(&self) -> Option<BatchFate> {
        let count = self.batches.fetch_add(1, Ordering::Relaxed) + 1;
        self.batch_fates
            .iter()
            .find(|(_, every)| fires(count, Some(*every)))
            .map(|(fate, _)| *fate)
    }

    pub(crate) fn next_line(&self) -> LineFault {
        let count = self.lines.fetch_add(1, Ordering::Relaxed) + 1;
        if fires(count, self.malformed_every) {
            LineFault::Malformed
        } else if fires(count, self.missing_every) {
            LineFault::Missing
        } else if fires(count, self.line_error_every) {
            LineFault::ServerError
        } else {
            LineFault::None
        }
    }
}
