//! A provider's wire format, without the network: how a request line is written, how a result
//! line is read into a provider-neutral [`LineResult`], and how a rejected answer is asked
//! again with feedback. Compile writes lines through a [`RequestEncoder`]; ingest, pilot and
//! retry read and rewrite them through the [`Codec`]. Nothing outside a provider's folder
//! knows its format.

use batchlabel_spec::Job;
use serde_json::Value;

/// What every request of a job asks for, in neutral terms.
#[derive(Debug, Clone, Copy)]
pub struct RequestShape<'a> {
    /// The model name.
    pub model: &'a str,
    /// Request parameters besides the model and the conversation, in the spec's order.
    pub parameters: &'a serde_json::Map<String, Value>,
    /// The name of the output schema (`[a-zA-Z0-9_-]{1,64}`).
    pub schema_name: &'a str,
    /// The strict output schema every answer must follow.
    pub schema: &'a Value,
}

impl<'a> RequestShape<'a> {
    /// The shape of `job`'s requests.
    pub fn of(job: &'a Job) -> Self {
        Self {
            model: job.model.request_model(),
            parameters: &job.model.parameters,
            schema_name: &job.structured_output.name,
            schema: &job.structured_output.schema,
        }
    }
}

/// Writes request lines of one job. The fixed parts are prepared once; per row only the
/// custom_id and the conversation are written. A line is, in order:
/// `line_start` custom_id `after_custom_id` `body_head` (`system_prefix` | `no_system_prefix`)
/// message (`message_separator` message)* `body_tail` `line_end`.
pub trait RequestEncoder: Send + Sync {
    /// Everything before the custom_id.
    fn line_start(&self) -> &[u8];
    /// From the custom_id's end to the start of the request body.
    fn after_custom_id(&self) -> &[u8];
    /// The body's fixed opening, up to the conversation.
    fn body_head(&self) -> &[u8];
    /// The system prompt's bytes, placed before the first message.
    fn system_prefix(&self, text: &str) -> Vec<u8>;
    /// What stands where a system prompt would when there is none.
    fn no_system_prefix(&self) -> &[u8];
    /// One message (`user`, `assistant`, or a plugin's `system`).
    fn write_message(&self, out: &mut Vec<u8>, role: &str, content: &str);
    /// Between two messages.
    fn message_separator(&self) -> &[u8];
    /// The body's fixed end, after the last message.
    fn body_tail(&self) -> &[u8];
    /// From the body's end to the end of the line, newline included.
    fn line_end(&self) -> &[u8];
}

/// How an answer ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Finish {
    /// The model finished its answer.
    Complete,
    /// Cut off by the output-token limit.
    Truncated,
    /// Stopped by the provider's content filter.
    Filtered,
}

/// Tokens one request used.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Usage {
    /// Prompt tokens.
    pub input_tokens: u64,
    /// Completion tokens.
    pub output_tokens: u64,
    /// Prompt tokens served from the provider's cache (included in `input_tokens`).
    pub cached_input_tokens: u64,
}

/// A model's answer to one request.
#[derive(Debug, Clone)]
pub struct Answer {
    /// The structured output's text (JSON), when there is one.
    pub content: Option<String>,
    /// The model's refusal, when it refused.
    pub refusal: Option<String>,
    /// How it ended.
    pub finish: Finish,
    /// Tokens used.
    pub usage: Usage,
    /// The model snapshot that answered.
    pub model_snapshot: Option<String>,
    /// Raw per-label scores (the local model), as JSON text.
    pub scores: Option<String>,
}

/// Why a request was not run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NotRun {
    /// The batch expired first.
    Expired,
    /// The batch was cancelled first.
    Cancelled,
    /// The request timed out.
    Timeout,
    /// The result line says nothing about it (neither an answer nor an error).
    NoAnswer,
    /// Any other reason the provider gave.
    Other,
}

/// What a provider said about one request.
#[derive(Debug, Clone)]
pub enum LineResult {
    /// The model answered.
    Answered(Answer),
    /// The provider rejected the request with an HTTP status.
    Rejected {
        /// The status.
        status: u16,
        /// The provider's message (and code).
        message: String,
    },
    /// The request never ran.
    NotRun {
        /// Why.
        reason: NotRun,
        /// The provider's words.
        detail: String,
    },
    /// The answer is not what the format says.
    Malformed {
        /// What is wrong.
        detail: String,
        /// Tokens it used, when known.
        usage: Usage,
    },
}

/// A request line's conversation as the job's templates rendered it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Conversation {
    /// The system prompt, if any.
    pub system: Option<String>,
    /// The other messages, in order: role and text.
    pub messages: Vec<(String, String)>,
}

/// One line of a result file.
#[derive(Debug, Clone)]
pub struct ResultLine {
    /// The request it answers.
    pub custom_id: String,
    /// What happened.
    pub result: LineResult,
}

/// A provider's wire format.
pub trait Codec: Send + Sync {
    /// What the request lines target (recorded in a compile's manifest).
    fn endpoint(&self) -> &'static str;

