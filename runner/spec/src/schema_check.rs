//! Structural check of a spec against the JSON Schema generated from [`crate::JobSpec`].
//!
//! Validating against the schema (instead of stopping at serde's first error) reports every
//! structural problem at once; each error's JSON pointer is turned into a span, and each kind
//! of error into a message with a hint (`did you mean …?`, the allowed values, the field's doc).

use jsonschema::ValidationError;
use jsonschema::error::{TypeKind, ValidationErrorKind};
use serde_json::Value;

use crate::diagnostic::{Diagnostic, Span, did_you_mean};
use crate::job_spec::JobSpec;
use crate::wording::{compact, describe_place, first_sentence, json_kind, quoted, yaml_type_name};
use crate::yaml::{SpanIndex, YamlDocument, pointer_segment};

/// The JSON Schema of a job spec, as written to `schemas/job-spec.schema.json`.
pub fn job_spec_schema() -> Value {
    let schema = schemars::generate::SchemaSettings::draft2020_12()
        .into_generator()
        .into_root_schema_for::<JobSpec>();
    serde_json::to_value(schema).unwrap_or_default()
}

/// Check `document` against the spec schema; every violation becomes a diagnostic. Its
/// numbers are checked by [`crate::numbers`].
pub fn check(document: &YamlDocument) -> Vec<Diagnostic> {
    let (instance, spans) = (&document.value, &document.spans);
    let schema = job_spec_schema();
    let validator = match jsonschema::validator_for(&schema) {
        Ok(validator) => validator,
        Err(error) => {
            return vec![Diagnostic::error(
                "internal",
                format!("the built-in spec schema is invalid: {error}"),
                spans.value(""),
            )];
        }
    };
    let mut diagnostics = Vec::new();
    for error in validator.iter_errors(instance) {
        diagnose(&schema, instance, &error, spans, &mut diagnostics);
    }
    // An odd number (`.nan`) is `null` in the instance; its own error says more than
    // "expected a string, found null".
    let odd_spans: Vec<Span> = document
        .odd_numbers
        .iter()
        .map(|odd| spans.value(&odd.pointer))
        .collect();
    diagnostics.retain(|found| !(found.code == "wrong-type" && odd_spans.contains(&found.span)));
    diagnostics.extend(crate::numbers::check(document, &schema));
    diagnostics
}

