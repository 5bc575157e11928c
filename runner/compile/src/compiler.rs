//! The compile pipeline: a reader thread streams rows, one worker per core renders them, and
//! the plan stage (in input order) dedupes and shards them on one thread. Memory is bounded by the
//! chunks in flight. Files are written into a temporary folder that replaces the output
//! folder only when everything succeeded, so a failed compile leaves nothing half-written.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use batchlabel_source::{Format, InputIdentity, Row, RowError, Source};
use batchlabel_spec::{InputFormat, Job};
use serde::Serialize;

use crate::CompileError;
use crate::planner::{Plan, Planner};
use crate::request_renderer::{RenderFailure, RenderedRequest, RequestRenderer};
use crate::shard_writer::ShardSummary;
use crate::staging::Staging;

const CHUNK_ROWS: usize = 1024;
const CHUNKS_IN_FLIGHT: usize = 2;
const PREFETCH_AHEAD: usize = 16;

/// Reports progress of a long compile.
pub trait Progress: Send + Sync {
    /// Called once with the input's size in bytes.
    fn start(&self, total_bytes: u64);
    /// Called as rows are planned.
    fn update(&self, bytes_read: u64, rows: u64);
    /// Called when done.
    fn finish(&self);
}

/// How to compile.
#[derive(Default, Clone)]
pub struct CompileOptions {
    /// Output folder; `None` plans without writing (for estimates).
    pub out_dir: Option<PathBuf>,
    /// Count prompt tokens with the model's tokenizer.
    pub count_tokens: bool,
    /// Where to report progress.
    pub progress: Option<Arc<dyn Progress>>,
    /// Read only the first N rows.
    pub row_limit: Option<u64>,
    /// Fingerprints of requests an earlier run already labeled: not written to any shard.
    pub labeled: Option<Arc<std::collections::HashSet<u128>>>,
    /// Only rows with these ids (a pilot's sample); row errors are kept.
    pub row_filter: Option<Arc<std::collections::HashSet<String>>>,
    /// The request-builder plugin, if the job has one.
    pub request_hook: Option<Arc<dyn crate::RequestHook>>,
}

/// What a compile produced.
#[derive(Debug, Clone, Serialize)]
pub struct CompileReport {
    /// Rows read.
    pub rows: u64,
    /// Requests written (rows minus rows served by an identical request).
    pub requests: u64,
    /// Rows whose request body equals an earlier row's: they share its request.
    pub duplicate_rows: u64,
    /// The batch files.
    pub shards: Vec<ShardSummary>,
    /// Rows listed in `row-map.csv` (hashed ids and duplicates).
    pub row_map_entries: u64,
    /// Requests not written because an earlier run labeled the same request.
    pub cached_requests: u64,
    /// Rows the request plugin failed on: listed in `failed-rows.jsonl`, not sent.
    pub failed_rows: u64,
    /// The output folder, when written.
    pub out_dir: Option<PathBuf>,
    /// A query input's identity, from the rows this compile read (a file's is known before).
    pub query_identity: Option<batchlabel_source::InputIdentity>,
}

/// `manifest.json`: what is in an output folder, enough to join results back to rows.
#[derive(Serialize)]
pub(crate) struct Manifest<'a> {
    batchlabel_version: &'static str,
    job: &'a str,
    pub(crate) spec_fingerprint: &'a str,
    provider: &'static str,
    model: &'a str,
    endpoint: &'static str,
    input: String,
    rows: u64,
    requests: u64,
    duplicate_rows: u64,
    limits: batchlabel_spec::BatchLimits,
    custom_id_scheme: &'static str,
    row_map: Option<&'static str>,
    /// The JSON Schema every output will be validated against.
    pub(crate) output_schema: &'static str,
    shards: &'a [ShardSummary],
}

enum Rendered {
    /// A request line in the chunk's buffer, and its row id in the chunk's id text.
    Request(RenderedRequest, std::ops::Range<usize>),
    Failure(RenderFailure),
    /// The request plugin failed on this row: it is recorded, not sent.
    PluginFailure(RenderFailure),
    BadRow(RowError),
}

/// A chunk of rendered rows: every line in one buffer, every id in one string.
struct RenderedChunk {
    buffer: Vec<u8>,
    row_ids: String,
    items: Vec<Rendered>,
}

