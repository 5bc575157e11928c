//! Messages ⇄ chat completions, so the existing engines answer Anthropic requests: a Messages
//! create body becomes an OpenAI chat body (structured output as `response_format`), and a
//! chat answer becomes a Message. Errors name the offending field by path, as Anthropic does.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

/// How a request asked for its answer, which decides the answer's content block.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "form", rename_all = "snake_case")]
pub(crate) enum Form {
    /// Free text (or no structured output): a `text` block.
    Text,
    /// `output_config.format` json_schema: the JSON as a `text` block.
    Json,
    /// A forced tool: the JSON parsed into a `tool_use` block for this tool.
    Tool {
        /// The tool's name.
        name: String,
    },
}

/// Why a Message could not be made: Anthropic's error type and message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Failure {
    pub(crate) status: u16,
    pub(crate) kind: &'static str,
    pub(crate) message: String,
}

fn text_of(content: &Value, path: &str) -> Result<String, String> {
    match content {
        Value::String(text) => Ok(text.clone()),
        Value::Array(blocks) => {
            let mut parts = Vec::with_capacity(blocks.len());
            for (index, block) in blocks.iter().enumerate() {
                match block["type"].as_str() {
                    Some("text") => match block["text"].as_str() {
                        Some(text) => parts.push(text),
                        None => return Err(format!("{path}.{index}.text: Field required")),
                    },
                    Some(other) => {
                        return Err(format!(
                            "{path}.{index}.type: `{other}` blocks are not supported by this server (text only)"
                        ));
                    }
                    None => return Err(format!("{path}.{index}.type: Field required")),
                }
            }
            Ok(parts.join("\n"))
        }
        _ => Err(format!(
            "{path}: Input should be a valid string or a list of content blocks"
        )),
    }
}

fn forced_tool(params: &Map<String, Value>) -> Result<Option<(&str, &Value)>, String> {
    let Some(choice) = params.get("tool_choice").filter(|choice| !choice.is_null()) else {
        return Ok(None);
    };
    let tools = params
        .get("tools")
        .and_then(Value::as_array)
        .map_or(&[][..], Vec::as_slice);
    let wanted = match choice["type"].as_str() {
        Some("tool") => match choice["name"].as_str() {
            Some(name) => name,
            None => return Err("tool_choice.name: Field required".into()),
        },
        // `any` with a single tool forces that tool.
        Some("any") if tools.len() == 1 => tools[0]["name"].as_str().unwrap_or_default(),
        Some("auto" | "any" | "none") => return Ok(None),
        _ => {
            return Err("tool_choice.type: Input should be 'auto', 'any', 'tool' or 'none'".into());
        }
    };
    let Some((index, tool)) = tools
        .iter()
        .enumerate()
        .find(|(_, tool)| tool["name"].as_str() == Some(wanted))
    else {
        return Err(format!(
            "tool_choice.name: no tool named `{wanted}` in `tools`"
        ));
    };
    match tool.get("input_schema") {
        Some(schema) if schema.is_object() => Ok(Some((wanted, schema))),
        _ => Err(format!("tools.{index}.input_schema: Field required")),
    }
}

