//! Batch calibration of label scores. A small local model scores some labels higher for any
//! input (SmolLM2 almost never says "neutral"); subtracting each label's mean score over the
//! job's own rows removes that prior bias without gold labels. It needs every row's scores
//! before deciding, which a batch job has: the raw scores are kept in the ledger, the model's
//! own answer in `raw_output`, and calibration is recomputed from them at the end of every run,
//! so it survives a resume and is applied once.

use std::collections::HashMap;

use batchlabel_spec::{Job, LabelKind};
use serde_json::Value;

use crate::LifecycleError;
use batchlabel_ledger::Ledger;

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

type Row = (String, String, Scores);
type Scores = HashMap<String, HashMap<String, f64>>;
type Fields<'a> = Vec<(&'a str, Vec<&'a str>)>;

fn one_of_fields(job: &Job) -> Fields<'_> {
    job.labels
        .iter()
        .filter_map(|field| match &field.kind {
            LabelKind::OneOf { labels } => Some((
                field.name.as_str(),
                labels.iter().map(|label| label.name.as_str()).collect(),
            )),
            _ => None,
        })
        .collect()
}

/// Each label's mean score over `rows`, per field.
fn label_means(fields: &Fields<'_>, rows: &[Row]) -> HashMap<String, HashMap<String, f64>> {
    let mut all = HashMap::new();
    for (field, labels) in fields {
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
        all.insert((*field).to_string(), means);
    }
    all
}

/// The output with each scored field re-decided on mean-centred scores (`None`: unreadable).
fn decide(
    fields: &Fields<'_>,
    means: &HashMap<String, HashMap<String, f64>>,
    raw: &str,
    scores: &Scores,
) -> Option<String> {
    let mut output = serde_json::from_str::<Value>(raw).ok()?;
    for (field, labels) in fields {
        let (Some(field_scores), Some(means)) = (scores.get(*field), means.get(*field)) else {
            continue;
        };
        let best = labels
            .iter()
            .filter_map(|label| Some((*label, field_scores.get(*label)? - means.get(*label)?)))
            .max_by(|a, b| a.1.total_cmp(&b.1));
        if let Some((label, _)) = best {
            output[*field] = Value::String(label.to_string());
        }
    }
    Some(output.to_string())
}

/// Calibrate outputs held in memory (a pilot's): `rows` are (raw output, raw scores) as
/// JSON; returns the calibrated outputs in order (unscored rows unchanged).
pub fn calibrate_outputs(job: &Job, rows: &[(String, Option<String>)]) -> Vec<String> {
    let fields = one_of_fields(job);
    let scored: Vec<Row> = rows
        .iter()
        .filter_map(|(output, scores)| {
            let scores = serde_json::from_str(scores.as_deref()?).ok()?;
            Some((String::new(), output.clone(), scores))
        })
        .collect();
    if fields.is_empty() || scored.is_empty() {
        return rows.iter().map(|(output, _)| output.clone()).collect();
    }
    let means = label_means(&fields, &scored);
    rows.iter()
        .map(|(output, scores)| {
            scores
                .as_deref()
                .and_then(|scores| serde_json::from_str::<Scores>(scores).ok())
                .and_then(|scores| decide(&fields, &means, output, &scores))
                .unwrap_or_else(|| output.clone())
        })
        .collect()
}

/// Calibrate the `one_of` fields of `run_id`'s scored results in place.
pub(crate) fn calibrate(
    ledger: &mut Ledger,
    run_id: i64,
    job: &Job,
) -> Result<Calibration, LifecycleError> {
    let fields = one_of_fields(job);
    let mut calibration = Calibration::default();
    if fields.is_empty() {
        return Ok(calibration);
    }
    let rows: Vec<Row> = ledger
        .scored_results(run_id)?
        .into_iter()
        .map(|scored| {
            let scores = serde_json::from_str(&scored.scores).unwrap_or_default();
            (scored.custom_id, scored.raw_output, scores)
        })
        .collect();
    calibration.rows = rows.len() as u64;
    if rows.is_empty() {
        return Ok(calibration);
    }
    calibration.means = label_means(&fields, &rows);
    let mut answers = Vec::new();
    for (custom_id, raw, scores) in &rows {
        let Some(calibrated) = decide(&fields, &calibration.means, raw, scores) else {
            continue;
        };
        if calibrated != *raw {
            calibration.changed += 1;
        }
        answers.push((custom_id.as_str(), raw.as_str(), calibrated));
    }
    ledger.store_calibrated(
        run_id,
        answers
            .iter()
            .map(|(custom_id, raw, calibrated)| (*custom_id, *raw, calibrated.as_str())),
    )?;
    Ok(calibration)
}
