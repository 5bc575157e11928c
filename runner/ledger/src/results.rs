//! Results and failed attempts: recording an ingest, ending what failed for good, and reading
//! results back for retries, calibration, sinks, status, eval and report.

use std::collections::{HashMap, HashSet};

use batchlabel_core::FailureReason;
use rusqlite::params;

use crate::{Ledger, LedgerError, ResultState, now};

/// Tokens and dollars a shard's output files report.
#[derive(Debug, Clone, Copy, Default, PartialEq, serde::Serialize)]
pub struct ActualUsage {
    /// Prompt tokens, summed.
    pub input_tokens: u64,
    /// Completion tokens, summed.
    pub output_tokens: u64,
    /// Of the prompt tokens, those served from the provider's cache.
    pub cached_input_tokens: u64,
    /// At the batch price (0 when the model's price is unknown).
    pub cost_usd: f64,
}

/// One request's result, as sinks write it.
#[derive(Debug, Clone)]
pub struct ResultRow {
    /// The request.
    pub custom_id: String,
    /// Labeled or failed.
    pub state: ResultState,
    /// The answer (validated and calibrated when labeled).
    pub output: Option<String>,
    /// Why it failed.
    pub reason: Option<String>,
    /// The failure's detail.
    pub detail: Option<String>,
    /// Which attempt ended it.
    pub attempt: i64,
    /// The shard whose batch answered it.
    pub shard_id: Option<i64>,
    /// The model snapshot that answered.
    pub model_snapshot: Option<String>,
    /// Prompt tokens.
    pub input_tokens: i64,
    /// Completion tokens.
    pub output_tokens: i64,
    /// Dollars.
    pub cost: f64,
    /// Unix seconds.
    pub finished_at: i64,
    /// The earlier run whose result it reuses.
    pub cached_from_run: Option<i64>,
    /// Per-label scores (local model), as JSON text.
    pub scores: Option<String>,
    /// The packed request that answered it and its item (`pk-…#3`), when packed.
    pub packed_in: Option<String>,
}

/// A failed attempt still waiting for its retry.
#[derive(Debug, Clone)]
pub struct PendingFailure {
    /// Why it failed.
    pub reason: FailureReason,
    /// The detail given back as feedback.
    pub detail: String,
    /// The rejected answer.
    pub output: Option<String>,
}

/// A labeled result with scores, for calibration.
#[derive(Debug, Clone)]
pub struct ScoredResult {
    /// The request.
    pub custom_id: String,
    /// The answer before calibration.
    pub raw_output: String,
    /// Its scores, as JSON text.
    pub scores: String,
}

/// Rows by result state and failure reason.
#[derive(Debug, Clone)]
pub struct RowCountGroup {
    /// Labeled or failed.
    pub state: ResultState,
    /// The reason ('' when labeled).
    pub reason: String,
    /// Rows.
    pub rows: u64,
}

/// Tokens and dollars a run spent (results not reused from earlier runs, and every attempt).
#[derive(Debug, Clone, Copy, Default)]
pub struct UsageTotals {
    /// Prompt tokens.
    pub input_tokens: u64,
    /// Completion tokens.
    pub output_tokens: u64,
    /// Dollars.
    pub cost_usd: f64,
}

fn result_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<ResultRow> {
    Ok(ResultRow {
        custom_id: row.get(0)?,
        state: crate::runs::state_column(row, 1, ResultState::parse)?,
        output: row.get(2)?,
        reason: row.get(3)?,
        detail: row.get(4)?,
        attempt: row.get(5)?,
        shard_id: row.get(6)?,
        model_snapshot: row.get(7)?,
        input_tokens: row.get(8)?,
        output_tokens: row.get(9)?,
        cost: row.get(10)?,
        finished_at: row.get(11)?,
        cached_from_run: row.get(12)?,
        scores: row.get(13)?,
        packed_in: row.get(14)?,
    })
}

