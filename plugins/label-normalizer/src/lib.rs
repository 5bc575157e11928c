//! label-normalizer (validator): maps case, spacing, punctuation and synonym variants of a
//! label to its canonical spelling, per field, and rejects anything else with the allowed
//! labels in the message (so the model, asked again, sees them).
//!
//! ```yaml
//! plugins:
//!   validate:
//!     - uses: plugins/label-normalizer.wasm
//!       with:
//!         fields:
//!           sentiment:
//!             labels: [POSITIVE, NEGATIVE, NEUTRAL]
//!             synonyms: {good: POSITIVE, bad: NEGATIVE, mixed: NEUTRAL}
//! ```

use std::collections::HashMap;

use batchlabel_plugin_sdk::{
    Map, PluginError, PluginInfo, Row, Validator, Value, export_validator, json,
};

/// One field's canonical labels and the keys that find them.
struct Field {
    labels: Vec<String>,
    lookup: HashMap<String, String>,
}

/// The configured normalizer.
pub struct LabelNormalizer {
    fields: Vec<(String, Field)>,
}

/// The comparison key of a label: lower case, letters and digits only, words joined by one
/// space (`" Very-Positive!! "` → `"very positive"`).
pub fn key(text: &str) -> String {
    let mut key = String::with_capacity(text.len());
    for word in text
        .split(|character: char| !character.is_alphanumeric())
        .filter(|word| !word.is_empty())
    {
        if !key.is_empty() {
            key.push(' ');
        }
        key.extend(word.chars().flat_map(char::to_lowercase));
    }
    key
}

impl Field {
    fn normalize(&self, value: &str) -> Option<&str> {
        self.lookup.get(&key(value)).map(String::as_str)
    }
}

impl LabelNormalizer {
    fn normalize_value(name: &str, field: &Field, value: Value) -> Result<Value, PluginError> {
        let reject = |found: &str| {
            PluginError(format!(
                "`{name}`: `{found}` is not a label; allowed: {}",
                field.labels.join(", ")
            ))
        };
        match value {
            Value::String(text) => field
                .normalize(&text)
                .map(|label| Value::String(label.to_string()))
                .ok_or_else(|| reject(&text)),
            Value::Array(items) => {
                let mut labels: Vec<Value> = Vec::new();
                for item in items {
                    let text = item
                        .as_str()
                        .map_or_else(|| item.to_string(), str::to_string);
                    let label = Value::String(
                        field
                            .normalize(&text)
                            .ok_or_else(|| reject(&text))?
                            .to_string(),
                    );
                    if !labels.contains(&label) {
                        labels.push(label);
                    }
                }
                Ok(Value::Array(labels))
            }
            Value::Null => Err(PluginError(format!("`{name}` is missing"))),
            other => Err(reject(&other.to_string())),
        }
    }
}

impl Validator for LabelNormalizer {
    fn info() -> PluginInfo {
        PluginInfo::new(
            "label-normalizer",
            env!("CARGO_PKG_VERSION"),
            json!({
                "type": "object",
                "required": ["fields"],
                "additionalProperties": false,
                "properties": {
                    "fields": {
                        "description": "Per output field: its canonical labels and synonyms.",
                        "type": "object",
                        "minProperties": 1,
                        "additionalProperties": {
                            "type": "object",
                            "required": ["labels"],
                            "additionalProperties": false,
                            "properties": {
                                "labels": {"type": "array", "items": {"type": "string"}, "minItems": 1},
                                "synonyms": {
                                    "description": "Variant → canonical label.",
                                    "type": "object",
                                    "additionalProperties": {"type": "string"}
                                }
                            }
                        }
                    }
                }
            }),
        )
    }

