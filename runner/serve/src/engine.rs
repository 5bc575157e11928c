//! Who answers a chat-completions request: the deterministic `scripted` engine, or an
//! `upstream` OpenAI-compatible server. Both return an HTTP status and a JSON body, exactly
//! what a batch output line carries.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use std::borrow::Cow;

use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use serde_json::{Value, json};

/// The answering engine.
#[derive(Debug, Clone)]
pub enum Engine {
    /// Deterministic answers: the first matching [`Rule`], else a schema-valid answer derived
    /// from the request's `response_format` and a hash of its last message.
    Scripted(std::sync::Arc<Script>),
    /// Forward each request to `{url}/chat/completions` (e.g. a llama.cpp or vLLM server).
    Upstream {
        /// Base URL, e.g. `http://127.0.0.1:8080/v1`.
        url: String,
        /// Bearer key for the upstream, if it needs one.
        api_key: Option<String>,
    },
    /// A model in this process (the embedded local model), one request at a time.
    InProcess(std::sync::Arc<dyn Responder>),
}

/// A model in this process that answers chat-completions bodies.
pub trait Responder: Send + Sync + std::fmt::Debug {
    /// Answer one request body (JSON text).
    fn respond(&self, body: &str) -> Answer;
}

/// Rules a test writes to control answers (a JSON array of [`Rule`]).
#[derive(Debug, Default)]
pub struct Script {
    rules: Vec<(Rule, AtomicU64)>,
    /// Count usage with the o200k_base tokenizer instead of characters / 4 (slower).
    exact_usage: bool,
    /// Faults in packed answers.
    pack_faults: crate::packed::PackFaults,
}

/// One rule: when the last message contains `contains`, answer this way.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Rule {
    /// Substring of the last message's content; absent matches every request.
    #[serde(default)]
    pub contains: Option<String>,
    /// Exact message content to answer (need not be valid JSON).
    #[serde(default)]
    pub content: Option<String>,
    /// Answer with a refusal (content null).
    #[serde(default)]
    pub refusal: Option<String>,
    /// `stop` unless set (e.g. `length`).
    #[serde(default)]
    pub finish_reason: Option<String>,
    /// A non-200 status answers an error body instead.
    #[serde(default)]
    pub status: Option<u16>,
    /// Apply to the first N matches only.
    #[serde(default)]
    pub times: Option<u64>,
}

impl Script {
    /// Rules in order; the first that matches wins.
    pub fn new(rules: Vec<Rule>) -> Self {
        Self {
            rules: rules
                .into_iter()
                .map(|rule| (rule, AtomicU64::new(0)))
                .collect(),
            exact_usage: false,
            pack_faults: crate::packed::PackFaults::default(),
        }
    }

    /// Inject these faults into packed answers.
    #[must_use]
    pub fn with_pack_faults(mut self, faults: crate::packed::PackFaults) -> Self {
        self.pack_faults = faults;
        self
    }

    pub(crate) fn pack_faults(&self) -> &crate::packed::PackFaults {
        &self.pack_faults
    }

    /// Report usage counted with `o200k_base` (gpt-4o-mini's tokenizer), as the provider
    /// would, instead of the quick characters / 4: for checking token counts and costs.
    #[must_use]
    pub fn with_exact_usage(mut self, exact: bool) -> Self {
        self.exact_usage = exact;
        self
    }

    /// Parse a rules file's text.
    pub fn parse(text: &str) -> Result<Self, serde_json::Error> {
        Ok(Self::new(serde_json::from_str(text)?))
    }

    pub(crate) fn matching(&self, last_message: &str) -> Option<&Rule> {
        self.rules.iter().find_map(|(rule, uses)| {
            let matches = rule
                .contains
                .as_deref()
                .is_none_or(|needle| last_message.contains(needle));
            if !matches {
                return None;
            }
            if let Some(times) = rule.times
                && uses.fetch_add(1, Ordering::Relaxed) >= times
            {
                return None;
            }
            Some(rule)
        })
    }
}

/// One answer: the HTTP status and the serialized JSON body, with what the batch totals need.
#[derive(Debug, Clone)]
pub struct Answer {
    /// HTTP status.
    pub status: u16,
    /// The JSON body, serialized.
    pub body: String,
    /// `usage.prompt_tokens`.
    pub prompt_tokens: u64,
    /// `usage.completion_tokens`.
    pub completion_tokens: u64,
    /// The model that answered.
    pub model: Option<String>,
}

