//! The embedded model as a batch-service engine: it answers chat-completions bodies with
//! OpenAI-format completions, the raw per-label scores riding along as `batchlabel_scores` for
//! calibration by the runner. `batchlabel serve --engine local` uses it too.

use std::path::Path;
use std::sync::Arc;

use batchlabel_engine::{EngineError, EngineOptions, LocalEngine, OneOfDecoding};
use batchlabel_serve::{Answer, Engine, Responder};

use super::embedding_cache;
use serde_json::json;

/// The local model answering chat-completions bodies with OpenAI-format completions; the
/// raw per-label scores ride along as `batchlabel_scores` for calibration by the runner.
#[derive(Debug)]
pub struct LocalResponder {
    engine: LocalEngine,
}

impl Responder for LocalResponder {
    fn respond(&self, body: &str) -> Answer {
        match self.engine.complete(body) {
            Ok(completion) => {
                let created = std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map_or(0, |elapsed| elapsed.as_secs());
                let value = json!({
                    "id": format!("chatcmpl-local-{created}"),
                    "object": "chat.completion",
                    "created": created,
                    "model": completion.model,
                    "choices": [{
                        "index": 0,
                        "message": {"role": "assistant", "content": completion.content, "refusal": null},
                        "finish_reason": "stop",
                        "logprobs": null
                    }],
                    "usage": {
                        "prompt_tokens": completion.prompt_tokens,
                        "completion_tokens": completion.completion_tokens,
                        "total_tokens": completion.prompt_tokens + completion.completion_tokens
                    },
                    "batchlabel_scores": completion.label_scores,
                });
                Answer {
                    status: 200,
                    body: value.to_string(),
                    prompt_tokens: completion.prompt_tokens,
                    completion_tokens: completion.completion_tokens,
                    model: Some(completion.model),
                }
            }
            Err(EngineError::BadRequest(message)) => {
                Answer::error(400, &message, "invalid_request_error")
            }
            Err(error) => Answer::error(500, &error.to_string(), "server_error"),
        }
    }
}

/// Threads when none are asked for: one per core.
fn every_core() -> u32 {
    std::thread::available_parallelism().map_or(1, |cores| cores.get() as u32)
}

/// Load the model named by a spec (or a flag) and wrap it as a serve engine.
pub fn local_engine(
    name: &str,
    base: &Path,
    threads: Option<u32>,
    one_of: OneOfDecoding,
) -> Result<Engine, String> {
    let file = batchlabel_engine::resolve_model(name, base);
    let threads = threads.unwrap_or_else(every_core);
    let engine = LocalEngine::start(&EngineOptions {
        model_path: file.path,
        threads,
        one_of,
    })
    .map_err(|error| format!("error: {error}\n"))?;
    Ok(Engine::InProcess(Arc::new(LocalResponder { engine })))
}

/// Text embeddings from the embedded model for `examples.similarity: embeddings`: the job's
/// own model when it runs on `provider: local`, else the default one. The model is loaded
/// once per compile, on its own thread (calls from the render workers queue up on it).
pub fn job_embedder(job: &batchlabel_spec::Job) -> Result<crate::TextEmbedder, String> {
    let model = match job.model.provider {
        batchlabel_spec::ProviderKind::Local => job.model.name.as_str(),
        _ => batchlabel_engine::DEFAULT_MODEL,
    };
    let base = job.spec_path.parent().unwrap_or_else(|| Path::new("."));
    let file = batchlabel_engine::resolve_model(model, base);
    let threads = every_core();
    let model_path = file.path.clone();
    let engine = LocalEngine::start(&EngineOptions {
        model_path: file.path,
        threads,
        one_of: OneOfDecoding::Score,
    })
    .map_err(|error| error.to_string())?;
    Ok(Arc::new(move |texts: &[String]| {
        if texts.len() < embedding_cache::CACHED_FROM {
            return engine
                .embed(texts.to_vec())
                .map_err(|error| error.to_string());
        }
        // The pool: the same texts at every compile of the job.
        let cached = embedding_cache::path_for(&model_path, texts);
        if let Some(vectors) = embedding_cache::load(&cached, texts.len()) {
            return Ok(vectors);
        }
        let vectors = engine
            .embed(texts.to_vec())
            .map_err(|error| error.to_string())?;
        embedding_cache::store(&cached, &vectors);
        Ok(vectors)
    }))
}
