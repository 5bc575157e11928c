//! Text embeddings from the loaded model: the mean of its last hidden states over a text's
//! tokens, L2-normalised so that cosine similarity is a dot product. They pick few-shot
//! examples by meaning (`examples.similarity: embeddings`). A small chat model is not an
//! embedding model: BENCHMARKS.md measures this against BM25 rather than assuming it is better.

use std::num::NonZeroU32;

use llama_cpp_2::context::LlamaContext;
use llama_cpp_2::context::params::{LlamaContextParams, LlamaPoolingType};
use llama_cpp_2::llama_backend::LlamaBackend;
use llama_cpp_2::llama_batch::LlamaBatch;
use llama_cpp_2::model::LlamaModel;

use crate::EngineError;

/// Tokens evaluated at once (every text of a batch together). Pooling needs an output for
/// every token, and llama.cpp keeps a vocabulary-wide row of logits for each: 512 tokens
/// hold ~100 MB with SmolLM2's 49k vocabulary (2,048 held 1.2 GB for no gain in speed).
const BATCH_TOKENS: u32 = 512;
/// Texts evaluated at once.
const BATCH_TEXTS: u32 = 32;
/// A longer text is embedded by its first tokens: examples and comments are short, and the
/// opening carries their topic.
const TEXT_TOKENS: usize = 256;

/// An embedding context beside the scoring one (its own KV cache, pooled outputs).
pub(crate) struct Embedder<'model> {
    model: &'model LlamaModel,
    context: LlamaContext<'model>,
}

fn inference(error: impl std::fmt::Display) -> EngineError {
    EngineError::Inference(format!("embedding: {error}"))
}

impl<'model> Embedder<'model> {
    pub(crate) fn new(
        backend: &LlamaBackend,
        model: &'model LlamaModel,
        threads: u32,
    ) -> Result<Self, EngineError> {
        let threads = threads.max(1) as i32;
        let parameters = LlamaContextParams::default()
            .with_n_ctx(NonZeroU32::new(BATCH_TOKENS))
            .with_n_batch(BATCH_TOKENS)
            .with_n_ubatch(BATCH_TOKENS)
            .with_n_seq_max(BATCH_TEXTS)
            .with_kv_unified(true)
            .with_embeddings(true)
            .with_pooling_type(LlamaPoolingType::Mean)
            .with_n_threads(threads)
            .with_n_threads_batch(threads);
        let context = model.new_context(backend, parameters).map_err(inference)?;
        Ok(Self { model, context })
    }

    /// One unit vector per text, in order (an empty text gets the zero vector).
    pub(crate) fn embed(&mut self, texts: &[String]) -> Result<Vec<Vec<f32>>, EngineError> {
        let vocab = self.model.vocab();
        let tokenized: Vec<Vec<_>> = texts
            .iter()
            .map(|text| {
                let mut tokens = vocab.tokenize(text.as_bytes(), false, false);
                tokens.truncate(TEXT_TOKENS);
                tokens
            })
            .collect();
        let width = usize::try_from(self.model.n_embd()).unwrap_or(0);
        let mut vectors = Vec::with_capacity(texts.len());
        let mut start = 0;
        while start < tokenized.len() {
            let mut end = start;
            let mut total = 0;
            while end < tokenized.len()
                && end - start < BATCH_TEXTS as usize
                && total + tokenized[end].len() <= BATCH_TOKENS as usize
            {
                total += tokenized[end].len();
                end += 1;
            }
            vectors.extend(self.embed_batch(&tokenized[start..end], width)?);
            start = end;
        }
        Ok(vectors)
    }

    fn embed_batch(
        &mut self,
        texts: &[Vec<llama_cpp_2::token::LlamaToken>],
        width: usize,
    ) -> Result<Vec<Vec<f32>>, EngineError> {
        let total: usize = texts.iter().map(Vec::len).sum();
        let mut batch = LlamaBatch::new(total.max(1), texts.len().max(1) as i32);
        for (sequence, tokens) in texts.iter().enumerate() {
            for (position, token) in tokens.iter().enumerate() {
                batch
                    .add(*token, position as i32, &[sequence as i32], true)
                    .map_err(inference)?;
            }
        }
        self.context.clear_kv_cache();
        if total > 0 {
            self.context.decode(&mut batch).map_err(inference)?;
        }
        texts
            .iter()
            .enumerate()
            .map(|(sequence, tokens)| {
                if tokens.is_empty() {
                    return Ok(vec![0.0; width]);
                }
                let pooled = self
                    .context
                    .embeddings_seq_ith(sequence as i32)
                    .map_err(inference)?;
                Ok(unit(pooled))
            })
            .collect()
    }
}

/// `vector` scaled to length 1 (the zero vector stays zero).
fn unit(vector: &[f32]) -> Vec<f32> {
    let norm = vector.iter().map(|value| value * value).sum::<f32>().sqrt();
    if norm == 0.0 || !norm.is_finite() {
        return vec![0.0; vector.len()];
    }
    vector.iter().map(|value| value / norm).collect()
}

#[cfg(test)]
mod tests {
    #[test]
    fn vectors_are_scaled_to_unit_length() {
        let scaled = super::unit(&[3.0, 4.0]);
        assert!((scaled[0] - 0.6).abs() < 1e-6 && (scaled[1] - 0.8).abs() < 1e-6);
        assert_eq!(super::unit(&[0.0, 0.0]), vec![0.0, 0.0]);
    }
}
