//! `examples:`: exactly one of `inline` and `file`; inline examples checked against the label
//! fields (each problem at its line), a file's columns settled and its bytes hashed for the
//! fingerprint. The file's rows are read (and checked) when the job is compiled or checked.

use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::examples::{DEFAULT_K, Example, ExampleFile, ExampleSelect, Examples, answer_of};
use crate::job::{Input, LabelField};
use crate::job_spec::JobSpec;
use crate::yaml::pointer_segment;

use super::{Resolver, hex};

/// Most examples written inline.
const MAX_INLINE: usize = 10_000;

impl Resolver<'_> {
    /// The job's examples (`None` inside: an error was reported) and the pool file's digest.
    pub(super) fn examples(
        &mut self,
        spec: &JobSpec,
        labels: &[LabelField],
        input: Option<&Input>,
    ) -> Option<(Option<Examples>, Option<String>)> {
        let examples = spec.examples.as_ref()?;
        if examples.similarity.is_some() && examples.select != Some(ExampleSelect::Similar) {
            let span = self.spans.key("/examples/similarity");
            self.error(
                "conflicting-fields",
                "`similarity` says how `select: similar` compares texts, but this spec does not select by similarity".into(),
                span,
                "add `select: similar`, or remove `similarity`",
            );
        }
        let settings = |inline, file| Examples {
            inline,
            file,
            k: examples.k.map_or(DEFAULT_K, |k| k.clamp(1, 32) as usize),
            select: examples.select.unwrap_or_default(),
            similarity: examples.similarity.unwrap_or_default(),
            seed: examples.seed.unwrap_or(0),
            balance: examples.balance.unwrap_or(true),
        };
        match (&examples.inline, &examples.file) {
            (Some(inline), None) => {
                let found = self.inline_examples(inline, labels);
                Some((found.map(|found| settings(found, None)), None))
            }
            (None, Some(file)) => {
                let (file, digest) = self.example_file(examples, file, labels, input)?;
                Some((Some(settings(Vec::new(), Some(file))), Some(digest)))
            }
            _ => {
                let span = self.spans.key("/examples");
                self.error(
                    "conflicting-fields",
                    "`examples` needs exactly one of `inline` and `file`".into(),
                    span,
                    "write the examples under `inline:`, or name a labeled CSV / JSONL file with `file:`",
                );
                Some((None, None))
            }
        }
    }

    fn inline_examples(
        &mut self,
        inline: &[indexmap::IndexMap<String, Value>],
        labels: &[LabelField],
    ) -> Option<Vec<Example>> {
        if inline.is_empty() {
            let span = self.spans.value("/examples/inline");
            self.error(
                "invalid-example",
                "`examples.inline` is empty".into(),
                span,
                "give at least one example, or remove `examples`",
            );
            return None;
        }
        if inline.len() > MAX_INLINE {
            let span = self.spans.key("/examples/inline");
            self.error(
                "too-many-examples",
                format!("{} inline examples (at most {MAX_INLINE})", inline.len()),
                span,
                "put them in a file (`examples.file`)",
            );
            return None;
        }
        let mut found = Vec::with_capacity(inline.len());
        let mut ok = true;
        for (index, example) in inline.iter().enumerate() {
            let pointer = format!("/examples/inline/{index}");
            let Some(text) = example.get("text").and_then(Value::as_str) else {
                let span = self.spans.value(&pointer);
                self.error(
                    "invalid-example",
                    format!("example {} has no `text`", index + 1),
                    span,
                    "give each example `text:` and a value for every label field",
                );
                ok = false;
                continue;
            };
            let id = example.get("id").and_then(|id| match id {
                Value::String(text) => Some(text.clone()),
                Value::Number(number) => Some(number.to_string()),
                _ => None,
            });
            match answer_of(labels, |field| example.get(field).cloned()) {
                Ok(answer) => found.push(Example {
                    id,
                    text: text.to_string(),
                    answer,
                }),
                Err(message) => {
                    let field = labels
                        .iter()
                        .find(|field| message.contains(&format!("`{}`", field.name)))
                        .map(|field| field.name.as_str());
                    let span = match field.filter(|field| example.contains_key(*field)) {
                        Some(field) => self
                            .spans
                            .value(&format!("{pointer}/{}", pointer_segment(field))),
                        None => self.spans.value(&pointer),
                    };
                    self.error(
                        "invalid-example",
                        format!("example {}: {message}", index + 1),
                        span,
                        "an example's labels must be a valid answer under the label fields",
                    );
                    ok = false;
                }
            }
        }
        ok.then_some(found)
    }

    fn example_file(
        &mut self,
        examples: &crate::job_spec::ExamplesSpec,
        file: &str,
        labels: &[LabelField],
        input: Option<&Input>,
    ) -> Option<(ExampleFile, String)> {
        let path = self.path(file);
        let bytes = match std::fs::read(&path) {
            Ok(bytes) => bytes,
            Err(error) => {
                let span = self.spans.value("/examples/file");
                self.error(
                    "missing-file",
                    format!(
                        "cannot read the examples file `{}`: {error}",
                        path.display()
                    ),
                    span,
                    "the path is relative to the spec file",
                );
                return None;
            }
        };
        if input.is_some_and(|input| input.path == path) {
            let span = self.spans.value("/examples/file");
            self.error(
                "examples-are-the-input",
                "the examples file is the input itself: every row would be labeled from its own gold label's neighbours".into(),
                span,
                "use a separate labeled pool (e.g. a train split)",
            );
            return None;
        }
        let columns = labels
            .iter()
            .map(|field| {
                let column = examples
                    .columns
                    .as_ref()
                    .and_then(|columns| columns.get(&field.name))
                    .cloned()
                    .unwrap_or_else(|| field.name.clone());
                (field.name.clone(), column)
            })
            .collect();
        if let Some(columns) = &examples.columns {
            for field in columns.keys() {
                if !labels.iter().any(|label| &label.name == field) {
                    let span = self
                        .spans
                        .key(&format!("/examples/columns/{}", pointer_segment(field)));
                    self.error(
                        "unknown-field",
                        format!("`examples.columns` names `{field}`, which is not a label field"),
                        span,
                        "use the names under `labels:`",
                    );
                }
            }
        }
        let digest = hex(&Sha256::digest(&bytes));
        Some((
            ExampleFile {
                path,
                id_column: Some(examples.id.clone().unwrap_or_else(|| "id".into())),
                id_required: examples.id.is_some(),
                text_column: examples.text.clone().unwrap_or_else(|| "text".into()),
                columns,
            },
            digest,
        ))
    }
}
