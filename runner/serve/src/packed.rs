//! The scripted engine's answers to packed requests (`batch.pack`): each numbered item is
//! answered as if it had been asked alone — the same script rules, matched against the item's
//! text, and the same default labels — then put under its labels in the packed answer. A rule
//! that errors, refuses or cuts off answers for the whole pack (a model does that to a whole
//! request); a rule's `content` becomes the item's answer (a label outside the schema is
//! kept, so a malformed item can be tested), and content that is not a JSON object leaves
//! the item out of the answer (a code string then comes out one short; an object without the
//! field gives `?`).

use std::borrow::Cow;
use std::sync::atomic::{AtomicU64, Ordering};

use serde_json::{Map, Value};

use crate::engine::{Rule, Script};

/// Faults in packed answers (`serve --fault-item-*`, `--fault-pack-*`), so the runner's
/// per-item recovery is tested under flags as whole lines are. Pack faults fire on every Nth
/// packed request counted from server start. Item faults fire on about one item in N, picked
/// by a hash of the item's text: the same items fail whichever provider front asks, so runs
/// on several providers against one server still give the same labels.
#[derive(Debug, Default)]
pub struct PackFaults {
    /// Answer about one packed item in N with a label outside the schema.
    pub item_invalid_every: Option<u64>,
    /// Leave about one packed item in N out of its pack's answer.
    pub item_missing_every: Option<u64>,
    /// Refuse every Nth packed request as a whole.
    pub refusal_every: Option<u64>,
    /// Cut every Nth packed request's answer off half way (`finish_reason: length`).
    pub truncate_every: Option<u64>,
    packs: AtomicU64,
}

/// The label an invalid item is given: outside every schema the runner writes.
const NOT_A_LABEL: &str = "not-a-label";

fn fires(count: u64, every: Option<u64>) -> bool {
    every.is_some_and(|every| every > 0 && count.is_multiple_of(every))
}

impl PackFaults {
    fn next_pack(&self) -> (bool, bool) {
        let count = self.packs.fetch_add(1, Ordering::Relaxed) + 1;
        let refused = fires(count, self.refusal_every);
        (refused, !refused && fires(count, self.truncate_every))
    }

    /// `Some(true)` for an invalid item, `Some(false)` for a missing one.
    fn item(&self, text: &str) -> Option<bool> {
        let hash = xxhash_rust::xxh3::xxh3_64(text.as_bytes());
        if fires(hash, self.item_invalid_every) {
            Some(true)
        } else if fires(hash.rotate_left(29), self.item_missing_every) {
            Some(false)
        } else {
            None
        }
    }
}

/// What the rules say about a packed request.
pub(crate) enum Packed<'a> {
    /// A rule answers for the whole pack (an error, a refusal or a cut-off answer).
    Whole(Cow<'a, Rule>),
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
    let faults = script.pack_faults();
    let (refused, truncated) = faults.next_pack();
    if refused {
        return Packed::Whole(Cow::Owned(Rule {
            refusal: Some("I can't help with that.".to_string()),
            ..Rule::default()
        }));
    }
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
                return Packed::Whole(Cow::Borrowed(rule));
            }
        }
        let item = match faults.item(text) {
            Some(false) => continue, // left out of the answer
            Some(true) => fields
                .iter()
                .map(|field| (field.name.to_string(), Value::from(NOT_A_LABEL)))
                .collect(),
            None => match rule.and_then(|rule| rule.content.as_deref()) {
                Some(content) => match serde_json::from_str::<Value>(content) {
                    Ok(Value::Object(item)) => item,
                    _ => continue, // left out of the answer
                },
                None => default_item(&fields, text),
            },
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
    let content = Value::Object(answer).to_string();
    if truncated {
        let mut cut = content.len() / 2;
        while !content.is_char_boundary(cut) {
            cut -= 1;
        }
        return Packed::Whole(Cow::Owned(Rule {
            content: Some(content[..cut].to_string()),
            finish_reason: Some("length".to_string()),
            ..Rule::default()
        }));
    }
    Packed::Content(content)
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

#[cfg(test)]
mod tests {
    use batchlabel_protocol::pack::{PackField, packed_prompt, packed_schema, split_answer};

    use super::*;

    fn fields() -> Vec<PackField<'static>> {
        vec![PackField {
            name: "sentiment",
            labels: vec!["POSITIVE", "NEGATIVE"],
            many: false,
            codes: false,
        }]
    }

    fn content(packed: Packed<'_>) -> String {
        match packed {
            Packed::Content(content) => content,
            Packed::Whole(rule) => panic!("a whole-pack answer: {rule:?}"),
        }
    }

    #[test]
    fn item_faults_pick_the_same_items_on_every_request() {
        let faults = PackFaults {
            item_invalid_every: Some(4),
            item_missing_every: Some(5),
            ..PackFaults::default()
        };
        let script = Script::default().with_pack_faults(faults);
        let texts: Vec<String> = (0..60).map(|row| format!("comment {row}")).collect();
        let texts: Vec<&str> = texts.iter().map(String::as_str).collect();
        let prompt = packed_prompt(&texts);
        let schema = packed_schema(&fields());
        let first = content(answer(&script, &schema, &prompt));
        assert_eq!(first, content(answer(&script, &schema, &prompt)));
        let items = split_answer(&fields(), &first, texts.len()).unwrap();
        let missing = items.iter().filter(|item| item.is_none()).count();
        let invalid = items
            .iter()
            .flatten()
            .filter(|item| item["sentiment"] == NOT_A_LABEL)
            .count();
        assert!(missing > 0 && invalid > 0, "{first}");
        assert!(missing + invalid < texts.len() / 2, "{first}");
    }

    #[test]
    fn pack_faults_refuse_or_cut_off_every_nth_packed_request() {
        let faults = PackFaults {
            refusal_every: Some(2),
            truncate_every: Some(3),
            ..PackFaults::default()
        };
        let script = Script::default().with_pack_faults(faults);
        let prompt = packed_prompt(&["one", "two", "three"]);
        let schema = packed_schema(&fields());
        let kinds: Vec<&str> = (1..=6)
            .map(|_| match answer(&script, &schema, &prompt) {
                Packed::Content(content) => {
                    assert!(serde_json::from_str::<Value>(&content).is_ok());
                    "answer"
                }
                Packed::Whole(rule) if rule.refusal.is_some() => "refusal",
                Packed::Whole(rule) => {
                    assert_eq!(rule.finish_reason.as_deref(), Some("length"));
                    let cut = rule.content.as_deref().unwrap_or_default();
                    assert!(serde_json::from_str::<Value>(cut).is_err(), "{cut}");
                    "cut off"
                }
            })
            .collect();
        assert_eq!(
            kinds,
            [
                "answer", "refusal", "cut off", "refusal", "answer", "refusal"
            ]
        );
    }
}
