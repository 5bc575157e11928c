//! The crash test (issue 4): `batchlabel run` against `batchlabel serve` is killed with SIGKILL
//! at pseudo-random moments, then resumed. Every run must end with every row labeled exactly
//! once, and the server's own counters must show one upload and one batch per shard.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::Scratch;
use crate::local_server::LocalServer;

const RUNS: u64 = 30;
const ROWS: usize = 300;
const SHARDS: usize = 6;

#[test]
fn killed_runs_resume_with_every_row_labeled_once_and_no_shard_sent_twice() {
    let server_dir = tempfile::tempdir().unwrap();
    // Slow steps and dropped answers widen the windows between "done remotely" and "recorded".
    let server = LocalServer::start(
        server_dir.path(),
        &["--step-delay-ms", "40", "--fault-drop-every", "7"],
    );
    let base_url = server.base_url();
    let mut seed: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut kills = 0;
    for iteration in 0..RUNS {
        let scratch = Scratch::new();
        crate::run::job(&scratch, ROWS, (ROWS / SHARDS) as u64, 2);
        let started = Instant::now();
        let mut finished = false;
        // Kill up to three times per run, at a random moment within its first second.
        for _ in 0..3 {
            seed = seed
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            let delay = Duration::from_millis(seed >> 33 & 0x3ff);
            let mut child = Command::new(env!("CARGO_BIN_EXE_batchlabel"))
                .args([
                    "run",
                    "job.yaml",
                    "-q",
                    "--base-url",
                    &base_url,
                    "--poll-interval",
                    "0.02",
                    "--max-poll-interval",
                    "0.05",
                ])
                .current_dir(scratch.path())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .unwrap();
            std::thread::sleep(delay);
            if child.try_wait().unwrap().is_some() {
                finished = true;
                break;
            }
            child.kill().unwrap(); // SIGKILL
            child.wait().unwrap();
            kills += 1;
        }
        let outcome = crate::run::run(&scratch, &server, &[]);
        assert_eq!(
            outcome.code, 0,
            "iteration {iteration} (finished before kill: {finished}): {outcome:?}"
        );
        let summary = crate::run::summary(&outcome);
        assert_eq!(
            summary["labeled_rows"], ROWS as u64,
            "iteration {iteration}: {summary:#}"
        );
        let labels = crate::run::results(&scratch);
        assert_eq!(labels.len(), ROWS, "iteration {iteration}");
        assert!(
            started.elapsed() < Duration::from_mins(1),
            "iteration {iteration} took too long"
        );
    }
    assert!(
        kills >= RUNS,
        "only {kills} kills: the test did not test much"
    );
    let stats = server.stats();
    let uploads = stats["uploads_by_filename"].as_object().unwrap();
    assert_eq!(uploads.len(), RUNS as usize * SHARDS, "{stats:#}");
    for (name, count) in uploads {
        assert_eq!(count, 1, "{name} uploaded {count} times");
    }
    let batches = stats["batches_by_metadata"].as_object().unwrap();
    assert_eq!(batches.len(), RUNS as usize * SHARDS, "{stats:#}");
    for (metadata, count) in batches {
        assert_eq!(count, 1, "{metadata} became {count} batches");
    }
}
