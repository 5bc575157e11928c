//! GenerateContent ⇄ chat completions, so the existing engines answer Gemini requests: a
//! GenerateContentRequest becomes an OpenAI chat body (its OpenAPI-subset `responseSchema`
//! converted to the JSON schema of a `response_format`), and a chat answer becomes a
//! GenerateContentResponse. Gemini's JSON is proto JSON, so every field is read in camelCase
//! or snake_case (the Python SDK itself mixes them: nested schemas go out snake_case).

use serde_json::{Map, Value, json};

/// Why a response could not be made: the HTTP status the engine answered, and its message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Failure {
    pub(crate) code: u16,
    pub(crate) message: String,
}

/// `object[camel]`, else `object[snake]`.
pub(crate) fn field<'a>(object: &'a Map<String, Value>, camel: &str) -> Option<&'a Value> {
    object
        .get(camel)
        .or_else(|| object.get(&snake(camel)))
        .filter(|value| !value.is_null())
}

fn snake(camel: &str) -> String {
    let mut out = String::with_capacity(camel.len() + 4);
    for character in camel.chars() {
        if character.is_ascii_uppercase() {
            out.push('_');
            out.push(character.to_ascii_lowercase());
        } else {
            out.push(character);
        }
    }
    out
}

/// The text of a Content (`{role?, parts: [{text}]}`); `path` names it in errors.
fn text_of(content: &Value, path: &str) -> Result<String, String> {
    if let Value::String(text) = content {
        return Ok(text.clone());
    }
    let Some(parts) = content.get("parts").and_then(Value::as_array) else {
        return Err(format!("{path}.parts: required (a list of parts)"));
    };
    let mut text = String::new();
    for (index, part) in parts.iter().enumerate() {
        match part.get("text").and_then(Value::as_str) {
            Some(piece) => text.push_str(piece),
            None => {
                return Err(format!(
                    "{path}.parts[{index}]: only text parts are supported by this server"
                ));
            }
        }
    }
    Ok(text)
}

/// A GenerateContentRequest for `model` → an OpenAI chat body. Errors are `field.path: why`.
pub(crate) fn to_chat(request: &Value, model: &str) -> Result<Value, String> {
    let Some(request) = request.as_object() else {
        return Err("request: must be a GenerateContentRequest object".into());
    };
    let mut messages = Vec::new();
    if let Some(system) = field(request, "systemInstruction") {
        let text = text_of(system, "systemInstruction")?;
        messages.push(json!({"role": "system", "content": text}));
    }
    let contents = match field(request, "contents") {
        Some(Value::Array(contents)) if !contents.is_empty() => contents,
        Some(Value::String(text)) => &vec![json!({"parts": [{"text": text}]})],
        _ => return Err("contents: required, a non-empty list of Content".into()),
    };
    for (index, content) in contents.iter().enumerate() {
        let role = match content.get("role").and_then(Value::as_str) {
            None | Some("" | "user") => "user",
            Some("model") => "assistant",
            Some(other) => {
                return Err(format!(
                    "contents[{index}].role: `{other}` is not 'user' or 'model'"
                ));
            }
        };
        let text = text_of(content, &format!("contents[{index}]"))?;
        messages.push(json!({"role": role, "content": text}));
    }
    let mut chat = Map::new();
    chat.insert("model".into(), json!(model));
    chat.insert("messages".into(), Value::Array(messages));
    let empty = Map::new();
    let config = match field(request, "generationConfig") {
        Some(Value::Object(config)) => config,
        None => &empty,
        Some(_) => return Err("generationConfig: must be an object".into()),
    };
    generation_config(config, &mut chat)?;
    Ok(Value::Object(chat))
}