impl Answer {
    /// An error answer in OpenAI's envelope.
    pub fn error(status: u16, message: &str, kind: &str) -> Self {
        Self {
            status,
            body: error_body(message, kind).to_string(),
            prompt_tokens: 0,
            completion_tokens: 0,
            model: None,
        }
    }
}

impl Engine {
    /// Answer one chat-completions request body (raw JSON).
    pub fn answer(&self, body: &str, client: &reqwest::blocking::Client) -> Answer {
        match self {
            Engine::Scripted(script) => scripted_answer(script, body),
            Engine::InProcess(responder) => responder.respond(body),
            Engine::Upstream { url, api_key } => {
                let mut request = client
                    .post(format!("{}/chat/completions", url.trim_end_matches('/')))
                    .timeout(Duration::from_mins(10))
                    .header("content-type", "application/json")
                    .body(body.to_string());
                if let Some(key) = api_key {
                    request = request.bearer_auth(key);
                }
                let response = match request.send() {
                    Ok(response) => response,
                    Err(error) => {
                        return Answer::error(
                            502,
                            &format!("upstream unreachable: {error}"),
                            "server_error",
                        );
                    }
                };
                let status = response.status().as_u16();
                match response.json::<Value>() {
                    Ok(value) => Answer {
                        status,
                        prompt_tokens: value["usage"]["prompt_tokens"].as_u64().unwrap_or(0),
                        completion_tokens: value["usage"]["completion_tokens"]
                            .as_u64()
                            .unwrap_or(0),
                        model: value["model"].as_str().map(str::to_string),
                        body: value.to_string(),
                    },
                    Err(error) => Answer::error(
                        502,
                        &format!("upstream answered non-JSON: {error}"),
                        "server_error",
                    ),
                }
            }
        }
    }
}

pub(crate) fn error_body(message: &str, kind: &str) -> Value {
    json!({"error": {"message": message, "type": kind, "param": null, "code": null}})
}

/// The parts of a request the scripted engine reads, borrowed from the raw body.
#[derive(Deserialize)]
struct RequestView<'a> {
    #[serde(borrow, default)]
    model: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    messages: Vec<MessageView<'a>>,
    #[serde(borrow, default)]
    response_format: Option<&'a RawValue>,
}

#[derive(Deserialize)]
struct MessageView<'a> {
    #[serde(borrow, default)]
    content: Option<Cow<'a, str>>,
}

/// A response format's schema, and the schema's own JSON text (what a model's prompt
/// carries of it; empty when there is none).
#[derive(Clone)]
struct ParsedSchema {
    schema: Value,
    text: std::rc::Rc<str>,
}

thread_local! {
    /// The last response format seen and its schema: every line of a job shares one.
    static SCHEMA: std::cell::RefCell<Option<(String, ParsedSchema)>> = const { std::cell::RefCell::new(None) };
}

fn schema_of(response_format: Option<&RawValue>) -> ParsedSchema {
    let Some(raw) = response_format else {
        return ParsedSchema {
            schema: Value::Null,
            text: "".into(),
        };
    };
    SCHEMA.with(|cell| {
        let mut cached = cell.borrow_mut();
        if let Some((text, parsed)) = cached.as_ref()
            && text == raw.get()
        {
            return parsed.clone();
        }
        let format: Value = serde_json::from_str(raw.get()).unwrap_or(Value::Null);
        let schema = format["json_schema"]["schema"].clone();
        let text = if schema.is_null() {
            String::new()
        } else {
            schema.to_string()
        };
        let parsed = ParsedSchema {
            schema,
            text: text.into(),
        };
        *cached = Some((raw.get().to_string(), parsed.clone()));
        parsed
    })
}

#[derive(Serialize)]
struct Completion<'a> {
    id: String,
    object: &'static str,
    created: i64,
    model: String,
    choices: [Choice<'a>; 1],
    usage: Usage,
}

#[derive(Serialize)]
struct Choice<'a> {
    index: u32,
    message: ChoiceMessage<'a>,
    finish_reason: &'a str,
    logprobs: Option<()>,
}

#[derive(Serialize)]
struct ChoiceMessage<'a> {
    role: &'static str,
    content: Option<&'a str>,
    refusal: Option<&'a str>,
}

#[derive(Serialize)]
struct Usage {
    prompt_tokens: u64,
    completion_tokens: u64,
    total_tokens: u64,
    prompt_tokens_details: PromptDetails,
}

#[derive(Serialize)]
struct PromptDetails {
    cached_tokens: u64,
}

