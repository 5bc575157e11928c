//! `batchlabel status` and `batchlabel cancel`: what the ledger says about the latest run
//! (row counts by state, failures by reason, shards and batches, tokens, cost, ETA), and
//! asking the provider to cancel its live batches. Neither needs the run lock, so both work
//! while a run is going on in another terminal.

use batchlabel_core::{ResultState, RunState, ShardState};
use std::collections::BTreeMap;

use batchlabel_providers::BatchProvider;
use serde::Serialize;

use crate::{LifecycleError, ProviderFailure, RunSettings};
use batchlabel_core::now;
use batchlabel_ledger::{Ledger, ShardRecord};

/// Row, request, batch and token counts of a run.
#[derive(Debug, Clone, Default, Serialize)]
pub struct RunCounts {
    /// Input rows.
    pub rows: u64,
    /// Distinct requests.
    pub requests: u64,
    /// Rows sharing a request with an earlier identical row.
    pub duplicate_rows: u64,
    /// Requests answered from earlier runs.
    pub cached_requests: u64,
    /// Rows labeled.
    pub labeled_rows: u64,
    /// Rows failed for good.
    pub failed_rows: u64,
    /// Failed rows by reason.
    pub failures: BTreeMap<String, u64>,
    /// Rows neither labeled nor failed yet.
    pub pending_rows: u64,
    /// Batches created (a shard resubmitted after a failed batch counts each time).
    pub batches: u64,
    /// Highest attempt.
    pub attempts: i64,
    /// Prompt tokens billed (all attempts).
    pub input_tokens: u64,
    /// Completion tokens billed (all attempts).
    pub output_tokens: u64,
    /// Dollars from the price table.
    pub cost_usd: f64,
    /// The budget's view: each shard's pre-flight bound against the usage its output files
    /// reported.
    pub cost: CostAccount,
    /// What is in the provider's queue and what waits to enter it.
    pub queue: QueueAccount,
}

/// The run's shards in and before the provider's queue, weighed as admission weighs them
/// (a shard's estimated input tokens, or a quarter of its bytes if more).
#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct QueueAccount {
    /// Batches created and not yet ended.
    pub in_flight_batches: u64,
    /// Their input tokens: what counts against the provider's enqueued-token limit.
    pub in_flight_tokens: u64,
    /// Their requests.
    pub in_flight_requests: u64,
    /// Shards planned and not yet sent (waiting for room in the queue, or for a turn).
    pub queued_shards: u64,
    /// Their input tokens.
    pub queued_tokens: u64,
}

impl QueueAccount {
    fn of(shards: &[ShardRecord]) -> Self {
        let count = |state: ShardState| shards.iter().filter(|shard| shard.state == state).count();
        let in_flight = crate::admission::Load::sum(shards, ShardState::Submitted);
        let queued = crate::admission::Load::sum(shards, ShardState::Planned);
        Self {
            in_flight_batches: count(ShardState::Submitted) as u64,
            in_flight_tokens: in_flight.tokens,
            in_flight_requests: in_flight.requests,
            queued_shards: count(ShardState::Planned) as u64,
            queued_tokens: queued.tokens,
        }
    }
}

/// Estimated against actual cost, summed over shards.
#[derive(Debug, Clone, Default, Serialize)]
pub struct CostAccount {
    /// Shards in all.
    pub shards: u64,
    /// Shards with a pre-flight bound (all of them when a budget is in force).
    pub estimated_shards: u64,
    /// Prompt tokens the bounds counted.
    pub estimated_input_tokens: u64,
    /// Most output tokens the bounds allowed.
    pub estimated_output_tokens_max: u64,
    /// Most dollars the bounds allowed.
    pub estimated_usd_max: f64,
    /// Dollars reserved for shards submitted and not yet ingested.
    pub reserved_usd: f64,
    /// Shards whose output files were ingested.
    pub reported_shards: u64,
    /// Prompt tokens the output files reported.
    pub actual_input_tokens: u64,
    /// Of the prompt tokens, those served from the provider's cache (priced lower).
    pub actual_cached_tokens: u64,
    /// Completion tokens the output files reported.
    pub actual_output_tokens: u64,
    /// Their dollars.
    pub actual_usd: f64,
}

