//! The ledger's schema and its versioned migrations. `PRAGMA user_version` says which
//! migrations a file has had; version 0 is every ledger written before versions existed (the
//! first release and its later columns), which migration 1 brings to the current shape
//! without touching its rows. A new column or table is one more migration at the end.

use std::path::Path;

use rusqlite::Connection;

use crate::LedgerError;

const TABLES: &str = "
CREATE TABLE IF NOT EXISTS runs(
  id INTEGER PRIMARY KEY, token TEXT NOT NULL, job TEXT NOT NULL, spec_fingerprint TEXT NOT NULL,
  input_path TEXT NOT NULL, input_bytes INTEGER NOT NULL, input_modified INTEGER NOT NULL,
  created_at INTEGER NOT NULL, state TEXT NOT NULL, rows INTEGER, requests INTEGER,
  duplicate_rows INTEGER, cached_requests INTEGER, finished_at INTEGER);
CREATE TABLE IF NOT EXISTS shards(
  id INTEGER PRIMARY KEY, run_id INTEGER NOT NULL, attempt INTEGER NOT NULL, number INTEGER NOT NULL,
  path TEXT NOT NULL, requests INTEGER NOT NULL, bytes INTEGER NOT NULL, state TEXT NOT NULL,
  submits INTEGER NOT NULL DEFAULT 1, file_id TEXT, upload_intent_at INTEGER, batch_id TEXT,
  create_intent_at INTEGER, batch_status TEXT, completed INTEGER NOT NULL DEFAULT 0,
  failed INTEGER NOT NULL DEFAULT 0, submitted_at INTEGER, output_path TEXT, error_path TEXT,
  note TEXT, updated_at INTEGER, id_set_hash INTEGER NOT NULL DEFAULT 0,
  UNIQUE(run_id, attempt, number));
