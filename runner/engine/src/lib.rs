//! batchlabel-engine: the embedded local model. It loads a GGUF model with llama.cpp (through
//! `llama-cpp-2`, CPU only) and answers chat-completions requests whose `response_format` is a
//! batchlabel label schema, always with schema-valid JSON:
//! - `one_of` fields: every allowed label is scored as a continuation of the prompt (the prompt
//!   is evaluated once and shared by the candidates' KV-cache sequences), the best is taken,
//!   and the raw per-label scores are returned so the runner can calibrate them over the job;
//! - `any_of` fields and raw schemas: decoding constrained by a grammar.
//!
//! It is the only crate that builds llama.cpp. It does not know about ledgers or HTTP: the
//! runner serves it behind the OpenAI Batch protocol.

mod answer;
mod embed;
mod model_file;
mod prompt;
mod quantize;
mod session;

use std::path::PathBuf;

pub use model_file::{DEFAULT_MODEL, FETCH_COMMAND, ModelFile, default_model_dir, resolve_model};

/// How to run the model.
#[derive(Debug, Clone)]
pub struct EngineOptions {
    /// The GGUF file.
    pub model_path: PathBuf,
    /// CPU threads (1 is the robust choice on a busy machine: ggml threads spin).
    pub threads: u32,
    /// How `one_of` fields are decided.
    pub one_of: OneOfDecoding,
}

/// How a `one_of` field is decided.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum OneOfDecoding {
    /// Score every label as a continuation and keep the scores for calibration (default).
    #[default]
    Score,
    /// Generate the label under a grammar (no scores, so no calibration): for comparison.
    Grammar,
}

/// What the model answered for one request.
#[derive(Debug, Clone)]
pub struct Completion {
    /// The JSON text of the answer (valid against the request's schema).
    pub content: String,
    /// Tokens of the prompt.
    pub prompt_tokens: u64,
    /// Tokens the answer took (scored labels and generated tokens).
    pub completion_tokens: u64,
    /// Raw per-label log-probabilities of each `one_of` field: field → label → score.
    pub label_scores: serde_json::Map<String, serde_json::Value>,
    /// The model's name (file stem).
    pub model: String,
}

/// Why the engine could not answer.
#[derive(Debug, Clone, thiserror::Error)]
pub enum EngineError {
    /// The model file is missing.
    #[error("model file `{path}` does not exist; get the default model with `{command}`", command = FETCH_COMMAND)]
    MissingModel {
        /// Where it was looked for.
        path: PathBuf,
    },
    /// The file is not a usable GGUF model.
    #[error("`{path}` is not a usable GGUF model ({reason}); hint: fetch it again with `{command}`", command = FETCH_COMMAND)]
    CorruptModel {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// The request cannot be answered by this engine.
    #[error("{0}")]
    BadRequest(String),
    /// llama.cpp failed.
    #[error("local model: {0}")]
    Inference(String),
}

/// A loaded model, answering on its own thread (a llama.cpp context is not `Send`).
pub struct LocalEngine {
    sender: crossbeam_channel::Sender<Job>,
    model_name: String,
}

enum Job {
    Complete {
        body: String,
        reply: crossbeam_channel::Sender<Result<Completion, EngineError>>,
    },
    Embed {
        texts: Vec<String>,
        reply: crossbeam_channel::Sender<Result<Vec<Vec<f32>>, EngineError>>,
    },
}

impl std::fmt::Debug for LocalEngine {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("LocalEngine")
            .field("model", &self.model_name)
            .finish_non_exhaustive()
    }
}

impl LocalEngine {
    /// Load the model (checking the file first) and start its worker thread.
    pub fn start(options: &EngineOptions) -> Result<Self, EngineError> {
        model_file::check(&options.model_path)?;
        let mut options = options.clone();
        options.model_path = quantize::faster_copy(&options.model_path, options.threads)?;
        let model_name = options.model_path.file_stem().map_or_else(
            || "local".to_string(),
            |stem| stem.to_string_lossy().into_owned(),
        );
        let (sender, receiver) = crossbeam_channel::unbounded::<Job>();
        let (ready_sender, ready_receiver) = crossbeam_channel::bounded(1);
        let name = model_name.clone();
        std::thread::Builder::new()
            .name("local-model".into())
            .spawn(move || session::serve(&options, &name, &ready_sender, &receiver))
            .map_err(|error| EngineError::Inference(error.to_string()))?;
        ready_receiver
            .recv()
            .map_err(|_| EngineError::Inference("the model thread stopped".into()))??;
        Ok(Self { sender, model_name })
    }

    /// The model's name.
    pub fn model_name(&self) -> &str {
        &self.model_name
    }

    /// Answer one chat-completions request body (JSON text).
    pub fn complete(&self, body: &str) -> Result<Completion, EngineError> {
        let (reply, answer) = crossbeam_channel::bounded(1);
        let job = Job::Complete {
            body: body.to_string(),
            reply,
        };
        self.sender.send(job).map_err(|_| stopped())?;
        answer.recv().map_err(|_| stopped())?
    }

    /// Embed `texts`: one unit vector each, in order (the mean of the model's last hidden
    /// states over the text's first 256 tokens). Cosine similarity is their dot product.
    pub fn embed(&self, texts: Vec<String>) -> Result<Vec<Vec<f32>>, EngineError> {
        let (reply, answer) = crossbeam_channel::bounded(1);
        self.sender
            .send(Job::Embed { texts, reply })
            .map_err(|_| stopped())?;
        answer.recv().map_err(|_| stopped())?
    }
}

fn stopped() -> EngineError {
    EngineError::Inference("the model thread stopped".into())
}
