//! Cleanup on the FakeProvider: ingested shards' inputs and result files are deleted at the
//! provider (journaled, once, retried after a failure without failing the run, not at all
//! with `batch.remote_cleanup: false`), an ended run keeps no shard files or downloads, and
//! `clean` removes an old run's leftovers and nothing else.

use std::path::{Path, PathBuf};

use batchlabel_lifecycle::{CleanOptions, Ledger, ShardRecord};
use batchlabel_test_support::{BatchFate, Call, FakeProvider, Fault};

mod common;

use common::{Events, Setup};

/// `rows` rows in shards of `per_shard`, up to `max_attempts`, `remote_cleanup` as given.
fn job(rows: usize, per_shard: u64, max_attempts: u32, remote_cleanup: bool) -> Setup {
    let setup = common::job(
        "cleanup-job",
        rows,
        per_shard,
        max_attempts,
        &format!("  remote_cleanup: {remote_cleanup}\n"),
    );
    assert_eq!(setup.job.batching.remote_cleanup, remote_cleanup);
    setup
}

impl Setup {
    fn run_dir(&self) -> PathBuf {
        self.settings.run_dir(&self.job.name)
    }

    fn shards(&self, run: i64) -> Vec<ShardRecord> {
        let ledger = Ledger::open_unlocked(&self.run_dir()).expect("ledger");
        ledger.shards(run).expect("shards")
    }
}

/// Every file under `folder`, relative to it, sorted.
fn files_under(folder: &Path) -> Vec<String> {
    fn walk(root: &Path, folder: &Path, found: &mut Vec<String>) {
        for entry in std::fs::read_dir(folder).into_iter().flatten().flatten() {
            let path = entry.path();
            if path.is_dir() {
                walk(root, &path, found);
            } else if let Ok(relative) = path.strip_prefix(root) {
                found.push(relative.to_string_lossy().into_owned());
            }
        }
    }
    let mut found = Vec::new();
    walk(folder, folder, &mut found);
    found.sort();
    found
}

/// A finished run's directory: the ledger (its log at most), its lock and the results.
fn assert_only_ledger_and_results(run_dir: &Path) {
    for file in files_under(run_dir) {
        assert!(
            file.starts_with("ledger.sqlite")
                || file == "ledger.lock"
                || file.starts_with("results."),
            "{file} is left in the run directory: {:?}",
            files_under(run_dir)
        );
    }
    assert!(run_dir.join("results.jsonl").is_file());
}

#[tokio::test]
async fn ingested_shards_are_cleaned_at_the_provider_once_and_journaled() {
    let job = job(7, 3, 3, true);
    let fake = FakeProvider::new();
    let summary = job.finish(&fake).await;
    assert_eq!(summary.counts.labeled_rows, 7);
    let calls = fake.calls();
    assert_eq!((calls.deletes, calls.result_deletes), (3, 3), "{calls:?}");
    assert!(fake.inputs().iter().all(|input| input.deleted));
    assert_eq!(fake.result_files_held(), 0);
    for shard in job.shards(summary.run) {
        assert!(shard.remote_cleaned_at.is_some(), "{shard:?}");
        assert_eq!(shard.result_files.len(), 1, "{shard:?}");
        assert_eq!(shard.cleanup_note, None);
    }
    // Running the finished run again deletes nothing twice.
    let again = job.finish(&fake).await;
    assert_eq!(again.run, summary.run);
    let calls = fake.calls();
    assert_eq!((calls.deletes, calls.result_deletes), (3, 3));
}

#[tokio::test]
async fn remote_cleanup_false_deletes_nothing_remote() {
    let job = job(7, 3, 3, false);
    let fake = FakeProvider::new();
    let summary = job.finish(&fake).await;
    assert_eq!(summary.counts.labeled_rows, 7);
    let calls = fake.calls();
    assert_eq!((calls.deletes, calls.result_deletes), (0, 0));
    assert!(fake.inputs().iter().all(|input| !input.deleted));
    assert_eq!(fake.result_files_held(), 3);
    assert!(
        job.shards(summary.run)
            .iter()
            .all(|shard| shard.remote_cleaned_at.is_none())
    );
    // The local files go all the same.
    assert_only_ledger_and_results(&summary.run_dir);
}

#[tokio::test]
async fn a_failing_delete_is_recorded_and_tried_again_without_failing_the_run() {
    let job = job(4, 2, 3, true);
    let fake = FakeProvider::new().fault(Call::Delete, Fault::Api(500), 1);
    let events = Events::default();
    let summary = job
        .run_with(&fake, &events)
        .await
        .expect("the run finishes");
    assert_eq!(summary.counts.labeled_rows, 4);
    assert_eq!(events.count("could not delete its files"), 1);
    // Tried again before the run ended: every shard is clean.
    assert_eq!(fake.calls().deletes, 3);
    assert!(fake.inputs().iter().all(|input| input.deleted));
    assert_eq!(fake.result_files_held(), 0);
    for shard in job.shards(summary.run) {
        assert!(shard.remote_cleaned_at.is_some(), "{shard:?}");
        assert_eq!(shard.cleanup_note, None, "{shard:?}");
    }
}

