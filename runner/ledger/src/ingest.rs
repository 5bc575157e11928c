//! Recording one shard's ingest: every answer's result or failed attempt, and the shard's
//! usage, in one transaction.

use batchlabel_core::Outcome;
use rusqlite::{Statement, Transaction, params};

use crate::{Ledger, LedgerError, ResultState, ShardRecord, ShardState, now};

/// Prices tokens in dollars: input (all of it), of which cached, and output.
pub type Pricing<'a> = &'a dyn Fn(u64, u64, u64) -> f64;

/// For requests answered in a packed request: custom_id → `<pack custom_id>#<item>`.
pub type PackedIn = std::collections::HashMap<String, String>;

impl Ledger {
    /// Record one shard's ingest and mark it `ingested`, in one transaction. `cost` prices
    /// tokens at the batch rate; a retryable failure waits for the next attempt unless this
    /// was the last (`max_attempts`).
    pub fn record_ingest(
        &mut self,
        run_id: i64,
        shard: &ShardRecord,
        outcomes: &[(String, Outcome)],
        (max_attempts, cost): (i64, Pricing<'_>),
        packed_in: &PackedIn,
    ) -> Result<(), LedgerError> {
        let error = self.error();
        let transaction = self.connection.transaction().map_err(&error)?;
        {
            // Prepared once for the whole shard: a million rows pay no statement lookups.
            let mut writer = IngestWriter {
                result: transaction.prepare(INSERT_RESULT).map_err(&error)?,
                attempt: transaction.prepare(INSERT_ATTEMPT).map_err(&error)?,
                run_id,
                shard,
                finished_at: now(),
                cost,
                packed_in,
            };
            // In key order, so the B-tree inserts stay local.
            let mut ordered: Vec<&(String, Outcome)> = outcomes.iter().collect();
            ordered.sort_unstable_by(|a, b| a.0.cmp(&b.0));
            for (custom_id, outcome) in ordered {
                writer
                    .outcome(custom_id, outcome, max_attempts)
                    .map_err(&error)?;
            }
        }
        shard_usage(&transaction, shard, outcomes, cost).map_err(&error)?;
        transaction.commit().map_err(&error)
    }
}

struct IngestWriter<'a> {
    result: Statement<'a>,
    attempt: Statement<'a>,
    run_id: i64,
    shard: &'a ShardRecord,
    finished_at: i64,
    cost: Pricing<'a>,
    packed_in: &'a PackedIn,
}

const INSERT_RESULT: &str = "INSERT OR REPLACE INTO results(run_id, custom_id, state, output, reason, detail, attempt, shard_id,
     model_snapshot, input_tokens, output_tokens, cost, finished_at, scores, packed_in, raw_output)
 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16)";

const INSERT_ATTEMPT: &str =
    "INSERT OR REPLACE INTO attempts(run_id, custom_id, attempt, shard_id, reason, detail, output,
     input_tokens, output_tokens, cost)
 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)";

impl IngestWriter<'_> {
    fn outcome(
        &mut self,
        custom_id: &str,
        outcome: &Outcome,
        max_attempts: i64,
    ) -> rusqlite::Result<()> {
        let (shard, run_id, cost) = (self.shard, self.run_id, self.cost);
        let packed_in = self.packed_in.get(custom_id);
        match outcome {
            Outcome::Labeled {
                output,
                answer,
                scores,
                model_snapshot,
                input_tokens,
                cached_input_tokens,
                output_tokens,
            } => {
                self.result.execute(params![
                    run_id,
                    custom_id,
                    ResultState::Labeled.as_str(),
                    output,
                    None::<String>,
                    None::<String>,
                    shard.attempt,
                    shard.id,
                    model_snapshot,
                    *input_tokens as i64,
                    *output_tokens as i64,
                    cost(*input_tokens, *cached_input_tokens, *output_tokens),
                    self.finished_at,
                    scores,
                    packed_in,
                    // A scored answer's raw_output is calibration's: the answer it starts from.
                    answer.as_deref().filter(|_| scores.is_none())
                ])?;
            }
            Outcome::Failed {
                reason,
                detail,
                output,
                retryable,
                input_tokens,
                cached_input_tokens,
                output_tokens,
            } => {
                self.attempt.execute(params![
                    run_id,
                    custom_id,
                    shard.attempt,
                    shard.id,
                    reason.as_str(),
                    detail,
                    output,
                    *input_tokens as i64,
                    *output_tokens as i64,
                    cost(*input_tokens, *cached_input_tokens, *output_tokens)
                ])?;
                // Retryable failures wait for the next attempt; the rest end here.
                if !*retryable || shard.attempt >= max_attempts {
                    self.result.execute(params![
                        run_id,
                        custom_id,
                        ResultState::Failed.as_str(),
                        output,
                        reason.as_str(),
                        detail,
                        shard.attempt,
                        shard.id,
                        None::<String>,
                        0,
                        0,
                        0.0,
                        self.finished_at,
                        None::<String>,
                        packed_in,
                        None::<String>
                    ])?;
                }
            }
        }
        Ok(())
    }
}

/// The provider's own usage replaces the estimate: every line it answered counts, labeled or
/// not.
fn shard_usage(
    transaction: &Transaction<'_>,
    shard: &ShardRecord,
    outcomes: &[(String, Outcome)],
    cost: Pricing<'_>,
) -> rusqlite::Result<()> {
    let (mut input_tokens, mut cached_tokens, mut output_tokens) = (0u64, 0u64, 0u64);
    for (_, outcome) in outcomes {
        let (line_input, line_output) = outcome.tokens();
        input_tokens += line_input;
        cached_tokens += outcome.cached_tokens();
        output_tokens += line_output;
    }
    transaction.execute(
        "UPDATE shards SET state = ?6, updated_at = ?2, actual_input_tokens = ?3,
             actual_output_tokens = ?4, actual_usd = ?5, actual_cached_tokens = ?7 WHERE id = ?1",
        params![
            shard.id,
            now(),
            input_tokens as i64,
            output_tokens as i64,
            cost(input_tokens, cached_tokens, output_tokens),
            ShardState::Ingested.as_str(),
            cached_tokens as i64
        ],
    )?;
    Ok(())
}
