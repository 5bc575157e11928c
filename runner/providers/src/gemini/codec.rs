//! The Gemini batch line format: request lines `{"key", "request":
//! GenerateContentRequest}` — the system prompt as `systemInstruction`, turns as `contents`
//! (`user` / `model`), sampling and the label schema in `generationConfig` (`responseMimeType`
//! + `responseSchema`, see `schema.rs`) — and result lines `{"key", "response":
//! GenerateContentResponse}` or `{"key", "error": Status}`.

use serde::Deserialize;
use serde_json::{Map, Value, json};

use crate::codec::{
    Answer, Codec, Conversation, Finish, LineResult, NotRun, RequestEncoder, RequestShape,
    ResultLine, Usage,
};

/// The Gemini `generateContent` batch format.
#[derive(Debug, Clone, Copy, Default)]
pub struct GeminiCodec;

/// A neutral parameter's place in `generationConfig`, if it has one there.
fn generation_name(key: &str) -> Option<&'static str> {
    match key {
        "temperature" => Some("temperature"),
        "top_p" => Some("topP"),
        "max_completion_tokens" => Some("maxOutputTokens"),
        "seed" => Some("seed"),
        _ => None,
    }
}

fn generation_config(shape: &RequestShape<'_>) -> Result<Value, String> {
    let schema = super::schema::response_schema(shape.schema).map_err(|problems| {
        problems
            .iter()
            .map(|problem| format!("{}: {}", problem.pointer, problem.message))
            .collect::<Vec<_>>()
            .join("; ")
    })?;
    let mut config = Map::new();
    for (key, value) in shape.parameters {
        if let Some(name) = generation_name(key) {
            config.insert(name.into(), value.clone());
        }
    }
    config.insert("responseMimeType".into(), json!("application/json"));
    config.insert("responseSchema".into(), schema);
    Ok(Value::Object(config))
}

struct GeminiEncoder {
    head: Vec<u8>,
    tail: Vec<u8>,
}

fn to_bytes(value: &impl serde::Serialize) -> Result<Vec<u8>, String> {
    serde_json::to_vec(value).map_err(|error| error.to_string())
}

/// One turn: `{"role":"user","parts":[{"text":"…"}]}`.
fn write_turn(out: &mut Vec<u8>, role: &str, text: &str) {
    // Contents take only `user` and `model` turns; a plugin's mid-conversation `system` text
    // is sent as the user's.
    let role: &[u8] = if role == "assistant" {
        b"model"
    } else {
        b"user"
    };
    out.extend_from_slice(b"{\"role\":\"");
    out.extend_from_slice(role);
    out.extend_from_slice(b"\",\"parts\":[{\"text\":");
    // Writing a str into a Vec cannot fail.
    let _ = serde_json::to_writer(&mut *out, text);
    out.extend_from_slice(b"}]}");
}

impl RequestEncoder for GeminiEncoder {
    fn line_start(&self) -> &[u8] {
        b"{\"key\":\""
    }

    fn after_custom_id(&self) -> &[u8] {
        b"\",\"request\":"
    }

    fn body_head(&self) -> &[u8] {
        &self.head
    }

    fn system_prefix(&self, text: &str) -> Vec<u8> {
        let mut out = b"\"systemInstruction\":{\"parts\":[{\"text\":".to_vec();
        let _ = serde_json::to_writer(&mut out, text);
        out.extend_from_slice(b"}]},\"contents\":[");
        out
    }

    fn no_system_prefix(&self) -> &[u8] {
        b"\"contents\":["
    }