/// `generationConfig` → the chat body's sampling, length and output-format fields.
fn generation_config(
    config: &Map<String, Value>,
    chat: &mut Map<String, Value>,
) -> Result<(), String> {
    let number = |name: &str| field(config, name).and_then(number_of);
    if let Some(count) = number("candidateCount")
        && count.as_f64().is_some_and(|count| count > 1.0)
    {
        return Err("generationConfig.candidateCount: this server answers one candidate".into());
    }
    if let Some(tokens) = number("maxOutputTokens") {
        match tokens.as_u64() {
            Some(tokens) if tokens >= 1 => {
                chat.insert("max_completion_tokens".into(), json!(tokens))
            }
            _ => return Err("generationConfig.maxOutputTokens: must be a positive integer".into()),
        };
    }
    for (camel, openai) in [
        ("temperature", "temperature"),
        ("topP", "top_p"),
        ("seed", "seed"),
    ] {
        if let Some(value) = number(camel) {
            chat.insert(openai.into(), value);
        }
    }
    if let Some(stop) = field(config, "stopSequences").filter(|stop| stop.is_array()) {
        chat.insert("stop".into(), stop.clone());
    }
    let mime = field(config, "responseMimeType").and_then(Value::as_str);
    let schema = field(config, "responseSchema");
    let json_schema =
        field(config, "responseJsonSchema").or_else(|| config.get("_responseJsonSchema"));
    match mime {
        None | Some("text/plain") if schema.is_none() && json_schema.is_none() => return Ok(()),
        None | Some("text/plain") => {
            return Err(
                "generationConfig.responseMimeType: a response schema needs `application/json`"
                    .into(),
            );
        }
        Some("application/json") => {}
        Some(other) => {
            return Err(format!(
                "generationConfig.responseMimeType: `{other}` is not supported by this server (text/plain or application/json)"
            ));
        }
    }
    let schema = match (schema, json_schema) {
        (Some(schema), _) => Some(to_json_schema(schema, "generationConfig.responseSchema")?),
        (None, Some(schema)) if schema.is_object() => Some(schema.clone()),
        (None, Some(_)) => {
            return Err("generationConfig.responseJsonSchema: must be an object".into());
        }
        (None, None) => None,
    };
    let format = match schema {
        Some(schema) => {
            json!({"type": "json_schema", "json_schema": {"name": "output", "schema": schema, "strict": true}})
        }
        None => json!({"type": "json_object"}),
    };
    chat.insert("response_format".into(), format);
    Ok(())
}

/// A number, or an int64 sent as a decimal string as proto JSON allows.
fn number_of(value: &Value) -> Option<Value> {
    match value {
        Value::Number(_) => Some(value.clone()),
        Value::String(text) => text
            .parse::<u64>()
            .map(Value::from)
            .ok()
            .or_else(|| text.parse::<f64>().ok().map(Value::from)),
        _ => None,
    }
}

