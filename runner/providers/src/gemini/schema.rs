//! The label schema as Gemini's `responseSchema` takes it: the OpenAPI 3.0 subset Google
//! documents for structured output. Types are upper-case, `["string", "null"]` becomes `nullable`, `const` a one-value
//! `enum`, `$ref`s are inlined, objects list their `propertyOrdering` (so answers keep the
//! spec's field order) and `additionalProperties` goes (Gemini objects hold only the declared
//! properties). Keywords the subset lacks (`uniqueItems`, `multipleOf`…) move into the
//! description, where the model can still follow them; answers are validated against the full
//! schema afterwards. What cannot be expressed at all (a non-string `enum`, a recursive
//! `$ref`) is a [`SchemaProblem`], reported by `check` at the spec's line.

use serde_json::{Map, Value, json};

/// Keywords copied as they are.
const KEPT: &[&str] = &[
    "description",
    "title",
    "minItems",
    "maxItems",
    "minLength",
    "maxLength",
    "minimum",
    "maximum",
    "pattern",
    "minProperties",
    "maxProperties",
];

/// String formats the subset knows.
const FORMATS: &[&str] = &["date-time", "enum", "int32", "int64", "float", "double"];

/// Deepest `$ref` nesting followed before calling the schema recursive.
const MAX_DEPTH: usize = 32;

/// Something in a JSON schema that `responseSchema` cannot express.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SchemaProblem {
    /// Where, as a JSON pointer into the schema.
    pub pointer: String,
    /// What.
    pub message: String,
}

/// `schema` as a `responseSchema`, or everything in it that cannot be one.
pub fn response_schema(schema: &Value) -> Result<Value, Vec<SchemaProblem>> {
    let mut converter = Converter {
        root: schema,
        problems: Vec::new(),
    };
    let converted = converter.convert(schema, "", 0);
    if converter.problems.is_empty() {
        Ok(converted)
    } else {
        Err(converter.problems)
    }
}

struct Converter<'a> {
    root: &'a Value,
    problems: Vec<SchemaProblem>,
}

