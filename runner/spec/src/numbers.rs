//! Every number in a spec, checked in one place: it must be finite, fit in 64 bits when it is
//! an integer, and lie in the range its field allows.
//!
//! The ranges are read from the spec's JSON Schema (the `range` attributes and integer
//! types of [`crate::JobSpec`]), so a field's type stays the one statement of what it takes.
//! A number that breaks a rule is an error: it is never clamped, rounded or dropped, because
//! whatever reaches the model must be what the spec says.

use std::cmp::Ordering;

use serde_json::{Number, Value};

use crate::diagnostic::Diagnostic;
use crate::schema_check::resolve_ref;
use crate::wording::{describe_place, first_sentence};
use crate::yaml::{OddNumber, SpanIndex, YamlDocument, pointer_segment};

/// What a numeric field accepts.
#[derive(Debug, Clone, Default)]
pub(crate) struct Rule {
    integer: bool,
    minimum: Option<Number>,
    maximum: Option<Number>,
    doc: Option<String>,
}

/// Every number of `document` that breaks a rule of `schema` (the spec schema), or that
/// JSON cannot carry as written.
pub fn check(document: &YamlDocument, schema: &Value) -> Vec<Diagnostic> {
    let mut rules = Vec::new();
    collect_rules(schema, schema, &document.value, "", &mut rules);
    let rule_at = |pointer: &str| {
        rules
            .iter()
            .find(|(at, _)| at == pointer)
            .map(|(_, rule)| rule)
    };
    let mut found: Vec<Diagnostic> = document
        .odd_numbers
        .iter()
        .map(|odd| odd_number(odd, rule_at(&odd.pointer), &document.spans))
        .collect();
    let mut checked: Vec<&str> = Vec::new();
    for (pointer, rule) in &rules {
        let odd = document
            .odd_numbers
            .iter()
            .any(|odd| &odd.pointer == pointer);
        if odd || checked.contains(&pointer.as_str()) {
            continue;
        }
        checked.push(pointer);
        if let Some(Value::Number(number)) = document.value.pointer(pointer)
            && !rule.allows(number)
        {
            found.push(out_of_range(
                pointer,
                &number.to_string(),
                rule,
                &document.spans,
            ));
        }
    }
    found.sort_by_key(|diagnostic| (diagnostic.span.line, diagnostic.span.column));
    found
}

/// Walk `instance` and `node` (its schema) together, noting the rule of every numeric field
/// on the way, present or not.
fn collect_rules(
    root: &Value,
    node: &Value,
    instance: &Value,
    pointer: &str,
    out: &mut Vec<(String, Rule)>,
) {
    let node = resolve_ref(root, node);
    for group in ["anyOf", "oneOf", "allOf"] {
        for branch in node
            .get(group)
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            collect_rules(root, branch, instance, pointer, out);
        }
    }
    if let Some(rule) = Rule::of(node) {
        out.push((pointer.to_string(), rule));
    }
    match instance {
        Value::Object(map) => {
            for (key, value) in map {
                let child = node
                    .get("properties")
                    .and_then(|properties| properties.get(key))
                    .or_else(|| node.get("additionalProperties").filter(|n| n.is_object()));
                if let Some(child) = child {
                    let at = format!("{pointer}/{}", pointer_segment(key));
                    collect_rules(root, child, value, &at, out);
                }
            }
        }
        Value::Array(items) => {
            if let Some(child) = node.get("items") {
                for (index, item) in items.iter().enumerate() {
                    collect_rules(root, child, item, &format!("{pointer}/{index}"), out);
                }
            }
        }
        _ => {}
    }
}

impl Rule {
    /// The rule of a schema node whose type is a number, with its format's bounds.
    fn of(node: &Value) -> Option<Rule> {
        let types: Vec<&str> = match node.get("type")? {
            Value::String(kind) => vec![kind.as_str()],
            Value::Array(kinds) => kinds.iter().filter_map(Value::as_str).collect(),
            _ => return None,
        };
        let number = types.contains(&"number");
        let integer = types.contains(&"integer");
        if !number && !integer {
            return None;
        }
        let number_at = |key| node.get(key).and_then(Value::as_number).cloned();
        let (format_min, format_max) = format_bounds(node.get("format").and_then(Value::as_str));
        Some(Rule {
            integer: integer && !number,
            minimum: tighter(number_at("minimum"), format_min, Ordering::Greater),
            maximum: tighter(number_at("maximum"), format_max, Ordering::Less),
            doc: node
                .get("description")
                .and_then(Value::as_str)
                .map(first_sentence),
        })
    }

