//! The provider contract: what every [`BatchProvider`] must do for the lifecycle to work on
//! it. Each case is a public async function taking a fresh provider and an empty scratch
//! folder; it writes its own shard file through the provider's codec ([`write_shard`]) and
//! panics on the first broken promise. A provider's test file calls each case from its own
//! `#[tokio::test]`; [`all`] runs every case but [`errors_never_contain`] (which needs the
//! provider's secret).
//!
//! Names and tags carry a token unique to the call, so cases may share one provider.

mod shard;

use std::collections::HashSet;
use std::path::Path;

use batchlabel_providers::{
    BatchIdentity, BatchProvider, BatchState, Found, LineResult, LostCreate, ProviderError,
    RemoteBatch, Tags,
};

pub use shard::{Shard, contract_schema, unique_token, wait_until_terminal, write_shard};
use shard::{now, read_results, submit, tags};

/// A staged input is found again by its name (its size, when reported, is the file's); a
/// name never staged is not found. A provider that stages nothing remotely finds nothing.
pub async fn stage_then_find_by_name(provider: &dyn BatchProvider, directory: &Path) {
    let token = unique_token("stage");
    let shard = write_shard(provider, directory, &token, 2);
    let name = format!("{token}.jsonl");
    let staged = provider
        .stage_input(&shard.path, &name)
        .await
        .expect("stage_input");
    assert!(!staged.id.is_empty(), "a staged input has an id");
    assert!(staged.bytes.is_none_or(|bytes| bytes == shard.bytes));
    if provider.identity() == BatchIdentity::Untagged {
        let found = provider.find_staged_input(&name).await;
        assert!(matches!(found, Ok(None)), "{found:?}");
        return;
    }
    let found = provider
        .find_staged_input(&name)
        .await
        .expect("find_staged_input")
        .expect("the staged input is found by its name");
    assert_eq!(found.id, staged.id);
    assert!(
        found.bytes.is_none_or(|bytes| bytes == shard.bytes),
        "found {:?} bytes, the file has {}",
        found.bytes,
        shard.bytes
    );
    let other = format!("{}.jsonl", unique_token("never-staged"));
    let missing = provider.find_staged_input(&other).await;
    assert!(matches!(missing, Ok(None)), "{missing:?}");
}

/// A batch is found by any subset of its tags from a time before it was created, and not
/// by a tag it does not carry, nor from a day after it was created. A provider without tags
/// finds none (it finds a lost create by looking: [`lost_create_is_found_by_looking`]).
pub async fn create_then_find_by_tags(provider: &dyn BatchProvider, directory: &Path) {
    if provider.identity() == BatchIdentity::Untagged {
        let (_, batch) = submit(provider, directory, "untagged", &Tags::new()).await;
        let found = provider
            .find_batches(&Tags::new(), now() - 60)
            .await
            .expect("find_batches");
        assert!(
            found.is_empty(),
            "untagged batches are never found by tags: {found:?}"
        );
        assert!(batch.tags.is_empty(), "{batch:?}");
        return;
    }
    let run = unique_token("find");
    let created_with = tags(&[
        ("contract_run", run.as_str()),
        ("contract_shard", "a1-00001-s1"),
    ]);
    let before = now() - 60;
    let (_, batch) = submit(provider, directory, "find", &created_with).await;
    for (key, value) in &created_with {
        assert_eq!(batch.tags.get(key), Some(value), "{:?}", batch.tags);
    }
    let found = provider
        .find_batches(&tags(&[("contract_run", run.as_str())]), before)
        .await
        .expect("find_batches");
    let ids: Vec<&str> = found.iter().map(|found| found.id.as_str()).collect();
    assert_eq!(ids, [batch.id.as_str()], "found by a subset of its tags");
    assert_eq!(found[0].tags, batch.tags);
    let all = provider
        .find_batches(&created_with, before)
        .await
        .expect("find_batches");
    assert_eq!(all.len(), 1, "found by all its tags: {all:?}");
    for other in [
        tags(&[
            ("contract_run", run.as_str()),
            ("contract_shard", "a1-00002-s1"),
        ]),
        tags(&[("contract_run", unique_token("other").as_str())]),
    ] {
        let found = provider
            .find_batches(&other, before)
            .await
            .expect("find_batches");
        assert!(found.is_empty(), "{other:?} found {found:?}");
    }
    let later = provider
        .find_batches(&tags(&[("contract_run", run.as_str())]), now() + 86_400)
        .await
        .expect("find_batches");
    assert!(later.is_empty(), "created a day before `since`: {later:?}");
}