/// A Messages create body → (OpenAI chat body, answer form). Errors are `field.path: why`.
pub(crate) fn to_chat(params: &Value) -> Result<(Value, Form), String> {
    let Some(params) = params.as_object() else {
        return Err("Input should be an object".into());
    };
    let model = match params.get("model") {
        Some(Value::String(model)) if !model.is_empty() => model,
        Some(_) => return Err("model: Input should be a non-empty string".into()),
        None => return Err("model: Field required".into()),
    };
    let max_tokens = match params.get("max_tokens") {
        Some(value) => match value.as_u64() {
            Some(tokens) if tokens >= 1 => tokens,
            _ => return Err("max_tokens: Input should be an integer ≥ 1".into()),
        },
        None => return Err("max_tokens: Field required".into()),
    };
    if params.get("stream").and_then(Value::as_bool) == Some(true) {
        return Err("stream: streaming is not supported by this server".into());
    }
    let mut messages = Vec::new();
    match params.get("system") {
        None | Some(Value::Null) => {}
        Some(system) => {
            messages.push(json!({"role": "system", "content": text_of(system, "system")?}));
        }
    }
    let turns = match params.get("messages") {
        Some(Value::Array(turns)) if !turns.is_empty() => turns,
        Some(Value::Array(_)) => return Err("messages: at least one message is required".into()),
        Some(_) => return Err("messages: Input should be a valid list".into()),
        None => return Err("messages: Field required".into()),
    };
    for (index, turn) in turns.iter().enumerate() {
        let Some(role @ ("user" | "assistant")) = turn["role"].as_str() else {
            return Err(format!(
                "messages.{index}.role: Input should be 'user' or 'assistant'"
            ));
        };
        let content = text_of(&turn["content"], &format!("messages.{index}.content"))?;
        messages.push(json!({"role": role, "content": content}));
    }
    let mut chat = Map::new();
    chat.insert("model".into(), json!(model));
    chat.insert("messages".into(), Value::Array(messages));
    chat.insert("max_completion_tokens".into(), json!(max_tokens));
    for name in ["temperature", "top_p"] {
        if let Some(value) = params.get(name).filter(|value| value.is_number()) {
            chat.insert(name.into(), value.clone());
        }
    }
    if let Some(stop) = params.get("stop_sequences").filter(|stop| stop.is_array()) {
        chat.insert("stop".into(), stop.clone());
    }
    let (schema, form) = if let Some((name, schema)) = forced_tool(params)? {
        (Some(schema), Form::Tool { name: name.into() })
    } else {
        match params.get("output_config").map(|config| &config["format"]) {
            None | Some(Value::Null) => (None, Form::Text),
            Some(format) => {
                if format["type"] != "json_schema" {
                    return Err("output_config.format.type: Input should be 'json_schema'".into());
                }
                if !format["schema"].is_object() {
                    return Err("output_config.format.schema: Field required".into());
                }
                (Some(&format["schema"]), Form::Json)
            }
        }
    };
    if let Some(schema) = schema {
        chat.insert(
            "response_format".into(),
            json!({"type": "json_schema", "json_schema": {"name": "output", "schema": schema, "strict": true}}),
        );
    }
    Ok((Value::Object(chat), form))
}

fn short_hash(seed: &str) -> String {
    format!(
        "{:016x}{:08x}",
        xxhash_rust::xxh3::xxh3_64(seed.as_bytes()),
        xxhash_rust::xxh3::xxh3_64(format!("{seed}/tail").as_bytes()) as u32
    )
}

