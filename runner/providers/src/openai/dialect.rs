//! How OpenAI-compatible hosts differ from OpenAI's own batch API, as named
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
    use crate::codec::LineResult;

    #[test]
    fn the_dialect_follows_the_host_of_the_url() {
        for url in [
            "https://api.together.xyz/v1",
            "https://api.together.ai/v1",
            "http://together.xyz",
            "https://user:pw@api.together.xyz:443/v1?x=1",
        ] {
            assert_eq!(OpenaiDialect::of_url(url), OpenaiDialect::Together, "{url}");
        }
        for url in [
            "https://api.groq.com/openai/v1",
            "https://api.openai.com/v1",
            "http://127.0.0.1:8089/v1",
            // Only the host counts, not a path or a look-alike domain.
            "https://proxy.example/api.together.xyz/v1",
            "https://nottogether.xyz/v1",
            "https://together.xyz.evil.example/v1",
            "",
        ] {
            assert_eq!(OpenaiDialect::of_url(url), OpenaiDialect::Openai, "{url}");
        }
    }

    #[test]
    fn together_lines_carry_only_custom_id_and_body_with_max_tokens() {
        let (line, value) =
            crate::codec::sample_line(&TogetherCodec, "meta-llama/Llama-3.3-70B-Instruct-Turbo");
        let keys: Vec<&String> = value.as_object().expect("object").keys().collect();
        assert_eq!(keys, ["custom_id", "body"]);
        let body = &value["body"];
        assert_eq!(body["model"], "meta-llama/Llama-3.3-70B-Instruct-Turbo");
        assert_eq!(body["max_tokens"], 20);
        // `seed` keeps its OpenAI name on Together.
        assert_eq!(body["seed"], 7);
        assert!(body.get("max_completion_tokens").is_none(), "{body}");
        assert_eq!(body["messages"].as_array().map(Vec::len), Some(2), "{body}");
        assert_eq!(body["response_format"]["type"], "json_schema", "{body}");
        assert_eq!(TogetherCodec.endpoint(), "/v1/chat/completions");
        assert_eq!(
            TogetherCodec.request_custom_id(&line).as_deref(),
            Some("r-1")
        );
        let text = std::str::from_utf8(&line).expect("UTF-8");
        assert_eq!(
            TogetherCodec
                .conversation(text)
                .expect("read")
                .messages
                .len(),
            1
        );
        assert_eq!(
            TogetherCodec.request_body(text).expect("body")["max_tokens"],
            20
        );
    }

    #[test]
    fn together_result_lines_read_as_openai_ones() {
        let line = br#"{"custom_id":"r-1","response":{"status_code":200,"body":{"choices":[{"message":{"content":"{\"label\":\"POSITIVE\"}"},"finish_reason":"stop"}],"usage":{"prompt_tokens":3,"completion_tokens":2}}}}"#;
        let decoded = TogetherCodec.decode_result_line(line).expect("readable");
        assert_eq!(decoded.custom_id, "r-1");
        assert!(
            matches!(decoded.result, LineResult::Answered(_)),
            "{decoded:?}"
        );
        let failed = br#"{"custom_id":"r-2","error":{"message":"bad request"}}"#;
        let decoded = TogetherCodec.decode_result_line(failed).expect("readable");
        assert!(
            !matches!(decoded.result, LineResult::Answered(_)),
            "{decoded:?}"
        );
    }

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
