//! Why writing the results stopped.

use std::path::{Path, PathBuf};

use batchlabel_ledger::LedgerError;

/// Why writing the results stopped; file errors name the file.
#[derive(Debug, thiserror::Error)]
pub enum SinkError {
    /// A file could not be created, written or renamed.
    #[error("`{path}`: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The CSV writer failed.
    #[error("cannot write `{path}`: {source}")]
    Csv {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: csv::Error,
    },
    /// The SQLite database could not be written.
    #[error("cannot write `{path}`: {source}")]
    Sqlite {
        /// The database.
        path: PathBuf,
        /// What SQLite said.
        #[source]
        source: rusqlite::Error,
    },
    /// A database cannot be reached, or its table cannot take the results.
    #[error(
        "output `{location}`: {message}{}",
        batchlabel_source::hint_after(message, hint)
    )]
    Database {
        /// `postgres:$VARIABLE` or the SQLite file.
        location: String,
        /// What went wrong (never the password).
        message: String,
        /// What to do.
        hint: String,
    },
    /// A labeled result in the ledger is not JSON.
    #[error("a stored output is not JSON: {source}")]
    StoredOutput {
        /// What the parser said.
        #[source]
        source: serde_json::Error,
    },
    /// The ledger could not be read.
    #[error(transparent)]
    Ledger(#[from] LedgerError),
}

impl SinkError {
    pub(crate) fn io(path: &Path, source: std::io::Error) -> Self {
        Self::Io {
            path: path.to_path_buf(),
            source,
        }
    }

    pub(crate) fn csv(path: &Path, source: csv::Error) -> Self {
        Self::Csv {
            path: path.to_path_buf(),
            source,
        }
    }

    pub(crate) fn sqlite(path: &Path, source: rusqlite::Error) -> Self {
        Self::Sqlite {
            path: path.to_path_buf(),
            source,
        }
    }
}
