//! The Anthropic Message Batches line format: request lines
//! `{"custom_id", "params": <Messages create body>}` whose structured output is either
//! `output_config.format` (a JSON schema) or a forced tool whose `input_schema` is the label
//! schema, and result lines `{"custom_id", "result": {"type": "succeeded" | "errored" |
//! "canceled" | "expired", …}}`.

use batchlabel_spec::AnthropicOutput;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::codec::{
    Answer, Codec, Finish, LineResult, NotRun, RequestEncoder, RequestShape, ResultLine, Usage,
};

/// Output tokens asked for when the spec sets no `max_completion_tokens` (Anthropic requires
/// `max_tokens`); a label answer is a few dozen.
pub const DEFAULT_MAX_TOKENS: u64 = 1024;

/// The tool the model is made to call in the `tool` form.
const TOOL_DESCRIPTION: &str = "Record the labels for the text.";

/// The Anthropic Messages batch format.
#[derive(Debug, Clone, Copy, Default)]
pub struct AnthropicCodec {
    /// How structured output is asked for.
    pub output: AnthropicOutput,
}

struct AnthropicEncoder {
    head: Vec<u8>,
    tail: Vec<u8>,
}

fn to_bytes(value: &impl serde::Serialize) -> Result<Vec<u8>, String> {
    serde_json::to_vec(value).map_err(|error| error.to_string())
}

impl AnthropicCodec {
    /// What every request carries to get the schema back.
    fn structured_part(self, shape: &RequestShape<'_>) -> serde_json::Map<String, Value> {
        let mut part = serde_json::Map::new();
        match self.output {
            AnthropicOutput::OutputFormat => {
                part.insert(
                    "output_config".into(),
                    json!({"format": {"type": "json_schema",
                        "schema": super::schema::for_structured_output(shape.schema)}}),
                );
            }
            AnthropicOutput::Tool => {
                part.insert(
                    "tools".into(),
                    json!([{"name": shape.schema_name, "description": TOOL_DESCRIPTION,
                        "input_schema": shape.schema}]),
                );
                part.insert(
                    "tool_choice".into(),
                    json!({"type": "tool", "name": shape.schema_name}),
                );
            }
        }
        part
    }

    fn prepare(self, shape: &RequestShape<'_>) -> Result<AnthropicEncoder, String> {
        let mut head = b"{\"model\":".to_vec();
        head.extend(to_bytes(&shape.model)?);
        let max_tokens = shape
            .parameters
            .get("max_completion_tokens")
            .and_then(Value::as_u64)
            .unwrap_or(DEFAULT_MAX_TOKENS);
        head.extend_from_slice(format!(",\"max_tokens\":{max_tokens}").as_bytes());
        for (key, value) in shape.parameters {
            if key == "max_completion_tokens" {
                continue;
            }
            head.push(b',');
            head.extend(to_bytes(key)?);
            head.push(b':');
            head.extend(to_bytes(value)?);
        }
        head.push(b',');
        let mut tail = b"]".to_vec();
        for (key, value) in self.structured_part(shape) {
            tail.push(b',');
            tail.extend(to_bytes(&key)?);
            tail.push(b':');
            tail.extend(to_bytes(&value)?);
        }
        tail.push(b'}');
        Ok(AnthropicEncoder { head, tail })
    }
}

impl RequestEncoder for AnthropicEncoder {
    fn line_start(&self) -> &[u8] {
        b"{\"custom_id\":\""
    }

    fn after_custom_id(&self) -> &[u8] {
        b"\",\"params\":"
    }

    fn body_head(&self) -> &[u8] {
        &self.head
    }

    fn system_prefix(&self, text: &str) -> Vec<u8> {
        // A text block marked as the end of the cacheable prefix (tools, then system): every
        // request of a job shares it byte for byte, so the provider's prompt cache can serve it
        // (below the model's minimum cacheable length the mark is ignored).
        let mut out = b"\"system\":[{\"type\":\"text\",\"text\":".to_vec();
        // Writing a str into a Vec cannot fail.
        let _ = serde_json::to_writer(&mut out, text);
        out.extend_from_slice(b",\"cache_control\":{\"type\":\"ephemeral\"}}],\"messages\":[");
        out
    }

