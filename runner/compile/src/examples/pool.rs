//! Reading a labeled examples file (CSV or JSON Lines): each row's text, id and label values,
//! checked against the label fields. Every problem names the file and line.

use std::path::Path;

use batchlabel_spec::LabelField;
use batchlabel_spec::examples::{Example, ExampleFile, answer_of};
use serde_json::Value;

/// Most examples a pool may hold: they are kept in memory and indexed.
pub const MAX_POOL: usize = 200_000;

/// A problem with the examples file.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("examples file `{path}`{}: {message}", line.map(|line| format!(" line {line}")).unwrap_or_default())]
pub struct PoolError {
    /// The file.
    pub path: String,
    /// The line, when one is at fault.
    pub line: Option<u64>,
    /// What is wrong.
    pub message: String,
}

fn problem(path: &Path, line: Option<u64>, message: impl Into<String>) -> PoolError {
    PoolError {
        path: path.display().to_string(),
        line,
        message: message.into(),
    }
}

/// Every example of `file`, in file order.
pub fn read_pool(file: &ExampleFile, fields: &[LabelField]) -> Result<Vec<Example>, PoolError> {
    let is_csv = file
        .path
        .extension()
        .and_then(|extension| extension.to_str())
        .is_some_and(|extension| extension.eq_ignore_ascii_case("csv"));
    let examples = if is_csv {
        read_csv(file, fields)?
    } else {
        read_jsonl(file, fields)?
    };
    if examples.is_empty() {
        return Err(problem(&file.path, None, "it holds no examples"));
    }
    Ok(examples)
}

fn read_csv(file: &ExampleFile, fields: &[LabelField]) -> Result<Vec<Example>, PoolError> {
    let path = file.path.as_path();
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(true)
        .flexible(false)
        .from_path(path)
        .map_err(|error| problem(path, None, error.to_string()))?;
    let header = reader
        .headers()
        .map_err(|error| problem(path, Some(1), error.to_string()))?
        .clone();
    let position = |name: &str| header.iter().position(|column| column == name);
    let column = |name: &str, purpose: &str| {
        position(name).ok_or_else(|| {
            problem(
                path,
                Some(1),
                format!(
                    "no `{name}` column for {purpose} (columns: {})",
                    header.iter().collect::<Vec<_>>().join(", ")
                ),
            )
        })
    };
    let text = column(&file.text_column, "the text")?;
    let id = match &file.id_column {
        Some(name) if file.id_required => Some(column(name, "the id")?),
        Some(name) => position(name),
        None => None,
    };
    let label_columns = file
        .columns
        .iter()
        .map(|(field, name)| {
            Ok((
                field.clone(),
                column(name, &format!("the label field `{field}`"))?,
            ))
        })
        .collect::<Result<Vec<_>, PoolError>>()?;
    let mut examples = Vec::new();
    for record in reader.records() {
        let record = record.map_err(|error| {
            let line = error.position().map(csv::Position::line);
            problem(path, line, error.to_string())
        })?;
        let line = record.position().map(csv::Position::line);
        let cell = |index: usize| record.get(index).unwrap_or_default();
        let example = example(cell(text), id.map(cell), fields, |field| {
            label_columns
                .iter()
                .find(|(name, _)| name == field)
                .map(|(_, index)| Value::String(cell(*index).to_string()))
        })
        .map_err(|message| problem(path, line, message))?;
        examples.push(example);
        if examples.len() > MAX_POOL {
            return Err(problem(
                path,
                line,
                format!("more than {MAX_POOL} examples"),
            ));
        }
    }
    Ok(examples)
}

fn read_jsonl(file: &ExampleFile, fields: &[LabelField]) -> Result<Vec<Example>, PoolError> {
    let path = file.path.as_path();
    let text =
        std::fs::read_to_string(path).map_err(|error| problem(path, None, error.to_string()))?;
    let mut examples = Vec::new();
    for (index, line) in text.lines().enumerate() {
        let number = Some(index as u64 + 1);
        if line.trim().is_empty() {
            continue;
        }
        let object: serde_json::Map<String, Value> = serde_json::from_str(line)
            .map_err(|error| problem(path, number, format!("not a JSON object: {error}")))?;
        let text = object
            .get(&file.text_column)
            .and_then(Value::as_str)
            .ok_or_else(|| problem(path, number, format!("no text in `{}`", file.text_column)))?;
        let id = file
            .id_column
            .as_ref()
            .and_then(|column| match object.get(column) {
                Some(Value::String(id)) => Some(id.clone()),
                Some(Value::Number(id)) => Some(id.to_string()),
                _ => None,
            });
        if file.id_required && id.is_none() {
            return Err(problem(path, number, "no id"));
        }
        let example = example(text, id.as_deref(), fields, |field| {
            file.columns
                .iter()
                .find(|(name, _)| name == field)
                .and_then(|(_, column)| object.get(column).cloned())
        })
        .map_err(|message| problem(path, number, message))?;
        examples.push(example);
        if examples.len() > MAX_POOL {
            return Err(problem(
                path,
                number,
                format!("more than {MAX_POOL} examples"),
            ));
        }
    }
    Ok(examples)
}

fn example(
    text: &str,
    id: Option<&str>,
    fields: &[LabelField],
    value_of: impl Fn(&str) -> Option<Value>,
) -> Result<Example, String> {
    if text.trim().is_empty() {
        return Err("the text is empty".into());
    }
    let answer = answer_of(fields, value_of)?;
    Ok(Example {
        id: id.filter(|id| !id.is_empty()).map(str::to_string),
        text: text.to_string(),
        answer,
    })
}