impl Ledger {
    /// End every request that failed and has no result yet as failed (a cancelled run is not
    /// retried): the latest attempt's reason is its reason. Returns how many.
    pub fn finalize_pending(&self, run_id: i64) -> Result<u64, LedgerError> {
        let changed = self
            .connection
            .execute(
                "INSERT OR IGNORE INTO results(run_id, custom_id, state, output, reason, detail, attempt, shard_id, finished_at)
                 SELECT a.run_id, a.custom_id, ?3, a.output, a.reason, a.detail, a.attempt, a.shard_id, ?2
                 FROM attempts a
                 WHERE a.run_id = ?1
                   AND a.attempt = (SELECT max(attempt) FROM attempts b WHERE b.run_id = a.run_id AND b.custom_id = a.custom_id)
                   AND NOT EXISTS (SELECT 1 FROM results r WHERE r.run_id = a.run_id AND r.custom_id = a.custom_id)",
                params![run_id, now(), ResultState::Failed.as_str()],
            )
            .map_err(self.error())?;
        Ok(changed as u64)
    }

    /// Failures of `attempt` that have no result yet (they get the next attempt).
    pub fn pending_failures(
        &self,
        run_id: i64,
        attempt: i64,
    ) -> Result<HashMap<String, PendingFailure>, LedgerError> {
        let mut statement = self
            .connection
            .prepare(
                "SELECT a.custom_id, a.reason, a.detail, a.output FROM attempts a
                 WHERE a.run_id = ?1 AND a.attempt = ?2 AND NOT EXISTS
                   (SELECT 1 FROM results r WHERE r.run_id = a.run_id AND r.custom_id = a.custom_id)",
            )
            .map_err(self.error())?;
        let rows = statement
            .query_map(params![run_id, attempt], |row| {
                let reason: String = row.get(1)?;
                Ok((
                    row.get::<_, String>(0)?,
                    PendingFailure {
                        reason: FailureReason::parse(&reason).unwrap_or(FailureReason::Missing),
                        detail: row.get(2)?,
                        output: row.get(3)?,
                    },
                ))
            })
            .map_err(self.error())?;
        rows.collect::<Result<_, _>>().map_err(self.error())
    }

    /// Fingerprints of requests labeled (not reused) by runs in this ledger, as the model
    /// answered them: answers validators rewrote are left to [`Ledger::judge_earlier_answers`].
    pub fn labeled_fingerprints(&self) -> Result<HashSet<u128>, LedgerError> {
        // Only a ledger with earlier runs gets here with work to do; index it for the join then.
        self.connection
            .execute_batch(
                "CREATE INDEX IF NOT EXISTS requests_by_custom_id ON requests(run_id, custom_id)",
            )
            .map_err(self.error())?;
        let mut statement = self
            .connection
            .prepare(
                "SELECT q.fingerprint FROM requests q JOIN results r
                   ON r.run_id = q.run_id AND r.custom_id = q.custom_id
                 WHERE r.state = ?1 AND r.cached_from_run IS NULL
                   AND (r.raw_output IS NULL OR r.scores IS NOT NULL)",
            )
            .map_err(self.error())?;
        let rows = statement
            .query_map([ResultState::Labeled.as_str()], |row| {
                row.get::<_, Vec<u8>>(0)
            })
            .map_err(self.error())?;
        let mut set = HashSet::new();
        for bytes in rows {
            let bytes = bytes.map_err(self.error())?;
            if let Ok(array) = <[u8; 16]>::try_from(bytes.as_slice()) {
                set.insert(u128::from_be_bytes(array));
            }
        }
        Ok(set)
    }

    /// Labeled results of a run that carry scores (their answer before calibration).
    pub fn scored_results(&self, run_id: i64) -> Result<Vec<ScoredResult>, LedgerError> {
        let mut statement = self
            .connection
            .prepare(
                "SELECT custom_id, coalesce(raw_output, output), scores FROM results
                 WHERE run_id = ?1 AND state = ?2 AND scores IS NOT NULL",
            )
            .map_err(self.error())?;
        let rows = statement
            .query_map(params![run_id, ResultState::Labeled.as_str()], |row| {
                Ok(ScoredResult {
                    custom_id: row.get(0)?,
                    raw_output: row.get(1)?,
                    scores: row.get(2)?,
                })
            })
            .map_err(self.error())?;
        rows.collect::<Result<_, _>>().map_err(self.error())
    }