impl Converter<'_> {
    fn problem(&mut self, pointer: &str, message: String) {
        self.problems.push(SchemaProblem {
            pointer: pointer.to_string(),
            message,
        });
    }

    fn convert(&mut self, schema: &Value, pointer: &str, depth: usize) -> Value {
        let Some(object) = schema.as_object() else {
            // `true` (anything): the loosest schema the subset has.
            return json!({"type": "STRING"});
        };
        if let Some(reference) = object.get("$ref").and_then(Value::as_str) {
            return self.reference(reference, pointer, depth);
        }
        let mut out = Map::new();
        let mut notes = Vec::new();
        Self::types(object, &mut out);
        self.values(object, pointer, &mut out);
        for (key, value) in object {
            let here = format!("{pointer}/{key}");
            match key.as_str() {
                "type"
                | "enum"
                | "const"
                | "$defs"
                | "definitions"
                | "$schema"
                | "$id"
                | "additionalProperties"
                | "required" => {}
                "properties" => self.properties(value, &here, depth, &mut out),
                "items" => {
                    out.insert("items".into(), self.convert(value, &here, depth));
                }
                "anyOf" | "oneOf" => self.variants(value, &here, depth, &mut out),
                "format" => match value.as_str() {
                    Some(format) if FORMATS.contains(&format) => {
                        out.insert("format".into(), value.clone());
                    }
                    _ => notes.push(format!("format: {}", plain(value))),
                },
                key if KEPT.contains(&key) => {
                    out.insert(key.into(), value.clone());
                }
                other => notes.push(format!("{other}: {}", plain(value))),
            }
        }
        if let Some(required) = object.get("required") {
            out.insert("required".into(), required.clone());
        }
        if !notes.is_empty() {
            let description = out.get("description").and_then(Value::as_str).map_or_else(
                || notes.join("; "),
                |text| format!("{text} ({})", notes.join("; ")),
            );
            out.insert("description".into(), Value::String(description));
        }
        Value::Object(out)
    }

    /// `type` upper-cased; a `null` in a type list becomes `nullable`, and two other types
    /// become an `anyOf`.
    fn types(object: &Map<String, Value>, out: &mut Map<String, Value>) {
        let names: Vec<&str> = match object.get("type") {
            Some(Value::String(name)) => vec![name.as_str()],
            Some(Value::Array(names)) => names.iter().filter_map(Value::as_str).collect(),
            _ => Vec::new(),
        };
        let nullable = names.contains(&"null");
        let kinds: Vec<&str> = names.into_iter().filter(|name| *name != "null").collect();
        match kinds.as_slice() {
            [] => {}
            [kind] => {
                out.insert("type".into(), Value::String(kind.to_ascii_uppercase()));
            }
            several => {
                let variants = several
                    .iter()
                    .map(|kind| json!({"type": kind.to_ascii_uppercase()}))
                    .collect();
                out.insert("anyOf".into(), Value::Array(variants));
            }
        }
        if nullable {
            out.insert("nullable".into(), Value::Bool(true));
        }
    }

    /// `anyOf` / `oneOf`: a `{"type": "null"}` variant becomes `nullable` (Gemini needs a
    /// `type` on every schema), and a single variant left stands for the whole.
    fn variants(
        &mut self,
        value: &Value,
        pointer: &str,
        depth: usize,
        out: &mut Map<String, Value>,
    ) {
        let Some(variants) = value.as_array() else {
            return;
        };
        let is_null = |variant: &Value| variant.get("type").and_then(Value::as_str) == Some("null");
        let mut converted: Vec<Value> = variants
            .iter()
            .enumerate()
            .filter(|(_, variant)| !is_null(variant))
            .map(|(index, variant)| self.convert(variant, &format!("{pointer}/{index}"), depth))
            .collect();
        if converted.len() < variants.len() {
            out.insert("nullable".into(), Value::Bool(true));
        }
        if converted.len() == 1 {
            if let Some(Value::Object(single)) = converted.pop() {
                for (key, value) in single {
                    out.entry(key).or_insert(value);
                }
            }
        } else {
            out.insert("anyOf".into(), Value::Array(converted));
        }
    }

    /// `enum` and `const`: string values only.
    fn values(&mut self, object: &Map<String, Value>, pointer: &str, out: &mut Map<String, Value>) {
        let (key, values) = match (object.get("enum"), object.get("const")) {
            (Some(Value::Array(values)), _) => ("enum", values.clone()),
            (_, Some(value)) => ("const", vec![value.clone()]),
            _ => return,
        };
        let strings: Vec<Value> = values
            .iter()
            .filter(|value| !value.is_null())
            .cloned()
            .collect();
        if strings.is_empty() {
            self.problem(
                &format!("{pointer}/{key}"),
                format!("`{key}` allows no value: Gemini's responseSchema needs at least one"),
            );
        } else if strings.iter().all(Value::is_string) {
            out.insert("type".into(), Value::String("STRING".into()));
            out.insert("format".into(), Value::String("enum".into()));
            out.insert("enum".into(), Value::Array(strings));
            if strings_len(&values) != values.len() {
                out.insert("nullable".into(), Value::Bool(true));
            }
        } else {
            self.problem(
                &format!("{pointer}/{key}"),
                format!("`{key}` with values that are not strings ({}): Gemini's responseSchema takes string enums only", plain(&Value::Array(values))),
            );
        }
    }

    fn properties(
        &mut self,
        value: &Value,
        pointer: &str,
        depth: usize,
        out: &mut Map<String, Value>,
    ) {
        let Some(properties) = value.as_object() else {
            return;
        };
        let mut converted = Map::new();
        for (name, property) in properties {
            let here = format!("{pointer}/{}", escape(name));
            converted.insert(name.clone(), self.convert(property, &here, depth));
        }
        let order: Vec<Value> = properties.keys().cloned().map(Value::String).collect();
        out.insert("properties".into(), Value::Object(converted));
        if order.len() > 1 {
            out.insert("propertyOrdering".into(), Value::Array(order));
        }
    }

    fn reference(&mut self, reference: &str, pointer: &str, depth: usize) -> Value {
        if depth >= MAX_DEPTH {
            self.problem(
                &format!("{pointer}/$ref"),
                format!("`$ref: {reference}` is recursive: Gemini's responseSchema cannot express a schema that contains itself"),
            );
            return json!({"type": "STRING"});
        }
        let target = reference
            .strip_prefix('#')
            .and_then(|path| self.root.pointer(path));
        if let Some(target) = target {
            self.convert(target, pointer, depth + 1)
        } else {
            self.problem(
                &format!("{pointer}/$ref"),
                format!("`$ref: {reference}` does not point into this schema"),
            );
            json!({"type": "STRING"})
        }
    }
}