CREATE TABLE IF NOT EXISTS requests(
  run_id INTEGER NOT NULL, custom_id TEXT NOT NULL, fingerprint BLOB NOT NULL, shard INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS request_rows(
  run_id INTEGER NOT NULL, custom_id TEXT NOT NULL, row_id TEXT NOT NULL, reason TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS attempts(
  run_id INTEGER NOT NULL, custom_id TEXT NOT NULL, attempt INTEGER NOT NULL, shard_id INTEGER NOT NULL,
  reason TEXT NOT NULL, detail TEXT NOT NULL, output TEXT, input_tokens INTEGER NOT NULL DEFAULT 0,
  output_tokens INTEGER NOT NULL DEFAULT 0, cost REAL NOT NULL DEFAULT 0,
  PRIMARY KEY(run_id, attempt, custom_id)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS results(
  run_id INTEGER NOT NULL, custom_id TEXT NOT NULL, state TEXT NOT NULL, output TEXT,
  reason TEXT, detail TEXT, attempt INTEGER NOT NULL, shard_id INTEGER, model_snapshot TEXT, input_tokens INTEGER NOT NULL DEFAULT 0, output_tokens INTEGER NOT NULL DEFAULT 0,
  cost REAL NOT NULL DEFAULT 0, finished_at INTEGER NOT NULL, cached_from_run INTEGER, scores TEXT,
  raw_output TEXT, PRIMARY KEY(run_id, custom_id)) WITHOUT ROWID;
";

/// Columns the unversioned releases added one by one: a version-0 ledger may lack any of them.
const UNVERSIONED_COLUMNS: &[(&str, &str, &str)] = &[
    ("shards", "estimate_input_tokens", "INTEGER"),
    ("shards", "estimate_output_tokens", "INTEGER"),
    ("shards", "estimate_usd", "REAL"),
    ("shards", "reserved_at", "INTEGER"),
    ("shards", "actual_input_tokens", "INTEGER"),
    ("shards", "actual_output_tokens", "INTEGER"),
    ("shards", "actual_usd", "REAL"),
    ("runs", "adopt_since", "INTEGER"),
    ("runs", "adopt_token", "TEXT"),
];

/// One step from version N-1 to N (N is its position, from 1).
type Migration = fn(&Connection) -> rusqlite::Result<()>;

/// Every migration, oldest first.
const MIGRATIONS: &[Migration] = &[version_1, version_2, version_3];

/// The schema version this build writes.
pub const CURRENT_VERSION: i64 = MIGRATIONS.len() as i64;

/// Version 1: the tables and every column of the unversioned releases.
fn version_1(connection: &Connection) -> rusqlite::Result<()> {
    connection.execute_batch(TABLES)?;
    for (table, column, kind) in UNVERSIONED_COLUMNS {
        let exists: bool = connection.query_row(
            &format!("SELECT count(*) FROM pragma_table_info('{table}') WHERE name = ?1"),
            [column],
            |row| row.get::<_, i64>(0).map(|count| count > 0),
        )?;
        if !exists {
            connection.execute_batch(&format!("ALTER TABLE {table} ADD COLUMN {column} {kind}"))?;
        }
    }
    Ok(())
}

/// Version 2: the remote cleanup journal of each shard (issue 16). `result_files` holds the
/// provider's handles of its batch's output and error files (one per line), recorded when they
/// are downloaded, so they can be deleted after ingest even by a later process;
/// `remote_cleaned_at` says when its input and result files were deleted at the provider;
/// `cleanup_note` and `cleanup_failed_at` say why and when the last try failed (it is retried).
fn version_2(connection: &Connection) -> rusqlite::Result<()> {
    connection.execute_batch(
        "ALTER TABLE shards ADD COLUMN result_files TEXT;
         ALTER TABLE shards ADD COLUMN remote_cleaned_at INTEGER;
         ALTER TABLE shards ADD COLUMN cleanup_note TEXT;
         ALTER TABLE shards ADD COLUMN cleanup_failed_at INTEGER;",
    )
}

/// Version 3: each shard's prompt tokens served from the provider's cache (priced lower), and
/// for a result answered in a packed request, that request and the item (`pk-…#3`).
fn version_3(connection: &Connection) -> rusqlite::Result<()> {
    connection.execute_batch(
        "ALTER TABLE shards ADD COLUMN actual_cached_tokens INTEGER;
         ALTER TABLE results ADD COLUMN packed_in TEXT;",
    )
}

/// Bring the ledger at `path` to [`CURRENT_VERSION`], each migration in its own transaction.
pub(crate) fn migrate(connection: &Connection, path: &Path) -> Result<(), LedgerError> {
    let error = |source| LedgerError::sql(path, source);
    let found: i64 = connection
        .query_row("PRAGMA user_version", [], |row| row.get(0))
        .map_err(error)?;
    if found > CURRENT_VERSION {
        return Err(LedgerError::NewerSchema {
            path: path.to_path_buf(),
            found,
            supported: CURRENT_VERSION,
        });
    }
    for (index, migration) in MIGRATIONS.iter().enumerate().skip(found as usize) {
        let version = index as i64 + 1;
        connection.execute_batch("BEGIN IMMEDIATE").map_err(error)?;
        let applied = migration(connection)
            .and_then(|()| connection.execute_batch(&format!("PRAGMA user_version = {version}")));
        match applied {
            Ok(()) => connection.execute_batch("COMMIT").map_err(error)?,
            Err(source) => {
                let _ = connection.execute_batch("ROLLBACK");
                return Err(error(source));
            }
        }
    }
    Ok(())
}

/// The schema version of the ledger file at `connection_path` (opened for this question).
pub fn version(connection_path: &Path) -> Result<i64, LedgerError> {
    let connection = Connection::open(connection_path)
        .map_err(|source| LedgerError::sql(connection_path, source))?;
    connection
        .query_row("PRAGMA user_version", [], |row| row.get(0))
        .map_err(|source| LedgerError::sql(connection_path, source))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{InputIdentity, Ledger, RunState};

    #[test]
    fn a_new_ledger_is_at_the_current_version_and_a_newer_one_is_refused() {
        let directory = tempfile::tempdir().expect("temp dir");
        let ledger = Ledger::open(directory.path()).expect("open");
        let identity = InputIdentity {
            location: "data.csv".into(),
            size: 10,
            version: 1,
        };
        let run = ledger
            .create_run("job", "f00d", &identity, None)
            .expect("run");
        assert_eq!(run.state, RunState::Compiling);
        assert_eq!(run.input, identity);
        drop(ledger);
        let path = directory.path().join(crate::LEDGER_FILE);
        assert_eq!(version(&path).expect("version"), CURRENT_VERSION);

        let connection = Connection::open(&path).expect("raw open");
        connection
            .execute_batch(&format!("PRAGMA user_version = {}", CURRENT_VERSION + 1))
            .expect("bump");
        drop(connection);
        let error = Ledger::open_unlocked(directory.path())
            .err()
            .expect("refused");
        assert!(
            matches!(error, LedgerError::NewerSchema { found, .. } if found == CURRENT_VERSION + 1),
            "{error}"
        );
    }

    #[test]
    fn a_version_1_ledger_gains_the_cleanup_journal() {
        let directory = tempfile::tempdir().expect("temp dir");
        let path = directory.path().join(crate::LEDGER_FILE);
        let connection = Connection::open(&path).expect("raw open");
        version_1(&connection).expect("version 1");
        connection
            .execute_batch(
                "PRAGMA user_version = 1;
                 INSERT INTO runs(token, job, spec_fingerprint, input_path, input_bytes, input_modified, created_at, state)
                   VALUES ('t', 'job', 'f00d', 'data.csv', 1, 1, 1, 'finished');
                 INSERT INTO shards(run_id, attempt, number, path, requests, bytes, state)
                   VALUES (1, 1, 1, 'shard-00001.jsonl', 1, 10, 'ingested');",
            )
            .expect("a version-1 run");
        drop(connection);
        let ledger = Ledger::open(directory.path()).expect("migrates");
        assert_eq!(version(&path).expect("version"), CURRENT_VERSION);
        let shard = ledger.shards(1).expect("shards").remove(0);
        assert!(shard.result_files.is_empty());
        assert_eq!((shard.remote_cleaned_at, shard.cleanup_note), (None, None));
        ledger.mark_remote_cleaned(shard.id).expect("journaled");
    }

    #[test]
    fn an_unknown_state_is_an_error_not_a_guess() {
        let (_directory, ledger, run) = crate::ledger_with_run();
        ledger
            .connection
            .execute("UPDATE runs SET state = 'paused' WHERE id = ?1", [run.id])
            .expect("damage");
        let error = ledger.run_state(run.id).expect_err("unknown state");
        assert!(
            error.to_string().contains("unknown run state `paused`"),
            "{error}"
        );
    }
}