    /// Store calibrated answers (custom_id, raw answer, calibrated answer) in one transaction.
    pub fn store_calibrated<'a>(
        &mut self,
        run_id: i64,
        answers: impl IntoIterator<Item = (&'a str, &'a str, &'a str)>,
    ) -> Result<(), LedgerError> {
        let error = self.error();
        let transaction = self.connection.transaction().map_err(&error)?;
        {
            let mut update = transaction
                .prepare("UPDATE results SET raw_output = ?3, output = ?4 WHERE run_id = ?1 AND custom_id = ?2")
                .map_err(&error)?;
            for (custom_id, raw, calibrated) in answers {
                update
                    .execute(params![run_id, custom_id, raw, calibrated])
                    .map_err(&error)?;
            }
        }
        transaction.commit().map_err(&error)
    }

    /// Every result of a run, streamed to `each` (which may stop it with its own error).
    pub fn for_each_result<E: From<LedgerError>>(
        &self,
        run_id: i64,
        mut each: impl FnMut(ResultRow) -> Result<(), E>,
    ) -> Result<(), E> {
        let mut statement = self
            .connection
            .prepare(
                "SELECT custom_id, state, output, reason, detail, attempt, shard_id, model_snapshot,
                        input_tokens, output_tokens, cost, finished_at, cached_from_run, scores,
                        packed_in
                 FROM results WHERE run_id = ?1",
            )
            .map_err(self.error())?;
        let rows = statement
            .query_map([run_id], result_row)
            .map_err(self.error())?;
        for row in rows {
            each(row.map_err(self.error())?)?;
        }
        Ok(())
    }

    /// Rows by state and reason: each request counts for its own row (unless its id is
    /// hashed, then the row is linked) plus every duplicate row linked to it.
    pub fn row_counts(&self, run_id: i64) -> Result<Vec<RowCountGroup>, LedgerError> {
        let mut statement = self
            .connection
            .prepare(
                "SELECT state, coalesce(reason, ''), count(*) FROM results
                 WHERE run_id = ?1 AND custom_id NOT LIKE 'h-%' GROUP BY 1, 2
                 UNION ALL
                 SELECT r.state, coalesce(r.reason, ''), count(*) FROM request_rows l
                 JOIN results r ON r.run_id = l.run_id AND r.custom_id = l.custom_id
                 WHERE l.run_id = ?1 GROUP BY 1, 2",
            )
            .map_err(self.error())?;
        let groups = statement
            .query_map([run_id], |row| {
                Ok(RowCountGroup {
                    state: crate::runs::state_column(row, 0, ResultState::parse)?,
                    reason: row.get(1)?,
                    rows: row.get::<_, i64>(2)? as u64,
                })
            })
            .map_err(self.error())?;
        groups.collect::<Result<_, _>>().map_err(self.error())
    }

    /// What a run spent: its own results and every failed attempt.
    pub fn usage_totals(&self, run_id: i64) -> Result<UsageTotals, LedgerError> {
        self.connection
            .query_row(
                "SELECT coalesce(sum(i), 0), coalesce(sum(o), 0), coalesce(sum(c), 0) FROM (
                   SELECT input_tokens i, output_tokens o, cost c FROM results WHERE run_id = ?1 AND cached_from_run IS NULL
                   UNION ALL SELECT input_tokens, output_tokens, cost FROM attempts WHERE run_id = ?1)",
                [run_id],
                |row| {
                    Ok(UsageTotals {
                        input_tokens: row.get::<_, i64>(0)? as u64,
                        output_tokens: row.get::<_, i64>(1)? as u64,
                        cost_usd: row.get(2)?,
                    })
                },
            )
            .map_err(self.error())
    }
}
