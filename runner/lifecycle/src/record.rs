//! The lifecycle's bulk ledger steps: registering a compile (read from the compile folder's
//! index, row map and failed rows) and recording one shard's ingest. Each is one ledger
//! transaction, so a crash leaves the step undone rather than half done.

use std::io::BufRead;
use std::path::Path;

use batchlabel_compile::CompileReport;
use batchlabel_ledger::{
    CachedReuse, CompileRegistry, CompileTotals, Ledger, PlannedShard, ShardRecord,
};

use crate::LifecycleError;
use crate::ingest::ShardIngest;

/// Record a finished compile of `run_id` and mark the run `running`.
pub(crate) fn register_compile(
    ledger: &mut Ledger,
    run_id: i64,
    compile_dir: &Path,
    report: &CompileReport,
    cost: Option<&batchlabel_compile::CostModel>,
    relabeled: &std::collections::HashMap<u128, batchlabel_ledger::Relabeled>,
) -> Result<(), LifecycleError> {
    let registry = ledger.begin_compile(run_id)?;
    let id_set_hashes = register_requests(&registry, compile_dir)?;
    {
        let mut links = registry.row_links()?;
        for entry in
            batchlabel_compile::row_map_entries(compile_dir).map_err(LifecycleError::Internal)?
        {
            let entry = entry.map_err(LifecycleError::Internal)?;
            links.add(&entry.custom_id, &entry.row_id, &entry.reason)?;
        }
    }
    for (index, shard) in report.shards.iter().enumerate() {
        // A packed shard sends its packed file; its requests are still counted by item.
        let planned = PlannedShard {
            path: compile_dir.join(shard.sent_file()),
            requests: shard.requests,
            bytes: shard.sent_bytes(),
            id_set_hash: id_set_hashes.get(index).copied().unwrap_or_default(),
            estimate: cost.map(|cost| cost.shard_bound(shard)),
        };
        registry.add_shard(index as i64 + 1, &planned)?;
    }
    register_failed_rows(&registry, compile_dir)?;
    let totals = CompileTotals {
        rows: report.rows,
        requests: report.requests,
        duplicate_rows: report.duplicate_rows,
        cached_requests: report.cached_requests,
    };
    let cached = if report.cached_requests > 0 {
        CachedReuse::Some
    } else {
        CachedReuse::None
    };
    if cached == CachedReuse::Some {
        registry.reuse_relabeled(relabeled)?;
    }
    registry.finish(totals, cached)?;
    Ok(())
}

/// Every request of the compile's index; returns each shard's id-set hash.
fn register_requests(
    registry: &CompileRegistry<'_>,
    compile_dir: &Path,
) -> Result<Vec<u64>, LifecycleError> {
    let mut id_set_hashes: Vec<u64> = Vec::new();
    let mut requests = registry.requests()?;
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
                id_set_hashes[shard_number - 1].wrapping_add(batchlabel_ledger::id_hash(custom_id));
        }
        requests.add(custom_id, fingerprint, shard_number as i64)?;
    }
    Ok(id_set_hashes)
}

/// Rows the request plugin failed on: failed for good (never sent), joinable by row id.
fn register_failed_rows(
    registry: &CompileRegistry<'_>,
    compile_dir: &Path,
) -> Result<(), LifecycleError> {
    let mut links = registry.row_links()?;
    for failure in batchlabel_compile::failed_rows(compile_dir).map_err(LifecycleError::Internal)? {
        let failure = failure.map_err(LifecycleError::Internal)?;
        registry.fail_row(&failure.custom_id, &failure.reason, &failure.detail)?;
        if batchlabel_compile::row_id_of(&failure.custom_id).as_deref()
            != Some(failure.row_id.as_str())
        {
            links.add(&failure.custom_id, &failure.row_id, "plugin")?;
        }
    }
    Ok(())
}

/// How an ingest is recorded: failures retried up to `max_attempts`, tokens priced at the
/// batch `price` (0 when unknown).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Recording {
    pub(crate) max_attempts: i64,
    pub(crate) price: Option<batchlabel_compile::BatchPrice>,
}

/// Record one shard's ingest and mark it `ingested`.
pub(crate) fn record_ingest(
    ledger: &mut Ledger,
    run_id: i64,
    shard: &ShardRecord,
    ingest: &ShardIngest,
    recording: Recording,
) -> Result<(), LifecycleError> {
    let price = recording.price;
    let cost = |input: u64, cached: u64, output: u64| {
        price.map_or(0.0, |price| price.cost_with_cache(input, cached, output))
    };
    ledger.record_ingest(
        run_id,
        shard,
        &ingest.outcomes,
        (recording.max_attempts, &cost),
        &ingest.packed_in,
    )?;
    Ok(())
}