    fn no_system_prefix(&self) -> &[u8] {
        b"\"messages\":["
    }

    fn write_message(&self, out: &mut Vec<u8>, role: &str, content: &str) {
        // Messages take only `user` and `assistant` turns; a plugin's mid-conversation
        // `system` text is sent as the user's.
        let role = if role == "assistant" {
            "assistant"
        } else {
            "user"
        };
        crate::openai::write_chat_message(out, role, content);
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
struct Line {
    custom_id: String,
    result: LineOutcome,
}

#[derive(Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum LineOutcome {
    Succeeded { message: Value },
    Errored { error: Value },
    Canceled,
    Expired,
}

#[derive(Deserialize)]
struct Message {
    #[serde(default)]
    model: Option<String>,
    #[serde(default)]
    content: Vec<Value>,
    #[serde(default)]
    stop_reason: Option<String>,
    #[serde(default)]
    usage: MessageUsage,
}

#[derive(Deserialize, Default)]
#[expect(
    clippy::struct_field_names,
    reason = "the field names of Anthropic's `Usage`"
)]
struct MessageUsage {
    #[serde(default)]
    input_tokens: u64,
    #[serde(default)]
    output_tokens: u64,
    #[serde(default)]
    cache_creation_input_tokens: Option<u64>,
    #[serde(default)]
    cache_read_input_tokens: Option<u64>,
}

/// The HTTP status an Anthropic error type stands for.
fn status_of(kind: &str) -> u16 {
    match kind {
        "invalid_request_error" => 400,
        "authentication_error" => 401,
        "billing_error" => 402,
        "permission_error" => 403,
        "not_found_error" => 404,
        "request_too_large" => 413,
        "rate_limit_error" => 429,
        "overloaded_error" => 529,
        _ => 500,
    }
}

/// An `ErrorResponse` (`{"type": "error", "error": {"type", "message"}}`) as a rejection.
fn rejection(error: &Value, status: Option<u16>) -> LineResult {
    let inner = error.get("error").unwrap_or(error);
    let kind = inner["type"].as_str().unwrap_or("api_error");
    let message = inner["message"].as_str().unwrap_or("no message");
    LineResult::Rejected {
        status: status.unwrap_or_else(|| status_of(kind)),
        message: format!("{message} ({kind})"),
    }
}

fn decode_message(message: Value) -> LineResult {
    let message: Message = match serde_json::from_value(message) {
        Ok(message) => message,
        Err(error) => {
            return LineResult::Malformed {
                detail: format!("the result is not a Message: {error}"),
                usage: Usage::default(),
            };
        }
    };
    let cached = message.usage.cache_read_input_tokens.unwrap_or(0);
    let usage = Usage {
        // Anthropic counts cache reads and writes apart from `input_tokens`.
        input_tokens: message.usage.input_tokens
            + cached
            + message.usage.cache_creation_input_tokens.unwrap_or(0),
        output_tokens: message.usage.output_tokens,
        cached_input_tokens: cached,
    };
    let tool_input = message
        .content
        .iter()
        .find(|block| block["type"] == "tool_use")
        .map(|block| block["input"].to_string());
    let text: String = message
        .content
        .iter()
        .filter(|block| block["type"] == "text")
        .filter_map(|block| block["text"].as_str())
        .collect();
    let refused = message.stop_reason.as_deref() == Some("refusal");
    let finish = match message.stop_reason.as_deref() {
        Some("max_tokens" | "model_context_window_exceeded") => Finish::Truncated,
        _ => Finish::Complete,
    };
    let (content, refusal) = match (refused, tool_input) {
        (true, _) => (
            None,
            Some(if text.is_empty() {
                "refused".into()
            } else {
                text
            }),
        ),
        (false, Some(input)) => (Some(input), None),
        (false, None) if text.is_empty() => (None, None),
        (false, None) => (Some(text), None),
    };
    LineResult::Answered(Answer {
        content,
        refusal,
        finish,
        usage,
        model_snapshot: message.model,
        scores: None,
    })
}

