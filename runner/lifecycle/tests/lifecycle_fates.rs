//! The lifecycle on the FakeProvider: each fate a batch, a call or a line can meet, and what
//! the run makes of it — counted calls (a shard is staged and created exactly once) and the
//! results in the ledger. No network, no sleeps: each test takes milliseconds.

use std::collections::{BTreeMap, BTreeSet};

use batchlabel_lifecycle::{Ledger, LifecycleError, RowResult, RunSummary};
use batchlabel_providers::ProviderError;
use batchlabel_test_support::{BatchFate, Call, FakeProvider, Fault, HeldBatch, LineFate};

mod common;

use common::{Events, Setup};

fn job(rows: usize, per_shard: u64, max_attempts: u32) -> Setup {
    common::job("fates-job", rows, per_shard, max_attempts, "")
}

/// Every row's result, by row id.
fn results(summary: &RunSummary) -> BTreeMap<String, RowResult> {
    let ledger = Ledger::open_unlocked(&summary.run_dir).expect("ledger");
    let results = ledger.row_results(summary.run).expect("row results");
    let count = results.len();
    let by_row: BTreeMap<String, RowResult> = results
        .into_iter()
        .map(|result| (result.row_id.clone(), result))
        .collect();
    assert_eq!(by_row.len(), count, "a row has two results");
    by_row
}

/// Asserts every row is labeled with a valid label.
fn assert_all_labeled(summary: &RunSummary, rows: u64) {
    assert_eq!(summary.counts.labeled_rows, rows, "{summary:?}");
    assert_eq!(summary.counts.failed_rows, 0, "{summary:?}");
    let by_row = results(summary);
    assert_eq!(by_row.len() as u64, rows);
    for (row, result) in by_row {
        let output = result.output.unwrap_or_else(|| panic!("{row} unlabeled"));
        let label = output["sentiment"].as_str().unwrap_or_default();
        assert!(
            ["POSITIVE", "NEGATIVE", "NEUTRAL"].contains(&label),
            "{row}: {output}"
        );
    }
}

/// The shard tags of the fake's batches, in creation order.
fn shard_tags(batches: &[HeldBatch]) -> Vec<String> {
    batches
        .iter()
        .map(|batch| batch.shard().unwrap_or_default().to_string())
        .collect()
}

fn ids(list: &[&str]) -> Vec<String> {
    list.iter().map(|id| format!("r-{id}")).collect()
}

#[tokio::test]
async fn every_row_is_labeled_by_one_batch_per_shard() {
    let job = job(7, 3, 3);
    let fake = FakeProvider::new();
    let summary = job.finish(&fake).await;
    assert_all_labeled(&summary, 7);
    assert_eq!((summary.counts.batches, summary.counts.attempts), (3, 1));
    let calls = fake.calls();
    assert_eq!((calls.stages, calls.creates, calls.fetches), (3, 3, 3));
    assert_eq!((calls.cancels, calls.answers_now), (0, 0));
    // Each ingested shard's input and output file are deleted at the provider, once.
    assert_eq!((calls.deletes, calls.result_deletes), (3, 3));
    assert_eq!(
        shard_tags(&fake.batches()),
        ["a1-00001-s1", "a1-00002-s1", "a1-00003-s1"]
    );
}

#[tokio::test]
async fn a_batch_refused_for_a_full_queue_is_sent_again_and_then_succeeds() {
    let job = job(4, 2, 3);
    let fake = FakeProvider::new().batch_fate(BatchFate::Fail { queue_full: true }, |batch| {
        batch.shard() == Some("a1-00001-s1")
    });
    let events = Events::default();
    let summary = batchlabel_lifecycle::run(&job.job, &job.settings, &fake, &events)
        .await
        .expect("run");
    assert_all_labeled(&summary, 4);
    assert_eq!(summary.counts.attempts, 1, "a full queue is not a retry");
    assert_eq!(summary.counts.batches, 3, "the refused batch counts");
    let batches = fake.batches();
    assert_eq!(
        shard_tags(&batches),
        ["a1-00001-s1", "a1-00002-s1", "a1-00001-s2"]
    );
    assert_eq!(batches[2].input_id, batches[0].input_id, "not staged again");
    assert_eq!(batches[2].custom_ids, batches[0].custom_ids);
    assert_eq!((fake.calls().stages, fake.calls().creates), (2, 3));
    assert!(events.any("sent again once the queue has room"));
}

