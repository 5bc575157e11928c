//! Settling batches: poll the submitted ones, download what finished (or fail a failed
//! batch's requests, resubmitting one refused for a full queue), and collect an earlier run's
//! batches still in flight before a new run starts.

use batchlabel_core::{RunState, ShardState};
use std::path::Path;

use batchlabel_protocol::BatchStatus;
use batchlabel_providers::BatchProvider;
use batchlabel_spec::Job;
use futures_util::StreamExt;

use crate::LifecycleError;
use crate::driver::{RunObserver, ingest_downloaded, provider_failure};
use crate::ingest::{ShardIngest, shard_custom_ids};
use crate::record::record_ingest;
use crate::run_choice::in_flight;
use batchlabel_core::{FailureReason, Outcome};
use batchlabel_ledger::{Ledger, RunRecord, ShardRecord};

/// Most submissions of one shard when its batches keep failing on a full queue.
const MAX_SUBMITS: i64 = 10;

/// Poll the run's submitted batches, record what changed, and download the finished ones.
/// Whether anything changed.
pub(crate) async fn poll_and_settle<P: BatchProvider>(
    provider: &P,
    ledger: &mut Ledger,
    run: &RunRecord,
    job: &Job,
    run_dir: &Path,
    observer: &dyn RunObserver,
) -> Result<bool, LifecycleError> {
    let mut changed = false;
    let submitted: Vec<ShardRecord> = ledger
        .shards(run.id)?
        .into_iter()
        .filter(|shard| shard.state == ShardState::Submitted)
        .collect();
    let mut polls = futures_util::stream::iter(submitted.into_iter().map(|shard| async move {
        let batch_id = shard.batch_id.clone().unwrap_or_default();
        let batch = provider.batch(&batch_id).await;
        (shard, batch)
    }))
    .buffer_unordered(16);
    let mut finished = Vec::new();
    while let Some((shard, batch)) = polls.next().await {
        let batch = match batch {
            Ok(batch) => batch,
            // The provider no longer knows the batch (deleted, another project's key, a local
            // server's state removed): its requests fail as a failed batch's do, so the run
            // moves on instead of asking forever.
            Err(batchlabel_providers::ProviderError::Api { status: 404, .. }) => {
                changed = true;
                let detail = format!(
                    "batch {} no longer exists at the provider",
                    shard.batch_id.as_deref().unwrap_or_default()
                );
                observer.event(&format!("shard {}: {detail}", shard.number));
                let max_attempts = i64::from(job.limits.max_attempts);
                fail_whole_shard(
                    ledger,
                    run.id,
                    &shard,
                    FailureReason::BatchFailed,
                    &detail,
                    max_attempts,
                )?;
                continue;
            }
            Err(error) => return Err(provider_failure(&shard, error)),
        };
        let counts = batch.request_counts.unwrap_or_default();
        if shard.batch_status.as_deref() != Some(batch.status.as_str())
            || shard.completed != counts.completed as i64
        {
            changed = true;
            ledger.record_poll(
                shard.id,
                batch.status.as_str(),
                (counts.completed, counts.failed),
            )?;
        }
        if batch.status.is_terminal() {
            finished.push((shard, batch));
        }
    }
    drop(polls);
    for (shard, batch) in finished {
        changed = true;
        settle_finished_batch(
            provider, ledger, run, job, run_dir, &shard, &batch, observer,
        )
        .await?;
    }
    Ok(changed)
}

/// What collecting an earlier run needs besides the provider and the ledger.
pub(crate) struct Collect<'a> {
    pub(crate) job: &'a Job,
    pub(crate) run_dir: &'a Path,
    pub(crate) validator: &'a crate::OutputChecks,
    pub(crate) price: Option<batchlabel_compile::BatchPrice>,
    pub(crate) poll_interval: std::time::Duration,
    /// Look once instead of waiting for every batch.
    pub(crate) no_wait: bool,
}

