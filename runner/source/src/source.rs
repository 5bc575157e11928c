//! The [`Source`] trait every input kind implements, and [`open_source`], the one factory.

use std::path::Path;
use std::sync::Arc;

use crate::{Columns, CsvSource, InputIdentity, JsonlSource, Row, RowError, SourceError};

/// Which input format to read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Format {
    /// CSV with a header row.
    Csv {
        /// Field delimiter.
        delimiter: u8,
    },
    /// JSON Lines.
    Jsonl,
    /// Parquet (a file, folder or glob), reading only `columns` (None: all).
    Parquet {
        /// The columns to read.
        columns: Option<Vec<String>>,
    },
    /// An SQLite database (at the path), read with this query.
    Sqlite {
        /// The query.
        query: String,
    },
    /// A PostgreSQL database (connection string in `url_env`), read with this query.
    Postgres {
        /// The environment variable holding the connection string.
        url_env: String,
        /// The query.
        query: String,
    },
}

/// A stream of rows from one input: a header of [`Columns`], then chunks of [`Row`]s.
///
/// This is the extension point for new inputs: a new kind is one file implementing this
/// trait, plus one arm in [`open_source`]. The trait is dyn-compatible; callers hold a
/// `Box<dyn Source>` and never learn the format (row values are read through
/// [`Row::value`] / [`Row::get`]).
pub trait Source: std::fmt::Debug + Send {
    /// The columns: the CSV header, or the keys of the first JSON object.
    fn columns(&self) -> &Arc<Columns>;

    /// Whether every row has exactly [`Source::columns`] (a CSV header). When `false`
    /// (JSON Lines), the columns are those of the first row and another row may lack some or
    /// have others, so a column is checked per row rather than up front.
    fn fixed_columns(&self) -> bool;

    /// Read up to `max` rows (or row errors) into `out`; `false` once the input is exhausted.
    fn next_chunk(
        &mut self,
        max: usize,
        out: &mut Vec<Result<Row, RowError>>,
    ) -> Result<bool, SourceError>;

    /// Bytes consumed so far (for progress).
    fn bytes_read(&self) -> u64;

    /// Check that `column` exists, for a helpful early error naming `purpose` and the closest
    /// match. With [`Source::fixed_columns`] `false` only the first row can be checked; when
    /// that row is itself unreadable there is nothing to check against: its row error says
    /// what is wrong, and each row is checked when it is read.
    fn require_column(&self, column: &str, purpose: &str) -> Result<(), SourceError>;

    /// Where the input is, for messages: for a file, its path.
    fn location(&self) -> &str;

    /// The input's identity for resuming a run: a run continues only on the same input.
    /// For a file: its path, byte size and modification time (see [`crate::input_identity`]).
    fn identity(&self) -> Result<InputIdentity, SourceError>;
}

/// Open the input at `path` as `format`, and locate the id column. A query input also
/// checks each row's `text_column` is text.
pub fn open_source(
    path: &Path,
    format: &Format,
    id_column: &str,
    text_column: Option<&str>,
) -> Result<Box<dyn Source>, SourceError> {
    Ok(match format {
        Format::Csv { delimiter } => Box::new(CsvSource::open(path, *delimiter, id_column)?),
        Format::Jsonl => Box::new(JsonlSource::open(path, id_column)?),
        Format::Parquet { columns } => Box::new(crate::ParquetSource::open(
            path,
            id_column,
            text_column,
            columns.as_deref(),
        )?),
        Format::Sqlite { query } => Box::new(crate::query::open_sqlite(
            path,
            query,
            id_column,
            text_column,
        )?),
        Format::Postgres { url_env, query } => Box::new(crate::query::open_postgres(
            url_env,
            query,
            id_column,
            text_column,
        )?),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn open(bytes: &[u8], name: &str, format: &Format) -> (Box<dyn Source>, tempfile::TempDir) {
        let folder = tempfile::tempdir().unwrap();
        let path = folder.path().join(name);
        std::fs::write(&path, bytes).unwrap();
        (open_source(&path, format, "id", None).unwrap(), folder)
    }

    #[test]
    fn both_kinds_open_behind_the_trait() {
        let csv = Format::Csv { delimiter: b',' };
        let (source, _folder) = open(b"id,text\n1,a\n", "in.csv", &csv);
        assert!(source.fixed_columns());
        assert!(source.location().ends_with("in.csv"));
        assert!(source.require_column("text", "the text").is_ok());
        let (source, _folder) = open(
            b"{\"id\": 1, \"text\": \"a\"}\n",
            "in.jsonl",
            &Format::Jsonl,
        );
        assert!(!source.fixed_columns());
        assert_eq!(source.columns().names(), ["id", "text"]);
        assert!(matches!(
            source.require_column("label", "the gold"),
            Err(SourceError::MissingColumn { .. })
        ));
        let identity = source.identity().unwrap();
        assert_eq!(identity.location, source.location());
        assert_eq!(identity.size, 23);
    }

    #[test]
    fn an_unreadable_first_jsonl_row_checks_no_column() {
        let (source, _folder) = open(b"{\"id\": 1,\n{\"id\": 2}\n", "in.jsonl", &Format::Jsonl);
        assert!(source.require_column("anything", "the text").is_ok());
    }
}
