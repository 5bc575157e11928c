//! The model's worker thread: it owns the llama.cpp context and the tokens cached in its
//! sequence 0. A new prompt reuses the longest cached prefix (so a job's shared system turn is
//! evaluated once, and each field's continuation extends the same sequence); candidates are
//! scored in sequences copied from it; grammar decoding extends it token by token.

use std::num::NonZeroU32;
use std::sync::OnceLock;

use llama_cpp_2::context::LlamaContext;
use llama_cpp_2::context::params::LlamaContextParams;
use llama_cpp_2::llama_backend::LlamaBackend;
use llama_cpp_2::llama_batch::LlamaBatch;
use llama_cpp_2::model::params::LlamaModelParams;
use llama_cpp_2::model::{LlamaChatMessage, LlamaChatTemplate, LlamaModel};
use llama_cpp_2::sampling::LlamaSampler;
use llama_cpp_2::token::LlamaToken;

use crate::{EngineError, EngineOptions, Job};

/// Context size: the prompt, the answer so far and every candidate's tokens must fit.
const CONTEXT_TOKENS: u32 = 4096;
/// Sequences: the prompt's, plus one per candidate label (llama.cpp allows 256).
const MAX_SEQUENCES: u32 = 256;

static BACKEND: OnceLock<Result<LlamaBackend, String>> = OnceLock::new();

pub(crate) fn backend() -> Result<&'static LlamaBackend, EngineError> {
    BACKEND
        .get_or_init(|| {
            let mut backend = LlamaBackend::init().map_err(|error| error.to_string())?;
            // llama.cpp logs hundreds of lines to stderr otherwise.
            backend.void_logs();
            Ok(backend)
        })
        .as_ref()
        .map_err(|error| EngineError::Inference(error.clone()))
}

pub(crate) struct Session<'model> {
    pub(crate) model: &'model LlamaModel,
    template: LlamaChatTemplate,
    context: LlamaContext<'model>,
    /// The tokens in sequence 0, in order.
    cached: Vec<LlamaToken>,
    /// Log-probabilities after the last token of sequence 0.
    last_logits: Vec<f32>,
    /// Whether the context's own logits are still those after sequence 0's last token
    /// (scoring candidates replaces them).
    context_current: bool,
}

pub(crate) fn serve(
    options: &EngineOptions,
    name: &str,
    ready: &crossbeam_channel::Sender<Result<(), EngineError>>,
    jobs: &crossbeam_channel::Receiver<Job>,
) {
    let loaded = backend().and_then(|backend| {
        let model =
            LlamaModel::load_from_file(backend, &options.model_path, &LlamaModelParams::default())
                .map_err(|error| EngineError::CorruptModel {
                    path: options.model_path.clone(),
                    reason: format!("llama.cpp cannot load it: {error}"),
                })?;
        Ok((backend, model))
    });
    let (backend, model) = match loaded {
        Ok(loaded) => loaded,
        Err(error) => {
            let _ = ready.send(Err(error));
            return;
        }
    };
    let mut session = match Session::new(backend, &model, options.threads) {
        Ok(session) => session,
        Err(error) => {
            let _ = ready.send(Err(error));
            return;
        }
    };
    let _ = ready.send(Ok(()));
    // Made on the first request for embeddings: most jobs never ask.
    let mut embedder: Option<crate::embed::Embedder<'_>> = None;
    for job in jobs {
        match job {
            Job::Complete { body, reply } => {
                let answer = crate::answer::answer(&mut session, &body, name, options.one_of);
                let _ = reply.send(answer);
            }
            Job::Embed { texts, reply } => {
                let vectors = match embedder.as_mut() {
                    Some(made) => made.embed(&texts),
                    None => crate::embed::Embedder::new(backend, &model, options.threads)
                        .and_then(|made| embedder.insert(made).embed(&texts)),
                };
                let _ = reply.send(vectors);
            }
        }
    }
}

fn inference(error: impl std::fmt::Display) -> EngineError {
    EngineError::Inference(error.to_string())
}