/// A create whose answer was lost is found by [`BatchProvider::find_created`]: `sender`
/// creates (its answer "lost"), `looker` — another client, as after a restart — looks. The
/// batch it made is found (or, while it runs, named as a candidate to wait for), never one
/// already recorded, never one created before `since`; a look-alike batch of another shard is
/// told apart (by its input, or once both end, by its custom_ids).
pub async fn lost_create_is_found_by_looking(
    sender: &dyn BatchProvider,
    looker: &dyn BatchProvider,
    directory: &Path,
) {
    let before = now() - 1;
    let (shard, batch) = submit(sender, directory, "lost", &Tags::new()).await;
    let input = match &batch.input_id {
        Some(id) => batchlabel_providers::StagedInput {
            id: id.clone(),
            bytes: None,
        },
        None => looker
            .stage_input(&shard.path, "lost.jsonl")
            .await
            .expect("stage_input"),
    };
    let no_tags = Tags::new();
    let none = HashSet::new();
    let lost = |known, since| probe(&shard, &input, &no_tags, known, since);
    let is_it = |found: &Found| match found {
        Found::Batch(found) => found.id == batch.id,
        Found::Waiting(running) => running.iter().any(|found| found.id == batch.id),
        Found::Nothing | Found::Several(_) => false,
    };
    let found = looker
        .find_created(&lost(&none, before))
        .await
        .expect("find_created");
    assert!(is_it(&found), "{found:?}");
    let later = looker
        .find_created(&lost(&none, now() + 86_400))
        .await
        .expect("find_created");
    assert!(matches!(later, Found::Nothing), "{later:?}");
    let known = HashSet::from([batch.id.clone()]);
    let recorded = looker
        .find_created(&lost(&known, before))
        .await
        .expect("find_created");
    assert!(
        matches!(recorded, Found::Nothing),
        "a recorded batch is another shard's: {recorded:?}"
    );
    // A second batch of the same size (another shard's).
    let (_, twin) = submit(sender, directory, "twin", &Tags::new()).await;
    let both = looker
        .find_created(&lost(&none, before))
        .await
        .expect("find_created");
    assert!(is_it(&both), "{both:?}");
    if let Found::Batch(found) = &both {
        assert_eq!(found.id, batch.id);
    }
    wait_until_terminal(looker, &batch.id).await;
    wait_until_terminal(looker, &twin.id).await;
    let ended = looker
        .find_created(&lost(&none, before))
        .await
        .expect("find_created");
    assert!(
        matches!(&ended, Found::Batch(found) if found.id == batch.id),
        "ended batches are told apart: {ended:?}"
    );
}

fn probe<'a>(
    shard: &'a Shard,
    input: &'a batchlabel_providers::StagedInput,
    tags: &'a Tags,
    known: &'a HashSet<String>,
    since: i64,
) -> LostCreate<'a> {
    LostCreate {
        tags,
        input,
        since,
        shard: &shard.path,
        requests: shard.custom_ids.len() as u64,
        known,
    }
}

/// Polling reaches a terminal state, the counts add up, and result handles appear.
pub async fn poll_reaches_a_terminal_state(provider: &dyn BatchProvider, directory: &Path) {
    let (shard, batch) = submit(provider, directory, "poll", &Tags::new()).await;
    let batch = wait_until_terminal(provider, &batch.id).await;
    assert_eq!(batch.state, BatchState::Completed, "{batch:?}");
    let counts = batch.counts;
    assert_eq!(counts.total, shard.custom_ids.len() as u64, "{counts:?}");
    assert_eq!(counts.completed + counts.failed, counts.total, "{counts:?}");
    assert!(batch.failure.is_none(), "{batch:?}");
    assert!(!batch.results.is_empty(), "a completed batch has results");
}

/// The result files decode with the provider's codec and name every request of the shard
/// exactly once, each answered with JSON.
pub async fn results_join_every_request(provider: &dyn BatchProvider, directory: &Path) {
    let (shard, batch) = submit(provider, directory, "results", &Tags::new()).await;
    let batch = wait_until_terminal(provider, &batch.id).await;
    assert_eq!(batch.state, BatchState::Completed, "{batch:?}");
    let downloads = directory.join("downloads");
    std::fs::create_dir_all(&downloads).expect("mkdir");
    let files = provider
        .fetch_results(&batch, &downloads)
        .await
        .expect("fetch_results");
    let lines = read_results(provider, [&files.output, &files.errors]);
    let wanted: HashSet<&String> = shard.custom_ids.iter().collect();
    let got: HashSet<&String> = lines.keys().collect();
    assert_eq!(got, wanted, "results joined by custom_id");
    for (custom_id, line) in &lines {
        let LineResult::Answered(answer) = &line.result else {
            panic!("{custom_id} not answered: {line:?}");
        };
        let content = answer.content.as_deref().expect("an answer has content");
        let value: serde_json::Value = serde_json::from_str(content).expect("JSON content");
        assert!(value.is_object(), "{content}");
    }
}

