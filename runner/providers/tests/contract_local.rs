//! The provider contract (batchlabel-test-support), run on `provider: local`: the embedded
//! model behind its in-process batch service. One provider (one model load) runs every case
//! in turn; it takes no key, so the secret case does not apply. Needs the `local` feature
//! (on in a workspace build, through the CLI) and the model (`scripts/fetch-model.sh`).
#![cfg(feature = "local")]

use batchlabel_providers::BatchProvider;
use batchlabel_providers::local::LocalProvider;
use batchlabel_test_support::contract;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_local_model_keeps_the_provider_contract() {
    let scratch = tempfile::tempdir().expect("temp dir");
    let provider = LocalProvider::start(
        "smollm2-135m-instruct",
        scratch.path(),
        scratch.path().join("local-batches"),
        Some(2),
    )
    .await
    .expect("the local model starts (run scripts/fetch-model.sh first)");
    let provider: &dyn BatchProvider = &provider;
    let directory = scratch.path().join("cases");
    std::fs::create_dir_all(&directory).expect("mkdir");
    contract::stage_then_find_by_name(provider, &directory).await;
    contract::create_then_find_by_tags(provider, &directory).await;
    contract::poll_reaches_a_terminal_state(provider, &directory).await;
    contract::results_join_every_request(provider, &directory).await;
    let ended = contract::cancel_a_live_batch(provider, &directory).await;
    assert!(ended.state.is_terminal(), "{ended:?}");
    contract::unknown_batch_is_not_found(provider, &directory).await;
    contract::delete_input_twice(provider, &directory).await;
}
