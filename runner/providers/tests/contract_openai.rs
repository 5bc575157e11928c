//! The provider contract (batchlabel-test-support), run on the OpenAI client against a real
//! in-process `batchlabel serve` on 127.0.0.1 with the scripted engine: every case gets a
//! fresh server and client.
//! (The local provider runs the same cases in `contract_local.rs`.)

use std::time::Duration;

use batchlabel_providers::{ApiKey, OpenAiClient, RetryPolicy};
use batchlabel_serve::{Engine, Faults, Script, ServeOptions, Server};
use batchlabel_test_support::contract;

/// The key the server requires.
const KEY: &str = "sk-contract-secret-0123456789abcdef";

/// A server with its own state folder, serving until the test's runtime ends.
struct Served {
    base_url: String,
    scratch: tempfile::TempDir,
}

async fn serve(step_delay: Duration) -> Served {
    let scratch = tempfile::tempdir().expect("temp dir");
    let server = Server::bind(ServeOptions {
        address: ([127, 0, 0, 1], 0).into(),
        state_dir: scratch.path().join("serve"),
        engine: Engine::Scripted(std::sync::Arc::new(Script::default())),
        faults: Faults::default(),
        max_requests_per_file: 50_000,
        api_key: Some(KEY.into()),
        step_delay,
        azure_max_enqueued_tokens: batchlabel_serve::DEFAULT_AZURE_MAX_ENQUEUED_TOKENS,
        max_enqueued_tokens: None,
    })
    .await
    .expect("bind");
    let base_url = format!("http://{}/v1", server.local_address());
    tokio::spawn(server.run());
    Served { base_url, scratch }
}

impl Served {
    fn client(&self, key: &str) -> OpenAiClient {
        let retry = RetryPolicy {
            max_retries: 1,
            initial: Duration::from_millis(10),
            max_backoff: Duration::from_millis(20),
        };
        OpenAiClient::new(&self.base_url, Some(ApiKey::new(key.into())), retry)
    }

    fn directory(&self) -> std::path::PathBuf {
        let directory = self.scratch.path().join("case");
        std::fs::create_dir_all(&directory).expect("mkdir");
        directory
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stage_then_find_by_name() {
    let served = serve(Duration::ZERO).await;
    contract::stage_then_find_by_name(&served.client(KEY), &served.directory()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn create_then_find_by_tags() {
    let served = serve(Duration::ZERO).await;
    contract::create_then_find_by_tags(&served.client(KEY), &served.directory()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lost_create_is_found_by_looking() {
    let served = serve(Duration::ZERO).await;
    contract::lost_create_is_found_by_looking(
        &served.client(KEY),
        &served.client(KEY),
        &served.directory(),
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn poll_reaches_a_terminal_state() {
    let served = serve(Duration::ZERO).await;
    contract::poll_reaches_a_terminal_state(&served.client(KEY), &served.directory()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn results_join_every_request() {
    let served = serve(Duration::ZERO).await;
    contract::results_join_every_request(&served.client(KEY), &served.directory()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancel_a_live_batch() {
    // Each status change waits, so the cancel arrives while the batch is validating.
    let served = serve(Duration::from_millis(500)).await;
    let ended = contract::cancel_a_live_batch(&served.client(KEY), &served.directory()).await;
    assert_eq!(ended.state, batchlabel_providers::BatchState::Cancelled);
    assert_eq!((ended.counts.completed, ended.counts.failed), (0, 3));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_batch_is_not_found() {
    let served = serve(Duration::ZERO).await;
    contract::unknown_batch_is_not_found(&served.client(KEY), &served.directory()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delete_input_twice() {
    let served = serve(Duration::ZERO).await;
    contract::delete_input_twice(&served.client(KEY), &served.directory()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn errors_never_contain_the_key() {
    let served = serve(Duration::ZERO).await;
    // The right key: calls fail for other reasons (unknown ids, a missing file).
    contract::errors_never_contain(&served.client(KEY), &served.directory(), KEY).await;
    // A wrong key: every call is refused, and the refusal must not show it either.
    let wrong = "sk-wrong-key-fedcba9876543210";
    contract::errors_never_contain(&served.client(wrong), &served.directory(), wrong).await;
}
