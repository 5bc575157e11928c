//! lowercase-labels (test plugin): lower-cases every string in the output and accepts any
//! configuration, so a test can swap it in for label-normalizer without touching the spec.

use batchlabel_plugin_sdk::{
    PluginError, PluginInfo, Row, Validator, Value, export_validator, json,
};

/// Lower-cases labels.
pub struct LowercaseLabels;

fn lower(value: Value) -> Value {
    match value {
        Value::String(text) => Value::String(text.to_lowercase()),
        Value::Array(items) => Value::Array(items.into_iter().map(lower).collect()),
        Value::Object(fields) => Value::Object(
            fields
                .into_iter()
                .map(|(key, value)| (key, lower(value)))
                .collect(),
        ),
        other => other,
    }
}

impl Validator for LowercaseLabels {
    fn info() -> PluginInfo {
        PluginInfo::new("lowercase-labels", env!("CARGO_PKG_VERSION"), json!({}))
    }

    fn configure(_config: Value) -> Result<Self, PluginError> {
        Ok(Self)
    }

    fn validate(&self, output: Value, _row: &Row) -> Result<Value, PluginError> {
        Ok(lower(output))
    }
}

export_validator!(LowercaseLabels);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lower_cases_every_label() {
        let row = Row {
            id: "1".into(),
            custom_id: "r-1".into(),
        };
        let output = LowercaseLabels
            .validate(json!({"a": "POS", "b": ["X", "y"]}), &row)
            .unwrap();
        assert_eq!(output, json!({"a": "pos", "b": ["x", "y"]}));
    }
}
