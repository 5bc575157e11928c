//! OpenAI's batch prices (US dollars per 1M tokens). Batch is 50% of the synchronous price
//! for input and output. Source: pydantic/genai-prices, which cites
//! developers.openai.com/api/docs/pricing. Cached input (prompt-cache hits, which batch
//! `usage` reports as `cached_tokens`): the synchronous table's discount for cached input
//! (50% for gpt-4o, 75% for gpt-4.1, 90% for gpt-5) applied to the batch price.

/// The date the table was read.
pub const PRICES_AS_OF: &str = "2026-08-21";

/// Batch price of one model.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct BatchPrice {
    /// The table entry that matched (a model family prefix).
    pub model: &'static str,
    /// Dollars per 1M input tokens, batch.
    pub input_per_million: f64,
    /// Dollars per 1M output tokens, batch.
    pub output_per_million: f64,
    /// Dollars per 1M input tokens served from the prompt cache, batch.
    pub cached_input_per_million: f64,
}

/// Model, batch input, batch output, and the share of the input price cached input pays.
const TABLE: &[(&str, f64, f64, f64)] = &[
    ("gpt-4o-mini", 0.075, 0.30, 0.5),
    ("gpt-4o", 1.25, 5.00, 0.5),
    ("gpt-4.1-nano", 0.05, 0.20, 0.25),
    ("gpt-4.1-mini", 0.20, 0.80, 0.25),
    ("gpt-4.1", 1.00, 4.00, 0.25),
    ("gpt-5-nano", 0.025, 0.20, 0.1),
    ("gpt-5-mini", 0.125, 1.00, 0.1),
    ("gpt-5.4-nano", 0.10, 0.625, 0.1),
    ("gpt-5.4-mini", 0.375, 2.25, 0.1),
    ("gpt-5", 0.625, 5.00, 0.1),
];

/// The price of `model`: the longest table entry it starts with, so dated snapshots
/// (`gpt-4o-mini-2024-07-18`) find their family and `gpt-4o-mini` never matches `gpt-4o`.
pub fn batch_price(model: &str) -> Option<BatchPrice> {
    TABLE
        .iter()
        .filter(|(name, ..)| {
            model == *name
                || model.strip_prefix(name).is_some_and(|rest| {
                    rest.starts_with('-') && rest[1..].starts_with(|c: char| c.is_ascii_digit())
                })
        })
        .max_by_key(|(name, ..)| name.len())
        .map(|(name, input, output, cached)| BatchPrice {
            model: name,
            input_per_million: *input,
            output_per_million: *output,
            cached_input_per_million: input * cached,
        })
}

impl BatchPrice {
    /// Dollars for these token counts.
    pub fn cost(&self, input_tokens: u64, output_tokens: u64) -> f64 {
        self.cost_with_cache(input_tokens, 0, output_tokens)
    }

    /// Dollars for these token counts, `cached_tokens` of the input at the cached rate.
    pub fn cost_with_cache(
        &self,
        input_tokens: u64,
        cached_tokens: u64,
        output_tokens: u64,
    ) -> f64 {
        let cached = cached_tokens.min(input_tokens);
        ((input_tokens - cached) as f64 * self.input_per_million
            + cached as f64 * self.cached_input_per_million
            + output_tokens as f64 * self.output_per_million)
            / 1e6
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_families_and_snapshots_exactly() {
        assert!((batch_price("gpt-4o-mini").unwrap().input_per_million - 0.075).abs() < 1e-12);
        assert_eq!(
            batch_price("gpt-4o-mini-2024-07-18").unwrap().model,
            "gpt-4o-mini"
        );
        assert_eq!(batch_price("gpt-4o-2024-08-06").unwrap().model, "gpt-4o");
        assert_eq!(batch_price("gpt-5.4-mini").unwrap().model, "gpt-5.4-mini");
        assert_eq!(batch_price("gpt-5").unwrap().model, "gpt-5");
        assert!(batch_price("gpt-4o-audio-preview").is_none());
        assert!(batch_price("llama-3").is_none());
    }

    #[test]
    fn a_million_short_requests_on_gpt_4_1_nano_cost_about_16_dollars() {
        // 1M items × (300 in + 5 out) on gpt-4.1-nano batch ≈ $15 + $1.
        let price = batch_price("gpt-4.1-nano").unwrap();
        assert!((price.cost(300_000_000, 5_000_000) - 16.0).abs() < 1e-9);
    }

    #[test]
    fn cached_input_is_priced_at_the_cached_rate() {
        let price = batch_price("gpt-4o-mini").unwrap();
        // 1M input of which 600k cached at half the batch input price, 100k output.
        let cost = price.cost_with_cache(1_000_000, 600_000, 100_000);
        assert!((cost - (0.4 * 0.075 + 0.6 * 0.0375 + 0.1 * 0.30)).abs() < 1e-12);
        assert!(
            (batch_price("gpt-5-mini").unwrap().cached_input_per_million - 0.0125).abs() < 1e-12
        );
    }
}