fn scripted_answer(script: &Script, body: &str) -> Answer {
    let Ok(request) = serde_json::from_str::<RequestView<'_>>(body) else {
        return Answer::error(
            400,
            "the body is not a chat-completions request",
            "invalid_request_error",
        );
    };
    let last = request
        .messages
        .last()
        .and_then(|message| message.content.as_deref())
        .unwrap_or("");
    let ParsedSchema {
        schema,
        text: schema_text,
    } = schema_of(request.response_format);
    // A packed request: its items are answered one by one (see `packed`).
    let whole_pack;
    let (rule, packed) = if batchlabel_protocol::pack::is_packed_schema(&schema) {
        match crate::packed::answer(script, &schema, last) {
            crate::packed::Packed::Whole(rule) => {
                whole_pack = rule;
                (Some(&*whole_pack), None)
            }
            crate::packed::Packed::Content(content) => (None, Some(content)),
        }
    } else {
        (script.matching(last), None)
    };
    if let Some(status) = rule.and_then(|rule| rule.status)
        && status != 200
    {
        return Answer::error(
            status,
            &format!("scripted error {status}"),
            "invalid_request_error",
        );
    }
    // Asked again after a rejected answer, the engine answers the row's own turn as it would
    // have: a row's default labels do not depend on the path it took.
    let mut own_turn = request.messages.len();
    while own_turn >= 3
        && request.messages[own_turn - 1]
            .content
            .as_deref()
            .is_some_and(|text| text.starts_with(batchlabel_protocol::FEEDBACK_PREFIX))
    {
        own_turn -= 2;
    }
    let row_turn = request.messages[..own_turn]
        .last()
        .and_then(|message| message.content.as_deref())
        .unwrap_or("");
    let hash = xxhash_rust::xxh3::xxh3_64(row_turn.as_bytes());
    let generated;
    let (content, refusal) = match rule {
        _ if packed.is_some() => (packed.as_deref(), None),
        Some(Rule {
            refusal: Some(refusal),
            ..
        }) => (None, Some(refusal.as_str())),
        Some(Rule {
            content: Some(content),
            ..
        }) => (Some(content.as_str()), None),
        _ => {
            generated = answer_for_schema(&schema, hash).to_string();
            (Some(generated.as_str()), None)
        }
    };
    let finish_reason = rule
        .and_then(|rule| rule.finish_reason.as_deref())
        .unwrap_or("stop");
    let contents: Vec<&str> = request
        .messages
        .iter()
        .map(|message| message.content.as_deref().unwrap_or_default())
        .collect();
    let count = if script.exact_usage {
        count_tokens
    } else {
        approximate_tokens
    };
    // Prompt tokens: each message's text with the chat format's 3 tokens per message and 3
    // to prime the reply (OpenAI's published figures), and the schema's text. Each part is
    // counted once: the system message and the schema are also the cacheable prefix.
    let message_tokens: Vec<u64> = contents.iter().map(|text| count(text)).collect();
    let schema_tokens = if schema_text.is_empty() {
        0
    } else {
        count(&schema_text)
    };
    let prompt_tokens =
        message_tokens.iter().map(|tokens| tokens + 3).sum::<u64>() + 3 + schema_tokens;
    let cached_tokens = message_tokens.first().map_or(0, |system| {
        cached_prefix(contents[0], &schema_text, system + 3 + schema_tokens)
    });
    let completion_tokens = content.map_or(1, count);
    let model = format!("{}-scripted", request.model.as_deref().unwrap_or("model"));
    let completion = Completion {
        id: format!("chatcmpl-{hash:016x}"),
        object: "chat.completion",
        created: crate::now(),
        model: model.clone(),
        choices: [Choice {
            index: 0,
            message: ChoiceMessage {
                role: "assistant",
                content,
                refusal,
            },
            finish_reason,
            logprobs: None,
        }],
        usage: Usage {
            prompt_tokens,
            completion_tokens,
            total_tokens: prompt_tokens + completion_tokens,
            prompt_tokens_details: PromptDetails { cached_tokens },
        },
    };
    Answer {
        status: 200,
        body: serde_json::to_string(&completion).unwrap_or_default(),
        prompt_tokens,
        completion_tokens,
        model: Some(model),
    }
}

/// Tokens of `text`, roughly: a quarter of its bytes, plus one.
fn approximate_tokens(text: &str) -> u64 {
    text.len() as u64 / 4 + 1
}

