//! Who answers a chat-completions request: the deterministic `scripted` engine, or an
//! `upstream` OpenAI-compatible server. Both return an HTTP status and a JSON body, exactly
//! what a batch output line carries.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use serde::Deserialize;
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
}

/// Rules a test writes to control answers (a JSON array of [`Rule`]).
#[derive(Debug, Default)]
pub struct Script {
    rules: Vec<(Rule, AtomicU64)>,
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
        }
    }

    /// Parse a rules file's text.
    pub fn parse(text: &str) -> Result<Self, serde_json::Error> {
        Ok(Self::new(serde_json::from_str(text)?))
    }

    fn matching(&self, last_message: &str) -> Option<&Rule> {
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

impl Engine {
    /// Answer one chat-completions body: (HTTP status, JSON body).
    pub fn answer(&self, body: &Value, client: &reqwest::blocking::Client) -> (u16, Value) {
        match self {
            Engine::Scripted(script) => scripted_answer(script, body),
            Engine::Upstream { url, api_key } => {
                let mut request = client
                    .post(format!("{}/chat/completions", url.trim_end_matches('/')))
                    .timeout(Duration::from_mins(10))
                    .json(body);
                if let Some(key) = api_key {
                    request = request.bearer_auth(key);
                }
                match request.send() {
                    Ok(response) => {
                        let status = response.status().as_u16();
                        let body = response.json::<Value>().unwrap_or_else(|error| {
                            error_body(
                                &format!("upstream answered non-JSON: {error}"),
                                "server_error",
                            )
                        });
                        (status, body)
                    }
                    Err(error) => (
                        502,
                        error_body(&format!("upstream unreachable: {error}"), "server_error"),
                    ),
                }
            }
        }
    }
}

pub(crate) fn error_body(message: &str, kind: &str) -> Value {
    json!({"error": {"message": message, "type": kind, "param": null, "code": null}})
}

fn last_message(body: &Value) -> &str {
    body["messages"]
        .as_array()
        .and_then(|messages| messages.last())
        .and_then(|message| message["content"].as_str())
        .unwrap_or("")
}

fn scripted_answer(script: &Script, body: &Value) -> (u16, Value) {
    let last = last_message(body);
    let rule = script.matching(last);
    if let Some(status) = rule.and_then(|rule| rule.status)
        && status != 200
    {
        return (
            status,
            error_body(&format!("scripted error {status}"), "invalid_request_error"),
        );
    }
    let hash = xxhash_rust::xxh3::xxh3_64(last.as_bytes());
    let (content, refusal) = match rule {
        Some(Rule {
            refusal: Some(refusal),
            ..
        }) => (Value::Null, Value::String(refusal.clone())),
        Some(Rule {
            content: Some(content),
            ..
        }) => (Value::String(content.clone()), Value::Null),
        _ => {
            let schema = &body["response_format"]["json_schema"]["schema"];
            let answer = answer_for_schema(schema, hash);
            (Value::String(answer.to_string()), Value::Null)
        }
    };
    let finish_reason = rule
        .and_then(|rule| rule.finish_reason.clone())
        .unwrap_or_else(|| "stop".into());
    let prompt_tokens: usize = body["messages"].as_array().map_or(0, |messages| {
        messages
            .iter()
            .map(|message| message["content"].as_str().map_or(0, str::len) / 4 + 4)
            .sum()
    });
    let completion_tokens = content.as_str().map_or(1, |text| text.len() / 4 + 1);
    let model = body["model"].as_str().unwrap_or("scripted");
    (
        200,
        json!({
            "id": format!("chatcmpl-{hash:016x}"),
            "object": "chat.completion",
            "created": crate::now(),
            "model": format!("{model}-scripted"),
            "choices": [{
                "index": 0,
                "message": {"role": "assistant", "content": content, "refusal": refusal},
                "finish_reason": finish_reason,
                "logprobs": null
            }],
            "usage": {
                "prompt_tokens": prompt_tokens,
                "completion_tokens": completion_tokens,
                "total_tokens": prompt_tokens + completion_tokens
            }
        }),
    )
}

/// A value the schema accepts, chosen by `hash` among enum values.
fn answer_for_schema(schema: &Value, hash: u64) -> Value {
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
        let (status, answer) = scripted_answer(&Script::default(), &body);
        assert_eq!(status, 200);
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
        assert_eq!(scripted_answer(&script, &body).0, 500);
        let (status, answer) = scripted_answer(&script, &body);
        assert_eq!(status, 200);
        assert_eq!(answer["choices"][0]["message"]["content"], "{}");
    }
}
