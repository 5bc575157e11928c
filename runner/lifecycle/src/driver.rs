//! `batchlabel run`: the lifecycle as a state machine. A [`Runner`] turns until its run is
//! over; each turn runs the stages in order — submit what is planned and the provider's queue
//! has room for (`wave.rs`, `admission.rs`, `submit.rs`), poll and download what is submitted
//! (`settle.rs`), ingest what is downloaded (`ingest.rs`), and once an attempt is complete plan its retries (`retry.rs`) or finish (`finalize.rs`). All state is
//! in the ledger, so a run can be entered again at any point.

use std::path::PathBuf;
use std::time::Instant;

use batchlabel_core::{FailureReason, RunState, ShardState};
use batchlabel_ledger::{Ledger, RunRecord, ShardRecord};
use batchlabel_providers::BatchProvider;
use batchlabel_spec::Job;
use serde::Serialize;

use crate::admission::{Admission, Cap};
use crate::budget::Budget;
use crate::ingest::{IngestContext, ingest_downloaded};
use crate::run_choice::{RunChoice, choose_run, start_run};
use crate::settle::{
    Collect, SettleContext, ShardFailure, collect_in_flight, fail_whole_shard, poll_and_settle,
};
use crate::submit::RemoteRun;
use crate::{LifecycleError, OutputChecks, ProviderFailure, RunSettings};

/// Receives what a run is doing.
pub trait RunObserver: Send + Sync {
    /// Something happened worth a line.
    fn event(&self, message: &str);
    /// Requests finished (labeled or failed for good) so far, of all requests.
    fn progress(&self, finished: u64, total: u64);
}

/// How a run ended.
#[derive(Debug, Clone, Serialize)]
pub struct RunSummary {
    /// Ledger run id.
    pub run: i64,
    /// The counts.
    #[serde(flatten)]
    pub counts: crate::RunCounts,
    /// The results file.
    pub output: Option<PathBuf>,
    /// The errors file.
    pub errors: Option<PathBuf>,
    /// The run directory.
    pub run_dir: PathBuf,
    /// Whether the run returned after submitting (`--no-wait`).
    pub submitted_only: bool,
    /// Where this process spent its time, by stage.
    pub timings: Timings,
}

/// Seconds this process spent in each stage (a resumed run counts only its own).
#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct Timings {
    /// Rendering and sharding the requests, and registering them in the ledger.
    pub compile_seconds: f64,
    /// Uploading and creating batches.
    pub submit_seconds: f64,
    /// Waiting for and downloading batches.
    pub wait_seconds: f64,
    /// Parsing, validating and recording outputs in the ledger.
    pub ingest_seconds: f64,
    /// Writing the results and errors files.
    pub sink_seconds: f64,
    /// The whole run.
    pub total_seconds: f64,
}

/// Run `job` to the end (or, with `--no-wait`, until every shard is submitted).
pub async fn run(
    job: &Job,
    settings: &RunSettings,
    provider: &dyn BatchProvider,
    observer: &dyn RunObserver,
) -> Result<RunSummary, LifecycleError> {
    let started = Instant::now();
    let run_dir = settings.run_dir(&job.name);
    let mut ledger = Ledger::open(&run_dir)?;
    let budget = Budget::for_run(job, settings.max_usd)?;
    let checks = OutputChecks::new(
        provider.codec(),
        &job.output_schema,
        settings.plugins.validators.clone(),
    )?;
    let price = batchlabel_compile::job_price(job);
    // A database output that cannot take the results stops the run before anything is paid.
    batchlabel_sink::preflight(job)?;
    let run = match choose_run(&ledger, job, settings, observer)? {
        RunChoice::Resume(run) => run,
        RunChoice::Start { collect, identity } => {
            if let Some(previous) = collect {
                let context = Collect {
                    job,
                    run_dir: &run_dir,
                    validator: &checks,
                    price,
                    poll_interval: settings.poll_interval,
                    no_wait: settings.no_wait,
                };
                if !collect_in_flight(provider, &mut ledger, &previous, &context, observer).await? {
                    observer.event(&format!(
                        "run {} still has batches in flight; run the same command again to collect them and start the new run",
                        previous.id
                    ));
                    let timings = Timings {
                        total_seconds: started.elapsed().as_secs_f64(),
                        ..Timings::default()
                    };
                    return crate::finalize::summarize(&ledger, &previous, &run_dir, timings);
                }
            }
            start_run(provider, &ledger, job, settings, observer, identity).await?
        }
    };
    let runner = Runner {
        remote: RemoteRun::new(&run, job),
        run_files: run_dir.join("runs").join(run.id.to_string()),
        run_dir,
        job,
        settings,
        provider,
        observer,
        ledger,
        run,
        budget,
        admission: Admission::new(
            Cap::for_job(job, &provider.describe()),
            settings.max_poll_interval,
        ),
        checks,
        price,
        timings: Timings::default(),
        started,
    };
    runner.drive().await
}

