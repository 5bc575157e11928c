//! The provider contract (batchlabel-test-support), run on the OpenAI client against a real
//! in-process `batchlabel serve` on 127.0.0.1 with the scripted engine: every case gets a
//! fresh server and client.
//! (The local provider runs the same cases in `contract_local.rs`.)

mod served;

use batchlabel_providers::{ApiKey, OpenAiClient};

fn client(served: &served::Served, key: &str) -> OpenAiClient {
    OpenAiClient::new(
        &format!("{}/v1", served.origin),
        Some(ApiKey::new(key.into())),
        served::quick_retry(),
    )
}

contract_cases!(client);
