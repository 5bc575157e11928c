//! What becomes of Gemini batches: a full queue is a 429 at create (as the real API reports
//! it) and never a failed batch; drawn fates end batches; a batch failing validation is a
//! genuine `BATCH_STATE_FAILED` with code 3; a batch accepted before a restart ends after it.

use std::time::Duration;

use batchlabel_serve::{BatchFate, Faults};
use serde_json::{Value, json};

use super::{Gemini, lines, status_of};
use crate::common::{copy_tree, scripted, start, start_adjusted};

#[tokio::test(flavor = "multi_thread")]
async fn the_queue_cap_refuses_a_create_and_fates_end_batches() {
    let dir = tempfile::tempdir().unwrap();
    let capped = start_adjusted(
        dir.path(),
        scripted(),
        Faults::default(),
        Duration::ZERO,
        |options| {
            options.max_enqueued_tokens = Some(10);
        },
    )
    .await;
    let gemini = Gemini(&capped);
    let file = gemini.upload(&lines("q", 3), 1).await;
    let (status, body) = gemini
        .create(file["name"].as_str().unwrap(), "too-big")
        .await;
    assert_eq!(status_of(&body, 429), "RESOURCE_EXHAUSTED", "{status}");
    assert_eq!(capped.stats().await["gemini_batches"], 0);

    // Every second batch meets a full queue, every third expires.
    let dir = tempfile::tempdir().unwrap();
    let mut faults = Faults::default();
    faults.batch_fates = vec![(BatchFate::Failed, 2), (BatchFate::Expired, 3)];
    let fated = start(dir.path(), faults).await;
    let gemini = Gemini(&fated);
    let file = gemini.upload(&lines("f", 4), 1).await;
    let file = file["name"].as_str().unwrap();
    let (status, first) = gemini.create(file, "first").await;
    assert_eq!(status, 200, "{first}");
    let (status, body) = gemini.create(file, "refused").await;
    assert_eq!(status_of(&body, 429), "RESOURCE_EXHAUSTED", "{status}");
    assert_eq!(
        body["error"]["details"][0]["@type"],
        "type.googleapis.com/google.rpc.RetryInfo"
    );
    let (status, third) = gemini.create(file, "expiring").await;
    assert_eq!(status, 200, "{third}");
    let done = gemini.wait_done(first["name"].as_str().unwrap()).await;
    assert_eq!(done["metadata"]["state"], "BATCH_STATE_SUCCEEDED", "{done}");
    let expired = gemini.wait_done(third["name"].as_str().unwrap()).await;
    assert_eq!(
        expired["metadata"]["state"], "BATCH_STATE_EXPIRED",
        "{expired}"
    );
    assert_eq!(
        expired["metadata"]["batchStats"]["successfulRequestCount"], "2",
        "{expired}"
    );
    let stats = fated.stats().await;
    assert_eq!(
        stats["gemini_batches_by_display_name"],
        json!({"first": 1, "expiring": 1}),
        "the refused create made nothing: {stats}"
    );
    assert!(
        stats["gemini_batches_by_state"]
            .get("BATCH_STATE_FAILED")
            .is_none(),
        "{stats}"
    );
}

/// A batch that fails for a reason other than the queue is a failed operation with
/// INVALID_ARGUMENT (3), not RESOURCE_EXHAUSTED (8): its internal input is removed from a
/// stopped server's state, and the server started again on it fails the batch in validation.
#[tokio::test(flavor = "multi_thread")]
async fn a_batch_failing_validation_is_a_failed_operation_with_code_3() {
    let dir = tempfile::tempdir().unwrap();
    let (first, second) = (dir.path().join("first"), dir.path().join("second"));
    let slow = start_adjusted(
        &first,
        scripted(),
        Faults::default(),
        Duration::from_secs(5),
        |_| {},
    )
    .await;
    let gemini = Gemini(&slow);
    let file = gemini.upload(&lines("v", 3), 1).await;
    let (status, created) = gemini
        .create(file["name"].as_str().unwrap(), "broken")
        .await;
    assert_eq!(status, 200, "{created}");
    copy_tree(&first, &second);
    let internal = second.join("files");
    let mut removed = 0;
    for entry in std::fs::read_dir(&internal).unwrap() {
        let path = entry.unwrap().path();
        if path
            .extension()
            .is_some_and(|extension| extension == "jsonl")
        {
            std::fs::remove_file(path).unwrap();
            removed += 1;
        }
    }
    assert_eq!(removed, 1, "the internal input file");
    let restarted = start(&second, Faults::default()).await;
    let gemini = Gemini(&restarted);
    let done = gemini.wait_done(created["name"].as_str().unwrap()).await;
    assert_eq!(done["metadata"]["state"], "BATCH_STATE_FAILED", "{done}");
    assert_eq!(done["error"]["code"], 3, "{done}");
    assert!(
        done["metadata"]["output"].is_null() && done["response"].is_null(),
        "{done}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_batch_accepted_before_a_restart_ends_after_it() {
    let dir = tempfile::tempdir().unwrap();
    let (first, second) = (dir.path().join("first"), dir.path().join("second"));
    let running = start_adjusted(
        &first,
        scripted(),
        Faults::default(),
        Duration::from_secs(5),
        |_| {},
    )
    .await;
    let gemini = Gemini(&running);
    let file = gemini.upload(&lines("r", 5), 2).await;
    let (_, created) = gemini
        .create(file["name"].as_str().unwrap(), "survivor")
        .await;
    assert_eq!(
        created["metadata"]["state"], "BATCH_STATE_PENDING",
        "{created}"
    );
    // What a killed server leaves; a new server on it finishes the batch (however fast).
    copy_tree(&first, &second);
    let restarted = start(&second, Faults::default()).await;
    let gemini = Gemini(&restarted);
    let done = gemini.wait_done(created["name"].as_str().unwrap()).await;
    assert_eq!(done["metadata"]["state"], "BATCH_STATE_SUCCEEDED", "{done}");
    let responses = done["metadata"]["output"]["responsesFile"]
        .as_str()
        .unwrap();
    let text = gemini
        .download(&format!("/v1beta/{responses}:download?alt=media"))
        .await;
    let keys: Vec<String> = text
        .lines()
        .map(|line| {
            serde_json::from_str::<Value>(line).unwrap()["key"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect();
    assert_eq!(
        keys,
        (0..5).map(|index| format!("r{index}")).collect::<Vec<_>>()
    );
    let stats = restarted.stats().await;
    assert_eq!(
        stats["gemini_batches_by_display_name"],
        json!({"survivor": 1}),
        "{stats}"
    );
    assert_eq!(stats["gemini_uploads"], 1, "{stats}");
}
