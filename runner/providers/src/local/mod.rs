//! `provider: local`: the embedded model behind an in-process batch service on loopback, its
//! batches kept in the run directory (so a killed run resumes them). The lifecycle (ledger,
//! resume, retries, sinks) is the same code as for a hosted API; only the pacing differs:
//! a local batch answers in seconds, and one batch at a time keeps the run deterministic.

mod embedding_cache;
mod engine;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

pub use engine::{LocalResponder, job_embedder, local_engine};

use crate::{
    BatchProvider, BoxFuture, Codec, LineResult, OpenAiClient, ProviderError, RemoteBatch,
    ResultFiles, RetryPolicy, StagedInput, Tags, Tuning,
};

/// Most lines one local batch file may hold.
const MAX_REQUESTS_PER_FILE: u64 = 50_000;

/// The local model as a batch provider.
pub struct LocalProvider {
    model: String,
    client: OpenAiClient,
}

impl LocalProvider {
    /// Load `model` (a known name or a `.gguf` path, relative to `base`) and start its batch
    /// service on a free loopback port, its state in `state_dir`; the server runs on the
    /// current tokio runtime.
    pub async fn start(
        model: &str,
        base: &Path,
        state_dir: PathBuf,
        threads: Option<u32>,
    ) -> Result<Self, String> {
        let engine = local_engine(
            model,
            base,
            threads,
            batchlabel_engine::OneOfDecoding::Score,
        )?;
        let options = batchlabel_serve::ServeOptions {
            address: std::net::SocketAddr::from(([127, 0, 0, 1], 0)),
            state_dir,
            engine,
            faults: batchlabel_serve::Faults::default(),
            max_requests_per_file: MAX_REQUESTS_PER_FILE,
            api_key: None,
            step_delay: Duration::ZERO,
            azure_max_enqueued_tokens: batchlabel_serve::DEFAULT_AZURE_MAX_ENQUEUED_TOKENS,
            max_enqueued_tokens: None,
        };
        let server = batchlabel_serve::Server::bind(options)
            .await
            .map_err(|error| format!("error: {error}\n"))?;
        let address = server.local_address();
        tokio::spawn(server.run());
        Ok(Self {
            model: model.to_string(),
            client: OpenAiClient::new(
                &format!("http://{address}/v1"),
                None,
                RetryPolicy::default(),
            ),
        })
    }
}

impl BatchProvider for LocalProvider {
    fn describe(&self) -> String {
        format!("the local model {}", self.model)
    }

    fn codec(&self) -> Arc<dyn Codec> {
        self.client.codec()
    }

    fn tuning(&self) -> Tuning {
        Tuning {
            poll_seconds: 0.2,
            max_poll_seconds: 1.0,
            concurrency: Some(1),
        }
    }

    fn stage_input<'a>(
        &'a self,
        path: &'a Path,
        name: &'a str,
    ) -> BoxFuture<'a, Result<StagedInput, ProviderError>> {
        self.client.stage_input(path, name)
    }

    fn find_staged_input<'a>(
        &'a self,
        name: &'a str,
    ) -> BoxFuture<'a, Result<Option<StagedInput>, ProviderError>> {
        self.client.find_staged_input(name)
    }

    fn create<'a>(
        &'a self,
        input: &'a StagedInput,
        tags: &'a Tags,
    ) -> BoxFuture<'a, Result<RemoteBatch, ProviderError>> {
        self.client.create(input, tags)
    }

    fn find_batches<'a>(
        &'a self,
        tags: &'a Tags,
        since: i64,
    ) -> BoxFuture<'a, Result<Vec<RemoteBatch>, ProviderError>> {
        self.client.find_batches(tags, since)
    }

    fn poll<'a>(&'a self, batch_id: &'a str) -> BoxFuture<'a, Result<RemoteBatch, ProviderError>> {
        self.client.poll(batch_id)
    }

    fn cancel<'a>(
        &'a self,
        batch_id: &'a str,
    ) -> BoxFuture<'a, Result<RemoteBatch, ProviderError>> {
        self.client.cancel(batch_id)
    }

    fn fetch_results<'a>(
        &'a self,
        batch: &'a RemoteBatch,
        directory: &'a Path,
    ) -> BoxFuture<'a, Result<ResultFiles, ProviderError>> {
        self.client.fetch_results(batch, directory)
    }

    fn delete_input<'a>(&'a self, input_id: &'a str) -> BoxFuture<'a, Result<(), ProviderError>> {
        self.client.delete_input(input_id)
    }

    fn delete_results<'a>(
        &'a self,
        handles: &'a [String],
    ) -> BoxFuture<'a, Result<(), ProviderError>> {
        self.client.delete_results(handles)
    }

    fn answer_now<'a>(&'a self, line: &'a str) -> BoxFuture<'a, Result<LineResult, ProviderError>> {
        self.client.answer_now(line)
    }

    fn retries_made(&self) -> u64 {
        self.client.retries_made()
    }
}