#[tokio::test]
async fn a_delete_that_keeps_failing_is_left_for_the_next_run_of_the_spec() {
    let job = job(4, 2, 3, true);
    let fake = FakeProvider::new().fault(Call::DeleteResults, Fault::Api(403), 100);
    let events = Events::default();
    let summary = job
        .run_with(&fake, &events)
        .await
        .expect("the run finishes");
    assert_eq!(summary.counts.labeled_rows, 4);
    assert_eq!(summary.counts.failed_rows, 0);
    assert_eq!(
        events.count("could not delete its files"),
        2,
        "once per shard"
    );
    assert_eq!(events.count("still stored at the provider"), 1);
    for shard in job.shards(summary.run) {
        assert_eq!(shard.remote_cleaned_at, None);
        assert!(
            shard
                .cleanup_note
                .as_deref()
                .is_some_and(|note| note.contains("403")),
            "{shard:?}"
        );
    }
    // The provider lets it delete again: the next run of the spec finishes the cleanup.
    fake.clear_faults(Call::DeleteResults);
    let again = job.finish(&fake).await;
    assert_eq!(again.run, summary.run);
    assert!(
        job.shards(summary.run)
            .iter()
            .all(|shard| shard.remote_cleaned_at.is_some())
    );
    assert_eq!(fake.result_files_held(), 0);
}

#[tokio::test]
async fn a_finished_run_keeps_no_shard_files_or_downloads() {
    // Shard 1's batch fails once: attempt 2 has retry files too.
    let job = job(6, 2, 3, true);
    let fake = FakeProvider::new().nth_batch(1, BatchFate::Fail { queue_full: false });
    let summary = job.finish(&fake).await;
    assert_eq!(
        (summary.counts.labeled_rows, summary.counts.attempts),
        (6, 2)
    );
    assert_only_ledger_and_results(&summary.run_dir);
    assert!(!summary.run_dir.join("runs").exists());
    assert!(!summary.run_dir.join("downloads").exists());
    // The cache works from the ledger: a new run reuses every label without sending.
    let mut again = job;
    again.settings.new_run = true;
    let fresh = again.finish(&fake).await;
    assert_ne!(fresh.run, summary.run);
    assert_eq!(fresh.counts.labeled_rows, 6);
    assert_eq!(fresh.counts.cached_requests, 6);
    assert_eq!(fake.calls().creates, 4, "nothing sent for the new run");
    assert_only_ledger_and_results(&fresh.run_dir);
}

#[tokio::test]
async fn clean_removes_an_ended_runs_leftovers_and_nothing_else() {
    let job = job(4, 2, 3, true);
    let fake = FakeProvider::new();
    let summary = job.finish(&fake).await;
    let run_dir = job.run_dir();
    // Leftovers as an older version left them: shard files, downloads, plus a file of the
    // user's in the run directory.
    let shards = job.shards(summary.run);
    for shard in &shards {
        let path = PathBuf::from(&shard.path);
        std::fs::create_dir_all(path.parent().expect("folder")).expect("mkdir");
        std::fs::write(&path, "{}\n").expect("shard file");
        let output = PathBuf::from(shard.output_path.as_deref().expect("downloaded"));
        std::fs::create_dir_all(output.parent().expect("folder")).expect("mkdir");
        std::fs::write(&output, "0123456789").expect("download");
    }
    std::fs::write(run_dir.join("notes.txt"), "mine").expect("notes");
    let before = files_under(&run_dir);

    let dry = CleanOptions {
        dry_run: true,
        ..CleanOptions::default()
    };
    let report = batchlabel_lifecycle::clean(&job.settings, &job.job.name, &dry).expect("dry");
    assert_eq!(report.files, 4);
    assert_eq!(report.bytes, 2 * 3 + 2 * 10);
    assert_eq!(files_under(&run_dir), before, "a dry run removes nothing");

    let recent = CleanOptions {
        older_than_days: Some(1.0),
        ..CleanOptions::default()
    };
    let report = batchlabel_lifecycle::clean(&job.settings, &job.job.name, &recent).expect("clean");
    assert_eq!(report.files, 0);
    assert_eq!(
        report.runs[0].kept.as_deref(),
        Some("newer than --older-than")
    );

    let report =
        batchlabel_lifecycle::clean(&job.settings, &job.job.name, &CleanOptions::default())
            .expect("clean");
    assert_eq!((report.files, report.bytes), (4, 26));
    assert!(report.runs[0].problems.is_empty(), "{report:?}");
    assert!(!run_dir.join("runs").exists() && !run_dir.join("downloads").exists());
    assert!(
        run_dir.join("notes.txt").is_file(),
        "not named by the ledger: kept"
    );
    assert!(run_dir.join("results.jsonl").is_file());
    let ledger = Ledger::open_unlocked(&run_dir).expect("the ledger is kept");
    assert_eq!(ledger.row_results(summary.run).expect("results").len(), 4);
}

#[tokio::test]
async fn clean_leaves_the_latest_run_that_may_resume() {
    let mut job = job(4, 2, 3, true);
    let fake = FakeProvider::new();
    job.settings.no_wait = true;
    let submitted = job.run(&fake).await.expect("--no-wait");
    assert!(submitted.submitted_only);
    let before = files_under(&job.run_dir());
    let report =
        batchlabel_lifecycle::clean(&job.settings, &job.job.name, &CleanOptions::default())
            .expect("clean");
    assert_eq!(report.files, 0);
    let kept = report.runs[0].kept.as_deref().unwrap_or_default();
    assert!(kept.contains("in flight"), "{kept}");
    assert_eq!(files_under(&job.run_dir()), before);
    // The run resumes from its shard files and finishes.
    job.settings.no_wait = false;
    let summary = job.finish(&fake).await;
    assert_eq!(summary.counts.labeled_rows, 4);
    assert_only_ledger_and_results(&summary.run_dir);
}
