//! Ledger writes of the lifecycle's bulk steps: registering a compile (requests, row links,
//! shards and results reused from earlier runs) and recording one shard's ingest. Each is one
//! transaction, so a crash leaves the step undone rather than half done.

use std::io::BufRead;
use std::path::Path;

use batchlabel_compile::CompileReport;
use rusqlite::params;

use crate::LifecycleError;
use crate::ingest::ShardIngest;
use crate::ledger::{Ledger, ShardRecord, now};
use crate::outcome::Outcome;

/// Fingerprints of requests labeled by earlier runs in this ledger.
pub(crate) fn labeled_fingerprints(
    ledger: &Ledger,
) -> Result<std::collections::HashSet<u128>, LifecycleError> {
    // Only a ledger with earlier runs gets here with work to do; index it for the join then.
    ledger
        .connection
        .execute_batch(
            "CREATE INDEX IF NOT EXISTS requests_by_custom_id ON requests(run_id, custom_id)",
        )
        .map_err(ledger.error())?;
    let mut statement = ledger
        .connection
        .prepare(
            "SELECT q.fingerprint FROM requests q JOIN results r
               ON r.run_id = q.run_id AND r.custom_id = q.custom_id
             WHERE r.state = 'labeled' AND r.cached_from_run IS NULL",
        )
        .map_err(ledger.error())?;
    let rows = statement
        .query_map([], |row| row.get::<_, Vec<u8>>(0))
        .map_err(ledger.error())?;
    let mut set = std::collections::HashSet::new();
    for bytes in rows {
        let bytes = bytes.map_err(ledger.error())?;
        if let Ok(array) = <[u8; 16]>::try_from(bytes.as_slice()) {
            set.insert(u128::from_be_bytes(array));
        }
    }
    Ok(set)
}

/// Record a finished compile of `run_id` and mark the run `running`.
pub(crate) fn register_compile(
    ledger: &mut Ledger,
    run_id: i64,
    compile_dir: &Path,
    report: &CompileReport,
    cost: Option<&batchlabel_compile::CostModel>,
) -> Result<(), LifecycleError> {
    let error = ledger.error();
    let transaction = ledger.connection.transaction().map_err(&error)?;
    {
        let mut insert = transaction
            .prepare("INSERT INTO requests(run_id, custom_id, fingerprint, shard) VALUES (?1, ?2, ?3, ?4)")
            .map_err(&error)?;
        let mut id_set_hashes: Vec<u64> = Vec::new();
        let index_path = compile_dir.join(batchlabel_compile::INDEX_FILE);
        let file = std::fs::File::open(&index_path)
            .map_err(|source| LifecycleError::io(&index_path, source))?;
        for line in std::io::BufReader::with_capacity(1 << 20, file)
            .lines()
            .skip(1)
        {
            let line = line.map_err(|source| LifecycleError::io(&index_path, source))?;
            let mut fields = line.split('\t');
            let (Some(shard), Some(custom_id), Some(fingerprint)) =
                (fields.next(), fields.next(), fields.next())
            else {
                continue;
            };
            let fingerprint = u128::from_str_radix(fingerprint, 16).unwrap_or_default();
            let shard_number: usize = shard.parse().unwrap_or_default();
            if shard_number > 0 {
                if id_set_hashes.len() < shard_number {
                    id_set_hashes.resize(shard_number, 0);
                }
                id_set_hashes[shard_number - 1] =
                    id_set_hashes[shard_number - 1].wrapping_add(crate::ledger::id_hash(custom_id));
            }
            insert
                .execute(params![
                    run_id,
                    custom_id,
                    &fingerprint.to_be_bytes()[..],
                    shard.parse::<i64>().unwrap_or_default()
                ])
                .map_err(&error)?;
        }
        {
            let mut insert = transaction
                .prepare("INSERT INTO request_rows(run_id, custom_id, row_id, reason) VALUES (?1, ?2, ?3, ?4)")
                .map_err(&error)?;
            for entry in batchlabel_compile::row_map_entries(compile_dir)
                .map_err(LifecycleError::Internal)?
            {
                let entry = entry.map_err(LifecycleError::Internal)?;
                insert
                    .execute(params![run_id, entry.custom_id, entry.row_id, entry.reason])
                    .map_err(&error)?;
            }
        }
        for (index, shard) in report.shards.iter().enumerate() {
            let planned = crate::ledger::PlannedShard {
                path: compile_dir.join(&shard.file),
                requests: shard.requests,
                bytes: shard.bytes,
                id_set_hash: id_set_hashes.get(index).copied().unwrap_or_default(),
                estimate: cost.map(|cost| cost.bound(shard.requests, shard.input_tokens)),
            };
            crate::ledger::insert_shard(&transaction, run_id, (1, index as i64 + 1), &planned)
                .map_err(&error)?;
        }
        record_failed_rows(&transaction, run_id, compile_dir, &error)?;
        if report.cached_requests > 0 {
            transaction
                .execute_batch(
                    "CREATE INDEX IF NOT EXISTS requests_by_fingerprint ON requests(fingerprint)",
                )
                .map_err(&error)?;
            transaction
                .execute(
                    "INSERT OR IGNORE INTO results(run_id, custom_id, state, output, attempt, shard_id,
                         model_snapshot, finished_at, cached_from_run)
                     SELECT ?1, new.custom_id, 'labeled', old_result.output, old_result.attempt,
                            old_result.shard_id, old_result.model_snapshot, ?2, old_result.run_id
                     FROM requests new
                     JOIN requests old ON old.fingerprint = new.fingerprint AND old.run_id <> new.run_id
                     JOIN results old_result ON old_result.run_id = old.run_id
                          AND old_result.custom_id = old.custom_id AND old_result.state = 'labeled'
                     WHERE new.run_id = ?1 AND new.shard = 0",
                    params![run_id, now()],
                )
                .map_err(&error)?;
        }
        transaction
            .execute(
                "UPDATE runs SET state = 'running', rows = ?2, requests = ?3, duplicate_rows = ?4, cached_requests = ?5
                 WHERE id = ?1",
                params![
                    run_id,
                    report.rows as i64,
                    report.requests as i64,
                    report.duplicate_rows as i64,
                    report.cached_requests as i64
                ],
            )
            .map_err(&error)?;
    }
    transaction.commit().map_err(&error)
}

