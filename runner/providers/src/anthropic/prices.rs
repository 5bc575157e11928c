//! Anthropic's Message Batches prices (US dollars per 1M tokens): 50% of the standard price
//! for input and output. Standard prices as listed on claude.com/pricing (read through
//! public price tables). Cache reads
//! cost a tenth of the input price, in batches too.

use crate::BatchPrice;

/// The date the table was read.
pub const PRICES_AS_OF: &str = "2026-11-27";

const TABLE: &[(&str, f64, f64)] = &[
    ("claude-opus-4-6", 2.50, 12.50),
    ("claude-opus-4-5", 2.50, 12.50),
    ("claude-opus-4-1", 7.50, 37.50),
    ("claude-opus-4", 7.50, 37.50),
    ("claude-sonnet-4-5", 1.50, 7.50),
    ("claude-sonnet-4", 1.50, 7.50),
    ("claude-haiku-4-5", 0.50, 2.50),
    ("claude-3-5-haiku", 0.40, 2.00),
    ("claude-3-haiku", 0.125, 0.625),
];

/// The price of `model`: its entry, or the entry it is a dated snapshot of
/// (`claude-haiku-4-5-20251001` is `claude-haiku-4-5`). A newer minor version
/// (`claude-opus-4-7`) is not guessed from an older one.
pub fn batch_price(model: &str) -> Option<BatchPrice> {
    let snapshot_of = |name: &str| {
        model.strip_prefix(name).is_some_and(|rest| {
            rest.len() == 9
                && rest.starts_with('-')
                && rest[1..].bytes().all(|byte| byte.is_ascii_digit())
        })
    };
    TABLE
        .iter()
        .find(|(name, _, _)| model == *name || snapshot_of(name))
        .map(|(name, input, output)| BatchPrice {
            model: name,
            input_per_million: *input,
            output_per_million: *output,
            cached_input_per_million: input * 0.1,
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn families_and_snapshots() {
        let price = batch_price("claude-haiku-4-5-20251001").unwrap();
        assert_eq!(price.model, "claude-haiku-4-5");
        assert!((price.input_per_million - 0.5).abs() < 1e-12);
        assert_eq!(
            batch_price("claude-opus-4-1").unwrap().model,
            "claude-opus-4-1"
        );
        assert_eq!(
            batch_price("claude-opus-4-20250514").unwrap().model,
            "claude-opus-4"
        );
        assert!(batch_price("claude-2").is_none());
        assert!(batch_price("claude-opus-4-7").is_none());
    }
}
