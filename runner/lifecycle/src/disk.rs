//! Local disk: what a run directory keeps once it no longer needs it. Downloaded result files
//! go as soon as their shard is ingested (their contents are in the ledger). A run's compiled
//! and retry shard files (`runs/<id>/`) go once the run is over — finished, cancelled or
//! superseded — because only retries read them (`retry.rs` cuts retry lines from the first
//! attempt's files) and an ended run is never retried; the cross-run cache reads request
//! fingerprints from the ledger, never these files. The ledger and the results are kept.
//!
//! Only files inside the run directory are removed, whatever the ledger says: downloads are
//! looked up by file name in `downloads/`, and a run's folder is `runs/<id>`.

use std::path::{Path, PathBuf};

use batchlabel_ledger::{Ledger, ShardRecord};

use crate::driver::RunObserver;

/// The folder downloaded result files go to, in a run directory.
pub(crate) const DOWNLOADS: &str = "downloads";

/// What removing files freed (or, in a dry run, would free).
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub(crate) struct Freed {
    pub(crate) files: u64,
    pub(crate) bytes: u64,
    /// Files that could not be removed, with why.
    pub(crate) problems: Vec<String>,
}

impl Freed {
    fn add(&mut self, other: Freed) {
        self.files += other.files;
        self.bytes += other.bytes;
        self.problems.extend(other.problems);
    }

    /// One line for the run's events, when there is anything to say.
    pub(crate) fn report(&self, observer: &dyn RunObserver, run_id: i64) {
        if self.files > 0 {
            observer.event(&format!(
                "run {run_id} is over: removed its shard files and downloads ({} file(s), {})",
                self.files,
                human_bytes(self.bytes)
            ));
        }
        for problem in &self.problems {
            observer.event(&format!("could not remove {problem}"));
        }
    }
}

/// `12.3 MB`.
pub fn human_bytes(bytes: u64) -> String {
    const UNITS: [&str; 4] = ["B", "kB", "MB", "GB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1000.0 && unit + 1 < UNITS.len() {
        value /= 1000.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{bytes} B")
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}

/// Where a shard's downloaded result files are (or were): their file names in `downloads/`.
fn download_paths(run_dir: &Path, shard: &ShardRecord) -> Vec<PathBuf> {
    [&shard.output_path, &shard.error_path]
        .into_iter()
        .flatten()
        .filter_map(|path| Path::new(path).file_name())
        .map(|name| run_dir.join(DOWNLOADS).join(name))
        .collect()
}

/// Remove (or, with `dry_run`, measure) one file; one already gone frees nothing.
fn remove_file(path: &Path, dry_run: bool) -> Freed {
    let mut freed = Freed::default();
    let Ok(metadata) = std::fs::symlink_metadata(path) else {
        return freed;
    };
    if !metadata.is_file() {
        return freed;
    }
    match if dry_run {
        Ok(())
    } else {
        std::fs::remove_file(path)
    } {
        Ok(()) => {
            freed.files = 1;
            freed.bytes = metadata.len();
        }
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => {}
        Err(error) => freed
            .problems
            .push(format!("`{}`: {error}", path.display())),
    }
    freed
}

/// Remove a shard's downloaded result files. Best effort: a file left behind costs disk
/// only, and the run's end (or `batchlabel clean`) tries again.
pub(crate) fn remove_downloads(run_dir: &Path, shard: &ShardRecord) -> Freed {
    let mut freed = Freed::default();
    for path in download_paths(run_dir, shard) {
        freed.add(remove_file(&path, false));
    }
    freed
}

/// Files and bytes under `folder` (links not followed).
fn measure(folder: &Path) -> Freed {
    let mut freed = Freed::default();
    let Ok(entries) = std::fs::read_dir(folder) else {
        return freed;
    };
    for entry in entries.flatten() {
        let Ok(metadata) = std::fs::symlink_metadata(entry.path()) else {
            continue;
        };
        if metadata.is_dir() {
            freed.add(measure(&entry.path()));
        } else {
            freed.files += 1;
            freed.bytes += metadata.len();
        }
    }
    freed
}

/// Whether `path` is `folder` or inside it, compared as written and, when both exist, as
/// resolved (links, `..`).
fn inside(path: &Path, folder: &Path) -> bool {
    if path.starts_with(folder) {
        return true;
    }
    match (std::fs::canonicalize(path), std::fs::canonicalize(folder)) {
        (Ok(path), Ok(folder)) => path.starts_with(folder),
        _ => false,
    }
}

/// Remove what an ended run no longer needs: its downloads and its folder `runs/<id>` (its
/// compiled and retry shard files). A folder holding one of `keep` (files the user named,
/// like the results) is left whole. With `dry_run`, only measures.
pub(crate) fn drop_run_files_with(
    run_dir: &Path,
    ledger: &Ledger,
    run_id: i64,
    keep: &[&Path],
    dry_run: bool,
) -> Freed {
    let mut freed = Freed::default();
    match ledger.shards(run_id) {
        Ok(shards) => {
            for shard in &shards {
                for path in download_paths(run_dir, shard) {
                    if !keep.iter().any(|kept| inside(kept, &path)) {
                        freed.add(remove_file(&path, dry_run));
                    }
                }
            }
        }
        Err(error) => freed
            .problems
            .push(format!("the downloads of run {run_id}: {error}")),
    }
    let folder = run_dir.join("runs").join(run_id.to_string());
    if keep.iter().any(|kept| inside(kept, &folder)) {
        freed.problems.push(format!(
            "`{}`: it holds a file of yours, kept",
            folder.display()
        ));
        return freed;
    }
    let here = measure(&folder);
    if here.files == 0 && !folder.exists() {
        return freed;
    }
    if dry_run {
        freed.add(here);
    } else {
        match std::fs::remove_dir_all(&folder) {
            Ok(()) => freed.add(here),
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => {}
            // Part of it may be gone: count what is.
            Err(error) => {
                let left = measure(&folder);
                freed.files += here.files.saturating_sub(left.files);
                freed.bytes += here.bytes.saturating_sub(left.bytes);
                freed
                    .problems
                    .push(format!("`{}`: {error}", folder.display()));
            }
        }
        // Empty folders left behind go too (one holding anything stays).
        let _ = std::fs::remove_dir(run_dir.join("runs"));
        let _ = std::fs::remove_dir(run_dir.join(DOWNLOADS));
    }
    freed
}

/// [`drop_run_files_with`], removing, nothing kept but what is outside the run's folder.
pub(crate) fn drop_run_files(
    run_dir: &Path,
    ledger: &Ledger,
    run_id: i64,
    keep: &[&Path],
) -> Freed {
    drop_run_files_with(run_dir, ledger, run_id, keep, false)
}
