//! One request, one answer: the assistant's JSON is built field by field in schema order,
//! extending the same cached sequence. `one_of` labels are scored (lower-cased internally: a
//! small model scores `positive` as one token, `POSITIVE` as three) and the user's label is
//! reported; `any_of` and raw-schema fields are generated under a grammar and made valid
//! (duplicates dropped, counts bounded).

use serde_json::{Map, Value};

use crate::prompt::{Field, FieldKind, any_of_grammar, parse, quoted_alternatives};
use crate::session::Session;
use crate::{Completion, EngineError, OneOfDecoding};

/// Most tokens generated for one grammar field.
const MAX_FIELD_TOKENS: usize = 96;

pub(crate) fn answer(
    session: &mut Session<'_>,
    body: &str,
    model: &str,
    one_of: OneOfDecoding,
) -> Result<Completion, EngineError> {
    let mut request = parse(body)?;
    for (role, content) in &mut request.messages {
        if role == "assistant"
            && let Some(spoken) = in_answer_form(&request.fields, content)
        {
            *content = spoken;
        }
    }
    let mut tokens = session.prompt_tokens(&request.messages)?;
    let prompt_tokens = tokens.len() as u64;
    let mut completion_tokens = 0u64;
    let mut output = Map::new();
    let mut label_scores = Map::new();
    for (index, Field { name, kind }) in request.fields.iter().enumerate() {
        let key = serde_json::to_string(name).unwrap_or_default();
        let lead = if index == 0 {
            format!("{{{key}: ")
        } else {
            format!(", {key}: ")
        };
        tokens.extend(session.text_tokens(&lead));
        match kind {
            FieldKind::OneOf(labels) if one_of == OneOfDecoding::Grammar => {
                session.extend_to(&tokens)?;
                let spoken = spoken_labels(labels);
                let grammar = format!("root ::= {}\n", quoted_alternatives(&spoken));
                let (text, generated) = session.generate(&grammar, MAX_FIELD_TOKENS)?;
                completion_tokens += generated as u64;
                tokens.extend(session.text_tokens(&text));
                let said: String = serde_json::from_str(&text).unwrap_or_default();
                let index = spoken.iter().position(|label| *label == said).unwrap_or(0);
                output.insert(name.clone(), Value::String(labels[index].clone()));
            }
            FieldKind::OneOf(labels) => {
                tokens.extend(session.text_tokens("\""));
                session.extend_to(&tokens)?;
                let spoken: Vec<String> = spoken_labels(labels);
                // The closing quote is left out of the score: after a whole label it is near
                // certain, and leaving it out saves a decode for one-token labels.
                let candidates: Vec<_> = spoken
                    .iter()
                    .map(|label| session.text_tokens(label))
                    .collect();
                let scores = session.score(&candidates)?;
                let best = (0..labels.len())
                    .max_by(|a, b| scores[*a].total_cmp(&scores[*b]))
                    .unwrap_or(0);
                tokens.extend(candidates[best].iter().copied());
                tokens.extend(session.text_tokens("\""));
                completion_tokens += candidates[best].len() as u64 + 1;
                output.insert(name.clone(), Value::String(labels[best].clone()));
                label_scores.insert(
                    name.clone(),
                    Value::Object(
                        labels
                            .iter()
                            .zip(&scores)
                            .map(|(label, score)| (label.clone(), Value::from(f64::from(*score))))
                            .collect(),
                    ),
                );
            }
            FieldKind::AnyOf { labels, min, max } => {
                session.extend_to(&tokens)?;
                let (text, generated) =
                    session.generate(&any_of_grammar(labels, *min, *max), MAX_FIELD_TOKENS)?;
                completion_tokens += generated as u64;
                tokens.extend(session.text_tokens(&text));
                output.insert(
                    name.clone(),
                    Value::Array(valid_set(&text, labels, *min, *max)),
                );
            }
            FieldKind::Schema(schema) => {
                session.extend_to(&tokens)?;
                let grammar =
                    llama_cpp_2::json_schema_to_grammar(&schema.to_string()).map_err(|error| {
                        EngineError::BadRequest(format!(
                            "field `{name}`: no grammar for its schema: {error}"
                        ))
                    })?;
                let (text, generated) = session.generate(&grammar, MAX_FIELD_TOKENS * 4)?;
                completion_tokens += generated as u64;
                tokens.extend(session.text_tokens(&text));
                let value = serde_json::from_str(&text).map_err(|error| {
                    EngineError::Inference(format!("field `{name}`: the constrained answer `{text}` is not JSON ({error}); raise nothing, it is a bug"))
                })?;
                output.insert(name.clone(), value);
            }
        }
    }
    Ok(Completion {
        content: Value::Object(output).to_string(),
        prompt_tokens,
        completion_tokens,
        label_scores,
        model: model.to_string(),
    })
}