    fn write_message(&self, out: &mut Vec<u8>, role: &str, content: &str) {
        write_turn(out, role, content);
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

impl GeminiCodec {
    fn prepare(shape: &RequestShape<'_>) -> Result<GeminiEncoder, String> {
        // Parameters without a `generationConfig` place (the spec's `extra_body`:
        // `safetySettings`, `cachedContent`…) are fields of the request itself.
        let mut head = b"{".to_vec();
        for (key, value) in shape.parameters {
            if generation_name(key).is_none() {
                head.extend(to_bytes(key)?);
                head.push(b':');
                head.extend(to_bytes(value)?);
                head.push(b',');
            }
        }
        let mut tail = b"],\"generationConfig\":".to_vec();
        tail.extend(to_bytes(&generation_config(shape)?)?);
        tail.push(b'}');
        Ok(GeminiEncoder { head, tail })
    }
}

#[derive(Deserialize)]
struct Line {
    key: String,
    #[serde(default)]
    response: Option<Value>,
    #[serde(default, alias = "status")]
    error: Option<Status>,
}

#[derive(Deserialize, Default)]
struct Status {
    #[serde(default)]
    code: Option<i64>,
    #[serde(default)]
    message: String,
    /// The status's name (`INVALID_ARGUMENT`…).
    #[serde(default, rename = "status")]
    name: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Response {
    #[serde(default)]
    candidates: Vec<Candidate>,
    #[serde(default)]
    prompt_feedback: Option<PromptFeedback>,
    #[serde(default)]
    usage_metadata: Option<UsageMetadata>,
    #[serde(default)]
    model_version: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Candidate {
    #[serde(default)]
    content: Option<Content>,
    #[serde(default)]
    finish_reason: Option<String>,
}

#[derive(Deserialize)]
struct Content {
    #[serde(default)]
    parts: Vec<Part>,
}

#[derive(Deserialize)]
struct Part {
    #[serde(default)]
    text: Option<String>,
    /// A thinking model's thought summary: not the answer.
    #[serde(default)]
    thought: bool,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct PromptFeedback {
    #[serde(default)]
    block_reason: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
#[expect(clippy::struct_field_names, reason = "the API's own field names")]
struct UsageMetadata {
    #[serde(default)]
    prompt_token_count: u64,
    #[serde(default)]
    candidates_token_count: u64,
    #[serde(default)]
    thoughts_token_count: u64,
    #[serde(default)]
    cached_content_token_count: u64,
}

/// An HTTP error's body.
#[derive(Deserialize)]
struct Envelope {
    error: Status,
}

fn finish(reason: Option<&str>) -> Finish {
    match reason {
        Some("MAX_TOKENS") => Finish::Truncated,
        Some(
            "SAFETY"
            | "RECITATION"
            | "BLOCKLIST"
            | "PROHIBITED_CONTENT"
            | "SPII"
            | "IMAGE_SAFETY"
            | "IMAGE_PROHIBITED_CONTENT",
        ) => Finish::Filtered,
        _ => Finish::Complete,
    }
}

fn decode_response(body: &str) -> LineResult {
    let response: Response = match serde_json::from_str(body) {
        Ok(response) => response,
        Err(error) => {
            return LineResult::Malformed {
                detail: format!("the response is not a GenerateContentResponse: {error}"),
                usage: Usage::default(),
            };
        }
    };
    let usage = response.usage_metadata.unwrap_or_default();
    let usage = Usage {
        input_tokens: usage.prompt_token_count,
        // Thinking tokens are billed as output.
        output_tokens: usage.candidates_token_count + usage.thoughts_token_count,
        cached_input_tokens: usage.cached_content_token_count,
    };
    let Some(candidate) = response.candidates.into_iter().next() else {
        let blocked = response
            .prompt_feedback
            .and_then(|feedback| feedback.block_reason)
            .unwrap_or_else(|| "no candidates".into());
        return LineResult::Answered(Answer {
            content: None,
            refusal: Some(format!("the prompt was blocked ({blocked})")),
            finish: Finish::Filtered,
            usage,
            model_snapshot: response.model_version,
            scores: None,
        });
    };
    let text: String = candidate
        .content
        .iter()
        .flat_map(|content| &content.parts)
        .filter(|part| !part.thought)
        .filter_map(|part| part.text.as_deref())
        .collect();
    LineResult::Answered(Answer {
        content: (!text.is_empty()).then_some(text),
        refusal: None,
        finish: finish(candidate.finish_reason.as_deref()),
        usage,
        model_snapshot: response.model_version,
        scores: None,
    })
}

/// The HTTP status of a status object's code: an HTTP code as it is, a `google.rpc.Code`
/// (what a Status carries) as the status Google maps it to.
fn http_status(code: i64) -> Option<u16> {
    Some(match code {
        400..=599 => code as u16,
        3 | 9 | 11 => 400,
        16 => 401,
        7 => 403,
        5 => 404,
        6 | 10 => 409,
        8 => 429,
        1 => 499,
        2 | 13 | 15 => 500,
        12 => 501,
        14 => 503,
        4 => 504,
        _ => return None,
    })
}

fn status_text(status: &Status) -> String {
    match &status.name {
        Some(name) => format!("{} ({name})", status.message),
        None => status.message.clone(),
    }
}

/// The text of the `parts` of a `Content`.
fn parts_text(content: &Value) -> Option<String> {
    let parts = content.get("parts")?.as_array()?;
    Some(
        parts
            .iter()
            .filter_map(|part| part["text"].as_str())
            .collect(),
    )
}

impl Codec for GeminiCodec {
    fn endpoint(&self) -> &'static str {
        "generateContent"
    }

    fn fixed_request_part(&self, shape: &RequestShape<'_>) -> Value {
        generation_config(shape).unwrap_or_else(|problem| json!({"unconvertible": problem}))
    }

    fn encoder(&self, shape: &RequestShape<'_>) -> Result<Box<dyn RequestEncoder>, String> {
        Ok(Box::new(Self::prepare(shape)?))
    }

    fn decode_result_line(&self, line: &[u8]) -> Option<ResultLine> {
        let parsed: Line = serde_json::from_slice(line).ok()?;
        let result = match (&parsed.response, &parsed.error) {
            (Some(response), _) => decode_response(&response.to_string()),
            (None, Some(error)) => match error.code.and_then(http_status) {
                Some(status) => LineResult::Rejected {
                    status,
                    message: status_text(error),
                },
                _ => LineResult::NotRun {
                    reason: NotRun::Other,
                    detail: status_text(error),
                },
            },
            (None, None) => LineResult::NotRun {
                reason: NotRun::NoAnswer,
                detail: "line has neither response nor error".into(),
            },
        };
        Some(ResultLine {
            custom_id: parsed.key,
            result,
        })
    }

    fn decode_answer(&self, status: u16, body: &str) -> LineResult {
        if status == 200 {
            return decode_response(body);
        }
        let message = serde_json::from_str::<Envelope>(body).map_or_else(
            |_| body.chars().take(200).collect(),
            |envelope| status_text(&envelope.error),
        );
        LineResult::Rejected { status, message }
    }

    fn request_body(&self, line: &str) -> Result<Value, String> {
        let mut value: Value = serde_json::from_str(line).map_err(|error| error.to_string())?;
        match value.get_mut("request") {
            Some(request) => Ok(request.take()),
            None => Err("the request line has no `request`".into()),
        }
    }

    fn conversation(&self, line: &str) -> Result<Conversation, String> {
        let request = self.request_body(line)?;
        let system = request.get("systemInstruction").and_then(parts_text);
        let contents = request["contents"]
            .as_array()
            .ok_or("the request has no `contents` list")?;
        let mut messages = Vec::new();
        for (index, turn) in contents.iter().enumerate() {
            let role = match turn["role"].as_str() {
                Some("model") => "assistant",
                _ => "user",
            };
            let text = parts_text(turn).ok_or(format!("turn {index} has no text parts"))?;
            messages.push((role.to_string(), text));
        }
        Ok(Conversation { system, messages })
    }

    fn add_feedback(&self, line: &str, previous: &str, feedback: &str) -> Result<String, String> {
        let mut value: Value = serde_json::from_str(line).map_err(|error| error.to_string())?;
        let Some(contents) = value["request"]["contents"].as_array_mut() else {
            return Err("the request line has no `request.contents`".into());
        };
        contents.push(json!({"role": "model", "parts": [{"text": previous}]}));
        contents.push(json!({"role": "user", "parts": [{"text": feedback}]}));
        Ok(value.to_string())
    }

    fn request_custom_id(&self, line: &[u8]) -> Option<String> {
        const PREFIX: &[u8] = br#"{"key":""#;
        let fast = line.strip_prefix(PREFIX).and_then(|rest| {
            let end = rest.iter().position(|byte| *byte == b'"')?;
            std::str::from_utf8(&rest[..end]).ok()
        });
        match fast {
            Some(id) if !id.contains('\\') => Some(id.to_string()),
            _ => serde_json::from_slice::<Value>(line)
                .ok()?
                .get("key")?
                .as_str()
                .map(str::to_string),
        }
    }
}

#[cfg(test)]
#[path = "codec_tests.rs"]
mod tests;
