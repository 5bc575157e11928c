//! Token counting with the model's own tokenizer (tiktoken), for estimates and admission.

use batchlabel_spec::{Job, LabelKind};
use tiktoken_rs::CoreBPE;
use tiktoken_rs::tokenizer::{Tokenizer, get_tokenizer};

/// Tokens the chat format adds per message (role and separators), and to prime the reply;
/// the figures OpenAI's cookbook uses for gpt-4o-class models.
const PER_MESSAGE: u64 = 3;
pub const REPLY_PRIMING: u64 = 3;

/// A tokenizer chosen for a model.
pub struct TokenCounter {
    bpe: &'static CoreBPE,
    /// Encoding name, e.g. `o200k_base`.
    pub encoding: &'static str,
    /// Whether the model is unknown to tiktoken and `o200k_base` was assumed.
    pub assumed: bool,
}

impl TokenCounter {
    /// The tokenizer of `model` (falls back to `o200k_base`, flagged as assumed).
    pub fn for_model(model: &str) -> Self {
        match get_tokenizer(model) {
            Some(Tokenizer::Cl100kBase) => Self {
                bpe: tiktoken_rs::cl100k_base_singleton(),
                encoding: "cl100k_base",
                assumed: false,
            },
            Some(Tokenizer::O200kHarmony) => Self {
                bpe: tiktoken_rs::o200k_harmony_singleton(),
                encoding: "o200k_harmony",
                assumed: false,
            },
            Some(Tokenizer::O200kBase) => Self {
                bpe: tiktoken_rs::o200k_base_singleton(),
                encoding: "o200k_base",
                assumed: false,
            },
            _ => Self {
                bpe: tiktoken_rs::o200k_base_singleton(),
                encoding: "o200k_base",
                assumed: true,
            },
        }
    }

    /// Tokens in `text`.
    pub fn count(&self, text: &str) -> u64 {
        self.bpe.encode_ordinary(text).len() as u64
    }

    /// Prompt tokens of one chat message: its content plus the chat format's overhead.
    pub fn message(&self, content: &str) -> u64 {
        self.count(content) + PER_MESSAGE
    }

    /// Prompt tokens of a chat request: its messages plus the reply priming.
    pub fn chat_prompt(&self, messages: &[&str]) -> u64 {
        messages
            .iter()
            .map(|content| self.message(content))
            .sum::<u64>()
            + REPLY_PRIMING
    }

    /// Most output tokens one answer can take: the longest JSON the label schema allows,
    /// capped by `max_completion_tokens`. `None` when neither bounds it (a raw schema with no
    /// token cap).
    pub fn output_bound(&self, job: &Job) -> Option<u64> {
        let cap = job.model.max_completion_tokens.map(u64::from);
        let mut total = 2; // `{` `}`
        for field in &job.labels {
            total += self.count(&format!("\"{}\":", field.name)) + 1;
            let longest = |labels: &[batchlabel_spec::Label]| -> Vec<u64> {
                let mut counts: Vec<u64> = labels
                    .iter()
                    .map(|label| {
                        self.count(&serde_json::Value::String(label.name.clone()).to_string()) + 1
                    })
                    .collect();
                counts.sort_unstable_by(|left, right| right.cmp(left));
                counts
            };
            match &field.kind {
                LabelKind::OneOf { labels } => {
                    total += longest(labels).first().copied().unwrap_or(1);
                }
                LabelKind::AnyOf { labels, max, .. } => {
                    let take = max.map_or(labels.len(), |max| max as usize);
                    total += 2 + longest(labels).iter().take(take).sum::<u64>();
                }
                LabelKind::Schema { .. } => return cap,
            }
        }
        Some(cap.map_or(total, |cap| cap.min(total)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn picks_the_model_tokenizer() {
        assert_eq!(
            TokenCounter::for_model("gpt-4o-mini").encoding,
            "o200k_base"
        );
        assert_eq!(
            TokenCounter::for_model("gpt-3.5-turbo").encoding,
            "cl100k_base"
        );
        assert!(TokenCounter::for_model("my-local-model").assumed);
    }

    #[test]
    fn counts_known_text() {
        let counter = TokenCounter::for_model("gpt-4o-mini");
        assert_eq!(counter.count("hello world"), 2);
        assert_eq!(counter.chat_prompt(&["hello world"]), 2 + 3 + 3);
    }
}
