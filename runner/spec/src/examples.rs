//! Few-shot examples (`examples:`): what a resolved job holds of them, and how one example's
//! label values become the answer the model is shown — the same JSON a valid answer is,
//! checked against the label fields, so an example can never teach an invalid answer.

use std::path::PathBuf;

use serde_json::{Map, Value};

use crate::job::{LabelField, LabelKind};
pub use crate::job_spec::{ExampleSelect, ExampleSimilarity};

/// Examples per row when the spec does not say.
pub const DEFAULT_K: usize = 4;

/// A labeled example.
#[derive(Debug, Clone, PartialEq)]
pub struct Example {
    /// Its id, if it has one (a row with the same id never sees it).
    pub id: Option<String>,
    /// The text shown as the user's turn.
    pub text: String,
    /// The answer shown as the assistant's turn: every label field, in spec order.
    pub answer: Map<String, Value>,
}

/// A labeled file of examples and where its values are.
#[derive(Debug, Clone, PartialEq)]
pub struct ExampleFile {
    /// The file (CSV or JSON Lines, by extension).
    pub path: PathBuf,
    /// The id column: named by the spec (required), or `id` when the file has one.
    pub id_column: Option<String>,
    /// Whether the spec named the id column (then the file must have it).
    pub id_required: bool,
    /// The text column.
    pub text_column: String,
    /// Label field → column, in spec order.
    pub columns: Vec<(String, String)>,
}

/// The job's examples.
#[derive(Debug, Clone, PartialEq)]
pub struct Examples {
    /// Examples written in the spec (validated).
    pub inline: Vec<Example>,
    /// The labeled file, read when the job is compiled or checked.
    pub file: Option<ExampleFile>,
    /// Examples per row.
    pub k: usize,
    /// How they are chosen.
    pub select: ExampleSelect,
    /// How `similar` compares texts.
    pub similarity: ExampleSimilarity,
    /// Seed of `fixed` and `random` draws.
    pub seed: u64,
    /// At least one per label of the first `one_of` field, when `k` allows.
    pub balance: bool,
}

/// The label `given` names among `labels`: exactly, else ignoring case.
fn label_named<'a>(labels: &'a [crate::job::Label], given: &str) -> Option<&'a str> {
    let given = given.trim();
    labels
        .iter()
        .find(|label| label.name == given)
        .or_else(|| {
            labels
                .iter()
                .find(|label| label.name.eq_ignore_ascii_case(given))
        })
        .map(|label| label.name.as_str())
}

fn names(labels: &[crate::job::Label]) -> String {
    labels
        .iter()
        .map(|label| label.name.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

/// One field's value from what the example gives (`Value::String` for a CSV cell).
pub fn field_value(field: &LabelField, given: &Value) -> Result<Value, String> {
    match &field.kind {
        LabelKind::OneOf { labels } => {
            let text = given
                .as_str()
                .ok_or_else(|| format!("`{}` must be a label, not {given}", field.name))?;
            label_named(labels, text)
                .map(|name| Value::String(name.to_string()))
                .ok_or_else(|| {
                    format!("`{}` is `{text}`, not one of {}", field.name, names(labels))
                })
        }
        LabelKind::AnyOf { labels, min, max } => {
            let items: Vec<String> = match given {
                Value::Array(items) => items
                    .iter()
                    .map(|item| item.as_str().map(str::to_string).ok_or(()))
                    .collect::<Result<_, _>>()
                    .map_err(|()| format!("`{}` must be a list of labels", field.name))?,
                Value::String(text) => match serde_json::from_str::<Vec<String>>(text) {
                    Ok(items) => items,
                    Err(_) => text
                        .split([';', '|'])
                        .map(str::trim)
                        .filter(|item| !item.is_empty())
                        .map(str::to_string)
                        .collect(),
                },
                Value::Null => Vec::new(),
                other => {
                    return Err(format!(
                        "`{}` must be a list of labels, not {other}",
                        field.name
                    ));
                }
            };
            let mut chosen: Vec<Value> = Vec::new();
            for item in &items {
                let name = label_named(labels, item).ok_or_else(|| {
                    format!(
                        "`{}` has `{item}`, not one of {}",
                        field.name,
                        names(labels)
                    )
                })?;
                if !chosen.iter().any(|seen| seen == name) {
                    chosen.push(Value::String(name.to_string()));
                }
            }
            let count = chosen.len() as u32;
            if min.is_some_and(|min| count < min) || max.is_some_and(|max| count > max) {
                return Err(format!(
                    "`{}` has {count} labels, outside its min/max",
                    field.name
                ));
            }
            Ok(Value::Array(chosen))
        }
        LabelKind::Schema { schema } => {
            let validator = jsonschema::validator_for(schema)
                .map_err(|error| format!("`{}`: {error}", field.name))?;
            // A CSV cell is text: valid as it is (a string field), or as the JSON it holds.
            if validator.is_valid(given) {
                return Ok(given.clone());
            }
            let value = match given {
                Value::String(text) => serde_json::from_str(text).unwrap_or_else(|_| given.clone()),
                other => other.clone(),
            };
            match validator.validate(&value) {
                Ok(()) => Ok(value),
                Err(error) => Err(format!(
                    "`{}` is not valid under its schema: {error}",
                    field.name
                )),
            }
        }
    }
}

/// The answer of an example whose value for field `f` is `value_of(f)`: every field, in spec
/// order. A missing field is an error.
pub fn answer_of(
    fields: &[LabelField],
    value_of: impl Fn(&str) -> Option<Value>,
) -> Result<Map<String, Value>, String> {
    let mut answer = Map::new();
    for field in fields {
        let given = value_of(&field.name)
            .ok_or_else(|| format!("no value for the label field `{}`", field.name))?;
        answer.insert(field.name.clone(), field_value(field, &given)?);
    }
    Ok(answer)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::job::Label;

    fn fields() -> Vec<LabelField> {
        let label = |name: &str| Label {
            name: name.into(),
            description: String::new(),
        };
        vec![
            LabelField {
                name: "sentiment".into(),
                description: None,
                kind: LabelKind::OneOf {
                    labels: vec![label("POSITIVE"), label("NEGATIVE")],
                },
            },
            LabelField {
                name: "themes".into(),
                description: None,
                kind: LabelKind::AnyOf {
                    labels: vec![label("price"), label("service")],
                    min: None,
                    max: Some(2),
                },
            },
        ]
    }

    #[test]
    fn answers_take_canonical_labels_in_field_order() {
        let given = |field: &str| match field {
            "sentiment" => Some(Value::from("positive")),
            _ => Some(Value::from("service; price;service")),
        };
        let answer = answer_of(&fields(), given).unwrap();
        assert_eq!(
            Value::Object(answer).to_string(),
            r#"{"sentiment":"POSITIVE","themes":["service","price"]}"#
        );
    }

    #[test]
    fn invalid_values_say_what_was_expected() {
        let bad = answer_of(&fields(), |field| {
            (field == "sentiment").then(|| Value::from("GOOD"))
        })
        .unwrap_err();
        assert_eq!(bad, "`sentiment` is `GOOD`, not one of POSITIVE, NEGATIVE");
        let missing = answer_of(&fields(), |field| {
            (field == "sentiment").then(|| Value::from("NEGATIVE"))
        })
        .unwrap_err();
        assert!(missing.contains("`themes`"), "{missing}");
    }
}