/// One run being driven, with everything its stages share.
pub(crate) struct Runner<'a> {
    pub(crate) job: &'a Job,
    pub(crate) settings: &'a RunSettings,
    pub(crate) provider: &'a dyn BatchProvider,
    pub(crate) observer: &'a dyn RunObserver,
    pub(crate) ledger: Ledger,
    pub(crate) run: RunRecord,
    pub(crate) remote: RemoteRun,
    pub(crate) run_dir: PathBuf,
    /// The run's own files (`runs/<id>`): compiled shards and retry files.
    pub(crate) run_files: PathBuf,
    pub(crate) budget: Option<Budget>,
    /// What the provider's queue has room for (`admission.rs`).
    pub(crate) admission: Admission,
    pub(crate) checks: OutputChecks,
    pub(crate) price: Option<batchlabel_compile::BatchPrice>,
    pub(crate) timings: Timings,
    pub(crate) started: Instant,
}

/// What a turn of the loop decided.
enum Turn {
    /// Go on; `changed` says whether anything moved (else the loop waits before polling).
    Again { changed: bool },
    /// Every shard is submitted and the run returns without waiting (`--no-wait`).
    Submitted,
    /// Every request has its result: finish.
    Done,
}

impl Runner<'_> {
    /// Plan (compile) if needed, then turn until the run is over, then finish.
    async fn drive(mut self) -> Result<RunSummary, LifecycleError> {
        if self.run.state == RunState::Compiling {
            self.plan()?;
        }
        if let Some(budget) = &self.budget {
            let mut shards = self.ledger.shards(self.run.id)?;
            budget.estimate_missing(&self.ledger, &mut shards)?;
            budget.check_plan(&shards)?;
        }
        self.timings.compile_seconds = self.started.elapsed().as_secs_f64();
        let mut poll_interval = self.settings.poll_interval;
        loop {
            match self.turn().await? {
                Turn::Done => {
                    self.clean_up(true).await?;
                    return self.finish();
                }
                Turn::Submitted => return self.submitted_only(),
                Turn::Again { changed: true } => poll_interval = self.settings.poll_interval,
                Turn::Again { changed: false } => {
                    let stage = Instant::now();
                    tokio::time::sleep(poll_interval).await;
                    self.timings.wait_seconds += stage.elapsed().as_secs_f64();
                    poll_interval = (poll_interval * 3 / 2).min(self.settings.max_poll_interval);
                }
            }
        }
    }

    /// One turn: submit, poll and download, ingest, then retry or finish.
    async fn turn(&mut self) -> Result<Turn, LifecycleError> {
        let cancelled = self.ledger.run_state(self.run.id)? == RunState::Cancelled;
        let planned: Vec<ShardRecord> = self.shards_in(ShardState::Planned)?;
        if cancelled && !planned.is_empty() {
            self.end_unsent(&planned)?;
            return Ok(Turn::Again { changed: true });
        }
        let mut changed = self.submit(&planned).await?;
        if self.settings.no_wait {
            let waiting = self.shards_in(ShardState::Planned)?.len();
            if waiting > 0 {
                self.observer.event(&format!(
                    "{waiting} shard(s) were not sent: the provider's queue has no room for them until batches end; run the same command again later to send them"
                ));
            }
            return Ok(Turn::Submitted);
        }
        let stage = Instant::now();
        let settle = SettleContext {
            job: self.job,
            run_dir: &self.run_dir,
            observer: self.observer,
        };
        let before = self.shards_in(ShardState::Submitted)?;
        changed |= poll_and_settle(self.provider, &mut self.ledger, &self.run, &settle).await?;
        self.settled(&before)?;
        self.timings.wait_seconds += stage.elapsed().as_secs_f64();
        changed |= self.ingest()?;
        self.clean_up(false).await?;
        if self.report_progress()? {
            return self.next_attempt(cancelled);
        }
        Ok(Turn::Again { changed })
    }

    fn shards_in(&self, state: ShardState) -> Result<Vec<ShardRecord>, LifecycleError> {
        let mut shards = self.ledger.shards(self.run.id)?;
        shards.retain(|shard| shard.state == state);
        Ok(shards)
    }

    /// A cancelled run's planned shards end unsent, their requests failed as cancelled.
    fn end_unsent(&mut self, planned: &[ShardRecord]) -> Result<(), LifecycleError> {
        let failure = ShardFailure {
            reason: FailureReason::Cancelled,
            detail: "the run was cancelled before this request was sent",
            max_attempts: 0,
        };
        let codec = self.provider.codec();
        for shard in planned {
            fail_whole_shard(
                &mut self.ledger,
                self.run.id,
                shard,
                codec.as_ref(),
                &failure,
            )?;
        }
        Ok(())
    }

    /// Ingest what is downloaded. Whether there was any.
    fn ingest(&mut self) -> Result<bool, LifecycleError> {
        let stage = Instant::now();
        let downloaded = self.shards_in(ShardState::Downloaded)?;
        if !downloaded.is_empty() {
            let context = IngestContext {
                job: self.job,
                checks: &self.checks,
                price: self.price,
                observer: self.observer,
            };
            ingest_downloaded(&mut self.ledger, &self.run, &downloaded, &context)?;
            self.ledger.checkpoint();
        }
        self.timings.ingest_seconds += stage.elapsed().as_secs_f64();
        Ok(!downloaded.is_empty())
    }

    /// Report the requests finished so far, counted from the shards' states (not by scanning
    /// results on every turn); whether the attempt is complete (every shard ingested).
    fn report_progress(&self) -> Result<bool, LifecycleError> {
        let shards = self.ledger.shards(self.run.id)?;
        let total: i64 = shards
            .iter()
            .filter(|shard| shard.attempt == 1)
            .map(|shard| shard.requests)
            .sum();
        let open: i64 = shards
            .iter()
            .filter(|shard| shard.state != ShardState::Ingested)
            .map(|shard| shard.requests)
            .sum();
        self.observer
            .progress((total - open).max(0) as u64, total as u64);
        Ok(shards
            .iter()
            .all(|shard| shard.state == ShardState::Ingested))
    }

    /// An attempt is complete: plan the next one from its retryable failures, or finish (a
    /// cancelled run is not retried).
    fn next_attempt(&mut self, cancelled: bool) -> Result<Turn, LifecycleError> {
        if cancelled {
            let ended = self.ledger.finalize_pending(self.run.id)?;
            self.observer
                .event(&format!("run cancelled: {ended} request(s) not retried"));
            return Ok(Turn::Done);
        }
        let shards = self.ledger.shards(self.run.id)?;
        let attempt = shards.iter().map(|shard| shard.attempt).max().unwrap_or(1);
        if attempt >= i64::from(self.job.limits.max_attempts) {
            return Ok(Turn::Done);
        }
        let directory = self.run_files.join(format!("attempt-{}", attempt + 1));
        let codec = self.provider.codec();
        let how = crate::retry::RetryHow {
            limits: self.job.limits,
            cost: self.budget.as_ref().map(|budget| &budget.cost),
            codec: codec.as_ref(),
        };
        let retry_shards =
            crate::retry::plan_retry(&self.ledger, self.run.id, attempt, &directory, &how)?;
        if retry_shards.is_empty() {
            return Ok(Turn::Done);
        }
        let requests: u64 = retry_shards.iter().map(|shard| shard.requests).sum();
        self.observer.event(&format!(
            "retrying {requests} request(s) in {} shard(s) (attempt {})",
            retry_shards.len(),
            attempt + 1
        ));
        for (number, planned) in retry_shards.iter().enumerate() {
            self.ledger
                .add_shard(self.run.id, (attempt + 1, number as i64 + 1), planned)?;
        }
        Ok(Turn::Again { changed: true })
    }
}

pub(crate) fn provider_failure(
    shard: &ShardRecord,
    error: batchlabel_providers::ProviderError,
) -> LifecycleError {
    LifecycleError::Provider(ProviderFailure {
        context: format!("shard {} (attempt {})", shard.number, shard.attempt),
        error,
    })
}
