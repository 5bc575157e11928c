//! How OpenAI-compatible hosts differ from OpenAI's own batch API (protocols.md §7), as named
//! dialects of the one client. Groq, vLLM, litellm and `batchlabel serve` speak OpenAI's
//! protocol as it is. Together AI writes lines `{custom_id, body}` (no method or URL), takes
//! uploads with `purpose=batch-api`, keeps no batch metadata and may wrap a created batch as
//! `{"job": …}`; its upper-case statuses and ISO times are read by the protocol crate's
//! lenient parsing, which every dialect shares.

use batchlabel_spec::OpenaiDialect;
use serde_json::Value;

use super::codec::{BODY_ONLY_AFTER_CUSTOM_ID, OpenAiCodec, chat_encoder};
use crate::codec::{Codec, Conversation, LineResult, RequestEncoder, RequestShape, ResultLine};

/// The upload `purpose` of batch input files.
pub(crate) fn upload_purpose(dialect: OpenaiDialect) -> &'static str {
    match dialect {
        OpenaiDialect::Openai => "batch",
        OpenaiDialect::Together => "batch-api",
    }
}

/// Whether batches keep the metadata they are created with.
pub(crate) fn keeps_metadata(dialect: OpenaiDialect) -> bool {
    dialect == OpenaiDialect::Openai
}

/// A batch object as answered: Together wraps a created one as `{"job": batch}`.
pub(crate) fn unwrap_batch(mut value: Value) -> Value {
    if value.get("id").is_none()
        && let Some(job) = value.get_mut("job").filter(|job| job.is_object())
    {
        return job.take();
    }
    value
}

/// The line format of `dialect`.
pub(crate) fn codec(dialect: OpenaiDialect) -> std::sync::Arc<dyn Codec> {
    match dialect {
        OpenaiDialect::Openai => std::sync::Arc::new(OpenAiCodec),
        OpenaiDialect::Together => std::sync::Arc::new(TogetherCodec),
    }
}

/// Together AI's batch lines: `{"custom_id", "body"}`, `max_tokens` for the output cap.
#[derive(Debug, Clone, Copy, Default)]
pub struct TogetherCodec;

fn together_name(key: &str) -> Option<&'static str> {
    (key == "max_completion_tokens").then_some("max_tokens")
}

impl Codec for TogetherCodec {
    fn endpoint(&self) -> &'static str {
        super::CHAT_COMPLETIONS_URL
    }

    fn fixed_request_part(&self, shape: &RequestShape<'_>) -> Value {
        OpenAiCodec.fixed_request_part(shape)
    }

    fn encoder(&self, shape: &RequestShape<'_>) -> Result<Box<dyn RequestEncoder>, String> {
        chat_encoder(shape, BODY_ONLY_AFTER_CUSTOM_ID, together_name)
    }

    fn decode_result_line(&self, line: &[u8]) -> Option<ResultLine> {
        OpenAiCodec.decode_result_line(line)
    }

    fn decode_answer(&self, status: u16, body: &str) -> LineResult {
        OpenAiCodec.decode_answer(status, body)
    }

    fn request_body(&self, line: &str) -> Result<Value, String> {
        OpenAiCodec.request_body(line)
    }

    fn conversation(&self, line: &str) -> Result<Conversation, String> {
        OpenAiCodec.conversation(line)
    }

    fn add_feedback(&self, line: &str, previous: &str, feedback: &str) -> Result<String, String> {
        OpenAiCodec.add_feedback(line, previous, feedback)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn together_batches_read_as_batches() {
        let created = serde_json::json!({"job": {"id": "b-1", "status": "IN_PROGRESS",
            "input_file_id": "file-1", "created_at": "2026-11-27T10:00:00Z", "progress": 10.0,
            "model_id": "m", "endpoint": "/v1/chat/completions", "job_deadline": "2026-11-28T10:00:00Z"}, "warning": null});
        let batch: batchlabel_protocol::Batch =
            serde_json::from_value(unwrap_batch(created)).expect("a batch");
        assert_eq!(batch.status, batchlabel_protocol::BatchStatus::InProgress);
        assert_eq!(batch.created_at, 1_795_773_600);
        let plain = serde_json::json!({"id": "b-2", "job": "x"});
        assert_eq!(unwrap_batch(plain.clone()), plain);
    }
}
