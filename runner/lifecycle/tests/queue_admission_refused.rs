//! A full queue reported as a 429 at create (Gemini's `RESOURCE_EXHAUSTED`, Mistral's
//! `rate_limited`) makes a shard wait for running batches, never fails its rows: a job several
//! times the queue cap of an in-process `batchlabel serve`, with no cap in the spec, finishes
//! with every row labeled, the server having refused creates, and every batch made once.

use std::fmt::Write as _;
use std::sync::Arc;
use std::time::Duration;

use batchlabel_lifecycle::{Plugins, RunObserver, RunSettings, RunSummary};
use batchlabel_providers::{BatchProvider, GeminiClient, MistralClient, RetryPolicy};
use batchlabel_serve::{Engine, Faults, Script, ServeOptions, Server};
use serde_json::Value;

/// The server's cap, in tokens (characters/4 of the translated input); shards hold at most
/// 16,000 bytes, so each fits alone and two or three at once.
const CAP: u64 = 10_000;
const ROWS: usize = 400;

struct Quiet;

impl RunObserver for Quiet {
    fn event(&self, _message: &str) {}
    fn progress(&self, _finished: u64, _total: u64) {}
}

/// A job over `ROWS` rows with `model` as its model block and no queue cap.
fn job(scratch: &std::path::Path, model: &str) -> batchlabel_spec::Job {
    let mut csv = String::from("id,text\n");
    for index in 0..ROWS {
        let _ = writeln!(
            csv,
            "t{index},comment number {index} about the product: it arrived on time and works as described"
        );
    }
    std::fs::write(scratch.join("rows.csv"), csv).expect("write rows");
    let spec = format!(
        "name: refused-job\ninput:\n  csv: rows.csv\n  id: id\n  text: text\nprompt:\n  system: Label the sentiment.\n  user: \"{{{{ text }}}}\"\nlabels:\n  sentiment:\n    one_of: {{POSITIVE: good, NEGATIVE: bad, NEUTRAL: neither}}\nmodel:\n{model}batch:\n  max_bytes_per_file: 16000\n  max_attempts: 2\n"
    );
    let path = scratch.join("job.yaml");
    std::fs::write(&path, spec).expect("write spec");
    batchlabel_spec::load(&path)
        .unwrap_or_else(|diagnostics| panic!("{diagnostics:?}"))
        .job
}

fn settings(scratch: &std::path::Path) -> RunSettings {
    RunSettings {
        state_dir: scratch.join("state"),
        limit: None,
        no_wait: false,
        new_run: false,
        poll_interval: Duration::from_millis(5),
        max_poll_interval: Duration::from_millis(20),
        concurrency: 8,
        max_usd: None,
        plugins: Plugins::default(),
    }
}

/// A server capped at [`CAP`] queued tokens; its origin.
async fn serve(scratch: &std::path::Path) -> String {
    let server = Server::bind(ServeOptions {
        address: ([127, 0, 0, 1], 0).into(),
        state_dir: scratch.join("serve"),
        engine: Engine::Scripted(Arc::new(Script::default())),
        faults: Faults::default(),
        max_requests_per_file: 50_000,
        api_key: None,
        // Batches take a while, so several are queued at once.
        step_delay: Duration::from_millis(15),
        azure_max_enqueued_tokens: batchlabel_serve::DEFAULT_AZURE_MAX_ENQUEUED_TOKENS,
        max_enqueued_tokens: Some(CAP),
    })
    .await
    .expect("bind");
    let origin = format!("http://{}", server.local_address());
    tokio::spawn(server.run());
    origin
}

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

async fn stats(origin: &str) -> Value {
    reqwest::get(format!("{origin}/v1/_batchlabel/stats"))
        .await
        .expect("stats")
        .json()
        .await
        .expect("stats JSON")
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
    let job = job(
        scratch.path(),
        "  provider: gemini\n  name: gemini-2.5-flash\n  temperature: 0\n",
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
    let job = job(
        scratch.path(),
        "  provider: mistral\n  name: mistral-small-latest\n  temperature: 0\n",
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