/// An example answer (a few-shot assistant turn) written exactly as this engine writes its
/// own: the request's fields in order, `": "` after each key, `one_of` labels spoken, arrays
/// with `", "`. A small model copies the examples' form: shown `{"sentiment":"POSITIVE"}`, it
/// scores the engine's `{"sentiment": "positive` lower than the label deserves. `None` (the
/// turn is left as written) when the turn is not an object of exactly these fields.
fn in_answer_form(fields: &[Field], content: &str) -> Option<String> {
    let answer: Map<String, Value> = serde_json::from_str(content).ok()?;
    if answer.len() != fields.len() {
        return None;
    }
    let mut text = String::from("{");
    for (index, Field { name, kind }) in fields.iter().enumerate() {
        let value = answer.get(name)?;
        if index > 0 {
            text.push_str(", ");
        }
        text.push_str(&serde_json::to_string(name).ok()?);
        text.push_str(": ");
        let written = match kind {
            FieldKind::OneOf(labels) => {
                let at = labels
                    .iter()
                    .position(|label| Some(label.as_str()) == value.as_str())?;
                serde_json::to_string(&spoken_labels(labels)[at]).ok()?
            }
            FieldKind::AnyOf { .. } => {
                let items: Vec<String> = value
                    .as_array()?
                    .iter()
                    .map(|item| {
                        item.as_str()
                            .and_then(|item| serde_json::to_string(item).ok())
                    })
                    .collect::<Option<_>>()?;
                format!("[{}]", items.join(", "))
            }
            FieldKind::Schema(_) => serde_json::to_string(value).ok()?,
        };
        text.push_str(&written);
    }
    text.push('}');
    Some(text)
}

/// Labels as the model reads them: lower case, unless that would make two labels equal.
fn spoken_labels(labels: &[String]) -> Vec<String> {
    let lower: Vec<String> = labels.iter().map(|label| label.to_lowercase()).collect();
    let distinct: std::collections::HashSet<&String> = lower.iter().collect();
    if distinct.len() == labels.len() {
        lower
    } else {
        labels.to_vec()
    }
}

/// The generated array, made valid: allowed labels only, each once, at most `max`, and at
/// least `min` (topped up in the spec's order).
fn valid_set(text: &str, labels: &[String], min: usize, max: usize) -> Vec<Value> {
    let generated: Vec<String> = serde_json::from_str(text).unwrap_or_default();
    let mut chosen: Vec<String> = Vec::new();
    for label in generated {
        if labels.contains(&label) && !chosen.contains(&label) && chosen.len() < max {
            chosen.push(label);
        }
    }
    for label in labels {
        if chosen.len() >= min {
            break;
        }
        if !chosen.contains(label) {
            chosen.push(label.clone());
        }
    }
    chosen.into_iter().map(Value::String).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_sets_are_made_valid() {
        let labels: Vec<String> = ["joy", "anger", "fear"]
            .iter()
            .map(|label| (*label).to_string())
            .collect();
        assert_eq!(
            valid_set(r#"["joy", "joy", "anger"]"#, &labels, 0, 3),
            vec!["joy", "anger"]
        );
        assert_eq!(
            valid_set(r#"["joy", "anger", "fear"]"#, &labels, 0, 2),
            vec!["joy", "anger"]
        );
        assert_eq!(valid_set("[]", &labels, 1, 2), vec!["joy"]);
        assert_eq!(valid_set("not json", &labels, 0, 2), Vec::<Value>::new());
    }

    #[test]
    fn example_answers_are_rewritten_in_the_engines_own_form() {
        let fields = vec![
            Field {
                name: "sentiment".into(),
                kind: FieldKind::OneOf(vec!["POSITIVE".into(), "NEGATIVE".into()]),
            },
            Field {
                name: "topics".into(),
                kind: FieldKind::AnyOf {
                    labels: vec!["price".into(), "service".into()],
                    min: 0,
                    max: 2,
                },
            },
            Field {
                name: "note".into(),
                kind: FieldKind::Schema(serde_json::json!({"type": "string"})),
            },
        ];
        let written = r#"{"topics":["price","service"],"sentiment":"NEGATIVE","note":"a \"b\""}"#;
        assert_eq!(
            in_answer_form(&fields, written).as_deref(),
            Some(r#"{"sentiment": "negative", "topics": ["price", "service"], "note": "a \"b\""}"#)
        );
        // Not an answer of these fields: left alone.
        assert_eq!(in_answer_form(&fields, "plain words"), None);
        assert_eq!(in_answer_form(&fields, r#"{"sentiment":"POSITIVE"}"#), None);
        let unknown = r#"{"sentiment":"MAYBE","topics":[],"note":""}"#;
        assert_eq!(in_answer_form(&fields, unknown), None);
    }

    #[test]
    fn labels_are_spoken_in_lower_case_unless_that_merges_them() {
        let labels = vec!["POSITIVE".to_string(), "NEGATIVE".to_string()];
        assert_eq!(spoken_labels(&labels), vec!["positive", "negative"]);
        let clash = vec!["Yes".to_string(), "YES".to_string()];
        assert_eq!(spoken_labels(&clash), clash);
    }
}
