//! A YAML value as JSON, with the numbers JSON cannot hold listed instead of lost.

use super::{OddNumber, pointer_segment};

/// JSON for a YAML value at `pointer`; numbers JSON cannot hold become `null` and are
/// listed in `odd`, so that they are reported instead of silently dropped.
pub(super) fn to_json(
    value: &serde_yaml::Value,
    pointer: &mut String,
    odd: &mut Vec<OddNumber>,
) -> serde_json::Value {
    use serde_yaml::Value as Yaml;
    match value {
        Yaml::Null => serde_json::Value::Null,
        Yaml::Bool(flag) => serde_json::Value::Bool(*flag),
        Yaml::Number(number) => number_to_json(number, pointer, odd),
        Yaml::String(text) => serde_json::Value::String(text.clone()),
        Yaml::Sequence(items) => serde_json::Value::Array(
            items
                .iter()
                .enumerate()
                .map(|(index, item)| {
                    nested(pointer, &index.to_string(), |at| to_json(item, at, odd))
                })
                .collect(),
        ),
        Yaml::Mapping(mapping) => serde_json::Value::Object(
            mapping
                .iter()
                .map(|(key, value)| {
                    let key = key_text(key);
                    let json = nested(pointer, &key, |at| to_json(value, at, odd));
                    (key, json)
                })
                .collect(),
        ),
        Yaml::Tagged(tagged) => to_json(&tagged.value, pointer, odd),
    }
}

/// Run `inside` with `pointer` extended by `segment`, then restore it (one buffer, not a
/// new string per node).
fn nested<T>(pointer: &mut String, segment: &str, inside: impl FnOnce(&mut String) -> T) -> T {
    let length = pointer.len();
    pointer.push('/');
    pointer.push_str(&pointer_segment(segment));
    let result = inside(pointer);
    pointer.truncate(length);
    result
}

fn number_to_json(
    number: &serde_yaml::Number,
    pointer: &str,
    odd: &mut Vec<OddNumber>,
) -> serde_json::Value {
    if let Some(integer) = number.as_i64() {
        return integer.into();
    }
    if let Some(unsigned) = number.as_u64() {
        return unsigned.into();
    }
    let float = number.as_f64().unwrap_or(f64::NAN);
    if let Some(finite) = serde_json::Number::from_f64(float) {
        return serde_json::Value::Number(finite);
    }
    let text = if float.is_nan() {
        ".nan"
    } else if float > 0.0 {
        ".inf"
    } else {
        "-.inf"
    };
    odd.push(OddNumber {
        pointer: pointer.to_string(),
        text: text.to_string(),
    });
    serde_json::Value::Null
}

/// Mapping keys become strings: `1: one` is the label `"1"`, as a user would expect.
fn key_text(key: &serde_yaml::Value) -> String {
    match key {
        serde_yaml::Value::String(text) => text.clone(),
        serde_yaml::Value::Null => "null".to_string(),
        serde_yaml::Value::Bool(flag) => flag.to_string(),
        serde_yaml::Value::Number(number) => number.to_string(),
        other => serde_yaml::to_string(other)
            .unwrap_or_default()
            .trim()
            .to_string(),
    }
}
