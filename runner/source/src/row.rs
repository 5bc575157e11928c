//! One input row and the problems one row can have.

use std::path::PathBuf;

/// The values of a row, as the source format gives them.
#[derive(Debug, Clone)]
pub enum Record {
    /// CSV fields, positions as in [`crate::Columns`].
    Csv(csv::StringRecord),
    /// A JSON object.
    Json(serde_json::Map<String, serde_json::Value>),
}

/// One input row.
#[derive(Debug, Clone)]
pub struct Row {
    /// 1-based line of the file where the row starts.
    pub line: u64,
    /// The row's id, as the file spells it (a JSON number keeps its digits: `1e2`, `-0`).
    pub id: String,
    /// Its values.
    pub record: Record,
}

/// A problem with one row; the rest of the input can still be read.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{path}:{line}: {message}")]
pub struct RowError {
    /// The input file.
    pub path: PathBuf,
    /// 1-based line where the row starts.
    pub line: u64,
    /// What is wrong, with a hint.
    pub message: String,
}