    fn configure(config: Value) -> Result<Self, PluginError> {
        let Some(fields) = config["fields"].as_object() else {
            return Err("`fields` must map each output field to its `labels`".into());
        };
        let mut configured = Vec::new();
        for (name, spec) in fields {
            let labels: Vec<String> = spec["labels"]
                .as_array()
                .map(|labels| {
                    labels
                        .iter()
                        .filter_map(Value::as_str)
                        .map(str::to_string)
                        .collect()
                })
                .unwrap_or_default();
            if labels.is_empty() {
                return Err(
                    format!("`fields.{name}.labels` must list the canonical labels").into(),
                );
            }
            let mut lookup = HashMap::new();
            for label in &labels {
                if let Some(previous) = lookup.insert(key(label), label.clone())
                    && previous != *label
                {
                    return Err(format!(
                        "`fields.{name}`: `{previous}` and `{label}` normalize to the same key"
                    )
                    .into());
                }
            }
            for (variant, canonical) in spec["synonyms"].as_object().unwrap_or(&Map::new()) {
                let canonical = canonical.as_str().unwrap_or_default();
                if !labels.iter().any(|label| label == canonical) {
                    return Err(format!(
                        "`fields.{name}.synonyms.{variant}`: `{canonical}` is not one of the labels"
                    )
                    .into());
                }
                lookup.insert(key(variant), canonical.to_string());
            }
            configured.push((name.clone(), Field { labels, lookup }));
        }
        Ok(Self { fields: configured })
    }

    fn validate(&self, mut output: Value, _row: &Row) -> Result<Value, PluginError> {
        let Some(object) = output.as_object_mut() else {
            return Err("the output is not a JSON object".into());
        };
        for (name, field) in &self.fields {
            let value = object.remove(name).unwrap_or(Value::Null);
            let normalized = Self::normalize_value(name, field, value)?;
            object.insert(name.clone(), normalized);
        }
        Ok(output)
    }
}

export_validator!(LabelNormalizer);

#[cfg(test)]
mod tests {
    use super::*;

    fn normalizer() -> LabelNormalizer {
        LabelNormalizer::configure(json!({"fields": {
            "sentiment": {"labels": ["POSITIVE", "NEGATIVE", "NEUTRAL"], "synonyms": {"good": "POSITIVE", "so-so": "NEUTRAL"}},
            "topics": {"labels": ["Film, TV & Video", "Music"]}
        }}))
        .unwrap()
    }

    fn row() -> Row {
        Row {
            id: "1".into(),
            custom_id: "r-1".into(),
        }
    }

    #[test]
    fn variants_map_to_canonical_labels() {
        let plugin = normalizer();
        let output = plugin
            .validate(
                json!({"sentiment": " positive! ", "topics": ["film tv video", "MUSIC", "Music"]}),
                &row(),
            )
            .unwrap();
        assert_eq!(
            output,
            json!({"sentiment": "POSITIVE", "topics": ["Film, TV & Video", "Music"]})
        );
        let output = plugin
            .validate(json!({"sentiment": "Good", "topics": []}), &row())
            .unwrap();
        assert_eq!(output["sentiment"], "POSITIVE");
        assert_eq!(
            plugin
                .validate(json!({"sentiment": "SO SO", "topics": []}), &row())
                .unwrap()["sentiment"],
            "NEUTRAL"
        );
    }

    #[test]
    fn anything_else_is_rejected_with_the_allowed_labels() {
        let error = normalizer()
            .validate(json!({"sentiment": "ecstatic", "topics": []}), &row())
            .unwrap_err();
        assert_eq!(
            error.0,
            "`sentiment`: `ecstatic` is not a label; allowed: POSITIVE, NEGATIVE, NEUTRAL"
        );
        let error = normalizer()
            .validate(json!({"topics": []}), &row())
            .unwrap_err();
        assert_eq!(error.0, "`sentiment` is missing");
    }

    #[test]
    fn bad_configuration_is_explained() {
        let error = LabelNormalizer::configure(
            json!({"fields": {"s": {"labels": ["A"], "synonyms": {"x": "B"}}}}),
        )
        .err()
        .unwrap();
        assert_eq!(
            error.0,
            "`fields.s.synonyms.x`: `B` is not one of the labels"
        );
        assert!(LabelNormalizer::configure(json!({})).is_err());
    }
}
