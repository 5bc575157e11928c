//! What the [`FakeProvider`](crate::FakeProvider) does: the fate of each batch, each request
//! line and each call, and the views a test's predicates and assertions see.

use batchlabel_providers::{BatchState, METADATA_SHARD, Tags};

/// What happens to a batch once its polls are done (see
/// [`FakeProvider::polls_to_finish`](crate::FakeProvider::polls_to_finish)).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BatchFate {
    /// Every line is answered (each by its [`LineFate`]).
    Complete,
    /// Fails as a whole: no line runs. `queue_full` marks OpenAI's `token_limit_exceeded`.
    Fail {
        /// The provider refused it because its queue was full.
        queue_full: bool,
    },
    /// Its window ends: the first `answered` lines are answered, the rest get
    /// `batch_expired` in the error file.
    Expire {
        /// Lines answered before it expired.
        answered: usize,
    },
    /// Cancelled by someone else: the first `answered` lines are answered, the rest get
    /// `batch_cancelled`.
    Cancel {
        /// Lines answered before it was cancelled.
        answered: usize,
    },
}

/// What the provider answers for one request line of a batch that runs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LineFate {
    /// A valid answer built from the request's strict schema (the default).
    Answer,
    /// An answer whose message content is exactly this text (need not be JSON).
    Content(String),
    /// A result line cut in half: not JSON at all (the runner counts its request missing).
    Malformed,
    /// No result line for the request in either file.
    Missing,
    /// An HTTP error inside the batch (in the error file), e.g. 500 (retryable) or 400.
    HttpError(u16),
    /// The model refuses, with this text.
    Refusal(String),
    /// A schema-valid answer cut off by the token limit (`finish_reason: length`).
    Truncated,
}

/// A provider call, for counting and for faults.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Call {
    /// `stage_input`.
    Stage,
    /// `find_staged_input`.
    FindStaged,
    /// `create`.
    Create,
    /// `find_batches`.
    FindBatches,
    /// `poll`.
    Poll,
    /// `cancel`.
    Cancel,
    /// `fetch_results`.
    Fetch,
    /// `delete_input`.
    Delete,
    /// `delete_results`.
    DeleteResults,
    /// `answer_now`.
    AnswerNow,
}

/// What goes wrong with one call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// The call takes effect, then its answer is lost: it returns
    /// [`ProviderError::Ambiguous`](batchlabel_providers::ProviderError::Ambiguous).
    AnswerLost,
    /// The request is lost before it arrives: no effect, and it returns
    /// [`ProviderError::Ambiguous`](batchlabel_providers::ProviderError::Ambiguous) too.
    RequestLost,
    /// The provider refuses the call: no effect, and it returns
    /// [`ProviderError::Api`](batchlabel_providers::ProviderError::Api) with this status.
    Api(u16),
}

/// How many times each call was made (faulted calls included).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CallCounts {
    /// `stage_input`.
    pub stages: u64,
    /// `find_staged_input`.
    pub finds_staged: u64,
    /// `create`.
    pub creates: u64,
    /// `find_batches`.
    pub finds_batches: u64,
    /// `poll`.
    pub polls: u64,
    /// `cancel`.
    pub cancels: u64,
    /// `fetch_results`.
    pub fetches: u64,
    /// `delete_input`.
    pub deletes: u64,
    /// `delete_results`.
    pub result_deletes: u64,
    /// `answer_now`.
    pub answers_now: u64,
}

impl CallCounts {
    pub(crate) fn count(&mut self, call: Call) {
        let slot = match call {
            Call::Stage => &mut self.stages,
            Call::FindStaged => &mut self.finds_staged,
            Call::Create => &mut self.creates,
            Call::FindBatches => &mut self.finds_batches,
            Call::Poll => &mut self.polls,
            Call::Cancel => &mut self.cancels,
            Call::Fetch => &mut self.fetches,
            Call::Delete => &mut self.deletes,
            Call::DeleteResults => &mut self.result_deletes,
            Call::AnswerNow => &mut self.answers_now,
        };
        *slot += 1;
    }
}

/// A batch being created, as a batch-fate predicate sees it.
#[derive(Debug, Clone, Copy)]
pub struct NewBatch<'a> {
    /// 1 for the first batch this fake created, 2 for the next…
    pub number: usize,
    /// The tags it was created with.
    pub tags: &'a Tags,
    /// The name its input was staged under.
    pub input_name: &'a str,
    /// Its request lines.
    pub lines: usize,
}

impl NewBatch<'_> {
    /// Its batchlabel shard tag (`METADATA_SHARD`, e.g. `a1-00002-s1`: attempt 1, shard 2,
    /// first submission), if it has one.
    pub fn shard(&self) -> Option<&str> {
        self.tags.get(METADATA_SHARD).map(String::as_str)
    }
}

/// A request line being answered, as a line-fate predicate sees it.
#[derive(Debug, Clone, Copy)]
pub struct LineView<'a> {
    /// Its custom_id.
    pub custom_id: &'a str,
    /// Its place in the batch (0-based).
    pub index: usize,
    /// The number of its batch (see [`NewBatch::number`]).
    pub batch: usize,
    /// Its batch's tags.
    pub tags: &'a Tags,
}

impl LineView<'_> {
    /// Its batch's shard tag (see [`NewBatch::shard`]).
    pub fn shard(&self) -> Option<&str> {
        self.tags.get(METADATA_SHARD).map(String::as_str)
    }

    /// The attempt of its batch, read from the shard tag (`aN-…`).
    pub fn attempt(&self) -> Option<u32> {
        let tag = self.shard()?.strip_prefix('a')?;
        tag.split('-').next()?.parse().ok()
    }
}

/// A batch the fake holds, for a test to inspect.
#[derive(Debug, Clone, PartialEq)]
pub struct HeldBatch {
    /// Its id.
    pub id: String,
    /// Its number in creation order (1-based).
    pub number: usize,
    /// The staged input it reads.
    pub input_id: String,
    /// The tags it was created with.
    pub tags: Tags,
    /// Where it is.
    pub state: BatchState,
    /// The fate it was given at creation.
    pub fate: BatchFate,
    /// The custom_ids of its request lines, in order.
    pub custom_ids: Vec<String>,
    /// Its request lines, as staged.
    pub requests: Vec<String>,
}

impl HeldBatch {
    /// Its shard tag (see [`NewBatch::shard`]).
    pub fn shard(&self) -> Option<&str> {
        self.tags.get(METADATA_SHARD).map(String::as_str)
    }
}

/// An input the fake holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeldInput {
    /// Its id.
    pub id: String,
    /// The name it was staged under.
    pub name: String,
    /// Its size in bytes.
    pub bytes: u64,
    /// Its lines, without their newlines.
    pub lines: Vec<String>,
    /// Whether it was deleted.
    pub deleted: bool,
}