    fn allows(&self, number: &Number) -> bool {
        // `3.0` on an integer field would fail deserializing far from its line; `3.5` is
        // already a type error of the schema check.
        let float_for_integer = number.as_f64().is_some_and(|value| value.fract() == 0.0)
            && number.is_f64()
            && self.integer;
        !float_for_integer
            && self
                .minimum
                .as_ref()
                .is_none_or(|minimum| compare(number, minimum) != Ordering::Less)
            && self
                .maximum
                .as_ref()
                .is_none_or(|maximum| compare(number, maximum) != Ordering::Greater)
    }

    /// "a whole number from 1 to 20", "a number of at least 0".
    fn describe(&self) -> String {
        let kind = if self.integer {
            "a whole number"
        } else {
            "a number"
        };
        match (&self.minimum, &self.maximum) {
            (Some(minimum), Some(maximum)) => {
                format!("{kind} from {} to {}", shown(minimum), shown(maximum))
            }
            (Some(minimum), None) => format!("{kind} of at least {}", shown(minimum)),
            (None, Some(maximum)) => format!("{kind} of at most {}", shown(maximum)),
            (None, None) => format!("a finite {}", &kind[2..]),
        }
    }
}

/// A bound as a person writes it: `2`, not `2.0`.
fn shown(bound: &Number) -> String {
    match bound.as_f64() {
        Some(value) if bound.is_f64() && value.fract() == 0.0 && value.abs() < 1e15 => {
            format!("{}", value as i64)
        }
        _ => bound.to_string(),
    }
}

/// The range an integer `format` (as schemars writes it) can hold.
fn format_bounds(format: Option<&str>) -> (Option<Number>, Option<Number>) {
    let (minimum, maximum): (i128, i128) = match format {
        Some("uint8") => (0, u8::MAX.into()),
        Some("uint16") => (0, u16::MAX.into()),
        Some("uint32") => (0, u32::MAX.into()),
        Some("uint64" | "uint") => (0, u64::MAX.into()),
        Some("int8") => (i8::MIN.into(), i8::MAX.into()),
        Some("int16") => (i16::MIN.into(), i16::MAX.into()),
        Some("int32") => (i32::MIN.into(), i32::MAX.into()),
        Some("int64" | "int") => (i64::MIN.into(), i64::MAX.into()),
        _ => return (None, None),
    };
    (number_of(minimum), number_of(maximum))
}

fn number_of(value: i128) -> Option<Number> {
    i64::try_from(value)
        .map(Number::from)
        .ok()
        .or_else(|| u64::try_from(value).ok().map(Number::from))
}

/// Of two optional bounds, the one that allows less (`keep` is the side that wins).
fn tighter(left: Option<Number>, right: Option<Number>, keep: Ordering) -> Option<Number> {
    match (left, right) {
        (Some(left), Some(right)) => Some(if compare(&left, &right) == keep {
            left
        } else {
            right
        }),
        (left, right) => left.or(right),
    }
}

/// Exact for integers (u64 beyond f64's precision included), by value otherwise.
fn compare(left: &Number, right: &Number) -> Ordering {
    let whole = |number: &Number| {
        number
            .as_i64()
            .map(i128::from)
            .or_else(|| number.as_u64().map(i128::from))
    };
    if let (Some(left), Some(right)) = (whole(left), whole(right)) {
        return left.cmp(&right);
    }
    let float = |number: &Number| number.as_f64().unwrap_or(f64::NAN);
    float(left).total_cmp(&float(right))
}

fn out_of_range(pointer: &str, shown: &str, rule: &Rule, spans: &SpanIndex) -> Diagnostic {
    let message = format!(
        "{} is {shown}, but it must be {}",
        describe_place(pointer),
        rule.describe()
    );
    let diagnostic = Diagnostic::error("invalid-number", message, spans.value(pointer));
    match &rule.doc {
        Some(doc) => {
            let name = pointer.rsplit('/').next().unwrap_or_default();
            diagnostic.with_help(format!("`{name}`: {}", doc.trim_end_matches('.')))
        }
        None => diagnostic,
    }
}

