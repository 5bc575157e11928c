//! The "plan" stage, run in input order on one thread: checks ids are unique, drops exact
//! duplicate request bodies (one request serves every row that shares it), and hands each
//! remaining request to the [`ShardWriter`]. Both uniqueness checks use [`SeenSet`], so
//! memory stays flat however large the input.

use std::collections::{HashMap, HashSet};
use std::fs::File;
use std::io::{BufReader, BufWriter, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use batchlabel_spec::BatchLimits;

use crate::RowProblem;
use crate::custom_id::CustomIdKind;
use crate::request_renderer::RenderedRequest;
use crate::seen_set::SeenSet;
use crate::shard_writer::{ShardSummary, ShardWriter};

/// The request index: one line per request, `shard\tcustom_id\tfingerprint` (shard 0: served
/// by an earlier run's result).
pub const INDEX_FILE: &str = "requests.tsv";

/// Most row problems kept in memory for the report (the count is always exact).
const MAX_KEPT_PROBLEMS: usize = 1000;

/// What the plan stage produced.
pub(crate) struct Plan {
    pub(crate) rows: u64,
    pub(crate) requests: u64,
    pub(crate) duplicate_rows: u64,
    pub(crate) shards: Vec<ShardSummary>,
    pub(crate) problems: Vec<RowProblem>,
    pub(crate) problem_count: u64,
    pub(crate) row_map_entries: u64,
    pub(crate) cached_requests: u64,
}

/// Requests already labeled by an earlier run, by request fingerprint (see
/// [`crate::request_fingerprint`]): they are listed in the index but not written to a shard.
pub(crate) struct Cache {
    pub(crate) salt: u128,
    pub(crate) labeled: Arc<HashSet<u128>>,
}

pub(crate) struct Planner {
    input_path: PathBuf,
    max_line_bytes: u64,
    ids: SeenSet,
    id_suspects: Vec<(u128, u64, String)>,
    bodies: SeenSet,
    deferred_path: PathBuf,
    deferred: BufWriter<File>,
    deferred_count: u64,
    shards: ShardWriter,
    row_map_path: Option<PathBuf>,
    row_map: Option<BufWriter<File>>,
    row_map_entries: u64,
    index: Option<BufWriter<File>>,
    cache: Cache,
    cached_requests: u64,
    rows: u64,
    requests: u64,
    duplicate_rows: u64,
    problems: Vec<RowProblem>,
    problem_count: u64,
}

impl Planner {
    /// A planner keeping scratch files in `work_dir` and writing shards (and `row-map.csv`)
    /// into `out_dir`, or only counting when `out_dir` is `None`.
    pub(crate) fn new(
        input_path: &Path,
        work_dir: &Path,
        out_dir: Option<&Path>,
        limits: BatchLimits,
        filter_bits_log2: u32,
        cache: Cache,
    ) -> std::io::Result<Self> {
        let deferred_path = work_dir.join("deferred.bin");
        let index = match out_dir {
            Some(directory) => {
                let mut file = BufWriter::new(File::create(directory.join(INDEX_FILE))?);
                file.write_all(b"shard\tcustom_id\tfingerprint\n")?;
                Some(file)
            }
            None => None,
        };
        Ok(Self {
            input_path: input_path.to_path_buf(),
            max_line_bytes: limits.max_bytes_per_file,
            ids: SeenSet::with_filter_bits(&work_dir.join("ids.log"), filter_bits_log2)?,
            id_suspects: Vec::new(),
            bodies: SeenSet::with_filter_bits(&work_dir.join("bodies.log"), filter_bits_log2)?,
            deferred: BufWriter::new(File::create(&deferred_path)?),
            deferred_path,
            deferred_count: 0,
            shards: ShardWriter::new(out_dir, limits),
            row_map_path: out_dir.map(|directory| directory.join(crate::ROW_MAP_FILE)),
            row_map: None,
            row_map_entries: 0,
            index,
            cache,
            cached_requests: 0,
            rows: 0,
            requests: 0,
            duplicate_rows: 0,
            problems: Vec::new(),
            problem_count: 0,
        })
    }

    pub(crate) fn problem(&mut self, problem: RowProblem) {
        self.problem_count += 1;
        if self.problems.len() < MAX_KEPT_PROBLEMS {
            self.problems.push(problem);
        }
    }

    pub(crate) fn has_problems(&self) -> bool {
        self.problem_count > 0
    }

    /// Touch the filter blocks a chunk will need, so their cache misses overlap instead of
    /// stalling one after another in [`Planner::add`].
    pub(crate) fn prefetch(&self, keys: &[(u128, u128)]) -> u64 {
        keys.iter().fold(0, |touched, (id_hash, body_hash)| {
            touched ^ self.ids.peek(*id_hash) ^ self.bodies.peek(*body_hash)
        })
    }

    /// Take one rendered row, in input order; its line and custom_id are in `buffer`.
    pub(crate) fn add(
        &mut self,
        buffer: &[u8],
        row_id: &str,
        request: &RenderedRequest,
    ) -> std::io::Result<()> {
        self.rows += 1;
        let id_key = request.id_hash;
        if self.ids.insert(id_key) {
            self.id_suspects
                .push((id_key, request.line, row_id.to_string()));
        }
        self.ids.log(id_key, &request.line.to_le_bytes())?;
        let jsonl = &buffer[request.jsonl.clone()];
        if jsonl.len() as u64 > self.max_line_bytes {
            self.problem(RowProblem {
                path: self.input_path.clone(),
                line: request.line,
                row_id: Some(row_id.to_string()),
                message: format!(
                    "the request for this row is {} bytes, over the per-file limit of {} bytes; hint: shorten the text (e.g. a truncating template filter) or raise `batch.max_bytes_per_file` up to the provider's limit",
                    jsonl.len(),
                    self.max_line_bytes
                ),
            });
            return Ok(());
        }
        if self.has_problems() {
            // The run will fail; keep checking rows but skip the writing.
            return Ok(());
        }
        let custom_id = std::str::from_utf8(&buffer[request.custom_id.clone()]).unwrap_or_default();
        let entry = Entry {
            row_id,
            custom_id,
            kind: request.custom_id_kind,
            jsonl,
            body_hash: request.body_hash,
            input_tokens: request.input_tokens,
        };
        if self.bodies.insert(request.body_hash) {
            self.defer(&entry)
        } else {
            self.emit(&entry)?;
            self.bodies.log(request.body_hash, custom_id.as_bytes())
        }
    }

    fn emit(&mut self, entry: &Entry<'_>) -> std::io::Result<()> {
        self.requests += 1;
        let fingerprint = crate::request_fingerprint(self.cache.salt, entry.body_hash);
        let shard = if self.cache.labeled.contains(&fingerprint) {
            self.cached_requests += 1;
            0
        } else {
            self.shards
                .write(entry.jsonl, entry.custom_id, entry.input_tokens)?;
            self.shards.current_number()
        };
        if let Some(index) = &mut self.index {
            writeln!(index, "{shard}\t{}\t{fingerprint:032x}", entry.custom_id)?;
        }
        if entry.kind == CustomIdKind::Hashed {
            self.map_row(entry.row_id, entry.custom_id, "hashed-id")?;
        }
        Ok(())
    }

    fn map_row(&mut self, row_id: &str, custom_id: &str, reason: &str) -> std::io::Result<()> {
        self.row_map_entries += 1;
        let Some(path) = &self.row_map_path else {
            return Ok(());
        };
        if self.row_map.is_none() {
            let mut file = BufWriter::new(File::create(path)?);
            file.write_all(b"row_id,custom_id,reason\n")?;
            self.row_map = Some(file);
        }
        if let Some(file) = &mut self.row_map {
            write_csv_field(file, row_id)?;
            writeln!(file, ",{custom_id},{reason}")?;
        }
        Ok(())
    }

    /// A body the filter may have seen: settle it at the end, against the log.
    fn defer(&mut self, entry: &Entry<'_>) -> std::io::Result<()> {
        self.deferred_count += 1;
        let file = &mut self.deferred;
        file.write_all(&entry.body_hash.to_le_bytes())?;
        file.write_all(&entry.input_tokens.to_le_bytes())?;
        file.write_all(&[match entry.kind {
            CustomIdKind::Direct => 0,
            CustomIdKind::Hex => 1,
            CustomIdKind::Hashed => 2,
        }])?;
        for part in [
            entry.row_id.as_bytes(),
            entry.custom_id.as_bytes(),
            entry.jsonl,
        ] {
            file.write_all(&(part.len() as u32).to_le_bytes())?;
            file.write_all(part)?;
        }
        Ok(())
    }

    /// Settle suspects and close the shards.
    pub(crate) fn finish(mut self) -> std::io::Result<Plan> {
        self.settle_ids()?;
        if !self.has_problems() {
            self.settle_deferred()?;
        }
        if let Some(mut file) = self.row_map.take() {
            file.flush()?;
        }
        if let Some(mut file) = self.index.take() {
            file.flush()?;
        }
        let mut problems = std::mem::take(&mut self.problems);
        problems.sort_by_key(|problem| problem.line);
        Ok(Plan {
            rows: self.rows,
            requests: self.requests,
            duplicate_rows: self.duplicate_rows,
            shards: self.shards.finish()?,
            problems,
            problem_count: self.problem_count,
            row_map_entries: self.row_map_entries,
            cached_requests: self.cached_requests,
        })
    }

    fn settle_ids(&mut self) -> std::io::Result<()> {
        let wanted: HashSet<u128> = self.id_suspects.iter().map(|(key, _, _)| *key).collect();
        let found = self.ids.lookup(&wanted)?;
        let suspects = std::mem::take(&mut self.id_suspects);
        let mut reported = HashSet::new();
        for (key, _, row_id) in suspects {
            let Some(lines) = found.get(&key) else {
                continue;
            };
            if lines.len() < 2 || !reported.insert(key) {
                continue;
            }
            let lines: Vec<u64> = lines
                .iter()
                .map(|payload| u64::from_le_bytes(payload[..8].try_into().unwrap_or_default()))
                .collect();
            for line in &lines[1..] {
                self.problem(RowProblem {
                    path: self.input_path.clone(),
                    line: *line,
                    row_id: Some(row_id.clone()),
                    message: format!("duplicate id `{row_id}`: first seen on line {}; hint: ids must be unique, results are keyed by them", lines[0]),
                });
            }
        }
        Ok(())
    }

    fn settle_deferred(&mut self) -> std::io::Result<()> {
        self.deferred.flush()?;
        if self.deferred_count == 0 {
            return Ok(());
        }
        let mut wanted = HashSet::new();
        let mut reader = BufReader::new(File::open(&self.deferred_path)?);
        for _ in 0..self.deferred_count {
            wanted.insert(read_deferred(&mut reader)?.body_hash);
        }
        let mut first_custom_id: HashMap<u128, String> = self
            .bodies
            .lookup(&wanted)?
            .into_iter()
            .filter_map(|(key, payloads)| {
                Some((key, String::from_utf8(payloads.into_iter().next()?).ok()?))
            })
            .collect();
        let mut reader = BufReader::new(File::open(&self.deferred_path)?);
        for _ in 0..self.deferred_count {
            let entry = read_deferred(&mut reader)?;
            if let Some(shared) = first_custom_id.get(&entry.body_hash) {
                self.duplicate_rows += 1;
                let shared = shared.clone();
                self.map_row(&entry.row_id, &shared, "duplicate")?;
            } else {
                self.emit(&Entry {
                    row_id: &entry.row_id,
                    custom_id: &entry.custom_id,
                    kind: entry.kind,
                    jsonl: &entry.jsonl,
                    body_hash: entry.body_hash,
                    input_tokens: entry.input_tokens,
                })?;
                first_custom_id.insert(entry.body_hash, entry.custom_id);
            }
        }
        Ok(())
    }
}

/// One request on its way to a shard (borrowed from the chunk buffer or the deferred file).
struct Entry<'a> {
    row_id: &'a str,
    custom_id: &'a str,
    kind: CustomIdKind,
    jsonl: &'a [u8],
    body_hash: u128,
    input_tokens: u64,
}

