//! [`BatchProvider`] for Mistral's batch API: a shard is an uploaded file named after it, a
//! job carries the shard's tags as metadata, and its output and error files are downloaded
//! when it ends.

use std::path::Path;
use std::sync::Arc;

use super::types::{BatchJob, JobStatus};
use super::{MistralClient, MistralCodec};
use crate::codec::Codec;
use crate::openai::metadata;
use crate::{
    BatchFailure, BatchProvider, BatchState, BoxFuture, LineResult, ProviderError, RemoteBatch,
    RequestCounts, ResultFiles, ResultKind, StagedInput, Tags,
};

fn state(status: JobStatus) -> BatchState {
    match status {
        JobStatus::Queued => BatchState::Validating,
        JobStatus::Running => BatchState::InProgress,
        JobStatus::Success => BatchState::Completed,
        JobStatus::Failed => BatchState::Failed,
        JobStatus::TimeoutExceeded => BatchState::Expired,
        JobStatus::CancellationRequested => BatchState::Cancelling,
        JobStatus::Cancelled => BatchState::Cancelled,
    }
}

/// The neutral form of a job.
fn remote(job: BatchJob) -> RemoteBatch {
    let tags = crate::openai::tags_of(job.metadata.as_ref());
    let failure = (job.status == JobStatus::Failed).then(|| BatchFailure {
        note: job
            .errors
            .iter()
            .map(|error| match error.count {
                Some(count) if count > 1 => format!("{} (×{count})", error.message),
                _ => error.message.clone(),
            })
            .collect::<Vec<_>>()
            .join("; "),
        queue_full: false,
    });
    let mut results = Vec::new();
    if let Some(file) = &job.output_file {
        results.push((ResultKind::Answers, file.clone()));
    }
    if let Some(file) = &job.error_file {
        results.push((ResultKind::Errors, file.clone()));
    }
    RemoteBatch {
        state: state(job.status),
        failure,
        input_id: job.input_files.first().cloned(),
        created_at: job.created_at,
        tags,
        counts: RequestCounts {
            total: job.total_requests,
            completed: job.succeeded_requests,
            failed: job.failed_requests,
        },
        results,
        id: job.id,
    }
}

impl MistralClient {
    async fn create_remote(
        &self,
        input: &StagedInput,
        tags: &Tags,
    ) -> Result<RemoteBatch, ProviderError> {
        let job = self
            .create_job(&input.id, metadata(tags))
            .await
            .map_err(ProviderError::queue_full_at_create)?;
        Ok(remote(job))
    }

    async fn answer(&self, line: &str) -> Result<LineResult, ProviderError> {
        let body = MistralCodec
            .request_body(line)
            .map_err(|message| ProviderError::Protocol {
                operation: "chat completion".into(),
                message,
            })?;
        crate::error::answered_now(self.files().chat(&body).await, &MistralCodec)
    }
}

impl BatchProvider for MistralClient {
    fn describe(&self) -> String {
        self.files().base_url().to_string()
    }

    fn codec(&self) -> Arc<dyn Codec> {
        Arc::new(MistralCodec)
    }

    // Uploads, downloads and deletes are OpenAI's `/v1/files` routes: the wrapped client's.
    fn stage_input<'a>(
        &'a self,
        path: &'a Path,
        name: &'a str,
    ) -> BoxFuture<'a, Result<StagedInput, ProviderError>> {
        self.files().stage_input(path, name)
    }

    fn find_staged_input<'a>(
        &'a self,
        name: &'a str,
    ) -> BoxFuture<'a, Result<Option<StagedInput>, ProviderError>> {
        Box::pin(async move {
            Ok(self.find_upload(name).await?.map(|file| StagedInput {
                id: file.id,
                bytes: file.bytes,
            }))
        })
    }

    fn create<'a>(
        &'a self,
        input: &'a StagedInput,
        tags: &'a Tags,
    ) -> BoxFuture<'a, Result<RemoteBatch, ProviderError>> {
        Box::pin(self.create_remote(input, tags))
    }

    fn find_batches<'a>(
        &'a self,
        tags: &'a Tags,
        since: i64,
    ) -> BoxFuture<'a, Result<Vec<RemoteBatch>, ProviderError>> {
        Box::pin(async move {
            let found = self.scan_jobs(&metadata(tags), since).await?;
            Ok(found.into_iter().map(remote).collect())
        })
    }

    fn poll<'a>(&'a self, batch_id: &'a str) -> BoxFuture<'a, Result<RemoteBatch, ProviderError>> {
        Box::pin(async move { Ok(remote(self.retrieve(batch_id).await?)) })
    }

    fn cancel<'a>(
        &'a self,
        batch_id: &'a str,
    ) -> BoxFuture<'a, Result<RemoteBatch, ProviderError>> {
        Box::pin(async move { Ok(remote(MistralClient::cancel(self, batch_id).await?)) })
    }

    fn fetch_results<'a>(
        &'a self,
        batch: &'a RemoteBatch,
        directory: &'a Path,
    ) -> BoxFuture<'a, Result<ResultFiles, ProviderError>> {
        self.files().fetch_results(batch, directory)
    }

    fn delete_input<'a>(&'a self, input_id: &'a str) -> BoxFuture<'a, Result<(), ProviderError>> {
        self.files().delete_input(input_id)
    }

    fn delete_results<'a>(
        &'a self,
        handles: &'a [String],
    ) -> BoxFuture<'a, Result<(), ProviderError>> {
        self.files().delete_results(handles)
    }

    fn answer_now<'a>(&'a self, line: &'a str) -> BoxFuture<'a, Result<LineResult, ProviderError>> {
        Box::pin(self.answer(line))
    }

    fn retries_made(&self) -> u64 {
        self.files().retries_made()
    }
}
