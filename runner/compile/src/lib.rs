//! batchlabel-compile: from a resolved [`batchlabel_spec::Job`] and its input rows to sharded
//! JSONL batch files. It owns request rendering (templates → chat-completions bodies with the
//! strict `response_format`), custom_ids, exact dedupe of identical bodies, sharding within
//! provider limits, and the pre-flight estimate (tokens with the model's tokenizer, dollars
//! from a dated price table).
//!
//! It does not upload, submit or read results: that is the lifecycle's job.

mod background_writer;
mod compiler;
mod cost_model;
mod custom_id;
mod estimate;
pub mod examples;
mod pack;
mod pack_output;
mod planner;
mod render_context;
mod request_hook;
mod request_renderer;
mod seen_set;
mod shard_writer;
mod side_files;
mod staging;
mod tokens;

use std::path::{Path, PathBuf};

pub use batchlabel_providers::{BatchPrice, PRICES_AS_OF, prices_as_of};
pub use compiler::{CompileOptions, CompileReport, Progress, compile, open_source};
pub use cost_model::{CostBound, CostModel, job_price};
pub use custom_id::{CustomIdKind, CustomIds, custom_id, row_id_of};
pub use estimate::{Estimate, ShardEstimate, estimate};
pub use pack::{Packs, items_path, pack_fields};
pub use pack_output::PACK_OUTPUT_CEILING;
pub use planner::INDEX_FILE;
pub use request_hook::{BuiltRequest, PluginFailure, RequestHook};
pub use request_renderer::{RenderFailure, RenderedRequest, RequestRenderer};
pub use shard_writer::ShardSummary;
pub use side_files::{
    FAILED_ROWS_FILE, FailedRow, ROW_MAP_FILE, RowMapEntry, failed_rows, row_map_entries,
};
pub use tokens::TokenCounter;

/// What makes requests differ between jobs: model, parameters and response format. Mixed
/// with a body's message hash it gives the request fingerprint that the cross-run cache keys.
/// Validators are not in it: they do not change a request, only which answers are accepted,
/// so a run with other validators re-validates earlier answers instead of asking again (see
/// the lifecycle's plan). Packing is, with its answer form: an answer given among N items is
/// kept apart from one given alone, and a `codes` answer from a `lists` one, so comparing them
/// (`pilot --compare-pack`, `eval --compare`) asks each side.
pub fn request_salt(job: &batchlabel_spec::Job) -> u128 {
    use batchlabel_spec::PackAnswer;
    let shape = batchlabel_providers::RequestShape::of(job);
    let fixed = batchlabel_providers::codec_for(job).fixed_request_part(&shape);
    let mut constant = serde_json::json!([job.model.name, job.model.parameters, fixed]);
    if job.batching.pack > 1
        && let Some(parts) = constant.as_array_mut()
    {
        // `lists` salts as before the answer form existed, so its cached answers stay found.
        let part = match job.batching.pack_answer {
            PackAnswer::Lists => serde_json::json!({"pack": job.batching.pack}),
            PackAnswer::Codes => serde_json::json!({"pack": job.batching.pack, "answer": "codes"}),
        };
        parts.push(part);
    }
    xxhash_rust::xxh3::xxh3_128(constant.to_string().as_bytes())
}

/// The fingerprint of one request: equal fingerprints mean byte-identical request bodies.
pub fn request_fingerprint(salt: u128, body_hash: u128) -> u128 {
    let mut bytes = [0u8; 32];
    bytes[..16].copy_from_slice(&salt.to_le_bytes());
    bytes[16..].copy_from_slice(&body_hash.to_le_bytes());
    xxhash_rust::xxh3::xxh3_128(&bytes)
}

/// A problem with one input row, with where it is.
#[derive(Debug, Clone, serde::Serialize)]
pub struct RowProblem {
    /// The input file.
    pub path: PathBuf,
    /// 1-based line where the row starts.
    pub line: u64,
    /// The row id, when it could be read.
    pub row_id: Option<String>,
    /// What is wrong, with a hint.
    pub message: String,
}

impl From<batchlabel_source::RowError> for RowProblem {
    fn from(error: batchlabel_source::RowError) -> Self {
        Self {
            path: error.path,
            line: error.line,
            row_id: None,
            message: error.message,
        }
    }
}

/// Why a compile failed. Nothing is written when it fails.
#[derive(Debug, thiserror::Error)]
pub enum CompileError {
    /// The input as a whole is unusable.
    #[error(transparent)]
    Source(#[from] batchlabel_source::SourceError),
    /// The input has a header (or nothing) but no rows.
    #[error("input `{path}` has no rows")]
    NoRows {
        /// The input file.
        path: PathBuf,
    },
    /// Some rows are bad; all of them are listed (up to a cap), by line.
    #[error("{total} input row(s) have problems")]
    Rows {
        /// The problems, by line (at most 1000 kept).
        problems: Vec<RowProblem>,
        /// How many there were in all.
        total: u64,
    },
    /// The output folder holds something that is not a previous compile.
    #[error(
        "output folder `{path}` exists and is not a batchlabel compile output; refusing to overwrite it (nothing in it was touched)\nhint: name a new or empty folder; a folder is replaced only when it holds exactly what an earlier compile wrote"
    )]
    OutputNotEmpty {
        /// The folder.
        path: PathBuf,
    },
    /// Reading or writing a file failed.
    #[error("cannot write `{path}`: {source}")]
    Io {
        /// The file or folder.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The templates could not be prepared.
    #[error("{0}")]
    Setup(String),
}

impl CompileError {
    fn io(path: &Path, source: std::io::Error) -> Self {
        Self::Io {
            path: path.to_path_buf(),
            source,
        }
    }
}