fn diagnose(
    schema: &Value,
    instance: &Value,
    error: &ValidationError<'_>,
    spans: &SpanIndex,
    out: &mut Vec<Diagnostic>,
) {
    let pointer = error.instance_path().as_str().to_string();
    let schema_node = schema_at(schema, error.schema_path().as_str());
    let found = pointer_value(instance, &pointer);
    let diagnostic = match error.kind() {
        // Ranges are [`crate::numbers`]' to report, with the whole range in one message.
        ValidationErrorKind::Minimum { .. }
        | ValidationErrorKind::Maximum { .. }
        | ValidationErrorKind::ExclusiveMinimum { .. }
        | ValidationErrorKind::ExclusiveMaximum { .. } => return,
        ValidationErrorKind::AdditionalProperties { unexpected } => {
            let allowed = schema_node
                .and_then(|node| parent_properties(schema, error.schema_path().as_str(), node));
            for key in unexpected {
                let key_pointer = format!("{pointer}/{}", pointer_segment(key));
                let mut diagnostic = Diagnostic::error(
                    "unknown-field",
                    format!("unknown field `{key}` in {}", describe_place(&pointer)),
                    spans.key(&key_pointer),
                );
                if let Some(allowed) = &allowed {
                    if let Some(close) = did_you_mean(key, allowed.iter().map(String::as_str)) {
                        diagnostic = diagnostic.with_help(format!("did you mean `{close}`?"));
                    }
                    diagnostic =
                        diagnostic.with_help(format!("expected one of: {}", quoted(allowed)));
                }
                out.push(diagnostic);
            }
            return;
        }
        ValidationErrorKind::Required { property } => {
            let name = property.as_str().unwrap_or_default();
            // The root has no key to point at: use the top of the file.
            let span = if pointer.is_empty() {
                Span::point(1, 1)
            } else {
                spans.key(&pointer)
            };
            let mut diagnostic = Diagnostic::error(
                "missing-field",
                format!("missing field `{name}` in {}", describe_place(&pointer)),
                span,
            );
            let doc = error
                .schema_path()
                .as_str()
                .strip_suffix("/required")
                .and_then(|parent| schema_at(schema, parent))
                .and_then(|parent| parent.get("properties")?.get(name))
                .and_then(|property| resolve_ref(schema, property).get("description"))
                .and_then(Value::as_str);
            if let Some(doc) = doc {
                diagnostic = diagnostic.with_help(format!("`{name}`: {}", first_sentence(doc)));
            }
            diagnostic
        }
        ValidationErrorKind::Type { kind } => {
            let expected = match kind {
                TypeKind::Single(single) => yaml_type_name(&single.to_string()),
                // `null` is how an optional field is written in the schema, not a useful ask.
                TypeKind::Multiple(many) => many
                    .iter()
                    .map(|kind| yaml_type_name(&kind.to_string()))
                    .filter(|kind| kind != "null")
                    .collect::<Vec<_>>()
                    .join(" or "),
            };
            with_doc(
                type_mismatch(&pointer, &expected, found, spans),
                schema,
                error.schema_path().as_str(),
                &pointer,
            )
        }
        ValidationErrorKind::Enum { options } => {
            let allowed: Vec<String> = options
                .as_array()
                .map(|items| {
                    items
                        .iter()
                        .filter_map(|item| item.as_str().map(str::to_string))
                        .collect()
                })
                .unwrap_or_default();
            invalid_choice(&pointer, found, &allowed, spans)
        }
        ValidationErrorKind::AnyOf { context } | ValidationErrorKind::OneOfNotValid { context }
            if !context.is_empty()
                && context.iter().all(|branch| {
                    branch.iter().all(|inner| {
                        matches!(inner.kind(), ValidationErrorKind::Constant { .. })
                            && inner.instance_path().as_str() == pointer
                    })
                }) =>
        {
            // A documented enum: schemars writes one `const` branch per variant.
            let allowed: Vec<String> = context
                .iter()
                .flatten()
                .filter_map(|inner| match inner.kind() {
                    ValidationErrorKind::Constant { expected_value } => {
                        expected_value.as_str().map(str::to_string)
                    }
                    _ => None,
                })
                .collect();
            invalid_choice(&pointer, found, &allowed, spans)
        }
        ValidationErrorKind::AnyOf { context } | ValidationErrorKind::OneOfNotValid { context } => {
            // Pick the alternative the user most likely meant: the one that failed deepest
            // (not merely on the type of the value itself).
            let best = context.iter().min_by_key(|branch| {
                let shallow = branch.iter().all(|inner| {
                    matches!(inner.kind(), ValidationErrorKind::Type { .. })
                        && inner.instance_path().as_str() == pointer
                });
                (shallow, branch.len())
            });
            match best {
                Some(branch)
                    if !branch.iter().all(|inner| {
                        matches!(inner.kind(), ValidationErrorKind::Type { .. })
                            && inner.instance_path().as_str() == pointer
                    }) =>
                {
                    for inner in branch {
                        diagnose(schema, instance, inner, spans, out);
                    }
                    return;
                }
                _ => {
                    let expected = any_of_expected(schema_node);
                    with_doc(
                        type_mismatch(&pointer, &expected, found, spans),
                        schema,
                        error.schema_path().as_str(),
                        &pointer,
                    )
                }
            }
        }
        ValidationErrorKind::Pattern { pattern } => Diagnostic::error(
            "invalid-value",
            format!(
                "{} does not match the required pattern",
                found.map_or_else(String::new, compact)
            ),
            spans.value(&pointer),
        )
        .with_help(format!("expected a value matching `{pattern}`")),
        ValidationErrorKind::MinProperties { .. } | ValidationErrorKind::MinItems { .. }
            if pointer == "/labels" =>
        {
            Diagnostic::error(
                "empty",
                "`labels` is empty: a spec needs at least one label field",
                spans.value(&pointer),
            )
            .with_help("e.g. `sentiment: {one_of: [POSITIVE, NEGATIVE, NEUTRAL]}`")
        }
        ValidationErrorKind::MinProperties { .. } | ValidationErrorKind::MinItems { .. } => {
            Diagnostic::error(
                "empty",
                format!("{} must not be empty", describe_place(&pointer)),
                spans.value(&pointer),
            )
        }
        _ => with_doc(
            Diagnostic::error(
                "invalid-value",
                format!("{}: {error}", describe_place(&pointer)),
                spans.value(&pointer),
            ),
            schema,
            error.schema_path().as_str(),
            &pointer,
        ),
    };
    out.push(diagnostic);
}

