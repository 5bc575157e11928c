//! `batch.pack`: what a packed job needs — labels the packed answer can express (`one_of` and
//! `any_of`; codes for at most 62 labels), one system prompt shared by every item, and a
//! provider that is billed per request. The same checks serve `pilot --pack`, which packs a
//! job its spec does not.

use crate::job::{Job, LabelField, LabelKind, Prompt};
use crate::job_spec::{JobSpec, PackAnswer, ProviderKind};

use super::Resolver;

/// One-character codes a `codes` answer has (`0-9a-zA-Z`).
const CODES: usize = 62;

/// Why a job cannot be packed: the spec key it is about, the problem, and a hint.
pub(crate) struct PackProblem {
    pub(crate) key: &'static str,
    pub(crate) message: String,
    pub(crate) help: &'static str,
}

/// What stands in the way of packing these labels and prompt on `provider`.
fn problems(
    provider: ProviderKind,
    labels: &[LabelField],
    system: Option<&str>,
    answer: PackAnswer,
    examples: bool,
) -> Vec<PackProblem> {
    let mut found = Vec::new();
    if examples {
        found.push(PackProblem {
            key: "/batch/pack",
            message: "`batch.pack` puts several rows in one conversation, which cannot also hold each row's own `examples`".into(),
            help: "remove `batch.pack` or `examples` (compare both with `pilot --compare-pack` and `eval`)",
        });
    }
    if provider == ProviderKind::Local {
        found.push(PackProblem {
            key: "/batch/pack",
            message:
                "the embedded `local` model labels one row at a time: `batch.pack` does not apply"
                    .into(),
            help: "remove `batch.pack` (local runs cost nothing per request)",
        });
    }
    for field in labels {
        match &field.kind {
            LabelKind::Schema { .. } => found.push(PackProblem {
                key: "/batch/pack",
                message: format!(
                    "`batch.pack` needs `one_of` or `any_of` labels; `{}` is a raw schema",
                    field.name
                ),
                help: "remove `batch.pack`, or express the field with `one_of` / `any_of`",
            }),
            LabelKind::OneOf { labels } if answer == PackAnswer::Codes && labels.len() > CODES => {
                found.push(PackProblem {
                    key: "/batch/pack_answer",
                    message: format!(
                        "`pack_answer: codes` has {CODES} one-character codes; `{}` has {} labels",
                        field.name,
                        labels.len()
                    ),
                    help: "use `pack_answer: lists`",
                });
            }
            _ => {}
        }
    }
    if system.is_some_and(reads_row) {
        found.push(PackProblem {
            key: "/batch/pack",
            message:
                "`batch.pack` shares one system prompt between rows, but `prompt.system` reads row data"
                    .into(),
            help: "move the row's fields into `prompt.user`",
        });
    }
    found
}

impl Job {
    /// Pack this job `pack` rows per request, answered as `answer`; the problems (with hints)
    /// when it cannot be.
    pub fn with_packing(mut self, pack: u32, answer: PackAnswer) -> Result<Self, Vec<String>> {
        if pack > 1 {
            let system = self
                .prompt
                .system
                .as_ref()
                .map(|system| system.text.as_str());
            let found = problems(
                self.model.provider,
                &self.labels,
                system,
                answer,
                self.examples.is_some(),
            );
            if !found.is_empty() {
                return Err(found
                    .into_iter()
                    .map(|problem| format!("{}\nhint: {}", problem.message, problem.help))
                    .collect());
            }
        }
        self.batching.pack = pack.max(1);
        self.batching.pack_answer = answer;
        Ok(self)
    }
}

impl Resolver<'_> {
    /// The rows per request; `None` when the spec asks for a packing it cannot have.
    pub(super) fn pack(
        &mut self,
        spec: &JobSpec,
        labels: &[LabelField],
        prompt: Option<&Prompt>,
    ) -> Option<u32> {
        let batch = spec.batch.as_ref();
        let pack = batch.and_then(|batch| batch.pack).unwrap_or(1);
        if pack <= 1 {
            return Some(1);
        }
        let answer = batch
            .and_then(|batch| batch.pack_answer)
            .unwrap_or_default();
        let system = prompt
            .and_then(|prompt| prompt.system.as_ref())
            .map(|system| system.text.as_str());
        let found = problems(
            spec.model.provider,
            labels,
            system,
            answer,
            spec.examples.is_some(),
        );
        let ok = found.is_empty();
        for problem in found {
            let span = self.spans.value(problem.key);
            self.error("pack-unsupported", problem.message, span, problem.help);
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
