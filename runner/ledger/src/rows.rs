//! Results per input row: a request's result fans out to its own row and to every duplicate
//! row linked to it (as sinks, `eval` and `report` see them).

use std::collections::HashMap;

use crate::{Ledger, LedgerError, ResultState};

/// Which rows a request answers: its own row plus every duplicate row linked to it.
pub struct RowLinks {
    shared: HashMap<String, Vec<String>>,
}

impl RowLinks {
    /// The row ids `custom_id` answers, each with whether it is the request's own row (the
    /// one its tokens and cost belong to).
    pub fn rows_of<'a>(&'a self, custom_id: &str, own: Option<&'a str>) -> Vec<(&'a str, bool)> {
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

impl Ledger {
    /// The duplicate-row links of a run.
    pub fn row_links(&self, run_id: i64) -> Result<RowLinks, LedgerError> {
        let mut shared: HashMap<String, Vec<String>> = HashMap::new();
        let mut statement = self
            .connection
            .prepare("SELECT custom_id, row_id FROM request_rows WHERE run_id = ?1")
            .map_err(self.error())?;
        let rows = statement
            .query_map([run_id], |row| {
                Ok((row.get::<_, String>(0)?, row.get::<_, String>(1)?))
            })
            .map_err(self.error())?;
        for row in rows {
            let (custom_id, row_id) = row.map_err(self.error())?;
            shared.entry(custom_id).or_default().push(row_id);
        }
        Ok(RowLinks { shared })
    }
}

/// One input row's result, as `eval` and `report` see it.
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

impl Ledger {
    /// Every row's result of a run: each request's result fans out to its own row and to
    /// every duplicate row linked to it.
    pub fn row_results(&self, run_id: i64) -> Result<Vec<RowResult>, LedgerError> {
        let links = self.row_links(run_id)?;
        let mut results = Vec::new();
        self.for_each_result(run_id, |row| {
            let own = batchlabel_core::row_id_of(&row.custom_id);
            let labeled = row.state == ResultState::Labeled;
            let output = labeled
                .then(|| row.output.and_then(|text| serde_json::from_str(&text).ok()))
                .flatten();
            let scores: Option<serde_json::Value> =
                row.scores.and_then(|text| serde_json::from_str(&text).ok());
            for (row_id, _) in links.rows_of(&row.custom_id, own.as_deref()) {
                results.push(RowResult {
                    row_id: row_id.to_string(),
                    output: output.clone(),
                    reason: if labeled { None } else { row.reason.clone() },
                    detail: if labeled { None } else { row.detail.clone() },
                    scores: scores.clone(),
                });
            }
            Ok::<(), LedgerError>(())
        })?;
        Ok(results)
    }
}
