//! batchlabel-source: streams input rows from files, each with its file line, its id and its
//! values, in bounded memory. CSV and JSON Lines now; Parquet, SQLite and Postgres fit behind
//! the same [`Source`] (a header of columns, then chunks of rows).
//!
//! Problems with one row (malformed CSV, invalid UTF-8, a missing or empty id) are returned as
//! [`RowError`]s in the stream, so a caller can report all of them; problems with the whole
//! file (missing, not a regular file, empty, no id column, a repeated column) are a
//! [`SourceError`].

mod columns;
mod csv_source;
mod input_file;
mod jsonl_row;
mod jsonl_source;
mod row;

use std::path::{Path, PathBuf};

pub use columns::Columns;
pub use csv_source::CsvSource;
pub use jsonl_source::JsonlSource;
pub use row::{Record, Row, RowError};

/// A problem with the input as a whole.
#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    /// Nothing is at the path.
    #[error("input `{path}` does not exist")]
    Missing {
        /// The input file.
        path: PathBuf,
    },
    /// The path is a directory, a FIFO, a device…: not a file that can be read to its end.
    #[error("input `{path}` {what}")]
    NotAFile {
        /// The path.
        path: PathBuf,
        /// What it is instead (`is a directory, not a file`, `is not a regular file (a FIFO)`).
        what: &'static str,
    },
    /// The file cannot be opened or read.
    #[error("cannot read input `{path}`: {source}")]
    Io {
        /// The input file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The file has no header and no rows.
    #[error("input `{path}` is empty")]
    Empty {
        /// The input file.
        path: PathBuf,
    },
    /// The CSV header is unreadable.
    #[error("input `{path}` line 1: cannot read the CSV header: {message}")]
    Header {
        /// The input file.
        path: PathBuf,
        /// Why.
        message: String,
    },
    /// Two CSV header fields have the same name, so one of them could never be read.
    #[error(
        "input `{path}` line 1: column `{column}` appears twice in the header (columns {first} and {second}); hint: rename one of them"
    )]
    DuplicateColumn {
        /// The input file.
        path: PathBuf,
        /// The repeated name.
        column: String,
        /// 1-based position of its first occurrence.
        first: usize,
        /// 1-based position of the repeat.
        second: usize,
    },
    /// A column the spec needs is not in the input.
    #[error(
        "input `{path}` has no column `{column}` (needed for {purpose}); its columns are: {available}"
    )]
    MissingColumn {
        /// The input file.
        path: PathBuf,
        /// The missing column.
        column: String,
        /// What the column is needed for (`the id`, `the text`, `template user`).
        purpose: String,
        /// The columns the file has, comma-separated.
        available: String,
        /// A close match, if any.
        suggestion: Option<String>,
    },
}

/// Which input format to read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// CSV with a header row.
    Csv {
        /// Field delimiter.
        delimiter: u8,
    },
    /// JSON Lines.
    Jsonl,
}

/// A stream of rows from one input file.
#[derive(Debug)]
pub enum Source {
    /// A CSV file.
    Csv(CsvSource),
    /// A JSON Lines file.
    Jsonl(JsonlSource),
}

impl Source {
    /// Open `path` and locate the id column.
    pub fn open(path: &Path, format: Format, id_column: &str) -> Result<Self, SourceError> {
        Ok(match format {
            Format::Csv { delimiter } => Source::Csv(CsvSource::open(path, delimiter, id_column)?),
            Format::Jsonl => Source::Jsonl(JsonlSource::open(path, id_column)?),
        })
    }

    /// The columns: the CSV header, or the keys of the first JSON object.
    pub fn columns(&self) -> &std::sync::Arc<Columns> {
        match self {
            Source::Csv(source) => source.columns(),
            Source::Jsonl(source) => source.columns(),
        }
    }

    /// Read up to `max` rows (or row errors) into `out`; `false` once the input is exhausted.
    pub fn next_chunk(
        &mut self,
        max: usize,
        out: &mut Vec<Result<Row, RowError>>,
    ) -> Result<bool, SourceError> {
        match self {
            Source::Csv(source) => source.next_chunk(max, out),
            Source::Jsonl(source) => source.next_chunk(max, out),
        }
    }

    /// Bytes consumed so far (for progress).
    pub fn bytes_read(&self) -> u64 {
        match self {
            Source::Csv(source) => source.bytes_read(),
            Source::Jsonl(source) => source.bytes_read(),
        }
    }

    /// Check that `column` exists (JSONL: in the first row), for a helpful early error. When
    /// the first JSONL row is itself unreadable there is nothing to check against: its row
    /// error says what is wrong, and each row is checked when it is rendered.
    pub fn require_column(&self, column: &str, purpose: &str) -> Result<(), SourceError> {
        if let Source::Jsonl(source) = self
            && !source.first_row_readable()
        {
            return Ok(());
        }
        self.columns().require(column, purpose, self.path())
    }

    /// The input file.
    pub fn path(&self) -> &Path {
        match self {
            Source::Csv(source) => source.path(),
            Source::Jsonl(source) => source.path(),
        }
    }
}