/// Tokens of `text` with `o200k_base` (the gpt-4o family's tokenizer): with `--exact-usage`
/// the scripted engine reports the usage such a model would, so token counts can be checked
/// against it.
fn count_tokens(text: &str) -> u64 {
    tiktoken_rs::o200k_base_singleton()
        .encode_ordinary(text)
        .len() as u64
}

/// Prompt caching as OpenAI does it: a request's prefix (here its system message and output
/// schema) of at least 1024 tokens that an earlier request already sent is served from the
/// cache, in steps of 128 tokens. The scripted engine reports those tokens as cached, so the
/// runner's pricing of cached input is tested over the wire. `tokens` is the prefix's count.
fn cached_prefix(system: &str, schema: &str, tokens: u64) -> u64 {
    static SEEN: std::sync::Mutex<Vec<u64>> = std::sync::Mutex::new(Vec::new());
    if tokens < 1024 {
        return 0;
    }
    let key = xxhash_rust::xxh3::xxh3_64(format!("{system}\u{0}{schema}").as_bytes());
    let mut seen = SEEN
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    if seen.contains(&key) {
        tokens / 128 * 128
    } else {
        seen.push(key);
        0
    }
}

/// A value the schema accepts, chosen by `hash` among enum values (the scripted engine's
/// default answer; test fakes answer the same way).
pub fn answer_for_schema(schema: &Value, hash: u64) -> Value {
    if let Some(values) = schema["enum"].as_array()
        && !values.is_empty()
    {
        return values[(hash % values.len() as u64) as usize].clone();
    }
    let kind = match &schema["type"] {
        Value::Array(kinds) => kinds
            .iter()
            .find(|kind| *kind != "null")
            .and_then(Value::as_str)
            .unwrap_or("null"),
        other => other.as_str().unwrap_or("object"),
    };
    match kind {
        "object" => {
            let mut object = serde_json::Map::new();
            if let Some(properties) = schema["properties"].as_object() {
                for (index, (name, property)) in properties.iter().enumerate() {
                    let mixed = hash.rotate_left(index as u32 * 7 + 1);
                    object.insert(name.clone(), answer_for_schema(property, mixed));
                }
            }
            Value::Object(object)
        }
        "array" => {
            let count = schema["minItems"].as_u64().unwrap_or(1).max(1);
            let items = &schema["items"];
            let mut values: Vec<Value> = Vec::new();
            let mut attempt = 0;
            while (values.len() as u64) < count && attempt < 64 {
                let value = answer_for_schema(items, hash.rotate_left(attempt * 5));
                if !values.contains(&value) {
                    values.push(value);
                }
                attempt += 1;
            }
            Value::Array(values)
        }
        "string" => Value::String("text".into()),
        "integer" | "number" => json!(0),
        "boolean" => Value::Bool(true),
        _ => Value::Null,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_answer_follows_the_schema() {
        let body = json!({"model": "m", "messages": [{"role": "user", "content": "hi"}],
            "response_format": {"type": "json_schema", "json_schema": {"name": "x", "strict": true, "schema": {
                "type": "object", "additionalProperties": false, "required": ["a", "b"],
                "properties": {"a": {"type": "string", "enum": ["x", "y"]},
                               "b": {"type": "array", "items": {"type": "string", "enum": ["p", "q", "r"]}, "minItems": 2}}}}}});
        let answer = scripted_answer(&Script::default(), &body.to_string());
        assert_eq!(answer.status, 200);
        let answer: Value = serde_json::from_str(&answer.body).unwrap();
        let content: Value =
            serde_json::from_str(answer["choices"][0]["message"]["content"].as_str().unwrap())
                .unwrap();
        assert!(["x", "y"].contains(&content["a"].as_str().unwrap()));
        assert_eq!(content["b"].as_array().unwrap().len(), 2);
    }

    #[test]
    fn rules_match_in_order_and_count_their_uses() {
        let script = Script::parse(
            r#"[{"contains": "bad", "status": 500, "times": 1}, {"contains": "bad", "content": "{}"}]"#,
        )
        .unwrap();
        let body = json!({"model": "m", "messages": [{"role": "user", "content": "a bad one"}]});
        let body = body.to_string();
        assert_eq!(scripted_answer(&script, &body).status, 500);
        let answer = scripted_answer(&script, &body);
        assert_eq!(answer.status, 200);
        let answer: Value = serde_json::from_str(&answer.body).unwrap();
        assert_eq!(answer["choices"][0]["message"]["content"], "{}");
    }
}
