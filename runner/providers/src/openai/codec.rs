//! The OpenAI batch line format: request lines
//! `{"custom_id", "method": "POST", "url": "/v1/chat/completions", "body": {model, messages, …,
//! response_format}}` with a strict `json_schema` response format, and output/error lines
//! `{"custom_id", "response": {"status_code", "body": chat.completion}, "error"}`.

use serde::Deserialize;
use serde_json::Value;
use serde_json::value::RawValue;

use crate::codec::{
    Answer, Codec, Finish, LineResult, NotRun, RequestEncoder, RequestShape, ResultLine, Usage,
};

/// The batch endpoint every line targets.
pub const CHAT_COMPLETIONS_URL: &str = "/v1/chat/completions";

/// The OpenAI chat-completions batch format (also spoken by `batchlabel serve`, Azure OpenAI,
/// vLLM and other compatible servers).
#[derive(Debug, Clone, Copy, Default)]
pub struct OpenAiCodec;

/// The strict structured-output `response_format` of a chat-completions body.
pub fn response_format(name: &str, schema: &Value) -> Value {
    serde_json::json!({
        "type": "json_schema",
        "json_schema": {"name": name, "strict": true, "schema": schema}
    })
}

struct OpenAiEncoder {
    head: Vec<u8>,
    tail: Vec<u8>,
    after_custom_id: &'static [u8],
}

/// What follows the custom_id in OpenAI's lines (the method and URL, then the body).
const OPENAI_AFTER_CUSTOM_ID: &[u8] =
    b"\",\"method\":\"POST\",\"url\":\"/v1/chat/completions\",\"body\":";

/// What follows the custom_id in `{"custom_id", "body"}` lines (Mistral, Together).
pub(crate) const BODY_ONLY_AFTER_CUSTOM_ID: &[u8] = b"\",\"body\":";

fn to_bytes(value: &impl serde::Serialize) -> Result<Vec<u8>, String> {
    serde_json::to_vec(value).map_err(|error| error.to_string())
}

/// An encoder of chat-completions lines: `after_custom_id` says what stands between the
/// custom_id and the body, `rename` gives a parameter's name in this API (`None`: as is).
pub(crate) fn chat_encoder(
    shape: &RequestShape<'_>,
    after_custom_id: &'static [u8],
    rename: fn(&str) -> Option<&'static str>,
) -> Result<Box<dyn RequestEncoder>, String> {
    let mut head = b"{\"model\":".to_vec();
    head.extend(to_bytes(&shape.model)?);
    head.extend_from_slice(b",\"messages\":[");
    let mut tail = b"]".to_vec();
    for (key, value) in shape.parameters {
        tail.push(b',');
        match rename(key) {
            Some(renamed) => tail.extend(to_bytes(&renamed)?),
            None => tail.extend(to_bytes(key)?),
        }
        tail.push(b':');
        tail.extend(to_bytes(value)?);
    }
    tail.extend_from_slice(b",\"response_format\":");
    tail.extend(to_bytes(&response_format(shape.schema_name, shape.schema))?);
    tail.push(b'}');
    Ok(Box::new(OpenAiEncoder {
        head,
        tail,
        after_custom_id,
    }))
}

impl OpenAiCodec {
    fn prepare(shape: &RequestShape<'_>) -> Result<Box<dyn RequestEncoder>, String> {
        chat_encoder(shape, OPENAI_AFTER_CUSTOM_ID, |_| None)
    }
}

/// `{"role":"…","content":"…"}` with the content JSON-escaped, appended to `out`.
pub(crate) fn write_chat_message(out: &mut Vec<u8>, role: &str, content: &str) {
    out.extend_from_slice(b"{\"role\":");
    if role
        .bytes()
        .all(|byte| byte.is_ascii_alphanumeric() || byte == b'_')
    {
        // The usual roles need no escaping: skip the serializer on the hot path.
        out.push(b'"');
        out.extend_from_slice(role.as_bytes());
        out.push(b'"');
    } else {
        // Writing a str into a Vec cannot fail.
        let _ = serde_json::to_writer(&mut *out, role);
    }
    out.extend_from_slice(b",\"content\":");
    let _ = serde_json::to_writer(&mut *out, content);
    out.push(b'}');
}

impl RequestEncoder for OpenAiEncoder {
    fn line_start(&self) -> &[u8] {
        b"{\"custom_id\":\""
    }

    fn after_custom_id(&self) -> &[u8] {
        self.after_custom_id
    }

    fn body_head(&self) -> &[u8] {
        &self.head
    }

    fn system_prefix(&self, text: &str) -> Vec<u8> {
        let mut out = Vec::with_capacity(text.len() + 32);
        write_chat_message(&mut out, "system", text);
        out.push(b',');
        out
    }

    fn no_system_prefix(&self) -> &[u8] {
        b""
    }

