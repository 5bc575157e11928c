//! What a job asks of its provider that the provider cannot do, found before anything is
//! compiled or sent: each problem names the spec field (a JSON pointer, for a line and column)
//! and a fix.

use batchlabel_spec::{AnthropicOutput, Job, ProviderKind};

/// One problem with a job's use of its provider.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProviderProblem {
    /// The spec field at fault, as a JSON pointer (`/model/name`).
    pub pointer: String,
    /// A short, stable code.
    pub code: &'static str,
    /// What is wrong.
    pub message: String,
    /// How to fix it.
    pub help: String,
}

/// Every problem of `job` with its provider.
pub fn check(job: &Job) -> Vec<ProviderProblem> {
    let mut problems = Vec::new();
    let provider = job.model.provider;
    if job.budget_usd.is_some() && crate::price_for(job).is_none() {
        problems.push(ProviderProblem {
            pointer: "/budget/max_usd".into(),
            code: "unknown-price",
            message: format!(
                "a budget is set, but batchlabel has no price for model `{}` at `{}` (its table is dated {})",
                job.model.name,
                provider.as_str(),
                crate::prices_as_of(provider)
            ),
            help: "use a model from the price table (`batchlabel estimate` shows the price it uses), or remove `budget.max_usd` to run unbudgeted".into(),
        });
    }
    if provider == ProviderKind::Anthropic
        && job.model.anthropic.structured_output == AnthropicOutput::OutputFormat
        && !has_structured_outputs(&job.model.name)
    {
        problems.push(ProviderProblem {
            pointer: "/model/name".into(),
            code: "unsupported-by-provider",
            message: format!(
                "`{}` has no structured outputs (`output_config.format`), which `anthropic` uses by default",
                job.model.name
            ),
            help: "add `anthropic: {structured_output: tool}` to `model` (a forced tool call carries the schema), or use claude-haiku-4-5 or later".into(),
        });
    }
    if provider == ProviderKind::Gemini {
        problems.extend(gemini_schema_problems(job));
    }
    problems
}

/// What the label schema says that Gemini's `responseSchema` cannot: only a raw `schema:`
/// field can (`one_of` and `any_of` are string enums), so each problem points into the field's
/// `schema`, at the keyword.
fn gemini_schema_problems(job: &Job) -> Vec<ProviderProblem> {
    let Err(found) = crate::gemini::schema::response_schema(&job.structured_output.schema) else {
        return Vec::new();
    };
    found
        .into_iter()
        .map(|problem| {
            let pointer = problem.pointer.strip_prefix("/properties/").map_or_else(
                || "/labels".to_string(),
                |rest| {
                    let (field, inside) = rest.split_once('/').unwrap_or((rest, ""));
                    // A recursive `$ref` is reported deep in its unrolling: point at the field.
                    if inside.is_empty() || inside.len() > 200 {
                        format!("/labels/{field}/schema")
                    } else {
                        format!("/labels/{field}/schema/{inside}")
                    }
                },
            );
            ProviderProblem {
                pointer,
                code: "unsupported-by-provider",
                message: problem.message,
                help: "give the field string labels (`one_of` / `any_of`), or simplify its `schema`; answers are still validated against the full schema".into(),
            }
        })
        .collect()
}

/// Whether an Anthropic model takes `output_config.format`: the 4.5 generation and later, and
/// Opus 4.1; not Claude 3, Sonnet 4 or Opus 4.
fn has_structured_outputs(model: &str) -> bool {
    let base = match model.rsplit_once('-') {
        Some((base, date)) if date.len() == 8 && date.bytes().all(|b| b.is_ascii_digit()) => base,
        _ => model,
    };
    !(base.starts_with("claude-3") || base == "claude-sonnet-4" || base == "claude-opus-4")
}

#[cfg(test)]
mod tests {
    #[test]
    fn structured_output_models() {
        for model in [
            "claude-haiku-4-5",
            "claude-sonnet-4-5-20250929",
            "claude-opus-4-1",
        ] {
            assert!(super::has_structured_outputs(model), "{model}");
        }
        for model in [
            "claude-3-5-haiku-20241022",
            "claude-sonnet-4-20250514",
            "claude-opus-4",
        ] {
            assert!(!super::has_structured_outputs(model), "{model}");
        }
    }
}
