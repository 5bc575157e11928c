//! The ledger: one SQLite file (WAL) per run directory, the single source of truth of every
//! run in it. Runs, shards with their remote files and batches (and the intents journaled
//! before each remote call), requests with their fingerprints, failed attempts, and results.
//! An exclusive lock file keeps two runners out of one run directory.

use std::path::{Path, PathBuf};

use rusqlite::{Connection, OptionalExtension, params};

use crate::LifecycleError;

const SCHEMA: &str = "
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

/// Columns added after the first release, with their types: an older ledger gets them on
/// open, so its runs resume.
const ADDED_COLUMNS: &[(&str, &str, &str)] = &[
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

/// A run as the ledger knows it.
#[derive(Debug, Clone, serde::Serialize)]
pub struct RunRecord {
    /// Ledger id.
    pub id: i64,
    /// Random token naming the run's remote files and batches.
    pub token: String,
    /// The spec fingerprint it was started with.
    pub spec_fingerprint: String,
    /// Input file, size and modification time when it started.
    pub input_path: String,
    /// See `input_path`.
    pub input_bytes: i64,
    /// See `input_path`.
    pub input_modified: i64,
    /// Unix seconds.
    pub created_at: i64,
    /// `compiling`, `running`, `finished`.
    pub state: String,
    /// Rows in the input.
    pub rows: i64,
    /// Requests (rows minus duplicates).
    pub requests: i64,
    /// Requests served from an earlier run's results.
    pub cached_requests: i64,
    /// Set when this run took over the remote batches of a run whose ledger was lost: when
    /// that run's first batch was created. Each shard looks there (from this time on) for the
    /// batch sent for exactly its file before it is sent.
    pub adopt_since: Option<i64>,
    /// The lost run's token whose batches this run takes over (its own token names what it
    /// creates).
    pub adopt_token: Option<String>,
}

/// A shard as the ledger knows it.
#[derive(Debug, Clone, serde::Serialize)]
pub struct ShardRecord {
    /// Ledger id.
    pub id: i64,
    /// 1 for the first send, 2.. for retries.
    pub attempt: i64,
    /// Number within the attempt.
    pub number: i64,
    /// The JSONL file.
    pub path: String,
    /// Lines in it.
    pub requests: i64,
    /// Its size.
    pub bytes: i64,
    /// `planned`, `submitted`, `downloaded`, `ingested`.
    pub state: String,
    /// How many batches this shard has needed (a failed batch is resubmitted).
    pub submits: i64,
    /// The uploaded file.
    pub file_id: Option<String>,
    /// When the upload was about to start.
    pub upload_intent_at: Option<i64>,
    /// The batch.
    pub batch_id: Option<String>,
    /// When the create was about to start.
    pub create_intent_at: Option<i64>,
    /// Last seen remote status.
    pub batch_status: Option<String>,
    /// Last seen `request_counts.completed`.
    pub completed: i64,
    /// Last seen `request_counts.failed`.
    pub failed: i64,
    /// When its batch was created.
    pub submitted_at: Option<i64>,
    /// Downloaded output file.
    pub output_path: Option<String>,
    /// Downloaded error file.
    pub error_path: Option<String>,
    /// Why a batch failed, if it did.
    pub note: Option<String>,
    /// Sum of the xxh3 hashes of its custom_ids: checks an ingest saw exactly its requests.
    #[serde(skip)]
    pub id_set_hash: u64,
    /// The pre-flight bound of what it costs.
    pub estimate: batchlabel_compile::CostBound,
    /// When its estimate was reserved against the budget (before it was submitted).
    pub reserved_at: Option<i64>,
    /// Usage the provider reported in its output files, once ingested.
    pub actual: Option<ActualUsage>,
}

/// Tokens and dollars a shard's output files report.
#[derive(Debug, Clone, Copy, Default, PartialEq, serde::Serialize)]
pub struct ActualUsage {
    /// `usage.prompt_tokens`, summed.
    pub input_tokens: u64,
    /// `usage.completion_tokens`, summed.
    pub output_tokens: u64,
    /// At the batch price (0 when the model's price is unknown).
    pub cost_usd: f64,
}

/// The ledger of one run directory, locked for this process.
pub struct Ledger {
    pub(crate) connection: Connection,
    directory: PathBuf,
    /// Held for the ledger's lifetime; dropping it releases the run directory.
    lock: Option<std::fs::File>,
}

pub(crate) fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |elapsed| elapsed.as_secs() as i64)
}

