//! multilabel-rules (validator): rules a multi-label answer must follow beyond its schema —
//! at most N labels, labels that must stand alone (`neutral`), groups of mutually exclusive
//! labels, and a set of which at least one is required. A broken rule rejects the answer,
//! naming the rule, so the model is asked again with it.
//!
//! ```yaml
//! plugins:
//!   validate:
//!     - uses: plugins/multilabel-rules.wasm
//!       with: {field: emotions, max_labels: 3, alone: [neutral], exclusive: [[joy, sadness]]}
//! ```

use batchlabel_plugin_sdk::{
    PluginError, PluginInfo, Row, Validator, Value, export_validator, json,
};

/// The configured rules.
pub struct MultilabelRules {
    field: String,
    max_labels: Option<usize>,
    alone: Vec<String>,
    exclusive: Vec<Vec<String>>,
    required_one_of: Vec<String>,
}

fn strings(value: &Value) -> Vec<String> {
    value
        .as_array()
        .map(|items| {
            items
                .iter()
                .filter_map(Value::as_str)
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default()
}

impl Validator for MultilabelRules {
    fn info() -> PluginInfo {
        let labels = json!({"type": "array", "items": {"type": "string"}});
        PluginInfo::new(
            "multilabel-rules",
            env!("CARGO_PKG_VERSION"),
            json!({
                "type": "object",
                "required": ["field"],
                "additionalProperties": false,
                "properties": {
                    "field": {"description": "The multi-label output field.", "type": "string"},
                    "max_labels": {"description": "At most this many labels.", "type": "integer", "minimum": 1},
                    "alone": {"description": "Labels that must be the only label when present.", "allOf": [labels]},
                    "exclusive": {"description": "Groups of which at most one label may be given.", "type": "array", "items": labels},
                    "required_one_of": {"description": "At least one of these labels must be given.", "allOf": [labels]}
                }
            }),
        )
    }

    fn configure(config: Value) -> Result<Self, PluginError> {
        let Some(field) = config["field"].as_str() else {
            return Err("`field` must name the multi-label output field".into());
        };
        let max_labels = match &config["max_labels"] {
            Value::Null => None,
            value => Some(
                value
                    .as_u64()
                    .filter(|max| *max >= 1)
                    .and_then(|max| usize::try_from(max).ok())
                    .ok_or("`max_labels` must be a whole number ≥ 1")?,
            ),
        };
        Ok(Self {
            field: field.to_string(),
            max_labels,
            alone: strings(&config["alone"]),
            exclusive: config["exclusive"]
                .as_array()
                .map(|groups| groups.iter().map(strings).collect())
                .unwrap_or_default(),
            required_one_of: strings(&config["required_one_of"]),
        })
    }

    fn validate(&self, output: Value, _row: &Row) -> Result<Value, PluginError> {
        let labels = match &output[&self.field] {
            Value::Array(_) => strings(&output[&self.field]),
            Value::Null => return Err(format!("`{}` is missing", self.field).into()),
            _ => return Err(format!("`{}` is not a list of labels", self.field).into()),
        };
        let field = &self.field;
        if let Some(max) = self.max_labels
            && labels.len() > max
        {
            return Err(format!(
                "`{field}` has {} labels; at most {max} are allowed",
                labels.len()
            )
            .into());
        }
        for label in &self.alone {
            if labels.contains(label) && labels.len() > 1 {
                return Err(format!(
                    "`{field}`: `{label}` must be the only label, but {} were given",
                    labels.len()
                )
                .into());
            }
        }
        for group in &self.exclusive {
            let given: Vec<&String> = labels
                .iter()
                .filter(|label| group.contains(label))
                .collect();
            if given.len() > 1 {
                return Err(format!(
                    "`{field}`: {} exclude each other; give at most one",
                    given
                        .iter()
                        .map(|label| format!("`{label}`"))
                        .collect::<Vec<_>>()
                        .join(" and ")
                )
                .into());
            }
        }
        if !self.required_one_of.is_empty()
            && !labels
                .iter()
                .any(|label| self.required_one_of.contains(label))
        {
            return Err(format!(
                "`{field}` needs at least one of: {}",
                self.required_one_of.join(", ")
            )
            .into());
        }
        Ok(output)
    }
}

export_validator!(MultilabelRules);

#[cfg(test)]
mod tests {
    use super::*;

    fn rules() -> MultilabelRules {
        MultilabelRules::configure(json!({
            "field": "emotions", "max_labels": 3, "alone": ["neutral"],
            "exclusive": [["joy", "sadness"]], "required_one_of": ["joy", "sadness", "anger", "neutral"]
        }))
        .unwrap()
    }

    fn check(labels: Value) -> Result<Value, PluginError> {
        rules().validate(
            json!({"emotions": labels}),
            &Row {
                id: "1".into(),
                custom_id: "r-1".into(),
            },
        )
    }

    #[test]
    fn valid_answers_pass_unchanged() {
        assert_eq!(
            check(json!(["joy", "anger"])).unwrap(),
            json!({"emotions": ["joy", "anger"]})
        );
        assert!(check(json!(["neutral"])).is_ok());
    }

    #[test]
    fn each_rule_names_what_broke() {
        assert_eq!(
            check(json!(["joy", "anger", "fear", "love"]))
                .unwrap_err()
                .0,
            "`emotions` has 4 labels; at most 3 are allowed"
        );
        assert_eq!(
            check(json!(["neutral", "joy"])).unwrap_err().0,
            "`emotions`: `neutral` must be the only label, but 2 were given"
        );
        assert_eq!(
            check(json!(["joy", "sadness"])).unwrap_err().0,
            "`emotions`: `joy` and `sadness` exclude each other; give at most one"
        );
        assert_eq!(
            check(json!(["fear"])).unwrap_err().0,
            "`emotions` needs at least one of: joy, sadness, anger, neutral"
        );
        assert_eq!(
            check(json!("joy")).unwrap_err().0,
            "`emotions` is not a list of labels"
        );
    }

    #[test]
    fn configuration_needs_a_field() {
        assert!(MultilabelRules::configure(json!({"max_labels": 2})).is_err());
        assert!(MultilabelRules::configure(json!({"field": "x", "max_labels": 0})).is_err());
    }
}
