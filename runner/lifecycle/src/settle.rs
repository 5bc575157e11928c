//! Settling batches: poll the submitted ones, download what finished (or fail a failed
//! batch's requests, resubmitting one refused for a full queue), and collect an earlier run's
//! batches still in flight before a new run starts.

use batchlabel_core::{RunState, ShardState};
use std::path::Path;

use batchlabel_providers::{BatchProvider, BatchState, Codec, RemoteBatch};
use batchlabel_spec::Job;
use futures_util::StreamExt;

use crate::LifecycleError;
use crate::driver::{RunObserver, provider_failure};
use crate::ingest::{IngestContext, ingest_downloaded};
use crate::ingest::{ShardIngest, shard_custom_ids};
use crate::record::record_ingest;
use crate::run_choice::in_flight;
use batchlabel_core::{FailureReason, Outcome};
use batchlabel_ledger::{Ledger, RunRecord, ShardRecord};

/// Most submissions of one shard when its batches keep failing on a full queue.
const MAX_SUBMITS: i64 = 10;

/// What settling a run's batches needs besides the provider and the ledger.
#[derive(Clone, Copy)]
pub(crate) struct SettleContext<'a> {
    pub(crate) job: &'a Job,
    pub(crate) run_dir: &'a Path,
    pub(crate) observer: &'a dyn RunObserver,
}

/// Poll the run's submitted batches, record what changed, and download the finished ones.
/// Whether anything changed.
pub(crate) async fn poll_and_settle(
    provider: &dyn BatchProvider,
    ledger: &mut Ledger,
    run: &RunRecord,
    context: &SettleContext<'_>,
) -> Result<bool, LifecycleError> {
    let SettleContext {
        job,
        run_dir,
        observer,
    } = *context;
    let mut changed = false;
    let submitted: Vec<ShardRecord> = ledger
        .shards(run.id)?
        .into_iter()
        .filter(|shard| shard.state == ShardState::Submitted)
        .collect();
    let mut polls = futures_util::stream::iter(submitted.into_iter().map(|shard| async move {
        let batch_id = shard.batch_id.clone().unwrap_or_default();
        let batch = provider.poll(&batch_id).await;
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
                let failure = ShardFailure {
                    reason: FailureReason::BatchFailed,
                    detail: &detail,
                    max_attempts: i64::from(job.limits.max_attempts),
                };
                fail_whole_shard(ledger, run.id, &shard, provider.codec().as_ref(), &failure)?;
                continue;
            }
            Err(error) => return Err(provider_failure(&shard, error)),
        };
        let counts = batch.counts;
        if shard.batch_status.as_deref() != Some(batch.state.as_str())
            || shard.completed != counts.completed as i64
        {
            changed = true;
            ledger.record_poll(
                shard.id,
                batch.state.as_str(),
                (counts.completed, counts.failed),
            )?;
        }
        if batch.state.is_terminal() {
            finished.push((shard, batch));
        }
    }
    drop(polls);
    for (shard, batch) in finished {
        changed = true;
        let finished = Finished {
            run,
            job,
            run_dir,
            shard: &shard,
            batch: &batch,
        };
        settle_finished_batch(provider, ledger, &finished, observer).await?;
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
pub(crate) async fn collect_in_flight(
    provider: &dyn BatchProvider,
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
        let settle = SettleContext {
            job: context.job,
            run_dir: context.run_dir,
            observer,
        };
        let changed = poll_and_settle(provider, ledger, previous, &settle).await?;
        let shards = ledger.shards(previous.id)?;
        let downloaded: Vec<ShardRecord> = shards
            .iter()
            .filter(|shard| shard.state == ShardState::Downloaded)
            .cloned()
            .collect();
        if !downloaded.is_empty() {
            let ingest = IngestContext {
                job: context.job,
                checks: context.validator,
                price: context.price,
                observer,
            };
            ingest_downloaded(ledger, previous, &downloaded, &ingest)?;
            crate::cleanup::clean_remote(provider, ledger, previous.id, &context.cleanup(observer))
                .await?;
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
    let last_try = crate::cleanup::Cleanup {
        last_try: true,
        ..context.cleanup(observer)
    };
    crate::cleanup::clean_remote(provider, ledger, previous.id, &last_try).await?;
    ledger.set_run_state(previous.id, RunState::Superseded)?;
    ledger.checkpoint();
    // Nothing of a superseded run is sent or retried again: its local files can go.
    let freed = crate::disk::drop_run_files(context.run_dir, ledger, previous.id, &[]);
    freed.report(observer, previous.id);
    Ok(true)
}

impl Collect<'_> {
    fn cleanup<'a>(&self, observer: &'a dyn RunObserver) -> crate::cleanup::Cleanup<'a> {
        crate::cleanup::Cleanup {
            enabled: self.job.batching.remote_cleanup,
            last_try: false,
            observer,
        }
    }
}

