//! The provider contract, run on the FakeProvider: it must keep every promise a real
//! provider keeps, or lifecycle tests on it would prove nothing.

use batchlabel_test_support::{FakeProvider, contract};

fn scratch() -> tempfile::TempDir {
    tempfile::tempdir().expect("temp dir")
}

#[tokio::test]
async fn stage_then_find_by_name() {
    let directory = scratch();
    contract::stage_then_find_by_name(&FakeProvider::new(), directory.path()).await;
}

#[tokio::test]
async fn create_then_find_by_tags() {
    let directory = scratch();
    contract::create_then_find_by_tags(&FakeProvider::new(), directory.path()).await;
}

#[tokio::test]
async fn lost_create_is_found_by_looking() {
    let directory = scratch();
    let fake = FakeProvider::new();
    contract::lost_create_is_found_by_looking(&fake, &fake, directory.path()).await;
}

#[tokio::test]
async fn poll_reaches_a_terminal_state() {
    let directory = scratch();
    let fake = FakeProvider::new().polls_to_finish(3);
    contract::poll_reaches_a_terminal_state(&fake, directory.path()).await;
    assert_eq!(fake.calls().polls, 3, "one step per poll");
}

#[tokio::test]
async fn results_join_every_request() {
    let directory = scratch();
    contract::results_join_every_request(&FakeProvider::new(), directory.path()).await;
}

#[tokio::test]
async fn cancel_a_live_batch() {
    let directory = scratch();
    let fake = FakeProvider::new();
    let ended = contract::cancel_a_live_batch(&fake, directory.path()).await;
    assert_eq!(ended.state, batchlabel_providers::BatchState::Cancelled);
    assert_eq!((ended.counts.completed, ended.counts.failed), (0, 3));
    assert_eq!(fake.batches()[0].state, ended.state);
}

#[tokio::test]
async fn a_batch_that_finished_at_creation_cannot_be_cancelled() {
    let directory = scratch();
    let fake = FakeProvider::new().polls_to_finish(0);
    let ended = contract::cancel_a_live_batch(&fake, directory.path()).await;
    assert_eq!(ended.state, batchlabel_providers::BatchState::Completed);
    assert_eq!(fake.calls().cancels, 1);
}

#[tokio::test]
async fn unknown_batch_is_not_found() {
    let directory = scratch();
    contract::unknown_batch_is_not_found(&FakeProvider::new(), directory.path()).await;
}

#[tokio::test]
async fn delete_results_twice() {
    let directory = scratch();
    let fake = FakeProvider::new();
    contract::delete_results_twice(&fake, directory.path()).await;
    assert_eq!(fake.calls().result_deletes, 2);
    assert_eq!(fake.result_files_held(), 0, "the result files are gone");
}

#[tokio::test]
async fn delete_input_twice() {
    let directory = scratch();
    let fake = FakeProvider::new();
    contract::delete_input_twice(&fake, directory.path()).await;
    assert_eq!(fake.calls().deletes, 2);
    assert!(fake.inputs()[0].deleted);
}

#[tokio::test]
async fn every_case_on_one_provider() {
    let directory = scratch();
    let fake = FakeProvider::new();
    contract::all(&fake, directory.path()).await;
    // Cases that share a provider do not see each other's batches (the lost-create case
    // makes two: the shard's and a look-alike).
    assert_eq!(fake.batches().len(), 7);
}
