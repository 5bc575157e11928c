//! Ingest: join a shard's result lines on custom_id (read by the provider's codec), judge
//! each answer — refusal, truncation, invalid JSON, the label schema, validator plugins — and
//! classify every failure. Requests of the shard found in no result file are failures too.
//! Parsing runs on many shards at once; the ledger write of one shard is one transaction, so
//! a crash mid-ingest leaves the shard to be ingested again from its downloaded files.

use std::collections::HashSet;
use std::io::BufRead;
use std::path::{Path, PathBuf};

use batchlabel_core::{FailureReason, Outcome};
use batchlabel_providers::Codec;

use batchlabel_ledger::{Ledger, RunRecord, ShardRecord};
use batchlabel_spec::Job;

use crate::driver::RunObserver;
use crate::record::{Recording, record_ingest};
use crate::{LifecycleError, OutputChecks};

/// What one shard's files said.
pub(crate) struct ShardIngest {
    pub(crate) outcomes: Vec<(String, Outcome)>,
    /// Lines that could not be read at all (their requests count as missing).
    pub(crate) unreadable_lines: u64,
    /// Lines naming a custom_id that is not in the shard, or naming one twice.
    pub(crate) stray_lines: u64,
    /// Requests answered in a pack: which pack and item.
    pub(crate) packed_in: batchlabel_ledger::PackedIn,
}

/// Call `each` with every line of `path` (newline included), reading in 1 MiB blocks.
fn for_each_line(
    path: &Path,
    mut each: impl FnMut(&[u8]) -> Result<(), LifecycleError>,
) -> Result<(), LifecycleError> {
    let file = std::fs::File::open(path).map_err(|source| LifecycleError::io(path, source))?;
    let mut reader = std::io::BufReader::with_capacity(1 << 20, file);
    let mut line = Vec::new();
    loop {
        line.clear();
        let read = reader
            .read_until(b'\n', &mut line)
            .map_err(|source| LifecycleError::io(path, source))?;
        if read == 0 {
            return Ok(());
        }
        each(&line)?;
    }
}

/// The custom_ids of a shard input file, in order.
pub(crate) fn shard_custom_ids(
    path: &Path,
    codec: &dyn Codec,
) -> Result<Vec<String>, LifecycleError> {
    let mut ids = Vec::new();
    for_each_line(path, |line| {
        let id = codec.request_custom_id(line).ok_or_else(|| {
            LifecycleError::Internal(format!("{}: unreadable shard line", path.display()))
        })?;
        ids.push(id);
        Ok(())
    })?;
    Ok(ids)
}

/// The shard being ingested: its ledger path, its request count and id-set hash (over its
/// items when packed), and the job's label fields for splitting packed answers.
pub(crate) struct ShardToIngest<'a> {
    pub(crate) path: &'a str,
    pub(crate) expected: (u64, u64),
    pub(crate) fields: &'a [batchlabel_protocol::pack::PackField<'a>],
}

/// Read a shard's downloaded result files and classify every request in it (every item of
/// a pack on its own). When the files name exactly the expected ids, the shard file need not
/// be read again; otherwise it is, to name the missing.
pub(crate) fn ingest_shard(
    shard: &ShardToIngest<'_>,
    files: &[&Path],
    checks: &OutputChecks,
) -> Result<ShardIngest, LifecycleError> {
    let expected = shard.expected;
    let packs = batchlabel_compile::Packs::of_shard(shard.path)?;
    let mut ingest = ShardIngest {
        outcomes: Vec::with_capacity(expected.0 as usize),
        unreadable_lines: 0,
        stray_lines: 0,
        packed_in: batchlabel_ledger::PackedIn::new(),
    };
    let mut seen: HashSet<u64> = HashSet::with_capacity(expected.0 as usize);
    let mut seen_hash = 0u64;
    for path in files {
        for_each_line(path, |line| {
            if line.iter().all(u8::is_ascii_whitespace) {
                return Ok(());
            }
            let Some(parsed) = checks.codec.decode_result_line(line) else {
                ingest.unreadable_lines += 1;
                return Ok(());
            };
            let items = packs
                .as_ref()
                .and_then(|packs| packs.items(&parsed.custom_id));
            for (index, item) in items.into_iter().flatten().enumerate() {
                let pack = format!("{}#{}", parsed.custom_id, index + 1);
                ingest.packed_in.insert(item.clone(), pack);
            }
            let outcomes = crate::unpack::judge_line(
                parsed.custom_id,
                items,
                parsed.result,
                shard.fields,
                checks,
            );
            for (custom_id, outcome) in outcomes {
                let hash = batchlabel_ledger::id_hash(&custom_id);
                if !seen.insert(hash) {
                    ingest.stray_lines += 1;
                    continue;
                }
                seen_hash = seen_hash.wrapping_add(hash);
                ingest.outcomes.push((custom_id, outcome));
            }
            Ok(())
        })?;
    }
    if seen.len() as u64 == expected.0 && seen_hash == expected.1 {
        return Ok(ingest);
    }
    // Something is missing (or stray): settle it against the shard's items.
    let items_path = batchlabel_compile::items_path(shard.path);
    let expected_ids = shard_custom_ids(&items_path, checks.codec.as_ref())?;
    let wanted: HashSet<&str> = expected_ids.iter().map(String::as_str).collect();
    let before = ingest.outcomes.len();
    ingest
        .outcomes
        .retain(|(custom_id, _)| wanted.contains(custom_id.as_str()));
    ingest.stray_lines += (before - ingest.outcomes.len()) as u64;
    let found: HashSet<&str> = ingest.outcomes.iter().map(|(id, _)| id.as_str()).collect();
    let missing: Vec<String> = expected_ids
        .iter()
        .filter(|id| !found.contains(id.as_str()))
        .cloned()
        .collect();
    // An unreadable line may have been one of them: say so rather than "not there".
    let detail = match ingest.unreadable_lines {
        0 => "the request is in neither the output nor the error file".to_string(),
        lines => format!(
            "no readable answer for the request in the result files ({lines} line(s) of them could not be read)"
        ),
    };
    for custom_id in missing {
        let outcome = Outcome::failed(FailureReason::Missing, detail.clone());
        ingest.outcomes.push((custom_id, outcome));
    }
    Ok(ingest)
}

