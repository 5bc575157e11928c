//! batchlabel-lifecycle: drives a job through the whole batch lifecycle — compile, register,
//! upload, create, poll, download, ingest, retry, write results — with every step journaled
//! in the [`Ledger`] so a run killed at any moment resumes with nothing lost, nothing
//! submitted twice and nothing paid twice. It also answers `status` and `cancel`.
//!
//! It does not parse specs (batchlabel-spec), render requests (batchlabel-compile), speak
//! HTTP (batchlabel-providers) or write the result files (batchlabel-sink).

mod admission;
mod budget;
mod calibrate;
mod checks;
mod clean;
mod cleanup;
mod disk;
mod driver;
mod finalize;
mod ingest;
mod judge;
mod pilot;
mod plan;
mod projection;
mod record;
mod retry;
mod row_results;
mod run_choice;
mod runs;
mod settle;
mod status;
mod strict_json;
mod submit;
mod unpack;
mod wave;

pub(crate) use submit::submit as submit_shard;

use std::path::{Path, PathBuf};
use std::time::Duration;

pub use batchlabel_core::{FailureReason, Outcome, ResultState, RunState, ShardState};
pub use batchlabel_ledger::RowResult;
pub use batchlabel_ledger::{ActualUsage, Ledger, LedgerError, RunRecord, ShardRecord};
pub use batchlabel_sink::{SinkCounts, partial_path, preflight as preflight_output, rfc3339};
pub use calibrate::{Calibration, calibrate_outputs};
pub use checks::{OutputCheck, OutputChecks, Plugins};
pub use clean::{CleanOptions, CleanReport, CleanedRun, clean};
pub use disk::human_bytes;
pub use driver::{RunObserver, RunSummary, Timings, run};
pub use pilot::{PilotOptions, PilotReport, PilotRow, Projection, pilot};
pub use row_results::{latest_row_results, row_results};
pub use runs::{RunOverview, runs};
pub use status::{CostAccount, QueueAccount, RunCounts, RunStatus, cancel, status, status_of};

/// How this run behaves (the spec says what the job is).
#[derive(Debug, Clone)]
pub struct RunSettings {
    /// Folder holding run directories (one per job name).
    pub state_dir: PathBuf,
    /// Only the first N input rows.
    pub limit: Option<u64>,
    /// Submit and return without waiting for results.
    pub no_wait: bool,
    /// Start a new run even if the spec changed since the last one.
    pub new_run: bool,
    /// First wait between polls; it grows to `max_poll_interval` while nothing changes.
    pub poll_interval: Duration,
    /// Longest wait between polls.
    pub max_poll_interval: Duration,
    /// Shards uploaded and created at the same time.
    pub concurrency: usize,
    /// Budget in dollars for this run, overriding the spec's `budget.max_usd`.
    pub max_usd: Option<f64>,
    /// The job's plugins, loaded.
    pub plugins: Plugins,
}

impl RunSettings {
    /// Settings that only read the runs under `state_dir` (status, eval, clean): no limits,
    /// no plugins, one request at a time.
    pub fn reading(state_dir: &std::path::Path) -> Self {
        Self {
            state_dir: state_dir.to_path_buf(),
            limit: None,
            no_wait: false,
            new_run: false,
            poll_interval: std::time::Duration::from_secs(1),
            max_poll_interval: std::time::Duration::from_secs(1),
            concurrency: 1,
            max_usd: None,
            plugins: Plugins::default(),
        }
    }

    /// The run directory of a job.
    pub fn run_dir(&self, job_name: &str) -> PathBuf {
        self.state_dir.join(job_name)
    }
}

/// A provider call that failed, with which shard it was for.
#[derive(Debug)]
pub struct ProviderFailure {
    /// E.g. `shard 3 (attempt 1)`.
    pub context: String,
    /// What failed.
    pub error: batchlabel_providers::ProviderError,
}

