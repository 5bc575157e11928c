//! OpenAI's strict structured-output subset of JSON Schema: which keywords
//! are allowed, the shape rules for objects, and the size limits. A violation means the
//! provider would answer 400 for every request, so it is caught before anything is sent.

use serde_json::Value;

/// Keywords the strict mode accepts.
const ALLOWED_KEYWORDS: &[&str] = &[
    "type",
    "properties",
    "required",
    "additionalProperties",
    "items",
    "enum",
    "const",
    "anyOf",
    "$ref",
    "$defs",
    "definitions",
    "description",
    "title",
    "pattern",
    "format",
    "multipleOf",
    "minimum",
    "maximum",
    "exclusiveMinimum",
    "exclusiveMaximum",
    "minItems",
    "maxItems",
];

const NOT_STRICT: &str = "schema-not-strict";

const MAX_NESTING: usize = 10;
const MAX_PROPERTIES: usize = 5000;
const MAX_ENUM_VALUES: usize = 1000;
const MAX_TOTAL_CHARS: usize = 120_000;
const LARGE_ENUM: usize = 250;
const LARGE_ENUM_MAX_CHARS: usize = 15_000;

/// One rule broken: where (JSON pointer inside the checked schema, relative to `base`) and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violation {
    /// The diagnostic code: `schema-not-strict` for OpenAI's subset, `invalid-schema` for a
    /// schema no answer could satisfy.
    pub code: &'static str,
    /// JSON pointer to the offending node or key.
    pub pointer: String,
    /// Whether the pointer names a key (for the caret) rather than a value.
    pub at_key: bool,
    /// What is wrong.
    pub message: String,
    /// How to fix it.
    pub help: String,
}

#[derive(Default)]
struct Totals {
    properties: usize,
    enum_values: usize,
    chars: usize,
}

/// Every violation in `schema`, with pointers prefixed by `base`.
pub fn violations(schema: &Value, base: &str) -> Vec<Violation> {
    let mut found = Vec::new();
    let mut totals = Totals::default();
    walk(schema, base, 1, &mut totals, &mut found);
    if totals.properties > MAX_PROPERTIES {
        found.push(limit(
            base,
            &format!("{} object properties in total", totals.properties),
            MAX_PROPERTIES,
        ));
    }
    if totals.enum_values > MAX_ENUM_VALUES {
        found.push(limit(
            base,
            &format!("{} enum values in total", totals.enum_values),
            MAX_ENUM_VALUES,
        ));
    }
    if totals.chars > MAX_TOTAL_CHARS {
        found.push(limit(
            base,
            &format!(
                "{} characters of property names and enum values",
                totals.chars
            ),
            MAX_TOTAL_CHARS,
        ));
    }
    found
}

fn limit(base: &str, what: &str, allowed: usize) -> Violation {
    Violation {
        code: NOT_STRICT,
        pointer: base.to_string(),
        at_key: true,
        message: format!(
            "the output schema has {what}, over OpenAI's strict-mode limit of {allowed}"
        ),
        help: "split the job into several specs, or use fewer labels per field".to_string(),
    }
}

