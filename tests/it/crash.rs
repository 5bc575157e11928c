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
    let kills = killed_runs(RUNS, &server.base_url(), &|spec| spec);
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

/// The crash test on Azure OpenAI's protocol (`/openai/v1/…`, `api-key`, a deployment per
/// line): every shard one upload and one batch.
#[test]
fn azure_runs_killed_at_random_resume_with_no_shard_sent_twice() {
    const AZURE_RUNS: u64 = 10;
    let server_dir = tempfile::tempdir().unwrap();
    let server = LocalServer::start(
        server_dir.path(),
        &["--step-delay-ms", "40", "--fault-drop-every", "7"],
    );
    let origin = format!("http://{}", server.address);
    let kills = killed_runs(AZURE_RUNS, &origin, &|spec| {
        spec.replace(
            "  provider: openai\n",
            "  provider: azure_openai\n  azure: {deployment: labels-batch}\n",
        )
    });
    assert!(kills >= AZURE_RUNS, "only {kills} kills");
    let stats = server.stats();
    assert_eq!(
        stats["batches_by_front"]["azure"],
        AZURE_RUNS * SHARDS as u64,
        "{stats:#}"
    );
    for (name, count) in stats["uploads_by_filename"].as_object().unwrap() {
        assert_eq!(count, 1, "{name} uploaded {count} times");
    }
    for (metadata, count) in stats["batches_by_metadata"].as_object().unwrap() {
        assert_eq!(count, 1, "{metadata} became {count} batches");
    }
}

/// The crash test on Anthropic's Message Batches (no uploads, no metadata: a lost create is
/// found by listing and matching): every shard exactly one message batch.
#[test]
fn anthropic_runs_killed_at_random_resume_with_no_shard_sent_twice() {
    const ANTHROPIC_RUNS: u64 = 10;
    let server_dir = tempfile::tempdir().unwrap();
    let server = LocalServer::start(
        server_dir.path(),
        &["--step-delay-ms", "40", "--fault-drop-every", "7"],
    );
    let origin = format!("http://{}", server.address);
    let kills = killed_runs(ANTHROPIC_RUNS, &origin, &|spec| {
        spec.replace(
            "  provider: openai\n  name: gpt-4o-mini\n",
            "  provider: anthropic\n  name: claude-haiku-4-5\n",
        )
    });
    assert!(kills >= ANTHROPIC_RUNS, "only {kills} kills");
    let stats = server.stats();
    assert_eq!(
        stats["anthropic_batches"],
        ANTHROPIC_RUNS * SHARDS as u64,
        "one message batch per shard: {stats:#}"
    );
}

/// The crash test on the Gemini API's batch mode (resumable uploads, batches found again by
/// their display names): every shard one upload and one batch.
#[test]
fn gemini_runs_killed_at_random_resume_with_no_shard_sent_twice() {
    const GEMINI_RUNS: u64 = 8;
    let server_dir = tempfile::tempdir().unwrap();
    let server = LocalServer::start(
        server_dir.path(),
        &["--step-delay-ms", "40", "--fault-drop-every", "7"],
    );
    let origin = format!("http://{}", server.address);
    let kills = killed_runs(GEMINI_RUNS, &origin, &|spec| {
        spec.replace(
            "  provider: openai\n  name: gpt-4o-mini\n",
            "  provider: gemini\n  name: gemini-2.5-flash\n",
        )
    });
    assert!(kills >= GEMINI_RUNS, "only {kills} kills");
    let stats = server.stats();
    assert_eq!(
        stats["gemini_batches"],
        GEMINI_RUNS * SHARDS as u64,
        "one batch per shard: {stats:#}"
    );
    for (name, count) in stats["gemini_batches_by_display_name"].as_object().unwrap() {
        assert_eq!(count, 1, "{name} became {count} batches");
    }
    // A lost upload answer is found by display name, never uploaded again.
    assert_eq!(
        stats["gemini_uploads"],
        GEMINI_RUNS * SHARDS as u64,
        "one upload per shard: {stats:#}"
    );
}

