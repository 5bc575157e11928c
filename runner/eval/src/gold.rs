//! Gold labels: a column of the job's own input (`--gold gold`), or a separate CSV / JSON
//! Lines file keyed by the same ids (`--gold labels.csv`). A multi-label gold value is a
//! JSON array, or text split on `,` `;` `|` (unless the whole text is one label). Labels
//! are matched to the spec's exactly, then ignoring case and surrounding space; a gold label
//! the spec does not have is kept (it can never be predicted) and reported.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use batchlabel_source::{Format, Row, Source, open_source};
use batchlabel_spec::{InputFormat, Job, LabelField, LabelKind};
use serde_json::Value;

use crate::EvalError;

/// Where gold labels come from.
#[derive(Debug, Clone)]
pub enum GoldSource {
    /// A column of the job's input.
    Column(String),
    /// A CSV or JSONL file with an id column and a label column.
    File(PathBuf),
}

impl GoldSource {
    /// A path to an existing file is a file; anything else names an input column.
    pub fn parse(argument: &str) -> Self {
        let path = Path::new(argument);
        if path.is_file() {
            Self::File(path.to_path_buf())
        } else {
            Self::Column(argument.to_string())
        }
    }

    /// How to say where gold came from.
    pub fn describe(&self) -> String {
        match self {
            Self::Column(column) => format!("input column `{column}`"),
            Self::File(path) => format!("`{}`", path.display()),
        }
    }
}

/// Gold labels of one field, by row id.
#[derive(Debug, Clone)]
pub struct Gold {
    /// Where they came from.
    pub source: String,
    /// The field's labels: the spec's, then gold labels the spec lacks.
    pub labels: Vec<String>,
    /// How many of `labels` come from the spec.
    pub spec_labels: usize,
    /// Label indices per row id.
    pub rows: HashMap<String, Vec<usize>>,
    /// The row's text (the input's `text` column, shortened), when the gold came from the
    /// input.
    pub texts: HashMap<String, String>,
    /// Rows with an empty gold value (not evaluated).
    pub rows_without_gold: u64,
    /// Gold labels the spec does not have, with counts.
    pub unknown_labels: BTreeMap<String, u64>,
    /// Whether the field is multi-label.
    pub multi_label: bool,
}

/// Longest text kept per row for display.
const TEXT_CHARS: usize = 160;

/// Load the gold labels of `field`.
pub fn load_gold(job: &Job, field: &LabelField, source: &GoldSource) -> Result<Gold, EvalError> {
    let (spec_labels, multi_label) = match &field.kind {
        LabelKind::OneOf { labels } => (labels, false),
        LabelKind::AnyOf { labels, .. } => (labels, true),
        LabelKind::Schema { .. } => {
            return Err(EvalError::Field(format!(
                "field `{}` is a raw schema; `eval` compares `one_of` and `any_of` fields",
                field.name
            )));
        }
    };
    let mut gold = Gold {
        source: source.describe(),
        labels: spec_labels.iter().map(|label| label.name.clone()).collect(),
        spec_labels: spec_labels.len(),
        rows: HashMap::new(),
        texts: HashMap::new(),
        rows_without_gold: 0,
        unknown_labels: BTreeMap::new(),
        multi_label,
    };
    let (mut reader, label_column, text_column) = match source {
        GoldSource::Column(column) => {
            let format = match &job.input.format {
                InputFormat::Csv { delimiter } => Format::Csv {
                    delimiter: *delimiter,
                },
                InputFormat::Jsonl => Format::Jsonl,
                InputFormat::Parquet => Format::Parquet { columns: None },
                InputFormat::Sqlite { query } => Format::Sqlite {
                    query: query.clone(),
                },
                InputFormat::Postgres { url_env, query } => Format::Postgres {
                    url_env: url_env.clone(),
                    query: query.clone(),
                },
            };
            let reader = open_source(&job.input.path, &format, &job.input.id_column, None)?;
            reader.require_column(column, "the gold labels (`--gold`)")?;
            (reader, column.clone(), job.input.text_column.clone())
        }
        GoldSource::File(path) => open_gold_file(path, job, field)?,
    };
    let columns = std::sync::Arc::clone(reader.columns());
    let mut chunk = Vec::new();
    let mut problems = Vec::new();
    loop {
        chunk.clear();
        let more = reader.next_chunk(1024, &mut chunk)?;
        for row in chunk.drain(..) {
            let row = match row {
                Ok(row) => row,
                Err(error) => {
                    problems.push(error.to_string());
                    continue;
                }
            };
            let value = cell(&row, &columns, &label_column);
            let names = gold_names(&value, multi_label, &gold.labels[..gold.spec_labels]);
            if names.is_empty() {
                gold.rows_without_gold += 1;
                continue;
            }
            let mut indices: Vec<usize> = names.iter().map(|name| gold.index_of(name)).collect();
            indices.sort_unstable();
            indices.dedup();
            if let Some(text_column) = &text_column {
                let text = cell(&row, &columns, text_column);
                let text = match text {
                    Value::String(text) => text,
                    Value::Null => String::new(),
                    other => other.to_string(),
                };
                gold.texts
                    .insert(row.id.clone(), text.chars().take(TEXT_CHARS).collect());
            }
            gold.rows.insert(row.id, indices);
        }
        if !more {
            break;
        }
    }
    if !problems.is_empty() {
        return Err(EvalError::Gold {
            message: format!(
                "{} unreadable row(s) in {}: {}",
                problems.len(),
                gold.source,
                problems
                    .iter()
                    .take(5)
                    .cloned()
                    .collect::<Vec<_>>()
                    .join("; ")
            ),
        });
    }
    Ok(gold)
}

