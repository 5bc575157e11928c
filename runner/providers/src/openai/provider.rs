//! [`BatchProvider`] for the OpenAI Files + Batches API: a shard's input is an uploaded
//! `purpose=batch` file named after the shard, a batch carries its tags as metadata, and its
//! output and error files are downloaded when it ends.

use std::path::Path;
use std::sync::Arc;

use batchlabel_protocol::{Batch, BatchStatus};

use super::OpenAiClient;
use crate::codec::Codec;
use crate::{
    BatchFailure, BatchProvider, BatchState, BoxFuture, LineResult, ProviderError, RemoteBatch,
    RequestCounts, ResultFiles, ResultKind, StagedInput, Tags,
};

/// The batch error code OpenAI gives a batch refused because the organisation's enqueued
/// tokens are at their limit.
const QUEUE_FULL_CODE: &str = "token_limit_exceeded";

fn state(status: BatchStatus) -> BatchState {
    match status {
        BatchStatus::Validating => BatchState::Validating,
        BatchStatus::InProgress => BatchState::InProgress,
        BatchStatus::Finalizing => BatchState::Finalizing,
        BatchStatus::Completed => BatchState::Completed,
        BatchStatus::Failed => BatchState::Failed,
        BatchStatus::Expired => BatchState::Expired,
        BatchStatus::Cancelling => BatchState::Cancelling,
        BatchStatus::Cancelled => BatchState::Cancelled,
    }
}

fn failure(batch: &Batch) -> Option<BatchFailure> {
    if batch.status != BatchStatus::Failed {
        return None;
    }
    let errors = batch
        .errors
        .as_ref()
        .map(|errors| errors.data.as_slice())
        .unwrap_or_default();
    let note = errors
        .iter()
        .map(|error| match error.line {
            Some(line) => format!("{} (line {line}): {}", error.code, error.message),
            None => format!("{}: {}", error.code, error.message),
        })
        .collect::<Vec<_>>()
        .join("; ");
    let queue_full = errors.iter().any(|error| error.code == QUEUE_FULL_CODE);
    Some(BatchFailure { note, queue_full })
}

/// The neutral form of an OpenAI batch.
pub(crate) fn remote(batch: Batch) -> RemoteBatch {
    let tags = tags_of(batch.metadata.as_ref());
    let counts = batch.request_counts.unwrap_or_default();
    let mut results = Vec::new();
    if let Some(file) = &batch.output_file_id {
        results.push((ResultKind::Answers, file.clone()));
    }
    if let Some(file) = &batch.error_file_id {
        results.push((ResultKind::Errors, file.clone()));
    }
    RemoteBatch {
        state: state(batch.status),
        failure: failure(&batch),
        input_id: Some(batch.input_file_id),
        created_at: batch.created_at,
        tags,
        counts: RequestCounts {
            total: counts.total,
            completed: counts.completed,
            failed: counts.failed,
        },
        results,
        id: batch.id,
    }
}

/// The tags a batch's metadata holds (values that are not text as JSON).
pub(crate) fn tags_of(metadata: Option<&serde_json::Map<String, serde_json::Value>>) -> Tags {
    metadata
        .into_iter()
        .flatten()
        .map(|(key, value)| {
            let text = value
                .as_str()
                .map_or_else(|| value.to_string(), str::to_string);
            (key.clone(), text)
        })
        .collect()
}

/// Tags as batch metadata.
pub(crate) fn metadata(tags: &Tags) -> serde_json::Map<String, serde_json::Value> {
    tags.iter()
        .map(|(key, value)| (key.clone(), serde_json::Value::String(value.clone())))
        .collect()
}

impl OpenAiClient {
    /// Download a batch's output and error files into `directory`.
    async fn fetch(
        &self,
        batch: &RemoteBatch,
        directory: &Path,
    ) -> Result<ResultFiles, ProviderError> {
        let mut files = ResultFiles::default();
        for (kind, file_id) in &batch.results {
            let (name, slot) = match kind {
                ResultKind::Answers => ("output", &mut files.output),
                ResultKind::Errors => ("errors", &mut files.errors),
            };
            let destination = directory.join(format!("{}-{name}.jsonl", batch.id));
            self.download(file_id, &destination).await?;
            *slot = Some(destination);
        }
        Ok(files)
    }