impl CostAccount {
    fn of(shards: &[ShardRecord]) -> Self {
        let mut account = Self {
            shards: shards.len() as u64,
            ..Self::default()
        };
        for shard in shards {
            if let Some(bound) = shard.estimate.cost_usd_max {
                account.estimated_shards += 1;
                account.estimated_input_tokens += shard.estimate.input_tokens;
                account.estimated_output_tokens_max +=
                    shard.estimate.output_tokens_max.unwrap_or_default();
                account.estimated_usd_max += bound;
                if shard.actual.is_none() && shard.reserved_at.is_some() {
                    account.reserved_usd += bound;
                }
            }
            if let Some(actual) = &shard.actual {
                account.reported_shards += 1;
                account.actual_input_tokens += actual.input_tokens;
                account.actual_cached_tokens += actual.cached_input_tokens;
                account.actual_output_tokens += actual.output_tokens;
                account.actual_usd += actual.cost_usd;
            }
        }
        account
    }
}

/// The state of one run.
#[derive(Debug, Clone, Serialize)]
pub struct RunStatus {
    /// Ledger run id.
    pub run: i64,
    /// `compiling`, `running`, `cancelled`, `finished`.
    pub state: RunState,
    /// Unix seconds.
    pub created_at: i64,
    /// The spec fingerprint.
    pub spec_fingerprint: String,
    /// The counts.
    #[serde(flatten)]
    pub counts: RunCounts,
    /// Estimated seconds to the end, from progress so far.
    pub eta_seconds: Option<i64>,
    /// The shards.
    pub shards: Vec<ShardRecord>,
}

/// The status of a run; `rows_known` (from a sink that just read every result) saves the
/// scan that counts rows by state.
pub(crate) fn run_status(
    ledger: &Ledger,
    run_id: i64,
    rows_known: Option<&crate::SinkCounts>,
) -> Result<RunStatus, LifecycleError> {
    let (summary, fingerprint) = ledger.run_summary(run_id)?;
    let mut labeled_rows = 0;
    let mut failed_rows = 0;
    let mut failures = BTreeMap::new();
    if let Some(known) = rows_known {
        labeled_rows = known.labeled_rows;
        failed_rows = known.failed_rows;
        failures.clone_from(&known.failures);
    } else {
        for group in ledger.row_counts(run_id)? {
            if group.state == ResultState::Labeled {
                labeled_rows += group.rows;
            } else {
                failed_rows += group.rows;
                *failures.entry(group.reason).or_default() += group.rows;
            }
        }
    }
    let usage = ledger.usage_totals(run_id)?;
    let shards = ledger.shards(run_id)?;
    let batches = shards
        .iter()
        .filter(|shard| shard.batch_id.is_some() || shard.submits > 1)
        .map(|shard| {
            if shard.batch_id.is_some() {
                shard.submits
            } else {
                shard.submits - 1
            }
        })
        .sum::<i64>() as u64;
    let attempts = shards.iter().map(|shard| shard.attempt).max().unwrap_or(0);
    let pending_rows = (summary.rows as u64).saturating_sub(labeled_rows + failed_rows);
    let eta_seconds = eta(&shards, summary.requests as u64, summary.state);
    Ok(RunStatus {
        run: run_id,
        state: summary.state,
        created_at: summary.created_at,
        spec_fingerprint: fingerprint,
        counts: RunCounts {
            rows: summary.rows as u64,
            requests: summary.requests as u64,
            duplicate_rows: summary.duplicate_rows as u64,
            cached_requests: summary.cached_requests as u64,
            labeled_rows,
            failed_rows,
            failures,
            pending_rows,
            batches,
            attempts,
            input_tokens: usage.input_tokens,
            output_tokens: usage.output_tokens,
            cost_usd: usage.cost_usd,
            cost: CostAccount::of(&shards),
            queue: QueueAccount::of(&shards),
        },
        eta_seconds,
        shards,
    })
}

