//! `batchlabel clean`: remove the local shard files and downloads of a job's runs that are
//! over, for run directories written before runs dropped them themselves, or left by a run
//! that was abandoned. Never the ledger, never the results or errors files, never a run that
//! may still be resumed or has batches in flight. The ledger's lock keeps it away from a run
//! going on in the same directory.

use std::path::PathBuf;

use batchlabel_core::RunState;
use batchlabel_ledger::Ledger;
use serde::Serialize;

use crate::disk::drop_run_files_with;
use crate::{LifecycleError, RunSettings};

/// What `clean` is asked to do.
#[derive(Debug, Clone, Default)]
pub struct CleanOptions {
    /// Only runs that ended (or, when they never finished, started) more than this many days
    /// ago.
    pub older_than_days: Option<f64>,
    /// Say what would be removed; remove nothing.
    pub dry_run: bool,
    /// Files never removed, even inside a run's folder (the job's results and errors files).
    pub keep: Vec<PathBuf>,
}

/// One run, as `clean` found it.
#[derive(Debug, Clone, Serialize)]
pub struct CleanedRun {
    /// Ledger id.
    pub run: i64,
    /// Where it is.
    pub state: RunState,
    /// Files removed (or, in a dry run, that would be).
    pub files: u64,
    /// Their bytes.
    pub bytes: u64,
    /// Why it was left alone, when it was.
    pub kept: Option<String>,
    /// Files that could not be removed, with why.
    pub problems: Vec<String>,
}

/// What `clean` did (or would do).
#[derive(Debug, Clone, Serialize)]
pub struct CleanReport {
    /// The run directory.
    pub run_dir: PathBuf,
    /// Nothing was removed.
    pub dry_run: bool,
    /// Every run of the ledger, oldest first.
    pub runs: Vec<CleanedRun>,
    /// Files removed in all.
    pub files: u64,
    /// Bytes freed in all.
    pub bytes: u64,
}

/// Remove the shard files and downloads of `job_name`'s runs that are over (finished,
/// cancelled, superseded, or an earlier run that a later one replaced), as old as asked.
pub fn clean(
    settings: &RunSettings,
    job_name: &str,
    options: &CleanOptions,
) -> Result<CleanReport, LifecycleError> {
    let run_dir = settings.run_dir(job_name);
    if !Ledger::exists(&run_dir) {
        return Err(LifecycleError::NoRun { path: run_dir });
    }
    let cutoff = match options.older_than_days {
        Some(days) if days.is_finite() && days >= 0.0 => {
            Some(batchlabel_core::now().saturating_sub((days * 86_400.0) as i64))
        }
        Some(days) => {
            return Err(LifecycleError::Internal(format!(
                "--older-than takes a number of days ≥ 0, not {days}"
            )));
        }
        None => None,
    };
    // Locked even for a dry run: what it reports must not change under it.
    let ledger = Ledger::open(&run_dir)?;
    let ages = ledger.run_ages()?;
    let latest = ages.iter().map(|age| age.id).max();
    let keep: Vec<&std::path::Path> = options.keep.iter().map(PathBuf::as_path).collect();
    let mut report = CleanReport {
        run_dir: run_dir.clone(),
        dry_run: options.dry_run,
        runs: Vec::new(),
        files: 0,
        bytes: 0,
    };
    for age in ages {
        let over = matches!(
            age.state,
            RunState::Finished | RunState::Cancelled | RunState::Superseded
        );
        let in_flight = ledger.shards_in_flight(age.id)?;
        let kept = if in_flight > 0 {
            Some(format!("{in_flight} batch(es) in flight"))
        } else if !over && Some(age.id) == latest {
            Some(format!(
                "the latest run ({}): `batchlabel run` resumes it",
                age.state
            ))
        } else if let Some(cutoff) = cutoff
            && age.finished_at.unwrap_or(age.created_at) > cutoff
        {
            Some("newer than --older-than".to_string())
        } else {
            None
        };
        let freed = match &kept {
            Some(_) => crate::disk::Freed::default(),
            None => drop_run_files_with(&run_dir, &ledger, age.id, &keep, options.dry_run),
        };
        report.files += freed.files;
        report.bytes += freed.bytes;
        report.runs.push(CleanedRun {
            run: age.id,
            state: age.state,
            files: freed.files,
            bytes: freed.bytes,
            kept,
            problems: freed.problems,
        });
    }
    if !options.dry_run {
        ledger.truncate_log();
    }
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_folder_without_a_ledger_is_no_run_and_bad_days_are_refused() {
        let scratch = tempfile::tempdir().expect("temp dir");
        let settings = RunSettings::reading(scratch.path());
        let error = clean(&settings, "job", &CleanOptions::default()).expect_err("no run");
        assert!(matches!(error, LifecycleError::NoRun { .. }), "{error}");
        Ledger::open(&settings.run_dir("job")).expect("a ledger");
        for days in [-1.0, f64::NAN, f64::INFINITY] {
            let options = CleanOptions {
                older_than_days: Some(days),
                ..CleanOptions::default()
            };
            let error = clean(&settings, "job", &options).expect_err("refused");
            assert!(error.to_string().contains("--older-than"), "{error}");
        }
        let report = clean(&settings, "job", &CleanOptions::default()).expect("empty");
        assert_eq!((report.runs.len(), report.files), (0, 0));
    }
}
