//! Submitting one shard exactly once: upload its file, then create its batch. The intent is
//! journaled before each remote call; after a crash (or a lost answer) the remote object is
//! looked up by its deterministic file name or its batch metadata before anything is sent
//! again, so one shard never becomes two uploads or two batches.

use batchlabel_providers::{BatchProvider, METADATA_RUN, METADATA_SHARD, ProviderError};
use serde_json::{Map, Value};

use crate::ledger::{Ledger, ShardRecord, now};
use crate::{LifecycleError, ProviderFailure};

/// Tries for one upload or create whose answers keep getting lost.
const MAX_AMBIGUOUS: u32 = 5;

/// The file name a shard is uploaded under: unique to the run, attempt and shard.
pub(crate) fn upload_name(token: &str, shard: &ShardRecord) -> String {
    format!(
        "batchlabel-{token}-a{}-{:05}.jsonl",
        shard.attempt, shard.number
    )
}

/// The metadata a shard's batch carries: unique to the run, shard and submission.
pub(crate) fn batch_metadata(token: &str, shard: &ShardRecord) -> Map<String, Value> {
    let mut metadata = Map::new();
    metadata.insert(METADATA_RUN.into(), Value::String(token.into()));
    metadata.insert(
        METADATA_SHARD.into(),
        Value::String(format!(
            "a{}-{:05}-s{}",
            shard.attempt, shard.number, shard.submits
        )),
    );
    metadata
}

fn failure(shard: &ShardRecord, error: ProviderError) -> LifecycleError {
    LifecycleError::Provider(ProviderFailure {
        context: format!("shard {} (attempt {})", shard.number, shard.attempt),
        error,
    })
}

/// Upload (if not yet uploaded) and create the batch (if not yet created).
pub(crate) async fn submit<P: BatchProvider>(
    provider: &P,
    ledger: &Ledger,
    token: &str,
    mut shard: ShardRecord,
) -> Result<(), LifecycleError> {
    let filename = upload_name(token, &shard);
    let local_bytes = shard.bytes as u64;
    if shard.file_id.is_none() {
        if shard.upload_intent_at.is_some() {
            // A previous process may have uploaded it and died before recording.
            if let Some(found) = provider
                .find_upload(&filename)
                .await
                .map_err(|error| failure(&shard, error))?
                .filter(|file| file.bytes == local_bytes)
            {
                shard.file_id = Some(found.id);
            }
        }
        let mut tries = 0;
        while shard.file_id.is_none() {
            ledger.update_shard(shard.id, "upload_intent_at = ?1", &[&now()])?;
            match provider
                .upload(std::path::Path::new(&shard.path), &filename)
                .await
            {
                Ok(file) => shard.file_id = Some(file.id),
                Err(ProviderError::Ambiguous { .. }) if tries < MAX_AMBIGUOUS => {
                    tries += 1;
                    shard.file_id = provider
                        .find_upload(&filename)
                        .await
                        .map_err(|error| failure(&shard, error))?
                        .filter(|file| file.bytes == local_bytes)
                        .map(|file| file.id);
                }
                Err(error) => return Err(failure(&shard, error)),
            }
        }
        ledger.update_shard(shard.id, "file_id = ?1", &[&shard.file_id])?;
    }
    let Some(file_id) = shard.file_id.clone() else {
        return Ok(());
    };
    if shard.batch_id.is_some() {
        return Ok(());
    }
    let metadata = batch_metadata(token, &shard);
    let mut batch_id = None;
    if let Some(since) = shard.create_intent_at
        && let Some(found) = provider
            .find_batch(&metadata, since)
            .await
            .map_err(|error| failure(&shard, error))?
    {
        batch_id = Some(found.id);
    }
    let mut tries = 0;
    while batch_id.is_none() {
        let intent = now();
        ledger.update_shard(shard.id, "create_intent_at = ?1", &[&intent])?;
        match provider.create_batch(&file_id, metadata.clone()).await {
            Ok(batch) => batch_id = Some(batch.id),
            Err(ProviderError::Ambiguous { .. }) if tries < MAX_AMBIGUOUS => {
                tries += 1;
                batch_id = provider
                    .find_batch(&metadata, intent)
                    .await
                    .map_err(|error| failure(&shard, error))?
                    .map(|batch| batch.id);
            }
            Err(error) => return Err(failure(&shard, error)),
        }
    }
    ledger.update_shard(
        shard.id,
        "batch_id = ?1, state = 'submitted', submitted_at = ?2, batch_status = 'validating'",
        &[&batch_id, &now()],
    )?;
    Ok(())
}
