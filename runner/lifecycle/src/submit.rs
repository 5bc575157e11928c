//! Submitting one shard exactly once: upload its file, then create its batch. The intent is
//! journaled before each remote call; after a crash (or a lost answer) the remote object is
//! looked up by its deterministic file name or its batch metadata (or, for a provider without
//! metadata, by what it can see: see `BatchProvider::find_created`) before anything is sent
//! again, so one shard never becomes two uploads or two batches. A run that took over the
//! batches of a lost ledger looks before every send.

use batchlabel_providers::{
    BatchProvider, Found, LostCreate, METADATA_CONTENT, METADATA_JOB, METADATA_RUN, METADATA_SHARD,
    METADATA_SPEC, ProviderError, StagedInput, Tags,
};

use crate::{LifecycleError, ProviderFailure};
use batchlabel_ledger::{Ledger, RemoteSubmission, RunRecord, ShardRecord};

/// Tries for one upload or create whose answers keep getting lost.
const MAX_AMBIGUOUS: u32 = 5;

/// What names a run's remote files and batches.
#[derive(Debug, Clone)]
pub(crate) struct RemoteRun {
    /// The run token in file names and metadata.
    pub(crate) token: String,
    /// The job name and spec fingerprint every batch also carries (see [`METADATA_JOB`]).
    pub(crate) tags: Tags,
    /// A lost run whose batches this run takes over: its token, and when its first batch
    /// was created.
    pub(crate) adopt: Option<(String, i64)>,
}

impl RemoteRun {
    pub(crate) fn new(run: &RunRecord, job: &batchlabel_spec::Job) -> Self {
        Self {
            token: run.token.clone(),
            tags: job_tags(job),
            adopt: run.adopt_token.clone().zip(run.adopt_since),
        }
    }
}

/// The metadata that finds a job's batches whatever run (or ledger) sent them.
pub(crate) fn job_tags(job: &batchlabel_spec::Job) -> Tags {
    let mut tags = Tags::new();
    tags.insert(METADATA_JOB.into(), job.name.clone());
    tags.insert(METADATA_SPEC.into(), spec_tag(job));
    tags
}

/// The spec's value of [`METADATA_SPEC`]: the first 16 hex digits of its fingerprint.
pub(crate) fn spec_tag(job: &batchlabel_spec::Job) -> String {
    job.fingerprint.chars().take(16).collect()
}

/// The file name a shard is uploaded under: unique to the run, attempt and shard.
pub(crate) fn upload_name(token: &str, shard: &ShardRecord) -> String {
    format!(
        "batchlabel-{token}-a{}-{:05}.jsonl",
        shard.attempt, shard.number
    )
}

/// The metadata that identifies a shard's batch: unique to the run, shard and submission.
/// Lookups match on these keys only, so batches sent by earlier versions are still found.
pub(crate) fn batch_metadata(token: &str, shard: &ShardRecord) -> Tags {
    let mut metadata = Tags::new();
    metadata.insert(METADATA_RUN.into(), token.into());
    metadata.insert(
        METADATA_SHARD.into(),
        format!("a{}-{:05}-s{}", shard.attempt, shard.number, shard.submits),
    );
    metadata
}

fn failure(shard: &ShardRecord, error: ProviderError) -> LifecycleError {
    LifecycleError::Provider(ProviderFailure {
        context: format!("shard {} (attempt {})", shard.number, shard.attempt),
        error,
    })
}

/// What submitting a shard came to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Sent {
    /// Its batch exists.
    Created,
    /// It waits for a later turn.
    Later,
    /// The provider refused it for a full queue: it waits for batches to end (see
    /// `admission.rs`).
    QueueFull,
}

