//! One run against gold labels: join row results with gold by row id, map labels to
//! indices, and compute the metrics; list the failed rows and the worst wrong rows (most
//! confident first, when the model gave scores).

use std::collections::{BTreeMap, HashMap};

use batchlabel_ledger::RowResult;
use batchlabel_spec::LabelField;
use serde::Serialize;
use serde_json::Value;

use crate::EvalError;
use crate::gold::Gold;
use crate::metrics::{MultiLabelMetrics, SingleLabelMetrics};

/// Most failed and wrong rows listed.
pub const LISTED_ROWS: usize = 100;

/// What a run said about one row's field.
#[derive(Debug, Clone, PartialEq)]
pub enum Prediction {
    /// Label indices (one for a single-label field), sorted.
    Labels(Vec<usize>),
    /// The row failed.
    Failed {
        /// The failure reason.
        reason: String,
        /// Its detail.
        detail: String,
    },
}

/// A row's prediction and the model's confidence in it, when it gave scores.
#[derive(Debug, Clone)]
pub struct RowPrediction {
    /// What it said.
    pub prediction: Prediction,
    /// Softmax probability of the chosen label over the calibrated label scores.
    pub confidence: Option<f64>,
}

/// A failed row.
#[derive(Debug, Clone, Serialize)]
pub struct FailedRow {
    /// Row id.
    pub id: String,
    /// Its text, shortened.
    pub text: Option<String>,
    /// Gold labels.
    pub gold: Vec<String>,
    /// Why it failed.
    pub reason: String,
    /// The detail.
    pub detail: String,
}

/// A row labeled wrong.
#[derive(Debug, Clone, Serialize)]
pub struct WrongRow {
    /// Row id.
    pub id: String,
    /// Its text, shortened.
    pub text: Option<String>,
    /// Gold labels.
    pub gold: Vec<String>,
    /// Predicted labels.
    pub predicted: Vec<String>,
    /// The model's raw confidence in its answer, when known.
    pub confidence: Option<f64>,
}

/// A run evaluated against gold labels.
#[derive(Debug, Clone, Serialize)]
pub struct Evaluation {
    /// The label field.
    pub field: String,
    /// Where the gold labels came from.
    pub gold: String,
    /// Whether the field is multi-label.
    pub multi_label: bool,
    /// The field's labels (the spec's, then gold labels it lacks).
    pub labels: Vec<String>,
    /// Rows with both a result and a gold label.
    pub rows: u64,
    /// Gold rows the run has no result for (e.g. beyond `--limit`); not evaluated.
    pub gold_rows_without_result: u64,
    /// Result rows without a gold label; not evaluated.
    pub results_without_gold: u64,
    /// Gold labels the spec does not have, with counts.
    pub unknown_gold_labels: BTreeMap<String, u64>,
    /// Single-label metrics.
    pub single_label: Option<SingleLabelMetrics>,
    /// Multi-label metrics.
    pub multi_label_metrics: Option<MultiLabelMetrics>,
    /// How often each label was predicted and is gold, over the evaluated rows.
    pub distribution: Vec<LabelCount>,
    /// Failed rows (they count as wrong), up to [`LISTED_ROWS`].
    pub failed_rows: Vec<FailedRow>,
    /// Wrong rows, most confident first, up to [`LISTED_ROWS`].
    pub wrong_rows: Vec<WrongRow>,
}

/// Predicted and gold counts of one label.
#[derive(Debug, Clone, Serialize)]
pub struct LabelCount {
    /// The label.
    pub label: String,
    /// Rows predicted with it.
    pub predicted: u64,
    /// Rows whose gold has it.
    pub gold: u64,
}

/// The field's prediction for every row of `results`.
pub fn predictions(
    results: &[RowResult],
    field: &LabelField,
    gold: &Gold,
) -> HashMap<String, RowPrediction> {
    let means = score_means(results, &field.name);
    results
        .iter()
        .map(|result| (result.row_id.clone(), predict(result, field, gold, &means)))
        .collect()
}

/// Each label's mean raw score over the run: the run decided on scores centred by these
/// (batch calibration), so confidence is taken on the same centred scores.
fn score_means(results: &[RowResult], field: &str) -> HashMap<String, f64> {
    let mut sums: HashMap<String, (f64, u64)> = HashMap::new();
    for scores in results
        .iter()
        .filter_map(|result| result.scores.as_ref()?.get(field)?.as_object())
    {
        for (label, score) in scores {
            if let Some(score) = score.as_f64() {
                let entry = sums.entry(label.clone()).or_default();
                entry.0 += score;
                entry.1 += 1;
            }
        }
    }
    sums.into_iter()
        .map(|(label, (sum, count))| (label, sum / count as f64))
        .collect()
}

