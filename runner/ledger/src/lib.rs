//! batchlabel-ledger: the ledger of one run directory — one SQLite file (WAL), the single
//! source of truth of every run in it: runs, shards with their remote inputs and batches (and
//! the intents journaled before each remote call), requests with their fingerprints, failed
//! attempts, and results. An exclusive lock file keeps two runners out of one run directory.
//!
//! Every SQL statement of batchlabel's state lives in this crate. Callers move runs and shards
//! through typed transitions ([`Ledger::mark_submitted`], [`Ledger::requeue_shard`], …) and
//! read typed records; the schema is versioned ([`schema`]) so a ledger written by an older
//! version opens and resumes.

mod cleanup;
mod compile_registry;
mod error;
mod ingest;
mod results;
mod revalidate;
mod rows;
mod runs;
pub mod schema;
mod shards;

/// A fresh ledger in a temporary folder with one run of job `job` (for unit tests).
#[cfg(test)]
pub(crate) fn ledger_with_run() -> (tempfile::TempDir, Ledger, RunRecord) {
    let directory = tempfile::tempdir().expect("temp dir");
    let ledger = Ledger::open(directory.path()).expect("open");
    let identity = InputIdentity {
        location: "data.csv".into(),
        size: 1,
        version: 1,
    };
    let run = ledger
        .create_run("job", "f00d", &identity, None)
        .expect("run");
    (directory, ledger, run)
}

use std::path::{Path, PathBuf};

use rusqlite::Connection;

pub use batchlabel_core::{CostBound, InputIdentity, ResultState, RunState, ShardState};
pub use cleanup::RunAge;
pub use compile_registry::{
    CachedReuse, CompileRegistry, CompileTotals, RequestWriter, RowLinkWriter,
};
pub use error::LedgerError;
pub use ingest::{PackedIn, Pricing};
pub use results::{
    ActualUsage, PendingFailure, ResultRow, RowCountGroup, ScoredResult, UsageTotals,
};
pub use revalidate::{EarlierAnswer, Relabeled, Reusable, Verdict};
pub use rows::{RowLinks, RowResult};
pub use runs::{RunRecord, RunSummary};
pub use shards::{PlannedShard, RemoteSubmission, ShardRecord};

/// File name of the ledger inside a run directory.
pub const LEDGER_FILE: &str = "ledger.sqlite";
/// File name of the lock inside a run directory.
pub const LOCK_FILE: &str = "ledger.lock";

/// The ledger of one run directory (locked for this process unless opened for reading).
pub struct Ledger {
    connection: Connection,
    directory: PathBuf,
    /// Held for the ledger's lifetime; dropping it releases the run directory.
    lock: Option<std::fs::File>,
}

impl Ledger {
    /// Open (creating) the ledger in `directory` and take its lock.
    pub fn open(directory: &Path) -> Result<Self, LedgerError> {
        std::fs::create_dir_all(directory).map_err(|source| LedgerError::io(directory, source))?;
        let lock_path = directory.join(LOCK_FILE);
        let lock = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)
            .map_err(|source| LedgerError::io(&lock_path, source))?;
        if lock.try_lock().is_err() {
            return Err(LedgerError::Locked {
                path: directory.to_path_buf(),
            });
        }
        let mut ledger = Self::open_unlocked(directory)?;
        ledger.lock = Some(lock);
        Ok(ledger)
    }

    /// Open without the lock, for reading (`status`, `eval`, `report`).
    pub fn open_unlocked(directory: &Path) -> Result<Self, LedgerError> {
        let path = directory.join(LEDGER_FILE);
        let connection =
            Connection::open(&path).map_err(|source| LedgerError::sql(&path, source))?;
        connection
            .execute_batch(
                "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA busy_timeout=10000; PRAGMA cache_size=-32768; PRAGMA temp_store=MEMORY;",
            )
            .map_err(|source| LedgerError::sql(&path, source))?;
        schema::migrate(&connection, &path)?;
        Ok(Self {
            connection,
            directory: directory.to_path_buf(),
            lock: None,
        })
    }

    /// Whether `directory` holds a ledger at all.
    pub fn exists(directory: &Path) -> bool {
        directory.join(LEDGER_FILE).exists()
    }

    /// The run directory.
    pub fn directory(&self) -> &Path {
        &self.directory
    }

    /// The SQLite file.
    pub fn path(&self) -> PathBuf {
        self.directory.join(LEDGER_FILE)
    }

    /// Turns a SQLite error into a ledger error naming this ledger's file.
    fn error(&self) -> impl Fn(rusqlite::Error) -> LedgerError + use<> {
        let path = self.path();
        move |source| LedgerError::sql(&path, source)
    }

    /// Copy what the write-ahead log holds into the main file, so the ledger file alone
    /// (a backup, a copy) holds every batch id journaled so far. Best effort: a reader
    /// holding an old snapshot only delays it.
    pub fn checkpoint(&self) {
        let _ = self
            .connection
            .query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(()));
    }
}

/// The order-independent hash of a set of custom_ids, one id at a time (summed, wrapping).
pub fn id_hash(custom_id: &str) -> u64 {
    xxhash_rust::xxh3::xxh3_64(custom_id.as_bytes())
}

fn now() -> i64 {
    batchlabel_core::now()
}
