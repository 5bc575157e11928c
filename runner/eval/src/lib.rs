//! batchlabel-eval: how good are the labels? Joins a run's row results with gold labels (an
//! input column or a separate file) and computes single-label metrics (accuracy, macro-F1,
//! per-class precision/recall/F1, confusion matrix) or multi-label ones (micro/macro F1,
//! exact match, per-label F1); compares two runs on the same rows (agreement, Cohen's kappa,
//! the rows that changed). Rows that failed count as wrong and are listed apart.
//!
//! The metrics are pure functions over label indices ([`metrics`]); reading gold labels and
//! results is in [`gold`] and [`evaluation`].

pub mod compare;
pub mod evaluation;
pub mod gold;
pub mod metrics;

use std::path::PathBuf;

pub use compare::{ChangedRow, Comparison, compare};
pub use evaluation::{Evaluation, FailedRow, Prediction, WrongRow, evaluate, predictions};
pub use gold::{Gold, GoldSource, load_gold};
pub use metrics::{ClassMetrics, MultiLabelMetrics, SingleLabelMetrics};

/// Why an evaluation could not be made.
#[derive(Debug, thiserror::Error)]
pub enum EvalError {
    /// The gold file or the input cannot be read.
    #[error(transparent)]
    Source(#[from] batchlabel_source::SourceError),
    /// A gold file or column problem, with what to do.
    #[error("{message}")]
    Gold {
        /// What is wrong.
        message: String,
    },
    /// The spec has no such label field, or several and none was named.
    #[error("{0}")]
    Field(String),
    /// There is no run to evaluate.
    #[error("no run in `{path}`; start one with `batchlabel run SPEC`")]
    NoRun {
        /// The run directory.
        path: PathBuf,
    },
    /// The run cannot be read (its ledger).
    #[error(transparent)]
    Run(Box<dyn std::error::Error + Send + Sync>),
    /// No row has both a result and a gold label.
    #[error(
        "no row of the run has a gold label in {gold} ({results} result rows, {gold_rows} gold rows); are the ids the same?"
    )]
    NoOverlap {
        /// Where gold came from.
        gold: String,
        /// Rows with results.
        results: usize,
        /// Rows with gold labels.
        gold_rows: usize,
    },
    /// A file could not be read.
    #[error("`{path}`: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
}

/// The label field to evaluate: the named one, or the spec's only one.
pub fn choose_field<'a>(
    job: &'a batchlabel_spec::Job,
    name: Option<&str>,
) -> Result<&'a batchlabel_spec::LabelField, EvalError> {
    let names = || {
        job.labels
            .iter()
            .map(|field| format!("`{}`", field.name))
            .collect::<Vec<_>>()
            .join(", ")
    };
    match name {
        Some(name) => job
            .labels
            .iter()
            .find(|field| field.name == name)
            .ok_or_else(|| {
                EvalError::Field(format!(
                    "the spec has no label field `{name}`; its fields are {}",
                    names()
                ))
            }),
        None if job.labels.len() == 1 => Ok(&job.labels[0]),
        None => Err(EvalError::Field(format!(
            "the spec has {} label fields ({}); say which to evaluate with `--field NAME`",
            job.labels.len(),
            names()
        ))),
    }
}
