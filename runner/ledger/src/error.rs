//! Why the ledger could not be read or written; a damaged file gets the way forward.

use std::path::{Path, PathBuf};

/// A ledger failure. Each keeps its source.
#[derive(Debug, thiserror::Error)]
pub enum LedgerError {
    /// Another process holds the run directory.
    #[error(
        "another batchlabel process is using `{path}`; wait for it to finish (or stop it) and run again"
    )]
    Locked {
        /// The run directory.
        path: PathBuf,
    },
    /// The ledger could not be read or written.
    #[error("ledger `{path}`: {source}")]
    Database {
        /// The SQLite file.
        path: PathBuf,
        /// What SQLite said.
        #[source]
        source: rusqlite::Error,
    },
    /// The ledger file is damaged (corrupt, truncated, or not a ledger).
    #[error(
        "ledger `{path}` is damaged ({source}); the run stopped.\nhint: move it aside with its `-wal` and `-shm` files (e.g. `mv {path} {path}.damaged`) and run again: a new ledger first looks at the provider for this job's batches and takes them over instead of sending them again"
    )]
    Damaged {
        /// The SQLite file.
        path: PathBuf,
        /// What SQLite said.
        #[source]
        source: rusqlite::Error,
    },
    /// The ledger was written by a newer batchlabel whose schema this one does not know.
    #[error(
        "ledger `{path}` has schema version {found}, newer than this batchlabel knows ({supported}); use the batchlabel that wrote it, or a newer one"
    )]
    NewerSchema {
        /// The SQLite file.
        path: PathBuf,
        /// Its `user_version`.
        found: i64,
        /// The newest version this build migrates to.
        supported: i64,
    },
    /// A file of the run directory could not be created or opened.
    #[error("`{path}`: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
}

impl LedgerError {
    pub(crate) fn io(path: &Path, source: std::io::Error) -> Self {
        Self::Io {
            path: path.to_path_buf(),
            source,
        }
    }

    pub(crate) fn sql(path: &Path, source: rusqlite::Error) -> Self {
        let damaged = matches!(
            source.sqlite_error_code(),
            Some(rusqlite::ErrorCode::DatabaseCorrupt | rusqlite::ErrorCode::NotADatabase)
        );
        if damaged {
            Self::Damaged {
                path: path.to_path_buf(),
                source,
            }
        } else {
            Self::Database {
                path: path.to_path_buf(),
                source,
            }
        }
    }
}
