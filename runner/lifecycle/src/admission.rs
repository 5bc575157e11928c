//! Enqueued-token admission. Providers cap the input tokens a model may have queued per
//! organisation (OpenAI fails the batch with `token_limit_exceeded`, Azure reports its quota
//! in `deployment-maximum-enqueued-tokens`, Anthropic, Gemini and Mistral answer 429 at
//! create), so sending every shard at once gets most of a large job refused. Shards go out in
//! waves instead: a planned shard is sent only while the tokens in flight (shards whose batch
//! is created and not yet ended) plus its own stay within the cap, in shard order.
//!
//! The cap is the spec's `batch.max_enqueued_tokens`, else the provider's default (see
//! [`Cap::default_for`]). A shard bigger than the cap still goes, alone, so a job never
//! deadlocks. A refusal (a batch failed for a full queue, or a create answered "queue
//! full") means the real cap is lower than ours or others share it: the cap drops to what
//! was in flight then (at least the refused shard), so nothing more goes until batches end,
//! and with nothing of ours in flight sends pause for a growing while. Each batch that ends
//! well raises a lowered cap by an eighth of its own tokens (about an eighth per wave) up to
//! where it started. All of this is in memory: a resumed run starts from the spec's cap.

use batchlabel_providers::api_key::is_loopback;
use std::time::{Duration, Instant};

use batchlabel_core::ShardState;
use batchlabel_ledger::ShardRecord;
use batchlabel_spec::{Job, ProviderKind};

/// OpenAI's enqueued-token limit for gpt-4o-mini at usage tier 1, the lowest (OpenAI's
/// rate-limit tiers): higher tiers set `batch.max_enqueued_tokens`.
pub(crate) const OPENAI_DEFAULT_TOKENS: u64 = 2_000_000;
/// Azure: below its default Global Batch quotas (gpt-4o 200M, gpt-4o-mini 1B), so it holds
/// for the common models.
pub(crate) const AZURE_DEFAULT_TOKENS: u64 = 100_000_000;
/// Gemini's batch enqueued-token limit for gemini-2.5-flash at tier 1, the lowest paid tier
/// (higher tiers set `batch.max_enqueued_tokens`).
pub(crate) const GEMINI_DEFAULT_TOKENS: u64 = 3_000_000;
/// Anthropic queues by requests: at most a full batch's worth (100,000) in flight.
pub(crate) const ANTHROPIC_DEFAULT_REQUESTS: u64 = 100_000;

/// A limit on what may be in flight at once (`None`: unlimited on that measure).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Cap {
    pub(crate) tokens: Option<u64>,
    pub(crate) requests: Option<u64>,
}

impl Cap {
    /// The cap of a job: the spec's tokens (which replace the provider's default entirely, so
    /// an Anthropic account above tier 1 can lift its requests cap), else the provider's
    /// default. A provider on a loopback address (`batchlabel serve`, a local model, a proxy)
    /// gets no default: its limits are its own, and a refusal from it still lowers the cap.
    pub(crate) fn for_job(job: &Job, provider_url: &str) -> Self {
        match job.batching.max_enqueued_tokens {
            Some(tokens) => Self::tokens(tokens),
            None if is_loopback(provider_url) => Self::NONE,
            None => Self::default_for(job.model.provider),
        }
    }

    /// The provider's default: OpenAI 2M tokens, Azure 100M tokens, Gemini 3M tokens,
    /// Anthropic 100,000 requests, Mistral and the local model none.
    pub(crate) fn default_for(provider: ProviderKind) -> Self {
        match provider {
            ProviderKind::Openai => Self::tokens(OPENAI_DEFAULT_TOKENS),
            ProviderKind::AzureOpenai => Self::tokens(AZURE_DEFAULT_TOKENS),
            ProviderKind::Anthropic => Self {
                tokens: None,
                requests: Some(ANTHROPIC_DEFAULT_REQUESTS),
            },
            ProviderKind::Gemini => Self::tokens(GEMINI_DEFAULT_TOKENS),
            // Mistral documents no queue cap (up to 1M requests per job); a 429 at create
            // still lowers ours.
            ProviderKind::Mistral | ProviderKind::Local => Self::NONE,
        }
    }

    const NONE: Self = Self {
        tokens: None,
        requests: None,
    };

    fn tokens(tokens: u64) -> Self {
        Self {
            tokens: Some(tokens),
            requests: None,
        }
    }

    /// Whether `load` fits.
    fn holds(self, load: Load) -> bool {
        self.tokens.is_none_or(|cap| load.tokens <= cap)
            && self.requests.is_none_or(|cap| load.requests <= cap)
    }
}

/// What shards weigh in the provider's queue.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct Load {
    pub(crate) tokens: u64,
    pub(crate) requests: u64,
}