fn database_error(path: &Path) -> impl Fn(rusqlite::Error) -> LifecycleError + '_ {
    move |source| ledger_error(path, &source)
}

/// A ledger failure; a damaged file gets the way forward.
fn ledger_error(path: &Path, source: &rusqlite::Error) -> LifecycleError {
    let damaged = matches!(
        source.sqlite_error_code(),
        Some(rusqlite::ErrorCode::DatabaseCorrupt | rusqlite::ErrorCode::NotADatabase)
    );
    if damaged {
        LifecycleError::LedgerDamaged {
            path: path.to_path_buf(),
            message: source.to_string(),
        }
    } else {
        LifecycleError::Ledger {
            path: path.to_path_buf(),
            message: source.to_string(),
        }
    }
}

impl Ledger {
    /// Open (creating) the ledger in `directory` and take its lock.
    pub fn open(directory: &Path) -> Result<Self, LifecycleError> {
        std::fs::create_dir_all(directory)
            .map_err(|source| LifecycleError::io(directory, source))?;
        let lock_path = directory.join("ledger.lock");
        let lock = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)
            .map_err(|source| LifecycleError::io(&lock_path, source))?;
        if lock.try_lock().is_err() {
            return Err(LifecycleError::Locked {
                path: directory.to_path_buf(),
            });
        }
        let mut ledger = Self::open_unlocked(directory)?;
        ledger.lock = Some(lock);
        Ok(ledger)
    }

    /// Open without the lock, for reading (`status`).
    pub fn open_unlocked(directory: &Path) -> Result<Self, LifecycleError> {
        let path = directory.join("ledger.sqlite");
        let connection = Connection::open(&path).map_err(database_error(&path))?;
        connection
            .execute_batch(
                "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA busy_timeout=10000; PRAGMA cache_size=-32768; PRAGMA temp_store=MEMORY;",
            )
            .map_err(database_error(&path))?;
        connection
            .execute_batch(SCHEMA)
            .map_err(database_error(&path))?;
        add_missing_columns(&connection).map_err(database_error(&path))?;
        Ok(Self {
            connection,
            directory: directory.to_path_buf(),
            lock: None,
        })
    }

    /// The run directory.
    pub fn directory(&self) -> &Path {
        &self.directory
    }

    pub(crate) fn error(&self) -> impl Fn(rusqlite::Error) -> LifecycleError + use<> {
        let path = self.directory.join("ledger.sqlite");
        move |source| ledger_error(&path, &source)
    }

    /// The newest run, if any.
    pub fn latest_run(&self) -> Result<Option<RunRecord>, LifecycleError> {
        self.connection
            .query_row(
                "SELECT id, token, spec_fingerprint, input_path, input_bytes, input_modified, created_at, state,
                        coalesce(rows, 0), coalesce(requests, 0), coalesce(cached_requests, 0), adopt_since,
                        adopt_token
                 FROM runs ORDER BY id DESC LIMIT 1",
                [],
                |row| {
                    Ok(RunRecord {
                        id: row.get(0)?,
                        token: row.get(1)?,
                        spec_fingerprint: row.get(2)?,
                        input_path: row.get(3)?,
                        input_bytes: row.get(4)?,
                        input_modified: row.get(5)?,
                        created_at: row.get(6)?,
                        state: row.get(7)?,
                        rows: row.get(8)?,
                        requests: row.get(9)?,
                        cached_requests: row.get(10)?,
                        adopt_since: row.get(11)?,
                        adopt_token: row.get(12)?,
                    })
                },
            )
            .optional()
            .map_err(self.error())
    }

    /// Start a new run; `adopt` names a lost run (token, earliest batch time) whose batches it
    /// takes over, recorded in the same statement so a crash cannot leave the run without it.
    pub(crate) fn create_run(
        &self,
        job: &str,
        spec_fingerprint: &str,
        input: (&str, i64, i64),
        adopt: Option<(&str, i64)>,
    ) -> Result<RunRecord, LifecycleError> {
        let token = format!("{:016x}", rand::random::<u64>());
        self.connection
            .execute(
                "INSERT INTO runs(token, job, spec_fingerprint, input_path, input_bytes, input_modified, created_at, state,
                     adopt_token, adopt_since)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, 'compiling', ?8, ?9)",
                params![
                    token,
                    job,
                    spec_fingerprint,
                    input.0,
                    input.1,
                    input.2,
                    now(),
                    adopt.map(|(token, _)| token),
                    adopt.map(|(_, since)| since)
                ],
            )
            .map_err(self.error())?;
        self.latest_run()?
            .ok_or_else(|| LifecycleError::Internal("a new run vanished".into()))
    }

    /// Whether the ledger holds any run.
    pub(crate) fn has_runs(&self) -> Result<bool, LifecycleError> {
        self.connection
            .query_row("SELECT count(*) > 0 FROM runs", [], |row| row.get(0))
            .map_err(self.error())
    }

    /// Every run token this ledger knows.
    pub(crate) fn run_tokens(&self) -> Result<std::collections::HashSet<String>, LifecycleError> {
        let mut statement = self
            .connection
            .prepare(
                "SELECT token FROM runs UNION SELECT adopt_token FROM runs WHERE adopt_token IS NOT NULL",
            )
            .map_err(self.error())?;
        let tokens = statement
            .query_map([], |row| row.get::<_, String>(0))
            .map_err(self.error())?
            .collect::<Result<_, _>>()
            .map_err(self.error())?;
        Ok(tokens)
    }

    /// Copy what the write-ahead log holds into the main file, so the ledger file alone
    /// (a backup, a copy) holds every batch id journaled so far. Best effort: a reader
    /// holding an old snapshot only delays it.
    pub(crate) fn checkpoint(&self) {
        let _ = self
            .connection
            .query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(()));
    }

    pub(crate) fn run_state(&self, run_id: i64) -> Result<String, LifecycleError> {
        self.connection
            .query_row("SELECT state FROM runs WHERE id = ?1", [run_id], |row| {
                row.get(0)
            })
            .map_err(self.error())
    }

    pub(crate) fn set_run_state(&self, run_id: i64, state: &str) -> Result<(), LifecycleError> {
        let finished = (state == "finished").then(now);
        self.connection
            .execute(
                "UPDATE runs SET state = ?2, finished_at = ?3 WHERE id = ?1",
                params![run_id, state, finished],
            )
            .map_err(self.error())?;
        Ok(())
    }

    /// The shards of a run, in attempt and number order.
    pub fn shards(&self, run_id: i64) -> Result<Vec<ShardRecord>, LifecycleError> {
        let mut statement = self
            .connection
            .prepare_cached(
                "SELECT id, attempt, number, path, requests, bytes, state, submits, file_id, upload_intent_at,
                        batch_id, create_intent_at, batch_status, completed, failed, submitted_at,
                        output_path, error_path, note, id_set_hash, estimate_input_tokens,
                        estimate_output_tokens, estimate_usd, reserved_at, actual_input_tokens,
                        actual_output_tokens, actual_usd
                 FROM shards WHERE run_id = ?1 ORDER BY attempt, number",
            )
            .map_err(self.error())?;
        let rows = statement
            .query_map([run_id], |row| {
                Ok(ShardRecord {
                    id: row.get(0)?,
                    attempt: row.get(1)?,
                    number: row.get(2)?,
                    path: row.get(3)?,
                    requests: row.get(4)?,
                    bytes: row.get(5)?,
                    state: row.get(6)?,
                    submits: row.get(7)?,
                    file_id: row.get(8)?,
                    upload_intent_at: row.get(9)?,
                    batch_id: row.get(10)?,
                    create_intent_at: row.get(11)?,
                    batch_status: row.get(12)?,
                    completed: row.get(13)?,
                    failed: row.get(14)?,
                    submitted_at: row.get(15)?,
                    output_path: row.get(16)?,
                    error_path: row.get(17)?,
                    note: row.get(18)?,
                    id_set_hash: row.get::<_, i64>(19)? as u64,
                    estimate: batchlabel_compile::CostBound {
                        input_tokens: row.get::<_, Option<i64>>(20)?.unwrap_or_default() as u64,
                        output_tokens_max: row
                            .get::<_, Option<i64>>(21)?
                            .map(|tokens| tokens as u64),
                        cost_usd_max: row.get(22)?,
                    },
                    reserved_at: row.get(23)?,
                    actual: match row.get::<_, Option<i64>>(24)? {
                        Some(input_tokens) => Some(ActualUsage {
                            input_tokens: input_tokens as u64,
                            output_tokens: row.get::<_, Option<i64>>(25)?.unwrap_or_default()
                                as u64,
                            cost_usd: row.get::<_, Option<f64>>(26)?.unwrap_or_default(),
                        }),
                        None => None,
                    },
                })
            })
            .map_err(self.error())?;
        rows.collect::<Result<_, _>>().map_err(self.error())
    }

    /// Run one statement that changes a shard (fields named by the caller).
    pub(crate) fn update_shard(
        &self,
        shard_id: i64,
        assignments: &str,
        values: &[&dyn rusqlite::ToSql],
    ) -> Result<(), LifecycleError> {
        let sql = format!(
            "UPDATE shards SET {assignments}, updated_at = {} WHERE id = {shard_id}",
            now()
        );
        self.connection
            .execute(&sql, rusqlite::params_from_iter(values.iter()))
            .map_err(self.error())?;
        Ok(())
    }

    pub(crate) fn add_shard(
        &self,
        run_id: i64,
        (attempt, number): (i64, i64),
        planned: &PlannedShard,
    ) -> Result<(), LifecycleError> {
        insert_shard(&self.connection, run_id, (attempt, number), planned).map_err(self.error())
    }
}

