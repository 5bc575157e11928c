//! Mistral batch prices (US dollars per 1M tokens): 50% of the standard price for input and
//! output, as for every batch API; standard prices from mistral.ai/pricing. Mistral bills no
//! cached-token discount, so cached input costs what input costs.

use crate::BatchPrice;

/// The date the table was read.
pub const PRICES_AS_OF: &str = "2026-11-27";

/// Model family, standard input, standard output.
const TABLE: &[(&str, f64, f64)] = &[
    ("mistral-large", 2.00, 6.00),
    ("mistral-medium", 0.40, 2.00),
    ("mistral-small", 0.10, 0.30),
    ("ministral-8b", 0.10, 0.10),
    ("ministral-3b", 0.04, 0.04),
    ("open-mistral-nemo", 0.15, 0.15),
    ("codestral", 0.30, 0.90),
];

/// The price of `model`: its family's entry, for the `-latest` alias or a dated version
/// (`mistral-small-2506`).
pub fn batch_price(model: &str) -> Option<BatchPrice> {
    TABLE
        .iter()
        .find(|(name, ..)| {
            model == *name
                || model.strip_prefix(name).is_some_and(|rest| {
                    rest == "-latest"
                        || (rest.len() == 5
                            && rest.starts_with('-')
                            && rest[1..].bytes().all(|byte| byte.is_ascii_digit()))
                })
        })
        .map(|(name, input, output)| BatchPrice {
            model: name,
            input_per_million: input / 2.0,
            output_per_million: output / 2.0,
            cached_input_per_million: input / 2.0,
        })
}

#[cfg(test)]
mod tests {
    use super::batch_price;

    #[test]
    fn aliases_and_versions() {
        let small = batch_price("mistral-small-latest").unwrap();
        assert_eq!(small.model, "mistral-small");
        assert!((small.input_per_million - 0.05).abs() < 1e-12);
        assert_eq!(
            batch_price("mistral-small-2506").unwrap().model,
            "mistral-small"
        );
        assert!(batch_price("mistral-small-pro").is_none());
        assert!(batch_price("pixtral-9").is_none());
    }
}
