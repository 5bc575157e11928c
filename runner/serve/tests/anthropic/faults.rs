//! Injected faults on the Anthropic front end: batch fates, line faults and HTTP errors.

use batchlabel_serve::{BatchFate, Faults, HttpFault};
use reqwest::Method;
use serde_json::{Value, json};

use crate::common::{error_of, request, scripted, start, start_adjusted};

fn requests(count: usize) -> Vec<Value> {
    (0..count)
        .map(|index| request(&format!("f{index}"), index, &format!("text {index}")))
        .collect()
}

fn types(results: &[Value]) -> Vec<String> {
    let mut types: Vec<String> = results
        .iter()
        .map(|line| line["result"]["type"].as_str().unwrap().to_string())
        .collect();
    types.sort();
    types
}

#[tokio::test(flavor = "multi_thread")]
async fn expired_and_canceled_fates_end_the_requests_not_run() {
    for (fate, word) in [
        (BatchFate::Expired, "expired"),
        (BatchFate::Cancelled, "canceled"),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let mut faults = Faults::default();
        faults.batch_fates = vec![(fate, 1)];
        let server = start(dir.path(), faults).await;
        let created = server.create(requests(4)).await;
        let ended = server.wait_ended(created["id"].as_str().unwrap()).await;
        assert_eq!(ended["request_counts"]["succeeded"], 2, "{ended}");
        assert_eq!(ended["request_counts"][word], 2, "{ended}");
        let results = server.results(&ended).await;
        let mut expected = [word, word, "succeeded", "succeeded"]
            .map(String::from)
            .to_vec();
        expected.sort();
        assert_eq!(types(&results), expected);
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_full_queue_refuses_the_create_with_a_429() {
    let dir = tempfile::tempdir().unwrap();
    let mut faults = Faults::default();
    faults.batch_fates = vec![(BatchFate::Failed, 2)];
    let server = start(dir.path(), faults).await;
    server.create(requests(1)).await;
    let response = server
        .call(Method::POST, "/v1/messages/batches")
        .json(&json!({"requests": requests(1)}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 429);
    assert!(response.headers().contains_key("retry-after"));
    let body: Value = response.json().await.unwrap();
    assert_eq!(error_of(&body).0, "rate_limit_error");
    let (_, stats) = server
        .json(Method::GET, "/v1/_batchlabel/stats", None)
        .await;
    assert_eq!(
        stats["anthropic_batches"], 1,
        "the refused batch was not created: {stats}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_batch_over_the_token_queue_cap_is_refused_with_a_429_until_one_ends() {
    let dir = tempfile::tempdir().unwrap();
    // One request of 3,000 characters: 750 tokens and some of its wrapping; room for one.
    let big = || vec![request("q0", 0, &"x".repeat(3000))];
    let server = start_adjusted(
        dir.path(),
        scripted(),
        Faults::default(),
        std::time::Duration::from_millis(200),
        |options| options.max_enqueued_tokens = Some(1400),
    )
    .await;
    let first = server.create(big()).await;
    let refused = server
        .call(Method::POST, "/v1/messages/batches")
        .json(&json!({"requests": big()}))
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 429);
    let body: Value = refused.json().await.unwrap();
    assert_eq!(error_of(&body).0, "rate_limit_error");
    server.wait_ended(first["id"].as_str().unwrap()).await;
    // Ended: its tokens left the queue, and the same batch fits.
    server.create(big()).await;
    let (_, stats) = server
        .json(Method::GET, "/v1/_batchlabel/stats", None)
        .await;
    assert_eq!(stats["anthropic_batches"], 2, "{stats}");
    assert_eq!(stats["queue"]["refused_batches"], 1, "{stats}");
}

#[tokio::test(flavor = "multi_thread")]
async fn line_faults_error_drop_and_cut_lines() {
    let dir = tempfile::tempdir().unwrap();
    let mut faults = Faults::default();
    faults.line_error_every = Some(3);
    let server = start(dir.path(), faults).await;
    let ended = server
        .wait_ended(server.create(requests(6)).await["id"].as_str().unwrap())
        .await;
    let results = server.results(&ended).await;
    let errored: Vec<&Value> = results
        .iter()
        .filter(|line| line["result"]["type"] == "errored")
        .collect();
    assert_eq!(errored.len(), 2);
    assert_eq!(errored[0]["result"]["error"]["type"], "error");
    assert_eq!(errored[0]["result"]["error"]["error"]["type"], "api_error");
    assert_eq!(ended["request_counts"]["errored"], 2);

    let dir = tempfile::tempdir().unwrap();
    let mut faults = Faults::default();
    faults.missing_every = Some(3);
    let server = start(dir.path(), faults).await;
    let ended = server
        .wait_ended(server.create(requests(6)).await["id"].as_str().unwrap())
        .await;
    assert_eq!(
        server.results(&ended).await.len(),
        4,
        "two lines are missing"
    );

    let dir = tempfile::tempdir().unwrap();
    let mut faults = Faults::default();
    faults.malformed_every = Some(3);
    let server = start(dir.path(), faults).await;
    let ended = server
        .wait_ended(server.create(requests(6)).await["id"].as_str().unwrap())
        .await;
    let lines = server.result_lines(&ended).await;
    assert_eq!(lines.len(), 6);
    let broken = lines
        .iter()
        .filter(|line| serde_json::from_str::<Value>(line).is_err())
        .count();
    assert_eq!(broken, 2);
}

#[tokio::test(flavor = "multi_thread")]
async fn http_faults_answer_in_anthropics_shapes() {
    let dir = tempfile::tempdir().unwrap();
    let mut faults = Faults::default();
    faults.http = vec![
        HttpFault {
            status: 429,
            every: 2,
        },
        HttpFault {
            status: 529,
            every: 3,
        },
    ];
    let server = start(dir.path(), faults).await;
    let list = || server.call(Method::GET, "/v1/messages/batches").send();
    assert_eq!(list().await.unwrap().status(), 200);
    let limited = list().await.unwrap();
    assert_eq!(limited.status(), 429);
    let headers = limited.headers();
    assert_eq!(headers["anthropic-ratelimit-requests-remaining"], "0");
    assert!(headers.contains_key("retry-after"));
    let reset = headers["anthropic-ratelimit-requests-reset"]
        .to_str()
        .unwrap()
        .to_string();
    assert!(reset.ends_with('Z') && reset.contains('T'), "{reset}");
    let body: Value = limited.json().await.unwrap();
    assert_eq!(error_of(&body).0, "rate_limit_error");
    let overloaded = list().await.unwrap();
    assert_eq!(overloaded.status().as_u16(), 529);
    let body: Value = overloaded.json().await.unwrap();
    assert_eq!(error_of(&body).0, "overloaded_error");
}
