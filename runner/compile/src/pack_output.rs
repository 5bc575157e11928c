//! How many output tokens a packed request may use. The cap grows with the pack: a user's
//! per-row `max_completion_tokens` times the rows, or else room for the answer's skeleton
//! (every field and label with an empty list) plus one unpacked answer's bound per row. It
//! never exceeds [`PACK_OUTPUT_CEILING`], and a pack cut off at the cap is asked again row by
//! row, so a low cap costs a retry, never a label.

use batchlabel_protocol::pack::PackField;
use batchlabel_spec::Job;
use serde_json::{Map, Value};

use crate::tokens::TokenCounter;

/// The most output tokens a pack asks for: the smallest output ceiling among the models
/// batchlabel prices (gpt-4o-mini, 16,384), so no provider refuses a pack for its cap.
pub const PACK_OUTPUT_CEILING: u64 = 16_384;

/// The output cap of a pack of `size` rows of `job`; `None` leaves the provider's default
/// (a label field given as a JSON schema has no bound per row).
pub(crate) fn packed_output_cap(job: &Job, fields: &[PackField<'_>], size: u64) -> Option<u64> {
    let cap = if let Some(per_row) = job.model.max_completion_tokens {
        u64::from(per_row).saturating_mul(size)
    } else {
        let counter = TokenCounter::for_model(&job.model.name);
        let per_row = counter.output_bound(job)?;
        counter
            .count(&skeleton(fields).to_string())
            .saturating_add(per_row.saturating_mul(size))
    };
    Some(cap.clamp(1, PACK_OUTPUT_CEILING))
}

/// A packed answer with no row in it: `{"field": {"LABEL": [], …}}`, or `""` per code field.
fn skeleton(fields: &[PackField<'_>]) -> Value {
    let answer: Map<String, Value> = fields
        .iter()
        .map(|field| {
            let value = if field.codes && !field.many {
                Value::String(String::new())
            } else {
                let labels: Map<String, Value> = field
                    .labels
                    .iter()
                    .map(|label| ((*label).to_string(), Value::Array(Vec::new())))
                    .collect();
                Value::Object(labels)
            };
            (field.name.to_string(), value)
        })
        .collect();
    Value::Object(answer)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn job(extra_model: &str) -> Job {
        let yaml = format!(
            "name: t\ninput:\n  csv: rows.csv\n  id: id\n  text: text\nprompt:\n  user: \"{{{{ text }}}}\"\nlabels:\n  sentiment:\n    one_of: [POSITIVE, NEGATIVE, NEUTRAL]\nmodel:\n  provider: anthropic\n  name: claude-haiku-4-5\n{extra_model}output:\n  csv: out.csv\nbatch:\n  pack: 50\n"
        );
        // The spec's input must exist: a folder of its own per test process and spec.
        let hash = xxhash_rust::xxh3::xxh3_64(yaml.as_bytes());
        let folder = std::env::temp_dir().join(format!(
            "batchlabel-pack-output-{}-{hash:x}",
            std::process::id()
        ));
        std::fs::create_dir_all(&folder).unwrap();
        std::fs::write(folder.join("rows.csv"), "id,text\n1,hi\n").unwrap();
        let job = batchlabel_spec::resolve_text(&folder.join("job.yaml"), &yaml)
            .unwrap_or_else(|problems| panic!("{problems:?}"))
            .job;
        std::fs::remove_dir_all(&folder).unwrap();
        job
    }

    #[test]
    fn a_per_row_cap_is_multiplied_by_the_rows_up_to_the_ceiling() {
        let job = job("  max_completion_tokens: 20\n");
        let fields = crate::pack_fields(&job);
        assert_eq!(packed_output_cap(&job, &fields, 50), Some(1_000));
        assert_eq!(
            packed_output_cap(&job, &fields, 5_000),
            Some(PACK_OUTPUT_CEILING)
        );
    }

    #[test]
    fn without_a_cap_the_skeleton_and_a_bound_per_row_fit() {
        let job = job("");
        let fields = crate::pack_fields(&job);
        let two = packed_output_cap(&job, &fields, 2).unwrap();
        let fifty = packed_output_cap(&job, &fields, 50).unwrap();
        let counter = TokenCounter::for_model("claude-haiku-4-5");
        let full_answer = r#"{"sentiment":{"POSITIVE":[1],"NEGATIVE":[],"NEUTRAL":[2]}}"#;
        assert!(two >= counter.count(full_answer), "{two}");
        assert!(fifty > two && fifty < 2_000, "{fifty}");
    }
}