/// A batch that ended, with where it belongs.
struct Finished<'a> {
    run: &'a RunRecord,
    job: &'a Job,
    run_dir: &'a Path,
    shard: &'a ShardRecord,
    batch: &'a RemoteBatch,
}

/// A finished batch: a failed one fails its shard's requests (or is sent again when the
/// provider's queue was full); any other has its result files downloaded.
async fn settle_finished_batch(
    provider: &dyn BatchProvider,
    ledger: &mut Ledger,
    finished: &Finished<'_>,
    observer: &dyn RunObserver,
) -> Result<(), LifecycleError> {
    let (shard, batch) = (finished.shard, finished.batch);
    // Journaled before anything else, so they are deleted after ingest even by a later
    // process (a failed batch may leave an error file too).
    let handles: Vec<String> = batch.results.iter().map(|(_, id)| id.clone()).collect();
    ledger.record_result_files(shard.id, &handles)?;
    if batch.state == BatchState::Failed {
        let failure = batch.failure.clone().unwrap_or_default();
        let note = failure.note;
        if failure.queue_full && shard.submits < MAX_SUBMITS {
            observer.event(&format!(
                "batch {} of shard {} failed: {note}; it is sent again once the queue has room",
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
        let failure = ShardFailure {
            reason: FailureReason::BatchFailed,
            detail: &detail,
            max_attempts: i64::from(finished.job.limits.max_attempts),
        };
        let codec = provider.codec();
        return fail_whole_shard(ledger, finished.run.id, shard, codec.as_ref(), &failure);
    }
    let downloads = finished.run_dir.join("downloads");
    std::fs::create_dir_all(&downloads).map_err(|source| LifecycleError::io(&downloads, source))?;
    let files = provider
        .fetch_results(batch, &downloads)
        .await
        .map_err(|error| provider_failure(shard, error))?;
    let text =
        |path: Option<std::path::PathBuf>| path.map(|path| path.to_string_lossy().into_owned());
    let (output, errors) = (text(files.output), text(files.errors));
    ledger.mark_downloaded(shard.id, output.as_deref(), errors.as_deref())?;
    Ok(())
}

/// Why every request of a shard failed.
pub(crate) struct ShardFailure<'a> {
    pub(crate) reason: FailureReason,
    pub(crate) detail: &'a str,
    pub(crate) max_attempts: i64,
}

/// Every request of a shard failed the same way (its batch failed, or the run was cancelled
/// before it was sent).
pub(crate) fn fail_whole_shard(
    ledger: &mut Ledger,
    run_id: i64,
    shard: &ShardRecord,
    codec: &dyn Codec,
    failure: &ShardFailure<'_>,
) -> Result<(), LifecycleError> {
    let outcomes = shard_custom_ids(&batchlabel_compile::items_path(&shard.path), codec)?
        .into_iter()
        .map(|custom_id| {
            let outcome = Outcome::failed(failure.reason, failure.detail.to_string());
            (custom_id, outcome)
        })
        .collect();
    let ingest = ShardIngest {
        outcomes,
        unreadable_lines: 0,
        stray_lines: 0,
        packed_in: batchlabel_ledger::PackedIn::new(),
    };
    let recording = crate::record::Recording {
        max_attempts: failure.max_attempts,
        price: None,
    };
    record_ingest(ledger, run_id, shard, &ingest, recording)?;
    Ok(())
}
