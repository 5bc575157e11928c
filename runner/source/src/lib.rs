//! batchlabel-source: one concern, reading input rows. An input is streamed in bounded
//! memory as a header of [`Columns`] and then chunks of [`Row`]s, each with its location (file
//! and line) for messages, its id and its values, read through format-neutral accessors
//! ([`Row::value`], [`Row::get`], [`Value`]) so no other crate knows what format a row came from.
//!
//! The extension point is the [`Source`] trait; [`open_source`] is the one factory. CSV
//! ([`CsvSource`]), JSON Lines ([`JsonlSource`]) and database queries ([`QuerySource`]: SQLite
//! and PostgreSQL) implement it. A new source (Parquet) is one file implementing [`Source`],
//! plus one arm in [`open_source`] (and its [`Format`] variant), plus one arm where the spec
//! names the input format. Resume identity is part of the trait ([`Source::identity`],
//! [`InputIdentity`]): a file's path, size and time; a query's digest of its rows
//! ([`query_identity`]).
//!
//! Problems with one row (malformed CSV, invalid UTF-8, a missing or empty id) are returned as
//! [`RowError`]s in the stream, so a caller can report all of them; problems with the whole
//! input (missing, not a regular file, empty, no id column, a repeated column) are a
//! [`SourceError`].

mod columns;
mod csv_source;
mod identity;
mod input_file;
mod jsonl_row;
mod jsonl_source;
mod parquet_files;
mod parquet_source;
mod query;
mod row;
mod source;
mod value;

use std::path::PathBuf;

pub use columns::{ColumnKey, Columns};
pub use csv_source::CsvSource;
pub use identity::{InputIdentity, input_identity};
pub use jsonl_source::JsonlSource;
pub use parquet_files::files_identity;
pub use parquet_source::{ParquetSource, Sample, sample_parquet};
pub use query::{
    QuerySource, postgres_tables, query_identity, sample_postgres, sample_sqlite, sqlite_tables,
};
/// PostgreSQL connection helpers the sinks share: settings from an environment variable,
/// TLS, failures worded without the password.
pub mod postgres_connection {
    pub use crate::query::connection::{Refusal, describe, open};
}
pub use row::{Names, Row, RowError};
pub use source::{Format, Source, open_source};
pub use value::Value;

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
    /// A Parquet input cannot be read, or its columns do not fit.
    #[error("input `{path}`: {message}{}", crate::hint_after(message, hint))]
    Parquet {
        /// The file (or the input's path).
        path: PathBuf,
        /// What is wrong.
        message: String,
        /// What to do.
        hint: String,
    },
    /// A database cannot be reached or read, or the query fails.
    #[error("input `{location}`: {message}{}", crate::hint_after(message, hint))]
    Database {
        /// `path/to/db.sqlite` or `postgres:$VARIABLE`.
        location: String,
        /// What went wrong (the database's words; the query with a caret where it points).
        message: String,
        /// What to do.
        hint: String,
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

/// `; hint: …` after a one-line message, the hint on its own line after a multi-line one
/// (a query with a caret). The sinks word their database errors the same way.
pub fn hint_after(message: &str, hint: &str) -> String {
    match (hint.is_empty(), message.contains('\n')) {
        (true, _) => String::new(),
        (false, true) => format!("\nhint: {hint}"),
        (false, false) => format!("; hint: {hint}"),
    }
}