fn log_softmax(logits: &[f32]) -> Vec<f32> {
    let max = logits.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let sum: f32 = logits.iter().map(|logit| (logit - max).exp()).sum();
    let log_sum = max + sum.ln();
    logits.iter().map(|logit| logit - log_sum).collect()
}

impl<'model> Session<'model> {
    fn new(
        backend: &LlamaBackend,
        model: &'model LlamaModel,
        threads: u32,
    ) -> Result<Self, EngineError> {
        // A GGUF without a chat template (e.g. a base model) falls back to ChatML.
        let template = model
            .chat_template(None)
            .or_else(|_| LlamaChatTemplate::new("chatml").map_err(inference))
            .map_err(inference)?;
        let threads = threads.max(1) as i32;
        let parameters = LlamaContextParams::default()
            .with_n_ctx(NonZeroU32::new(CONTEXT_TOKENS))
            .with_n_batch(CONTEXT_TOKENS)
            .with_n_ubatch(512)
            .with_n_seq_max(MAX_SEQUENCES)
            .with_kv_unified(true)
            .with_n_threads(threads)
            .with_n_threads_batch(threads);
        let context = model.new_context(backend, parameters).map_err(inference)?;
        Ok(Self {
            model,
            template,
            context,
            cached: Vec::new(),
            last_logits: Vec::new(),
            context_current: false,
        })
    }

    /// The prompt tokens of `messages` under the model's chat template, with the assistant
    /// turn opened. Message contents are tokenized as plain text, so a comment that contains
    /// `<|im_end|>` cannot close its turn; the template's own pieces keep their special tokens.
    pub(crate) fn prompt_tokens(
        &self,
        messages: &[(String, String)],
    ) -> Result<Vec<LlamaToken>, EngineError> {
        let marker = |index: usize| format!("\u{E000}{index}\u{E001}");
        let chat: Vec<LlamaChatMessage> = messages
            .iter()
            .enumerate()
            .map(|(index, (role, _))| LlamaChatMessage::new(role.clone(), marker(index)))
            .collect::<Result<_, _>>()
            .map_err(inference)?;
        let rendered = self
            .model
            .apply_chat_template(&self.template, &chat, true)
            .map_err(inference)?;
        let vocab = self.model.vocab();
        let mut tokens = Vec::new();
        let mut rest = rendered.as_str();
        for (index, (_, content)) in messages.iter().enumerate() {
            let marker = marker(index);
            let Some(at) = rest.find(&marker) else {
                return Err(EngineError::Inference(
                    "the chat template dropped a message".into(),
                ));
            };
            tokens.extend(vocab.tokenize(&rest.as_bytes()[..at], false, true));
            tokens.extend(vocab.tokenize(content.as_bytes(), false, false));
            rest = &rest[at + marker.len()..];
        }
        tokens.extend(vocab.tokenize(rest.as_bytes(), false, true));
        Ok(tokens)
    }

    /// Plain text as tokens (no special tokens).
    pub(crate) fn text_tokens(&self, text: &str) -> Vec<LlamaToken> {
        self.model.vocab().tokenize(text.as_bytes(), false, false)
    }

    /// Make sequence 0 hold exactly `tokens`, reusing the cached prefix, and keep the
    /// log-probabilities after its last token.
    pub(crate) fn extend_to(&mut self, tokens: &[LlamaToken]) -> Result<(), EngineError> {
        if tokens.len() as u32 + 8 > CONTEXT_TOKENS {
            return Err(EngineError::BadRequest(format!(
                "the prompt is {} tokens, more than the local model's context of {CONTEXT_TOKENS}; shorten the prompt or the text",
                tokens.len()
            )));
        }
        let mut shared = self
            .cached
            .iter()
            .zip(tokens)
            .take_while(|(cached, wanted)| cached == wanted)
            .count();
        if shared == tokens.len() {
            if shared == self.cached.len() && !self.last_logits.is_empty() {
                return Ok(());
            }
            // The logits after the last token are needed: evaluate it again.
            shared = shared.saturating_sub(1);
        }
        if shared < self.cached.len() {
            self.context
                .clear_kv_cache_seq(Some(0), Some(shared as u32), None)
                .map_err(inference)?;
            self.cached.truncate(shared);
        }
        let mut batch = LlamaBatch::new(CONTEXT_TOKENS as usize, 1);
        let last = tokens.len() - 1;
        for (position, token) in tokens.iter().enumerate().skip(shared) {
            batch
                .add(*token, position as i32, &[0], position == last)
                .map_err(inference)?;
        }
        self.context.decode(&mut batch).map_err(inference)?;
        self.last_logits = log_softmax(self.context.get_logits_ith(batch.n_tokens() - 1));
        self.cached = tokens.to_vec();
        self.context_current = true;
        Ok(())
    }