#[tokio::test]
async fn a_failed_batch_retries_its_requests_in_attempt_2() {
    let job = job(4, 2, 3);
    let fake = FakeProvider::new().batch_fate(BatchFate::Fail { queue_full: false }, |batch| {
        batch.shard() == Some("a1-00001-s1")
    });
    let summary = job.finish(&fake).await;
    assert_all_labeled(&summary, 4);
    assert_eq!((summary.counts.attempts, summary.counts.batches), (2, 3));
    let batches = fake.batches();
    assert_eq!(
        shard_tags(&batches),
        ["a1-00001-s1", "a1-00002-s1", "a2-00001-s1"]
    );
    assert_eq!(batches[2].custom_ids, batches[0].custom_ids);
    assert_eq!((fake.calls().stages, fake.calls().creates), (3, 3));
}

#[tokio::test]
async fn a_batch_failing_in_every_attempt_fails_its_rows_as_batch_failed() {
    let job = job(3, 3, 2);
    let fake = FakeProvider::new().batch_fate(BatchFate::Fail { queue_full: false }, |_| true);
    let summary = job.finish(&fake).await;
    assert_eq!(summary.counts.failed_rows, 3, "{summary:?}");
    assert_eq!(summary.counts.failures.get("batch_failed"), Some(&3));
    assert_eq!(fake.calls().creates, 2, "one batch per attempt");
    for (row, result) in results(&summary) {
        assert_eq!(result.reason.as_deref(), Some("batch_failed"), "{row}");
        assert!(result.output.is_none());
    }
}

#[tokio::test]
async fn an_expired_batch_retries_only_its_unanswered_requests() {
    let job = job(5, 5, 3);
    let fake = FakeProvider::new().nth_batch(1, BatchFate::Expire { answered: 2 });
    let summary = job.finish(&fake).await;
    assert_all_labeled(&summary, 5);
    assert_eq!(summary.counts.attempts, 2);
    let batches = fake.batches();
    assert_eq!(batches.len(), 2);
    assert_eq!(batches[1].custom_ids, batches[0].custom_ids[2..]);
}

#[tokio::test]
async fn lost_create_answers_never_make_a_second_batch() {
    let job = job(6, 2, 3);
    let fake = FakeProvider::new().fault(Call::Create, Fault::AnswerLost, 3);
    let summary = job.finish(&fake).await;
    assert_all_labeled(&summary, 6);
    let calls = fake.calls();
    assert_eq!(calls.creates, 3, "each shard created exactly once");
    assert_eq!(summary.counts.batches, 3);
    // One look for a lost ledger's batches, then one per lost answer.
    assert_eq!(calls.finds_batches, 4);
    let tags: BTreeSet<String> = shard_tags(&fake.batches()).into_iter().collect();
    assert_eq!(tags.len(), 3);
    assert_eq!(fake.batches().len(), 3);
}

#[tokio::test]
async fn a_lost_create_request_is_sent_again_once_after_looking() {
    let job = job(6, 2, 3);
    let fake = FakeProvider::new().fault(Call::Create, Fault::RequestLost, 1);
    let summary = job.finish(&fake).await;
    assert_all_labeled(&summary, 6);
    assert_eq!(fake.calls().creates, 4);
    assert_eq!(fake.calls().finds_batches, 2);
    assert_eq!(fake.batches().len(), 3, "one batch per shard");
}

#[tokio::test]
async fn lost_upload_answers_never_stage_a_shard_twice() {
    let job = job(6, 2, 3);
    let fake = FakeProvider::new()
        .fault(Call::Stage, Fault::RequestLost, 1)
        .fault(Call::Stage, Fault::AnswerLost, 3);
    let summary = job.finish(&fake).await;
    assert_all_labeled(&summary, 6);
    assert_eq!(fake.pending_faults(Call::Stage), 0);
    let calls = fake.calls();
    // One request lost before staging (not found by name: sent again), then three answers
    // lost after (found by name).
    assert_eq!((calls.stages, calls.finds_staged), (4, 4));
    let inputs = fake.inputs();
    let names: BTreeSet<&str> = inputs.iter().map(|input| input.name.as_str()).collect();
    assert_eq!((inputs.len(), names.len()), (3, 3), "one input per shard");
    assert_eq!(calls.creates, 3);
}

