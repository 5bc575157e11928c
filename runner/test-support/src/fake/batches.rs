//! A batch's life in the fake: created over a staged input with the fate of the first
//! matching rule, one step per poll, and its fate met (state, counts, result files) at the
//! last poll, or at once when cancelled.

use std::collections::HashMap;

use batchlabel_providers::{
    BatchFailure, BatchState, Codec, OpenAiCodec, ProviderError, RemoteBatch, RequestCounts,
    ResultKind, StagedInput, Tags,
};

use super::{Batch, FakeProvider, State, api, now};
use crate::answers::{Placement, not_run_line, result_line};
use crate::fates::{BatchFate, Call, HeldBatch, LineView, NewBatch};

impl FakeProvider {
    /// Give `batch` its fate: state, counts, result files.
    fn finish(&self, files: &mut HashMap<String, String>, batch: &mut Batch, fate: BatchFate) {
        let total = batch.held.custom_ids.len();
        batch.counts.total = total as u64;
        let (state, answered, stop_code) = match fate {
            BatchFate::Complete => (BatchState::Completed, total, ""),
            BatchFate::Fail { queue_full } => {
                batch.held.state = BatchState::Failed;
                batch.failure = Some(BatchFailure {
                    note: if queue_full {
                        "token_limit_exceeded: Enqueued token limit reached (fake)".into()
                    } else {
                        "invalid_request: the fake failed this batch".into()
                    },
                    queue_full,
                });
                return;
            }
            BatchFate::Expire { answered } => (BatchState::Expired, answered, "batch_expired"),
            BatchFate::Cancel { answered } => (BatchState::Cancelled, answered, "batch_cancelled"),
        };
        let (mut output, mut errors) = (String::new(), String::new());
        let held = &batch.held;
        for (index, (custom_id, request)) in held.custom_ids.iter().zip(&held.requests).enumerate()
        {
            if index >= answered {
                errors.push_str(&not_run_line(&held.id, index, custom_id, stop_code));
                errors.push('\n');
                batch.counts.failed += 1;
                continue;
            }
            let view = LineView {
                custom_id,
                index,
                batch: held.number,
                tags: &held.tags,
            };
            let fate = self.line_fate_of(&view);
            match result_line(&held.id, index, custom_id, request, &fate) {
                Placement::Output(line) => {
                    output.push_str(&line);
                    output.push('\n');
                    batch.counts.completed += 1;
                }
                Placement::Errors(line) => {
                    errors.push_str(&line);
                    errors.push('\n');
                    batch.counts.failed += 1;
                }
                // The provider ran it; its line is lost.
                Placement::Nowhere => batch.counts.completed += 1,
            }
        }
        for (kind, content, name) in [
            (ResultKind::Answers, output, "output"),
            (ResultKind::Errors, errors, "errors"),
        ] {
            if !content.is_empty() {
                let handle = format!("file-{}-{name}", batch.held.id);
                files.insert(handle.clone(), content);
                batch.results.push((kind, handle));
            }
        }
        batch.held.state = state;
    }

    pub(super) fn create_batch(
        &self,
        state: &mut State,
        input: &StagedInput,
        tags: &Tags,
    ) -> Result<RemoteBatch, ProviderError> {
        let Some(staged) = state
            .inputs
            .iter()
            .find(|staged| staged.id == input.id && !staged.deleted)
            .cloned()
        else {
            let message = format!("No such File object: '{}'", input.id);
            return Err(api(Call::Create, 404, message));
        };
        let codec = OpenAiCodec;
        let custom_ids: Vec<String> = staged
            .lines
            .iter()
            .map(|line| codec.request_custom_id(line.as_bytes()).unwrap_or_default())
            .collect();
        let number = state.batches.len() + 1;
        let new = NewBatch {
            number,
            tags,
            input_name: &staged.name,
            lines: staged.lines.len(),
        };
        let fate = self
            .batch_rules
            .iter()
            .find(|(_, matches)| matches(&new))
            .map_or(BatchFate::Complete, |(fate, _)| *fate);
        let mut batch = Batch {
            held: HeldBatch {
                id: state.new_id("batch_fake_"),
                number,
                input_id: staged.id.clone(),
                tags: tags.clone(),
                state: BatchState::Validating,
                fate,
                custom_ids,
                requests: staged.lines,
            },
            created_at: now(),
            polls: 0,
            counts: RequestCounts::default(),
            failure: None,
            results: Vec::new(),
        };
        if self.polls_to_finish == 0 {
            self.finish(&mut state.files, &mut batch, fate);
        }
        let remote = remote(&batch);
        state.batches.push(batch);
        Ok(remote)
    }

    pub(super) fn poll_batch(
        &self,
        state: &mut State,
        batch_id: &str,
    ) -> Result<RemoteBatch, ProviderError> {
        let State { batches, files, .. } = state;
        let Some(batch) = batches.iter_mut().find(|batch| batch.held.id == batch_id) else {
            return Err(api(Call::Poll, 404, format!("No such Batch: '{batch_id}'")));
        };
        if !batch.held.state.is_terminal() {
            batch.polls += 1;
            if batch.held.state == BatchState::Cancelling {
                self.finish(files, batch, BatchFate::Cancel { answered: 0 });
            } else if batch.polls >= self.polls_to_finish {
                self.finish(files, batch, batch.held.fate);
            } else {
                batch.held.state = BatchState::InProgress;
                batch.counts.total = batch.held.custom_ids.len() as u64;
            }
        }
        Ok(remote(batch))
    }
}

pub(super) fn remote(batch: &Batch) -> RemoteBatch {
    RemoteBatch {
        id: batch.held.id.clone(),
        state: batch.held.state,
        input_id: Some(batch.held.input_id.clone()),
        created_at: batch.created_at,
        tags: batch.held.tags.clone(),
        counts: batch.counts,
        failure: batch.failure.clone(),
        results: batch.results.clone(),
    }
}
