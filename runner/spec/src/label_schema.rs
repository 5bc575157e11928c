//! From label fields to JSON Schemas: the strict `response_format` sent to OpenAI (which must
//! stay within its strict structured-output subset of JSON Schema) and the schema every output is
//! validated against (which may be stricter, e.g. `uniqueItems`).

use serde_json::{Map, Value, json};

use crate::job::{LabelField, LabelKind};

/// The schema sent with the request: strict-mode compatible.
pub fn strict_schema(fields: &[LabelField]) -> Value {
    root(fields, false)
}

/// The schema outputs are validated against after parsing.
pub fn validation_schema(fields: &[LabelField]) -> Value {
    root(fields, true)
}

/// The strict structured output every request asks for: its name and schema. Each
/// provider's codec puts it in its own form (OpenAI: a strict `json_schema` response format).
pub fn structured_output(job_name: &str, fields: &[LabelField]) -> crate::StructuredOutput {
    crate::StructuredOutput {
        name: schema_name(job_name),
        schema: strict_schema(fields),
    }
}

/// `json_schema.name` allows `[a-zA-Z0-9_-]{1,64}`.
fn schema_name(job_name: &str) -> String {
    let name: String = job_name
        .chars()
        .map(|character| {
            if character.is_ascii_alphanumeric() || character == '_' || character == '-' {
                character
            } else {
                '_'
            }
        })
        .take(64)
        .collect();
    if name.is_empty() {
        "labels".to_string()
    } else {
        name
    }
}

fn root(fields: &[LabelField], for_validation: bool) -> Value {
    let mut properties = Map::new();
    for field in fields {
        properties.insert(field.name.clone(), field_schema(field, for_validation));
    }
    let required: Vec<Value> = fields
        .iter()
        .map(|field| Value::String(field.name.clone()))
        .collect();
    json!({
        "type": "object",
        "properties": properties,
        "required": required,
        "additionalProperties": false,
    })
}

fn field_schema(field: &LabelField, for_validation: bool) -> Value {
    let mut schema = match &field.kind {
        LabelKind::OneOf { labels } => json!({
            "type": "string",
            "enum": labels.iter().map(|label| label.name.as_str()).collect::<Vec<_>>(),
        }),
        LabelKind::AnyOf { labels, min, max } => {
            let mut schema = json!({
                "type": "array",
                "items": {
                    "type": "string",
                    "enum": labels.iter().map(|label| label.name.as_str()).collect::<Vec<_>>(),
                },
            });
            if let Some(min) = min.filter(|min| *min > 0) {
                schema["minItems"] = min.into();
            }
            if let Some(max) = max {
                schema["maxItems"] = (*max).into();
            }
            // Not in OpenAI's strict subset; enforced when validating instead.
            if for_validation {
                schema["uniqueItems"] = true.into();
            }
            schema
        }
        LabelKind::Schema { schema } => schema.clone(),
    };
    if let (Some(description), Some(object)) = (&field.description, schema.as_object_mut()) {
        object
            .entry("description")
            .or_insert_with(|| Value::String(description.clone()));
    }
    schema
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::job::Label;

    fn fields() -> Vec<LabelField> {
        let label = |name: &str| Label {
            name: name.to_string(),
            description: String::new(),
        };
        vec![
            LabelField {
                name: "sentiment".into(),
                description: Some("How the author feels".into()),
                kind: LabelKind::OneOf {
                    labels: vec![label("POSITIVE"), label("NEGATIVE")],
                },
            },
            LabelField {
                name: "themes".into(),
                description: None,
                kind: LabelKind::AnyOf {
                    labels: vec![label("plot"), label("music")],
                    min: None,
                    max: Some(2),
                },
            },
        ]
    }

    #[test]
    fn strict_schema_obeys_the_subset() {
        let schema = strict_schema(&fields());
        assert_eq!(
            schema,
            json!({
                "type": "object",
                "properties": {
                    "sentiment": {"type": "string", "enum": ["POSITIVE", "NEGATIVE"], "description": "How the author feels"},
                    "themes": {"type": "array", "items": {"type": "string", "enum": ["plot", "music"]}, "maxItems": 2},
                },
                "required": ["sentiment", "themes"],
                "additionalProperties": false,
            })
        );
        assert!(crate::strict_subset::violations(&schema, "").is_empty());
    }

    #[test]
    fn validation_schema_adds_unique_items() {
        let schema = validation_schema(&fields());
        assert_eq!(schema["properties"]["themes"]["uniqueItems"], true);
    }

    #[test]
    fn structured_output_name_is_sanitized() {
        let output = structured_output("tweet sentiment!", &fields());
        assert_eq!(output.name, "tweet_sentiment_");
        assert_eq!(output.schema["additionalProperties"], false);
    }
}
