//! `batchlabel runs`: every run of a job, oldest first, with what each did and cost.

use serde::Serialize;

use crate::{LifecycleError, RunSettings, RunState};

/// One run of a job, in brief.
#[derive(Debug, Clone, Serialize)]
pub struct RunOverview {
    /// The run's number.
    pub run: i64,
    /// When it started (Unix seconds).
    pub created_at: i64,
    /// Where it is.
    pub state: RunState,
    /// The spec fingerprint it ran with.
    pub spec_fingerprint: String,
    /// Input rows.
    pub rows: u64,
    /// Rows labeled.
    pub labeled_rows: u64,
    /// Rows failed.
    pub failed_rows: u64,
    /// Dollars it spent (tokens the provider reported, at the batch price).
    pub cost_usd: f64,
}

/// Every run of `job_name` in the state folder, oldest first.
pub fn runs(settings: &RunSettings, job_name: &str) -> Result<Vec<RunOverview>, LifecycleError> {
    let (ledger, _) = crate::status::latest(settings, job_name)?;
    ledger
        .runs()?
        .into_iter()
        .map(|record| {
            let status = crate::status::run_status(&ledger, record.id, None)?;
            Ok(RunOverview {
                run: record.id,
                created_at: record.created_at,
                state: record.state,
                spec_fingerprint: record.spec_fingerprint,
                rows: status.counts.rows,
                labeled_rows: status.counts.labeled_rows,
                failed_rows: status.counts.failed_rows,
                cost_usd: status.counts.cost_usd,
            })
        })
        .collect()
}