/// Add the field's own documentation (from the schema) as a hint: it says what is expected.
fn with_doc(
    diagnostic: Diagnostic,
    schema: &Value,
    schema_path: &str,
    pointer: &str,
) -> Diagnostic {
    let parent = schema_path
        .rsplit_once('/')
        .map_or("", |(parent, _)| parent);
    let doc = schema_at(schema, parent)
        .and_then(|node| {
            node.get("description")
                .or_else(|| resolve_ref(schema, node).get("description"))
        })
        .and_then(Value::as_str);
    match doc {
        Some(doc) if !pointer.is_empty() => {
            let name = pointer.rsplit('/').next().unwrap_or_default();
            diagnostic.with_help(format!(
                "`{name}`: {}",
                first_sentence(doc).trim_end_matches('.')
            ))
        }
        _ => diagnostic,
    }
}

fn invalid_choice(
    pointer: &str,
    found: Option<&Value>,
    allowed: &[String],
    spans: &SpanIndex,
) -> Diagnostic {
    let shown = found.map_or_else(String::new, compact);
    let mut diagnostic = Diagnostic::error(
        "invalid-value",
        format!("{shown} is not a valid {}", describe_place(pointer)),
        spans.value(pointer),
    );
    if let Some(close) = found
        .and_then(Value::as_str)
        .and_then(|wanted| did_you_mean(wanted, allowed.iter().map(String::as_str)))
    {
        diagnostic = diagnostic.with_help(format!("did you mean `{close}`?"));
    }
    diagnostic.with_help(format!("expected one of: {}", quoted(allowed)))
}

fn type_mismatch(
    pointer: &str,
    expected: &str,
    found: Option<&Value>,
    spans: &SpanIndex,
) -> Diagnostic {
    if pointer.is_empty() {
        let message = match found {
            None | Some(Value::Null) => "the spec is empty".to_string(),
            Some(other) => format!("a spec must be a mapping, not {}", json_kind(other)),
        };
        return Diagnostic::error("wrong-type", message, spans.value(pointer))
            .with_help("a spec needs `name`, `input`, `prompt`, `labels` and `model`; start from an example in `specs/`");
    }
    let found_kind = found.map_or("nothing", json_kind);
    let mut diagnostic = Diagnostic::error(
        "wrong-type",
        format!(
            "expected {expected} for {}, found {found_kind}",
            describe_place(pointer)
        ),
        spans.value(pointer),
    );
    if found_kind.ends_with("integer") && expected.contains("string")
        || found_kind.ends_with("fraction") && expected.contains("string")
    {
        diagnostic = diagnostic.with_help("quote the value to make it a string");
    }
    if found_kind == "null" {
        diagnostic = diagnostic.with_help("give a value, or remove the key");
    }
    diagnostic
}

