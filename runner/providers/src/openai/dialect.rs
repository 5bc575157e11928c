//! How OpenAI-compatible hosts differ from OpenAI's own batch API (protocols.md §7), as named
//! dialects of the one client. Groq, vLLM, litellm and `batchlabel serve` speak OpenAI's
//! protocol as it is. Together AI writes lines `{custom_id, body}` (no method or URL), takes
//! uploads with `purpose=batch-api`, keeps no batch metadata and may wrap a created batch as
//! `{"job": …}`; its upper-case statuses and ISO times are read by the protocol crate's
//! lenient parsing, which every dialect shares.

use batchlabel_spec::OpenaiDialect;
use serde_json::Value;

use super::codec::OpenAiCodec;
use crate::codec::Codec;

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

/// `impl Codec` for a chat-completions codec whose lines are `{custom_id, body}`: its encoder
/// renames parameters with `$rename`; reading results, bodies and conversations is OpenAI's.
macro_rules! body_only_codec {
    ($codec:ty, $rename:expr) => {
        impl $crate::codec::Codec for $codec {
            fn endpoint(&self) -> &'static str {
                $crate::openai::CHAT_COMPLETIONS_URL
            }

            fn fixed_request_part(
                &self,
                shape: &$crate::codec::RequestShape<'_>,
            ) -> serde_json::Value {
                $crate::OpenAiCodec.fixed_request_part(shape)
            }

            fn encoder(
                &self,
                shape: &$crate::codec::RequestShape<'_>,
            ) -> Result<Box<dyn $crate::codec::RequestEncoder>, String> {
                $crate::openai::chat_encoder(
                    shape,
                    $crate::openai::BODY_ONLY_AFTER_CUSTOM_ID,
                    $rename,
                )
            }

            fn decode_result_line(&self, line: &[u8]) -> Option<$crate::codec::ResultLine> {
                $crate::OpenAiCodec.decode_result_line(line)
            }

            fn decode_answer(&self, status: u16, body: &str) -> $crate::codec::LineResult {
                $crate::OpenAiCodec.decode_answer(status, body)
            }

            fn request_body(&self, line: &str) -> Result<serde_json::Value, String> {
                $crate::OpenAiCodec.request_body(line)
            }

            fn conversation(&self, line: &str) -> Result<$crate::codec::Conversation, String> {
                $crate::OpenAiCodec.conversation(line)
            }

            fn add_feedback(
                &self,
                line: &str,
                previous: &str,
                feedback: &str,
            ) -> Result<String, String> {
                $crate::OpenAiCodec.add_feedback(line, previous, feedback)
            }
        }
    };
}
pub(crate) use body_only_codec;

body_only_codec!(TogetherCodec, together_name);

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
        // Together lists batches as a bare array.
        let listed = serde_json::json!([{"id": "b-3", "status": "COMPLETED", "input_file_id": "f",
            "created_at": "2026-11-27T10:00:00Z"}]);
        let page = super::super::list_page(listed).expect("a page");
        assert_eq!(page.data[0].id, "b-3");
        assert!(!page.has_more);
    }
}
