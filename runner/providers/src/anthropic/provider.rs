//! [`BatchProvider`] for Message Batches. A shard is staged locally (there is no upload: the
//! staged input is the shard file itself) and sent inline at create. Batches carry no tags,
//! so after a lost create answer the batch is found by looking: the batches created since
//! the intent, not already recorded, with the shard's request count; one that has ended must
//! also hold exactly the shard's custom_ids. More than one candidate left is reported, never
//! guessed (see [`Found::Several`]).

use std::collections::HashSet;
use std::path::Path;
use std::sync::Arc;

use super::AnthropicClient;
use super::types::MessageBatch;
use crate::codec::Codec;
use crate::{
    BatchIdentity, BatchProvider, BatchState, BoxFuture, Found, LineResult, LostCreate,
    ProviderError, RemoteBatch, RequestCounts, ResultFiles, ResultKind, StagedInput, Tags,
};

/// Slack for clock skew between this machine and the provider when the API does not say its
/// time: a batch created this long before the intent could still be the create's.
const CLOCK_SLACK_SECONDS: i64 = 300;

/// Slack when the API's `Date` header gave its clock: the header's one-second resolution and
/// the time the answer took.
const DATED_SLACK_SECONDS: i64 = 3;

/// The neutral form of a message batch.
fn remote(batch: MessageBatch) -> RemoteBatch {
    let counts = batch.request_counts;
    let state = match batch.processing_status.as_str() {
        "ended" if batch.cancel_initiated_at.is_some() => BatchState::Cancelled,
        "ended" => BatchState::Completed,
        "canceling" => BatchState::Cancelling,
        _ => BatchState::InProgress,
    };
    let results = batch
        .results_url
        .iter()
        .map(|url| (ResultKind::Answers, url.clone()))
        .collect();
    RemoteBatch {
        state,
        input_id: None,
        created_at: batchlabel_protocol::unix_seconds(&batch.created_at).unwrap_or(0),
        tags: Tags::new(),
        counts: RequestCounts {
            total: counts.total(),
            completed: counts.succeeded,
            failed: counts.errored + counts.canceled + counts.expired,
        },
        failure: None,
        results,
        id: batch.id,
    }
}