impl Load {
    /// A shard's weight. Its tokens are its estimate (the prompt tokens counted for the
    /// budget) or, if more, a quarter of its bytes: the characters estimate Azure and
    /// `batchlabel serve` count, which also stands in when no budget counted tokens.
    pub(crate) fn of(shard: &ShardRecord) -> Self {
        let bytes = u64::try_from(shard.bytes).unwrap_or(0);
        Self {
            tokens: shard.estimate.input_tokens.max(bytes.div_ceil(4)),
            requests: u64::try_from(shard.requests).unwrap_or(0),
        }
    }

    fn plus(self, other: Self) -> Self {
        Self {
            tokens: self.tokens.saturating_add(other.tokens),
            requests: self.requests.saturating_add(other.requests),
        }
    }

    /// The shards whose batches are created and not yet ended.
    pub(crate) fn in_flight(shards: &[ShardRecord]) -> Self {
        Self::sum(shards, ShardState::Submitted)
    }

    /// The shards in `state`.
    pub(crate) fn sum(shards: &[ShardRecord], state: ShardState) -> Self {
        shards
            .iter()
            .filter(|shard| shard.state == state)
            .fold(Self::default(), |sum, shard| sum.plus(Self::of(shard)))
    }
}

/// The run's admission state.
#[derive(Debug)]
pub(crate) struct Admission {
    /// Where a lowered cap grows back to.
    ceiling: Cap,
    /// The cap in force.
    cap: Cap,
    /// No sends before then (after a refusal with nothing of ours in flight).
    hold_until: Option<Instant>,
    /// Refusals since a batch last ended well: the pause doubles with each.
    refusals: u32,
    /// The first pause.
    pause: Duration,
}

impl Admission {
    /// Admission under `cap`; `pause` is the first wait after a refusal with nothing in flight.
    pub(crate) fn new(cap: Cap, pause: Duration) -> Self {
        Self {
            ceiling: cap,
            cap,
            hold_until: None,
            refusals: 0,
            pause,
        }
    }

    /// The cap in force.
    pub(crate) fn cap(&self) -> Cap {
        self.cap
    }

    /// The planned shards among `shards` (all the run's) to send now, in order, each while
    /// what is in flight plus it fits the cap; the first that does not fit ends the wave
    /// (shards keep their order). One over the cap goes alone when nothing is in flight.
    pub(crate) fn select(&self, shards: &[ShardRecord], now: Instant) -> Vec<ShardRecord> {
        if self.hold_until.is_some_and(|until| now < until) {
            return Vec::new();
        }
        let mut load = Load::in_flight(shards);
        let mut chosen = Vec::new();
        for shard in shards
            .iter()
            .filter(|shard| shard.state == ShardState::Planned)
        {
            let next = load.plus(Load::of(shard));
            let alone = load == Load::default();
            if !alone && !self.cap.holds(next) {
                break;
            }
            chosen.push(shard.clone());
            load = next;
            if alone && !self.cap.holds(next) {
                break;
            }
        }
        chosen
    }

    /// The provider refused `refused` for a full queue while `in_flight` was queued: the cap
    /// drops to that (at least the refused shard), so it waits for batches to end; with
    /// nothing in flight, sends pause instead, longer after each refusal in a row.
    pub(crate) fn refused(&mut self, in_flight: Load, refused: Load, now: Instant) {
        let lower = |cap: Option<u64>, queued: u64, own: u64| {
            let floor = queued.max(own).max(1);
            Some(cap.map_or(floor, |cap| cap.min(floor)))
        };
        // The measure the provider queues by: requests for Anthropic, else tokens.
        if self.ceiling.tokens.is_some() || self.ceiling.requests.is_none() {
            self.cap.tokens = lower(self.cap.tokens, in_flight.tokens, refused.tokens);
        }
        if self.ceiling.requests.is_some() {
            self.cap.requests = lower(self.cap.requests, in_flight.requests, refused.requests);
        }
        if in_flight == Load::default() {
            // At most 16 pauses (16 minutes at the default longest poll of a minute).
            self.hold_until = Some(now + self.pause * 2u32.pow(self.refusals.min(4)));
        }
        self.refusals = self.refusals.saturating_add(1);
    }

    /// A batch of `load` ended without a refusal: a lowered cap grows back by an eighth of
    /// it, up to the ceiling.
    pub(crate) fn ended_well(&mut self, load: Load) {
        self.refusals = 0;
        self.hold_until = None;
        let grow = |cap: Option<u64>, ceiling: Option<u64>, by: u64| {
            let grown = cap?.saturating_add(by.div_ceil(8).max(1));
            Some(ceiling.map_or(grown, |ceiling| grown.min(ceiling)))
        };
        if self.cap != self.ceiling {
            self.cap = Cap {
                tokens: grow(self.cap.tokens, self.ceiling.tokens, load.tokens),
                requests: grow(self.cap.requests, self.ceiling.requests, load.requests),
            };
        }
    }
}

#[cfg(test)]
#[path = "admission_tests.rs"]
mod tests;