fn predict(
    result: &RowResult,
    field: &LabelField,
    gold: &Gold,
    means: &HashMap<String, f64>,
) -> RowPrediction {
    let Some(output) = &result.output else {
        return RowPrediction {
            prediction: Prediction::Failed {
                reason: result.reason.clone().unwrap_or_else(|| "failed".into()),
                detail: result.detail.clone().unwrap_or_default(),
            },
            confidence: None,
        };
    };
    let value = &output[&field.name];
    let names: Vec<&str> = match value {
        Value::String(name) => vec![name.as_str()],
        Value::Array(items) => items.iter().filter_map(Value::as_str).collect(),
        _ => Vec::new(),
    };
    let mut indices = Vec::new();
    for name in &names {
        match gold.predicted_index(name) {
            Some(index) => indices.push(index),
            None => {
                return RowPrediction {
                    prediction: Prediction::Failed {
                        reason: "not_a_label".into(),
                        detail: format!("`{name}` is not a label of `{}`", field.name),
                    },
                    confidence: None,
                };
            }
        }
    }
    if indices.is_empty() && !gold.multi_label {
        return RowPrediction {
            prediction: Prediction::Failed {
                reason: "no_label".into(),
                detail: format!("the output has no `{}`", field.name),
            },
            confidence: None,
        };
    }
    indices.sort_unstable();
    indices.dedup();
    let confidence = match (&result.scores, names.as_slice()) {
        (Some(scores), [name]) => confidence(&scores[&field.name], name, means),
        _ => None,
    };
    RowPrediction {
        prediction: Prediction::Labels(indices),
        confidence,
    }
}

/// Softmax probability of `chosen` over the field's label scores (log-probabilities), each
/// centred by its mean over the run.
fn confidence(scores: &Value, chosen: &str, means: &HashMap<String, f64>) -> Option<f64> {
    let scores = scores.as_object()?;
    let centred = |label: &str, score: &Value| -> Option<f64> {
        Some(score.as_f64()? - means.get(label).copied().unwrap_or_default())
    };
    let chosen = centred(chosen, scores.get(chosen)?)?;
    let values: Vec<f64> = scores
        .iter()
        .filter_map(|(label, score)| centred(label, score))
        .collect();
    let top = values.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let total: f64 = values.iter().map(|value| (value - top).exp()).sum();
    Some((chosen - top).exp() / total)
}

/// Evaluate `results` for `field` against `gold`.
pub fn evaluate(
    results: &[RowResult],
    field: &LabelField,
    gold: &Gold,
) -> Result<Evaluation, EvalError> {
    let predictions = predictions(results, field, gold);
    let mut ids: Vec<&String> = gold
        .rows
        .keys()
        .filter(|id| predictions.contains_key(*id))
        .collect();
    if ids.is_empty() {
        return Err(EvalError::NoOverlap {
            gold: gold.source.clone(),
            results: predictions.len(),
            gold_rows: gold.rows.len(),
        });
    }
    ids.sort();
    let names = |indices: &[usize]| -> Vec<String> {
        indices
            .iter()
            .map(|index| gold.labels[*index].clone())
            .collect()
    };
    let mut failed_rows = Vec::new();
    let mut wrong_rows = Vec::new();
    let mut predicted_counts = vec![0u64; gold.labels.len()];
    let mut gold_counts = vec![0u64; gold.labels.len()];
    let mut pairs: Vec<(&[usize], Option<&[usize]>)> = Vec::with_capacity(ids.len());
    for id in &ids {
        let truth = &gold.rows[*id];
        let row = &predictions[*id];
        for index in truth {
            gold_counts[*index] += 1;
        }
        match &row.prediction {
            Prediction::Labels(predicted) => {
                for index in predicted {
                    predicted_counts[*index] += 1;
                }
                if predicted != truth {
                    wrong_rows.push(WrongRow {
                        id: (*id).clone(),
                        text: gold.texts.get(*id).cloned(),
                        gold: names(truth),
                        predicted: names(predicted),
                        confidence: row.confidence,
                    });
                }
                pairs.push((truth, Some(predicted)));
            }
            Prediction::Failed { reason, detail } => {
                failed_rows.push(FailedRow {
                    id: (*id).clone(),
                    text: gold.texts.get(*id).cloned(),
                    gold: names(truth),
                    reason: reason.clone(),
                    detail: detail.clone(),
                });
                pairs.push((truth, None));
            }
        }
    }
    // Most confident mistakes first; unscored ones keep id order after them.
    wrong_rows.sort_by(|a, b| {
        b.confidence
            .unwrap_or(-1.0)
            .total_cmp(&a.confidence.unwrap_or(-1.0))
    });
    wrong_rows.truncate(LISTED_ROWS);
    failed_rows.truncate(LISTED_ROWS);
    let (single_label, multi_label_metrics) = if gold.multi_label {
        (None, Some(MultiLabelMetrics::compute(&gold.labels, pairs)))
    } else {
        let single = pairs
            .iter()
            .map(|(truth, predicted)| (truth[0], predicted.map(|predicted| predicted[0])));
        (
            Some(SingleLabelMetrics::compute(&gold.labels, single)),
            None,
        )
    };
    Ok(Evaluation {
        field: field.name.clone(),
        gold: gold.source.clone(),
        multi_label: gold.multi_label,
        labels: gold.labels.clone(),
        rows: ids.len() as u64,
        gold_rows_without_result: (gold.rows.len() - ids.len()) as u64,
        results_without_gold: predictions
            .keys()
            .filter(|id| !gold.rows.contains_key(*id))
            .count() as u64,
        unknown_gold_labels: gold.unknown_labels.clone(),
        single_label,
        multi_label_metrics,
        distribution: gold
            .labels
            .iter()
            .enumerate()
            .map(|(index, label)| LabelCount {
                label: label.clone(),
                predicted: predicted_counts[index],
                gold: gold_counts[index],
            })
            .collect(),
        failed_rows,
        wrong_rows,
    })
}
