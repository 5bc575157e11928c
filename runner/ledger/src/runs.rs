//! Runs: created, read, moved between states.

use rusqlite::{OptionalExtension, params};

use crate::{InputIdentity, Ledger, LedgerError, RunState, now};

/// A run as the ledger knows it.
#[derive(Debug, Clone, serde::Serialize)]
pub struct RunRecord {
    /// Ledger id.
    pub id: i64,
    /// Random token naming the run's remote files and batches.
    pub token: String,
    /// The spec fingerprint it was started with.
    pub spec_fingerprint: String,
    /// The input when it started.
    pub input: InputIdentity,
    /// Unix seconds.
    pub created_at: i64,
    /// Where it is.
    pub state: RunState,
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

/// A run's counts as registered after its compile.
#[derive(Debug, Clone, Copy)]
pub struct RunSummary {
    /// Where it is.
    pub state: RunState,
    /// Unix seconds.
    pub created_at: i64,
    /// Rows in the input.
    pub rows: i64,
    /// Requests.
    pub requests: i64,
    /// Rows that repeated an earlier row's request.
    pub duplicate_rows: i64,
    /// Requests served from an earlier run.
    pub cached_requests: i64,
}

/// Reads a state column, failing on a text this version does not know.
pub(crate) fn state_column<T>(
    row: &rusqlite::Row<'_>,
    index: usize,
    parse: fn(&str) -> Result<T, batchlabel_core::UnknownState>,
) -> rusqlite::Result<T> {
    let text: String = row.get(index)?;
    parse(&text).map_err(|unknown| {
        rusqlite::Error::FromSqlConversionFailure(
            index,
            rusqlite::types::Type::Text,
            Box::new(unknown),
        )
    })
}

/// The columns [`run_record`] reads, in its order.
const RUN_COLUMNS: &str = "id, token, spec_fingerprint, input_path, input_bytes, input_modified, created_at, state,
    coalesce(rows, 0), coalesce(requests, 0), coalesce(cached_requests, 0), adopt_since, adopt_token";

fn run_record(row: &rusqlite::Row<'_>) -> rusqlite::Result<RunRecord> {
    Ok(RunRecord {
        id: row.get(0)?,
        token: row.get(1)?,
        spec_fingerprint: row.get(2)?,
        input: InputIdentity {
            location: row.get(3)?,
            size: row.get(4)?,
            version: row.get(5)?,
        },
        created_at: row.get(6)?,
        state: state_column(row, 7, RunState::parse)?,
        rows: row.get(8)?,
        requests: row.get(9)?,
        cached_requests: row.get(10)?,
        adopt_since: row.get(11)?,
        adopt_token: row.get(12)?,
    })
}

impl Ledger {
    /// The newest run, if any.
    pub fn latest_run(&self) -> Result<Option<RunRecord>, LedgerError> {
        self.connection
            .query_row(
                &format!("SELECT {RUN_COLUMNS} FROM runs ORDER BY id DESC LIMIT 1"),
                [],
                run_record,
            )
            .optional()
            .map_err(self.error())
    }

    /// Every run, oldest first.
    pub fn runs(&self) -> Result<Vec<RunRecord>, LedgerError> {
        let mut statement = self
            .connection
            .prepare(&format!("SELECT {RUN_COLUMNS} FROM runs ORDER BY id"))
            .map_err(self.error())?;
        let runs = statement
            .query_map([], run_record)
            .map_err(self.error())?
            .collect::<Result<_, _>>()
            .map_err(self.error())?;
        Ok(runs)
    }

    /// Start a new run (state `compiling`); `adopt` names a lost run (token, earliest batch
    /// time) whose batches it takes over, recorded in the same statement so a crash cannot
    /// leave the run without it.
    pub fn create_run(
        &self,
        job: &str,
        spec_fingerprint: &str,
        input: &InputIdentity,
        adopt: Option<(&str, i64)>,
    ) -> Result<RunRecord, LedgerError> {
        let token = format!("{:016x}", rand::random::<u64>());
        self.connection
            .execute(
                "INSERT INTO runs(token, job, spec_fingerprint, input_path, input_bytes, input_modified, created_at, state,
                     adopt_token, adopt_since)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
                params![
                    token,
                    job,
                    spec_fingerprint,
                    input.location,
                    input.size,
                    input.version,
                    now(),
                    RunState::Compiling.as_str(),
                    adopt.map(|(token, _)| token),
                    adopt.map(|(_, since)| since)
                ],
            )
            .map_err(self.error())?;
        self.latest_run()?
            .ok_or_else(|| LedgerError::sql(&self.path(), rusqlite::Error::QueryReturnedNoRows))
    }

    /// Whether the ledger holds any run.
    pub fn has_runs(&self) -> Result<bool, LedgerError> {
        self.connection
            .query_row("SELECT count(*) > 0 FROM runs", [], |row| row.get(0))
            .map_err(self.error())
    }

    /// Every run token this ledger knows (its runs' own and the lost runs they adopted).
    pub fn run_tokens(&self) -> Result<std::collections::HashSet<String>, LedgerError> {
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

    /// Where a run is now.
    pub fn run_state(&self, run_id: i64) -> Result<RunState, LedgerError> {
        self.connection
            .query_row("SELECT state FROM runs WHERE id = ?1", [run_id], |row| {
                state_column(row, 0, RunState::parse)
            })
            .map_err(self.error())
    }

    /// Move a run to `state` (`finished` records when).
    pub fn set_run_state(&self, run_id: i64, state: RunState) -> Result<(), LedgerError> {
        let finished = (state == RunState::Finished).then(now);
        self.connection
            .execute(
                "UPDATE runs SET state = ?2, finished_at = ?3 WHERE id = ?1",
                params![run_id, state.as_str(), finished],
            )
            .map_err(self.error())?;
        Ok(())
    }

    /// A run's registered counts.
    pub fn run_summary(&self, run_id: i64) -> Result<(RunSummary, String), LedgerError> {
        self.connection
            .query_row(
                "SELECT state, created_at, spec_fingerprint, coalesce(rows, 0), coalesce(requests, 0),
                        coalesce(duplicate_rows, 0), coalesce(cached_requests, 0) FROM runs WHERE id = ?1",
                [run_id],
                |row| {
                    Ok((
                        RunSummary {
                            state: state_column(row, 0, RunState::parse)?,
                            created_at: row.get(1)?,
                            rows: row.get(3)?,
                            requests: row.get(4)?,
                            duplicate_rows: row.get(5)?,
                            cached_requests: row.get(6)?,
                        },
                        row.get(2)?,
                    ))
                },
            )
            .map_err(self.error())
    }
}
