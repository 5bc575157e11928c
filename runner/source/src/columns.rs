//! The column names of an input and a fast name → position lookup.

use std::collections::HashMap;
use std::path::Path;

use crate::SourceError;

/// Column names in file order.
#[derive(Debug, Clone, Default)]
pub struct Columns {
    names: Vec<String>,
    positions: HashMap<String, usize>,
}

impl Columns {
    /// Columns from names in file order (the first of a repeated name wins).
    pub fn new(names: Vec<String>) -> Self {
        let mut positions = HashMap::with_capacity(names.len());
        for (index, name) in names.iter().enumerate() {
            positions.entry(name.clone()).or_insert(index);
        }
        Self { names, positions }
    }

    /// The names, in file order.
    pub fn names(&self) -> &[String] {
        &self.names
    }

    /// Position of `name`.
    pub fn position(&self, name: &str) -> Option<usize> {
        self.positions.get(name).copied()
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
