//! [`BatchProvider`] for the Gemini API's batch mode: a shard is a file uploaded under its
//! name, a batch carries the shard's tags in its display name, and its responses file is
//! downloaded when it ends. Ids are kept without their `files/` and `batches/` prefixes.

use std::path::Path;
use std::sync::Arc;

use super::types::Operation;
use super::{GeminiClient, GeminiCodec, tags};
use crate::codec::Codec;
use crate::{
    BatchFailure, BatchProvider, BatchState, BoxFuture, LineResult, ProviderError, RemoteBatch,
    RequestCounts, ResultFiles, ResultKind, StagedInput, Tags,
};

/// google.rpc.Code of an operation that ran out of quota.
const RESOURCE_EXHAUSTED: i64 = 8;

fn bare<'a>(name: &'a str, prefix: &str) -> &'a str {
    name.strip_prefix(prefix).unwrap_or(name)
}

/// The neutral form of a batch operation.
fn remote(operation: Operation) -> Result<RemoteBatch, ProviderError> {
    let batch = operation.metadata;
    let state_name = batch.state.as_deref().unwrap_or("BATCH_STATE_PENDING");
    let state = super::types::batch_state(state_name).ok_or_else(|| ProviderError::Protocol {
        operation: "read batch".into(),
        message: format!("unknown batch state `{state_name}`"),
    })?;
    let stats = batch.stats.unwrap_or_default();
    let responses = batch
        .output
        .and_then(|output| output.responses_file)
        .or_else(|| operation.response.and_then(|output| output.responses_file));
    let failure = (state == BatchState::Failed).then(|| {
        let error = operation.error.unwrap_or_default();
        BatchFailure {
            // The API reports a full queue as a 429 at create; a batch that fails with
            // RESOURCE_EXHAUSTED all the same is worth sending again once the queue drains.
            queue_full: error.code == Some(RESOURCE_EXHAUSTED),
            note: match error.code {
                Some(code) => format!("{} (code {code})", error.message),
                None => error.message,
            },
        }
    });
    Ok(RemoteBatch {
        id: bare(&operation.name, "batches/").to_string(),
        state,
        input_id: batch
            .input_config
            .and_then(|input| input.file_name)
            .map(|name| bare(&name, "files/").to_string()),
        created_at: batch
            .create_time
            .as_deref()
            .and_then(batchlabel_protocol::unix_seconds)
            .unwrap_or(0),
        tags: batch
            .display_name
            .as_deref()
            .and_then(tags::tags_of)
            .unwrap_or_default(),
        counts: RequestCounts {
            total: stats.request_count,
            completed: stats.successful_request_count,
            // Requests an ended batch never ran (cancelled, expired) stay pending in its
            // stats: they did not succeed, so they count as failed.
            failed: if state.is_terminal() {
                stats.failed_request_count.max(
                    stats
                        .request_count
                        .saturating_sub(stats.successful_request_count),
                )
            } else {
                stats.failed_request_count
            },
        },
        failure,
        results: responses
            .map(|file| (ResultKind::Answers, bare(&file, "files/").to_string()))
            .into_iter()
            .collect(),
    })
}

impl GeminiClient {
    async fn create_remote(
        &self,
        input: &StagedInput,
        tags: &Tags,
    ) -> Result<RemoteBatch, ProviderError> {
        let file_name = format!("files/{}", input.id);
        let operation = self
            .create_batch(&file_name, &tags::display_name(tags))
            .await
            .map_err(ProviderError::queue_full_at_create)?;
        remote(operation)
    }

    async fn scan(&self, wanted: &Tags, since: i64) -> Result<Vec<RemoteBatch>, ProviderError> {
        let after = since - 300;
        let mut found = Vec::new();
        let mut token: Option<String> = None;
        // Every page: Google does not document the list's order, so stopping at the first
        // older batch could miss the one looked for (and create it twice).
        loop {
            let page = self.list(token.as_deref()).await?;
            for operation in page.operations {
                // Another tool's batch in a state this one does not know is not ours.
                let Ok(batch) = remote(operation) else {
                    continue;
                };
                let matches = wanted
                    .iter()
                    .all(|(key, value)| batch.tags.get(key) == Some(value));
                if matches && (batch.created_at == 0 || batch.created_at >= after) {
                    found.push(batch);
                }
            }
            match page.next_page_token.filter(|next| !next.is_empty()) {
                Some(next) => token = Some(next),
                None => return Ok(found),
            }
        }
    }

    async fn fetch(
        &self,
        batch: &RemoteBatch,
        directory: &Path,
    ) -> Result<ResultFiles, ProviderError> {
        let mut files = ResultFiles::default();
        if let Some((_, file)) = batch.results.first() {
            let destination = directory.join(format!("{}-output.jsonl", batch.id));
            self.download(&format!("files/{file}"), &destination)
                .await?;
            files.output = Some(destination);
        }
        Ok(files)
    }

    async fn answer(&self, line: &str) -> Result<LineResult, ProviderError> {
        let request =
            GeminiCodec
                .request_body(line)
                .map_err(|message| ProviderError::Protocol {
                    operation: "generate content".into(),
                    message,
                })?;
        crate::error::answered_now(self.generate(&request).await, &GeminiCodec)
    }
}