struct DeferredEntry {
    body_hash: u128,
    input_tokens: u64,
    kind: CustomIdKind,
    row_id: String,
    custom_id: String,
    jsonl: Vec<u8>,
}

fn read_deferred(reader: &mut impl Read) -> std::io::Result<DeferredEntry> {
    let mut hash = [0u8; 16];
    reader.read_exact(&mut hash)?;
    let mut tokens = [0u8; 8];
    reader.read_exact(&mut tokens)?;
    let mut kind = [0u8; 1];
    reader.read_exact(&mut kind)?;
    let mut part = || -> std::io::Result<Vec<u8>> {
        let mut length = [0u8; 4];
        reader.read_exact(&mut length)?;
        let mut bytes = vec![0; u32::from_le_bytes(length) as usize];
        reader.read_exact(&mut bytes)?;
        Ok(bytes)
    };
    let text = |bytes: Vec<u8>| {
        String::from_utf8(bytes)
            .map_err(|error| std::io::Error::new(std::io::ErrorKind::InvalidData, error))
    };
    let row_id = text(part()?)?;
    let custom_id = text(part()?)?;
    let jsonl = part()?;
    Ok(DeferredEntry {
        body_hash: u128::from_le_bytes(hash),
        input_tokens: u64::from_le_bytes(tokens),
        kind: match kind[0] {
            0 => CustomIdKind::Direct,
            1 => CustomIdKind::Hex,
            _ => CustomIdKind::Hashed,
        },
        row_id,
        custom_id,
        jsonl,
    })
}

fn write_csv_field(out: &mut impl Write, field: &str) -> std::io::Result<()> {
    if field.contains([',', '"', '\n', '\r']) {
        write!(out, "\"{}\"", field.replace('"', "\"\""))
    } else {
        out.write_all(field.as_bytes())
    }
}

#[cfg(test)]
mod tests;
