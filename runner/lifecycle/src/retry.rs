//! Retry: requests that failed in attempt N (and may be retried) go into new shards of
//! attempt N+1, built from their original request lines. Invalid outputs are asked again with
//! the model's answer and the validation error as feedback, so the model can correct itself.

use std::io::{BufRead, BufWriter, Write};
use std::path::Path;

use batchlabel_spec::BatchLimits;

use crate::LifecycleError;
use batchlabel_compile::CostModel;
use batchlabel_ledger::{Ledger, PlannedShard};

/// How retry files are written: within the job's per-file limits, each with its cost bound
/// when `cost` is given (a budget is in force), feedback added through the provider's codec.
pub(crate) struct RetryHow<'a> {
    pub(crate) limits: BatchLimits,
    pub(crate) cost: Option<&'a CostModel>,
    pub(crate) codec: &'a dyn batchlabel_providers::Codec,
}

/// Write the retry shards of `attempt + 1` into `directory`, each with its cost bound when
/// `cost` is given (a budget is in force).
pub(crate) fn plan_retry(
    ledger: &Ledger,
    run_id: i64,
    attempt: i64,
    directory: &Path,
    how: &RetryHow<'_>,
) -> Result<Vec<PlannedShard>, LifecycleError> {
    let failures = ledger.pending_failures(run_id, attempt)?;
    if failures.is_empty() {
        return Ok(Vec::new());
    }
    std::fs::create_dir_all(directory).map_err(|source| LifecycleError::io(directory, source))?;
    let originals = ledger.first_attempt_paths(run_id)?;
    let mut writer = RetryWriter::new(directory, how.limits, how.cost);
    for path in &originals {
        // Packed shards are retried from their items: a failed item is asked again alone.
        let path = batchlabel_compile::items_path(path);
        let file =
            std::fs::File::open(&path).map_err(|source| LifecycleError::io(&path, source))?;
        for line in std::io::BufReader::with_capacity(1 << 20, file).lines() {
            let line = line.map_err(|source| LifecycleError::io(&path, source))?;
            let Some(custom_id) = how.codec.request_custom_id(line.as_bytes()) else {
                return Err(LifecycleError::Internal(format!(
                    "{}: unreadable shard line",
                    path.display()
                )));
            };
            let Some(failure) = failures.get(&custom_id) else {
                continue;
            };
            let line = if failure.reason.wants_feedback() {
                let feedback = format!(
                    "{}{}. Answer again with only a JSON object that matches the required schema.",
                    batchlabel_protocol::FEEDBACK_PREFIX,
                    failure.detail
                );
                let previous = failure.output.as_deref().unwrap_or_default();
                how.codec
                    .add_feedback(&line, previous, &feedback)
                    .unwrap_or(line)
            } else {
                line
            };
            writer.write(&line, &custom_id)?;
        }
    }
    writer.finish()?;
    Ok(writer.done)
}

/// Writes retry lines into `shard-NNNNN.jsonl` within the per-file limits.
struct RetryWriter<'a> {
    directory: &'a Path,
    limits: BatchLimits,
    cost: Option<&'a CostModel>,
    current: Option<OpenShard>,
    number: u64,
    done: Vec<PlannedShard>,
}

struct OpenShard {
    file: BufWriter<std::fs::File>,
    requests: u64,
    bytes: u64,
    id_set_hash: u64,
    message_tokens: u64,
}

impl<'a> RetryWriter<'a> {
    fn new(directory: &'a Path, limits: BatchLimits, cost: Option<&'a CostModel>) -> Self {
        Self {
            directory,
            limits,
            cost,
            current: None,
            number: 0,
            done: Vec::new(),
        }
    }

    fn path(&self) -> std::path::PathBuf {
        self.directory
            .join(format!("shard-{:05}.jsonl", self.number))
    }

    fn write(&mut self, line: &str, custom_id: &str) -> Result<(), LifecycleError> {
        let size = line.len() as u64 + 1;
        let full = self.current.as_ref().is_none_or(|open| {
            open.requests >= self.limits.max_requests_per_file
                || open.bytes + size > self.limits.max_bytes_per_file
        });
        if full {
            self.finish()?;
            self.number += 1;
            let path = self.path();
            let file =
                std::fs::File::create(&path).map_err(|source| LifecycleError::io(&path, source))?;
            self.current = Some(OpenShard {
                file: BufWriter::new(file),
                requests: 0,
                bytes: 0,
                id_set_hash: 0,
                message_tokens: 0,
            });
        }
        let tokens = self.cost.map_or(0, |cost| cost.request_line_tokens(line));
        if let Some(open) = &mut self.current {
            writeln!(open.file, "{line}")
                .map_err(|source| LifecycleError::io(self.directory, source))?;
            open.requests += 1;
            open.bytes += size;
            open.id_set_hash = open
                .id_set_hash
                .wrapping_add(batchlabel_ledger::id_hash(custom_id));
            open.message_tokens += tokens;
        }
        Ok(())
    }

    fn finish(&mut self) -> Result<(), LifecycleError> {
        if let Some(mut open) = self.current.take() {
            open.file
                .flush()
                .map_err(|source| LifecycleError::io(self.directory, source))?;
            open.file
                .get_ref()
                .sync_all()
                .map_err(|source| LifecycleError::io(self.directory, source))?;
            self.done.push(PlannedShard {
                path: self.path(),
                requests: open.requests,
                bytes: open.bytes,
                id_set_hash: open.id_set_hash,
                estimate: self
                    .cost
                    .map(|cost| cost.bound(open.requests, open.message_tokens)),
            });
        }
        Ok(())
    }
}