impl BatchProvider for GeminiClient {
    fn describe(&self) -> String {
        self.base_url().to_string()
    }

    fn codec(&self) -> Arc<dyn Codec> {
        Arc::new(GeminiCodec)
    }

    fn stage_input<'a>(
        &'a self,
        path: &'a Path,
        name: &'a str,
    ) -> BoxFuture<'a, Result<StagedInput, ProviderError>> {
        Box::pin(async move {
            let file = self.upload(path, name).await?;
            Ok(StagedInput {
                id: bare(&file.name, "files/").to_string(),
                bytes: Some(file.size_bytes),
            })
        })
    }

    fn find_staged_input<'a>(
        &'a self,
        name: &'a str,
    ) -> BoxFuture<'a, Result<Option<StagedInput>, ProviderError>> {
        Box::pin(async move {
            Ok(self.find_upload(name).await?.map(|file| StagedInput {
                id: bare(&file.name, "files/").to_string(),
                bytes: Some(file.size_bytes),
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
        Box::pin(self.scan(tags, since))
    }

    fn poll<'a>(&'a self, batch_id: &'a str) -> BoxFuture<'a, Result<RemoteBatch, ProviderError>> {
        Box::pin(async move { remote(self.retrieve(&format!("batches/{batch_id}")).await?) })
    }

    fn cancel<'a>(
        &'a self,
        batch_id: &'a str,
    ) -> BoxFuture<'a, Result<RemoteBatch, ProviderError>> {
        Box::pin(async move {
            let name = format!("batches/{batch_id}");
            GeminiClient::cancel(self, &name).await?;
            let mut batch = remote(self.retrieve(&name).await?)?;
            // Gemini has no "cancelling" state: a batch still running once its cancel was
            // accepted is on its way to `CANCELLED`.
            if matches!(batch.state, BatchState::Validating | BatchState::InProgress) {
                batch.state = BatchState::Cancelling;
            }
            Ok(batch)
        })
    }

    fn fetch_results<'a>(
        &'a self,
        batch: &'a RemoteBatch,
        directory: &'a Path,
    ) -> BoxFuture<'a, Result<ResultFiles, ProviderError>> {
        Box::pin(self.fetch(batch, directory))
    }

    fn delete_input<'a>(&'a self, input_id: &'a str) -> BoxFuture<'a, Result<(), ProviderError>> {
        Box::pin(async move { self.delete_file(&format!("files/{input_id}")).await })
    }

    fn delete_results<'a>(
        &'a self,
        handles: &'a [String],
    ) -> BoxFuture<'a, Result<(), ProviderError>> {
        Box::pin(async move {
            for handle in handles {
                self.delete_file(&format!("files/{handle}")).await?;
            }
            Ok(())
        })
    }

    fn answer_now<'a>(&'a self, line: &'a str) -> BoxFuture<'a, Result<LineResult, ProviderError>> {
        Box::pin(self.answer(line))
    }

    fn retries_made(&self) -> u64 {
        GeminiClient::retries_made(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn operation(value: serde_json::Value) -> Operation {
        serde_json::from_value(value).expect("an operation")
    }

    #[test]
    fn a_succeeded_job_reads_as_a_completed_batch_with_its_responses() {
        let batch = remote(operation(serde_json::json!({
            "name": "batches/b7",
            "done": true,
            "metadata": {"state": "JOB_STATE_SUCCEEDED",
                "displayName": "batchlabel;run=r1;shard=a1-00001-s1",
                "createTime": "2026-11-27T10:00:00Z",
                "inputConfig": {"fileName": "files/f1"},
                "batchStats": {"requestCount": "3", "successfulRequestCount": "3"}},
            "response": {"responsesFile": "files/out1"},
        })))
        .expect("a batch");
        assert_eq!(batch.id, "b7");
        assert_eq!(batch.state, BatchState::Completed);
        assert_eq!(batch.input_id.as_deref(), Some("f1"));
        assert_eq!(batch.created_at, 1_795_773_600);
        assert_eq!((batch.counts.total, batch.counts.completed), (3, 3));
        assert_eq!(batch.counts.failed, 0);
        assert_eq!(
            batch.tags.get("batchlabel_shard").map(String::as_str),
            Some("a1-00001-s1")
        );
        assert_eq!(batch.results, [(ResultKind::Answers, "out1".to_string())]);
        assert!(batch.failure.is_none());
    }

    #[test]
    fn a_batch_failed_for_quota_is_a_full_queue_and_others_are_not() {
        let failed = |code: i64| {
            remote(operation(serde_json::json!({
                "name": "batches/b8",
                "metadata": {"state": "BATCH_STATE_FAILED"},
                "error": {"code": code, "message": "no"},
            })))
            .expect("a batch")
            .failure
            .expect("a failure")
        };
        let exhausted = failed(8);
        assert!(exhausted.queue_full, "{exhausted:?}");
        assert_eq!(exhausted.note, "no (code 8)");
        assert!(!failed(3).queue_full);
    }

    #[test]
    fn an_unknown_state_is_a_protocol_error() {
        let error = remote(operation(serde_json::json!({
            "name": "batches/b9", "metadata": {"state": "JOB_STATE_WEIRD"},
        })))
        .expect_err("unknown");
        assert!(error.to_string().contains("JOB_STATE_WEIRD"), "{error}");
    }
}
