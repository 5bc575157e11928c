//! `batch.pack`: what a packed job needs — labels the packed answer can express (`one_of` and
//! `any_of`, answered as item numbers per label), one system prompt shared by every item, and
//! a provider that is billed per request.

use crate::job::{LabelField, LabelKind, Prompt};
use crate::job_spec::{JobSpec, PackAnswer, ProviderKind};

/// One-character codes a `codes` answer has (`0-9a-zA-Z`).
const CODES: usize = 62;

use super::Resolver;

impl Resolver<'_> {
    /// The rows per request; `None` when the spec asks for a packing it cannot have.
    pub(super) fn pack(
        &mut self,
        spec: &JobSpec,
        labels: &[LabelField],
        prompt: Option<&Prompt>,
    ) -> Option<u32> {
        let pack = spec
            .batch
            .as_ref()
            .and_then(|batch| batch.pack)
            .unwrap_or(1);
        if pack <= 1 {
            return Some(1);
        }
        let span = self.spans.value("/batch/pack");
        let mut ok = true;
        if spec.model.provider == ProviderKind::Local {
            self.error(
                "pack-unsupported",
                "the embedded `local` model labels one row at a time: `batch.pack` does not apply"
                    .into(),
                span,
                "remove `batch.pack` (local runs cost nothing per request)",
            );
            ok = false;
        }
        let codes = spec
            .batch
            .as_ref()
            .and_then(|batch| batch.pack_answer)
            .is_some_and(|answer| answer == PackAnswer::Codes);
        for field in labels {
            if let LabelKind::OneOf { labels } = &field.kind
                && codes
                && labels.len() > CODES
            {
                let span = self.spans.value("/batch/pack_answer");
                self.error(
                    "pack-unsupported",
                    format!(
                        "`pack_answer: codes` has {CODES} one-character codes; `{}` has {} labels",
                        field.name,
                        labels.len()
                    ),
                    span,
                    "use `pack_answer: lists`",
                );
                ok = false;
            }
            if matches!(field.kind, LabelKind::Schema { .. }) {
                let span = self.spans.value("/batch/pack");
                self.error(
                    "pack-unsupported",
                    format!(
                        "`batch.pack` needs `one_of` or `any_of` labels; `{}` is a raw schema",
                        field.name
                    ),
                    span,
                    "remove `batch.pack`, or express the field with `one_of` / `any_of`",
                );
                ok = false;
            }
        }
        if let Some(system) = prompt.and_then(|prompt| prompt.system.as_ref())
            && reads_row(&system.text)
        {
            self.error(
                "pack-unsupported",
                "`batch.pack` shares one system prompt between rows, but `prompt.system` reads row data".into(),
                span,
                "move the row's fields into `prompt.user`",
            );
            ok = false;
        }
        ok.then_some(pack)
    }
}

/// Whether a template reads the row (`row`, `text` or `id`).
fn reads_row(template: &str) -> bool {
    let mut environment = crate::template_environment();
    if environment
        .add_template_owned("system", template.to_string())
        .is_err()
    {
        return false; // the template's own check reports it
    }
    environment.get_template("system").is_ok_and(|compiled| {
        compiled
            .undeclared_variables(false)
            .iter()
            .any(|name| matches!(name.as_str(), "row" | "text" | "id"))
    })
}
