//! `pilot --compare-pack N`: the same rows sent as the spec says and packed N per request,
//! compared row by row — how many rows got the same labels, which did not — with each
//! side's tokens and projected cost, so the effect of packing on labels and money is
//! measured before a run.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use batchlabel_lifecycle::PilotReport;
use batchlabel_spec::Job;
use serde::Serialize;

use crate::printer::field;

/// How the packed pilot compares with the spec's own.
#[derive(Debug, Serialize)]
pub(crate) struct Comparison {
    /// Rows per request on the packed side.
    pub(crate) pack: u32,
    /// How its answers gave `one_of` labels.
    pub(crate) pack_answer: batchlabel_spec::PackAnswer,
    /// The packed pilot.
    pub(crate) pilot: PilotReport,
    /// Rows labeled on both sides.
    pub(crate) rows_compared: u64,
    /// Of these, rows with the same labels.
    pub(crate) same_labels: u64,
    /// `same_labels / rows_compared`.
    pub(crate) agreement: Option<f64>,
    /// The rows whose labels differ: id → [as the spec says, packed].
    pub(crate) differences: BTreeMap<String, [serde_json::Value; 2]>,
}

/// Compare `report` (the spec's own pilot) with `other`, the pilot of `packed`.
pub(crate) fn compare(report: &PilotReport, packed: &Job, other: &PilotReport) -> Comparison {
    let theirs: BTreeMap<&str, &serde_json::Value> = other
        .results
        .iter()
        .filter_map(|row| row.labels.as_ref().map(|labels| (row.id.as_str(), labels)))
        .collect();
    let mut comparison = Comparison {
        pack: packed.batching.pack,
        pack_answer: packed.batching.pack_answer,
        pilot: other.clone(),
        rows_compared: 0,
        same_labels: 0,
        agreement: None,
        differences: BTreeMap::new(),
    };
    for row in &report.results {
        let (Some(mine), Some(theirs)) = (&row.labels, theirs.get(row.id.as_str())) else {
            continue;
        };
        comparison.rows_compared += 1;
        if mine == *theirs {
            comparison.same_labels += 1;
        } else {
            comparison
                .differences
                .insert(row.id.clone(), [mine.clone(), (*theirs).clone()]);
        }
    }
    comparison.agreement = (comparison.rows_compared > 0)
        .then(|| comparison.same_labels as f64 / comparison.rows_compared as f64);
    comparison
}

/// The packed pilot's table and the comparison, as text.
pub(crate) fn render(name: &str, other: &PilotReport, comparison: &Comparison) -> String {
    let mut text = format!(
        "\n--- the same rows packed {} per request ({:?} answers) ---\n",
        comparison.pack, comparison.pack_answer
    )
    .to_lowercase();
    text.push_str(&super::pilot::render(name, other));
    let _ = writeln!(
        text,
        "\npacked vs as the spec says: {} of {} row(s) labeled on both sides have the same labels{}",
        comparison.same_labels,
        comparison.rows_compared,
        comparison
            .agreement
            .map(|share| format!(" ({:.1}%)", share * 100.0))
            .unwrap_or_default()
    );
    for (id, [mine, theirs]) in comparison.differences.iter().take(20) {
        let _ = writeln!(text, "  {}  {mine} → {theirs}", field(id));
    }
    if comparison.differences.len() > 20 {
        let _ = writeln!(text, "  … and {} more", comparison.differences.len() - 20);
    }
    text
}
