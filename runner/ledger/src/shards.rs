//! Shards: one batch file each, from planned to ingested, with the intents journaled before
//! each remote call (so a crash between the call and its answer is resolved by looking, never
//! by sending again).

use std::path::PathBuf;

use rusqlite::params;

use crate::results::ActualUsage;
use crate::runs::state_column;
use crate::{CostBound, Ledger, LedgerError, ShardState, now};

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
    /// Where it is.
    pub state: ShardState,
    /// How many batches this shard has needed (a failed batch is resubmitted).
    pub submits: i64,
    /// The provider's handle of the uploaded input (a file id), when it has one.
    pub file_id: Option<String>,
    /// When the upload was about to start.
    pub upload_intent_at: Option<i64>,
    /// The batch.
    pub batch_id: Option<String>,
    /// When the create was about to start.
    pub create_intent_at: Option<i64>,
    /// Last seen remote status, in the provider's words.
    pub batch_status: Option<String>,
    /// Last seen count of requests done.
    pub completed: i64,
    /// Last seen count of requests failed.
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
    pub estimate: CostBound,
    /// When its estimate was reserved against the budget (before it was submitted).
    pub reserved_at: Option<i64>,
    /// Usage the provider reported in its output files, once ingested.
    pub actual: Option<ActualUsage>,
    /// The provider's handles of its batch's result files (deleted there after ingest).
    pub result_files: Vec<String>,
    /// When its input and result files were deleted at the provider.
    pub remote_cleaned_at: Option<i64>,
    /// Why the last try to delete them failed (retried later), if it did.
    pub cleanup_note: Option<String>,
    /// When that try failed.
    pub cleanup_failed_at: Option<i64>,
}

/// A batch file about to become a shard.
#[derive(Debug, Clone)]
pub struct PlannedShard {
    /// The file.
    pub path: PathBuf,
    /// Lines in it.
    pub requests: u64,
    /// Its size.
    pub bytes: u64,
    /// See [`ShardRecord::id_set_hash`].
    pub id_set_hash: u64,
    /// Its cost bound, when a budget is in force.
    pub estimate: Option<CostBound>,
}

/// A batch that now exists at the provider for a shard.
#[derive(Debug, Clone, Copy)]
pub struct RemoteSubmission<'a> {
    /// The uploaded input it reads, when the provider has uploads.
    pub file_id: Option<&'a str>,
    /// The batch.
    pub batch_id: &'a str,
    /// Its status as the provider spelled it.
    pub status: &'a str,
}

const SHARD_COLUMNS: &str =
    "id, attempt, number, path, requests, bytes, state, submits, file_id, upload_intent_at,
    batch_id, create_intent_at, batch_status, completed, failed, submitted_at,
    output_path, error_path, note, id_set_hash, estimate_input_tokens,
    estimate_output_tokens, estimate_usd, reserved_at, actual_input_tokens,
    actual_output_tokens, actual_usd, result_files, remote_cleaned_at, cleanup_note,
    cleanup_failed_at, actual_cached_tokens";

fn shard_record(row: &rusqlite::Row<'_>) -> rusqlite::Result<ShardRecord> {
    Ok(ShardRecord {
        id: row.get(0)?,
        attempt: row.get(1)?,
        number: row.get(2)?,
        path: row.get(3)?,
        requests: row.get(4)?,
        bytes: row.get(5)?,
        state: state_column(row, 6, ShardState::parse)?,
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
        estimate: CostBound {
            input_tokens: row.get::<_, Option<i64>>(20)?.unwrap_or_default() as u64,
            output_tokens_max: row.get::<_, Option<i64>>(21)?.map(|tokens| tokens as u64),
            cost_usd_max: row.get(22)?,
        },
        reserved_at: row.get(23)?,
        actual: match row.get::<_, Option<i64>>(24)? {
            Some(input_tokens) => Some(ActualUsage {
                input_tokens: input_tokens as u64,
                output_tokens: row.get::<_, Option<i64>>(25)?.unwrap_or_default() as u64,
                cost_usd: row.get::<_, Option<f64>>(26)?.unwrap_or_default(),
                cached_input_tokens: row.get::<_, Option<i64>>(31)?.unwrap_or_default() as u64,
            }),
            None => None,
        },
        result_files: row
            .get::<_, Option<String>>(27)?
            .map(|files| files.lines().map(str::to_string).collect())
            .unwrap_or_default(),
        remote_cleaned_at: row.get(28)?,
        cleanup_note: row.get(29)?,
        cleanup_failed_at: row.get(30)?,
    })
}