/// Linear ETA from the first submission and the requests the provider reports done.
fn eta(shards: &[ShardRecord], requests: u64, state: RunState) -> Option<i64> {
    if state == RunState::Finished {
        return None;
    }
    let started = shards.iter().filter_map(|shard| shard.submitted_at).min()?;
    let done: i64 = shards
        .iter()
        .map(|shard| {
            if shard.state == ShardState::Ingested {
                shard.requests
            } else {
                shard.completed + shard.failed
            }
        })
        .sum();
    if done <= 0 || requests == 0 {
        return None;
    }
    let elapsed = (now() - started).max(1);
    let remaining = (requests as i64 - done).max(0);
    Some(elapsed * remaining / done)
}

/// The ledger (unlocked: a run may be going on) and latest run of `job_name`.
pub(crate) fn latest(
    settings: &RunSettings,
    job_name: &str,
) -> Result<(Ledger, crate::RunRecord), LifecycleError> {
    let run_dir = settings.run_dir(job_name);
    if !Ledger::exists(&run_dir) {
        return Err(LifecycleError::NoRun { path: run_dir });
    }
    let ledger = Ledger::open_unlocked(&run_dir)?;
    let run = ledger
        .latest_run()?
        .ok_or(LifecycleError::NoRun { path: run_dir })?;
    Ok((ledger, run))
}

/// Run `run` of `job_name` (the latest when `None`) and its ledger.
pub(crate) fn chosen(
    settings: &RunSettings,
    job_name: &str,
    run: Option<i64>,
) -> Result<(Ledger, crate::RunRecord), LifecycleError> {
    let Some(wanted) = run else {
        return latest(settings, job_name);
    };
    let (ledger, latest) = latest(settings, job_name)?;
    let found = ledger
        .runs()?
        .into_iter()
        .find(|record| record.id == wanted);
    match found {
        Some(record) => Ok((ledger, record)),
        None => Err(LifecycleError::NoSuchRun {
            job: job_name.to_string(),
            run: wanted,
            runs: if latest.id > 1 {
                format!("1–{}", latest.id)
            } else {
                "1".into()
            },
        }),
    }
}

/// The latest run of `job_name` in the state folder.
pub fn status(settings: &RunSettings, job_name: &str) -> Result<RunStatus, LifecycleError> {
    status_of(settings, job_name, None)
}

/// Run `run` of `job_name` (the latest when `None`).
pub fn status_of(
    settings: &RunSettings,
    job_name: &str,
    run: Option<i64>,
) -> Result<RunStatus, LifecycleError> {
    let (ledger, run) = chosen(settings, job_name, run)?;
    run_status(&ledger, run.id, None)
}

/// Cancel the live batches of the latest run; the run is marked `cancelled`, so it is not
/// retried: the next `batchlabel run` collects what finished and ends the rest as cancelled.
/// Returns the batch ids asked to cancel.
pub async fn cancel(
    settings: &RunSettings,
    job_name: &str,
    provider: &dyn BatchProvider,
) -> Result<Vec<String>, LifecycleError> {
    let (ledger, run) = latest(settings, job_name)?;
    ledger.set_run_state(run.id, RunState::Cancelled)?;
    let mut cancelled = Vec::new();
    for shard in ledger.shards(run.id)? {
        let Some(batch_id) = shard
            .batch_id
            .clone()
            .filter(|_| shard.state == ShardState::Submitted)
        else {
            continue;
        };
        match provider.cancel(&batch_id).await {
            Ok(batch) => {
                ledger.record_batch_status(shard.id, batch.state.as_str())?;
                cancelled.push(batch_id);
            }
            // Already finished: nothing to cancel.
            Err(batchlabel_providers::ProviderError::Api {
                status: 400 | 409, ..
            }) => {}
            Err(error) => {
                return Err(LifecycleError::Provider(ProviderFailure {
                    context: format!("cancel batch {batch_id}"),
                    error,
                }));
            }
        }
    }
    Ok(cancelled)
}