/// An engine answer (HTTP status and chat-completions body) → a Message. `seed` makes the
/// message and tool-use ids stable; `tier` is the usage's `service_tier`.
pub(crate) fn to_message(
    status: u16,
    body: &str,
    form: &Form,
    seed: &str,
    tier: &str,
) -> Result<Value, Failure> {
    let parsed: Value = serde_json::from_str(body).unwrap_or(Value::Null);
    if status != 200 {
        let message = parsed["error"]["message"]
            .as_str()
            .map_or_else(|| body.to_string(), str::to_string);
        let kind = if (400..500).contains(&status) {
            "invalid_request_error"
        } else {
            "api_error"
        };
        return Err(Failure {
            status,
            kind,
            message,
        });
    }
    let choice = &parsed["choices"][0];
    if !choice.is_object() {
        return Err(Failure {
            status: 500,
            kind: "api_error",
            message: "the engine answered without a choice".into(),
        });
    }
    let message = &choice["message"];
    let text = message["content"].as_str().unwrap_or_default();
    let mut stop_reason = match choice["finish_reason"].as_str() {
        Some("length") => "max_tokens",
        Some("content_filter") => "refusal",
        _ => "end_turn",
    };
    let block = if let Some(refusal) = message["refusal"].as_str() {
        stop_reason = "refusal";
        json!({"type": "text", "text": refusal, "citations": null})
    } else {
        let tool_input = match form {
            Form::Tool { name } if stop_reason == "end_turn" => serde_json::from_str::<Value>(text)
                .ok()
                .filter(Value::is_object)
                .map(|input| (name, input)),
            _ => None,
        };
        match tool_input {
            Some((name, input)) => {
                stop_reason = "tool_use";
                json!({"type": "tool_use", "id": format!("toolu_{}", short_hash(&format!("{seed}/tool"))),
                    "name": name, "input": input})
            }
            None => json!({"type": "text", "text": text, "citations": null}),
        }
    };
    let usage = &parsed["usage"];
    // Anthropic counts cache reads apart from `input_tokens`.
    let cached = usage["prompt_tokens_details"]["cached_tokens"]
        .as_u64()
        .unwrap_or(0);
    Ok(json!({
        "id": format!("msg_{}", short_hash(seed)),
        "type": "message",
        "role": "assistant",
        "model": parsed["model"].as_str().unwrap_or("unknown"),
        "content": [block],
        "stop_reason": stop_reason,
        "stop_sequence": null,
        "usage": {
            "input_tokens": usage["prompt_tokens"].as_u64().unwrap_or(0).saturating_sub(cached),
            "output_tokens": usage["completion_tokens"].as_u64().unwrap_or(0),
            "cache_creation_input_tokens": 0,
            "cache_read_input_tokens": cached,
            "cache_creation": {"ephemeral_1h_input_tokens": 0, "ephemeral_5m_input_tokens": 0},
            "server_tool_use": null,
            "service_tier": tier,
        },
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn translates_system_blocks_and_the_forced_tool() {
        let params = json!({"model": "claude", "max_tokens": 50, "temperature": 0,
            "system": [{"type": "text", "text": "Label it."}],
            "messages": [{"role": "user", "content": [{"type": "text", "text": "hi"}]}],
            "tools": [{"name": "label", "input_schema": {"type": "object"}}],
            "tool_choice": {"type": "tool", "name": "label"}});
        let (chat, form) = to_chat(&params).unwrap();
        assert_eq!(
            form,
            Form::Tool {
                name: "label".into()
            }
        );
        assert_eq!(
            chat["messages"][0],
            json!({"role": "system", "content": "Label it."})
        );
        assert_eq!(chat["messages"][1]["content"], "hi");
        assert_eq!(chat["max_completion_tokens"], 50);
        assert_eq!(chat["temperature"], 0);
        assert_eq!(
            chat["response_format"]["json_schema"]["schema"]["type"],
            "object"
        );
    }

    #[test]
    fn names_the_bad_field() {
        let bad = |params: Value| to_chat(&params).unwrap_err();
        assert_eq!(
            bad(json!({"model": "m", "messages": []})),
            "max_tokens: Field required"
        );
        let image = json!({"model": "m", "max_tokens": 5, "messages": [{"role": "user",
            "content": [{"type": "text", "text": "a"}, {"type": "image", "source": {}}]}]});
        assert!(bad(image).starts_with("messages.0.content.1.type: `image`"));
    }

    #[test]
    fn answers_become_messages() {
        let body = json!({"model": "m", "choices": [{"message": {"content": "{\"a\":1}"}, "finish_reason": "stop"}],
            "usage": {"prompt_tokens": 3, "completion_tokens": 2}})
        .to_string();
        let tool = Form::Tool {
            name: "label".into(),
        };
        let message = to_message(200, &body, &tool, "x", "batch").unwrap();
        assert_eq!(message["stop_reason"], "tool_use");
        assert_eq!(message["content"][0]["input"]["a"], 1);
        assert_eq!(message["usage"]["input_tokens"], 3);
        let garbage = body.replace("{\\\"a\\\":1}", "nope");
        let message = to_message(200, &garbage, &tool, "x", "batch").unwrap();
        assert_eq!(message["stop_reason"], "end_turn");
        assert_eq!(message["content"][0]["text"], "nope");
        let failure = to_message(
            500,
            r#"{"error":{"message":"boom"}}"#,
            &Form::Text,
            "x",
            "batch",
        );
        assert_eq!(failure.unwrap_err().kind, "api_error");
    }
}
