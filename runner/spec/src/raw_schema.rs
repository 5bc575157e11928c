//! A raw `schema:` label field is checked for meaning, not only for OpenAI's subset: a schema
//! that names an unknown type, requires a property it does not define, or allows no value
//! at all would make every answer fail validation, each one paid for. So these are errors
//! before anything is sent.

use serde_json::{Map, Value};

use crate::diagnostic::did_you_mean;
use crate::strict_subset::Violation;

const INVALID: &str = "invalid-schema";

/// The types JSON Schema knows.
const TYPES: &[&str] = &[
    "string", "number", "integer", "boolean", "object", "array", "null",
];

/// The problems of one schema node (its children are walked by the caller).
pub fn check_node(object: &Map<String, Value>, pointer: &str, found: &mut Vec<Violation>) {
    let mut problem = |at: String, message: String, help: String| {
        found.push(Violation {
            code: INVALID,
            pointer: at,
            at_key: false,
            message,
            help,
        });
    };
    if let Some(kind) = object.get("type") {
        for (at, message, help) in type_problems(kind, &format!("{pointer}/type")) {
            problem(at, message, help);
        }
    }
    if let Some(required) = object.get("required") {
        let properties = object.get("properties").and_then(Value::as_object);
        for (at, message, help) in required_problems(required, properties, pointer) {
            problem(at, message, help);
        }
    }
    for keyword in ["enum", "anyOf"] {
        if let Some(value) = object.get(keyword)
            && value.as_array().is_none_or(Vec::is_empty)
        {
            problem(
                format!("{pointer}/{keyword}"),
                format!("`{keyword}` must be a non-empty list: as written no answer can match"),
                format!("list the values the model may give, e.g. `{keyword}: [a, b]`"),
            );
        }
    }
    for (low, high) in [("minimum", "maximum"), ("minItems", "maxItems")] {
        let bound = |key| object.get(key).and_then(Value::as_f64);
        if let (Some(low_value), Some(high_value)) = (bound(low), bound(high))
            && low_value > high_value
        {
            problem(
                format!("{pointer}/{low}"),
                format!("`{low}` is above `{high}`: no value can satisfy both"),
                format!("make `{low}` at most `{high}`"),
            );
        }
    }
}

/// `type` must be a known type name, or a non-empty list of them.
fn type_problems(kind: &Value, pointer: &str) -> Vec<(String, String, String)> {
    let named: Vec<(String, &Value)> = match kind {
        Value::Array(kinds) if !kinds.is_empty() => kinds
            .iter()
            .enumerate()
            .map(|(index, kind)| (format!("{pointer}/{index}"), kind))
            .collect(),
        Value::Array(_) => {
            return vec![(
                pointer.to_string(),
                "`type` is an empty list: no value has no type".to_string(),
                format!("name one or more of: {}", TYPES.join(", ")),
            )];
        }
        other => vec![(pointer.to_string(), other)],
    };
    named
        .into_iter()
        .filter(|(_, kind)| kind.as_str().is_none_or(|name| !TYPES.contains(&name)))
        .map(|(at, kind)| {
            let shown = shown(kind);
            let mut help = format!("JSON Schema types: {}", TYPES.join(", "));
            if let Some(close) = kind
                .as_str()
                .and_then(|name| did_you_mean(name, TYPES.iter().copied()))
            {
                help = format!("did you mean `{close}`? {help}");
            }
            (at, format!("unknown type `{shown}`"), help)
        })
        .collect()
}

/// A value as a message shows it: a string without its quotes, anything else as JSON.
fn shown(value: &Value) -> String {
    value
        .as_str()
        .map_or_else(|| value.to_string(), str::to_string)
}

/// `required` must list names that are properties of the same object.
fn required_problems(
    required: &Value,
    properties: Option<&Map<String, Value>>,
    pointer: &str,
) -> Vec<(String, String, String)> {
    let Some(names) = required.as_array() else {
        return vec![(
            format!("{pointer}/required"),
            "`required` must be a list of property names".to_string(),
            "e.g. `required: [name, age]`".to_string(),
        )];
    };
    let known: Vec<&str> = properties
        .map(|properties| properties.keys().map(String::as_str).collect())
        .unwrap_or_default();
    names
        .iter()
        .enumerate()
        .filter(|(_, name)| name.as_str().is_none_or(|name| !known.contains(&name)))
        .map(|(index, name)| {
            let shown = shown(name);
            let help = if known.is_empty() {
                "the object defines no `properties`: define it there, or remove it".to_string()
            } else {
                format!(
                    "its properties are: {}",
                    known
                        .iter()
                        .map(|name| format!("`{name}`"))
                        .collect::<Vec<_>>()
                        .join(", ")
                )
            };
            (
                format!("{pointer}/required/{index}"),
                format!("`required` names `{shown}`, which is not a property of this object"),
                help,
            )
        })
        .collect()
}

/// What the JSON Schema meta-schema (and the validator: regex patterns, …) says about a
/// schema the checks above let through; at most one violation.
pub fn meta_violation(schema: &Value, base: &str) -> Option<Violation> {
    let error = jsonschema::validator_for(schema).err()?;
    // The schema is the instance the meta-schema checked: its path is inside the schema.
    let pointer = format!("{base}{}", error.instance_path().as_str());
    Some(Violation {
        code: INVALID,
        pointer,
        at_key: false,
        message: format!("not a valid JSON Schema: {error}"),
        help: "see https://json-schema.org/understanding-json-schema".to_string(),
    })
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    fn messages(schema: &serde_json::Value) -> Vec<(String, String)> {
        crate::strict_subset::violations(schema, "/s")
            .into_iter()
            .filter(|found| found.code == super::INVALID)
            .map(|found| (found.pointer, found.message))
            .collect()
    }

    #[test]
    fn unknown_types_unknown_required_names_and_empty_enums_are_errors() {
        let schema = json!({
            "type": "object",
            "properties": {"a": {"type": "strin"}, "b": {"type": "string", "enum": []}},
            "required": ["a", "b", "c"],
            "additionalProperties": false,
        });
        assert_eq!(
            messages(&schema),
            vec![
                (
                    "/s/required/2".to_string(),
                    "`required` names `c`, which is not a property of this object".to_string()
                ),
                (
                    "/s/properties/a/type".to_string(),
                    "unknown type `strin`".to_string()
                ),
                (
                    "/s/properties/b/enum".to_string(),
                    "`enum` must be a non-empty list: as written no answer can match".to_string()
                ),
            ]
        );
    }

    #[test]
    fn contradictory_bounds_are_errors() {
        let schema = json!({"type": "integer", "minimum": 5, "maximum": 1});
        assert_eq!(
            messages(&schema)[0].1,
            "`minimum` is above `maximum`: no value can satisfy both"
        );
    }

    #[test]
    fn the_meta_schema_catches_the_rest() {
        let found = super::meta_violation(&json!({"type": "string", "minLength": -1}), "/s");
        let found = found.expect("a negative length is invalid");
        assert_eq!(found.pointer, "/s/minLength");
        assert!(super::meta_violation(&json!({"type": "string"}), "/s").is_none());
    }
}