impl Codec for AnthropicCodec {
    fn endpoint(&self) -> &'static str {
        "/v1/messages"
    }

    fn fixed_request_part(&self, shape: &RequestShape<'_>) -> Value {
        Value::Object(self.structured_part(shape))
    }

    fn scoped_custom_ids(&self) -> bool {
        // Message batches carry no metadata: the scope in each custom_id is what tells this
        // job's batches from another job's over the same rows (see `provider.rs`).
        true
    }

    fn encoder(&self, shape: &RequestShape<'_>) -> Result<Box<dyn RequestEncoder>, String> {
        Ok(Box::new(self.prepare(shape)?))
    }

    fn decode_result_line(&self, line: &[u8]) -> Option<ResultLine> {
        let line: Line = serde_json::from_slice(line).ok()?;
        let result = match line.result {
            LineOutcome::Succeeded { message } => decode_message(message),
            LineOutcome::Errored { error } => rejection(&error, None),
            LineOutcome::Canceled => LineResult::NotRun {
                reason: NotRun::Cancelled,
                detail: "canceled: the batch was canceled before this request ran".into(),
            },
            LineOutcome::Expired => LineResult::NotRun {
                reason: NotRun::Expired,
                detail: "expired: the batch ended before this request ran".into(),
            },
        };
        Some(ResultLine {
            custom_id: line.custom_id,
            result,
        })
    }

    fn decode_answer(&self, status: u16, body: &str) -> LineResult {
        let value: Value = match serde_json::from_str(body) {
            Ok(value) => value,
            Err(_) if status == 200 => {
                return LineResult::Malformed {
                    detail: "the answer is not JSON".into(),
                    usage: Usage::default(),
                };
            }
            Err(_) => {
                return LineResult::Rejected {
                    status,
                    message: body.chars().take(200).collect(),
                };
            }
        };
        if status == 200 {
            decode_message(value)
        } else {
            rejection(&value, Some(status))
        }
    }

    fn request_body(&self, line: &str) -> Result<Value, String> {
        let mut value: Value = serde_json::from_str(line).map_err(|error| error.to_string())?;
        match value.get_mut("params") {
            Some(params) => Ok(params.take()),
            None => Err("the request line has no `params`".into()),
        }
    }

    fn conversation(&self, line: &str) -> Result<crate::codec::Conversation, String> {
        let params = self.request_body(line)?;
        let system = match &params["system"] {
            Value::Null => None,
            Value::String(text) => Some(text.clone()),
            Value::Array(blocks) => {
                let texts: Option<Vec<&str>> =
                    blocks.iter().map(|block| block["text"].as_str()).collect();
                Some(
                    texts
                        .ok_or("the system prompt is not text blocks")?
                        .join("\n"),
                )
            }
            _ => return Err("the system prompt is not text".into()),
        };
        crate::codec::conversation_of(system, &params["messages"])
    }

    fn add_feedback(&self, line: &str, previous: &str, feedback: &str) -> Result<String, String> {
        let mut value: Value = serde_json::from_str(line).map_err(|error| error.to_string())?;
        let Some(messages) = value["params"]["messages"].as_array_mut() else {
            return Err("the request line has no `params.messages`".into());
        };
        // Anthropic refuses an empty turn.
        let previous = if previous.trim().is_empty() {
            "(no answer)"
        } else {
            previous
        };
        messages.push(json!({"role": "assistant", "content": previous}));
        messages.push(json!({"role": "user", "content": feedback}));
        Ok(value.to_string())
    }
}

#[cfg(test)]
#[path = "codec_tests.rs"]
mod tests;
