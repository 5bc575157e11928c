//! Resolving `labels`: field names, exactly one kind per field, label sets (no blanks, no
//! case-insensitive repeats), `min`/`max`, and raw schemas within OpenAI's strict subset.

use crate::job::{Label, LabelField, LabelKind};
use crate::job_spec::{JobSpec, LabelFieldSpec, LabelSetSpec};
use crate::yaml::pointer_segment;

use super::Resolver;

impl Resolver<'_> {
    pub(super) fn labels(&mut self, spec: &JobSpec) -> Vec<LabelField> {
        let mut fields = Vec::new();
        for (name, field) in &spec.labels {
            let pointer = format!("/labels/{}", pointer_segment(name));
            let valid_name = name
                .chars()
                .next()
                .is_some_and(|first| first.is_ascii_alphabetic() || first == '_')
                && name
                    .chars()
                    .all(|character| character.is_ascii_alphanumeric() || character == '_');
            if !valid_name {
                let span = self.spans.key(&pointer);
                self.error(
                    "invalid-name",
                    format!("label field name `{name}` is not a valid identifier"),
                    span,
                    "use letters, digits and `_`, not starting with a digit, e.g. `sentiment`",
                );
            }
            // Every sink writes `id`, `labels` and the provenance beside the label fields.
            let reserved = name == "id"
                || name == "labels"
                || crate::job::PROVENANCE_COLUMNS.contains(&name.as_str());
            if reserved {
                let span = self.spans.key(&pointer);
                self.error(
                    "reserved-name",
                    format!("label field name `{name}` is also a results column (`id`, `labels` or provenance)"),
                    span,
                    &format!("rename the field, e.g. `{name}_label`"),
                );
            }
            if let Some(kind) = self.label_kind(field, &pointer) {
                fields.push(LabelField {
                    name: name.clone(),
                    description: field.description.clone(),
                    kind,
                });
            }
        }
        fields
    }

    pub(super) fn label_kind(
        &mut self,
        field: &LabelFieldSpec,
        pointer: &str,
    ) -> Option<LabelKind> {
        let given: Vec<&str> = [
            ("one_of", field.one_of.is_some()),
            ("any_of", field.any_of.is_some()),
            ("schema", field.schema.is_some()),
        ]
        .into_iter()
        .filter_map(|(name, present)| present.then_some(name))
        .collect();
        if given.len() != 1 {
            let (span, message) = if given.is_empty() {
                (
                    self.spans.key(pointer),
                    format!(
                        "label field `{}` says neither `one_of`, `any_of` nor `schema`",
                        pointer.rsplit('/').next().unwrap_or_default()
                    ),
                )
            } else {
                (
                    self.spans.key(&format!("{pointer}/{}", given[1])),
                    format!("label field has both `{}` and `{}`", given[0], given[1]),
                )
            };
            self.error(
                "label-kind",
                message,
                span,
                "give exactly one of `one_of` (single label), `any_of` (multi-label) or `schema`",
            );
            return None;
        }
        if field.one_of.is_some() || field.schema.is_some() {
            for bound in ["min", "max"] {
                let bound_pointer = format!("{pointer}/{bound}");
                if self.spans.contains(&bound_pointer) {
                    let span = self.spans.key(&bound_pointer);
                    self.error(
                        "conflicting-fields",
                        format!("`{bound}` only applies to `any_of` fields"),
                        span,
                        "remove it, or make the field `any_of`",
                    );
                }
            }
        }
        if let Some(set) = &field.one_of {
            let labels = self.label_set(set, &format!("{pointer}/one_of"))?;
            if labels.len() < 2 {
                let span = self.spans.key(&format!("{pointer}/one_of"));
                self.error(
                    "too-few-labels",
                    "a `one_of` field needs at least two labels".into(),
                    span,
                    "add the alternatives, e.g. `NEUTRAL`",
                );
            }
            return Some(LabelKind::OneOf { labels });
        }
        if let Some(set) = &field.any_of {
            let labels = self.label_set(set, &format!("{pointer}/any_of"))?;
            let count = labels.len() as u32;
            if let Some(max) = field.max
                && (max == 0 || max > count)
            {
                let span = self.spans.value(&format!("{pointer}/max"));
                self.error(
                    "invalid-value",
                    format!("`max` is {max}, but the field has {count} labels"),
                    span,
                    "use a value from 1 to the number of labels",
                );
            }
            if let Some(min) = field.min
                && (min > count || field.max.is_some_and(|max| min > max))
            {
                let span = self.spans.value(&format!("{pointer}/min"));
                self.error(
                    "invalid-value",
                    format!("`min` is {min}, above `max` or the number of labels"),
                    span,
                    "`min` must not exceed `max`",
                );
            }
            return Some(LabelKind::AnyOf {
                labels,
                min: field.min,
                max: field.max,
            });
        }
        let schema = field.schema.clone()?;
        let base = format!("{pointer}/schema");
        let mut violations = crate::strict_subset::violations(&schema, &base);
        if violations.is_empty() {
            violations.extend(crate::raw_schema::meta_violation(&schema, &base));
        }
        for violation in violations {
            let span = if violation.at_key {
                self.spans.key(&violation.pointer)
            } else {
                self.spans.value(&violation.pointer)
            };
            self.error(violation.code, violation.message, span, &violation.help);
        }
        Some(LabelKind::Schema { schema })
    }

    pub(super) fn label_set(&mut self, set: &LabelSetSpec, pointer: &str) -> Option<Vec<Label>> {
        let labels: Vec<Label> = match set {
            LabelSetSpec::Defined(map) => map
                .iter()
                .map(|(name, description)| Label {
                    name: name.clone(),
                    description: description.trim().to_string(),
                })
                .collect(),
            LabelSetSpec::Names(names) => names
                .iter()
                .map(|name| Label {
                    name: name.clone(),
                    description: String::new(),
                })
                .collect(),
        };
        let mut ok = true;
        let keys: Vec<String> = labels.iter().map(|label| label_key(&label.name)).collect();
        for (index, label) in labels.iter().enumerate() {
            let label_pointer = match set {
                LabelSetSpec::Defined(_) => format!("{pointer}/{}", pointer_segment(&label.name)),
                LabelSetSpec::Names(_) => format!("{pointer}/{index}"),
            };
            if label.name.trim().is_empty() || label.name.trim() != label.name {
                let span = self.spans.key(&label_pointer);
                self.error(
                    "invalid-label",
                    format!("label `{}` is empty or has surrounding spaces", label.name),
                    span,
                    "labels are matched exactly; write them without leading or trailing spaces",
                );
                ok = false;
            }
            if let Some(first) = keys[..index].iter().position(|other| *other == keys[index]) {
                let span = self.spans.key(&label_pointer);
                let other = &labels[first].name;
                let mut message = format!("label `{}` repeats `{other}`", label.name);
                if label.name.to_lowercase() != other.to_lowercase() {
                    // They may look the same on screen: say why they count as one.
                    message.push_str(" (the same label in another Unicode form)");
                }
                self.error(
                    "duplicate-label",
                    message,
                    span,
                    "labels must differ (case-insensitively, so outputs can be normalized)",
                );
                ok = false;
            }
        }
        if labels.is_empty() {
            let span = self.spans.value(pointer);
            self.error(
                "too-few-labels",
                "the label set is empty".into(),
                span,
                "list the labels the model may choose",
            );
            ok = false;
        }
        ok.then_some(labels)
    }
}

/// What two labels must not share: the same text up to Unicode compatibility form (NFKC:
/// a precomposed `é` and `e` + combining accent, a full-width `Ａ` and `A`) and case. A
/// model writes one form; two labels that look alike would split one answer in two.
fn label_key(name: &str) -> String {
    use unicode_normalization::UnicodeNormalization as _;
    name.to_lowercase().nfkc().collect()
}