    /// Log-probability of each candidate continuing sequence 0.
    pub(crate) fn score(
        &mut self,
        candidates: &[Vec<LlamaToken>],
    ) -> Result<Vec<f32>, EngineError> {
        let mut scores: Vec<f32> = candidates
            .iter()
            .map(|tokens| {
                tokens.first().map_or(f32::NEG_INFINITY, |first| {
                    self.last_logits[first.0 as usize]
                })
            })
            .collect();
        let longer: Vec<usize> = (0..candidates.len())
            .filter(|index| candidates[*index].len() > 1)
            .collect();
        if longer.is_empty() {
            return Ok(scores);
        }
        let base = self.cached.len();
        let needed: usize = longer
            .iter()
            .map(|index| candidates[*index].len() - 1)
            .sum();
        if base + needed + 8 > CONTEXT_TOKENS as usize {
            return Err(EngineError::BadRequest(format!(
                "the prompt and the labels' tokens ({}) do not fit the local model's context of {CONTEXT_TOKENS}",
                base + needed
            )));
        }
        let mut batch = LlamaBatch::new(needed.max(1), 1);
        let mut slots = Vec::new();
        for (slot, index) in longer.iter().enumerate() {
            let sequence = slot as i32 + 1;
            self.context
                .copy_kv_cache_seq(0, sequence, None, None)
                .map_err(inference)?;
            let tokens = &candidates[*index];
            for (offset, token) in tokens[..tokens.len() - 1].iter().enumerate() {
                batch
                    .add(*token, (base + offset) as i32, &[sequence], true)
                    .map_err(inference)?;
                slots.push((*index, tokens[offset + 1]));
            }
        }
        self.context.decode(&mut batch).map_err(inference)?;
        self.context_current = false;
        for (position, (index, next)) in slots.iter().enumerate() {
            let logits = log_softmax(self.context.get_logits_ith(position as i32));
            scores[*index] += logits[next.0 as usize];
        }
        for slot in 0..longer.len() {
            self.context
                .clear_kv_cache_seq(Some(slot as u32 + 1), None, None)
                .map_err(inference)?;
        }
        Ok(scores)
    }

    /// Generate after sequence 0 under `grammar` (GBNF, rule `root`), greedily, until the
    /// model ends its turn or `max_tokens`; the generated tokens join sequence 0.
    pub(crate) fn generate(
        &mut self,
        grammar: &str,
        max_tokens: usize,
    ) -> Result<(String, usize), EngineError> {
        if !self.context_current {
            // Sampling reads the context's logits: evaluate the last token again.
            let tokens = self.cached.clone();
            self.last_logits.clear();
            self.cached.pop();
            self.extend_to(&tokens)?;
        }
        let grammar = LlamaSampler::grammar(self.model, grammar, "root").map_err(inference)?;
        let mut sampler = LlamaSampler::chain_simple([grammar, LlamaSampler::greedy()]);
        let vocab = self.model.vocab();
        let mut text = Vec::new();
        let mut generated = 0;
        for _ in 0..max_tokens {
            let token = sampler.sample(&self.context, -1);
            if vocab.is_eog(token) {
                break;
            }
            text.extend(vocab.token_to_piece(token, false, None));
            generated += 1;
            let mut tokens = self.cached.clone();
            tokens.push(token);
            self.extend_to(&tokens)?;
        }
        Ok((String::from_utf8_lossy(&text).into_owned(), generated))
    }
}
