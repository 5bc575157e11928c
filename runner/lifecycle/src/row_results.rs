//! A run's results per input row, with the run's status: what `eval` and `report` read.

use batchlabel_ledger::RowResult;

use crate::LifecycleError;

/// Every row result of the latest run of `job_name` in `settings.state_dir`, with the run.
pub fn latest_row_results(
    settings: &crate::RunSettings,
    job_name: &str,
) -> Result<(crate::RunStatus, Vec<RowResult>), LifecycleError> {
    row_results(settings, job_name, None)
}

/// Every row result of run `run` of `job_name` (the latest when `None`), with the run.
pub fn row_results(
    settings: &crate::RunSettings,
    job_name: &str,
    run: Option<i64>,
) -> Result<(crate::RunStatus, Vec<RowResult>), LifecycleError> {
    let (ledger, run) = crate::status::chosen(settings, job_name, run)?;
    let status = crate::status::run_status(&ledger, run.id, None)?;
    let results = ledger.row_results(run.id)?;
    Ok((status, results))
}