/// Wait for an earlier run's batches in flight, download and record their results (so the
/// new run reuses them instead of paying again), and mark it superseded. Nothing new is sent
/// for it and nothing is retried. Whether it is done (with `--no-wait` it looks only once).
pub(crate) async fn collect_in_flight<P: BatchProvider>(
    provider: &P,
    ledger: &mut Ledger,
    previous: &RunRecord,
    context: &Collect<'_>,
    observer: &dyn RunObserver,
) -> Result<bool, LifecycleError> {
    let shards = ledger.shards(previous.id)?;
    let live = shards.iter().filter(|shard| in_flight(shard)).count();
    observer.event(&format!(
        "collecting {live} batch(es) still in flight from run {} first; the new run reuses their results for every request that did not change, instead of paying again",
        previous.id
    ));
    for shard in shards
        .iter()
        .filter(|shard| shard.state == ShardState::Planned)
    {
        crate::submit::adopt_if_created(provider, ledger, &previous.token, shard).await?;
    }
    loop {
        let changed = poll_and_settle(
            provider,
            ledger,
            previous,
            context.job,
            context.run_dir,
            observer,
        )
        .await?;
        let shards = ledger.shards(previous.id)?;
        let downloaded: Vec<ShardRecord> = shards
            .iter()
            .filter(|shard| shard.state == ShardState::Downloaded)
            .cloned()
            .collect();
        if !downloaded.is_empty() {
            ingest_downloaded(
                ledger,
                previous,
                context.job,
                &downloaded,
                context.validator,
                context.price,
                observer,
            )?;
            continue;
        }
        if !shards
            .iter()
            .any(|shard| shard.state == ShardState::Submitted)
        {
            break;
        }
        // `--no-wait`: one look, then the same command collects the rest later.
        if context.no_wait {
            return Ok(false);
        }
        if !changed {
            tokio::time::sleep(context.poll_interval).await;
        }
    }
    // A `batchlabel cancel` during the collection stops here: no new run starts.
    if ledger.run_state(previous.id)? == RunState::Cancelled {
        return Err(LifecycleError::CollectCancelled { run: previous.id });
    }
    ledger.set_run_state(previous.id, RunState::Superseded)?;
    ledger.checkpoint();
    Ok(true)
}

#[expect(
    clippy::too_many_arguments,
    reason = "the loop's context, passed straight through"
)]
async fn settle_finished_batch<P: BatchProvider>(
    provider: &P,
    ledger: &mut Ledger,
    run: &RunRecord,
    job: &Job,
    run_dir: &Path,
    shard: &ShardRecord,
    batch: &batchlabel_protocol::Batch,
    observer: &dyn RunObserver,
) -> Result<(), LifecycleError> {
    if batch.status == BatchStatus::Failed {
        let errors = batch
            .errors
            .as_ref()
            .map(|errors| errors.data.clone())
            .unwrap_or_default();
        let note = errors
            .iter()
            .map(|error| match error.line {
                Some(line) => format!("{} (line {line}): {}", error.code, error.message),
                None => format!("{}: {}", error.code, error.message),
            })
            .collect::<Vec<_>>()
            .join("; ");
        let queue_full = errors
            .iter()
            .any(|error| error.code == "token_limit_exceeded");
        if queue_full && shard.submits < MAX_SUBMITS {
            observer.event(&format!(
                "batch {} of shard {} failed: {note}; submitting it again after a pause",
                batch.id, shard.number
            ));
            ledger.requeue_shard(shard.id, &note)?;
            return Ok(());
        }
        observer.event(&format!(
            "batch {} of shard {} failed: {note}",
            batch.id, shard.number
        ));
        ledger.record_note(shard.id, &note)?;
        let detail = format!("batch {} failed: {note}", batch.id);
        let max_attempts = i64::from(job.limits.max_attempts);
        fail_whole_shard(
            ledger,
            run.id,
            shard,
            FailureReason::BatchFailed,
            &detail,
            max_attempts,
        )?;
        return Ok(());
    }
    let downloads = run_dir.join("downloads");
    std::fs::create_dir_all(&downloads).map_err(|source| LifecycleError::io(&downloads, source))?;
    let mut paths: [Option<String>; 2] = [None, None];
    for (slot, (file_id, kind)) in [
        (&batch.output_file_id, "output"),
        (&batch.error_file_id, "errors"),
    ]
    .into_iter()
    .enumerate()
    {
        if let Some(file_id) = file_id {
            let destination = downloads.join(format!("{}-{kind}.jsonl", batch.id));
            provider
                .download(file_id, &destination)
                .await
                .map_err(|error| provider_failure(shard, error))?;
            paths[slot] = Some(destination.to_string_lossy().into_owned());
        }
    }
    ledger.mark_downloaded(shard.id, paths[0].as_deref(), paths[1].as_deref())?;
    Ok(())
}

/// Every request of a shard failed the same way (its batch failed, or the run was cancelled
/// before it was sent).
pub(crate) fn fail_whole_shard(
    ledger: &mut Ledger,
    run_id: i64,
    shard: &ShardRecord,
    reason: FailureReason,
    detail: &str,
    max_attempts: i64,
) -> Result<(), LifecycleError> {
    let outcomes = shard_custom_ids(Path::new(&shard.path))?
        .into_iter()
        .map(|custom_id| (custom_id, Outcome::failed(reason, detail.to_string())))
        .collect();
    let ingest = ShardIngest {
        outcomes,
        unreadable_lines: 0,
        stray_lines: 0,
    };
    record_ingest(ledger, run_id, shard, &ingest, max_attempts, None)?;
    Ok(())
}