/// The custom_ids of a file of request or result lines.
fn custom_ids(codec: &dyn Codec, path: &Path) -> Result<HashSet<String>, ProviderError> {
    let text = std::fs::read(path).map_err(|source| ProviderError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    Ok(text
        .split(|byte| *byte == b'\n')
        .filter(|line| !line.is_empty())
        .filter_map(|line| codec.request_custom_id(line))
        .collect())
}

impl AnthropicClient {
    /// Batches created since `since` (this machine's clock; newest first), stopping at the
    /// first older one. The API's `Date` header puts `since` on the API's clock, so the window
    /// holds a few seconds of slack instead of minutes: a batch another job made just before
    /// the intent is not a candidate.
    async fn created_since(&self, since: i64) -> Result<Vec<RemoteBatch>, ProviderError> {
        let mut found = Vec::new();
        let mut after: Option<String> = None;
        let mut start: Option<i64> = None;
        loop {
            let (page, skew) = self.list(after.as_deref()).await?;
            let start = *start.get_or_insert(match skew {
                Some(skew) => since + skew - DATED_SLACK_SECONDS,
                None => since - CLOCK_SLACK_SECONDS,
            });
            let mut older = false;
            for batch in page.data.into_iter().map(remote) {
                if batch.created_at >= start {
                    found.push(batch);
                } else {
                    older = true;
                }
            }
            // A server repeating its cursor would loop forever: stop there too.
            if older || !page.has_more || page.last_id.is_none() || page.last_id == after {
                return Ok(found);
            }
            after = page.last_id;
        }
    }

    /// Whether an ended candidate's results are exactly the shard's requests.
    async fn holds_shard(
        &self,
        batch: &RemoteBatch,
        shard: &Path,
        wanted: &HashSet<String>,
    ) -> Result<bool, ProviderError> {
        let probe = shard.with_extension(format!("probe-{}.jsonl", batch.id));
        let url = batch.results.first().map(|(_, url)| url.as_str());
        self.download_results(&batch.id, url, &probe).await?;
        let got = custom_ids(&self.codec, &probe);
        let _ = std::fs::remove_file(&probe);
        let got = got?;
        // A line lost in transit leaves a subset; any id the shard lacks rules it out.
        Ok(!got.is_empty() && got.is_subset(wanted))
    }

    /// Look for the batch a lost create made. Creates and lookups of this client take turns
    /// (one lock), and every batch it created is remembered: a sibling shard's batch, created
    /// while this one looks, is never taken for this shard's.
    async fn find_lost(&self, lost: &LostCreate<'_>) -> Result<Found, ProviderError> {
        let created = self.created.lock().await;
        let candidates: Vec<RemoteBatch> = self
            .created_since(lost.since)
            .await?
            .into_iter()
            .filter(|batch| {
                !lost.known.contains(&batch.id)
                    && !created.contains(&batch.id)
                    && batch.counts.total == lost.requests
            })
            .collect();
        if candidates.is_empty() {
            return Ok(Found::Nothing);
        }
        let wanted = custom_ids(&self.codec, lost.shard)?;
        let mut running = Vec::new();
        let mut matching = Vec::new();
        for batch in candidates {
            if !batch.state.is_terminal() {
                running.push(batch);
            } else if self.holds_shard(&batch, lost.shard, &wanted).await? {
                matching.push(batch);
            }
        }
        // Custom_ids carry the spec's fingerprint: only a batch of these very requests
        // matches. Two that match cannot be told apart.
        Ok(match (matching.len(), running.is_empty()) {
            (1, _) => Found::Batch(matching.remove(0)),
            (0, true) => Found::Nothing,
            (0, false) => Found::Waiting(running),
            _ => Found::Several(matching),
        })
    }

    async fn create_remote(&self, input: &StagedInput) -> Result<RemoteBatch, ProviderError> {
        let mut created = self.created.lock().await;
        let batch = self
            .create_batch(Path::new(&input.id))
            .await
            .map_err(ProviderError::queue_full_at_create)?;
        created.insert(batch.id.clone());
        Ok(remote(batch))
    }

    async fn fetch(
        &self,
        batch: &RemoteBatch,
        directory: &Path,
    ) -> Result<ResultFiles, ProviderError> {
        let destination = directory.join(format!("{}-output.jsonl", batch.id));
        let url = batch.results.first().map(|(_, url)| url.as_str());
        self.download_results(&batch.id, url, &destination).await?;
        Ok(ResultFiles {
            output: Some(destination),
            errors: None,
        })
    }

    async fn answer(&self, line: &str) -> Result<LineResult, ProviderError> {
        let params = self
            .codec
            .request_body(line)
            .map_err(|message| ProviderError::Protocol {
                operation: "message".into(),
                message,
            })?;
        crate::error::answered_now(self.message(&params).await, &self.codec)
    }
}

impl BatchProvider for AnthropicClient {
    fn describe(&self) -> String {
        self.transport.display_url().to_string()
    }

    fn codec(&self) -> Arc<dyn Codec> {
        Arc::new(self.codec)
    }

    fn identity(&self) -> BatchIdentity {
        BatchIdentity::Untagged
    }

    fn stage_input<'a>(
        &'a self,
        path: &'a Path,
        _name: &'a str,
    ) -> BoxFuture<'a, Result<StagedInput, ProviderError>> {
        Box::pin(async move {
            let bytes = std::fs::metadata(path)
                .map_err(|source| ProviderError::Io {
                    path: path.to_path_buf(),
                    source,
                })?
                .len();
            Ok(StagedInput {
                id: path.to_string_lossy().into_owned(),
                bytes: Some(bytes),
            })
        })
    }

    fn find_staged_input<'a>(
        &'a self,
        _name: &'a str,
    ) -> BoxFuture<'a, Result<Option<StagedInput>, ProviderError>> {
        // Nothing is staged remotely: staging again is free and has no effect.
        Box::pin(async { Ok(None) })
    }

    fn create<'a>(
        &'a self,
        input: &'a StagedInput,
        _tags: &'a Tags,
    ) -> BoxFuture<'a, Result<RemoteBatch, ProviderError>> {
        Box::pin(self.create_remote(input))
    }

    fn find_batches<'a>(
        &'a self,
        _tags: &'a Tags,
        _since: i64,
    ) -> BoxFuture<'a, Result<Vec<RemoteBatch>, ProviderError>> {
        // Message batches carry no tags: none can be told to be this job's by its tags.
        Box::pin(async { Ok(Vec::new()) })
    }

    fn find_created<'a>(
        &'a self,
        lost: &'a LostCreate<'a>,
    ) -> BoxFuture<'a, Result<Found, ProviderError>> {
        Box::pin(self.find_lost(lost))
    }

    fn poll<'a>(&'a self, batch_id: &'a str) -> BoxFuture<'a, Result<RemoteBatch, ProviderError>> {
        Box::pin(async move { Ok(remote(self.retrieve(batch_id).await?)) })
    }

    fn cancel<'a>(
        &'a self,
        batch_id: &'a str,
    ) -> BoxFuture<'a, Result<RemoteBatch, ProviderError>> {
        Box::pin(async move { Ok(remote(AnthropicClient::cancel(self, batch_id).await?)) })
    }

    fn fetch_results<'a>(
        &'a self,
        batch: &'a RemoteBatch,
        directory: &'a Path,
    ) -> BoxFuture<'a, Result<ResultFiles, ProviderError>> {
        Box::pin(self.fetch(batch, directory))
    }

    fn delete_input<'a>(&'a self, _input_id: &'a str) -> BoxFuture<'a, Result<(), ProviderError>> {
        // The staged input is the local shard file, which the runner owns.
        Box::pin(async { Ok(()) })
    }

    fn answer_now<'a>(&'a self, line: &'a str) -> BoxFuture<'a, Result<LineResult, ProviderError>> {
        Box::pin(self.answer(line))
    }

    fn retries_made(&self) -> u64 {
        self.transport.retries_made()
    }
}
