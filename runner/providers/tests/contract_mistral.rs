//! The provider contract on the Mistral client against a real in-process `batchlabel serve`
//! (its Mistral batch-jobs front end) on 127.0.0.1.

mod served;

use batchlabel_providers::{ApiKey, MistralClient};

fn client(served: &served::Served, key: &str) -> MistralClient {
    MistralClient::new(
        &served.origin,
        Some(ApiKey::new(key.into())),
        served::quick_retry(),
        "mistral-small-latest",
    )
}

contract_cases!(client);
