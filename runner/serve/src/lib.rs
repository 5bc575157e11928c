//! batchlabel-serve: `batchlabel serve`, an HTTP server on loopback that speaks five batch
//! protocols over one batch service, chosen by path: OpenAI's Files + Batches (+ chat
//! completions) (statuses and their transitions, `request_counts`, output and error files,
//! whole-file validation, cancel, paginated lists and metadata); Azure OpenAI's dialect of it
//! under `/openai/`; Anthropic's Message Batches (+ Messages) under `/v1/messages`; and
//! Mistral's batch jobs under `/v1/batch/jobs` over the same `/v1/files`; the last two translated onto the same batches. State lives on disk, so a
//! restart keeps every file, batch and job. Google's Gemini API batch mode (files, batches,
//! generateContent) is served under `/v1beta/`, `/upload/v1beta/` and `/download/v1beta/`,
//! translated the same way.
//!
//! Answers come from an [`Engine`]: `scripted` (deterministic, driven by a rules file, for
//! tests and benchmarks) or `upstream` (any OpenAI-compatible chat-completions URL). Faults
//! are injected by [`Faults`] so the runner's recovery paths run against the real protocol.
//!
//! It does not know about specs, ledgers or rows: it is a provider, not a client.

mod anthropic;
mod engine;
mod faults;
mod file_check;
mod gemini;
mod mistral;
mod packed;
mod processor;
mod queue;
mod routes;
mod store;
mod workers;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

pub use anthropic::DEFAULT_MAX_REQUESTS as ANTHROPIC_DEFAULT_MAX_REQUESTS;
pub use engine::{Answer, Engine, Responder, Rule, Script, answer_for_schema};
pub use faults::{BatchFate, Faults, HttpFault};
pub use packed::PackFaults;

/// How to serve.
#[derive(Debug, Clone)]
pub struct ServeOptions {
    /// Address to listen on (port 0 picks a free one).
    pub address: SocketAddr,
    /// Folder holding files and batches; created if missing.
    pub state_dir: PathBuf,
    /// Who answers requests.
    pub engine: Engine,
    /// Faults to inject.
    pub faults: Faults,
    /// Most lines per input file (`too_many_tasks` above it).
    pub max_requests_per_file: u64,
    /// When set, requests must carry `Authorization: Bearer <key>`.
    pub api_key: Option<String>,
    /// Pause at each batch status change, so observers can see every state.
    pub step_delay: std::time::Duration,
    /// The Azure front end's `deployment-maximum-enqueued-tokens` header (its per-deployment
    /// enqueued-token quota); [`DEFAULT_AZURE_MAX_ENQUEUED_TOKENS`] unless a test needs less.
    pub azure_max_enqueued_tokens: u64,
    /// Most input tokens queued at once (batches created and not yet ended), as providers
    /// cap them; a batch that would go over fails with `token_limit_exceeded` (OpenAI,
    /// Azure) or is refused with a 429 (Anthropic, Gemini, Mistral). `None`: no cap.
    pub max_enqueued_tokens: Option<u64>,
}

/// Azure's default enqueued-token quota of a batch deployment (e.g. gpt-4o-mini's).
pub const DEFAULT_AZURE_MAX_ENQUEUED_TOKENS: u64 = 1_000_000_000;

/// Why the server could not start.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// The state folder could not be read or written.
    #[error("state folder `{path}`: {source}")]
    State {
        /// The file or folder.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// Another server (or a `run` with `provider: local`) is using the state folder: two
    /// would run the same batches twice and overwrite each other's state.
    #[error(
        "state folder `{path}` is in use by another batchlabel server (or a `run` with `provider: local`); stop it first, or give this one its own `--state-dir`"
    )]
    Locked {
        /// The folder.
        path: PathBuf,
    },
    /// The address could not be bound.
    #[error("cannot listen on {address}: {source}")]
    Bind {
        /// The address.
        address: SocketAddr,
        /// Why.
        #[source]
        source: std::io::Error,
    },
}

/// A server that is listening.
pub struct Server {
    listener: tokio::net::TcpListener,
    state: Arc<routes::AppState>,
}

impl Server {
    /// Load the state folder (resuming unfinished batches) and bind the address.
    pub async fn bind(options: ServeOptions) -> Result<Self, ServeError> {
        let store = store::Store::open(&options.state_dir)?;
        let listener = tokio::net::TcpListener::bind(options.address)
            .await
            .map_err(|source| ServeError::Bind {
                address: options.address,
                source,
            })?;
        let state = Arc::new(routes::AppState::new(store, options));
        state.anthropic.load()?;
        state.gemini.load()?;
        state.mistral.load()?;
        processor::resume_unfinished(&state);
        Ok(Self { listener, state })
    }

    /// The bound address (useful with port 0).
    pub fn local_address(&self) -> SocketAddr {
        self.listener
            .local_addr()
            .unwrap_or_else(|_| SocketAddr::from(([127, 0, 0, 1], 0)))
    }

    /// Most requests per Anthropic message batch (default 100,000, Anthropic's cap); a
    /// setter rather than a [`ServeOptions`] field so existing callers keep compiling.
    pub fn set_anthropic_max_requests(&self, max: u64) {
        self.state
            .anthropic
            .max_requests
            .store(max, std::sync::atomic::Ordering::Relaxed);
    }

    /// Answer Gemini batch states as `JOB_STATE_*` (the SDK's spelling) instead of the wire's
    /// `BATCH_STATE_*`, so a client can be tested against both spellings.
    pub fn set_gemini_job_state_names(&self, on: bool) {
        self.state
            .gemini
            .job_state_names
            .store(on, std::sync::atomic::Ordering::Relaxed);
    }

    /// Serve until the process ends.
    pub async fn run(self) -> std::io::Result<()> {
        let router = routes::router(self.state);
        axum::serve(self.listener, router).await
    }
}

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |elapsed| elapsed.as_secs() as i64)
}