/// Rows the request plugin failed on: failed for good (never sent), joinable by row id.
fn record_failed_rows(
    transaction: &rusqlite::Transaction<'_>,
    run_id: i64,
    compile_dir: &Path,
    error: &impl Fn(rusqlite::Error) -> LifecycleError,
) -> Result<(), LifecycleError> {
    let mut result = transaction
        .prepare(
            "INSERT OR REPLACE INTO results(run_id, custom_id, state, reason, detail, attempt, finished_at)
             VALUES (?1, ?2, 'failed', ?3, ?4, 1, ?5)",
        )
        .map_err(error)?;
    let mut link = transaction
        .prepare("INSERT INTO request_rows(run_id, custom_id, row_id, reason) VALUES (?1, ?2, ?3, 'plugin')")
        .map_err(error)?;
    for failure in batchlabel_compile::failed_rows(compile_dir).map_err(LifecycleError::Internal)? {
        let failure = failure.map_err(LifecycleError::Internal)?;
        result
            .execute(params![
                run_id,
                failure.custom_id,
                failure.reason,
                failure.detail,
                now()
            ])
            .map_err(error)?;
        if batchlabel_compile::row_id_of(&failure.custom_id).as_deref()
            != Some(failure.row_id.as_str())
        {
            link.execute(params![run_id, failure.custom_id, failure.row_id])
                .map_err(error)?;
        }
    }
    Ok(())
}

