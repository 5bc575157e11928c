//! Gemini API batch prices (US dollars per 1M text tokens): 50% of the standard price for input
//! and output. Standard prices from ai.google.dev/pricing as of the date in `PRICES_AS_OF`;
//! Gemini 2.5 Pro at its ≤ 200k-token prompt
//! tier, which every label request is in. Context-cache hits are billed at the standard cached
//! price (a tenth of the standard input price for 2.5 models, a quarter for 2.0), not halved.

use crate::BatchPrice;

/// The date the table was read.
pub const PRICES_AS_OF: &str = "2026-11-27";

/// Model, standard input, standard cached input, standard output.
const TABLE: &[(&str, f64, f64, f64)] = &[
    ("gemini-2.5-pro", 1.25, 0.125, 10.00),
    ("gemini-2.5-flash-lite", 0.10, 0.01, 0.40),
    ("gemini-2.5-flash", 0.30, 0.03, 2.50),
    ("gemini-2.0-flash-lite", 0.075, 0.01875, 0.30),
    ("gemini-2.0-flash", 0.10, 0.025, 0.40),
];

/// The price of `model` (`models/` prefix allowed): its entry, or the entry it is a
/// versioned name of (`gemini-2.0-flash-001`, `gemini-2.5-flash-preview-09-2025`). A longer
/// family name is matched first, so `gemini-2.5-flash-lite` is not priced as `-flash`.
pub fn batch_price(model: &str) -> Option<BatchPrice> {
    let model = model.strip_prefix("models/").unwrap_or(model);
    TABLE
        .iter()
        .find(|(name, ..)| {
            model == *name
                || model
                    .strip_prefix(name)
                    .is_some_and(|rest| rest.starts_with('-') && !rest.starts_with("-lite"))
        })
        .map(|(name, input, cached, output)| BatchPrice {
            model: name,
            input_per_million: input / 2.0,
            output_per_million: output / 2.0,
            cached_input_per_million: *cached,
        })
}

#[cfg(test)]
mod tests {
    use super::batch_price;

    #[test]
    fn families_and_versions() {
        let flash = batch_price("gemini-2.5-flash").unwrap();
        assert!((flash.input_per_million - 0.15).abs() < 1e-12);
        assert!((flash.output_per_million - 1.25).abs() < 1e-12);
        assert_eq!(
            batch_price("models/gemini-2.5-flash-lite").unwrap().model,
            "gemini-2.5-flash-lite"
        );
        assert_eq!(
            batch_price("gemini-2.5-flash-preview-09-2025")
                .unwrap()
                .model,
            "gemini-2.5-flash"
        );
        assert_eq!(
            batch_price("gemini-2.0-flash-001").unwrap().model,
            "gemini-2.0-flash"
        );
        assert!(batch_price("gemini-9-ultra").is_none());
    }
}
