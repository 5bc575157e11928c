//! The cleanup journal: which result files a shard's batch left at the provider, when its
//! remote files were deleted (or why that failed, to try again later), and the runs whose
//! local files may go. Deleting is the lifecycle's job; this only records it.

use rusqlite::params;

use crate::{Ledger, LedgerError, RunState, ShardState, now};

/// A run as `batchlabel clean` weighs it.
#[derive(Debug, Clone, serde::Serialize)]
pub struct RunAge {
    /// Ledger id.
    pub id: i64,
    /// Where it is.
    pub state: RunState,
    /// Unix seconds it started.
    pub created_at: i64,
    /// Unix seconds it finished, when it did.
    pub finished_at: Option<i64>,
}

impl Ledger {
    /// Record the provider's handles of a shard's result files (added to those already
    /// recorded: a batch refused for a full queue and sent again may leave its own).
    pub fn record_result_files(
        &self,
        shard_id: i64,
        handles: &[String],
    ) -> Result<(), LedgerError> {
        if handles.is_empty() {
            return Ok(());
        }
        let known: Option<String> = self
            .connection
            .query_row(
                "SELECT result_files FROM shards WHERE id = ?1",
                [shard_id],
                |row| row.get(0),
            )
            .map_err(self.error())?;
        let mut all: Vec<String> = known
            .as_deref()
            .unwrap_or_default()
            .lines()
            .map(str::to_string)
            .collect();
        for handle in handles {
            // A handle is one line; one with a line break could not be read back.
            if !handle.contains('\n') && !all.contains(handle) {
                all.push(handle.clone());
            }
        }
        self.update_shard(shard_id, "result_files = ?1", &[&all.join("\n")])
    }

    /// The shard's remote files are deleted (or were already gone).
    pub fn mark_remote_cleaned(&self, shard_id: i64) -> Result<(), LedgerError> {
        self.update_shard(
            shard_id,
            "remote_cleaned_at = ?1, cleanup_note = NULL, cleanup_failed_at = NULL",
            &[&now()],
        )
    }

    /// Deleting the shard's remote files failed: why, and when (it is tried again later).
    pub fn record_cleanup_failure(&self, shard_id: i64, note: &str) -> Result<(), LedgerError> {
        self.update_shard(
            shard_id,
            "cleanup_note = ?1, cleanup_failed_at = ?2",
            &[&note, &now()],
        )
    }

    /// Every run, oldest first, with when it started and finished.
    pub fn run_ages(&self) -> Result<Vec<RunAge>, LedgerError> {
        let mut statement = self
            .connection
            .prepare("SELECT id, state, created_at, finished_at FROM runs ORDER BY id")
            .map_err(self.error())?;
        let rows = statement
            .query_map([], |row| {
                Ok(RunAge {
                    id: row.get(0)?,
                    state: crate::runs::state_column(row, 1, RunState::parse)?,
                    created_at: row.get(2)?,
                    finished_at: row.get(3)?,
                })
            })
            .map_err(self.error())?;
        rows.collect::<Result<_, _>>().map_err(self.error())
    }

    /// Shards of a run whose batch may still run or be downloaded (nothing of such a run may
    /// be dropped).
    pub fn shards_in_flight(&self, run_id: i64) -> Result<i64, LedgerError> {
        self.connection
            .query_row(
                "SELECT count(*) FROM shards WHERE run_id = ?1 AND (state IN (?2, ?3)
                   OR (state = ?4 AND create_intent_at IS NOT NULL))",
                params![
                    run_id,
                    ShardState::Submitted.as_str(),
                    ShardState::Downloaded.as_str(),
                    ShardState::Planned.as_str()
                ],
                |row| row.get(0),
            )
            .map_err(self.error())
    }

    /// Shrink the write-ahead log to nothing (a finished run's ledger is then one file).
    /// Best effort, as [`Ledger::checkpoint`].
    pub fn truncate_log(&self) {
        let _ = self
            .connection
            .query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()));
    }
}

#[cfg(test)]
mod tests {
    use crate::PlannedShard;

    #[test]
    fn result_files_accumulate_and_the_cleanup_is_journaled() {
        let (directory, ledger, run) = crate::ledger_with_run();
        let planned = PlannedShard {
            path: directory.path().join("shard-00001.jsonl"),
            requests: 1,
            bytes: 10,
            id_set_hash: 0,
            estimate: None,
        };
        ledger.add_shard(run.id, (1, 1), &planned).expect("shard");
        let shard = ledger.shards(run.id).expect("shards").remove(0);
        assert!(shard.result_files.is_empty());
        assert_eq!(shard.remote_cleaned_at, None);

        ledger
            .record_result_files(shard.id, &["file-out".into(), "file-err".into()])
            .expect("record");
        ledger
            .record_result_files(shard.id, &["file-out".into(), "file-2".into()])
            .expect("again");
        ledger
            .record_cleanup_failure(shard.id, "HTTP 500")
            .expect("fail");
        let shard = ledger.shards(run.id).expect("shards").remove(0);
        assert_eq!(shard.result_files, ["file-out", "file-err", "file-2"]);
        assert_eq!(shard.cleanup_note.as_deref(), Some("HTTP 500"));
        assert!(shard.cleanup_failed_at.is_some());

        ledger.mark_remote_cleaned(shard.id).expect("cleaned");
        let shard = ledger.shards(run.id).expect("shards").remove(0);
        assert!(shard.remote_cleaned_at.is_some());
        assert_eq!((shard.cleanup_note, shard.cleanup_failed_at), (None, None));

        let ages = ledger.run_ages().expect("ages");
        assert_eq!(ages.len(), 1);
        assert_eq!((ages[0].id, ages[0].finished_at), (run.id, None));
        assert_eq!(ledger.shards_in_flight(run.id).expect("in flight"), 0);
    }
}
