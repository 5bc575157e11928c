//! `batchlabel run`: the lifecycle loop. Each turn submits planned shards, polls submitted
//! batches, downloads finished ones, ingests them, and plans retries once an attempt is
//! complete; all state is in the ledger, so the loop can be entered again at any point.

use batchlabel_core::{RunState, ShardState};
use std::path::{Path, PathBuf};
use std::time::Instant;

use batchlabel_compile::{CompileOptions, CompileReport};
use batchlabel_providers::BatchProvider;
use batchlabel_spec::{Job, Output, OutputFormat};
use futures_util::StreamExt;
use serde::Serialize;

use crate::ingest::{ShardIngest, ingest_shard};
use crate::record::{record_ingest, register_compile};
use crate::run_choice::{RunChoice, choose_run, start_run};
use crate::settle::{Collect, collect_in_flight, fail_whole_shard, poll_and_settle};
use crate::submit::RemoteRun;
use crate::{LifecycleError, ProviderFailure, RunSettings};
use batchlabel_core::FailureReason;
use batchlabel_ledger::{Ledger, RunRecord, ShardRecord};

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
pub async fn run<P: BatchProvider>(
    job: &Job,
    settings: &RunSettings,
    provider: &P,
    observer: &dyn RunObserver,
) -> Result<RunSummary, LifecycleError> {
    let started = Instant::now();
    let mut timings = Timings::default();
    let run_dir = settings.run_dir(&job.name);
    let mut ledger = Ledger::open(&run_dir)?;
    let budget = crate::budget::Budget::for_run(job, settings.max_usd)?;
    let cost_model = budget.as_ref().map(|budget| &budget.cost);
    let price = batchlabel_compile::job_price(job);
    let validator =
        crate::OutputChecks::new(&job.output_schema, settings.plugins.validators.clone())?;
    let run = match choose_run(&ledger, job, settings, observer)? {
        RunChoice::Resume(run) => run,
        RunChoice::Start { collect } => {
            if let Some(previous) = collect {
                let context = Collect {
                    job,
                    run_dir: &run_dir,
                    validator: &validator,
                    price,
                    poll_interval: settings.poll_interval,
                    no_wait: settings.no_wait,
                };
                let done =
                    collect_in_flight(provider, &mut ledger, &previous, &context, observer).await?;
                if !done {
                    observer.event(&format!(
                        "run {} still has batches in flight; run the same command again to collect them and start the new run",
                        previous.id
                    ));
                    timings.total_seconds = started.elapsed().as_secs_f64();
                    return summarize(&ledger, &previous, None, &run_dir, true, timings, None);
                }
            }
            start_run(provider, &ledger, job, settings, observer).await?
        }
    };
    let remote = RemoteRun::new(&run, job);
    let run_files = run_dir.join("runs").join(run.id.to_string());
    if run.state == RunState::Compiling {
        compile_run(
            &mut ledger,
            job,
            settings,
            &run,
            &run_files,
            cost_model,
            observer,
        )?;
    }
    if let Some(budget) = &budget {
        let mut shards = ledger.shards(run.id)?;
        budget.estimate_missing(&ledger, &mut shards)?;
        budget.check_plan(&shards)?;
    }
    timings.compile_seconds = started.elapsed().as_secs_f64();
    let mut poll_interval = settings.poll_interval;
    loop {
        let mut changed = false;
        let shards = ledger.shards(run.id)?;
        let attempt = shards.iter().map(|shard| shard.attempt).max().unwrap_or(1);
        let cancelled = ledger.run_state(run.id)? == RunState::Cancelled;
        // 1. Submit what is planned (or, once cancelled, end it unsent).
        let planned: Vec<ShardRecord> = shards
            .iter()
            .filter(|shard| shard.state == ShardState::Planned)
            .cloned()
            .collect();
        if cancelled && !planned.is_empty() {
            for shard in &planned {
                let detail = "the run was cancelled before this request was sent";
                fail_whole_shard(
                    &mut ledger,
                    run.id,
                    shard,
                    FailureReason::Cancelled,
                    detail,
                    0,
                )?;
            }
            continue;
        }
        let (planned, refused) = match &budget {
            Some(budget) if !planned.is_empty() => budget.reserve_planned(&ledger, shards)?,
            _ => (planned, None),
        };
        if !planned.is_empty() {
            let stage = Instant::now();
            observer.event(&format!(
                "submitting {} shard(s) of attempt {attempt}",
                planned.len()
            ));
            let mut submissions = futures_util::stream::iter(
                planned
                    .into_iter()
                    .map(|shard| crate::submit_shard(provider, &ledger, &remote, shard)),
            )
            .buffer_unordered(settings.concurrency.max(1));
            while let Some(outcome) = submissions.next().await {
                outcome?;
            }
            drop(submissions);
            ledger.checkpoint();
            timings.submit_seconds += stage.elapsed().as_secs_f64();
            changed = true;
        }
        if let Some(refused) = refused {
            return Err(refused);
        }
        if settings.no_wait {
            timings.total_seconds = started.elapsed().as_secs_f64();
            return summarize(&ledger, &run, None, &run_dir, true, timings, None);
        }
        let stage = Instant::now();
        // 2. Poll what is submitted; download what is finished.
        changed |= poll_and_settle(provider, &mut ledger, &run, job, &run_dir, observer).await?;
        timings.wait_seconds += stage.elapsed().as_secs_f64();
        // 3. Ingest what is downloaded.
        let stage = Instant::now();
        let downloaded: Vec<ShardRecord> = ledger
            .shards(run.id)?
            .into_iter()
            .filter(|shard| shard.state == ShardState::Downloaded)
            .collect();
        if !downloaded.is_empty() {
            changed = true;
            ingest_downloaded(
                &mut ledger,
                &run,
                job,
                &downloaded,
                &validator,
                price,
                observer,
            )?;
            ledger.checkpoint();
        }
        timings.ingest_seconds += stage.elapsed().as_secs_f64();
        // 4. An attempt is complete when all its shards are ingested: retry or finish.
        let shards = ledger.shards(run.id)?;
        // Counted from the shards' states, not by scanning results on every turn.
        let total_requests: i64 = shards
            .iter()
            .filter(|shard| shard.attempt == 1)
            .map(|shard| shard.requests)
            .sum();
        let open_requests: i64 = shards
            .iter()
            .filter(|shard| shard.state != ShardState::Ingested)
            .map(|shard| shard.requests)
            .sum();
        observer.progress(
            (total_requests - open_requests).max(0) as u64,
            total_requests as u64,
        );
        if shards
            .iter()
            .all(|shard| shard.state == ShardState::Ingested)
        {
            let attempt = shards.iter().map(|shard| shard.attempt).max().unwrap_or(1);
            if cancelled {
                let ended = ledger.finalize_pending(run.id)?;
                observer.event(&format!("run cancelled: {ended} request(s) not retried"));
                break;
            }
            let retry_shards = if attempt < i64::from(job.limits.max_attempts) {
                let directory = run_files.join(format!("attempt-{}", attempt + 1));
                crate::retry::plan_retry(
                    &ledger,
                    run.id,
                    attempt,
                    &directory,
                    (job.limits, cost_model),
                )?
            } else {
                Vec::new()
            };
            if retry_shards.is_empty() {
                break;
            }
            let requests: u64 = retry_shards.iter().map(|shard| shard.requests).sum();
            observer.event(&format!(
                "retrying {requests} request(s) in {} shard(s) (attempt {})",
                retry_shards.len(),
                attempt + 1
            ));
            for (number, planned) in retry_shards.iter().enumerate() {
                ledger.add_shard(run.id, (attempt + 1, number as i64 + 1), planned)?;
            }
            continue;
        }
        if changed {
            poll_interval = settings.poll_interval;
        } else {
            let stage = Instant::now();
            tokio::time::sleep(poll_interval).await;
            timings.wait_seconds += stage.elapsed().as_secs_f64();
            poll_interval = (poll_interval * 3 / 2).min(settings.max_poll_interval);
        }
    }
    let output = job.output.clone().unwrap_or_else(|| Output {
        path: run_dir.join("results.jsonl"),
        format: OutputFormat::Jsonl,
        errors_path: run_dir.join("results.errors.jsonl"),
    });
    let calibration = crate::calibrate::calibrate(&mut ledger, run.id, job)?;
    if calibration.rows > 0 {
        observer.event(&format!(
            "calibrated {} scored row(s) against each label's mean score: {} label(s) changed",
            calibration.rows, calibration.changed
        ));
    }
    let stage = Instant::now();
    let written = batchlabel_sink::write_results(&ledger, run.id, job, &output)?;
    timings.sink_seconds = stage.elapsed().as_secs_f64();
    if ledger.run_state(run.id)? != RunState::Cancelled {
        ledger.set_run_state(run.id, RunState::Finished)?;
    }
    let mut summary = summarize(
        &ledger,
        &run,
        Some(&output),
        &run_dir,
        false,
        timings,
        Some(&written),
    )?;
    summary.timings.total_seconds = started.elapsed().as_secs_f64();
    Ok(summary)
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

fn compile_run(
    ledger: &mut Ledger,
    job: &Job,
    settings: &RunSettings,
    run: &RunRecord,
    run_files: &Path,
    cost_model: Option<&batchlabel_compile::CostModel>,
    observer: &dyn RunObserver,
) -> Result<CompileReport, LifecycleError> {
    let labeled = ledger.labeled_fingerprints()?;
    let compile_dir = run_files.join("attempt-1");
    observer.event(&format!(
        "compiling requests into {}",
        compile_dir.display()
    ));
    let report = batchlabel_compile::compile(
        job,
        &CompileOptions {
            out_dir: Some(compile_dir.clone()),
            // Token counts only feed the budget's bounds.
            count_tokens: cost_model.is_some(),
            progress: None,
            labeled: (!labeled.is_empty()).then(|| std::sync::Arc::new(labeled)),
            row_limit: settings.limit,
            row_filter: None,
            request_hook: settings.plugins.request.clone(),
        },
    )?;
    register_compile(ledger, run.id, &compile_dir, &report, cost_model)?;
    observer.event(&format!(
        "{} row(s) → {} request(s) in {} shard(s){}{}",
        report.rows,
        report.requests - report.cached_requests,
        report.shards.len(),
        if report.duplicate_rows > 0 {
            format!(
                ", {} duplicate row(s) share a request",
                report.duplicate_rows
            )
        } else {
            String::new()
        },
        if report.cached_requests > 0 {
            format!(
                ", {} request(s) already labeled by an earlier run",
                report.cached_requests
            )
        } else {
            String::new()
        }
    ));
    Ok(report)
}

pub(crate) fn ingest_downloaded(
    ledger: &mut Ledger,
    run: &RunRecord,
    job: &Job,
    shards: &[ShardRecord],
    validator: &crate::OutputChecks,
    price: Option<batchlabel_compile::BatchPrice>,
    observer: &dyn RunObserver,
) -> Result<(), LifecycleError> {
    // Workers parse shards while this thread records finished ones in the ledger; the
    // bounded channel keeps at most a few parsed shards in memory.
    let threads = std::thread::available_parallelism().map_or(2, std::num::NonZero::get);
    let next = std::sync::atomic::AtomicUsize::new(0);
    let (sender, receiver) =
        crossbeam_channel::bounded::<(usize, Result<ShardIngest, LifecycleError>)>(2);
    std::thread::scope(|scope| -> Result<(), LifecycleError> {
        for _ in 0..threads.min(shards.len()) {
            let sender = sender.clone();
            let next = &next;
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
                    let parsed = ingest_shard(
                        Path::new(&shard.path),
                        &files,
                        validator,
                        (shard.requests as u64, shard.id_set_hash),
                    );
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
            record_ingest(
                ledger,
                run.id,
                shard,
                &ingest,
                i64::from(job.limits.max_attempts),
                price,
            )?;
        }
        Ok(())
    })
}

fn summarize(
    ledger: &Ledger,
    run: &RunRecord,
    output: Option<&Output>,
    run_dir: &Path,
    submitted_only: bool,
    timings: Timings,
    rows_known: Option<&crate::SinkCounts>,
) -> Result<RunSummary, LifecycleError> {
    let status = crate::status::run_status(ledger, run.id, rows_known)?;
    Ok(RunSummary {
        run: run.id,
        counts: status.counts,
        output: output.map(|output| output.path.clone()),
        errors: output.map(|output| output.errors_path.clone()),
        run_dir: run_dir.to_path_buf(),
        submitted_only,
        timings,
    })
}