fn render_chunk(renderer: &RequestRenderer, chunk: Vec<Result<Row, RowError>>) -> RenderedChunk {
    let mut rendered = RenderedChunk {
        buffer: Vec::with_capacity(chunk.len() * 1024),
        row_ids: String::with_capacity(chunk.len() * 16),
        items: Vec::with_capacity(chunk.len()),
    };
    for item in chunk {
        let item = match item {
            Ok(row) => {
                let id_start = rendered.row_ids.len();
                rendered.row_ids.push_str(&row.id);
                let id_range = id_start..rendered.row_ids.len();
                match renderer.render_into(row, &mut rendered.buffer) {
                    Ok(request) => Rendered::Request(request, id_range),
                    Err(failure) if failure.plugin.is_some() => Rendered::PluginFailure(failure),
                    Err(failure) => Rendered::Failure(failure),
                }
            }
            Err(error) => Rendered::BadRow(error),
        };
        rendered.items.push(item);
    }
    rendered
}

/// Compile `job` into batch files (or only plan them, see [`CompileOptions::out_dir`]).
pub fn compile(job: &Job, options: &CompileOptions) -> Result<CompileReport, CompileError> {
    let mut source = open_source(job)?;
    let renderer = RequestRenderer::new(job, source.columns().clone(), options.count_tokens)
        .map_err(CompileError::Setup)?
        .with_hook(options.request_hook.clone());
    let mut failed_rows = FailedRows {
        custom_ids: crate::CustomIds::for_job(job),
        ..FailedRows::default()
    };
    let staging = Staging::new(options.out_dir.as_deref())?;
    let mut planner = Planner::new(
        &job.input.path,
        staging.work_dir(),
        staging.shard_dir(),
        job.limits,
        crate::seen_set::FILTER_BITS_LOG2,
        crate::planner::Cache {
            salt: crate::request_salt(job),
            labeled: options.labeled.clone().unwrap_or_default(),
        },
    )
    .map_err(|error| CompileError::io(staging.work_dir(), error))?;
    if let Some(progress) = &options.progress {
        progress.start(std::fs::metadata(&job.input.path).map_or(0, |metadata| metadata.len()));
    }
    let bytes_read = AtomicU64::new(0);
    let outcome = std::thread::scope(|scope| -> Result<Option<InputIdentity>, CompileError> {
        let workers = std::thread::available_parallelism().map_or(2, std::num::NonZero::get);
        let (chunk_sender, chunk_receiver) = crossbeam_channel::bounded::<(
            u64,
            Vec<Result<Row, RowError>>,
        )>(workers * CHUNKS_IN_FLIGHT);
        let (rendered_sender, rendered_receiver) =
            crossbeam_channel::bounded::<(u64, RenderedChunk)>(workers * CHUNKS_IN_FLIGHT);
        let bytes_read = &bytes_read;
        // One credit per chunk in flight, returned when the chunk is planned: memory stays
        // bounded even when one worker falls behind and later chunks pile up for reordering.
        let credits = workers * CHUNKS_IN_FLIGHT;
        let (credit_sender, credit_receiver) = crossbeam_channel::bounded::<()>(credits);
        for _ in 0..credits {
            let _ = credit_sender.send(());
        }
        let row_limit = options.row_limit.unwrap_or(u64::MAX);
        let row_filter = options.row_filter.as_deref();
        let is_query = job.input.format.is_query();
        let reader = scope.spawn(move || -> Result<Option<InputIdentity>, CompileError> {
            let mut rows_read = 0u64;
            for sequence in 0.. {
                if credit_receiver.recv().is_err() {
                    return Ok(None); // the planner stopped; its error is reported
                }
                let mut chunk = Vec::with_capacity(CHUNK_ROWS);
                let wanted = (row_limit - rows_read).min(CHUNK_ROWS as u64) as usize;
                let more = source.next_chunk(wanted, &mut chunk)?;
                rows_read += chunk.len() as u64;
                let read_any = !chunk.is_empty();
                if let Some(filter) = row_filter {
                    chunk.retain(|row| {
                        row.as_ref().is_err()
                            || row.as_ref().is_ok_and(|row| filter.contains(&row.id))
                    });
                }
                let more = more && rows_read < row_limit;
                bytes_read.store(source.bytes_read(), Ordering::Relaxed);
                // Sequence numbers stay contiguous: a chunk the filter emptied is sent too.
                if read_any && chunk_sender.send((sequence, chunk)).is_err() {
                    return Ok(None); // the planner stopped; its error is reported
                }
                if !more {
                    break;
                }
            }
            Ok(if is_query {
                Some(source.identity()?)
            } else {
                None
            })
        });
        // Plain threads on a channel rather than a work-stealing pool: idle workers block
        // instead of spinning, leaving the cores to the reader and the planner.
        for _ in 0..workers {
            let chunk_receiver = chunk_receiver.clone();
            let rendered_sender = rendered_sender.clone();
            let renderer = &renderer;
            scope.spawn(move || {
                for (sequence, chunk) in chunk_receiver {
                    if rendered_sender
                        .send((sequence, render_chunk(renderer, chunk)))
                        .is_err()
                    {
                        return;
                    }
                }
            });
        }
        drop(chunk_receiver);
        drop(rendered_sender);
        // Chunks finish out of order; plan them in input order.
        let mut waiting: BTreeMap<u64, RenderedChunk> = BTreeMap::new();
        let mut next = 0;
        let mut touched = 0;
        for (sequence, chunk) in rendered_receiver {
            waiting.insert(sequence, chunk);
            while let Some(chunk) = waiting.remove(&next) {
                next += 1;
                let _ = credit_sender.try_send(());
                // Touch the filter blocks a few rows ahead, so cache and TLB misses overlap.
                let ahead: Vec<(u128, u128)> = chunk
                    .items
                    .iter()
                    .filter_map(|item| match item {
                        Rendered::Request(request, _) => Some((request.id_hash, request.body_hash)),
                        _ => None,
                    })
                    .collect();
                touched ^= planner.prefetch(&ahead[..ahead.len().min(PREFETCH_AHEAD)]);
                let mut done = 0;
                let RenderedChunk {
                    buffer,
                    row_ids,
                    items,
                } = chunk;
                for item in items {
                    if matches!(item, Rendered::Request(..)) {
                        if let Some(next) = ahead.get(done + PREFETCH_AHEAD) {
                            touched ^= planner.prefetch(std::slice::from_ref(next));
                        }
                        done += 1;
                    }
                    if let Rendered::PluginFailure(failure) = item {
                        failed_rows
                            .record(&staging, &failure)
                            .map_err(|error| CompileError::io(staging.work_dir(), error))?;
                        continue;
                    }
                    plan_one(&mut planner, &buffer, &row_ids, item, job, &staging)?;
                }
                if let Some(progress) = &options.progress {
                    progress.update(bytes_read.load(Ordering::Relaxed), 0);
                }
            }
        }
        std::hint::black_box(touched);
        drop(credit_sender);
        reader
            .join()
            .map_err(|_| CompileError::Setup("the reader thread panicked".into()))?
    });
    if let Some(progress) = &options.progress {
        progress.finish();
    }
    let query_identity = outcome?;
    let mut plan: Plan = planner
        .finish()
        .map_err(|error| CompileError::io(staging.work_dir(), error))?;
    if plan.problem_count > 0 {
        return Err(CompileError::Rows {
            problems: plan.problems,
            total: plan.problem_count,
        });
    }
    let failed_rows = failed_rows
        .finish()
        .map_err(|error| CompileError::io(staging.work_dir(), error))?;
    if plan.rows + failed_rows == 0 {
        return Err(CompileError::NoRows {
            path: job.input.path.clone(),
        });
    }
    if let (Some(packer), Some(directory)) = (
        crate::pack::Packer::for_job(job, options.count_tokens)?,
        staging.shard_dir(),
    ) {
        for shard in &mut plan.shards {
            shard.packed = Some(packer.pack_shard(directory, &shard.file)?);
        }
    }
    let manifest = Manifest {
        batchlabel_version: env!("CARGO_PKG_VERSION"),
        job: &job.name,
        spec_fingerprint: &job.fingerprint,
        provider: job.model.provider.as_str(),
        model: &job.model.name,
        endpoint: batchlabel_providers::codec_for(job).endpoint(),
        input: job
            .input
            .path
            .file_name()
            .map(|name| name.to_string_lossy().into_owned())
            .unwrap_or_default(),
        rows: plan.rows + failed_rows,
        requests: plan.requests,
        duplicate_rows: plan.duplicate_rows,
        limits: job.limits,
        custom_id_scheme: "[s<8 hex of the spec fingerprint>-]r-<row id> | x-<hex of row id> | h-<xxh3-128 of row id> (see row-map.csv); the scope only where batches carry no metadata (anthropic)",
        row_map: (plan.row_map_entries > 0).then_some(crate::ROW_MAP_FILE),
        output_schema: "output-schema.json",
        shards: &plan.shards,
    };
    let out_dir = staging.commit(&manifest, &job.output_schema)?;
    Ok(CompileReport {
        rows: plan.rows + failed_rows,
        failed_rows,
        requests: plan.requests,
        duplicate_rows: plan.duplicate_rows,
        shards: plan.shards,
        row_map_entries: plan.row_map_entries,
        cached_requests: plan.cached_requests,
        out_dir,
        query_identity,
    })
}

