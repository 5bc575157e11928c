//! `batchlabel clean`: the shard files a run left behind (as releases before runs dropped
//! their own did) are reported by `--dry-run`, kept by `--older-than` while young, removed
//! otherwise; the ledger and the results always stay, and a run with batches in flight is
//! never touched.

use serde_json::Value;

use crate::Scratch;
use crate::local_server::LocalServer;
use crate::run::{job, run};

fn clean(scratch: &Scratch, extra: &[&str]) -> Value {
    let mut args = vec!["clean", "job.yaml", "--json"];
    args.extend_from_slice(extra);
    let outcome = scratch.run(&args);
    assert_eq!(outcome.code, 0, "{outcome:?}");
    let value: Value = serde_json::from_str(&outcome.stdout).expect("clean JSON");
    value["clean"].clone()
}

#[test]
fn clean_removes_what_finished_runs_left_and_nothing_else() {
    let scratch = Scratch::new();
    job(&scratch, 30, 10, 1);
    let server = LocalServer::start(scratch.path(), &[]);
    assert_eq!(run(&scratch, &server, &[]).code, 0);
    // Run 1's folder as an older release left it: its shard files still there.
    let job_dir = scratch.path().join(".batchlabel/test-job");
    let left = job_dir.join("runs/1/attempt-1/shard-00001.jsonl");
    std::fs::create_dir_all(left.parent().unwrap()).unwrap();
    std::fs::write(&left, "{\"custom_id\":\"r-t0\"}\n".repeat(100)).unwrap();
    // Run 2 is the latest and finished too: a second run keeps run 1 "over".
    assert_eq!(run(&scratch, &server, &["--new-run"]).code, 0);

    let dry = clean(&scratch, &["--dry-run"]);
    assert_eq!(dry["dry_run"], true);
    assert!(dry["files"].as_u64().unwrap() >= 1, "{dry:#}");
    assert!(dry["bytes"].as_u64().unwrap() >= 2_000, "{dry:#}");
    assert!(left.exists(), "a dry run removes nothing");

    let young = clean(&scratch, &["--older-than", "1"]);
    assert_eq!(young["files"], 0, "{young:#}");
    assert_eq!(young["runs"][0]["kept"], "newer than --older-than");
    assert!(left.exists());

    let text = scratch.run(&["clean", "job.yaml"]);
    assert_eq!(text.code, 0, "{text:?}");
    assert!(
        text.stdout.contains("the ledger and the results are kept"),
        "{text:?}"
    );
    assert!(!left.exists(), "{text:?}");
    assert!(scratch.path().join("out/results.csv").exists());
    assert_eq!(crate::run::status(&scratch)["labeled_rows"], 30);
    assert_eq!(
        clean(&scratch, &[])["files"],
        0,
        "a second clean finds nothing"
    );
}

#[test]
fn clean_leaves_a_run_with_batches_in_flight_alone() {
    let scratch = Scratch::new();
    job(&scratch, 30, 10, 1);
    let server = LocalServer::start(scratch.path(), &["--step-delay-ms", "3000"]);
    assert_eq!(run(&scratch, &server, &["--no-wait"]).code, 0);
    let shard = scratch
        .path()
        .join(".batchlabel/test-job/runs/1/attempt-1/shard-00001.jsonl");
    let report = clean(&scratch, &[]);
    let kept = report["runs"][0]["kept"].as_str().unwrap_or_default();
    assert!(kept.contains("in flight"), "{report:#}");
    assert_eq!(report["files"], 0, "{report:#}");
    assert!(shard.exists(), "the in-flight run's shard is kept");
    let unknown = scratch.run(&["clean", "no-such-job"]);
    assert_ne!(unknown.code, 0, "{unknown:?}");
}