pub(crate) fn insert_shard(
    connection: &rusqlite::Connection,
    run_id: i64,
    (attempt, number): (i64, i64),
    planned: &PlannedShard,
) -> rusqlite::Result<()> {
    let estimate = planned.estimate.unwrap_or_default();
    let mut statement = connection.prepare_cached(
        "INSERT OR IGNORE INTO shards(run_id, attempt, number, path, requests, bytes, state, updated_at,
             id_set_hash, estimate_input_tokens, estimate_output_tokens, estimate_usd)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
    )?;
    statement.execute(params![
        run_id,
        attempt,
        number,
        planned.path.to_string_lossy(),
        planned.requests as i64,
        planned.bytes as i64,
        ShardState::Planned.as_str(),
        now(),
        planned.id_set_hash as i64,
        planned.estimate.map(|_| estimate.input_tokens as i64),
        estimate.output_tokens_max.map(|tokens| tokens as i64),
        estimate.cost_usd_max
    ])?;
    Ok(())
}

impl Ledger {
    /// The shards of a run, in attempt and number order.
    pub fn shards(&self, run_id: i64) -> Result<Vec<ShardRecord>, LedgerError> {
        let mut statement = self
            .connection
            .prepare_cached(&format!(
                "SELECT {SHARD_COLUMNS} FROM shards WHERE run_id = ?1 ORDER BY attempt, number"
            ))
            .map_err(self.error())?;
        let rows = statement
            .query_map([run_id], shard_record)
            .map_err(self.error())?;
        rows.collect::<Result<_, _>>().map_err(self.error())
    }

    /// Add a planned shard (a retry file) to a run; adding it twice keeps the first.
    pub fn add_shard(
        &self,
        run_id: i64,
        position: (i64, i64),
        planned: &PlannedShard,
    ) -> Result<(), LedgerError> {
        insert_shard(&self.connection, run_id, position, planned).map_err(self.error())
    }

    /// Files of a run's first attempt, in order (the requests every retry is cut from).
    pub fn first_attempt_paths(&self, run_id: i64) -> Result<Vec<String>, LedgerError> {
        let mut statement = self
            .connection
            .prepare("SELECT path FROM shards WHERE run_id = ?1 AND attempt = 1 ORDER BY number")
            .map_err(self.error())?;
        let rows = statement
            .query_map([run_id], |row| row.get(0))
            .map_err(self.error())?;
        rows.collect::<Result<_, _>>().map_err(self.error())
    }

    /// Batch ids by shard id, for provenance.
    pub fn batch_ids(&self) -> Result<std::collections::HashMap<i64, String>, LedgerError> {
        let mut statement = self
            .connection
            .prepare("SELECT id, batch_id FROM shards WHERE batch_id IS NOT NULL")
            .map_err(self.error())?;
        let rows = statement
            .query_map([], |row| {
                Ok((row.get::<_, i64>(0)?, row.get::<_, String>(1)?))
            })
            .map_err(self.error())?;
        rows.collect::<Result<_, _>>().map_err(self.error())
    }

    pub(crate) fn update_shard(
        &self,
        shard_id: i64,
        assignments: &str,
        values: &[&dyn rusqlite::ToSql],
    ) -> Result<(), LedgerError> {
        let sql = format!(
            "UPDATE shards SET {assignments}, updated_at = ?{} WHERE id = ?{}",
            values.len() + 1,
            values.len() + 2
        );
        let now = now();
        let all = values.iter().copied().chain([
            &now as &dyn rusqlite::ToSql,
            &shard_id as &dyn rusqlite::ToSql,
        ]);
        self.connection
            .prepare_cached(&sql)
            .and_then(|mut statement| statement.execute(rusqlite::params_from_iter(all)))
            .map_err(self.error())?;
        Ok(())
    }