/// What ingesting a run's downloaded shards needs besides the ledger.
pub(crate) struct IngestContext<'a> {
    pub(crate) job: &'a Job,
    pub(crate) checks: &'a OutputChecks,
    pub(crate) price: Option<batchlabel_compile::BatchPrice>,
    pub(crate) observer: &'a dyn RunObserver,
}

/// Ingest downloaded shards of `run`: parsed on worker threads, each recorded in one ledger
/// transaction.
pub(crate) fn ingest_downloaded(
    ledger: &mut Ledger,
    run: &RunRecord,
    shards: &[ShardRecord],
    context: &IngestContext<'_>,
) -> Result<(), LifecycleError> {
    let IngestContext {
        job,
        checks: validator,
        price,
        observer,
    } = *context;
    // Workers parse shards while this thread records finished ones in the ledger; the
    // bounded channel keeps at most a few parsed shards in memory.
    let fields = batchlabel_compile::pack_fields(job);
    let threads = std::thread::available_parallelism().map_or(2, std::num::NonZero::get);
    let next = std::sync::atomic::AtomicUsize::new(0);
    let (sender, receiver) =
        crossbeam_channel::bounded::<(usize, Result<ShardIngest, LifecycleError>)>(2);
    std::thread::scope(|scope| -> Result<(), LifecycleError> {
        for _ in 0..threads.min(shards.len()) {
            let sender = sender.clone();
            let next = &next;
            let fields = &fields;
            scope.spawn(move || {
                loop {
                    let index = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    let Some(shard) = shards.get(index) else {
                        return;
                    };
                    let files: Vec<PathBuf> = [&shard.output_path, &shard.error_path]
                        .into_iter()
                        .flatten()
                        .map(PathBuf::from)
                        .collect();
                    let files: Vec<&Path> = files.iter().map(PathBuf::as_path).collect();
                    let to_ingest = ShardToIngest {
                        path: &shard.path,
                        expected: (shard.requests as u64, shard.id_set_hash),
                        fields,
                    };
                    let parsed = ingest_shard(&to_ingest, &files, validator);
                    if sender.send((index, parsed)).is_err() {
                        return;
                    }
                }
            });
        }
        drop(sender);
        for (index, parsed) in receiver {
            let shard = &shards[index];
            let ingest = match parsed {
                Ok(ingest) => ingest,
                Err(error) => {
                    // Stop the workers early; the error is the answer.
                    next.store(shards.len(), std::sync::atomic::Ordering::Relaxed);
                    return Err(error);
                }
            };
            if ingest.unreadable_lines > 0 || ingest.stray_lines > 0 {
                observer.event(&format!(
                    "shard {} (attempt {}): {} unreadable and {} stray line(s) in the batch output",
                    shard.number, shard.attempt, ingest.unreadable_lines, ingest.stray_lines
                ));
            }
            let recording = Recording {
                max_attempts: i64::from(job.limits.max_attempts),
                price,
            };
            record_ingest(ledger, run.id, shard, &ingest, recording)?;
            // Its results are in the ledger now: the downloads are not read again.
            crate::disk::remove_downloads(ledger.directory(), shard);
        }
        Ok(())
    })
}
