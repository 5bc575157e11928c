//! Finalize: once every request has its result, calibrate scored labels, write the results
//! and errors files through the sink, mark the run finished, and sum it up.

use std::path::Path;
use std::time::Instant;

use batchlabel_core::RunState;
use batchlabel_ledger::{Ledger, RunRecord};
use batchlabel_spec::{Output, OutputFormat};

use crate::LifecycleError;
use crate::driver::{RunSummary, Runner, Timings};

impl Runner<'_> {
    /// Calibrate, write the results, and mark the run finished (a cancelled run stays
    /// cancelled).
    pub(crate) fn finish(mut self) -> Result<RunSummary, LifecycleError> {
        let output = self.job.output.clone().unwrap_or_else(|| Output {
            path: self.run_dir.join("results.jsonl"),
            format: OutputFormat::Jsonl,
            errors_path: self.run_dir.join("results.errors.jsonl"),
            write_back: None,
        });
        let calibration = crate::calibrate::calibrate(&mut self.ledger, self.run.id, self.job)?;
        if calibration.rows > 0 {
            self.observer.event(&format!(
                "calibrated {} scored row(s) against each label's mean score: {} label(s) changed",
                calibration.rows, calibration.changed
            ));
        }
        let stage = Instant::now();
        let written = batchlabel_sink::write_results(&self.ledger, self.run.id, self.job, &output)?;
        self.timings.sink_seconds = stage.elapsed().as_secs_f64();
        if written.not_written_back > 0
            && let Some(write_back) = &output.write_back
        {
            self.observer.event(&format!(
                "warning: {} labeled row(s) were not written back: table `{}` has no row with their id (their labels are in the ledger and the results)",
                written.not_written_back, write_back.table
            ));
        }
        if self.ledger.run_state(self.run.id)? != RunState::Cancelled {
            self.ledger.set_run_state(self.run.id, RunState::Finished)?;
        }
        // Nothing of an ended run is retried: its shard files and downloads can go (see
        // `disk.rs`); the ledger and the results stay.
        let keep = [output.path.as_path(), output.errors_path.as_path()];
        let output_path = output.writes_file().then(|| output.path.clone());
        let freed = crate::disk::drop_run_files(&self.run_dir, &self.ledger, self.run.id, &keep);
        freed.report(self.observer, self.run.id);
        self.ledger.truncate_log();
        self.timings.total_seconds = self.started.elapsed().as_secs_f64();
        let status = crate::status::run_status(&self.ledger, self.run.id, Some(&written))?;
        Ok(RunSummary {
            run: self.run.id,
            counts: status.counts,
            output: output_path,
            errors: Some(output.errors_path),
            run_dir: self.run_dir,
            submitted_only: false,
            timings: self.timings,
        })
    }

    /// `--no-wait`: every planned shard is submitted; the run returns.
    pub(crate) fn submitted_only(mut self) -> Result<RunSummary, LifecycleError> {
        self.timings.total_seconds = self.started.elapsed().as_secs_f64();
        summarize(&self.ledger, &self.run, &self.run_dir, self.timings)
    }
}

/// The summary of a run that returned before its results (submitted only, or an earlier
/// run still being collected).
pub(crate) fn summarize(
    ledger: &Ledger,
    run: &RunRecord,
    run_dir: &Path,
    timings: Timings,
) -> Result<RunSummary, LifecycleError> {
    let status = crate::status::run_status(ledger, run.id, None)?;
    Ok(RunSummary {
        run: run.id,
        counts: status.counts,
        output: None,
        errors: None,
        run_dir: run_dir.to_path_buf(),
        submitted_only: true,
        timings,
    })
}
