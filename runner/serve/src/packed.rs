//! The scripted engine's answers to packed requests (`batch.pack`): each numbered item is
//! answered as if it had been asked alone — the same script rules, matched against the item's
//! text, and the same default labels — then put under its labels in the packed answer. A rule
//! that errors, refuses or cuts off answers for the whole pack (a model does that to a whole
//! request); a rule's `content` becomes the item's answer (a label outside the schema is
//! kept, so a malformed item can be tested), and content that is not a JSON object leaves
//! the item out of the answer (a code string then comes out one short; an object without the
//! field gives `?`).

use serde_json::{Map, Value};

use crate::engine::{Rule, Script};

/// What the rules say about a packed request.
pub(crate) enum Packed<'a> {
    /// A rule answers for the whole pack (an error, a refusal or a cut-off answer).
    Whole(&'a Rule),
    /// The packed answer.
    Content(String),
}

/// One field of a packed schema: its labels, and their codes when it is answered in codes.
struct Field<'a> {
    name: &'a str,
    labels: Vec<String>,
    codes: Option<Vec<char>>,
}

fn fields_of(schema: &Value) -> Vec<Field<'_>> {
    let Some(fields) = schema["properties"].as_object() else {
        return Vec::new();
    };
    fields
        .iter()
        .map(|(name, field)| {
            let codes = batchlabel_protocol::pack::code_labels(field);
            if codes.is_empty() {
                let labels = field["properties"]
                    .as_object()
                    .map(|labels| labels.keys().cloned().collect())
                    .unwrap_or_default();
                Field {
                    name,
                    labels,
                    codes: None,
                }
            } else {
                Field {
                    name,
                    labels: codes.iter().map(|(_, label)| label.clone()).collect(),
                    codes: Some(codes.iter().map(|(code, _)| *code).collect()),
                }
            }
        })
        .collect()
}

/// Answer the items of `prompt` under `schema` (a packed answer's schema).
pub(crate) fn answer<'a>(script: &'a Script, schema: &Value, prompt: &str) -> Packed<'a> {
    let fields = fields_of(schema);
    let items = batchlabel_protocol::pack::packed_items(prompt);
    // Per field, per item: the labels given (`None` when the item is left out).
    let mut given: Vec<Vec<Option<Vec<String>>>> = vec![vec![None; items.len()]; fields.len()];
    for (index, (_, text)) in items.iter().enumerate() {
        let rule = script.matching(text);
        if let Some(rule) = rule {
            let whole = rule.status.is_some_and(|status| status != 200)
                || rule.refusal.is_some()
                || rule
                    .finish_reason
                    .as_deref()
                    .is_some_and(|reason| reason != "stop");
            if whole {
                return Packed::Whole(rule);
            }
        }
        let item = match rule.and_then(|rule| rule.content.as_deref()) {
            Some(content) => match serde_json::from_str::<Value>(content) {
                Ok(Value::Object(item)) => item,
                _ => continue, // left out of the answer
            },
            None => default_item(&fields, text),
        };
        for (field, slots) in fields.iter().zip(&mut given) {
            slots[index] = Some(match item.get(field.name) {
                Some(Value::String(label)) => vec![label.clone()],
                Some(Value::Array(labels)) => labels
                    .iter()
                    .filter_map(|label| label.as_str().map(str::to_string))
                    .collect(),
                _ => Vec::new(),
            });
        }
    }
    let answer: Map<String, Value> = fields
        .iter()
        .zip(given)
        .map(|(field, slots)| (field.name.to_string(), field_answer(field, &slots)))
        .collect();
    Packed::Content(Value::Object(answer).to_string())
}

/// One field's part of the packed answer: a code per item (`?` for a label without one; an
/// item left out has none, so the string comes out short), or per label the numbers of its
/// items.
fn field_answer(field: &Field<'_>, slots: &[Option<Vec<String>>]) -> Value {
    if let Some(codes) = &field.codes {
        let text: String = slots
            .iter()
            .flatten()
            .map(|labels| {
                labels
                    .first()
                    .and_then(|label| field.labels.iter().position(|known| known == label))
                    .map_or('?', |index| codes[index])
            })
            .collect();
        return Value::String(text);
    }
    let mut lists: Map<String, Value> = field
        .labels
        .iter()
        .map(|label| (label.clone(), Value::Array(Vec::new())))
        .collect();
    for (index, labels) in slots.iter().enumerate() {
        for label in labels.iter().flatten() {
            if let Some(list) = lists
                .entry(label.clone())
                .or_insert_with(|| Value::Array(Vec::new()))
                .as_array_mut()
            {
                list.push((index + 1).into());
            }
        }
    }
    Value::Object(lists)
}

/// The labels the scripted engine gives `text` when it is asked alone: field `i` takes the
/// label the text's hash picks, mixed as [`crate::answer_for_schema`] mixes it.
fn default_item(fields: &[Field<'_>], text: &str) -> Map<String, Value> {
    let hash = xxhash_rust::xxh3::xxh3_64(text.as_bytes());
    fields
        .iter()
        .enumerate()
        .filter(|(_, field)| !field.labels.is_empty())
        .map(|(index, field)| {
            let mixed = hash.rotate_left(index as u32 * 7 + 1);
            let label = &field.labels[(mixed % field.labels.len() as u64) as usize];
            (field.name.to_string(), Value::String(label.clone()))
        })
        .collect()
}
