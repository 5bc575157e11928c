//! The lifecycle tests' shared setup: a small job in a scratch folder, run on the
//! FakeProvider with fast polling, and an observer that keeps what the run said.

#![allow(dead_code, reason = "each test file uses its own part")]

use std::fmt::Write as _;
use std::sync::Mutex;
use std::time::Duration;

use batchlabel_lifecycle::{LifecycleError, Plugins, RunObserver, RunSettings, RunSummary};
use batchlabel_test_support::FakeProvider;

/// A job in a scratch folder: `rows` rows `t0`, `t1`, … in shards of `per_shard`.
pub struct Setup {
    pub scratch: tempfile::TempDir,
    pub job: batchlabel_spec::Job,
    pub settings: RunSettings,
}

/// Job `name` over `rows` rows in shards of `per_shard`, up to `max_attempts`; `batch` adds
/// lines to the spec's `batch:` block (each `  key: value\n`).
pub fn job(name: &str, rows: usize, per_shard: u64, max_attempts: u32, batch: &str) -> Setup {
    let scratch = tempfile::tempdir().expect("temp dir");
    let mut csv = String::from("id,text\n");
    for index in 0..rows {
        let _ = writeln!(csv, "t{index},comment number {index} about the product");
    }
    std::fs::write(scratch.path().join("rows.csv"), csv).expect("write rows");
    let spec = format!(
        "name: {name}\ninput:\n  csv: rows.csv\n  id: id\n  text: text\nprompt:\n  system: Label the sentiment.\n  user: \"{{{{ text }}}}\"\nlabels:\n  sentiment:\n    one_of: {{POSITIVE: good, NEGATIVE: bad, NEUTRAL: neither}}\nmodel:\n  provider: openai\n  name: gpt-4o-mini\n  temperature: 0\nbatch:\n  max_requests_per_file: {per_shard}\n  max_attempts: {max_attempts}\n{batch}"
    );
    let spec_path = scratch.path().join("job.yaml");
    std::fs::write(&spec_path, spec).expect("write spec");
    let job = batchlabel_spec::load(&spec_path)
        .unwrap_or_else(|diagnostics| panic!("{diagnostics:?}"))
        .job;
    let settings = RunSettings {
        state_dir: scratch.path().join("state"),
        limit: None,
        no_wait: false,
        new_run: false,
        poll_interval: Duration::from_millis(1),
        max_poll_interval: Duration::from_millis(5),
        concurrency: 4,
        max_usd: None,
        plugins: Plugins::default(),
    };
    Setup {
        scratch,
        job,
        settings,
    }
}

/// Records what the run says.
#[derive(Default)]
pub struct Events(Mutex<Vec<String>>);

impl RunObserver for Events {
    fn event(&self, message: &str) {
        self.0.lock().expect("events").push(message.to_string());
    }

    fn progress(&self, _finished: u64, _total: u64) {}
}

impl Events {
    /// How many events contain `needle`.
    pub fn count(&self, needle: &str) -> usize {
        let events = self.0.lock().expect("events");
        events.iter().filter(|event| event.contains(needle)).count()
    }

    /// Whether any event contains `needle`.
    pub fn any(&self, needle: &str) -> bool {
        self.count(needle) > 0
    }
}

impl Setup {
    /// Run the job once on `fake`, telling `events`.
    pub async fn run_with(
        &self,
        fake: &FakeProvider,
        events: &Events,
    ) -> Result<RunSummary, LifecycleError> {
        batchlabel_lifecycle::run(&self.job, &self.settings, fake, events).await
    }

    /// Run the job once on `fake`.
    pub async fn run(&self, fake: &FakeProvider) -> Result<RunSummary, LifecycleError> {
        self.run_with(fake, &Events::default()).await
    }

    /// Run the job to its end on `fake`.
    pub async fn finish(&self, fake: &FakeProvider) -> RunSummary {
        let summary = self.run(fake).await.expect("run");
        assert!(!summary.submitted_only);
        summary
    }
}