    fn write_message(&self, out: &mut Vec<u8>, role: &str, content: &str) {
        write_chat_message(out, role, content);
    }

    fn message_separator(&self) -> &[u8] {
        b","
    }

    fn body_tail(&self) -> &[u8] {
        &self.tail
    }

    fn line_end(&self) -> &[u8] {
        b"}\n"
    }
}

#[derive(Deserialize)]
struct Line<'a> {
    #[serde(borrow)]
    custom_id: std::borrow::Cow<'a, str>,
    #[serde(borrow)]
    response: Option<LineResponse<'a>>,
    error: Option<LineError>,
}

#[derive(Deserialize)]
struct LineResponse<'a> {
    /// Mistral-style lines may leave it out: a body alone is an answer.
    #[serde(default = "ok_status")]
    status_code: u16,
    #[serde(borrow)]
    body: &'a RawValue,
}

fn ok_status() -> u16 {
    200
}

#[derive(Deserialize)]
struct LineError {
    #[serde(default, deserialize_with = "code_text")]
    code: String,
    #[serde(default)]
    message: String,
}

/// An error code as text: hosts send strings, numbers or null.
fn code_text<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<String, D::Error> {
    Ok(match Value::deserialize(deserializer)? {
        Value::String(text) => text,
        Value::Null => String::new(),
        other => other.to_string(),
    })
}

#[derive(Deserialize)]
struct Completion<'a> {
    #[serde(default)]
    model: Option<String>,
    /// Raw per-label scores, from the local model (for calibration over the job).
    #[serde(borrow, default)]
    batchlabel_scores: Option<&'a RawValue>,
    choices: Vec<Choice>,
    #[serde(default)]
    usage: Option<CompletionUsage>,
}

#[derive(Deserialize)]
struct Choice {
    message: Message,
    #[serde(default)]
    finish_reason: Option<String>,
}

#[derive(Deserialize)]
struct Message {
    #[serde(default)]
    content: Option<String>,
    #[serde(default)]
    refusal: Option<String>,
}

#[derive(Deserialize, Default)]
struct CompletionUsage {
    #[serde(default)]
    prompt_tokens: u64,
    #[serde(default)]
    completion_tokens: u64,
    #[serde(default)]
    prompt_tokens_details: Option<PromptDetails>,
}

#[derive(Deserialize, Default)]
struct PromptDetails {
    #[serde(default)]
    cached_tokens: u64,
}

fn error_message(body: &str) -> String {
    serde_json::from_str::<batchlabel_protocol::ErrorBody>(body).map_or_else(
        |_| body.chars().take(200).collect(),
        |body| {
            let code = body
                .error
                .code
                .map(|code| format!(" ({code})"))
                .unwrap_or_default();
            format!("{}{code}", body.error.message)
        },
    )
}

fn decode_completion(body: &str) -> LineResult {
    let completion: Completion<'_> = match serde_json::from_str(body) {
        Ok(completion) => completion,
        Err(error) => {
            return LineResult::Malformed {
                detail: format!("the response body is not a chat completion: {error}"),
                usage: Usage::default(),
            };
        }
    };
    let usage = completion.usage.unwrap_or_default();
    let usage = Usage {
        input_tokens: usage.prompt_tokens,
        output_tokens: usage.completion_tokens,
        cached_input_tokens: usage
            .prompt_tokens_details
            .unwrap_or_default()
            .cached_tokens,
    };
    let Some(choice) = completion.choices.into_iter().next() else {
        return LineResult::Malformed {
            detail: "the completion has no choices".into(),
            usage,
        };
    };
    let finish = match choice.finish_reason.as_deref() {
        // `model_length`: Mistral's cut at the context window.
        Some("length" | "model_length") => Finish::Truncated,
        Some("content_filter") => Finish::Filtered,
        _ => Finish::Complete,
    };
    LineResult::Answered(Answer {
        content: choice.message.content,
        refusal: choice.message.refusal,
        finish,
        usage,
        model_snapshot: completion.model,
        scores: completion
            .batchlabel_scores
            .map(|scores| scores.get().to_string()),
    })
}

