//! The fake as a [`BatchProvider`]: each call counted, its fault drawn, then its effect on
//! the state held in memory.

use std::path::Path;
use std::sync::Arc;

use batchlabel_providers::{
    BatchProvider, BatchState, BoxFuture, Codec, LineResult, OpenAiCodec, ProviderError,
    RemoteBatch, ResultFiles, ResultKind, StagedInput, Tags, Tuning,
};

use super::batches::remote;
use super::{FakeProvider, api, io_error};
use crate::fates::{Call, HeldInput, LineView};

fn write_atomically(path: &Path, content: &str) -> Result<(), ProviderError> {
    let temporary = path.with_extension("part");
    std::fs::write(&temporary, content).map_err(|source| io_error(&temporary, source))?;
    std::fs::rename(&temporary, path).map_err(|source| io_error(path, source))
}

impl BatchProvider for FakeProvider {
    fn describe(&self) -> String {
        "fake provider (in process)".into()
    }

    fn codec(&self) -> Arc<dyn Codec> {
        Arc::new(OpenAiCodec)
    }

    fn tuning(&self) -> Tuning {
        Tuning {
            poll_seconds: 0.001,
            max_poll_seconds: 0.01,
            concurrency: None,
        }
    }

    fn stage_input<'a>(
        &'a self,
        path: &'a Path,
        name: &'a str,
    ) -> BoxFuture<'a, Result<StagedInput, ProviderError>> {
        Box::pin(async move {
            self.call(Call::Stage, |state| {
                let text = std::fs::read_to_string(path).map_err(|error| io_error(path, error))?;
                let input = HeldInput {
                    id: state.new_id("file-fake-"),
                    name: name.to_string(),
                    bytes: text.len() as u64,
                    lines: text.lines().map(str::to_string).collect(),
                    deleted: false,
                };
                let staged = StagedInput {
                    id: input.id.clone(),
                    bytes: Some(input.bytes),
                };
                state.inputs.push(input);
                Ok(staged)
            })
        })
    }

    fn find_staged_input<'a>(
        &'a self,
        name: &'a str,
    ) -> BoxFuture<'a, Result<Option<StagedInput>, ProviderError>> {
        Box::pin(async move {
            self.call(Call::FindStaged, |state| {
                Ok(state
                    .inputs
                    .iter()
                    .rev()
                    .find(|input| input.name == name && !input.deleted)
                    .map(|input| StagedInput {
                        id: input.id.clone(),
                        bytes: Some(input.bytes),
                    }))
            })
        })
    }

    fn create<'a>(
        &'a self,
        input: &'a StagedInput,
        tags: &'a Tags,
    ) -> BoxFuture<'a, Result<RemoteBatch, ProviderError>> {
        Box::pin(
            async move { self.call(Call::Create, |state| self.create_batch(state, input, tags)) },
        )
    }

    fn find_batches<'a>(
        &'a self,
        tags: &'a Tags,
        since: i64,
    ) -> BoxFuture<'a, Result<Vec<RemoteBatch>, ProviderError>> {
        Box::pin(async move {
            self.call(Call::FindBatches, |state| {
                Ok(state
                    .batches
                    .iter()
                    .rev()
                    // The same slack for clock skew as the OpenAI client's scan.
                    .filter(|batch| batch.created_at >= since - 300)
                    .filter(|batch| {
                        tags.iter()
                            .all(|(key, value)| batch.held.tags.get(key) == Some(value))
                    })
                    .map(remote)
                    .collect())
            })
        })
    }

    fn poll<'a>(&'a self, batch_id: &'a str) -> BoxFuture<'a, Result<RemoteBatch, ProviderError>> {
        Box::pin(async move { self.call(Call::Poll, |state| self.poll_batch(state, batch_id)) })
    }

    fn cancel<'a>(
        &'a self,
        batch_id: &'a str,
    ) -> BoxFuture<'a, Result<RemoteBatch, ProviderError>> {
        Box::pin(async move {
            self.call(Call::Cancel, |state| {
                let Some(batch) = state
                    .batches
                    .iter_mut()
                    .find(|batch| batch.held.id == batch_id)
                else {
                    return Err(api(
                        Call::Cancel,
                        404,
                        format!("No such Batch: '{batch_id}'"),
                    ));
                };
                if batch.held.state.is_terminal() {
                    let message = format!(
                        "Cannot cancel a batch with status `{}`.",
                        batch.held.state.as_str()
                    );
                    return Err(api(Call::Cancel, 400, message));
                }
                batch.held.state = BatchState::Cancelling;
                Ok(remote(batch))
            })
        })
    }

    fn fetch_results<'a>(
        &'a self,
        batch: &'a RemoteBatch,
        directory: &'a Path,
    ) -> BoxFuture<'a, Result<ResultFiles, ProviderError>> {
        Box::pin(async move {
            self.call(Call::Fetch, |state| {
                let mut files = ResultFiles::default();
                for (kind, handle) in &batch.results {
                    let Some(content) = state.files.get(handle) else {
                        return Err(api(Call::Fetch, 404, format!("No such File: '{handle}'")));
                    };
                    let (name, slot) = match kind {
                        ResultKind::Answers => ("output", &mut files.output),
                        ResultKind::Errors => ("errors", &mut files.errors),
                    };
                    let path = directory.join(format!("{}-{name}.jsonl", batch.id));
                    write_atomically(&path, content)?;
                    *slot = Some(path);
                }
                Ok(files)
            })
        })
    }

    fn delete_input<'a>(&'a self, input_id: &'a str) -> BoxFuture<'a, Result<(), ProviderError>> {
        Box::pin(async move {
            self.call(Call::Delete, |state| {
                // One already gone counts as deleted, as with the OpenAI client.
                for input in state.inputs.iter_mut().filter(|input| input.id == input_id) {
                    input.deleted = true;
                }
                Ok(())
            })
        })
    }

    fn delete_results<'a>(
        &'a self,
        handles: &'a [String],
    ) -> BoxFuture<'a, Result<(), ProviderError>> {
        Box::pin(async move {
            self.call(Call::DeleteResults, |state| {
                // One already gone counts as deleted, as with the OpenAI client.
                for handle in handles {
                    state.files.remove(handle);
                }
                Ok(())
            })
        })
    }

    fn answer_now<'a>(&'a self, line: &'a str) -> BoxFuture<'a, Result<LineResult, ProviderError>> {
        Box::pin(async move {
            self.call(Call::AnswerNow, |_| {
                let custom_id = OpenAiCodec
                    .request_custom_id(line.as_bytes())
                    .unwrap_or_default();
                let tags = Tags::new();
                let view = LineView {
                    custom_id: &custom_id,
                    index: 0,
                    batch: 0,
                    tags: &tags,
                };
                let fate = self.line_fate_of(&view);
                // A missing answer is a gateway timeout here: there is no batch to lose it in.
                let (status, body) = crate::answers::answer(line, &custom_id, &fate)
                    .unwrap_or_else(|| (504, r#"{"error":{"message":"no answer"}}"#.into()));
                Ok(OpenAiCodec.decode_answer(status, &body))
            })
        })
    }
}
