//! A run's results per input row, as the sinks see them: each request's result fans out to
//! its own row and to every duplicate row linked to it. `eval` and `report` read this.

use std::collections::HashMap;

use crate::LifecycleError;
use crate::ledger::Ledger;

/// Which rows a request answers.
pub(crate) struct RowLinks {
    shared: HashMap<String, Vec<String>>,
}

impl RowLinks {
    /// The duplicate-row links of `run_id`.
    pub(crate) fn load(ledger: &Ledger, run_id: i64) -> Result<Self, LifecycleError> {
        let mut shared: HashMap<String, Vec<String>> = HashMap::new();
        let mut statement = ledger
            .connection
            .prepare("SELECT custom_id, row_id FROM request_rows WHERE run_id = ?1")
            .map_err(ledger.error())?;
        let rows = statement
            .query_map([run_id], |row| {
                Ok((row.get::<_, String>(0)?, row.get::<_, String>(1)?))
            })
            .map_err(ledger.error())?;
        for row in rows {
            let (custom_id, row_id) = row.map_err(ledger.error())?;
            shared.entry(custom_id).or_default().push(row_id);
        }
        Ok(Self { shared })
    }

    /// The row ids `custom_id` answers, each with whether it is the request's own row (the
    /// one its tokens and cost belong to).
    pub(crate) fn rows_of<'a>(
        &'a self,
        custom_id: &str,
        own: Option<&'a str>,
    ) -> Vec<(&'a str, bool)> {
        let mut row_ids: Vec<(&str, bool)> = Vec::new();
        if let Some(own) = own {
            row_ids.push((own, true));
        }
        if let Some(shared) = self.shared.get(custom_id) {
            let first = own.is_none();
            for (index, id) in shared.iter().enumerate() {
                row_ids.push((id, first && index == 0));
            }
        }
        row_ids
    }
}

/// One input row's result.
#[derive(Debug, Clone)]
pub struct RowResult {
    /// The row's id.
    pub row_id: String,
    /// The labels (the validated, calibrated output), when labeled.
    pub output: Option<serde_json::Value>,
    /// Why it failed, when it did.
    pub reason: Option<String>,
    /// The failure's detail.
    pub detail: Option<String>,
    /// Raw per-label scores (local model), per field and label.
    pub scores: Option<serde_json::Value>,
}

/// Every row result of the latest run of `job_name` in `settings.state_dir`, with the run.
pub fn latest_row_results(
    settings: &crate::RunSettings,
    job_name: &str,
) -> Result<(crate::RunStatus, Vec<RowResult>), LifecycleError> {
    let (ledger, run) = crate::status::latest(settings, job_name)?;
    let status = crate::status::run_status(&ledger, run.id, None)?;
    let links = RowLinks::load(&ledger, run.id)?;
    let mut statement = ledger
        .connection
        .prepare("SELECT custom_id, state, output, reason, detail, scores FROM results WHERE run_id = ?1")
        .map_err(ledger.error())?;
    let rows = statement
        .query_map([run.id], |row| {
            Ok((
                row.get::<_, String>(0)?,
                row.get::<_, String>(1)?,
                row.get::<_, Option<String>>(2)?,
                row.get::<_, Option<String>>(3)?,
                row.get::<_, Option<String>>(4)?,
                row.get::<_, Option<String>>(5)?,
            ))
        })
        .map_err(ledger.error())?;
    let mut results = Vec::new();
    for row in rows {
        let (custom_id, state, output, reason, detail, scores) = row.map_err(ledger.error())?;
        let own = batchlabel_compile::row_id_of(&custom_id);
        let labeled = state == "labeled";
        let output = labeled
            .then(|| output.and_then(|text| serde_json::from_str(&text).ok()))
            .flatten();
        let scores = scores.and_then(|text| serde_json::from_str(&text).ok());
        for (row_id, _) in links.rows_of(&custom_id, own.as_deref()) {
            results.push(RowResult {
                row_id: row_id.to_string(),
                output: output.clone(),
                reason: if labeled { None } else { reason.clone() },
                detail: if labeled { None } else { detail.clone() },
                scores: scores.clone(),
            });
        }
    }
    Ok((status, results))
}