/// `.nan`, `.inf` or an integer past 64 bits: never sent, whatever the field.
pub(crate) fn odd_number(odd: &OddNumber, rule: Option<&Rule>, spans: &SpanIndex) -> Diagnostic {
    let non_finite = odd.text.ends_with("nan") || odd.text.ends_with("inf");
    let shown = format!("`{}`", odd.text);
    let diagnostic = match rule {
        Some(rule) => out_of_range(&odd.pointer, &shown, rule, spans),
        None if non_finite => Diagnostic::error(
            "invalid-number",
            format!(
                "{} is {shown}, but every number in a spec must be finite",
                describe_place(&odd.pointer)
            ),
            spans.value(&odd.pointer),
        ),
        None => Diagnostic::error(
            "invalid-number",
            format!(
                "{} is {shown}, an integer too large for 64 bits",
                describe_place(&odd.pointer)
            ),
            spans.value(&odd.pointer),
        ),
    };
    if non_finite {
        diagnostic.with_help("`.nan` and `.inf` are not numbers a request can carry")
    } else {
        // YAML would read it as a float and send a rounded number.
        diagnostic.with_help("write a smaller number, or quote it to make it a string")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn messages(text: &str) -> Vec<(String, usize, usize)> {
        let document = crate::yaml::parse(text).unwrap();
        check(&document, &crate::schema_check::job_spec_schema())
            .into_iter()
            .map(|found| (found.message, found.span.line, found.span.column))
            .collect()
    }

    #[test]
    fn non_finite_numbers_are_errors_with_the_fields_range() {
        let found =
            messages("model:\n  temperature: .nan\n  top_p: -.inf\nbudget:\n  max_usd: .NaN\n");
        assert_eq!(
            found,
            vec![
                (
                    "`model.temperature` is `.nan`, but it must be a number from 0 to 2"
                        .to_string(),
                    2,
                    16
                ),
                (
                    "`model.top_p` is `-.inf`, but it must be a number from 0 to 1".to_string(),
                    3,
                    10
                ),
                (
                    "`budget.max_usd` is `.nan`, but it must be a number of at least 0".to_string(),
                    5,
                    12
                ),
            ]
        );
    }

    #[test]
    fn out_of_range_integers_point_at_the_field() {
        let found =
            messages("model:\n  max_completion_tokens: 99999999999\nbatch: {max_attempts: 3.0}\n");
        assert_eq!(
            found,
            vec![
                (
                    "`model.max_completion_tokens` is 99999999999, but it must be a whole number from 1 to 4294967295".to_string(),
                    2,
                    26
                ),
                (
                    "`batch.max_attempts` is 3.0, but it must be a whole number from 1 to 20"
                        .to_string(),
                    3,
                    23
                ),
            ]
        );
    }

    #[test]
    fn numbers_without_a_rule_must_still_be_finite_and_exact() {
        let found = messages(
            "model:\n  extra_body: {a: .inf, b: 1234567890123456789012345678901234567890123, c: '123456789012345678901'}\n",
        );
        assert_eq!(found.len(), 2, "{found:?}");
        assert_eq!(
            found[0].0,
            "`model.extra_body.a` is `.inf`, but every number in a spec must be finite"
        );
        assert_eq!(
            found[1].0,
            "`model.extra_body.b` is `1234567890123456789012345678901234567890123`, an integer too large for 64 bits"
        );
    }

    #[test]
    fn integers_of_65_to_128_bits_are_reported_as_numbers() {
        let error = crate::yaml::parse("seed: 123456789012345678901\n").unwrap_err();
        assert_eq!(
            (error.message.as_str(), error.span.line, error.span.column),
            (
                "`seed` is `123456789012345678901`, an integer too large for 64 bits",
                1,
                7
            )
        );
    }

    #[test]
    fn fractions_on_integer_fields_are_left_to_the_type_check() {
        assert!(messages("model: {seed: 1.5}\n").is_empty());
    }

    #[test]
    fn numbers_in_range_pass() {
        assert!(
            messages("model: {temperature: 2, top_p: 0.5, seed: -3}\nbatch: {max_attempts: 20}\n")
                .is_empty()
        );
    }
}
