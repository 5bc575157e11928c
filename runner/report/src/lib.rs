//! batchlabel-report: one self-contained HTML page per run — summary, cost (estimated
//! against actual), the label distribution, and with gold labels the confusion-matrix
//! heatmap, per-class F1 bars and the worst rows. Charts are drawn with plotters into inline
//! SVG, so the page needs no network, script or font download to view.

mod charts;
mod page;

pub use page::{ReportInput, RunFacts, render_html};
