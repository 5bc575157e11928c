//! Two runs on the same rows (two models, two prompt versions): how often they agree, Cohen's
//! kappa for single-label fields, which answers changed into which, and the changed rows, with
//! which run was right when gold labels are given.

use std::collections::{BTreeMap, HashMap};

use batchlabel_ledger::RowResult;
use serde::Serialize;
use serde_json::Value;

use crate::gold::Gold;
use crate::metrics::cohen_kappa;

/// Most changed rows listed.
pub const LISTED_CHANGES: usize = 200;

/// One row the two runs answered differently.
#[derive(Debug, Clone, Serialize)]
pub struct ChangedRow {
    /// Row id.
    pub id: String,
    /// Its text, shortened (when gold came from the input).
    pub text: Option<String>,
    /// The first run's answer.
    pub first: String,
    /// The second run's answer.
    pub second: String,
    /// The gold answer, when known.
    pub gold: Option<String>,
}

/// How two runs compare.
#[derive(Debug, Clone, Serialize)]
pub struct Comparison {
    /// The label field.
    pub field: String,
    /// Rows both runs have a result for.
    pub common_rows: u64,
    /// Rows only the first run has.
    pub only_first: u64,
    /// Rows only the second run has.
    pub only_second: u64,
    /// Common rows both runs failed (neither agreeing nor changed).
    pub both_failed: u64,
    /// Common rows answered the same (a failure agrees with no label).
    pub agreeing_rows: u64,
    /// `agreeing_rows` over the common rows at least one run labeled.
    pub agreement: f64,
    /// Cohen's kappa over rows both labeled (single-label fields).
    pub kappa: Option<f64>,
    /// Common rows answered differently.
    pub changed_rows: u64,
    /// With gold labels: changed rows the second run got right and the first wrong.
    pub fixed: Option<u64>,
    /// With gold labels: changed rows the first run got right and the second wrong.
    pub broken: Option<u64>,
    /// Changes `first → second` with counts, most frequent first.
    pub transitions: Vec<(String, String, u64)>,
    /// The changed rows, up to [`LISTED_CHANGES`], by id.
    pub changed: Vec<ChangedRow>,
}

fn answer(result: &RowResult, field: &str) -> (String, Option<Vec<String>>) {
    let Some(output) = &result.output else {
        let reason = result.reason.as_deref().unwrap_or("failed");
        return (format!("(failed: {reason})"), None);
    };
    let mut labels: Vec<String> = match &output[field] {
        Value::String(label) => vec![label.clone()],
        Value::Array(items) => items
            .iter()
            .filter_map(|item| item.as_str().map(str::to_string))
            .collect(),
        Value::Null => Vec::new(),
        other => vec![other.to_string()],
    };
    labels.sort();
    labels.dedup();
    (labels.join(", "), Some(labels))
}

/// Compare `first` and `second` on `field`; `gold` says which was right.
pub fn compare(
    field: &str,
    first: &[RowResult],
    second: &[RowResult],
    gold: Option<&Gold>,
) -> Comparison {
    let second_by_id: HashMap<&str, &RowResult> = second
        .iter()
        .map(|result| (result.row_id.as_str(), result))
        .collect();
    let mut common: Vec<(&RowResult, &RowResult)> = first
        .iter()
        .filter_map(|result| Some((result, *second_by_id.get(result.row_id.as_str())?)))
        .collect();
    common.sort_by(|a, b| a.0.row_id.cmp(&b.0.row_id));
    let gold_answer = |id: &str| -> Option<Vec<String>> {
        let gold = gold?;
        let mut names: Vec<String> = gold
            .rows
            .get(id)?
            .iter()
            .map(|index| gold.labels[*index].clone())
            .collect();
        names.sort();
        Some(names)
    };
    let mut label_index: BTreeMap<String, usize> = BTreeMap::new();
    let mut kappa_pairs = Vec::new();
    let mut transitions: BTreeMap<(String, String), u64> = BTreeMap::new();
    let (mut agreeing, mut fixed, mut broken, mut both_failed) = (0u64, 0u64, 0u64, 0u64);
    let mut changed = Vec::new();
    let mut changed_rows = 0u64;
    for (a, b) in &common {
        let (first_text, first_labels) = answer(a, field);
        let (second_text, second_labels) = answer(b, field);
        if first_labels.is_none() && second_labels.is_none() {
            both_failed += 1;
            continue;
        }
        if let (Some(first_labels), Some(second_labels)) = (&first_labels, &second_labels)
            && first_labels.len() == 1
            && second_labels.len() == 1
        {
            let next = label_index.len();
            let x = *label_index.entry(first_labels[0].clone()).or_insert(next);
            let next = label_index.len();
            let y = *label_index.entry(second_labels[0].clone()).or_insert(next);
            kappa_pairs.push((x, y));
        }
        let same = first_labels.is_some() && first_labels == second_labels;
        if same {
            agreeing += 1;
            continue;
        }
        changed_rows += 1;
        *transitions
            .entry((first_text.clone(), second_text.clone()))
            .or_default() += 1;
        let truth = gold_answer(&a.row_id);
        if let Some(truth) = &truth {
            let first_right = first_labels.as_ref() == Some(truth);
            let second_right = second_labels.as_ref() == Some(truth);
            if second_right && !first_right {
                fixed += 1;
            } else if first_right && !second_right {
                broken += 1;
            }
        }
        if changed.len() < LISTED_CHANGES {
            changed.push(ChangedRow {
                id: a.row_id.clone(),
                text: gold.and_then(|gold| gold.texts.get(&a.row_id).cloned()),
                first: first_text,
                second: second_text,
                gold: truth.map(|truth| truth.join(", ")),
            });
        }
    }
    let common_rows = common.len() as u64;
    let compared = common_rows - both_failed;
    let single_label = gold.is_none_or(|gold| !gold.multi_label);
    let mut transitions: Vec<(String, String, u64)> = transitions
        .into_iter()
        .map(|((from, to), count)| (from, to, count))
        .collect();
    transitions.sort_by(|a, b| b.2.cmp(&a.2).then_with(|| (&a.0, &a.1).cmp(&(&b.0, &b.1))));
    Comparison {
        field: field.to_string(),
        common_rows,
        only_first: first.len() as u64 - common_rows,
        only_second: second.len() as u64 - common_rows,
        both_failed,
        agreeing_rows: agreeing,
        agreement: if compared == 0 {
            0.0
        } else {
            agreeing as f64 / compared as f64
        },
        kappa: if single_label {
            cohen_kappa(label_index.len(), &kappa_pairs)
        } else {
            None
        },
        changed_rows,
        fixed: gold.map(|_| fixed),
        broken: gold.map(|_| broken),
        transitions,
        changed,
    }
}