/// Upload (if not yet uploaded) and create the batch (if not yet created).
pub(crate) async fn submit(
    provider: &dyn BatchProvider,
    ledger: &Ledger,
    remote: &RemoteRun,
    mut shard: ShardRecord,
) -> Result<Sent, LifecycleError> {
    let content = content_tag(&shard)?;
    if adopt_sent_batch(provider, ledger, remote, &shard, &content).await? {
        return Ok(Sent::Created);
    }
    if shard.file_id.is_none() {
        shard.file_id = Some(upload(provider, ledger, remote, &shard).await?);
        if let Some(file_id) = &shard.file_id {
            ledger.mark_uploaded(shard.id, file_id)?;
        }
    }
    let Some(file_id) = shard.file_id.clone() else {
        return Ok(Sent::Later);
    };
    if shard.batch_id.is_some() {
        return Ok(Sent::Created);
    }
    let metadata = batch_metadata(&remote.token, &shard);
    let input = StagedInput {
        id: file_id.clone(),
        bytes: None,
    };
    let mut batch_id = None;
    if let Some(since) = shard.create_intent_at {
        match find_created(provider, ledger, &shard, &metadata, &input, since).await? {
            Lookup::Found(id) => batch_id = Some(id),
            Lookup::Nothing => {}
            Lookup::Wait => return Ok(Sent::Later),
        }
    }
    let mut created_with = metadata.clone();
    created_with.extend(remote.tags.clone());
    created_with.insert(METADATA_CONTENT.into(), content);
    let mut tries = 0;
    while batch_id.is_none() {
        let intent = ledger.mark_create_intent(shard.id)?;
        match provider.create(&input, &created_with).await {
            Ok(batch) => batch_id = Some(batch.id),
            Err(ProviderError::Ambiguous { message, .. }) => {
                match find_created(provider, ledger, &shard, &metadata, &input, intent).await? {
                    Lookup::Found(id) => batch_id = Some(id),
                    Lookup::Wait => return Ok(Sent::Later),
                    Lookup::Nothing if tries < MAX_AMBIGUOUS => {
                        // Not made: try again after a pause (the provider may be struggling).
                        tries += 1;
                        let pause = std::time::Duration::from_millis(250 << tries.min(5));
                        tokio::time::sleep(pause).await;
                    }
                    Lookup::Nothing => {
                        // Answers keep getting lost: a later turn tries again (looking first).
                        ledger.record_note(shard.id, &format!("create not answered: {message}"))?;
                        return Ok(Sent::Later);
                    }
                }
            }
            Err(ProviderError::QueueFull { message, .. }) => {
                // Nothing was made: the shard waits for a later turn, as a batch refused for
                // a full queue does, with nothing to look for.
                ledger.clear_create_intent(shard.id)?;
                ledger.record_note(shard.id, &format!("queue full: {message}"))?;
                return Ok(Sent::QueueFull);
            }
            Err(error) => return Err(failure(&shard, error)),
        }
    }
    if let Some(batch_id) = &batch_id {
        ledger.mark_submitted(
            shard.id,
            RemoteSubmission {
                file_id: None,
                batch_id,
                status: "validating",
            },
        )?;
    }
    Ok(Sent::Created)
}

/// The shard's uploaded file id: found at the provider when an earlier process (or a lost
/// ledger's run) may have uploaded it, else uploaded now.
async fn upload(
    provider: &dyn BatchProvider,
    ledger: &Ledger,
    remote: &RemoteRun,
    shard: &ShardRecord,
) -> Result<String, LifecycleError> {
    let filename = upload_name(&remote.token, shard);
    let local_bytes = shard.bytes as u64;
    let find = || async {
        provider
            .find_staged_input(&filename)
            .await
            .map_err(|error| failure(shard, error))
            .map(|found| {
                found
                    .filter(|input| input.bytes.is_none_or(|bytes| bytes == local_bytes))
                    .map(|input| input.id)
            })
    };
    if shard.upload_intent_at.is_some()
        && let Some(found) = find().await?
    {
        return Ok(found);
    }
    let mut tries = 0;
    loop {
        ledger.mark_upload_intent(shard.id)?;
        match provider
            .stage_input(std::path::Path::new(&shard.path), &filename)
            .await
        {
            Ok(input) => return Ok(input.id),
            Err(ProviderError::Ambiguous { .. }) if tries < MAX_AMBIGUOUS => {
                tries += 1;
                if let Some(found) = find().await? {
                    return Ok(found);
                }
            }
            Err(error) => return Err(failure(shard, error)),
        }
    }
}

/// The xxh3-64 (hex) of a shard's file.
fn content_tag(shard: &ShardRecord) -> Result<String, LifecycleError> {
    let path = std::path::Path::new(&shard.path);
    let mut file = std::fs::File::open(path).map_err(|source| LifecycleError::io(path, source))?;
    let mut hasher = xxhash_rust::xxh3::Xxh3::new();
    let mut buffer = vec![0; 1 << 20];
    loop {
        let read = std::io::Read::read(&mut file, &mut buffer)
            .map_err(|source| LifecycleError::io(path, source))?;
        if read == 0 {
            return Ok(format!("{:016x}", hasher.digest()));
        }
        hasher.update(&buffer[..read]);
    }
}

/// In a run that took over a lost ledger's batches, a shard not yet sent by this ledger takes
/// the batch that run sent for exactly its file (same shard name and content hash), if any.
async fn adopt_sent_batch(
    provider: &dyn BatchProvider,
    ledger: &Ledger,
    remote: &RemoteRun,
    shard: &ShardRecord,
    content: &str,
) -> Result<bool, LifecycleError> {
    let Some((token, since)) = &remote.adopt else {
        return Ok(false);
    };
    if shard.batch_id.is_some() || shard.create_intent_at.is_some() {
        return Ok(false);
    }
    let mut metadata = batch_metadata(token, shard);
    metadata.insert(METADATA_CONTENT.into(), content.to_string());
    let Some(batch) = provider
        .find_batches(&metadata, *since)
        .await
        .map_err(|error| failure(shard, error))?
        .into_iter()
        .next()
    else {
        return Ok(false);
    };
    ledger.mark_submitted(
        shard.id,
        RemoteSubmission {
            file_id: batch.input_id.as_deref(),
            batch_id: &batch.id,
            status: batch.state.as_str(),
        },
    )?;
    Ok(true)
}

