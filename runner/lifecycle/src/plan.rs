//! Plan: compile the run's rows into shards (reusing requests earlier runs labeled) and
//! register them in the ledger, which moves the run from `compiling` to `running`.

use std::fmt::Write as _;

use batchlabel_compile::{CompileOptions, CompileReport};

use crate::LifecycleError;
use crate::driver::Runner;
use crate::record::register_compile;

impl Runner<'_> {
    /// Compile and register the run's first attempt.
    pub(crate) fn plan(&mut self) -> Result<CompileReport, LifecycleError> {
        let labeled = self.reusable_fingerprints()?;
        let compile_dir = self.run_files.join("attempt-1");
        self.observer.event(&format!(
            "compiling requests into {}",
            compile_dir.display()
        ));
        let cost_model = self.budget.as_ref().map(|budget| &budget.cost);
        let report = batchlabel_compile::compile(
            self.job,
            &CompileOptions {
                out_dir: Some(compile_dir.clone()),
                // Token counts only feed the budget's bounds.
                count_tokens: cost_model.is_some(),
                progress: None,
                labeled: (!labeled.is_empty()).then(|| std::sync::Arc::new(labeled)),
                row_limit: self.settings.limit,
                row_filter: None,
                request_hook: self.settings.plugins.request.clone(),
            },
        )?;
        if let Some(read) = &report.query_identity
            && (read.size, read.version) != (self.run.input.size, self.run.input.version)
        {
            // Two reads of the query disagree: the table changed in between. Nothing is
            // registered or sent; the next `run` sees the new rows as a new input.
            return Err(LifecycleError::InputChangedWhileReading {
                location: self.job.input.path.to_string_lossy().into_owned(),
            });
        }
        register_compile(
            &mut self.ledger,
            self.run.id,
            &compile_dir,
            &report,
            cost_model,
        )?;
        self.observer.event(&describe(&report));
        Ok(report)
    }
}

impl Runner<'_> {
    /// The requests earlier runs labeled that this run may reuse. With validator plugins,
    /// every earlier answer is checked again by them (they may differ from the earlier run's),
    /// and only those that still pass unchanged are reused: the rest are asked again.
    fn reusable_fingerprints(&self) -> Result<std::collections::HashSet<u128>, LifecycleError> {
        if self.checks.plugins.is_empty() {
            return Ok(self.ledger.labeled_fingerprints()?);
        }
        let (mut kept, mut dropped) = (0u64, 0u64);
        let checks = &self.checks;
        let reusable = self.ledger.revalidated_fingerprints(|custom_id, output| {
            let valid = crate::judge::still_valid(output, checks, custom_id);
            if valid {
                kept += 1;
            } else {
                dropped += 1;
            }
            valid
        })?;
        if kept + dropped > 0 {
            self.observer.event(&format!(
                "re-validated {} earlier answer(s) with this job's validators: {kept} still hold, {dropped} will be asked again",
                kept + dropped
            ));
        }
        Ok(reusable)
    }
}

/// `N row(s) → M request(s) in K shard(s)`, with duplicates and reused requests.
fn describe(report: &CompileReport) -> String {
    let mut text = format!(
        "{} row(s) → {} request(s) in {} shard(s)",
        report.rows,
        report.requests - report.cached_requests,
        report.shards.len()
    );
    if report.duplicate_rows > 0 {
        let _ = write!(
            text,
            ", {} duplicate row(s) share a request",
            report.duplicate_rows
        );
    }
    if report.cached_requests > 0 {
        let _ = write!(
            text,
            ", {} request(s) already labeled by an earlier run",
            report.cached_requests
        );
    }
    text
}