#[tokio::test]
async fn bad_lines_are_retried_then_fail_with_their_reason() {
    let job = job(8, 8, 2);
    let fake = FakeProvider::new()
        .custom_id_fate("r-t1", LineFate::Malformed)
        .custom_id_fate("r-t2", LineFate::Missing)
        .custom_id_fate("r-t3", LineFate::Refusal("I cannot label this.".into()))
        .custom_id_fate("r-t4", LineFate::Content("not json".into()))
        .custom_id_fate("r-t5", LineFate::Truncated)
        .custom_id_fate("r-t6", LineFate::HttpError(500))
        .custom_id_fate("r-t7", LineFate::HttpError(400));
    let summary = job.finish(&fake).await;
    assert_eq!(summary.counts.labeled_rows, 1, "{summary:?}");
    assert_eq!(summary.counts.attempts, 2);
    let reasons: BTreeMap<String, Option<String>> = results(&summary)
        .into_iter()
        .map(|(row, result)| (row, result.reason))
        .collect();
    let expected = [
        ("t0", None),
        ("t1", Some("missing")),
        ("t2", Some("missing")),
        ("t3", Some("refusal")),
        ("t4", Some("invalid_json")),
        ("t5", Some("truncated")),
        ("t6", Some("http_error")),
        ("t7", Some("http_error")),
    ]
    .map(|(row, reason)| (row.to_string(), reason.map(str::to_string)));
    assert_eq!(reasons, BTreeMap::from(expected));
    let batches = fake.batches();
    assert_eq!(batches.len(), 2);
    // A 400 is not retried; everything else is, once (max_attempts 2).
    assert_eq!(
        batches[1].custom_ids,
        ids(&["t1", "t2", "t3", "t4", "t5", "t6"])
    );
    let index = batches[1]
        .custom_ids
        .iter()
        .position(|id| id == "r-t4")
        .expect("t4 retried");
    let retried: serde_json::Value =
        serde_json::from_str(&batches[1].requests[index]).expect("request JSON");
    let messages = retried["body"]["messages"].as_array().expect("messages");
    assert_eq!(
        messages.len(),
        4,
        "asked again with the answer and feedback"
    );
    assert_eq!(messages[2]["content"], "not json");
}

#[tokio::test]
async fn a_line_failing_only_in_attempt_1_is_labeled_in_attempt_2() {
    let job = job(4, 4, 3);
    let fake = FakeProvider::new().line_fate(LineFate::HttpError(503), |line| {
        line.custom_id == "r-t2" && line.attempt() == Some(1)
    });
    let summary = job.finish(&fake).await;
    assert_all_labeled(&summary, 4);
    assert_eq!(summary.counts.attempts, 2);
    let batches = fake.batches();
    assert_eq!(shard_tags(&batches), ["a1-00001-s1", "a2-00001-s1"]);
    assert_eq!(batches[1].custom_ids, ids(&["t2"]));
}

#[tokio::test]
async fn a_run_interrupted_after_submit_collects_without_creating_again() {
    let mut job = job(6, 3, 3);
    let fake = FakeProvider::new();
    job.settings.no_wait = true;
    let submitted = job.run(&fake).await.expect("run --no-wait");
    assert!(submitted.submitted_only);
    assert_eq!(submitted.counts.labeled_rows, 0);
    assert_eq!((fake.calls().creates, fake.calls().polls), (2, 0));
    job.settings.no_wait = false;
    let summary = job.finish(&fake).await;
    assert_eq!(summary.run, submitted.run, "the same run resumed");
    assert_all_labeled(&summary, 6);
    let calls = fake.calls();
    assert_eq!((calls.stages, calls.creates, calls.fetches), (2, 2, 2));
}

#[tokio::test]
async fn a_refused_create_stops_the_run_and_the_next_run_finishes() {
    let job = job(3, 3, 3);
    let fake = FakeProvider::new().fault(Call::Create, Fault::Api(400), 1);
    let error = job.run(&fake).await.expect_err("the create is refused");
    let LifecycleError::Provider(failure) = &error else {
        panic!("{error}");
    };
    assert!(
        matches!(failure.error, ProviderError::Api { status: 400, .. }),
        "{error}"
    );
    assert_eq!(failure.context, "shard 1 (attempt 1)");
    assert!(fake.batches().is_empty());
    let summary = job.finish(&fake).await;
    assert_all_labeled(&summary, 3);
    assert_eq!((fake.calls().stages, fake.calls().creates), (1, 2));
    assert_eq!(fake.batches().len(), 1);
}