fn strings_len(values: &[Value]) -> usize {
    values.iter().filter(|value| !value.is_null()).count()
}

/// A JSON pointer segment for `name`.
fn escape(name: &str) -> String {
    name.replace('~', "~0").replace('/', "~1")
}

/// A value as short text for a description.
fn plain(value: &Value) -> String {
    match value {
        Value::String(text) => text.clone(),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn label_schemas_convert_in_order_and_closed_objects_open() {
        let schema = json!({"type": "object", "additionalProperties": false,
            "required": ["sentiment", "themes"],
            "properties": {
                "sentiment": {"type": "string", "enum": ["POS", "NEG"], "description": "feel"},
                "themes": {"type": "array", "maxItems": 2, "uniqueItems": true,
                    "items": {"type": "string", "enum": ["a", "b"]}},
                "note": {"type": ["string", "null"]},
                "kind": {"const": "x"}}});
        let converted = response_schema(&schema).unwrap();
        assert_eq!(converted["type"], "OBJECT");
        assert!(converted.get("additionalProperties").is_none());
        assert_eq!(
            converted["propertyOrdering"],
            json!(["sentiment", "themes", "note", "kind"])
        );
        assert_eq!(
            converted["properties"]["sentiment"]["enum"],
            json!(["POS", "NEG"])
        );
        assert_eq!(converted["properties"]["sentiment"]["format"], "enum");
        assert_eq!(converted["properties"]["themes"]["items"]["type"], "STRING");
        assert_eq!(
            converted["properties"]["themes"]["description"],
            "uniqueItems: true"
        );
        assert_eq!(
            converted["properties"]["note"],
            json!({"type": "STRING", "nullable": true})
        );
        assert_eq!(converted["properties"]["kind"]["enum"], json!(["x"]));
        let optional = json!({"anyOf": [{"type": "string"}, {"type": "null"}]});
        assert_eq!(
            response_schema(&optional).unwrap(),
            json!({"type": "STRING", "nullable": true})
        );
        assert!(response_schema(&json!({"type": "string", "enum": []})).is_err());
    }

    #[test]
    fn references_inline_and_what_cannot_be_said_is_reported_where_it_is() {
        let schema = json!({"$defs": {"score": {"type": "integer", "minimum": 1}},
            "type": "object", "properties": {"a": {"$ref": "#/$defs/score"}}});
        let converted = response_schema(&schema).unwrap();
        assert_eq!(
            converted["properties"]["a"],
            json!({"type": "INTEGER", "minimum": 1})
        );
        let recursive = json!({"$defs": {"node": {"type": "object",
            "properties": {"next": {"$ref": "#/$defs/node"}}}},
            "type": "object", "properties": {"tree": {"$ref": "#/$defs/node"}, "n": {"enum": [1, 2]}}});
        let problems = response_schema(&recursive).unwrap_err();
        assert!(
            problems
                .iter()
                .any(|problem| problem.pointer == "/properties/n/enum"),
            "{problems:?}"
        );
        assert!(
            problems
                .iter()
                .any(|problem| problem.pointer.starts_with("/properties/tree")
                    && problem.message.contains("recursive")),
            "{problems:?}"
        );
    }
}