/// A batch file about to become a shard.
#[derive(Debug, Clone)]
pub(crate) struct PlannedShard {
    pub(crate) path: PathBuf,
    pub(crate) requests: u64,
    pub(crate) bytes: u64,
    pub(crate) id_set_hash: u64,
    pub(crate) estimate: Option<batchlabel_compile::CostBound>,
}

pub(crate) fn insert_shard(
    connection: &Connection,
    run_id: i64,
    (attempt, number): (i64, i64),
    planned: &PlannedShard,
) -> rusqlite::Result<()> {
    let estimate = planned.estimate.unwrap_or_default();
    connection.execute(
        "INSERT OR IGNORE INTO shards(run_id, attempt, number, path, requests, bytes, state, updated_at,
             id_set_hash, estimate_input_tokens, estimate_output_tokens, estimate_usd)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, 'planned', ?7, ?8, ?9, ?10, ?11)",
        params![
            run_id,
            attempt,
            number,
            planned.path.to_string_lossy(),
            planned.requests as i64,
            planned.bytes as i64,
            now(),
            planned.id_set_hash as i64,
            planned.estimate.map(|_| estimate.input_tokens as i64),
            estimate.output_tokens_max.map(|tokens| tokens as i64),
            estimate.cost_usd_max
        ],
    )?;
    Ok(())
}

fn add_missing_columns(connection: &Connection) -> rusqlite::Result<()> {
    for (table, column, kind) in ADDED_COLUMNS {
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

/// The order-independent hash of a set of custom_ids, one id at a time.
pub(crate) fn id_hash(custom_id: &str) -> u64 {
    xxhash_rust::xxh3::xxh3_64(custom_id.as_bytes())
}
