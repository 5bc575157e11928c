//! The provider contract on the Azure OpenAI client against a real in-process
//! `batchlabel serve` (its Azure front end under `/openai/`) on 127.0.0.1: the v1 API, and
//! the dated API with an `api-version`.

mod served;

use batchlabel_providers::{ApiKey, OpenAiClient, azure_client};

fn client(served: &served::Served, key: &str) -> OpenAiClient {
    azure_client(
        &served.origin,
        None,
        "contract-deployment",
        Some(ApiKey::new(key.into())),
        served::quick_retry(),
    )
}

contract_cases!(client);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_dated_api_runs_a_batch_too() {
    let served = served::serve(Duration::ZERO).await;
    let dated = azure_client(
        &served.origin,
        Some("2025-04-01-preview"),
        "contract-deployment",
        Some(ApiKey::new(served::KEY.into())),
        served::quick_retry(),
    );
    contract::results_join_every_request(&dated, &served.directory()).await;
    contract::create_then_find_by_tags(&dated, &served.directory()).await;
}
