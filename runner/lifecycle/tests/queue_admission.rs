//! Enqueued-token admission over real HTTP: a job several times the queue cap of an
//! in-process `batchlabel serve` is sent in waves and finishes with every row labeled; the
//! server, which measures its queue, saw no more than the cap and refused nothing. With a cap
//! the runner does not know, the server's refusals lower the runner's cap and the job still
//! finishes, every batch created once.

use batchlabel_lifecycle::{Ledger, RunSettings, RunSummary};
use batchlabel_providers::{OpenAiClient, RetryPolicy};
use serde_json::Value;

mod queue_support;

use queue_support::{CAP, Quiet, ROWS, serve, settings, stats};

const OPENAI: &str = "  provider: openai\n  name: gpt-4o-mini\n  temperature: 0\n";

async fn run(origin: &str, job: &batchlabel_spec::Job, settings: &RunSettings) -> RunSummary {
    let provider = OpenAiClient::new(&format!("{origin}/v1"), None, RetryPolicy::default());
    batchlabel_lifecycle::run(job, settings, &provider, &Quiet)
        .await
        .expect("run")
}

/// Every batch was created once (its metadata names the shard and the submission).
fn assert_each_batch_once(stats: &Value) {
    let by_metadata = stats["batches_by_metadata"]
        .as_object()
        .expect("by metadata");
    assert!(
        by_metadata.values().all(|count| count == 1),
        "a batch was created twice: {stats:#}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_several_times_the_queue_cap_goes_in_waves() {
    let scratch = tempfile::tempdir().expect("temp dir");
    let origin = serve(scratch.path()).await;
    let job = queue_support::job(
        scratch.path(),
        "queue-job",
        OPENAI,
        &format!("  max_enqueued_tokens: {CAP}\n"),
    );
    let summary = run(&origin, &job, &settings(scratch.path())).await;
    assert_eq!(summary.counts.labeled_rows, ROWS as u64, "{summary:?}");
    assert_eq!(summary.counts.failed_rows, 0, "{summary:?}");
    let stats = stats(&origin).await;
    let queue = &stats["queue"];
    let peak = queue["peak_enqueued_tokens"].as_u64().expect("peak");
    assert!(peak <= CAP, "the runner queued {peak} > {CAP}: {stats:#}");
    assert_eq!(queue["refused_batches"], 0, "{stats:#}");
    assert!(
        stats["batches_by_status"].get("failed").is_none(),
        "{stats:#}"
    );
    assert_each_batch_once(&stats);
    let shards = shards(&summary);
    assert_eq!(stats["batches"], shards.len(), "{stats:#}");
    // The job really was several times the cap.
    let job_tokens: u64 = shards.iter().map(|bytes| bytes.div_ceil(4)).sum();
    assert!(job_tokens >= 3 * CAP, "{job_tokens} tokens: {stats:#}");
    // Waves, not one batch at a time: the server held more than any one shard at once.
    let largest = shards
        .iter()
        .map(|bytes| bytes.div_ceil(4))
        .max()
        .unwrap_or(0);
    assert!(
        peak > largest,
        "peak {peak}, largest shard {largest}: {stats:#}"
    );
}

/// The bytes of each of the run's shards.
fn shards(summary: &RunSummary) -> Vec<u64> {
    let ledger = Ledger::open_unlocked(&summary.run_dir).expect("ledger");
    ledger
        .shards(summary.run)
        .expect("shards")
        .iter()
        .map(|shard| u64::try_from(shard.bytes).unwrap_or(0))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refusals_from_a_cap_the_runner_does_not_know_lower_its_cap() {
    let scratch = tempfile::tempdir().expect("temp dir");
    let origin = serve(scratch.path()).await;
    // No cap in the spec, and a loopback server gets no default: everything goes at first.
    let job = queue_support::job(scratch.path(), "queue-job", OPENAI, "");
    let summary = run(&origin, &job, &settings(scratch.path())).await;
    assert_eq!(summary.counts.labeled_rows, ROWS as u64, "{summary:?}");
    assert_eq!(summary.counts.failed_rows, 0, "{summary:?}");
    let stats = stats(&origin).await;
    let refused = stats["queue"]["refused_batches"].as_u64().expect("refused");
    assert!(refused > 0, "the server refused nothing: {stats:#}");
    assert_each_batch_once(&stats);
    // Every refused batch was sent again (as a new submission) and finished.
    let completed = stats["batches_by_status"]["completed"]
        .as_u64()
        .unwrap_or(0);
    let failed = stats["batches_by_status"]["failed"].as_u64().unwrap_or(0);
    assert_eq!(failed, refused, "{stats:#}");
    assert_eq!(completed + failed, stats["batches"].as_u64().unwrap_or(0));
    // Lowered after the first refusals, the cap keeps later waves from being refused
    // again and again (a blind resend every turn would be refused many times per shard).
    let shards = shards(&summary).len() as u64;
    assert!(
        refused < 2 * shards,
        "{refused} refusals for {shards} shards: {stats:#}"
    );
}
