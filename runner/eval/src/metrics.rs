//! The metrics, as pure functions over label indices. Conventions (as scikit-learn's, with
//! `zero_division=0`): a precision, recall or F1 whose denominator is 0 is 0; macro averages
//! run over the labels that occur in the gold labels or the predictions. A failed row counts
//! as wrong: single-label, it lands in the confusion matrix's extra `failed` column (a false
//! negative of its gold class and nobody's false positive); multi-label, it predicts nothing.

use serde::Serialize;

/// Precision, recall and F1 of one class or label.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ClassMetrics {
    /// The label.
    pub label: String,
    /// Correct predictions of it among all predictions of it.
    pub precision: f64,
    /// Correct predictions of it among all rows that have it.
    pub recall: f64,
    /// Harmonic mean of precision and recall.
    pub f1: f64,
    /// Rows whose gold labels include it.
    pub support: u64,
    /// Rows predicted with it.
    pub predicted: u64,
}

fn ratio(numerator: u64, denominator: u64) -> f64 {
    if denominator == 0 {
        0.0
    } else {
        numerator as f64 / denominator as f64
    }
}

fn f1(precision: f64, recall: f64) -> f64 {
    if precision + recall == 0.0 {
        0.0
    } else {
        2.0 * precision * recall / (precision + recall)
    }
}

fn class_metrics(label: &str, true_positives: u64, predicted: u64, support: u64) -> ClassMetrics {
    let precision = ratio(true_positives, predicted);
    let recall = ratio(true_positives, support);
    ClassMetrics {
        label: label.to_string(),
        precision,
        recall,
        f1: f1(precision, recall),
        support,
        predicted,
    }
}

fn macro_f1(classes: &[ClassMetrics]) -> f64 {
    let present: Vec<f64> = classes
        .iter()
        .filter(|class| class.support > 0 || class.predicted > 0)
        .map(|class| class.f1)
        .collect();
    if present.is_empty() {
        0.0
    } else {
        present.iter().sum::<f64>() / present.len() as f64
    }
}

/// Single-label metrics.
#[derive(Debug, Clone, Serialize)]
pub struct SingleLabelMetrics {
    /// Rows evaluated (failed ones included).
    pub rows: u64,
    /// Of these, failed.
    pub failed_rows: u64,
    /// Correct rows among all rows.
    pub accuracy: f64,
    /// Mean F1 over the classes present.
    pub macro_f1: f64,
    /// F1 weighted by support.
    pub weighted_f1: f64,
    /// Per class, in label order.
    pub classes: Vec<ClassMetrics>,
    /// `confusion[gold][predicted]`; the last column counts failed rows.
    pub confusion: Vec<Vec<u64>>,
}

impl SingleLabelMetrics {
    /// Metrics over `(gold, predicted)` pairs of indices into `labels`; `None` = failed.
    pub fn compute(
        labels: &[String],
        pairs: impl IntoIterator<Item = (usize, Option<usize>)>,
    ) -> Self {
        let count = labels.len();
        let mut confusion = vec![vec![0u64; count + 1]; count];
        for (gold, predicted) in pairs {
            confusion[gold][predicted.unwrap_or(count)] += 1;
        }
        let rows: u64 = confusion.iter().flatten().sum();
        let failed_rows: u64 = confusion.iter().map(|row| row[count]).sum();
        let correct: u64 = (0..count).map(|index| confusion[index][index]).sum();
        let classes: Vec<ClassMetrics> = labels
            .iter()
            .enumerate()
            .map(|(index, label)| {
                let predicted = (0..count).map(|gold| confusion[gold][index]).sum();
                let support = confusion[index].iter().sum();
                class_metrics(label, confusion[index][index], predicted, support)
            })
            .collect();
        let weighted_f1 = if rows == 0 {
            0.0
        } else {
            classes
                .iter()
                .map(|class| class.f1 * class.support as f64)
                .sum::<f64>()
                / rows as f64
        };
        Self {
            rows,
            failed_rows,
            accuracy: ratio(correct, rows),
            macro_f1: macro_f1(&classes),
            weighted_f1,
            classes,
            confusion,
        }
    }
}

