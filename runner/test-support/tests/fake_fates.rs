//! The FakeProvider's fates do what they say: each read back through the OpenAI codec, the
//! way the lifecycle reads them.

use std::collections::BTreeMap;
use std::path::Path;

use batchlabel_providers::codec::{Finish, NotRun};
use batchlabel_providers::{BatchProvider, BatchState, LineResult, ProviderError, Tags};
use batchlabel_test_support::contract::{Shard, write_shard};
use batchlabel_test_support::{BatchFate, Call, FakeProvider, Fault, LineFate};

/// Stage `shard`, create its batch, poll it to its end and read its results by custom_id.
async fn run_batch(
    fake: &FakeProvider,
    shard: &Shard,
    directory: &Path,
) -> (
    batchlabel_providers::RemoteBatch,
    BTreeMap<String, LineResult>,
) {
    let input = fake
        .stage_input(&shard.path, "s.jsonl")
        .await
        .expect("stage");
    let batch = fake.create(&input, &Tags::new()).await.expect("create");
    let batch = batchlabel_test_support::contract::wait_until_terminal(fake, &batch.id).await;
    let files = fake.fetch_results(&batch, directory).await.expect("fetch");
    let mut results = BTreeMap::new();
    for path in [files.output, files.errors].into_iter().flatten() {
        for line in std::fs::read_to_string(path).expect("read").lines() {
            if let Some(parsed) = fake.codec().decode_result_line(line.as_bytes()) {
                results.insert(parsed.custom_id, parsed.result);
            } else {
                results.insert(
                    format!("unreadable:{line}"),
                    LineResult::NotRun {
                        reason: NotRun::Other,
                        detail: String::new(),
                    },
                );
            }
        }
    }
    (batch, results)
}

#[tokio::test]
async fn call_faults_take_effect_or_not_as_named() {
    let directory = tempfile::tempdir().expect("temp dir");
    let shard = write_shard(&FakeProvider::new(), directory.path(), "faults", 2);
    let fake = FakeProvider::new()
        .fault(Call::Stage, Fault::AnswerLost, 1)
        .fault(Call::Stage, Fault::RequestLost, 1)
        .fault(Call::Stage, Fault::Api(503), 1);
    for expected_inputs in [1, 1, 1] {
        let outcome = fake.stage_input(&shard.path, "f.jsonl").await;
        assert!(
            matches!(
                outcome,
                Err(ProviderError::Ambiguous { .. } | ProviderError::Api { status: 503, .. })
            ),
            "{outcome:?}"
        );
        assert_eq!(fake.inputs().len(), expected_inputs);
    }
    assert_eq!(fake.pending_faults(Call::Stage), 0);
    fake.stage_input(&shard.path, "f.jsonl")
        .await
        .expect("no fault left");
    assert_eq!(fake.inputs().len(), 2);
    assert_eq!(fake.calls().stages, 4);
}

#[tokio::test]
async fn an_expired_batch_answers_its_first_lines_only() {
    let directory = tempfile::tempdir().expect("temp dir");
    let fake = FakeProvider::new().nth_batch(1, BatchFate::Expire { answered: 2 });
    let shard = write_shard(&fake, directory.path(), "expire", 5);
    let (batch, results) = run_batch(&fake, &shard, directory.path()).await;
    assert_eq!(batch.state, BatchState::Expired);
    assert_eq!((batch.counts.completed, batch.counts.failed), (2, 3));
    for (index, custom_id) in shard.custom_ids.iter().enumerate() {
        let result = &results[custom_id];
        if index < 2 {
            assert!(matches!(result, LineResult::Answered(_)), "{result:?}");
        } else {
            let expired = matches!(
                result,
                LineResult::NotRun {
                    reason: NotRun::Expired,
                    ..
                }
            );
            assert!(expired, "{result:?}");
        }
    }
}

#[tokio::test]
async fn a_failed_batch_says_whether_the_queue_was_full() {
    let directory = tempfile::tempdir().expect("temp dir");
    let fake = FakeProvider::new()
        .nth_batch(1, BatchFate::Fail { queue_full: true })
        .batch_fate(BatchFate::Fail { queue_full: false }, |batch| {
            batch.number == 2 && batch.lines == 1 && batch.input_name == "s.jsonl"
        });
    for (lines, queue_full) in [(1, true), (1, false)] {
        let shard = write_shard(&fake, directory.path(), "fail", lines);
        let (batch, results) = run_batch(&fake, &shard, directory.path()).await;
        assert_eq!(batch.state, BatchState::Failed);
        let failure = batch.failure.expect("a failure");
        assert_eq!(failure.queue_full, queue_full, "{}", failure.note);
        assert!(results.is_empty() && batch.results.is_empty());
    }
}

#[tokio::test]
async fn line_fates_read_back_as_the_lifecycle_sees_them() {
    let directory = tempfile::tempdir().expect("temp dir");
    let fake = FakeProvider::new()
        .custom_id_fate("r-lines-1", LineFate::Content("not json".into()))
        .custom_id_fate("r-lines-2", LineFate::Malformed)
        .custom_id_fate("r-lines-3", LineFate::Missing)
        .custom_id_fate("r-lines-4", LineFate::HttpError(500))
        .custom_id_fate("r-lines-5", LineFate::Refusal("no".into()))
        .custom_id_fate("r-lines-6", LineFate::Truncated);
    let shard = write_shard(&fake, directory.path(), "lines", 7);
    let (batch, results) = run_batch(&fake, &shard, directory.path()).await;
    assert_eq!(batch.state, BatchState::Completed);
    let answer = |custom_id: &str| match &results[custom_id] {
        LineResult::Answered(answer) => answer.clone(),
        other => panic!("{custom_id}: {other:?}"),
    };
    let valid = answer("r-lines-0");
    let value: serde_json::Value =
        serde_json::from_str(valid.content.as_deref().expect("content")).expect("JSON");
    assert!(["POSITIVE", "NEGATIVE", "NEUTRAL"].contains(&value["sentiment"].as_str().unwrap()));
    assert_eq!(valid.model_snapshot.as_deref(), Some("gpt-4o-mini-fake"));
    assert_eq!(answer("r-lines-1").content.as_deref(), Some("not json"));
    assert!(results.keys().any(|key| key.starts_with("unreadable:")));
    assert!(!results.contains_key("r-lines-2") && !results.contains_key("r-lines-3"));
    assert!(matches!(
        results["r-lines-4"],
        LineResult::Rejected { status: 500, .. }
    ));
    assert_eq!(answer("r-lines-5").refusal.as_deref(), Some("no"));
    assert_eq!(answer("r-lines-6").finish, Finish::Truncated);
    assert_eq!((batch.counts.completed, batch.counts.failed), (6, 1));
}

#[tokio::test]
async fn a_limited_line_fate_applies_to_its_first_matches_only() {
    let directory = tempfile::tempdir().expect("temp dir");
    let fake = FakeProvider::new().line_fate_times(LineFate::HttpError(429), 2, |_| true);
    let shard = write_shard(&fake, directory.path(), "times", 3);
    let (_, results) = run_batch(&fake, &shard, directory.path()).await;
    let rejected = results
        .values()
        .filter(|result| matches!(result, LineResult::Rejected { status: 429, .. }))
        .count();
    assert_eq!(rejected, 2);
    let request = std::fs::read_to_string(&shard.path).expect("shard");
    let line = request.lines().next().expect("a line");
    let now = fake.answer_now(line).await.expect("answer now");
    assert!(matches!(now, LineResult::Answered(_)), "{now:?}");
    assert_eq!(fake.calls().answers_now, 1);
}