fn plan_one(
    planner: &mut Planner,
    buffer: &[u8],
    row_ids: &str,
    item: Rendered,
    job: &Job,
    staging: &Staging,
) -> Result<(), CompileError> {
    match item {
        Rendered::Request(request, id_range) => planner
            .add(buffer, &row_ids[id_range], &request)
            .map_err(|error| CompileError::io(staging.work_dir(), error)),
        Rendered::Failure(failure) => {
            planner.problem(failure.into_problem(&job.input.path));
            Ok(())
        }
        Rendered::BadRow(error) => {
            planner.problem(error.into());
            Ok(())
        }
        Rendered::PluginFailure(_) => Ok(()),
    }
}

/// `failed-rows.jsonl`: rows the request plugin failed on, with their custom_ids, so the
/// runner records them as failed (they are never sent).
#[derive(Default)]
struct FailedRows {
    writer: Option<std::io::BufWriter<std::fs::File>>,
    count: u64,
    custom_ids: crate::CustomIds,
}

impl FailedRows {
    fn record(&mut self, staging: &Staging, failure: &RenderFailure) -> std::io::Result<()> {
        use std::io::Write as _;
        self.count += 1;
        // Planning without writing (estimates): count only.
        let Some(directory) = staging.shard_dir() else {
            return Ok(());
        };
        if self.writer.is_none() {
            let file = std::fs::File::create(directory.join(crate::FAILED_ROWS_FILE))?;
            self.writer = Some(std::io::BufWriter::new(file));
        }
        let crashed = failure.plugin.as_ref().is_some_and(|plugin| plugin.crashed);
        let mut custom_id = Vec::new();
        self.custom_ids.write(&failure.row_id, &mut custom_id);
        let line = crate::FailedRow {
            row_id: failure.row_id.clone(),
            custom_id: String::from_utf8_lossy(&custom_id).into_owned(),
            line: failure.line,
            reason: if crashed {
                "plugin_error"
            } else {
                "plugin_rejected"
            }
            .into(),
            detail: failure.message.clone(),
        };
        if let Some(writer) = &mut self.writer {
            serde_json::to_writer(&mut *writer, &line)?;
            writeln!(writer)?;
        }
        Ok(())
    }

