//! Azure OpenAI Global Batch prices (US dollars per 1M tokens): 50% of Global Standard, which
//! Azure lists at OpenAI's prices for these models; so the table is OpenAI's (dated
//! 2026-08-21). An enterprise agreement may differ: check yours.

use crate::BatchPrice;

/// The date the table was read.
pub const PRICES_AS_OF: &str = crate::openai::prices::PRICES_AS_OF;

/// The price of the model behind the deployment (`model.name`, not the deployment's name).
pub fn batch_price(model: &str) -> Option<BatchPrice> {
    // Azure spells GPT-3.5 without the dot; no batch model here has one.
    crate::openai::prices::batch_price(model)
}
