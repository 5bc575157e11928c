//! What the queue-admission tests share: a job several times the queue cap of an in-process
//! `batchlabel serve` capped at [`CAP`] queued tokens, and quiet run settings.

use std::fmt::Write as _;
use std::sync::Arc;
use std::time::Duration;

use batchlabel_lifecycle::{Plugins, RunObserver, RunSettings};
use batchlabel_serve::{Engine, Faults, Script, ServeOptions, Server};

/// The server's cap, in tokens (characters/4 of the input); shards hold at most 16,000 bytes
/// (4,000 tokens), so each fits alone and two or three at once.
pub const CAP: u64 = 10_000;
pub const ROWS: usize = 400;

pub struct Quiet;

impl RunObserver for Quiet {
    fn event(&self, _message: &str) {}
    fn progress(&self, _finished: u64, _total: u64) {}
}

/// A job `name` over [`ROWS`] rows; `model` is its model block, `batch_extra` goes under
/// `batch:`.
pub fn job(
    scratch: &std::path::Path,
    name: &str,
    model: &str,
    batch_extra: &str,
) -> batchlabel_spec::Job {
    let mut csv = String::from("id,text\n");
    for index in 0..ROWS {
        let _ = writeln!(
            csv,
            "t{index},comment number {index} about the product: it arrived on time and works as described"
        );
    }
    std::fs::write(scratch.join("rows.csv"), csv).expect("write rows");
    let spec = format!(
        "name: {name}\ninput:\n  csv: rows.csv\n  id: id\n  text: text\nprompt:\n  system: Label the sentiment.\n  user: \"{{{{ text }}}}\"\nlabels:\n  sentiment:\n    one_of: {{POSITIVE: good, NEGATIVE: bad, NEUTRAL: neither}}\nmodel:\n{model}batch:\n  max_bytes_per_file: 16000\n  max_attempts: 2\n{batch_extra}"
    );
    let path = scratch.join("job.yaml");
    std::fs::write(&path, spec).expect("write spec");
    batchlabel_spec::load(&path)
        .unwrap_or_else(|diagnostics| panic!("{diagnostics:?}"))
        .job
}

pub fn settings(scratch: &std::path::Path) -> RunSettings {
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
pub async fn serve(scratch: &std::path::Path) -> String {
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

/// The server's counters.
pub async fn stats(origin: &str) -> serde_json::Value {
    reqwest::get(format!("{origin}/v1/_batchlabel/stats"))
        .await
        .expect("stats")
        .json()
        .await
        .expect("stats JSON")
}