/// The batch a create of this shard, whose answer was lost, made since `since`: the
/// provider looks (by metadata over the same file, or by what it can see), never taking a
/// batch already recorded for another shard; several candidates stop the run.
async fn find_created(
    provider: &dyn BatchProvider,
    ledger: &Ledger,
    shard: &ShardRecord,
    metadata: &Tags,
    input: &StagedInput,
    since: i64,
) -> Result<Lookup, LifecycleError> {
    lost_create(provider, ledger, shard, metadata, input, since)
        .await
        .map_err(|error| failure(shard, error))?
}

/// What looking for a lost create decided.
enum Lookup {
    /// The batch it made.
    Found(String),
    /// It made none: create.
    Nothing,
    /// Batches still running could be it: send nothing now, look again on a later turn.
    Wait,
}

/// The requests a shard's batch holds: its lines when packed (packs are fewer than items).
fn sent_requests(
    shard: &ShardRecord,
    codec: &dyn batchlabel_providers::Codec,
) -> Result<u64, LifecycleError> {
    let path = std::path::Path::new(&shard.path);
    if batchlabel_compile::items_path(&shard.path) == path {
        return Ok(u64::try_from(shard.requests).unwrap_or(0));
    }
    // Streamed, line by line, as ingest reads shards.
    Ok(crate::ingest::shard_custom_ids(path, codec)?.len() as u64)
}

/// [`find_created`]'s look: the outer error is the provider's, the inner one a decision.
async fn lost_create(
    provider: &dyn BatchProvider,
    ledger: &Ledger,
    shard: &ShardRecord,
    metadata: &Tags,
    input: &StagedInput,
    since: i64,
) -> Result<Result<Lookup, LifecycleError>, ProviderError> {
    let known = match ledger.batch_ids() {
        Ok(ids) => ids
            .into_iter()
            .filter(|(shard_id, _)| *shard_id != shard.id)
            .map(|(_, batch_id)| batch_id)
            .collect(),
        Err(error) => return Ok(Err(error.into())),
    };
    let requests = match sent_requests(shard, provider.codec().as_ref()) {
        Ok(requests) => requests,
        Err(error) => return Ok(Err(error)),
    };
    let lost = LostCreate {
        tags: metadata,
        input,
        since,
        shard: std::path::Path::new(&shard.path),
        requests,
        known: &known,
    };
    Ok(match provider.find_created(&lost).await? {
        Found::Nothing => Ok(Lookup::Nothing),
        Found::Batch(batch) => Ok(Lookup::Found(batch.id)),
        Found::Waiting(_) => Ok(Lookup::Wait),
        Found::Several(batches) => Err(LifecycleError::UnresolvedCreate {
            shard: shard.number,
            count: batches.len(),
            candidates: batches
                .iter()
                .map(|batch| {
                    format!(
                        "{} ({} requests, {})",
                        batch.id,
                        batch.counts.total,
                        batch.state.as_str()
                    )
                })
                .collect::<Vec<_>>()
                .join(", "),
            provider: provider.describe(),
        }),
    })
}

/// In a run being collected (a new run supersedes it), a shard whose create may have taken
/// effect before a crash: its batch, if it exists, is recorded so its results are collected.
pub(crate) async fn adopt_if_created(
    provider: &dyn BatchProvider,
    ledger: &Ledger,
    token: &str,
    shard: &ShardRecord,
) -> Result<bool, LifecycleError> {
    let (Some(since), Some(file_id)) = (shard.create_intent_at, &shard.file_id) else {
        return Ok(false);
    };
    let metadata = batch_metadata(token, shard);
    let input = StagedInput {
        id: file_id.clone(),
        bytes: None,
    };
    let mut pause = std::time::Duration::from_secs(5);
    let batch_id = loop {
        match lost_create(provider, ledger, shard, &metadata, &input, since).await {
            Ok(found) => match found? {
                Lookup::Found(id) => break id,
                Lookup::Nothing => return Ok(false),
                // Only the running candidates' results can tell: wait for them to end.
                Lookup::Wait => {
                    tokio::time::sleep(pause).await;
                    pause = (pause * 2).min(std::time::Duration::from_mins(1));
                }
            },
            // A server that cannot list batches cannot have it found; it stays unsent.
            Err(ProviderError::Api {
                status: 404 | 405 | 501,
                ..
            }) => return Ok(false),
            Err(error) => return Err(failure(shard, error)),
        }
    };
    ledger.mark_submitted(
        shard.id,
        RemoteSubmission {
            file_id: None,
            batch_id: &batch_id,
            status: "validating",
        },
    )?;
    Ok(true)
}
