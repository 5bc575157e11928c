//! A run's results per input row, with the run's status: what `eval` and `report` read.

use batchlabel_ledger::RowResult;

use crate::LifecycleError;

/// Every row result of the latest run of `job_name` in `settings.state_dir`, with the run.
pub fn latest_row_results(
    settings: &crate::RunSettings,
    job_name: &str,
) -> Result<(crate::RunStatus, Vec<RowResult>), LifecycleError> {
    let (ledger, run) = crate::status::latest(settings, job_name)?;
    let status = crate::status::run_status(&ledger, run.id, None)?;
    let results = ledger.row_results(run.id)?;
    Ok((status, results))
}