    async fn answer(&self, line: &str) -> Result<LineResult, ProviderError> {
        let codec = super::dialect::codec(self.dialect());
        let body = codec
            .request_body(line)
            .map_err(|message| ProviderError::Protocol {
                operation: "chat completion".into(),
                message,
            })?;
        crate::error::answered_now(self.chat(&body).await, codec.as_ref())
    }
}

impl BatchProvider for OpenAiClient {
    fn describe(&self) -> String {
        self.base_url().to_string()
    }

    fn codec(&self) -> Arc<dyn Codec> {
        super::dialect::codec(self.dialect())
    }

    fn find_created<'a>(
        &'a self,
        lost: &'a crate::LostCreate<'a>,
    ) -> BoxFuture<'a, Result<crate::Found, ProviderError>> {
        Box::pin(async move {
            // Without metadata, the input file (uploaded for this shard and attempt only)
            // is what names the batch.
            let keeps = super::dialect::keeps_metadata(self.dialect());
            let wanted = if keeps {
                metadata(lost.tags)
            } else {
                serde_json::Map::default()
            };
            let found = self
                .scan_batches(&wanted, lost.since)
                .await?
                .into_iter()
                .map(remote)
                .find(|batch| {
                    batch.input_id.as_deref() == Some(lost.input.id.as_str())
                        && !lost.known.contains(&batch.id)
                });
            Ok(found.map_or(crate::Found::Nothing, crate::Found::Batch))
        })
    }

    fn stage_input<'a>(
        &'a self,
        path: &'a Path,
        name: &'a str,
    ) -> BoxFuture<'a, Result<StagedInput, ProviderError>> {
        Box::pin(async move {
            let file = self.upload(path, name).await?;
            Ok(StagedInput {
                id: file.id,
                bytes: Some(file.bytes),
            })
        })
    }

    fn find_staged_input<'a>(
        &'a self,
        name: &'a str,
    ) -> BoxFuture<'a, Result<Option<StagedInput>, ProviderError>> {
        Box::pin(async move {
            Ok(self.find_upload(name).await?.map(|file| StagedInput {
                id: file.id,
                bytes: Some(file.bytes),
            }))
        })
    }

    fn create<'a>(
        &'a self,
        input: &'a StagedInput,
        tags: &'a Tags,
    ) -> BoxFuture<'a, Result<RemoteBatch, ProviderError>> {
        Box::pin(async move { Ok(remote(self.create_batch(&input.id, metadata(tags)).await?)) })
    }

    fn find_batches<'a>(
        &'a self,
        tags: &'a Tags,
        since: i64,
    ) -> BoxFuture<'a, Result<Vec<RemoteBatch>, ProviderError>> {
        Box::pin(async move {
            let found = self.scan_batches(&metadata(tags), since).await?;
            Ok(found.into_iter().map(remote).collect())
        })
    }

    fn poll<'a>(&'a self, batch_id: &'a str) -> BoxFuture<'a, Result<RemoteBatch, ProviderError>> {
        Box::pin(async move { Ok(remote(self.retrieve_batch(batch_id).await?)) })
    }

    fn cancel<'a>(
        &'a self,
        batch_id: &'a str,
    ) -> BoxFuture<'a, Result<RemoteBatch, ProviderError>> {
        Box::pin(async move { Ok(remote(self.cancel_batch(batch_id).await?)) })
    }

    fn fetch_results<'a>(
        &'a self,
        batch: &'a RemoteBatch,
        directory: &'a Path,
    ) -> BoxFuture<'a, Result<ResultFiles, ProviderError>> {
        Box::pin(self.fetch(batch, directory))
    }

    fn delete_input<'a>(&'a self, input_id: &'a str) -> BoxFuture<'a, Result<(), ProviderError>> {
        Box::pin(self.delete_file(input_id))
    }

    fn delete_results<'a>(
        &'a self,
        handles: &'a [String],
    ) -> BoxFuture<'a, Result<(), ProviderError>> {
        // Output and error files are files like the input: the same `DELETE /files/{id}`.
        Box::pin(async move {
            for handle in handles {
                self.delete_file(handle).await?;
            }
            Ok(())
        })
    }

    fn answer_now<'a>(&'a self, line: &'a str) -> BoxFuture<'a, Result<LineResult, ProviderError>> {
        Box::pin(self.answer(line))
    }

    fn retries_made(&self) -> u64 {
        OpenAiClient::retries_made(self)
    }
}
