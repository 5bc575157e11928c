//! The scripted engine's answers to packed requests (`batch.pack`): each numbered item is
//! answered as if it had been asked alone — the same script rules, matched against the item's
//! text, and the same default labels — then put under its labels in the packed answer. A rule
//! that errors, refuses or cuts off answers for the whole pack (a model does that to a whole
//! request); a rule's `content` becomes the item's answer (a label outside the schema is
//! kept, so a malformed item can be tested), and content that is not a JSON object leaves
//! the item out of the answer.

use serde_json::{Map, Value};

use crate::engine::{Rule, Script};

/// What the rules say about a packed request.
pub(crate) enum Packed<'a> {
    /// A rule answers for the whole pack (an error, a refusal or a cut-off answer).
    Whole(&'a Rule),
    /// The packed answer.
    Content(String),
}

/// Answer the items of `prompt` under `schema` (a packed answer's schema).
pub(crate) fn answer<'a>(script: &'a Script, schema: &Value, prompt: &str) -> Packed<'a> {
    let fields: Vec<(&String, Vec<&String>)> = schema["properties"]
        .as_object()
        .map(|fields| {
            fields
                .iter()
                .map(|(name, field)| {
                    let labels = field["properties"]
                        .as_object()
                        .map(|labels| labels.keys().collect())
                        .unwrap_or_default();
                    (name, labels)
                })
                .collect()
        })
        .unwrap_or_default();
    let mut answer: Map<String, Value> = fields
        .iter()
        .map(|(name, labels)| {
            let lists = labels
                .iter()
                .map(|label| ((*label).clone(), Value::Array(Vec::new())))
                .collect();
            ((*name).clone(), Value::Object(lists))
        })
        .collect();
    for (number, text) in batchlabel_protocol::pack::packed_items(prompt) {
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
        for (field, value) in item {
            let labels: Vec<String> = match value {
                Value::String(label) => vec![label],
                Value::Array(labels) => labels
                    .into_iter()
                    .filter_map(|label| label.as_str().map(str::to_string))
                    .collect(),
                _ => continue,
            };
            let lists = answer
                .entry(field)
                .or_insert_with(|| Value::Object(Map::new()));
            for label in labels {
                if let Some(list) = lists.as_object_mut().map(|lists| {
                    lists
                        .entry(label)
                        .or_insert_with(|| Value::Array(Vec::new()))
                }) && let Some(list) = list.as_array_mut()
                {
                    list.push(number.into());
                }
            }
        }
    }
    Packed::Content(Value::Object(answer).to_string())
}

/// The labels the scripted engine gives `text` when it is asked alone: field `i` takes the
/// label the text's hash picks, mixed as [`crate::answer_for_schema`] mixes it.
fn default_item(fields: &[(&String, Vec<&String>)], text: &str) -> Map<String, Value> {
    let hash = xxhash_rust::xxh3::xxh3_64(text.as_bytes());
    fields
        .iter()
        .enumerate()
        .filter(|(_, (_, labels))| !labels.is_empty())
        .map(|(index, (name, labels))| {
            let mixed = hash.rotate_left(index as u32 * 7 + 1);
            let label = labels[(mixed % labels.len() as u64) as usize];
            ((*name).clone(), Value::String(label.clone()))
        })
        .collect()
}
