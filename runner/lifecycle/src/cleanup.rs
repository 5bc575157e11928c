//! Remote cleanup: once a shard's results are in the ledger (it is ingested), its uploaded
//! input and its batch's result files are deleted at the provider, so a run does not leave
//! its requests and answers stored in the account (`batch.remote_cleanup`, on by default).
//!
//! Each shard's deletion is journaled (`remote_cleaned_at`); a file already gone counts as
//! deleted, so doing it again is harmless. A deletion that fails never fails the run: it is
//! recorded on the shard, shown once, and tried again on a later turn (at most once a minute,
//! and once more before the run finishes) or by the next `batchlabel run` of the spec.

use batchlabel_core::ShardState;
use batchlabel_ledger::{Ledger, ShardRecord};
use batchlabel_providers::{BatchProvider, ProviderError};
use futures_util::StreamExt;

use crate::LifecycleError;
use crate::driver::{RunObserver, Runner};

/// Shards whose files are deleted at the same time: a few calls each, kept off the way of
/// polling.
const CONCURRENCY: usize = 8;

/// A shard whose deletion failed waits this long before it is tried again on a turn.
const RETRY_AFTER_SECONDS: i64 = 60;

/// How to clean.
pub(crate) struct Cleanup<'a> {
    /// `batch.remote_cleanup`: when off, nothing is deleted.
    pub(crate) enabled: bool,
    /// The last try before the run ends: shards that failed lately are tried again now.
    pub(crate) last_try: bool,
    pub(crate) observer: &'a dyn RunObserver,
}

/// What a cleanup pass did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Cleaned {
    /// Shards whose remote files are now deleted.
    pub(crate) cleaned: usize,
    /// Shards whose deletion failed in this pass (their files are still there).
    pub(crate) failed: usize,
}

/// Whether `shard` has remote files to delete now.
fn due(shard: &ShardRecord, last_try: bool, now: i64) -> bool {
    shard.state == ShardState::Ingested
        && shard.remote_cleaned_at.is_none()
        && (shard.file_id.is_some() || !shard.result_files.is_empty())
        && (last_try
            || shard
                .cleanup_failed_at
                .is_none_or(|failed| now - failed >= RETRY_AFTER_SECONDS))
}

/// Delete a shard's input, then its result files (each one already gone counts as deleted).
async fn delete_remote(
    provider: &dyn BatchProvider,
    shard: &ShardRecord,
) -> Result<(), ProviderError> {
    if let Some(input) = &shard.file_id {
        provider.delete_input(input).await?;
    }
    if !shard.result_files.is_empty() {
        provider.delete_results(&shard.result_files).await?;
    }
    Ok(())
}

/// Delete the remote files of `run_id`'s ingested shards that still have them, and journal
/// each outcome. Only ledger errors are errors: a failed deletion is recorded and shown.
pub(crate) async fn clean_remote(
    provider: &dyn BatchProvider,
    ledger: &Ledger,
    run_id: i64,
    how: &Cleanup<'_>,
) -> Result<Cleaned, LifecycleError> {
    let mut done = Cleaned::default();
    if !how.enabled {
        return Ok(done);
    }
    let now = batchlabel_core::now();
    let due: Vec<ShardRecord> = ledger
        .shards(run_id)?
        .into_iter()
        .filter(|shard| due(shard, how.last_try, now))
        .collect();
    let mut deletions = futures_util::stream::iter(due.into_iter().map(|shard| async move {
        let outcome = delete_remote(provider, &shard).await;
        (shard, outcome)
    }))
    .buffer_unordered(CONCURRENCY);
    while let Some((shard, outcome)) = deletions.next().await {
        match outcome {
            Ok(()) => {
                ledger.mark_remote_cleaned(shard.id)?;
                done.cleaned += 1;
            }
            Err(error) => {
                let note = error.to_string();
                // Shown when it first fails (or fails differently), not on every try.
                if shard.cleanup_note.as_deref() != Some(note.as_str()) {
                    how.observer.event(&format!(
                        "shard {} (attempt {}): could not delete its files at the provider (tried again later; the run goes on): {note}",
                        shard.number, shard.attempt
                    ));
                }
                ledger.record_cleanup_failure(shard.id, &note)?;
                done.failed += 1;
            }
        }
    }
    Ok(done)
}

impl Runner<'_> {
    /// Clean up the remote files of the shards ingested so far; on the last try, say what is
    /// still stored at the provider.
    pub(crate) async fn clean_up(&mut self, last_try: bool) -> Result<(), LifecycleError> {
        let how = Cleanup {
            enabled: self.job.batching.remote_cleanup,
            last_try,
            observer: self.observer,
        };
        let done = clean_remote(self.provider, &self.ledger, self.run.id, &how).await?;
        if last_try && done.failed > 0 {
            self.observer.event(&format!(
                "the files of {} shard(s) are still stored at the provider (deleting them failed, see above); running the same command again tries again",
                done.failed
            ));
        }
        Ok(())
    }
}
