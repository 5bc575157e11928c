//! The provider contract on the Gemini client against a real in-process `batchlabel serve`
//! (its Gemini API batch-mode front end) on 127.0.0.1.

mod served;

use batchlabel_providers::{ApiKey, GeminiClient};

fn client(served: &served::Served, key: &str) -> GeminiClient {
    GeminiClient::new(
        &served.origin,
        Some(ApiKey::new(key.into())),
        served::quick_retry(),
        "gemini-2.5-flash",
    )
}

contract_cases!(client);