/// A live batch asked to cancel ends `cancelled` (or `completed`, when it finished first),
/// and what its files hold belongs to the shard. Returns the ended batch, for a caller that
/// knows which end its provider must reach.
pub async fn cancel_a_live_batch(provider: &dyn BatchProvider, directory: &Path) -> RemoteBatch {
    let (shard, batch) = submit(provider, directory, "cancel", &Tags::new()).await;
    match provider.cancel(&batch.id).await {
        Ok(asked) => {
            assert_eq!(asked.id, batch.id);
            assert!(
                matches!(
                    asked.state,
                    BatchState::Cancelling | BatchState::Cancelled | BatchState::Completed
                ),
                "{asked:?}"
            );
        }
        // Finished before the cancel arrived.
        Err(ProviderError::Api {
            status: 400 | 409, ..
        }) => {}
        Err(error) => panic!("cancel: {error}"),
    }
    let ended = wait_until_terminal(provider, &batch.id).await;
    assert!(
        matches!(ended.state, BatchState::Cancelled | BatchState::Completed),
        "{ended:?}"
    );
    let files = provider
        .fetch_results(&ended, directory)
        .await
        .expect("fetch_results");
    let lines = read_results(provider, [&files.output, &files.errors]);
    assert!(
        lines
            .keys()
            .all(|custom_id| shard.custom_ids.contains(custom_id)),
        "{lines:?}"
    );
    if ended.state == BatchState::Cancelled {
        assert!(
            ended.counts.completed + ended.counts.failed <= ended.counts.total,
            "{ended:?}"
        );
    }
    ended
}

/// A batch id the provider never gave polls as HTTP 404.
pub async fn unknown_batch_is_not_found(provider: &dyn BatchProvider, _directory: &Path) {
    let id = format!("batch_{}", unique_token("unknown").replace('-', "_"));
    match provider.poll(&id).await {
        Err(ProviderError::Api { status: 404, .. }) => {}
        other => panic!("polling an unknown batch: {other:?}"),
    }
}

/// Deleting a staged input twice is fine (one already gone counts as deleted).
pub async fn delete_input_twice(provider: &dyn BatchProvider, directory: &Path) {
    let token = unique_token("delete");
    let shard = write_shard(provider, directory, &token, 1);
    let name = format!("{token}.jsonl");
    let staged = provider
        .stage_input(&shard.path, &name)
        .await
        .expect("stage_input");
    provider.delete_input(&staged.id).await.expect("delete");
    provider
        .delete_input(&staged.id)
        .await
        .expect("delete again");
    let found = provider.find_staged_input(&name).await.expect("find");
    assert!(found.is_none(), "a deleted input is not found: {found:?}");
}

/// Deleting a finished batch's result files twice is fine (one already gone counts as
/// deleted): the runner deletes them after ingest and tries again after a failure.
pub async fn delete_results_twice(provider: &dyn BatchProvider, directory: &Path) {
    let (_shard, batch) = submit(provider, directory, "delete-results", &Tags::new()).await;
    let batch = wait_until_terminal(provider, &batch.id).await;
    let handles: Vec<String> = batch
        .results
        .iter()
        .map(|(_, handle)| handle.clone())
        .collect();
    provider
        .delete_results(&handles)
        .await
        .expect("delete_results");
    provider
        .delete_results(&handles)
        .await
        .expect("delete_results again");
}

/// No error of a failing call, nor the description, shows `secret` (the key the provider
/// was given), in `Display` or `Debug` form.
pub async fn errors_never_contain(provider: &dyn BatchProvider, directory: &Path, secret: &str) {
    assert!(!provider.describe().contains(secret), "describe shows it");
    let shard = write_shard(provider, directory, &unique_token("secret"), 1);
    let unknown = format!("batch_{}", unique_token("secret").replace('-', "_"));
    let ghost = RemoteBatch {
        id: unknown.clone(),
        state: BatchState::Completed,
        input_id: None,
        created_at: 0,
        tags: Tags::new(),
        counts: batchlabel_providers::RequestCounts::default(),
        failure: None,
        results: vec![(batchlabel_providers::ResultKind::Answers, unknown.clone())],
    };
    let input = batchlabel_providers::StagedInput {
        id: format!("file-{unknown}"),
        bytes: None,
    };
    let mut errors: Vec<ProviderError> = Vec::new();
    errors.extend(provider.poll(&unknown).await.err());
    errors.extend(provider.cancel(&unknown).await.err());
    errors.extend(provider.create(&input, &Tags::new()).await.err());
    errors.extend(provider.fetch_results(&ghost, directory).await.err());
    let missing = directory.join("no-such-shard.jsonl");
    errors.extend(provider.stage_input(&missing, "missing.jsonl").await.err());
    errors.extend(provider.stage_input(&shard.path, "s.jsonl").await.err());
    errors.extend(provider.find_staged_input("s.jsonl").await.err());
    errors.extend(provider.find_batches(&Tags::new(), now()).await.err());
    errors.extend(provider.answer_now("{}").await.err());
    assert!(errors.len() >= 4, "expected failing calls: {errors:?}");
    for error in &errors {
        let text = format!("{error} {error:?}");
        assert!(!text.contains(secret), "the secret leaked: {text}");
    }
}

/// Every case but [`errors_never_contain`], in turn.
pub async fn all(provider: &dyn BatchProvider, directory: &Path) {
    stage_then_find_by_name(provider, directory).await;
    create_then_find_by_tags(provider, directory).await;
    lost_create_is_found_by_looking(provider, provider, directory).await;
    poll_reaches_a_terminal_state(provider, directory).await;
    results_join_every_request(provider, directory).await;
    let _ended = cancel_a_live_batch(provider, directory).await;
    unknown_batch_is_not_found(provider, directory).await;
    delete_input_twice(provider, directory).await;
    delete_results_twice(provider, directory).await;
}