impl Codec for OpenAiCodec {
    fn endpoint(&self) -> &'static str {
        CHAT_COMPLETIONS_URL
    }

    fn fixed_request_part(&self, shape: &RequestShape<'_>) -> Value {
        response_format(shape.schema_name, shape.schema)
    }

    fn encoder(&self, shape: &RequestShape<'_>) -> Result<Box<dyn RequestEncoder>, String> {
        Self::prepare(shape)
    }

    fn decode_result_line(&self, line: &[u8]) -> Option<ResultLine> {
        let parsed = serde_json::from_slice::<Line<'_>>(line).ok()?;
        let result = match (&parsed.response, &parsed.error) {
            (Some(response), _) => self.decode_answer(response.status_code, response.body.get()),
            (None, Some(error)) => LineResult::NotRun {
                reason: match error.code.as_str() {
                    "batch_expired" => NotRun::Expired,
                    "batch_cancelled" => NotRun::Cancelled,
                    "request_timeout" => NotRun::Timeout,
                    _ => NotRun::Other,
                },
                detail: format!("{}: {}", error.code, error.message),
            },
            (None, None) => LineResult::NotRun {
                reason: NotRun::NoAnswer,
                detail: "line has neither response nor error".into(),
            },
        };
        Some(ResultLine {
            custom_id: parsed.custom_id.into_owned(),
            result,
        })
    }

    fn decode_answer(&self, status: u16, body: &str) -> LineResult {
        if status == 200 {
            decode_completion(body)
        } else {
            LineResult::Rejected {
                status,
                message: error_message(body),
            }
        }
    }

    fn request_body(&self, line: &str) -> Result<Value, String> {
        let mut value: Value = serde_json::from_str(line).map_err(|error| error.to_string())?;
        match value.get_mut("body") {
            Some(body) => Ok(body.take()),
            None => Err("the request line has no `body`".into()),
        }
    }

    fn conversation(&self, line: &str) -> Result<crate::codec::Conversation, String> {
        let body = self.request_body(line)?;
        crate::codec::conversation_of(None, &body["messages"])
    }

    fn add_feedback(&self, line: &str, previous: &str, feedback: &str) -> Result<String, String> {
        let mut value: Value = serde_json::from_str(line).map_err(|error| error.to_string())?;
        let Some(messages) = value["body"]["messages"].as_array_mut() else {
            return Err("the request line has no `body.messages`".into());
        };
        messages.push(serde_json::json!({"role": "assistant", "content": previous}));
        messages.push(serde_json::json!({"role": "user", "content": feedback}));
        Ok(value.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_line_is_written_in_the_documented_order_and_reads_back() {
        let parameters = serde_json::Map::from_iter([("temperature".to_string(), Value::from(0))]);
        let schema = serde_json::json!({"type": "object"});
        let shape = RequestShape {
            model: "gpt-4o-mini",
            parameters: &parameters,
            schema_name: "labels",
            schema: &schema,
        };
        let encoder = OpenAiCodec.encoder(&shape).expect("encoder");
        let turns = [("user", "great \"stuff\"")];
        let line = crate::codec::encode_line(encoder.as_ref(), Some("Label it."), &turns);
        let value: Value = serde_json::from_slice(&line).expect("valid JSON");
        assert_eq!(value["custom_id"], "r-1");
        assert_eq!(value["url"], CHAT_COMPLETIONS_URL);
        assert_eq!(value["body"]["messages"][1]["content"], "great \"stuff\"");
        assert_eq!(value["body"]["temperature"], 0);
        assert_eq!(
            value["body"]["response_format"]["json_schema"]["strict"],
            true
        );
        assert_eq!(OpenAiCodec.request_custom_id(&line).as_deref(), Some("r-1"));
        let asked_again = OpenAiCodec
            .add_feedback(
                std::str::from_utf8(&line).expect("utf-8"),
                "{}",
                "try again",
            )
            .expect("feedback");
        let asked_again: Value = serde_json::from_str(&asked_again).expect("JSON");
        assert_eq!(asked_again["body"]["messages"][3]["content"], "try again");
    }

    #[test]
    fn result_lines_become_neutral_results() {
        let answered = br#"{"id":"x","custom_id":"r-1","response":{"status_code":200,"request_id":"q","body":{"model":"m-1","choices":[{"message":{"content":"{\"a\":1}"},"finish_reason":"length"}],"usage":{"prompt_tokens":5,"completion_tokens":2,"prompt_tokens_details":{"cached_tokens":3}}}},"error":null}"#;
        let line = OpenAiCodec.decode_result_line(answered).expect("readable");
        let LineResult::Answered(answer) = line.result else {
            panic!("not answered: {line:?}")
        };
        assert_eq!(answer.finish, Finish::Truncated);
        assert_eq!(answer.usage.cached_input_tokens, 3);
        assert_eq!(answer.model_snapshot.as_deref(), Some("m-1"));
        let expired = br#"{"id":"x","custom_id":"r-2","response":null,"error":{"code":"batch_expired","message":"late"}}"#;
        let line = OpenAiCodec.decode_result_line(expired).expect("readable");
        assert!(matches!(
            line.result,
            LineResult::NotRun {
                reason: NotRun::Expired,
                ..
            }
        ));
        let rejected = OpenAiCodec.decode_answer(
            429,
            r#"{"error":{"message":"slow down","code":"rate_limit"}}"#,
        );
        assert!(
            matches!(rejected, LineResult::Rejected { status: 429, ref message } if message == "slow down (rate_limit)")
        );
        assert!(OpenAiCodec.decode_result_line(b"not json").is_none());
    }
}