fn walk(
    node: &Value,
    pointer: &str,
    depth: usize,
    totals: &mut Totals,
    found: &mut Vec<Violation>,
) {
    let Some(object) = node.as_object() else {
        if !node.is_boolean() {
            found.push(Violation {
                code: NOT_STRICT,
                pointer: pointer.to_string(),
                at_key: false,
                message: "a schema must be a mapping".to_string(),
                help: "write e.g. `{type: string}`".to_string(),
            });
        }
        return;
    };
    if depth > MAX_NESTING {
        found.push(Violation {
            code: NOT_STRICT,
            pointer: pointer.to_string(),
            at_key: false,
            message: format!("the schema nests deeper than {MAX_NESTING} levels"),
            help: "OpenAI's strict mode allows at most 10 levels of nesting".to_string(),
        });
        return;
    }
    crate::raw_schema::check_node(object, pointer, found);
    for key in object.keys() {
        if !ALLOWED_KEYWORDS.contains(&key.as_str()) {
            found.push(Violation {
                code: NOT_STRICT,
                pointer: format!("{pointer}/{}", crate::yaml::pointer_segment(key)),
                at_key: true,
                message: format!("`{key}` is not supported by OpenAI's strict structured outputs"),
                help: format!(
                    "remove it; supported keywords: {}",
                    ALLOWED_KEYWORDS.join(", ")
                ),
            });
        }
    }
    let is_object = object.get("type").is_some_and(|kind| {
        kind == "object"
            || kind
                .as_array()
                .is_some_and(|kinds| kinds.iter().any(|kind| kind == "object"))
    }) || object.contains_key("properties");
    if is_object {
        check_object(object, pointer, depth, totals, found);
    }
    if let Some(values) = object.get("enum").and_then(Value::as_array) {
        totals.enum_values += values.len();
        let chars: usize = values
            .iter()
            .map(|value| {
                value
                    .as_str()
                    .map_or_else(|| value.to_string().len(), str::len)
            })
            .sum();
        totals.chars += chars;
        if values.len() > LARGE_ENUM && chars > LARGE_ENUM_MAX_CHARS {
            found.push(Violation {
                code: NOT_STRICT,
                pointer: format!("{pointer}/enum"),
                at_key: true,
                message: format!(
                    "an enum of {} values has {chars} characters, over the strict-mode limit of {LARGE_ENUM_MAX_CHARS} for enums over {LARGE_ENUM} values",
                    values.len()
                ),
                help: "shorten the labels or split the field".to_string(),
            });
        }
    }
    if let Some(items) = object.get("items") {
        walk(items, &format!("{pointer}/items"), depth + 1, totals, found);
    }
    for group in ["anyOf"] {
        if let Some(branches) = object.get(group).and_then(Value::as_array) {
            for (index, branch) in branches.iter().enumerate() {
                walk(
                    branch,
                    &format!("{pointer}/{group}/{index}"),
                    depth + 1,
                    totals,
                    found,
                );
            }
        }
    }
    for group in ["$defs", "definitions"] {
        if let Some(definitions) = object.get(group).and_then(Value::as_object) {
            for (name, definition) in definitions {
                totals.chars += name.len();
                let child = format!("{pointer}/{group}/{}", crate::yaml::pointer_segment(name));
                walk(definition, &child, depth + 1, totals, found);
            }
        }
    }
}

fn check_object(
    object: &serde_json::Map<String, Value>,
    pointer: &str,
    depth: usize,
    totals: &mut Totals,
    found: &mut Vec<Violation>,
) {
    if object.get("additionalProperties") != Some(&Value::Bool(false)) {
        found.push(Violation {
            code: NOT_STRICT,
            pointer: pointer.to_string(),
            at_key: true, // the object's own key reads better than its first line
            message: "an object schema needs `additionalProperties: false` in strict mode"
                .to_string(),
            help: "add `additionalProperties: false`".to_string(),
        });
    }
    let required: Vec<&str> = object
        .get("required")
        .and_then(Value::as_array)
        .map(|names| names.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    if let Some(properties) = object.get("properties").and_then(Value::as_object) {
        for (name, property) in properties {
            totals.properties += 1;
            totals.chars += name.len();
            let child = format!(
                "{pointer}/properties/{}",
                crate::yaml::pointer_segment(name)
            );
            if !required.contains(&name.as_str()) {
                found.push(Violation {
                    code: NOT_STRICT,
                    pointer: child.clone(),
                    at_key: true,
                    message: format!("property `{name}` is not listed in `required`"),
                    help: "strict mode needs every property required; for an optional one, list it and allow null: `type: [string, \"null\"]`".to_string(),
                });
            }
            walk(property, &child, depth + 1, totals, found);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn reports_unsupported_keywords_and_object_rules() {
        let schema = json!({
            "type": "object",
            "properties": {"a": {"type": "string", "default": "x"}, "b": {"allOf": []}},
            "required": ["a"],
        });
        let found = violations(&schema, "/labels/x/schema");
        let messages: Vec<&str> = found.iter().map(|v| v.message.as_str()).collect();
        assert!(
            messages
                .iter()
                .any(|m| m.contains("`default` is not supported")),
            "{messages:?}"
        );
        assert!(
            messages
                .iter()
                .any(|m| m.contains("`allOf` is not supported")),
            "{messages:?}"
        );
        assert!(
            messages
                .iter()
                .any(|m| m.contains("additionalProperties: false")),
            "{messages:?}"
        );
        assert!(
            messages.iter().any(|m| m.contains("`b` is not listed")),
            "{messages:?}"
        );
        assert!(
            found
                .iter()
                .any(|v| v.pointer == "/labels/x/schema/properties/a/default")
        );
    }

    #[test]
    fn counts_enum_values_across_the_schema() {
        let values: Vec<String> = (0..1001).map(|i| format!("v{i}")).collect();
        let schema = json!({"type": "string", "enum": values});
        let found = violations(&schema, "");
        assert!(found.iter().any(|v| v.message.contains("1001 enum values")));
    }
}