/// The crash test on Mistral's batch jobs (uploads found by name, jobs by metadata).
#[test]
fn mistral_runs_killed_at_random_resume_with_no_shard_sent_twice() {
    const MISTRAL_RUNS: u64 = 8;
    let server_dir = tempfile::tempdir().unwrap();
    let server = LocalServer::start(
        server_dir.path(),
        &["--step-delay-ms", "40", "--fault-drop-every", "7"],
    );
    let origin = format!("http://{}", server.address);
    let kills = killed_runs(MISTRAL_RUNS, &origin, &|spec| {
        spec.replace(
            "  provider: openai\n  name: gpt-4o-mini\n",
            "  provider: mistral\n  name: mistral-small-latest\n",
        )
    });
    assert!(kills >= MISTRAL_RUNS, "only {kills} kills");
    let stats = server.stats();
    assert_eq!(
        stats["mistral_jobs"],
        MISTRAL_RUNS * SHARDS as u64,
        "one job per shard: {stats:#}"
    );
    for (name, count) in stats["uploads_by_filename"].as_object().unwrap() {
        assert_eq!(count, 1, "{name} uploaded {count} times");
    }
    for (metadata, count) in stats["batches_by_metadata"].as_object().unwrap() {
        assert_eq!(count, 1, "{metadata} became {count} batches");
    }
}

/// The crash test with packing (`batch.pack`): a packed shard is uploaded once and becomes
/// one batch, and its items are labeled once, however the runs were killed.
#[test]
fn packed_runs_killed_at_random_resume_with_every_row_labeled_once() {
    const PACKED_RUNS: u64 = 10;
    let server_dir = tempfile::tempdir().unwrap();
    let server = LocalServer::start(
        server_dir.path(),
        &["--step-delay-ms", "40", "--fault-drop-every", "7"],
    );
    let kills = killed_runs(PACKED_RUNS, &server.base_url(), &|spec| {
        spec.replacen("\nbatch:\n", "\nbatch:\n  pack: 4\n", 1)
    });
    assert!(kills >= PACKED_RUNS, "only {kills} kills");
    let stats = server.stats();
    let uploads = stats["uploads_by_filename"].as_object().unwrap();
    assert_eq!(uploads.len(), PACKED_RUNS as usize * SHARDS, "{stats:#}");
    for (name, count) in uploads {
        assert_eq!(count, 1, "{name} uploaded {count} times");
    }
    for (metadata, count) in stats["batches_by_metadata"].as_object().unwrap() {
        assert_eq!(count, 1, "{metadata} became {count} batches");
    }
    // Packs were sent: 13 requests of up to 4 rows per 50-row shard, not a request per row.
    let packs = PACKED_RUNS * SHARDS as u64 * (ROWS / SHARDS).div_ceil(4) as u64;
    assert_eq!(stats["requests_in_batches"], packs, "{stats:#}");
}