    /// Record a shard's cost bound (computed late for a ledger written before budgets).
    pub fn record_estimate(&self, shard_id: i64, estimate: &CostBound) -> Result<(), LedgerError> {
        self.update_shard(
            shard_id,
            "estimate_input_tokens = ?1, estimate_output_tokens = ?2, estimate_usd = ?3",
            &[
                &(estimate.input_tokens as i64),
                &estimate.output_tokens_max.map(|tokens| tokens as i64),
                &estimate.cost_usd_max,
            ],
        )
    }

    /// Reserve a shard's estimate against the budget, now; returns when.
    pub fn reserve(&self, shard_id: i64) -> Result<i64, LedgerError> {
        let at = now();
        self.update_shard(shard_id, "reserved_at = ?1", &[&at])?;
        Ok(at)
    }

    /// Journal that an upload is about to start.
    pub fn mark_upload_intent(&self, shard_id: i64) -> Result<(), LedgerError> {
        self.update_shard(shard_id, "upload_intent_at = ?1", &[&now()])
    }

    /// Record the uploaded input's handle.
    pub fn mark_uploaded(&self, shard_id: i64, file_id: &str) -> Result<(), LedgerError> {
        self.update_shard(shard_id, "file_id = ?1", &[&file_id])
    }

    /// Journal that a batch create is about to start; returns the intent's time (the
    /// earliest a batch found later can have been created by it).
    pub fn mark_create_intent(&self, shard_id: i64) -> Result<i64, LedgerError> {
        let at = now();
        self.update_shard(shard_id, "create_intent_at = ?1", &[&at])?;
        Ok(at)
    }

    /// The create was refused outright (nothing was made): nothing needs looking for.
    pub fn clear_create_intent(&self, shard_id: i64) -> Result<(), LedgerError> {
        self.update_shard(shard_id, "create_intent_at = NULL", &[])
    }

    /// The shard's batch exists: it is `submitted`.
    pub fn mark_submitted(
        &self,
        shard_id: i64,
        submission: RemoteSubmission<'_>,
    ) -> Result<(), LedgerError> {
        match submission.file_id {
            Some(file_id) => self.update_shard(
                shard_id,
                "file_id = ?1, batch_id = ?2, state = ?3, submitted_at = ?4, batch_status = ?5",
                &[
                    &file_id,
                    &submission.batch_id,
                    &ShardState::Submitted.as_str(),
                    &now(),
                    &submission.status,
                ],
            ),
            None => self.update_shard(
                shard_id,
                "batch_id = ?1, state = ?2, submitted_at = ?3, batch_status = ?4",
                &[
                    &submission.batch_id,
                    &ShardState::Submitted.as_str(),
                    &now(),
                    &submission.status,
                ],
            ),
        }
    }

    /// What the last poll saw.
    pub fn record_poll(
        &self,
        shard_id: i64,
        status: &str,
        (completed, failed): (u64, u64),
    ) -> Result<(), LedgerError> {
        self.update_shard(
            shard_id,
            "batch_status = ?1, completed = ?2, failed = ?3",
            &[&status, &(completed as i64), &(failed as i64)],
        )
    }

    /// What the provider said when asked to cancel.
    pub fn record_batch_status(&self, shard_id: i64, status: &str) -> Result<(), LedgerError> {
        self.update_shard(shard_id, "batch_status = ?1", &[&status])
    }

    /// Why its batch failed.
    pub fn record_note(&self, shard_id: i64, note: &str) -> Result<(), LedgerError> {
        self.update_shard(shard_id, "note = ?1", &[&note])
    }

    /// Its batch failed as a whole and will be sent again: back to `planned`, one more submit.
    pub fn requeue_shard(&self, shard_id: i64, note: &str) -> Result<(), LedgerError> {
        self.update_shard(
            shard_id,
            "state = ?1, batch_id = NULL, create_intent_at = NULL, batch_status = NULL, submits = submits + 1, note = ?2",
            &[&ShardState::Planned.as_str(), &note],
        )
    }

    /// Its result files are on disk.
    pub fn mark_downloaded(
        &self,
        shard_id: i64,
        output_path: Option<&str>,
        error_path: Option<&str>,
    ) -> Result<(), LedgerError> {
        self.update_shard(
            shard_id,
            "state = ?1, output_path = ?2, error_path = ?3",
            &[&ShardState::Downloaded.as_str(), &output_path, &error_path],
        )
    }
}
