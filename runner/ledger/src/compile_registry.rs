//! Registering a finished compile: its requests with their fingerprints, the rows linked to
//! them, its shards, the rows that failed before sending, and results reused from earlier
//! runs — all in one transaction, so a crash leaves the compile unregistered, not half done.

use rusqlite::params;

use crate::shards::{PlannedShard, insert_shard};
use crate::{Ledger, LedgerError, ResultState, RunState, now};

/// The counts a compile ends with.
#[derive(Debug, Clone, Copy)]
pub struct CompileTotals {
    /// Rows read.
    pub rows: u64,
    /// Requests (rows minus duplicates).
    pub requests: u64,
    /// Rows that repeated an earlier row's request.
    pub duplicate_rows: u64,
    /// Requests served from earlier runs.
    pub cached_requests: u64,
}

/// Whether to look for earlier runs' results of the requests kept out of the shards.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CachedReuse {
    /// The compile found some: copy their results.
    Some,
    /// Nothing to reuse.
    None,
}

/// One compile being registered; nothing is visible until [`CompileRegistry::finish`].
pub struct CompileRegistry<'ledger> {
    pub(crate) transaction: rusqlite::Transaction<'ledger>,
    pub(crate) run_id: i64,
    pub(crate) error: Box<dyn Fn(rusqlite::Error) -> LedgerError>,
}

impl Ledger {
    /// Start registering the compile of `run_id`.
    pub fn begin_compile(&mut self, run_id: i64) -> Result<CompileRegistry<'_>, LedgerError> {
        let error = self.error();
        let transaction = self.connection.transaction().map_err(&error)?;
        Ok(CompileRegistry {
            transaction,
            run_id,
            error: Box::new(error),
        })
    }
}

impl CompileRegistry<'_> {
    /// A writer of requests, its statement prepared once (a compile registers millions).
    pub fn requests(&self) -> Result<RequestWriter<'_>, LedgerError> {
        let statement = self
            .transaction
            .prepare("INSERT INTO requests(run_id, custom_id, fingerprint, shard) VALUES (?1, ?2, ?3, ?4)")
            .map_err(&self.error)?;
        Ok(RequestWriter {
            statement,
            registry: self,
        })
    }

    /// A writer of row links, its statement prepared once.
    pub fn row_links(&self) -> Result<RowLinkWriter<'_>, LedgerError> {
        let statement = self
            .transaction
            .prepare("INSERT INTO request_rows(run_id, custom_id, row_id, reason) VALUES (?1, ?2, ?3, ?4)")
            .map_err(&self.error)?;
        Ok(RowLinkWriter {
            statement,
            registry: self,
        })
    }

    /// A shard of the first attempt, numbered from 1.
    pub fn add_shard(&self, number: i64, planned: &PlannedShard) -> Result<(), LedgerError> {
        insert_shard(&self.transaction, self.run_id, (1, number), planned).map_err(&self.error)
    }

    /// A row that failed before it could be sent (a request plugin rejected it): failed for
    /// good, never sent.
    pub fn fail_row(&self, custom_id: &str, reason: &str, detail: &str) -> Result<(), LedgerError> {
        self.transaction
            .prepare_cached(
                "INSERT OR REPLACE INTO results(run_id, custom_id, state, reason, detail, attempt, finished_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, 1, ?6)",
            )
            .and_then(|mut insert| {
                insert.execute(params![
                    self.run_id,
                    custom_id,
                    ResultState::Failed.as_str(),
                    reason,
                    detail,
                    now()
                ])
            })
            .map_err(&self.error)?;
        Ok(())
    }

    /// Copy earlier runs' labeled results for the requests kept out of the shards.
    fn reuse_cached(&self) -> Result<(), LedgerError> {
        self.transaction
            .execute_batch(
                "CREATE INDEX IF NOT EXISTS requests_by_fingerprint ON requests(fingerprint)",
            )
            .map_err(&self.error)?;
        self.transaction
            .execute(
                "INSERT OR IGNORE INTO results(run_id, custom_id, state, output, attempt, shard_id,
                     model_snapshot, finished_at, cached_from_run, packed_in)
                 SELECT ?1, new.custom_id, ?3, old_result.output, old_result.attempt,
                        old_result.shard_id, old_result.model_snapshot, ?2, old_result.run_id,
                        old_result.packed_in
                 FROM requests new
                 JOIN requests old ON old.fingerprint = new.fingerprint AND old.run_id <> new.run_id
                 JOIN results old_result ON old_result.run_id = old.run_id
                      AND old_result.custom_id = old.custom_id AND old_result.state = ?3
                 WHERE new.run_id = ?1 AND new.shard = 0",
                params![self.run_id, now(), ResultState::Labeled.as_str()],
            )
            .map_err(&self.error)?;
        Ok(())
    }

    /// Reuse cached results, record the counts, mark the run `running`, and commit.
    pub fn finish(self, totals: CompileTotals, cached: CachedReuse) -> Result<(), LedgerError> {
        if cached == CachedReuse::Some {
            self.reuse_cached()?;
        }
        self.transaction
            .execute(
                "UPDATE runs SET state = ?6, rows = ?2, requests = ?3, duplicate_rows = ?4, cached_requests = ?5
                 WHERE id = ?1",
                params![
                    self.run_id,
                    totals.rows as i64,
                    totals.requests as i64,
                    totals.duplicate_rows as i64,
                    totals.cached_requests as i64,
                    RunState::Running.as_str()
                ],
            )
            .map_err(&self.error)?;
        self.transaction.commit().map_err(&self.error)
    }
}

/// Adds requests to a compile being registered.
pub struct RequestWriter<'r> {
    statement: rusqlite::Statement<'r>,
    registry: &'r CompileRegistry<'r>,
}

impl RequestWriter<'_> {
    /// A request: its custom_id, fingerprint and shard number (0 when it was not sent
    /// because an earlier run answered it).
    pub fn add(
        &mut self,
        custom_id: &str,
        fingerprint: u128,
        shard: i64,
    ) -> Result<(), LedgerError> {
        let run_id = self.registry.run_id;
        self.statement
            .execute(params![
                run_id,
                custom_id,
                &fingerprint.to_be_bytes()[..],
                shard
            ])
            .map_err(&self.registry.error)?;
        Ok(())
    }
}

/// Adds row links to a compile being registered.
pub struct RowLinkWriter<'r> {
    statement: rusqlite::Statement<'r>,
    registry: &'r CompileRegistry<'r>,
}

impl RowLinkWriter<'_> {
    /// A row answered by `custom_id` (a duplicate, or a row whose id is hashed), and why.
    pub fn add(&mut self, custom_id: &str, row_id: &str, reason: &str) -> Result<(), LedgerError> {
        let run_id = self.registry.run_id;
        self.statement
            .execute(params![run_id, custom_id, row_id, reason])
            .map_err(&self.registry.error)?;
        Ok(())
    }
}