/// `runs` jobs of [`ROWS`] rows in [`SHARDS`] shards, each `batchlabel run` killed with SIGKILL
/// up to three times at random moments and then run to the end against `base_url`; every row
/// labeled once. `adapt` rewrites the spec (its provider). Returns how many kills there were.
fn killed_runs(runs: u64, base_url: &str, adapt: &dyn Fn(String) -> String) -> u64 {
    let mut seed: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut kills = 0;
    for iteration in 0..runs {
        let scratch = Scratch::new();
        crate::run::job(&scratch, ROWS, (ROWS / SHARDS) as u64, 2);
        // A job of its own per iteration: a fresh ledger with the same job, spec and input
        // would (rightly) take over the previous iteration's batches.
        let spec = std::fs::read_to_string(scratch.path().join("job.yaml")).unwrap();
        scratch.write(
            "job.yaml",
            adapt(spec.replace("name: test-job", &format!("name: crash-{iteration}"))),
        );
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
                    base_url,
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
        let outcome = crate::run::run_at(&scratch, base_url, &[]);
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
    kills
}

/// The batches `server` holds, newest first.
fn server_batches(server: &LocalServer) -> Vec<serde_json::Value> {
    let listing: serde_json::Value =
        serde_json::from_str(&server.get("/v1/batches?limit=100")).expect("batch listing");
    listing["data"].as_array().cloned().unwrap_or_default()
}

#[test]
fn a_server_killed_mid_batch_finishes_its_accepted_batches_after_a_restart() {
    let server_dir = tempfile::tempdir().unwrap();
    // Slow steps keep every batch in progress or finalizing for a while.
    let flags = ["--step-delay-ms", "400"];
    let server = LocalServer::start(server_dir.path(), &flags);
    let scratch = Scratch::new();
    // One attempt: a batch the restarted server dropped would show as failed rows.
    crate::run::job(&scratch, 60, 20, 1);
    let submitted = crate::run::run(&scratch, &server, &["--no-wait"]);
    assert_eq!(submitted.code, 0, "{submitted:?}");
    let started = Instant::now();
    while !server_batches(&server)
        .iter()
        .any(|batch| matches!(batch["status"].as_str(), Some("in_progress" | "finalizing")))
    {
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "no batch started"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    drop(server); // SIGKILL, mid-batch
    let server = LocalServer::start(server_dir.path(), &flags);
    let outcome = crate::run::run(&scratch, &server, &[]);
    assert_eq!(outcome.code, 0, "{outcome:?}");
    let summary = crate::run::summary(&outcome);
    assert_eq!(summary["labeled_rows"], 60, "{summary:#}");
    assert_eq!(summary["failed_rows"], 0, "{summary:#}");
    assert_eq!(crate::run::results(&scratch).len(), 60);
    let batches = server_batches(&server);
    assert_eq!(batches.len(), 3, "one batch per shard, none sent twice");
    for batch in &batches {
        assert_eq!(batch["status"], "completed", "{batch:#}");
    }
}

#[test]
fn changing_the_input_while_batches_are_in_flight_collects_them_instead_of_paying_again() {
    let server_dir = tempfile::tempdir().unwrap();
    let server = LocalServer::start(server_dir.path(), &["--step-delay-ms", "200"]);
    let scratch = Scratch::new();
    crate::run::job(&scratch, 60, 20, 1);
    let submitted = crate::run::run(&scratch, &server, &["--no-wait"]);
    assert_eq!(submitted.code, 0, "{submitted:?}");
    // One row changes while the three batches are in flight.
    let csv = std::fs::read_to_string(scratch.path().join("rows.csv")).unwrap();
    scratch.write(
        "rows.csv",
        csv.replace("comment number 7 about", "comment number 7 (edited) about"),
    );
    let refused = crate::run::run(&scratch, &server, &[]);
    assert_eq!(refused.code, 2, "{refused:?}");
    assert!(
        refused.stdout.contains("3 batch(es) in flight") && refused.stdout.contains("--new-run"),
        "{refused:?}"
    );
    assert_eq!(server_batches(&server).len(), 3, "nothing sent on refusal");
    // `--no-wait` looks once and returns (the same command later collects the rest).
    let looked = crate::run::run(&scratch, &server, &["--new-run", "--no-wait"]);
    assert_eq!(looked.code, 0, "{looked:?}");
    assert_eq!(
        crate::run::summary(&looked)["submitted_only"],
        true,
        "{looked:?}"
    );
    let outcome = crate::run::run(&scratch, &server, &["--new-run"]);
    assert_eq!(outcome.code, 0, "{outcome:?}");
    let summary = crate::run::summary(&outcome);
    assert_eq!(summary["labeled_rows"], 60, "{summary:#}");
    assert_eq!(summary["run"], 2, "{summary:#}");
    let batches = server_batches(&server);
    // The first run's three batches, collected, and one batch for the one changed row.
    assert_eq!(batches.len(), 4, "{batches:#?}");
    let stats = server.stats();
    assert_eq!(stats["uploads"], 4, "{stats:#}");
    let newest = &batches[0];
    assert_eq!(newest["request_counts"]["total"], 1, "{newest:#}");
}
