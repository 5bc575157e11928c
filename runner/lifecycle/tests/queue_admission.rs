//! Enqueued-token admission over real HTTP: a job several times the queue cap of an
//! in-process `batchlabel serve` is sent in waves and finishes with every row labeled; the
//! server, which measures its queue, saw no more than the cap and refused nothing. With a cap
//! the runner does not know, the server's refusals lower the runner's cap and the job still
//! finishes, every batch created once.

use std::fmt::Write as _;
use std::sync::Arc;
use std::time::Duration;

use batchlabel_lifecycle::{Ledger, Plugins, RunObserver, RunSettings, RunSummary};
use batchlabel_providers::{OpenAiClient, RetryPolicy};
use batchlabel_serve::{Engine, Faults, Script, ServeOptions, Server};
use serde_json::Value;

/// The server's cap, in tokens (characters/4); shards hold at most 16,000 bytes (4,000
/// tokens), so two always fit.
const CAP: u64 = 10_000;
const ROWS: usize = 400;

struct Quiet;

impl RunObserver for Quiet {
    fn event(&self, _message: &str) {}
    fn progress(&self, _finished: u64, _total: u64) {}
}

/// A job over `ROWS` rows; `batch_extra` goes under `batch:`.
fn job(scratch: &std::path::Path, batch_extra: &str) -> batchlabel_spec::Job {
    let mut csv = String::from("id,text\n");
    for index in 0..ROWS {
        let _ = writeln!(
            csv,
            "t{index},comment number {index} about the product: it arrived on time and works as described"
        );
    }
    std::fs::write(scratch.join("rows.csv"), csv).expect("write rows");
    let spec = format!(
        "name: queue-job\ninput:\n  csv: rows.csv\n  id: id\n  text: text\nprompt:\n  system: Label the sentiment.\n  user: \"{{{{ text }}}}\"\nlabels:\n  sentiment:\n    one_of: {{POSITIVE: good, NEGATIVE: bad, NEUTRAL: neither}}\nmodel:\n  provider: openai\n  name: gpt-4o-mini\n  temperature: 0\nbatch:\n  max_bytes_per_file: 16000\n  max_attempts: 2\n{batch_extra}"
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

async fn run(origin: &str, job: &batchlabel_spec::Job, settings: &RunSettings) -> RunSummary {
    let provider = OpenAiClient::new(&format!("{origin}/v1"), None, RetryPolicy::default());
    batchlabel_lifecycle::run(job, settings, &provider, &Quiet)
        .await
        .expect("run")
}

async fn stats(origin: &str) -> Value {
    reqwest::get(format!("{origin}/v1/_batchlabel/stats"))
        .await
        .expect("stats")
        .json()
        .await
        .expect("stats JSON")
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
    let job = job(scratch.path(), &format!("  max_enqueued_tokens: {CAP}\n"));
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
    let job = job(scratch.path(), "");
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