    fn finish(mut self) -> std::io::Result<u64> {
        use std::io::Write as _;
        if let Some(writer) = &mut self.writer {
            writer.flush()?;
        }
        Ok(self.count)
    }
}

/// The columns a job reads (id, text, the templates' `row.*`), or None when it may read any
/// (a template uses `row` whole; a request plugin sees the whole row).
fn needed_columns(job: &Job) -> Option<Vec<String>> {
    if job.prompt.whole_row || job.request_plugin.is_some() {
        return None;
    }
    let mut columns = vec![job.input.id_column.clone()];
    columns.extend(job.input.text_column.clone());
    columns.extend(job.prompt.row_columns.iter().cloned());
    Some(columns)
}

/// Open the job's input and check that the columns it reads exist (CSV: in the header;
/// JSONL: the id and text keys in the first row; `row.*` keys are checked per row).
pub fn open_source(job: &Job) -> Result<Box<dyn Source>, CompileError> {
    let format = match &job.input.format {
        InputFormat::Csv { delimiter } => Format::Csv {
            delimiter: *delimiter,
        },
        InputFormat::Jsonl => Format::Jsonl,
        InputFormat::Parquet => Format::Parquet {
            columns: needed_columns(job),
        },
        InputFormat::Sqlite { query } => Format::Sqlite {
            query: query.clone(),
        },
        InputFormat::Postgres { url_env, query } => Format::Postgres {
            url_env: url_env.clone(),
            query: query.clone(),
        },
    };
    let source = batchlabel_source::open_source(
        &job.input.path,
        &format,
        &job.input.id_column,
        job.input.text_column.as_deref(),
    )?;
    if let Some(text) = &job.input.text_column {
        source.require_column(text, "the text (`input.text`)")?;
    }
    if source.fixed_columns() {
        for column in &job.prompt.row_columns {
            source.require_column(column, &format!("the template's `row.{column}`"))?;
        }
    }
    Ok(source)
}
