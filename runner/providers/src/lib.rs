//! batchlabel-providers: the provider axis. An object-safe [`BatchProvider`] over
//! provider-neutral types (stage a shard's input, create a batch under tags that find it again
//! after a crash, poll, cancel, fetch results, delete remote inputs, answer one request now
//! for pilots), a [`Codec`] per provider that owns its wire format, and one factory
//! ([`open`]) from the spec's `model` block. One folder per provider: `openai/` (also
//! anything speaking the OpenAI Files + Batches protocol: `batchlabel serve`, vLLM, litellm),
//! `azure/` (OpenAI's protocol under an Azure resource), `anthropic/` (Message Batches),
//! `gemini/` (the Gemini API's batch mode), `mistral/` (Mistral's batch jobs) and `local/`
//! (the embedded model behind an in-process batch service). `http` is the transport
//! the hosted ones share.
//!
//! It owns HTTP, retries and secrets; it does not know about ledgers or rows.

mod anthropic;
pub mod api_key;
mod azure;
mod batch;
mod check;
pub mod codec;
mod error;
mod factory;
pub mod gemini;
mod http;
#[cfg(feature = "local")]
pub mod local;
mod mistral;
mod openai;
mod redact;
mod retry;

use std::future::Future;
use std::path::Path;
use std::pin::Pin;
use std::sync::Arc;

/// Embeds texts for `examples.similarity: embeddings`: one unit vector per text, in order.
/// `local::job_embedder` makes one from the embedded model; compile calls it per row.
pub type TextEmbedder =
    std::sync::Arc<dyn Fn(&[String]) -> Result<Vec<Vec<f32>>, String> + Send + Sync>;

pub use anthropic::{ANTHROPIC_BASE_URL, ANTHROPIC_VERSION, AnthropicClient, AnthropicCodec};
pub use api_key::ApiKey;
pub use azure::azure_client;
pub use batch::{
    BatchFailure, BatchIdentity, BatchState, Found, LostCreate, RemoteBatch, RequestCounts,
    ResultFiles, ResultKind, StagedInput, Tags, Tuning,
};
pub use check::{ProviderProblem, check};
pub use codec::{Codec, Conversation, LineResult, RequestEncoder, RequestShape, ResultLine};
pub use error::ProviderError;
pub use factory::{OpenOptions, codec_for, open, price_for, prices_as_of};
pub use gemini::{GEMINI_BASE_URL, GeminiClient, GeminiCodec};
pub use mistral::{MISTRAL_BASE_URL, MistralClient, MistralCodec};
pub use openai::prices::{BatchPrice, PRICES_AS_OF};
pub use openai::{OpenAiClient, OpenAiCodec, TogetherCodec};
pub use redact::{REDACTED, Secrets, redact, redact_userinfo};
pub use retry::RetryPolicy;

/// Tag keys batchlabel puts on every batch, to find it again after a crash.
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

/// A boxed future: what keeps [`BatchProvider`] object-safe.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// A batch API: everything the lifecycle needs from a provider. Calls that create something
/// (`stage_input`, `create`) report [`ProviderError::Ambiguous`] when their answer was lost,
/// so the caller looks (`find_staged_input`, `find_batches`) before trying again: that is what
/// makes a shard exactly one batch.
pub trait BatchProvider: Send + Sync {
    /// Where requests go, as it may be shown (no secrets).
    fn describe(&self) -> String;

    /// Its wire format.
    fn codec(&self) -> Arc<dyn Codec>;

    /// How its batches are found again.
    fn identity(&self) -> BatchIdentity {
        BatchIdentity::Tagged
    }

    /// How to pace it.
    fn tuning(&self) -> Tuning {
        Tuning::default()
    }

    /// Hand a shard file to the provider under `name` (unique to the run, attempt and shard).
    fn stage_input<'a>(
        &'a self,
        path: &'a Path,
        name: &'a str,
    ) -> BoxFuture<'a, Result<StagedInput, ProviderError>>;

    /// The input staged under `name`, if any (newest first).
    fn find_staged_input<'a>(
        &'a self,
        name: &'a str,
    ) -> BoxFuture<'a, Result<Option<StagedInput>, ProviderError>>;

    /// Create a batch over a staged input, carrying `tags`.
    fn create<'a>(
        &'a self,
        input: &'a StagedInput,
        tags: &'a Tags,
    ) -> BoxFuture<'a, Result<RemoteBatch, ProviderError>>;

    /// Every batch created after `since` (Unix seconds, with slack for clock skew) whose tags
    /// include all of `tags`, newest first. A provider whose batches carry no tags finds none.
    fn find_batches<'a>(
        &'a self,
        tags: &'a Tags,
        since: i64,
    ) -> BoxFuture<'a, Result<Vec<RemoteBatch>, ProviderError>>;

    /// The batch a create whose answer was lost made, if any. By default: the batch with
    /// its tags over its staged input.
    fn find_created<'a>(
        &'a self,
        lost: &'a LostCreate<'a>,
    ) -> BoxFuture<'a, Result<Found, ProviderError>> {
        Box::pin(async move {
            let found = self
                .find_batches(lost.tags, lost.since)
                .await?
                .into_iter()
                .find(|batch| {
                    batch.input_id.as_deref() == Some(lost.input.id.as_str())
                        && !lost.known.contains(&batch.id)
                });
            Ok(found.map_or(Found::Nothing, Found::Batch))
        })
    }

    /// A batch's current state.
    fn poll<'a>(&'a self, batch_id: &'a str) -> BoxFuture<'a, Result<RemoteBatch, ProviderError>>;

    /// Ask to cancel a batch.
    fn cancel<'a>(&'a self, batch_id: &'a str)
    -> BoxFuture<'a, Result<RemoteBatch, ProviderError>>;

    /// Download a finished batch's result files into `directory` (atomically each).
    fn fetch_results<'a>(
        &'a self,
        batch: &'a RemoteBatch,
        directory: &'a Path,
    ) -> BoxFuture<'a, Result<ResultFiles, ProviderError>>;

    /// Delete a staged input that is no longer needed.
    fn delete_input<'a>(&'a self, input_id: &'a str) -> BoxFuture<'a, Result<(), ProviderError>>;

    /// Delete a batch's result files (the handles of [`RemoteBatch::results`]) once their
    /// contents are safely stored, so they stop taking the account's storage; one already
    /// gone counts as deleted. By default there is nothing to delete (results that are not
    /// files the account keeps, e.g. Anthropic's).
    fn delete_results<'a>(
        &'a self,
        handles: &'a [String],
    ) -> BoxFuture<'a, Result<(), ProviderError>> {
        let _ = handles;
        Box::pin(async { Ok(()) })
    }

    /// Send one request line now, synchronously (for pilots); the answer decoded.
    fn answer_now<'a>(&'a self, line: &'a str) -> BoxFuture<'a, Result<LineResult, ProviderError>>;

    /// How many calls were repeated after retryable answers so far.
    fn retries_made(&self) -> u64 {
        0
    }
}
