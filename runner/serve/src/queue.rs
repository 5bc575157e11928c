//! The enqueued-token queue (`--max-enqueued-tokens`). Providers cap the input tokens a model
//! may have queued (OpenAI per model and organization, Azure per deployment), so a client must pace its batches; this server
//! enforces a cap so that pacing is tested over real HTTP. A batch's tokens (characters/4 of
//! its input, Azure's estimate) count from create until it ends. A create that would bring
//! the total over the cap is refused — OpenAI and Azure fail the batch in validation with
//! `token_limit_exceeded`, Anthropic, Gemini and Mistral answer 429 — even a lone batch bigger than the cap, as
//! the providers do. The peak total is kept so tests can check what a client queued.

use std::collections::{HashMap, HashSet};
use std::io::BufRead;
use std::path::Path;
use std::sync::Mutex;

use serde_json::{Value, json};

/// What is queued now, and what was.
pub(crate) struct Queue {
    limit: Option<u64>,
    inner: Mutex<Inner>,
}

#[derive(Default)]
struct Inner {
    /// Tokens of each batch counted and not yet ended.
    batches: HashMap<String, u64>,
    /// Their sum.
    enqueued: u64,
    /// The highest `enqueued` seen.
    peak: u64,
    /// Batches refused and not yet failed by the processor.
    refused: HashSet<String>,
    /// Refusals since the server started.
    refusals: u64,
}

impl Queue {
    pub(crate) fn new(limit: Option<u64>) -> Self {
        Self {
            limit,
            inner: Mutex::new(Inner::default()),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Count a new batch's tokens, or refuse it when they would bring the total over the cap
    /// (a refused batch is remembered until [`Queue::release`], so the processor fails it).
    /// Whether it was admitted, and the total enqueued now.
    pub(crate) fn admit(&self, batch_id: &str, tokens: u64) -> (bool, u64) {
        let mut inner = self.lock();
        let total = inner.enqueued.saturating_add(tokens);
        if self.limit.is_some_and(|limit| total > limit) {
            inner.refused.insert(batch_id.to_string());
            inner.refusals += 1;
            return (false, inner.enqueued);
        }
        inner.enqueued = total;
        inner.peak = inner.peak.max(total);
        inner.batches.insert(batch_id.to_string(), tokens);
        (true, total)
    }

    /// Whether the batch was refused at create.
    pub(crate) fn refused(&self, batch_id: &str) -> bool {
        self.lock().refused.contains(batch_id)
    }

    /// The batch ended (or was never made): its tokens leave the queue.
    pub(crate) fn release(&self, batch_id: &str) {
        let mut inner = self.lock();
        inner.refused.remove(batch_id);
        if let Some(tokens) = inner.batches.remove(batch_id) {
            inner.enqueued = inner.enqueued.saturating_sub(tokens);
        }
    }

    /// The cap, if any.
    pub(crate) fn limit(&self) -> Option<u64> {
        self.limit
    }

    /// Counters for `/v1/_batchlabel/stats`.
    pub(crate) fn stats(&self) -> Value {
        let inner = self.lock();
        json!({
            "max_enqueued_tokens": self.limit,
            "enqueued_tokens": inner.enqueued,
            "peak_enqueued_tokens": inner.peak,
            "enqueued_batches": inner.batches.len(),
            "refused_batches": inner.refusals,
        })
    }
}

/// Characters in `bytes` (UTF-8 continuation bytes are not characters).
pub(crate) fn characters(bytes: &[u8]) -> u64 {
    bytes.iter().filter(|byte| (**byte & 0xC0) != 0x80).count() as u64
}

/// The enqueued-token estimate of some characters: one token per four, rounded up.
pub(crate) fn tokens_of(characters: u64) -> u64 {
    characters.div_ceil(4)
}

/// The estimate of a stored input file (0 when unreadable: validation reports it).
pub(crate) fn file_tokens(path: &Path) -> u64 {
    let Ok(file) = std::fs::File::open(path) else {
        return 0;
    };
    let mut reader = std::io::BufReader::with_capacity(1 << 20, file);
    let mut total = 0;
    loop {
        let read = match reader.fill_buf() {
            Ok([]) | Err(_) => break,
            Ok(buffer) => {
                total += characters(buffer);
                buffer.len()
            }
        };
        reader.consume(read);
    }
    tokens_of(total)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn admits_up_to_the_cap_and_releases() {
        let queue = Queue::new(Some(100));
        assert_eq!(queue.admit("a", 60), (true, 60));
        assert_eq!(queue.admit("b", 50), (false, 60));
        assert!(queue.refused("b"));
        assert_eq!(queue.admit("c", 40), (true, 100));
        queue.release("a");
        queue.release("b");
        assert!(!queue.refused("b"));
        assert_eq!(queue.admit("d", 60), (true, 100));
        let stats = queue.stats();
        assert_eq!(stats["peak_enqueued_tokens"], 100);
        assert_eq!(stats["refused_batches"], 1);
    }

    #[test]
    fn a_lone_batch_over_the_cap_is_refused_and_no_cap_refuses_nothing() {
        assert_eq!(Queue::new(Some(10)).admit("a", 11), (false, 0));
        assert_eq!(Queue::new(None).admit("a", u64::MAX), (true, u64::MAX));
    }

    #[test]
    fn counts_characters_not_bytes() {
        assert_eq!(characters("twö".as_bytes()), 3);
        assert_eq!(tokens_of(5), 2);
    }
}