/// Record one shard's ingest and mark it `ingested`.
pub(crate) fn record_ingest(
    ledger: &mut Ledger,
    run_id: i64,
    shard: &ShardRecord,
    ingest: &ShardIngest,
    max_attempts: i64,
    price: Option<batchlabel_compile::BatchPrice>,
) -> Result<(), LifecycleError> {
    let error = ledger.error();
    let finished_at = now();
    let transaction = ledger.connection.transaction().map_err(&error)?;
    {
        let mut result = transaction
            .prepare(
                "INSERT OR REPLACE INTO results(run_id, custom_id, state, output, reason, detail, attempt, shard_id,
                     model_snapshot, input_tokens, output_tokens, cost, finished_at, scores)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)",
            )
            .map_err(&error)?;
        let mut attempt = transaction
            .prepare(
                "INSERT OR REPLACE INTO attempts(run_id, custom_id, attempt, shard_id, reason, detail, output,
                     input_tokens, output_tokens, cost)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
            )
            .map_err(&error)?;
        let cost = |input: u64, output: u64| price.map_or(0.0, |price| price.cost(input, output));
        // In key order, so the B-tree inserts stay local.
        let mut ordered: Vec<&(String, Outcome)> = ingest.outcomes.iter().collect();
        ordered.sort_unstable_by(|a, b| a.0.cmp(&b.0));
        for (custom_id, outcome) in ordered {
            match outcome {
                Outcome::Labeled {
                    output,
                    scores,
                    model_snapshot,
                    input_tokens,
                    output_tokens,
                } => {
                    result
                        .execute(params![
                            run_id,
                            custom_id,
                            "labeled",
                            output,
                            None::<String>,
                            None::<String>,
                            shard.attempt,
                            shard.id,
                            model_snapshot,
                            *input_tokens as i64,
                            *output_tokens as i64,
                            cost(*input_tokens, *output_tokens),
                            finished_at,
                            scores
                        ])
                        .map_err(&error)?;
                }
                Outcome::Failed {
                    reason,
                    detail,
                    output,
                    retryable,
                    input_tokens,
                    output_tokens,
                } => {
                    attempt
                        .execute(params![
                            run_id,
                            custom_id,
                            shard.attempt,
                            shard.id,
                            reason.as_str(),
                            detail,
                            output,
                            *input_tokens as i64,
                            *output_tokens as i64,
                            cost(*input_tokens, *output_tokens)
                        ])
                        .map_err(&error)?;
                    // Retryable failures wait for the next attempt; the rest end here.
                    if !*retryable || shard.attempt >= max_attempts {
                        result
                            .execute(params![
                                run_id,
                                custom_id,
                                "failed",
                                output,
                                reason.as_str(),
                                detail,
                                shard.attempt,
                                shard.id,
                                None::<String>,
                                0,
                                0,
                                0.0,
                                finished_at,
                                None::<String>
                            ])
                            .map_err(&error)?;
                    }
                }
            }
        }
        // The provider's own usage replaces the estimate: every line it answered counts,
        // labeled or not.
        let (input_tokens, output_tokens) =
            ingest
                .outcomes
                .iter()
                .fold((0u64, 0u64), |(input, output), (_, outcome)| {
                    let (line_input, line_output) = outcome.tokens();
                    (input + line_input, output + line_output)
                });
        transaction
            .execute(
                "UPDATE shards SET state = 'ingested', updated_at = ?2, actual_input_tokens = ?3,
                     actual_output_tokens = ?4, actual_usd = ?5 WHERE id = ?1",
                params![
                    shard.id,
                    finished_at,
                    input_tokens as i64,
                    output_tokens as i64,
                    cost(input_tokens, output_tokens)
                ],
            )
            .map_err(&error)?;
    }
    transaction.commit().map_err(&error)
}

/// End every request that failed and has no result yet as failed (a cancelled run is not
/// retried): the latest attempt's reason is its reason.
pub(crate) fn finalize_pending(ledger: &Ledger, run_id: i64) -> Result<u64, LifecycleError> {
    let changed = ledger
        .connection
        .execute(
            "INSERT OR IGNORE INTO results(run_id, custom_id, state, output, reason, detail, attempt, shard_id, finished_at)
             SELECT a.run_id, a.custom_id, 'failed', a.output, a.reason, a.detail, a.attempt, a.shard_id, ?2
             FROM attempts a
             WHERE a.run_id = ?1
               AND a.attempt = (SELECT max(attempt) FROM attempts b WHERE b.run_id = a.run_id AND b.custom_id = a.custom_id)
               AND NOT EXISTS (SELECT 1 FROM results r WHERE r.run_id = a.run_id AND r.custom_id = a.custom_id)",
            params![run_id, now()],
        )
        .map_err(ledger.error())?;
    Ok(changed as u64)
}
