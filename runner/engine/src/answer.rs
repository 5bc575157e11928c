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
    let request = parse(body)?;
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
    fn labels_are_spoken_in_lower_case_unless_that_merges_them() {
        let labels = vec!["POSITIVE".to_string(), "NEGATIVE".to_string()];
        assert_eq!(spoken_labels(&labels), vec!["positive", "negative"]);
        let clash = vec!["Yes".to_string(), "YES".to_string()];
        assert_eq!(spoken_labels(&clash), clash);
    }
}
