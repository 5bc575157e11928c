//! The codes form of a packed `one_of` field: one character per line, in line order, each
//! standing for a label (`0`–`9`, then `a`–`z`, then `A`–`Z`). The schema's description says
//! which label each code stands for; that is also where the scripted engine reads it back.

use serde_json::{Value, json};

use super::PackField;

/// The codes, in the order labels take them: at most 62 labels.
pub const CODE_ALPHABET: &str = "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ";

/// What the description says before the codes.
const DESCRIPTION_HEAD: &str = "One character per line, in line order, no separators: ";

/// The schema of a codes field over `labels`.
pub(super) fn schema(labels: &[&str]) -> Value {
    let codes: Vec<String> = CODE_ALPHABET
        .chars()
        .zip(labels)
        .map(|(code, label)| format!("{code}={label}"))
        .collect();
    json!({
        "type": "string",
        "description": format!("{DESCRIPTION_HEAD}{}.", codes.join(", ")),
    })
}

/// The code → label pairs a codes field's schema describes (empty for any other field).
pub fn code_labels(field: &Value) -> Vec<(char, String)> {
    let Some(codes) = field["description"]
        .as_str()
        .and_then(|text| text.strip_prefix(DESCRIPTION_HEAD))
        .filter(|_| field["type"] == "string")
    else {
        return Vec::new();
    };
    codes
        .trim_end_matches('.')
        .split(", ")
        .filter_map(|pair| {
            let (code, label) = pair.split_once('=')?;
            let mut chars = code.chars();
            Some((chars.next()?, label.to_string())).filter(|_| chars.next().is_none())
        })
        .collect()
}

/// Each line's label from a codes field's answer; a code that names no label is kept as the
/// character itself, which the line's own validation rejects. A missing answer or one whose
/// length is not the number of lines cannot be lined up with them: an error.
pub(super) fn split(
    field: &PackField<'_>,
    answer: Option<&Value>,
    items: usize,
) -> Result<Vec<String>, String> {
    let Some(text) = answer.and_then(Value::as_str) else {
        return Err(format!("the packed answer has no `{}` codes", field.name));
    };
    let codes: Vec<char> = text.chars().filter(|code| !code.is_whitespace()).collect();
    if codes.len() != items {
        return Err(format!(
            "the packed answer's `{}` has {} code(s) for {items} line(s)",
            field.name,
            codes.len()
        ));
    }
    Ok(codes
        .into_iter()
        .map(|code| {
            CODE_ALPHABET
                .chars()
                .position(|known| known == code)
                .and_then(|index| field.labels.get(index))
                .map_or_else(|| code.to_string(), |label| (*label).to_string())
        })
        .collect())
}