/// Multi-label metrics.
#[derive(Debug, Clone, Serialize)]
pub struct MultiLabelMetrics {
    /// Rows evaluated (failed ones included).
    pub rows: u64,
    /// Of these, failed.
    pub failed_rows: u64,
    /// Rows whose predicted set equals the gold set.
    pub exact_match: f64,
    /// Precision over all (row, label) decisions.
    pub micro_precision: f64,
    /// Recall over all (row, label) decisions.
    pub micro_recall: f64,
    /// F1 over all (row, label) decisions.
    pub micro_f1: f64,
    /// Mean F1 over the labels present.
    pub macro_f1: f64,
    /// Mean per-row Jaccard overlap of predicted and gold sets.
    pub jaccard: f64,
    /// Per label, in label order.
    pub labels: Vec<ClassMetrics>,
}

impl MultiLabelMetrics {
    /// Metrics over `(gold set, predicted set)` pairs of indices into `labels`; `None` =
    /// failed (predicts nothing).
    pub fn compute<'a>(
        labels: &[String],
        pairs: impl IntoIterator<Item = (&'a [usize], Option<&'a [usize]>)>,
    ) -> Self {
        let count = labels.len();
        let (mut true_positives, mut predicted, mut support) =
            (vec![0u64; count], vec![0u64; count], vec![0u64; count]);
        let (mut rows, mut failed_rows, mut exact, mut jaccard) = (0u64, 0u64, 0u64, 0.0);
        for (gold, prediction) in pairs {
            rows += 1;
            let answered = prediction.is_some();
            let prediction = prediction.unwrap_or_else(|| {
                failed_rows += 1;
                &[]
            });
            for &label in gold {
                support[label] += 1;
            }
            let mut overlap = 0;
            for &label in prediction {
                predicted[label] += 1;
                if gold.contains(&label) {
                    true_positives[label] += 1;
                    overlap += 1;
                }
            }
            let union = gold.len() + prediction.len() - overlap;
            if answered && overlap == gold.len() && overlap == prediction.len() {
                exact += 1;
            }
            jaccard += if union == 0 {
                1.0
            } else {
                overlap as f64 / union as f64
            };
        }
        let per_label: Vec<ClassMetrics> = labels
            .iter()
            .enumerate()
            .map(|(index, label)| {
                class_metrics(
                    label,
                    true_positives[index],
                    predicted[index],
                    support[index],
                )
            })
            .collect();
        let (all_true, all_predicted, all_support) = (
            true_positives.iter().sum(),
            predicted.iter().sum(),
            support.iter().sum(),
        );
        let micro_precision = ratio(all_true, all_predicted);
        let micro_recall = ratio(all_true, all_support);
        Self {
            rows,
            failed_rows,
            exact_match: ratio(exact, rows),
            micro_precision,
            micro_recall,
            micro_f1: f1(micro_precision, micro_recall),
            macro_f1: macro_f1(&per_label),
            jaccard: if rows == 0 {
                0.0
            } else {
                jaccard / rows as f64
            },
            labels: per_label,
        }
    }
}