impl Gold {
    /// The index of a gold label, adding it when the spec does not have it.
    fn index_of(&mut self, name: &str) -> usize {
        if let Some(index) = self.labels.iter().position(|label| label == name) {
            return index;
        }
        *self.unknown_labels.entry(name.to_string()).or_default() += 1;
        self.labels.push(name.to_string());
        self.labels.len() - 1
    }

    /// The index of a predicted label (always one of the spec's).
    pub fn predicted_index(&self, name: &str) -> Option<usize> {
        self.labels[..self.spec_labels]
            .iter()
            .position(|label| label == name)
    }
}

/// Gold rows to read: the source, its label column, and its text column when it has one.
type GoldReader = (Box<dyn Source>, String, Option<String>);

fn open_gold_file(path: &Path, job: &Job, field: &LabelField) -> Result<GoldReader, EvalError> {
    let jsonl = path
        .extension()
        .is_some_and(|extension| extension == "jsonl" || extension == "ndjson");
    let format = if jsonl {
        Format::Jsonl
    } else {
        Format::Csv { delimiter: b',' }
    };
    // The id column: the spec's, else `id`.
    let id_column = match open_source(path, &format, &job.input.id_column, None) {
        Ok(source) => return finish_gold_file(source, path, field),
        Err(batchlabel_source::SourceError::MissingColumn { .. }) => "id",
        Err(other) => return Err(other.into()),
    };
    let source = open_source(path, &format, id_column, None)?;
    finish_gold_file(source, path, field)
}

fn finish_gold_file(
    source: Box<dyn Source>,
    path: &Path,
    field: &LabelField,
) -> Result<GoldReader, EvalError> {
    let columns = source.columns();
    let label_column = [field.name.as_str(), "gold", "label", "labels"]
        .into_iter()
        .find(|name| columns.position(name).is_some())
        .ok_or_else(|| EvalError::Gold {
            message: format!(
                "`{}` has no gold label column: expected `{}`, `gold`, `label` or `labels`; its columns are {}",
                path.display(),
                field.name,
                columns.names().join(", ")
            ),
        })?
        .to_string();
    let text_column = ["text"]
        .into_iter()
        .find(|name| columns.position(name).is_some())
        .map(str::to_string);
    Ok((source, label_column, text_column))
}

fn cell(row: &Row, columns: &batchlabel_source::Columns, column: &str) -> Value {
    row.value(columns, column)
        .map_or(Value::Null, batchlabel_source::Value::to_json)
}

/// The gold label names in one cell, matched to the spec's labels where they can be.
fn gold_names(value: &Value, multi_label: bool, spec_labels: &[String]) -> Vec<String> {
    let canonical = |name: &str| -> Option<String> {
        let name = name.trim();
        if name.is_empty() {
            return None;
        }
        Some(
            spec_labels
                .iter()
                .find(|label| label.as_str() == name)
                .or_else(|| {
                    spec_labels
                        .iter()
                        .find(|label| label.trim().eq_ignore_ascii_case(name))
                })
                .cloned()
                .unwrap_or_else(|| name.to_string()),
        )
    };
    match value {
        Value::Array(items) => items
            .iter()
            .filter_map(|item| match item {
                Value::String(text) => canonical(text),
                Value::Null => None,
                other => canonical(&other.to_string()),
            })
            .collect(),
        Value::String(text) => {
            let trimmed = text.trim();
            if multi_label
                && trimmed.starts_with('[')
                && let Ok(array @ Value::Array(_)) = serde_json::from_str::<Value>(trimmed)
            {
                return gold_names(&array, multi_label, spec_labels);
            }
            let whole = canonical(trimmed);
            let is_label = whole
                .as_ref()
                .is_some_and(|name| spec_labels.contains(name));
            if !multi_label || is_label {
                return whole.into_iter().collect();
            }
            trimmed
                .split([',', ';', '|'])
                .filter_map(canonical)
                .collect()
        }
        Value::Null => Vec::new(),
        other => canonical(&other.to_string()).into_iter().collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels() -> Vec<String> {
        ["Film, TV & Video", "Music", "joy", "anger"]
            .iter()
            .map(|label| (*label).to_string())
            .collect()
    }

    #[test]
    fn multi_label_cells_split_unless_the_whole_cell_is_a_label() {
        let labels = labels();
        let names = |text: &str| gold_names(&Value::String(text.into()), true, &labels);
        assert_eq!(names("Film, TV & Video"), ["Film, TV & Video"]);
        assert_eq!(names("joy,anger"), ["joy", "anger"]);
        assert_eq!(names(" Joy | ANGER "), ["joy", "anger"]);
        assert_eq!(names(r#"["Music", "joy"]"#), ["Music", "joy"]);
        assert!(names("  ").is_empty());
    }

    #[test]
    fn single_label_cells_are_matched_ignoring_case_and_kept_when_unknown() {
        let labels = labels();
        let names = |text: &str| gold_names(&Value::String(text.into()), false, &labels);
        assert_eq!(names("music"), ["Music"]);
        assert_eq!(names("joy,anger"), ["joy,anger"]);
        assert_eq!(names("sarcasm"), ["sarcasm"]);
    }
}
