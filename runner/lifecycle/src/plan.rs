//! Plan: compile the run's rows into shards (reusing requests earlier runs labeled) and
//! register them in the ledger, which moves the run from `compiling` to `running`.

use std::fmt::Write as _;

use batchlabel_compile::{CompileOptions, CompileReport};

use batchlabel_ledger::{LedgerError, Reusable, Verdict};

use crate::LifecycleError;
use crate::driver::Runner;
use crate::record::register_compile;

impl Runner<'_> {
    /// Compile and register the run's first attempt.
    pub(crate) fn plan(&mut self) -> Result<CompileReport, LifecycleError> {
        let reusable = self.reusable_requests()?;
        let labeled = reusable.fingerprints();
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
            &reusable.relabeled,
        )?;
        self.observer.event(&describe(&report));
        Ok(report)
    }
}

impl Runner<'_> {
    /// The requests earlier runs answered that this run may reuse. Answers earlier checks
    /// rejected are judged again by this job's (they may accept them now); with validator
    /// plugins, accepted answers are too, from what the model said. What passes is reused,
    /// with this job's labels; only what fails now is asked again.
    fn reusable_requests(&self) -> Result<Reusable, LedgerError> {
        let checks = &self.checks;
        let validators = !checks.plugins.is_empty();
        let (mut kept, mut relabeled, mut dropped) = (0u64, 0u64, 0u64);
        let mut reusable = self.ledger.judge_earlier_answers(validators, |earlier| {
            let verdict =
                match crate::judge::judged_again(earlier.answer, checks, earlier.custom_id) {
                    None => Verdict::Drop,
                    Some(labels) => {
                        let unchanged = earlier.labels.is_some_and(|earlier| {
                            serde_json::from_str::<serde_json::Value>(earlier).ok()
                                == Some(labels.clone())
                        });
                        if unchanged {
                            Verdict::Keep
                        } else {
                            Verdict::Relabel(labels.to_string())
                        }
                    }
                };
            match verdict {
                Verdict::Keep => kept += 1,
                Verdict::Relabel(_) => relabeled += 1,
                Verdict::Drop => dropped += 1,
            }
            verdict
        })?;
        if !validators {
            reusable.kept.extend(self.ledger.labeled_fingerprints()?);
        }
        if kept + relabeled + dropped > 0 {
            self.observer.event(&format!(
                "re-validated {} earlier answer(s) with this job's checks: {kept} hold as they were, {relabeled} pass now with new labels, {dropped} will be asked again",
                kept + relabeled + dropped
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