/// Why a run (or status/cancel) stopped. Nothing remote is left in an unknown state: the
/// ledger records every intent, and the next run picks up from it.
#[derive(Debug, thiserror::Error)]
pub enum LifecycleError {
    /// A query input returned other rows while it was compiled than when its identity was
    /// taken (a concurrent writer): nothing was sent.
    #[error(
        "the input `{location}` changed while it was read (the query returned other rows than a moment before); nothing was sent: run again to label the rows as they are now (unchanged requests are reused)"
    )]
    InputChangedWhileReading {
        /// The input.
        location: String,
    },
    /// The spec changed since the run in this directory started.
    #[error(
        "the spec changed since run {run} started (fingerprint {old} → {new}); pass `--new-run` to start a new run (results already labeled are reused), or restore the spec to resume"
    )]
    SpecChanged {
        /// The run.
        run: i64,
        /// Its fingerprint, shortened.
        old: String,
        /// The spec's fingerprint now, shortened.
        new: String,
    },
    /// There is no run to show or cancel.
    #[error("no run in `{path}`; start one with `batchlabel run SPEC`")]
    NoRun {
        /// The run directory.
        path: PathBuf,
    },
    /// `--run N` names a run the job does not have.
    #[error("`{job}` has no run {run} (its runs: {runs}); `batchlabel runs {job}` lists them")]
    NoSuchRun {
        /// The job.
        job: String,
        /// The run asked for.
        run: i64,
        /// The runs there are, e.g. `1–4`.
        runs: String,
    },
    /// The ledger could not be read or written (or another process holds it).
    #[error(transparent)]
    Ledger(#[from] LedgerError),
    /// The previous run still has batches in flight and a new run would send their requests
    /// again.
    #[error(
        "run {run} has {batches} batch(es) in flight and {why} since it started; nothing was sent.\nhint: run with `--new-run` to first collect them (a new run then reuses their results instead of paying for them again), or restore the input to resume run {run}"
    )]
    InFlight {
        /// The earlier run.
        run: i64,
        /// Its live batches.
        batches: usize,
        /// What changed.
        why: String,
    },
    /// The earlier run was cancelled while its batches were being collected.
    #[error(
        "run {run} was cancelled while its batches were being collected; no new run was started (what finished is kept)\nhint: run the same command again to start the new run"
    )]
    CollectCancelled {
        /// The earlier run.
        run: i64,
    },
    /// A file could not be read or written.
    #[error("`{path}`: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// Writing the results or the errors file failed.
    #[error(transparent)]
    Sink(#[from] batchlabel_sink::SinkError),
    /// Compiling the requests failed.
    #[error(transparent)]
    Compile(#[from] batchlabel_compile::CompileError),
    /// The provider failed in a way retries did not fix.
    #[error("{}: {}", .0.context, .0.error)]
    Provider(ProviderFailure),
    /// A create's answer was lost and several batches could be the one it made: creating
    /// again could pay twice, so the run stops and names them.
    #[error(
        "shard {shard}: the answer to its batch create was lost, and {count} ended batches created since hold exactly its requests: {candidates}; nothing more was sent.\nhint: {provider} batches carry no metadata to tell them apart, and these carry the same custom_ids (the same spec over the same rows, sent from another state folder or machine?). Keep the one this run should use and delete the others' results at the provider, or start over with `--new-run`."
    )]
    UnresolvedCreate {
        /// The shard's number.
        shard: i64,
        /// How many candidates.
        count: usize,
        /// Their ids, states and request counts.
        candidates: String,
        /// Where they are.
        provider: String,
    },
    /// Submitting more would exceed the budget; nothing more was submitted.
    #[error(
        "over budget: {what} would bring the run to ${needed:.4} (at most) against a budget of ${budget:.4}, over by ${over:.4}; nothing more was submitted"
    )]
    OverBudget {
        /// What was about to be submitted.
        what: String,
        /// Spent and reserved so far plus what was about to be submitted, in dollars.
        needed: f64,
        /// The budget.
        budget: f64,
        /// By how much.
        over: f64,
    },
    /// The budget cannot be enforced for this job.
    #[error("{0}")]
    BudgetUnenforceable(String),
    /// Something that should not happen.
    #[error("{0}")]
    Internal(String),
}

impl LifecycleError {
    pub(crate) fn io(path: &Path, source: std::io::Error) -> Self {
        Self::Io {
            path: path.to_path_buf(),
            source,
        }
    }
}
