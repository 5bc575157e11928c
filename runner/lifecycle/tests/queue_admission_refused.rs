//! A full queue reported as a 429 at create (Gemini's `RESOURCE_EXHAUSTED`, Mistral's
//! `rate_limited`) makes a shard wait for running batches, never fails its rows: a job several
//! times the queue cap of an in-process `batchlabel serve`, with no cap in the spec, finishes
//! with every row labeled, the server having refused creates, and every batch made once.

use batchlabel_lifecycle::RunSummary;
use batchlabel_providers::{BatchProvider, GeminiClient, MistralClient, RetryPolicy};
use serde_json::Value;

mod queue_support;

use queue_support::{CAP, Quiet, ROWS, serve, settings, stats};

/// No retries inside the client: a refused create reaches the runner at once (the server's
/// `retry-after` would otherwise hold each one a second).
fn no_retries() -> RetryPolicy {
    RetryPolicy {
        max_retries: 0,
        ..RetryPolicy::default()
    }
}

async fn run(provider: &dyn BatchProvider, job: &batchlabel_spec::Job, scratch: &std::path::Path) {
    let summary: RunSummary = batchlabel_lifecycle::run(job, &settings(scratch), provider, &Quiet)
        .await
        .expect("run");
    assert_eq!(summary.counts.labeled_rows, ROWS as u64, "{summary:?}");
    assert_eq!(summary.counts.failed_rows, 0, "{summary:?}");
    assert!(summary.counts.batches > 3, "{summary:?}");
}

/// The server refused at least one create, and so made nothing for it.
fn assert_refused(stats: &Value) {
    let refused = stats["queue"]["refused_batches"].as_u64().expect("refused");
    assert!(refused > 0, "the server refused nothing: {stats:#}");
    let peak = stats["queue"]["peak_enqueued_tokens"]
        .as_u64()
        .expect("peak");
    assert!(peak <= CAP, "{stats:#}");
}

fn assert_each_once(stats: &Value, key: &str) {
    let counts = stats[key].as_object().expect(key);
    assert!(!counts.is_empty(), "{stats:#}");
    for (name, count) in counts {
        assert_eq!(count, 1, "{name} was created {count} times: {stats:#}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gemini_creates_refused_for_a_full_queue_wait_and_every_row_is_labeled() {
    let scratch = tempfile::tempdir().expect("temp dir");
    let origin = serve(scratch.path()).await;
    let job = queue_support::job(
        scratch.path(),
        "refused-job",
        "  provider: gemini\n  name: gemini-2.5-flash\n  temperature: 0\n",
        "",
    );
    let client = GeminiClient::new(&origin, None, no_retries(), "gemini-2.5-flash");
    run(&client, &job, scratch.path()).await;
    let stats = stats(&origin).await;
    assert_refused(&stats);
    assert_each_once(&stats, "gemini_batches_by_display_name");
    let by_state = stats["gemini_batches_by_state"]
        .as_object()
        .expect("states");
    assert_eq!(
        by_state.keys().collect::<Vec<_>>(),
        ["BATCH_STATE_SUCCEEDED"]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mistral_creates_refused_for_a_full_queue_wait_and_every_row_is_labeled() {
    let scratch = tempfile::tempdir().expect("temp dir");
    let origin = serve(scratch.path()).await;
    let job = queue_support::job(
        scratch.path(),
        "refused-job",
        "  provider: mistral\n  name: mistral-small-latest\n  temperature: 0\n",
        "",
    );
    let client = MistralClient::new(&origin, None, no_retries(), "mistral-small-latest");
    run(&client, &job, scratch.path()).await;
    let stats = stats(&origin).await;
    assert_refused(&stats);
    assert_each_once(&stats, "batches_by_metadata");
    assert!(
        stats["batches_by_status"].get("failed").is_none(),
        "{stats:#}"
    );
}
