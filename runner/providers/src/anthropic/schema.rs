//! The label schema as Anthropic's structured outputs take it (`output_config.format`): the
//! same rules as the official SDK's `transform_schema` — every object closed
//! (`additionalProperties: false`), `oneOf` read as `anyOf`, `minItems` only 0 or 1, string
//! formats from the supported list, and any other keyword (`maxItems`, `minimum`, `pattern`…)
//! moved into the description, where the model can still follow it. Answers are validated
//! against the full schema afterwards, so nothing is lost by the move.

use serde_json::{Map, Value};

/// String formats the API accepts.
const STRING_FORMATS: &[&str] = &[
    "date-time",
    "time",
    "date",
    "duration",
    "email",
    "hostname",
    "uri",
    "ipv4",
    "ipv6",
    "uuid",
];

fn is_primitive(value: &Value) -> bool {
    matches!(
        value,
        Value::Null | Value::Bool(_) | Value::Number(_) | Value::String(_)
    )
}

/// `schema` in the form Anthropic's structured outputs accept.
pub(crate) fn for_structured_output(schema: &Value) -> Value {
    match schema {
        Value::Object(object) => Value::Object(transform(object.clone())),
        other => other.clone(),
    }
}

fn transform(mut schema: Map<String, Value>) -> Map<String, Value> {
    let mut strict = Map::new();
    if let Some(Value::Object(definitions)) = schema.remove("$defs") {
        let definitions = definitions
            .into_iter()
            .map(|(name, value)| (name, for_structured_output(&value)))
            .collect();
        strict.insert("$defs".into(), Value::Object(definitions));
    }
    if let Some(reference) = schema.remove("$ref") {
        strict.insert("$ref".into(), reference);
        return strict;
    }
    let mut kind = schema.remove("type");
    let any_of = schema.remove("anyOf");
    let one_of = schema.remove("oneOf");
    let all_of = schema.remove("allOf");
    if let Some(Value::Array(values)) = schema.get("enum")
        && !values.is_empty()
        && values.iter().all(is_primitive)
    {
        strict.insert("enum".into(), schema.remove("enum").unwrap_or_default());
    }
    if schema.get("const").is_some_and(is_primitive) {
        strict.insert("const".into(), schema.remove("const").unwrap_or_default());
    }
    if strict.contains_key("enum") || strict.contains_key("const") {
        kind = None;
    }
    let variants = |list: Value| match list {
        Value::Array(items) => Value::Array(items.iter().map(for_structured_output).collect()),
        other => other,
    };
    if let Some(list) = any_of.or(one_of) {
        strict.insert("anyOf".into(), variants(list));
    } else if let Some(list) = all_of {
        strict.insert("allOf".into(), variants(list));
    } else if let Some(kind) = &kind {
        strict.insert("type".into(), kind.clone());
    }
    for key in ["description", "title"] {
        if let Some(value) = schema.remove(key) {
            strict.insert(key.into(), value);
        }
    }
    match kind.as_ref().and_then(Value::as_str) {
        Some("object") => {
            let properties = match schema.remove("properties") {
                Some(Value::Object(properties)) => properties
                    .into_iter()
                    .map(|(name, value)| (name, for_structured_output(&value)))
                    .collect(),
                _ => Map::new(),
            };
            strict.insert("properties".into(), Value::Object(properties));
            schema.remove("additionalProperties");
            strict.insert("additionalProperties".into(), Value::Bool(false));
            if let Some(required) = schema.remove("required") {
                strict.insert("required".into(), required);
            }
        }
        Some("string") => {
            if let Some(format) = schema.remove("format") {
                if format
                    .as_str()
                    .is_some_and(|format| STRING_FORMATS.contains(&format))
                {
                    strict.insert("format".into(), format);
                } else {
                    schema.insert("format".into(), format);
                }
            }
        }
        Some("array") => {
            if let Some(items) = schema.remove("items") {
                strict.insert("items".into(), for_structured_output(&items));
            }
            if let Some(minimum) = schema.remove("minItems") {
                if matches!(minimum.as_u64(), Some(0 | 1)) {
                    strict.insert("minItems".into(), minimum);
                } else {
                    schema.insert("minItems".into(), minimum);
                }
            }
        }
        _ => {}
    }
    if !schema.is_empty() {
        let rest: Vec<String> = schema
            .iter()
            .map(|(key, value)| format!("{key}: {value}"))
            .collect();
        let rest = format!("{{{}}}", rest.join(", "));
        let description = match strict.get("description").and_then(Value::as_str) {
            Some(description) => format!("{description}\n\n{rest}"),
            None => rest,
        };
        strict.insert("description".into(), Value::String(description));
    }
    strict
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::for_structured_output;

    #[test]
    fn unsupported_keywords_move_into_the_description() {
        let schema = json!({
            "type": "object",
            "properties": {
                "topics": {"type": "array", "items": {"type": "string", "enum": ["a", "b", "c"]},
                    "minItems": 2, "maxItems": 3, "uniqueItems": true},
                "score": {"type": "integer", "minimum": 1, "maximum": 5, "description": "How sure."},
                "note": {"type": "string", "format": "markdown", "pattern": "^x"},
                "kind": {"oneOf": [{"type": "string"}, {"type": "null"}]}
            },
            "required": ["topics", "score", "note", "kind"],
            "additionalProperties": false
        });
        let strict = for_structured_output(&schema);
        let topics = &strict["properties"]["topics"];
        assert_eq!(topics["items"]["enum"], json!(["a", "b", "c"]));
        assert!(topics.get("minItems").is_none() && topics.get("maxItems").is_none());
        assert!(
            topics["description"]
                .as_str()
                .unwrap()
                .contains("minItems: 2")
        );
        let score = &strict["properties"]["score"];
        assert!(score.get("minimum").is_none());
        assert_eq!(
            score["description"],
            "How sure.\n\n{maximum: 5, minimum: 1}"
        );
        assert!(strict["properties"]["note"].get("format").is_none());
        assert_eq!(strict["properties"]["kind"]["anyOf"][1]["type"], "null");
        assert_eq!(strict["additionalProperties"], false);
        assert_eq!(strict["required"], schema["required"]);
        let one = json!({"type": "array", "items": {"type": "string"}, "minItems": 1});
        assert_eq!(for_structured_output(&one)["minItems"], 1);
    }
}
