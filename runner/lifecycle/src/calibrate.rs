//! Batch calibration of label scores. A small local model scores some labels higher for any
//! input (SmolLM2 almost never says "neutral"); subtracting each label's mean score over the
//! job's own rows removes that prior bias without gold labels. It needs every row's scores
//! before deciding, which a batch job has: the raw scores are kept in the ledger, the model's
//! own answer in `raw_output`, and calibration is recomputed from them at the end of every run,
//! so it survives a resume and is applied once.

use std::collections::HashMap;

use batchlabel_spec::{Job, LabelKind};
use rusqlite::params;
use serde_json::Value;

use crate::LifecycleError;
use crate::ledger::Ledger;

/// What calibration did.
#[derive(Debug, Default, Clone, serde::Serialize)]
pub struct Calibration {
    /// Rows with scores.
    pub rows: u64,
    /// Rows whose label changed from the model's raw answer.
    pub changed: u64,
    /// The mean score subtracted, per field and label.
    pub means: HashMap<String, HashMap<String, f64>>,
}

type Row = (String, String, HashMap<String, HashMap<String, f64>>);

/// Calibrate the `one_of` fields of `run_id`'s scored results in place.
pub(crate) fn calibrate(
    ledger: &mut Ledger,
    run_id: i64,
    job: &Job,
) -> Result<Calibration, LifecycleError> {
    let fields: Vec<(&str, Vec<&str>)> = job
        .labels
        .iter()
        .filter_map(|field| match &field.kind {
            LabelKind::OneOf { labels } => Some((
                field.name.as_str(),
                labels.iter().map(|label| label.name.as_str()).collect(),
            )),
            _ => None,
        })
        .collect();
    let mut calibration = Calibration::default();
    if fields.is_empty() {
        return Ok(calibration);
    }
    let rows: Vec<Row> = {
        let mut statement = ledger
            .connection
            .prepare(
                "SELECT custom_id, coalesce(raw_output, output), scores FROM results
                 WHERE run_id = ?1 AND state = 'labeled' AND scores IS NOT NULL",
            )
            .map_err(ledger.error())?;
        let rows = statement
            .query_map([run_id], |row| {
                Ok((
                    row.get::<_, String>(0)?,
                    row.get::<_, String>(1)?,
                    row.get::<_, String>(2)?,
                ))
            })
            .map_err(ledger.error())?;
        let mut parsed = Vec::new();
        for row in rows {
            let (custom_id, output, scores) = row.map_err(ledger.error())?;
            let scores = serde_json::from_str(&scores).unwrap_or_default();
            parsed.push((custom_id, output, scores));
        }
        parsed
    };
    calibration.rows = rows.len() as u64;
    if rows.is_empty() {
        return Ok(calibration);
    }
    for (field, labels) in &fields {
        let mut means = HashMap::new();
        for label in labels {
            let values: Vec<f64> = rows
                .iter()
                .filter_map(|(_, _, scores)| scores.get(*field)?.get(*label).copied())
                .collect();
            if !values.is_empty() {
                means.insert(
                    (*label).to_string(),
                    values.iter().sum::<f64>() / values.len() as f64,
                );
            }
        }
        calibration.means.insert((*field).to_string(), means);
    }
    let error = ledger.error();
    let transaction = ledger.connection.transaction().map_err(&error)?;
    {
        let mut update = transaction
            .prepare("UPDATE results SET raw_output = ?3, output = ?4 WHERE run_id = ?1 AND custom_id = ?2")
            .map_err(&error)?;
        for (custom_id, raw, scores) in &rows {
            let Ok(mut output) = serde_json::from_str::<Value>(raw) else {
                continue;
            };
            for (field, labels) in &fields {
                let (Some(field_scores), Some(means)) =
                    (scores.get(*field), calibration.means.get(*field))
                else {
                    continue;
                };
                let best = labels
                    .iter()
                    .filter_map(|label| {
                        Some((*label, field_scores.get(*label)? - means.get(*label)?))
                    })
                    .max_by(|a, b| a.1.total_cmp(&b.1));
                if let Some((label, _)) = best {
                    output[*field] = Value::String(label.to_string());
                }
            }
            let calibrated = output.to_string();
            if calibrated != *raw {
                calibration.changed += 1;
            }
            update
                .execute(params![run_id, custom_id, raw, calibrated])
                .map_err(&error)?;
        }
    }
    transaction.commit().map_err(&error)?;
    Ok(calibration)
}
