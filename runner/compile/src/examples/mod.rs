//! Few-shot examples in requests (`examples:`): the pool (inline or from a labeled file), each
//! example's user turn rendered once through the job's `user` template and its answer
//! written as the JSON a valid answer is, and a [`Selector`](select::Selector) that picks each
//! row's examples. The renderer writes them as user/assistant turns after the system prompt.

mod pool;
mod select;

use std::sync::Arc;

use batchlabel_providers::TextEmbedder;
use batchlabel_spec::examples::{Example, ExampleSelect, ExampleSimilarity};
use batchlabel_spec::{Job, LabelKind};
use minijinja::Value;

pub use pool::{MAX_POOL, PoolError, read_pool};

/// One example as it is written into requests.
#[derive(Debug, Clone)]
pub(crate) struct Shot {
    /// The user turn.
    pub(crate) user: String,
    /// The assistant turn (the answer's JSON).
    pub(crate) answer: String,
    /// Tokens of both turns, when counting.
    pub(crate) tokens: u64,
}

/// A job's examples, ready to write.
pub(crate) struct ExampleSet {
    pub(crate) shots: Vec<Shot>,
    selector: select::Selector,
    /// Set when `similar` compares embeddings: each row's user turn is embedded.
    embedder: Option<TextEmbedder>,
}

impl std::fmt::Debug for ExampleSet {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("ExampleSet")
            .field("shots", &self.shots.len())
            .finish_non_exhaustive()
    }
}

/// The examples of `job`: its inline ones, or its file's (read and checked now).
pub fn pool_of(job: &Job) -> Result<Vec<Example>, PoolError> {
    let Some(examples) = &job.examples else {
        return Ok(Vec::new());
    };
    match &examples.file {
        Some(file) => read_pool(file, &job.labels),
        None => Ok(examples.inline.clone()),
    }
}

impl ExampleSet {
    /// The set for `job`, whose examples' user turns are `users` (one per pool example).
    pub(crate) fn new(
        job: &Job,
        pool: &[Example],
        users: Vec<String>,
        count: impl Fn(&str) -> u64,
    ) -> Result<Option<Arc<Self>>, String> {
        let Some(examples) = job.examples.as_ref() else {
            return Ok(None);
        };
        let embedder = (examples.select == ExampleSelect::Similar
            && examples.similarity == ExampleSimilarity::Embeddings)
            .then(|| embedder_for(job))
            .transpose()?;
        let vectors = match &embedder {
            Some(embed) => Some(embed(&users).map_err(|error| {
                format!(
                    "`examples`: embedding the pool's {} examples: {error}",
                    users.len()
                )
            })?),
            None => None,
        };
        let classes: Vec<&str> = job
            .labels
            .iter()
            .find_map(|field| match &field.kind {
                LabelKind::OneOf { labels } => {
                    Some(labels.iter().map(|label| label.name.as_str()).collect())
                }
                _ => None,
            })
            .unwrap_or_default();
        let class_field = job
            .labels
            .iter()
            .find(|field| matches!(field.kind, LabelKind::OneOf { .. }))
            .map(|field| field.name.as_str());
        let candidates = pool
            .iter()
            .zip(&users)
            .map(|(example, user)| select::Candidate {
                id: example.id.clone(),
                normalized: select::normalized(user),
                class: class_field
                    .and_then(|field| example.answer.get(field))
                    .and_then(serde_json::Value::as_str)
                    .and_then(|label| classes.iter().position(|class| *class == label)),
                words: select::words(user),
            })
            .collect();
        let shots = pool
            .iter()
            .zip(users)
            .map(|(example, user)| {
                let answer = serde_json::Value::Object(example.answer.clone()).to_string();
                let tokens = count(&user) + count(&answer);
                Shot {
                    user,
                    answer,
                    tokens,
                }
            })
            .collect();
        Ok(Some(Arc::new(Self {
            shots,
            selector: select::Selector::new(examples, candidates, classes.len(), vectors),
            embedder,
        })))
    }

    /// The examples shown to the row with `row_id` whose user turn is `row_text`.
    pub(crate) fn pick(
        &self,
        row_id: &str,
        row_text: &str,
    ) -> Result<impl Iterator<Item = &Shot>, String> {
        let vector = match &self.embedder {
            Some(embed) => embed(&[row_text.to_string()])
                .map_err(|error| format!("`examples`: embedding the row: {error}"))?
                .pop(),
            None => None,
        };
        Ok(self
            .selector
            .pick(row_id, row_text, vector.as_deref())
            .into_iter()
            .map(|index| &self.shots[index]))
    }
}

#[cfg(feature = "local")]
fn embedder_for(job: &Job) -> Result<TextEmbedder, String> {
    batchlabel_providers::local::job_embedder(job)
        .map_err(|error| format!("`examples.similarity: embeddings`: {error}"))
}

#[cfg(not(feature = "local"))]
fn embedder_for(_job: &Job) -> Result<TextEmbedder, String> {
    Err("`examples.similarity: embeddings` needs the embedded local model, which this build of batchlabel does not include (feature `local`); use `similarity: words`".to_string())
}

/// An example's user turn: its text when the `user` template is one column, else the
/// template rendered with the example as the row (`text`, `id`, and `row` holding the two).
pub(crate) fn user_turn(
    environment: &minijinja::Environment<'static>,
    user_is_column: bool,
    job: &Job,
    labels: &Value,
    job_value: &Value,
    example: &Example,
) -> Result<String, String> {
    if user_is_column {
        return Ok(example.text.clone());
    }
    let mut row: std::collections::BTreeMap<String, String> = std::collections::BTreeMap::new();
    if let Some(column) = &job.input.text_column {
        row.insert(column.clone(), example.text.clone());
    }
    if let Some(id) = &example.id {
        row.insert(job.input.id_column.clone(), id.clone());
    }
    let context = minijinja::context! {
        text => example.text.clone(),
        id => example.id.clone(),
        row => row,
        labels => labels.clone(),
        job => job_value.clone(),
    };
    let template = environment
        .get_template("user")
        .map_err(|error| error.to_string())?;
    batchlabel_spec::render_bounded(&template, context).map_err(|error| {
        format!(
            "`user` template, rendering an example (examples have only `text` and `id`): {error}"
        )
    })
}