fn any_of_expected(schema_node: Option<&Value>) -> String {
    let branches = schema_node
        .and_then(Value::as_array)
        .map(|branches| {
            branches
                .iter()
                .filter_map(|branch| {
                    branch
                        .get("type")
                        .and_then(Value::as_str)
                        .map(|kind| match kind {
                            "object" => "a mapping".to_string(),
                            "array" => "a list".to_string(),
                            other => other.to_string(),
                        })
                })
                .collect::<Vec<_>>()
        })
        .unwrap_or_default();
    if branches.is_empty() {
        "another form".to_string()
    } else {
        branches.join(" or ")
    }
}

fn pointer_value<'a>(instance: &'a Value, pointer: &str) -> Option<&'a Value> {
    instance.pointer(pointer)
}

pub(crate) fn resolve_ref<'a>(root: &'a Value, node: &'a Value) -> &'a Value {
    match node.get("$ref").and_then(Value::as_str) {
        Some(reference) => reference
            .strip_prefix('#')
            .and_then(|pointer| root.pointer(pointer))
            .unwrap_or(node),
        None => node,
    }
}

/// Walk a schema path (`/properties/labels/additionalProperties/$ref/properties/x`), following
/// `$ref`s, to the schema node it ends at.
fn schema_at<'a>(root: &'a Value, path: &str) -> Option<&'a Value> {
    let mut node = root;
    for segment in path.split('/').skip(1) {
        let segment = segment.replace("~1", "/").replace("~0", "~");
        if segment == "$ref" {
            node = resolve_ref(root, node);
            continue;
        }
        node = match node {
            Value::Object(map) => map.get(&segment)?,
            Value::Array(items) => items.get(segment.parse::<usize>().ok()?)?,
            _ => return None,
        };
    }
    Some(node)
}

/// For an `additionalProperties` error, the names the enclosing object schema allows.
fn parent_properties(root: &Value, schema_path: &str, _node: &Value) -> Option<Vec<String>> {
    let parent = schema_at(root, schema_path.strip_suffix("/additionalProperties")?)?;
    let properties = resolve_ref(root, parent).get("properties")?.as_object()?;
    Some(properties.keys().cloned().collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::yaml;

    fn codes(text: &str) -> Vec<(String, String, usize)> {
        let document = yaml::parse(text).unwrap();
        check(&document)
            .into_iter()
            .map(|d| (d.code.to_string(), d.message, d.span.line))
            .collect()
    }

    const VALID: &str = "name: job\ninput: {csv: a.csv, id: id}\nprompt: {user: '{{ row.text }}'}\nlabels:\n  sentiment:\n    one_of: {POSITIVE: good, NEGATIVE: bad}\nmodel: {provider: openai, name: gpt-4o-mini}\n";

    #[test]
    fn a_valid_spec_has_no_structural_errors() {
        assert!(codes(VALID).is_empty(), "{:?}", codes(VALID));
    }

    #[test]
    fn all_errors_are_reported_at_once() {
        let text = VALID
            .replace("one_of", "onee_of")
            .replace("provider: openai", "provider: openia")
            .replace("name: job\n", "");
        let found = codes(&text);
        assert!(
            found
                .iter()
                .any(|(code, message, line)| code == "unknown-field"
                    && message.contains("onee_of")
                    && *line == 5)
        );
        assert!(
            found
                .iter()
                .any(|(code, message, _)| code == "invalid-value" && message.contains("openia"))
        );
        assert!(
            found
                .iter()
                .any(|(code, message, _)| code == "missing-field" && message.contains("`name`"))
        );
    }

    #[test]
    fn label_sets_accept_maps_and_lists_only() {
        let text = VALID.replace("{POSITIVE: good, NEGATIVE: bad}", "7");
        let found = codes(&text);
        assert_eq!(found.len(), 1, "{found:?}");
        assert!(
            found[0].1.contains("expected a mapping or a list"),
            "{found:?}"
        );
    }
}
