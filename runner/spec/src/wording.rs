//! How diagnostics name things: places in the spec, values, kinds and field docs, so that
//! every message says them the same way.

use serde_json::Value;

/// JSON Schema type names as a YAML author knows them.
pub(crate) fn yaml_type_name(kind: &str) -> String {
    match kind {
        "object" => "a mapping".to_string(),
        "array" => "a list".to_string(),
        other => other.to_string(),
    }
}

/// A readable name for the place a pointer names: "`labels.sentiment`" or "the spec".
pub(crate) fn describe_place(pointer: &str) -> String {
    if pointer.is_empty() {
        return "the spec".to_string();
    }
    let dotted = pointer
        .trim_start_matches('/')
        .split('/')
        .map(|segment| segment.replace("~1", "/").replace("~0", "~"))
        .collect::<Vec<_>>()
        .join(".");
    format!("`{dotted}`")
}

pub(crate) fn json_kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(number) if number.is_i64() || number.is_u64() => "an integer",
        Value::Number(_) => "a number with a fraction",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "a mapping",
    }
}

/// A value quoted for a message, shortened: a message is one line, whatever was written.
pub(crate) fn compact(value: &Value) -> String {
    const MAX_CHARS: usize = 60;
    let text = match value {
        Value::String(text) => text.clone(),
        other => other.to_string(),
    };
    if text.chars().count() > MAX_CHARS {
        let start: String = text.chars().take(MAX_CHARS).collect();
        format!("`{start}…`")
    } else {
        format!("`{text}`")
    }
}

pub(crate) fn quoted(items: &[String]) -> String {
    items
        .iter()
        .map(|item| format!("`{item}`"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The first sentence of a doc comment, on one line ("e.g." and "i.e." do not end it).
pub(crate) fn first_sentence(doc: &str) -> String {
    let flat = doc.split_whitespace().collect::<Vec<_>>().join(" ");
    let mut searched = 0;
    while let Some(found) = flat[searched..].find(". ") {
        let end = searched + found;
        if !(flat[..end].ends_with("e.g") || flat[..end].ends_with("i.e")) {
            return flat[..end].to_string();
        }
        searched = end + 2;
    }
    flat.trim_end_matches('.').to_string()
}
