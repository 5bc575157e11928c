//! The column names of an input and a fast name → position lookup.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;

use crate::SourceError;

/// Column names in file order.
#[derive(Debug, Clone, Default)]
pub struct Columns {
    names: Vec<String>,
    positions: HashMap<String, usize>,
}

/// A column name looked up once in an input's [`Columns`], so reading it from each of a
/// million rows costs no lookup (for rows of that same input only).
#[derive(Debug, Clone)]
pub struct ColumnKey {
    name: Arc<str>,
    position: Option<usize>,
}

impl ColumnKey {
    /// The column's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Its position in the columns, when it is one of them.
    #[inline]
    pub(crate) fn position(&self) -> Option<usize> {
        self.position
    }
}

impl Columns {
    /// Columns from names in file order that cannot repeat (a JSON object's keys); a header
    /// read from a file goes through [`Columns::from_header`].
    pub fn new(names: Vec<String>) -> Self {
        let mut positions = HashMap::with_capacity(names.len());
        for (index, name) in names.iter().enumerate() {
            positions.entry(name.clone()).or_insert(index);
        }
        Self { names, positions }
    }

    /// Columns from a header read from `path`; a repeated name is an error, since only one
    /// of the two columns could ever be read and which one would be a silent guess. Empty
    /// names may repeat (spreadsheets export trailing empty header cells): no spec can name
    /// them, so nothing is guessed.
    pub fn from_header(names: Vec<String>, path: &Path) -> Result<Self, SourceError> {
        let mut positions = HashMap::with_capacity(names.len());
        for (index, name) in names.iter().enumerate() {
            if name.is_empty() {
                positions.entry(String::new()).or_insert(index);
                continue;
            }
            if let Some(first) = positions.insert(name.clone(), index) {
                return Err(SourceError::DuplicateColumn {
                    path: path.to_path_buf(),
                    column: name.clone(),
                    first: first + 1,
                    second: index + 1,
                });
            }
        }
        Ok(Self { names, positions })
    }

    /// The names, in file order.
    pub fn names(&self) -> &[String] {
        &self.names
    }

    /// Position of `name`.
    pub fn position(&self, name: &str) -> Option<usize> {
        self.positions.get(name).copied()
    }

    /// `name` looked up once, to read it from many rows with [`crate::Row::get`].
    pub fn key(&self, name: impl Into<Arc<str>>) -> ColumnKey {
        let name = name.into();
        let position = self.position(&name);
        ColumnKey { name, position }
    }

    /// An error unless `column` exists, naming what it is for and the closest match.
    pub fn require(&self, column: &str, purpose: &str, path: &Path) -> Result<(), SourceError> {
        if self.positions.contains_key(column) {
            return Ok(());
        }
        let lowered = column.to_lowercase();
        let suggestion = self
            .names
            .iter()
            .map(|name| (strsim::jaro_winkler(&lowered, &name.to_lowercase()), name))
            .filter(|(score, _)| *score >= 0.8)
            .max_by(|left, right| left.0.total_cmp(&right.0))
            .map(|(_, name)| name.clone());
        Err(SourceError::MissingColumn {
            path: path.to_path_buf(),
            column: column.to_string(),
            purpose: purpose.to_string(),
            available: self
                .names
                .iter()
                .map(|name| format!("`{name}`"))
                .collect::<Vec<_>>()
                .join(", "),
            suggestion,
        })
    }
}
