//! Packed requests (`batch.pack`): several rows in one request as numbered lines. Each field
//! is answered in one of two forms:
//! - lists (the default, and always for `any_of` fields): per label, the numbers of the lines
//!   it applies to — `{"sentiment": {"POSITIVE": [1, 4], "NEGATIVE": [2], "NEUTRAL": [3]}}` —
//!   about two output tokens per line (a number and a comma), and a line left out is seen;
//! - codes (`one_of` fields with `batch.pack_answer: codes`): one character per line, in line
//!   order — `{"sentiment": "0120"}` — about a third of a token per line (digits go three to a
//!   token), but the model must keep the lines' order; a string of the wrong length is
//!   rejected whole.
//!
//! The runner writes packed requests and splits their answers; `serve`'s scripted engine
//! reads them back to answer.

use std::fmt::Write as _;

use serde_json::{Map, Value, json};

mod codes;

pub use codes::{CODE_ALPHABET, code_labels};

/// One label field as a packed answer sees it.
#[derive(Debug, Clone)]
pub struct PackField<'a> {
    /// The field's name in the output.
    pub name: &'a str,
    /// Its labels.
    pub labels: Vec<&'a str>,
    /// Whether an item takes several labels (`any_of`) or exactly one (`one_of`).
    pub many: bool,
    /// Answered as a code string (one character per line) instead of lists.
    pub codes: bool,
}

/// The strict schema of a packed answer: per field, per label, a list of item numbers.
pub fn packed_schema(fields: &[PackField<'_>]) -> Value {
    let mut properties = Map::new();
    for field in fields {
        if field.codes && !field.many {
            properties.insert(field.name.to_string(), codes::schema(&field.labels));
            continue;
        }
        let mut labels = Map::new();
        for label in &field.labels {
            labels.insert(
                (*label).to_string(),
                json!({"type": "array", "items": {"type": "integer"}}),
            );
        }
        let rule = if field.many {
            "any number of labels"
        } else {
            "exactly one label"
        };
        properties.insert(
            field.name.to_string(),
            json!({
                "type": "object",
                "description": format!("Line numbers per label; each line takes {rule}."),
                "properties": labels,
                "required": field.labels,
                "additionalProperties": false,
            }),
        );
    }
    json!({
        "type": "object",
        "properties": properties,
        "required": fields.iter().map(|field| field.name).collect::<Vec<_>>(),
        "additionalProperties": false,
    })
}

/// Whether `schema` is a packed answer's schema (every field an object of integer lists or
/// a code string).
pub fn is_packed_schema(schema: &Value) -> bool {
    let Some(fields) = schema["properties"].as_object() else {
        return false;
    };
    !fields.is_empty()
        && fields.values().all(|field| {
            !code_labels(field).is_empty()
                || field["properties"].as_object().is_some_and(|labels| {
                    !labels.is_empty()
                        && labels.values().all(|label| {
                            label["type"] == "array" && label["items"]["type"] == "integer"
                        })
                })
        })
}

/// The user message of a pack: a short instruction, then each item's own user message on a
/// line of its own after its number and a space (`12 …`: two tokens per item, where `[12] `
/// takes four). Line breaks inside an item become spaces, so every item stays on its line.
pub fn packed_prompt(items: &[&str]) -> String {
    let mut text = format!(
        "Label each of the {} numbered lines below on its own, every line, in the form each field's description gives.\n",
        items.len()
    );
    for (index, item) in items.iter().enumerate() {
        let _ = write!(text, "\n{} ", index + 1);
        let mut rest = *item;
        while let Some(position) = rest.find(['\n', '\r']) {
            text.push_str(&rest[..position]);
            text.push(' ');
            rest = &rest[position + 1..];
        }
        text.push_str(rest);
    }
    text
}

/// The items of a packed prompt, by number (the inverse of [`packed_prompt`]).
pub fn packed_items(prompt: &str) -> Vec<(usize, &str)> {
    let mut items = Vec::new();
    // The instruction is the first line; the items follow, one per line.
    for line in prompt.lines().skip(1) {
        if let Some((number, text)) = line.split_once(' ')
            && number.parse::<usize>() == Ok(items.len() + 1)
        {
            items.push((items.len() + 1, text));
        }
    }
    items
}

/// Each item's answer from a packed answer, in item order: the object an unpacked request
/// would have answered (`{"sentiment": "POSITIVE"}`), or `None` when the answer does not
/// label the item at all. An item under two labels of a `one_of` field gets them as a list,
/// which its own validation rejects. Numbers outside `1..=items` are ignored.
pub fn split_answer(
    fields: &[PackField<'_>],
    content: &str,
    items: usize,
) -> Result<Vec<Option<Value>>, String> {
    let answer: Value = serde_json::from_str(content)
        .map_err(|error| format!("the packed answer is not JSON: {error}"))?;
    let Some(answer) = answer.as_object() else {
        return Err("the packed answer is not a JSON object".into());
    };
    let mut per_item: Vec<Map<String, Value>> = vec![Map::new(); items];
    let mut mentioned = vec![false; items];
    for field in fields {
        if field.codes && !field.many {
            let labels = codes::split(field, answer.get(field.name), items)?;
            for (index, label) in labels.into_iter().enumerate() {
                mentioned[index] = true;
                per_item[index].insert(field.name.to_string(), Value::String(label));
            }
            continue;
        }
        let mut chosen: Vec<Vec<&str>> = vec![Vec::new(); items];
        if let Some(labels) = answer.get(field.name).and_then(Value::as_object) {
            for (label, numbers) in labels {
                for number in numbers.as_array().into_iter().flatten() {
                    let Some(index) = number.as_u64().and_then(|n| usize::try_from(n).ok()) else {
                        continue;
                    };
                    if (1..=items).contains(&index) && !chosen[index - 1].contains(&label.as_str())
                    {
                        chosen[index - 1].push(label);
                    }
                }
            }
        }
        for (index, labels) in chosen.into_iter().enumerate() {
            // An item under two labels of a `one_of` field keeps both, as a list.
            let value = match (field.many, labels.as_slice()) {
                (false, []) => continue,
                (false, [label]) => json!(label),
                _ => json!(labels),
            };
            if !field.many || !labels.is_empty() {
                mentioned[index] = true;
            }
            per_item[index].insert(field.name.to_string(), value);
        }
    }
    // With only `any_of` fields an unlabeled item cannot be told from one with no labels.
    let all_many = fields.iter().all(|field| field.many);
    Ok(per_item
        .into_iter()
        .zip(mentioned)
        .map(|(object, mentioned)| (mentioned || all_many).then_some(Value::Object(object)))
        .collect())
}

#[cfg(test)]
mod tests;