/// Cohen's kappa of two raters over the same rows (label indices).
pub fn cohen_kappa(count: usize, pairs: &[(usize, usize)]) -> Option<f64> {
    if pairs.is_empty() {
        return None;
    }
    let total = pairs.len() as f64;
    let (mut first, mut second) = (vec![0u64; count], vec![0u64; count]);
    let mut agree = 0u64;
    for &(a, b) in pairs {
        first[a] += 1;
        second[b] += 1;
        if a == b {
            agree += 1;
        }
    }
    let observed = agree as f64 / total;
    let expected: f64 = first
        .iter()
        .zip(&second)
        .map(|(a, b)| (*a as f64 / total) * (*b as f64 / total))
        .sum();
    if (1.0 - expected).abs() < f64::EPSILON {
        return Some(1.0);
    }
    Some((observed - expected) / (1.0 - expected))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(labels: &[&str]) -> Vec<String> {
        labels.iter().map(|label| (*label).to_string()).collect()
    }

    fn close(a: f64, b: f64) {
        assert!((a - b).abs() < 1e-12, "{a} vs {b}");
    }

    /// Worked by hand. Gold/predicted over labels A=0, B=1, C=2:
    /// A→A, A→A, A→B, B→B, B→C, C→C, C→failed, A→failed.
    #[test]
    fn single_label_metrics_match_the_hand_computation() {
        let labels = names(&["A", "B", "C"]);
        let pairs = [
            (0, Some(0)),
            (0, Some(0)),
            (0, Some(1)),
            (1, Some(1)),
            (1, Some(2)),
            (2, Some(2)),
            (2, None),
            (0, None),
        ];
        let metrics = SingleLabelMetrics::compute(&labels, pairs);
        assert_eq!(metrics.rows, 8);
        assert_eq!(metrics.failed_rows, 2);
        close(metrics.accuracy, 4.0 / 8.0);
        // A: tp 2, predicted 2, support 4 → P 1, R 0.5, F1 2/3.
        // B: tp 1, predicted 2, support 2 → P 0.5, R 0.5, F1 0.5.
        // C: tp 1, predicted 2, support 2 → P 0.5, R 0.5, F1 0.5.
        close(metrics.classes[0].precision, 1.0);
        close(metrics.classes[0].recall, 0.5);
        close(metrics.classes[0].f1, 2.0 / 3.0);
        close(metrics.classes[1].f1, 0.5);
        close(metrics.classes[2].f1, 0.5);
        close(metrics.macro_f1, (2.0 / 3.0 + 0.5 + 0.5) / 3.0);
        close(
            metrics.weighted_f1,
            (2.0 / 3.0 * 4.0 + 0.5 * 2.0 + 0.5 * 2.0) / 8.0,
        );
        assert_eq!(
            metrics.confusion,
            vec![vec![2, 1, 0, 1], vec![0, 1, 1, 0], vec![0, 0, 1, 1]]
        );
    }

    #[test]
    fn absent_classes_do_not_drag_the_macro_average() {
        let labels = names(&["A", "B", "C"]);
        let metrics = SingleLabelMetrics::compute(&labels, [(0, Some(0)), (1, Some(1))]);
        close(metrics.macro_f1, 1.0);
        assert_eq!(metrics.classes[2].support, 0);
    }

    /// Worked by hand. Labels x=0, y=1, z=2; rows (gold → predicted):
    /// {x,y}→{x,y}, {x}→{x,z}, {y,z}→{z}, {z}→failed.
    #[test]
    fn multi_label_metrics_match_the_hand_computation() {
        let labels = names(&["x", "y", "z"]);
        let rows: [(&[usize], Option<&[usize]>); 4] = [
            (&[0, 1], Some(&[0, 1])),
            (&[0], Some(&[0, 2])),
            (&[1, 2], Some(&[2])),
            (&[2], None),
        ];
        let metrics = MultiLabelMetrics::compute(&labels, rows);
        assert_eq!(metrics.rows, 4);
        assert_eq!(metrics.failed_rows, 1);
        close(metrics.exact_match, 0.25);
        // x: tp 2, predicted 2, support 2 → F1 1.
        // y: tp 1, predicted 1, support 2 → P 1, R 0.5, F1 2/3.
        // z: tp 1, predicted 2, support 2 → P 0.5, R 0.5, F1 0.5.
        close(metrics.labels[0].f1, 1.0);
        close(metrics.labels[1].f1, 2.0 / 3.0);
        close(metrics.labels[2].f1, 0.5);
        close(metrics.macro_f1, (1.0 + 2.0 / 3.0 + 0.5) / 3.0);
        // micro: tp 4, predicted 5, support 6 → P 0.8, R 2/3, F1 = 2·0.8·(2/3)/(0.8+2/3).
        close(metrics.micro_precision, 0.8);
        close(metrics.micro_recall, 4.0 / 6.0);
        close(
            metrics.micro_f1,
            2.0 * 0.8 * (4.0 / 6.0) / (0.8 + 4.0 / 6.0),
        );
        // Jaccard: 1, 1/2, 1/2, 0.
        close(metrics.jaccard, 2.0 / 4.0);
    }

    #[test]
    fn kappa_is_one_for_perfect_agreement_and_zero_for_chance() {
        close(cohen_kappa(2, &[(0, 0), (1, 1)]).unwrap(), 1.0);
        // Observed 0.5; each rater says 0 and 1 half the time: expected 0.5 → kappa 0.
        close(
            cohen_kappa(2, &[(0, 0), (0, 1), (1, 0), (1, 1)]).unwrap(),
            0.0,
        );
        assert!(cohen_kappa(2, &[]).is_none());
    }
}
