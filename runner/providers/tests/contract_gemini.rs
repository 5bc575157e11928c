//! The provider contract on the Gemini client against a real in-process `batchlabel serve`
//! (its Gemini API batch-mode front end) on 127.0.0.1, with batch states spelled as the wire
//! spells them (`BATCH_STATE_*`) and as Google's SDK does (`JOB_STATE_*`).

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

/// The cases that read batch states, against a server spelling them `JOB_STATE_*`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn states_spelled_job_state_read_the_same() {
    let served = served::serve_adjusted(Duration::ZERO, |server| {
        server.set_gemini_job_state_names(true);
    })
    .await;
    let gemini = client(&served, served::KEY);
    contract::create_then_find_by_tags(&gemini, &served.directory()).await;
    contract::lost_create_is_found_by_looking(&gemini, &gemini, &served.directory()).await;
    contract::poll_reaches_a_terminal_state(&gemini, &served.directory()).await;
    contract::results_join_every_request(&gemini, &served.directory()).await;
    // The server did answer in that spelling.
    let listed: serde_json::Value = reqwest::Client::new()
        .get(format!("{}/v1beta/batches", served.origin))
        .header("x-goog-api-key", served::KEY)
        .send()
        .await
        .expect("list")
        .json()
        .await
        .expect("JSON");
    let operations = listed["operations"].as_array().expect("operations");
    assert!(!operations.is_empty(), "{listed}");
    for operation in operations {
        let state = operation["metadata"]["state"].as_str().unwrap_or_default();
        assert!(state.starts_with("JOB_STATE_"), "{operation}");
    }
}