/// A Gemini Schema (OpenAPI 3.0 subset, upper-case types, `nullable`, `propertyOrdering`) →
/// the JSON schema it means, with properties in `propertyOrdering` order (the order Gemini
/// answers in) and objects closed, as Gemini's answers are.
pub(crate) fn to_json_schema(schema: &Value, path: &str) -> Result<Value, String> {
    let Some(schema) = schema.as_object() else {
        return Err(format!("{path}: must be a Schema object"));
    };
    let mut out = Map::new();
    let kind = match field(schema, "type") {
        None => None,
        Some(Value::String(kind)) => match kind.to_ascii_lowercase().as_str() {
            "type_unspecified" => None,
            kind @ ("string" | "integer" | "number" | "boolean" | "array" | "object" | "null") => {
                Some(kind.to_string())
            }
            _ => return Err(format!("{path}.type: `{kind}` is not a Schema type")),
        },
        Some(_) => return Err(format!("{path}.type: must be a string")),
    };
    let nullable = field(schema, "nullable").and_then(Value::as_bool) == Some(true);
    if let Some(kind) = &kind {
        out.insert(
            "type".into(),
            if nullable && kind != "null" {
                json!([kind, "null"])
            } else {
                json!(kind)
            },
        );
    }
    for name in ["title", "description", "format", "pattern"] {
        if let Some(value) = field(schema, name) {
            out.insert(name.into(), value.clone());
        }
    }
    for name in [
        "minItems",
        "maxItems",
        "minLength",
        "maxLength",
        "minProperties",
        "maxProperties",
        "minimum",
        "maximum",
    ] {
        if let Some(value) = field(schema, name) {
            let Some(value) = number_of(value) else {
                return Err(format!("{path}.{name}: must be a number"));
            };
            out.insert(name.into(), value);
        }
    }
    if let Some(values) = field(schema, "enum") {
        let Some(values) = values.as_array() else {
            return Err(format!("{path}.enum: must be a list of strings"));
        };
        let mut values = values.clone();
        if nullable {
            values.push(Value::Null);
        }
        out.insert("enum".into(), Value::Array(values));
    }
    if let Some(items) = field(schema, "items") {
        out.insert(
            "items".into(),
            to_json_schema(items, &format!("{path}.items"))?,
        );
    }
    if let Some(options) = field(schema, "anyOf") {
        let Some(options) = options.as_array() else {
            return Err(format!("{path}.anyOf: must be a list of Schemas"));
        };
        let mut converted = Vec::with_capacity(options.len());
        for (index, option) in options.iter().enumerate() {
            converted.push(to_json_schema(option, &format!("{path}.anyOf[{index}]"))?);
        }
        out.insert("anyOf".into(), Value::Array(converted));
    }
    if let Some(properties) = field(schema, "properties") {
        let Some(properties) = properties.as_object() else {
            return Err(format!("{path}.properties: must be a map of Schemas"));
        };
        let ordering: Vec<&str> = field(schema, "propertyOrdering")
            .and_then(Value::as_array)
            .map(|names| names.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default();
        let mut names: Vec<&String> = properties.keys().collect();
        // Listed names first, in their order; the rest after, as declared.
        names.sort_by_key(|name| {
            ordering
                .iter()
                .position(|listed| listed == name)
                .unwrap_or(usize::MAX)
        });
        let mut converted = Map::new();
        for name in names {
            converted.insert(
                name.clone(),
                to_json_schema(&properties[name], &format!("{path}.properties.{name}"))?,
            );
        }
        out.insert("properties".into(), Value::Object(converted));
        out.insert("additionalProperties".into(), json!(false));
    }
    if let Some(required) = field(schema, "required") {
        out.insert("required".into(), required.clone());
    }
    Ok(Value::Object(out))
}

fn short_hash(seed: &str) -> String {
    let hash = xxhash_rust::xxh3::xxh3_128(seed.as_bytes());
    format!("{hash:032x}")[..22].to_string()
}

/// An engine answer (HTTP status and chat-completions body) → a GenerateContentResponse.
/// `seed` makes the `responseId` stable; `model` stands in when the answer names none.
pub(crate) fn to_response(
    status: u16,
    body: &str,
    model: &str,
    seed: &str,
) -> Result<Value, Failure> {
    let parsed: Value = serde_json::from_str(body).unwrap_or(Value::Null);
    if status != 200 {
        let message = parsed["error"]["message"]
            .as_str()
            .map_or_else(|| body.to_string(), str::to_string);
        return Err(Failure {
            code: status,
            message,
        });
    }
    let choice = &parsed["choices"][0];
    if !choice.is_object() {
        return Err(Failure {
            code: 500,
            message: "the engine answered without a choice".into(),
        });
    }
    let message = &choice["message"];
    // A refusal is what Gemini reports as a candidate blocked for safety: no content.
    let candidate = if message["refusal"].is_string() || choice["finish_reason"] == "content_filter"
    {
        json!({"finishReason": "SAFETY", "index": 0})
    } else {
        let finish = if choice["finish_reason"] == "length" {
            "MAX_TOKENS"
        } else {
            "STOP"
        };
        let text = message["content"].as_str().unwrap_or_default();
        json!({"content": {"parts": [{"text": text}], "role": "model"}, "finishReason": finish, "index": 0})
    };
    let usage = &parsed["usage"];
    let prompt = usage["prompt_tokens"].as_u64().unwrap_or(0);
    let output = usage["completion_tokens"].as_u64().unwrap_or(0);
    // Gemini counts cache hits inside `promptTokenCount` and names them apart when any.
    let cached = usage["prompt_tokens_details"]["cached_tokens"]
        .as_u64()
        .unwrap_or(0);
    let mut metadata = json!({"promptTokenCount": prompt, "candidatesTokenCount": output,
        "totalTokenCount": prompt + output});
    if cached > 0 {
        metadata["cachedContentTokenCount"] = json!(cached);
    }
    Ok(json!({
        "candidates": [candidate],
        "usageMetadata": metadata,
        "modelVersion": parsed["model"].as_str().unwrap_or(model),
        "responseId": short_hash(seed),
    }))
}

/// Google's status name for an HTTP status.
pub(crate) fn status_name(code: u16) -> &'static str {
    match code {
        400 => "INVALID_ARGUMENT",
        401 => "UNAUTHENTICATED",
        403 => "PERMISSION_DENIED",
        404 => "NOT_FOUND",
        409 => "ALREADY_EXISTS",
        413 | 429 => "RESOURCE_EXHAUSTED",
        499 => "CANCELLED",
        500 => "INTERNAL",
        501 => "UNIMPLEMENTED",
        503 => "UNAVAILABLE",
        504 => "DEADLINE_EXCEEDED",
        _ => "UNKNOWN",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn translates_a_request_with_a_schema() {
        let request = json!({"system_instruction": {"parts": [{"text": "Label it."}]},
            "contents": [{"role": "user", "parts": [{"text": "a"}, {"text": "b"}]},
                {"role": "model", "parts": [{"text": "ok"}]}, {"parts": [{"text": "c"}]}],
            "generationConfig": {"responseMimeType": "application/json", "maxOutputTokens": 50,
                "topP": 0.5, "responseSchema": {"type": "OBJECT", "required": ["b"],
                    "propertyOrdering": ["b", "a"],
                    "properties": {"a": {"type": "STRING", "nullable": true},
                        "b": {"type": "string", "enum": ["x", "y"]},
                        "c": {"type": "ARRAY", "items": {"type": "INTEGER"}, "min_items": "2"}}}}});
        let chat = to_chat(&request, "gemini-test").unwrap();
        assert_eq!(
            chat["messages"][0],
            json!({"role": "system", "content": "Label it."})
        );
        assert_eq!(chat["messages"][1]["content"], "ab");
        assert_eq!(chat["messages"][2]["role"], "assistant");
        assert_eq!(chat["max_completion_tokens"], 50);
        assert_eq!(chat["top_p"], 0.5);
        let schema = &chat["response_format"]["json_schema"]["schema"];
        let names: Vec<&String> = schema["properties"].as_object().unwrap().keys().collect();
        assert_eq!(names, ["b", "a", "c"]);
        assert_eq!(schema["properties"]["a"]["type"], json!(["string", "null"]));
        assert_eq!(schema["properties"]["c"]["minItems"], 2);
        assert_eq!(schema["properties"]["c"]["items"]["type"], "integer");
        let answer = crate::answer_for_schema(schema, 7);
        assert!(
            ["x", "y"].contains(&answer["b"].as_str().unwrap()),
            "{answer}"
        );
    }

    #[test]
    fn names_the_bad_field() {
        let bad = |request: Value| to_chat(&request, "m").unwrap_err();
        assert!(bad(json!({})).starts_with("contents"));
        let image = json!({"contents": [{"parts": [{"inlineData": {}}]}]});
        assert!(bad(image).starts_with("contents[0].parts[0]"));
        let two = json!({"contents": "hi", "generationConfig": {"candidateCount": 2}});
        assert!(bad(two).contains("candidateCount"));
        let schema =
            json!({"contents": "hi", "generationConfig": {"responseSchema": {"type": "STRING"}}});
        assert!(bad(schema).contains("application/json"));
    }

    #[test]
    fn answers_become_responses() {
        let body = json!({"model": "m-x", "choices": [{"message": {"content": "{}"}, "finish_reason": "length"}],
            "usage": {"prompt_tokens": 3, "completion_tokens": 2, "prompt_tokens_details": {"cached_tokens": 0}}})
        .to_string();
        let response = to_response(200, &body, "m", "seed").unwrap();
        assert_eq!(response["candidates"][0]["finishReason"], "MAX_TOKENS");
        assert_eq!(
            response["candidates"][0]["content"]["parts"][0]["text"],
            "{}"
        );
        assert_eq!(response["usageMetadata"]["totalTokenCount"], 5);
        assert!(
            response["usageMetadata"]
                .get("cachedContentTokenCount")
                .is_none()
        );
        assert_eq!(response["modelVersion"], "m-x");
        let failure = to_response(500, r#"{"error":{"message":"boom"}}"#, "m", "s").unwrap_err();
        assert_eq!((failure.code, failure.message.as_str()), (500, "boom"));
    }
}