    /// What every request of the job carries besides the model, its parameters and the
    /// conversation, in this format (OpenAI: the `response_format`): part of the request
    /// salt, so a cached answer is only reused for a request asked the same way.
    fn fixed_request_part(&self, shape: &RequestShape<'_>) -> Value;

    /// The encoder of one job's request lines.
    fn encoder(&self, shape: &RequestShape<'_>) -> Result<Box<dyn RequestEncoder>, String>;

    /// A result line; `None` when the line cannot be read at all.
    fn decode_result_line(&self, line: &[u8]) -> Option<ResultLine>;

    /// A synchronous answer (HTTP status and body), as `pilot` gets it.
    fn decode_answer(&self, status: u16, body: &str) -> LineResult;

    /// The request body of a request line, as the synchronous endpoint takes it.
    fn request_body(&self, line: &str) -> Result<Value, String>;

    /// A request line's system prompt and messages (to pack rows into one request).
    fn conversation(&self, line: &str) -> Result<Conversation, String>;

    /// The request line asked again: the rejected answer and the feedback appended to the
    /// conversation.
    fn add_feedback(&self, line: &str, previous: &str, feedback: &str) -> Result<String, String>;

    /// Whether custom_ids carry the job's scope (`s<8 hex>-`): for providers whose batches
    /// carry no metadata, so that a batch's results name the job they belong to.
    fn scoped_custom_ids(&self) -> bool {
        false
    }

    /// The custom_id of a request line (every format here writes it first).
    fn request_custom_id(&self, line: &[u8]) -> Option<String> {
        const PREFIX: &[u8] = br#"{"custom_id":""#;
        let fast = line
            .strip_prefix(PREFIX)
            .and_then(|rest| {
                rest.iter()
                    .position(|byte| *byte == b'"')
                    .map(|end| &rest[..end])
            })
            .and_then(|id| std::str::from_utf8(id).ok());
        match fast {
            Some(id) if !id.contains('\\') => Some(id.to_string()),
            _ => serde_json::from_slice::<Value>(line)
                .ok()?
                .get("custom_id")?
                .as_str()
                .map(str::to_string),
        }
    }
}

/// The conversation of a chat body's `messages` (text contents only); a leading `system`
/// message is the system prompt unless `system` is given apart.
pub(crate) fn conversation_of(
    system: Option<String>,
    messages: &Value,
) -> Result<Conversation, String> {
    let mut conversation = Conversation {
        system,
        messages: Vec::new(),
    };
    let messages = messages
        .as_array()
        .ok_or("the request has no `messages` list")?;
    for (index, message) in messages.iter().enumerate() {
        let role = message["role"].as_str().unwrap_or_default();
        let Some(content) = message["content"].as_str() else {
            return Err(format!("message {index} has no text content"));
        };
        if index == 0 && role == "system" && conversation.system.is_none() {
            conversation.system = Some(content.to_string());
        } else {
            conversation
                .messages
                .push((role.to_string(), content.to_string()));
        }
    }
    Ok(conversation)
}

/// Request line `r-1` written by `encoder` as the compiler writes one: the system prompt (or
/// none), then `turns` (role, text) in order. For the codecs' own tests.
#[cfg(test)]
pub(crate) fn encode_line(
    encoder: &dyn RequestEncoder,
    system: Option<&str>,
    turns: &[(&str, &str)],
) -> Vec<u8> {
    let mut line = encoder.line_start().to_vec();
    line.extend_from_slice(b"r-1");
    line.extend_from_slice(encoder.after_custom_id());
    line.extend_from_slice(encoder.body_head());
    match system {
        Some(text) => line.extend(encoder.system_prefix(text)),
        None => line.extend_from_slice(encoder.no_system_prefix()),
    }
    for (index, (role, text)) in turns.iter().enumerate() {
        if index > 0 {
            line.extend_from_slice(encoder.message_separator());
        }
        encoder.write_message(&mut line, role, text);
    }
    line.extend_from_slice(encoder.body_tail());
    line.extend_from_slice(encoder.line_end());
    line
}

/// One request line as `codec` writes it for `model` (temperature 0, a 20-token cap, seed
/// 7, system "Label it.", user "fine"), and parsed: for the codecs' own tests.
#[cfg(test)]
pub(crate) fn sample_line(codec: &dyn Codec, model: &str) -> (Vec<u8>, serde_json::Value) {
    let parameters = serde_json::Map::from_iter([
        ("temperature".to_string(), serde_json::Value::from(0)),
        (
            "max_completion_tokens".to_string(),
            serde_json::Value::from(20),
        ),
        ("seed".to_string(), serde_json::Value::from(7)),
    ]);
    let schema = serde_json::json!({"type": "object"});
    let shape = RequestShape {
        model,
        parameters: &parameters,
        schema_name: "labels",
        schema: &schema,
    };
    let encoder = codec.encoder(&shape).expect("encoder");
    let line = encode_line(encoder.as_ref(), Some("Label it."), &[("user", "fine")]);
    let value = serde_json::from_slice(&line).expect("valid JSON");
    (line, value)
}
