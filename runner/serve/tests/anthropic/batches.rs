//! The Message Batches lifecycle: create, poll, results, cancel, delete, list, validation,
//! the synchronous Messages API and surviving a restart.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use batchlabel_serve::{Answer, Engine, Faults, Responder};
use reqwest::Method;
use serde_json::{Value, json};

use crate::common::{KEY, error_of, request, scripted, start, start_with};

fn is_rfc3339(value: &Value) -> bool {
    value
        .as_str()
        .is_some_and(|text| text.len() == 20 && text.ends_with('Z') && text.as_bytes()[10] == b'T')
}

#[tokio::test(flavor = "multi_thread")]
async fn a_batch_runs_to_its_results_with_every_custom_id_once() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(dir.path(), Faults::default()).await;
    let requests: Vec<Value> = (0..9)
        .map(|index| request(&format!("req-{index}"), index, &format!("text {index}")))
        .collect();
    let created = server.create(requests).await;
    let id = created["id"].as_str().unwrap();
    assert!(id.starts_with("msgbatch_"));
    assert_eq!(created["type"], "message_batch");
    assert_eq!(created["processing_status"], "in_progress");
    assert_eq!(
        created["request_counts"],
        json!({"processing": 9, "succeeded": 0, "errored": 0, "canceled": 0, "expired": 0})
    );
    assert!(is_rfc3339(&created["created_at"]) && is_rfc3339(&created["expires_at"]));
    assert!(
        created["ended_at"].is_null()
            && created["archived_at"].is_null()
            && created["results_url"].is_null()
    );
    let ended = server.wait_ended(id).await;
    assert_eq!(
        ended["request_counts"],
        json!({"processing": 0, "succeeded": 9, "errored": 0, "canceled": 0, "expired": 0})
    );
    assert!(is_rfc3339(&ended["ended_at"]));
    assert_eq!(
        ended["results_url"],
        format!("http://{}/v1/messages/batches/{id}/results", server.address)
    );
    let results = server.results(&ended).await;
    let mut by_id = BTreeMap::new();
    for line in results {
        let custom_id = line["custom_id"].as_str().unwrap().to_string();
        assert!(
            by_id.insert(custom_id, line["result"].clone()).is_none(),
            "a custom_id twice"
        );
    }
    assert_eq!(by_id.len(), 9);
    for (index, result) in by_id.values().enumerate() {
        assert_eq!(result["type"], "succeeded", "{result}");
        let message = &result["message"];
        assert!(message["id"].as_str().unwrap().starts_with("msg_"));
        assert_eq!(
            (message["type"].as_str(), message["role"].as_str()),
            (Some("message"), Some("assistant"))
        );
        assert!(
            message["usage"]["input_tokens"].as_u64().unwrap() > 0,
            "{message}"
        );
        assert!(message["usage"]["output_tokens"].as_u64().unwrap() > 0);
        assert_eq!(message["usage"]["cache_read_input_tokens"], 0);
        let block = &message["content"][0];
        // by_id sorts req-0..req-8, so index is the request's form.
        match index % 3 {
            2 => {
                assert_eq!(message["stop_reason"], "tool_use");
                assert_eq!(block["type"], "tool_use");
                assert_eq!(block["name"], "record_label");
                assert!(block["id"].as_str().unwrap().starts_with("toolu_"));
                assert!(
                    ["positive", "negative"].contains(&block["input"]["label"].as_str().unwrap()),
                    "{block}"
                );
            }
            1 => {
                assert_eq!(message["stop_reason"], "end_turn");
                let answer: Value = serde_json::from_str(block["text"].as_str().unwrap()).unwrap();
                assert!(["positive", "negative"].contains(&answer["label"].as_str().unwrap()));
            }
            _ => assert_eq!(block["type"], "text"),
        }
    }
    let (_, stats) = server
        .json(Method::GET, "/v1/_batchlabel/stats", None)
        .await;
    assert_eq!(stats["anthropic_batches"], 1, "{stats}");
    assert_eq!(stats["anthropic_batches_by_status"]["ended"], 1, "{stats}");
}

#[tokio::test(flavor = "multi_thread")]
async fn cancel_ends_with_canceled_results_and_delete_waits_for_the_end() {
    let dir = tempfile::tempdir().unwrap();
    // A step delay keeps the batch queued long enough to cancel it first.
    let server = start_with(
        dir.path(),
        scripted(),
        Faults::default(),
        Duration::from_millis(300),
    )
    .await;
    let created = server
        .create(
            (0..4)
                .map(|index| request(&format!("c{index}"), index, "hello"))
                .collect(),
        )
        .await;
    let id = created["id"].as_str().unwrap();
    let path = format!("/v1/messages/batches/{id}");
    let (status, body) = server.json(Method::DELETE, &path, None).await;
    assert_eq!(status, 400);
    assert_eq!(error_of(&body).0, "invalid_request_error");
    let (status, canceling) = server
        .json(Method::POST, &format!("{path}/cancel"), None)
        .await;
    assert_eq!(status, 200);
    assert_eq!(canceling["processing_status"], "canceling", "{canceling}");
    assert!(is_rfc3339(&canceling["cancel_initiated_at"]));
    let ended = server.wait_ended(id).await;
    assert_eq!(ended["request_counts"]["canceled"], 4, "{ended}");
    let results = server.results(&ended).await;
    assert_eq!(results.len(), 4);
    assert!(
        results
            .iter()
            .all(|line| line["result"] == json!({"type": "canceled"}))
    );
    let (status, deleted) = server.json(Method::DELETE, &path, None).await;
    assert_eq!(status, 200);
    assert_eq!(deleted, json!({"id": id, "type": "message_batch_deleted"}));
    let (status, body) = server.json(Method::GET, &path, None).await;
    assert_eq!((status, error_of(&body).0), (404, "not_found_error"));
}

#[tokio::test(flavor = "multi_thread")]
async fn the_list_pages_newest_first() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(dir.path(), Faults::default()).await;
    let mut ids = Vec::new();
    for index in 0..5 {
        ids.push(
            server.create(vec![request("only", index, "x")]).await["id"]
                .as_str()
                .unwrap()
                .to_string(),
        );
    }
    ids.reverse();
    let ids_of = |page: &Value| -> Vec<String> {
        page["data"]
            .as_array()
            .unwrap()
            .iter()
            .map(|batch| batch["id"].as_str().unwrap().to_string())
            .collect()
    };
    let (_, page) = server
        .json(Method::GET, "/v1/messages/batches?limit=2", None)
        .await;
    assert_eq!(ids_of(&page), ids[..2]);
    assert_eq!(
        (
            page["has_more"].as_bool(),
            page["first_id"].as_str(),
            page["last_id"].as_str()
        ),
        (Some(true), Some(ids[0].as_str()), Some(ids[1].as_str()))
    );
    let (_, page) = server
        .json(
            Method::GET,
            &format!("/v1/messages/batches?limit=2&after_id={}", ids[3]),
            None,
        )
        .await;
    assert_eq!(ids_of(&page), ids[4..]);
    assert_eq!(page["has_more"], false);
    let (_, page) = server
        .json(
            Method::GET,
            &format!("/v1/messages/batches?limit=2&before_id={}", ids[3]),
            None,
        )
        .await;
    assert_eq!(ids_of(&page), ids[1..3]);
    assert_eq!(page["has_more"], true);
    let (_, page) = server.json(Method::GET, "/v1/messages/batches", None).await;
    assert_eq!(ids_of(&page), ids);
    let (status, body) = server
        .json(Method::GET, "/v1/messages/batches?limit=0", None)
        .await;
    assert_eq!((status, error_of(&body).0), (400, "invalid_request_error"));
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_requests_are_refused_in_anthropics_envelope() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(dir.path(), Faults::default()).await;
    let create = |requests: Value| {
        server.json(
            Method::POST,
            "/v1/messages/batches",
            Some(json!({"requests": requests})),
        )
    };
    let cases = [
        (
            json!([request("ok", 0, "a"), request("bad id!", 0, "b")]),
            "requests.1.custom_id:",
        ),
        (
            json!([request("same", 0, "a"), request("same", 0, "b")]),
            "requests.1.custom_id:",
        ),
        (
            json!([{"custom_id": "a", "params": {"model": "m", "messages": [{"role": "user", "content": "x"}]}}]),
            "requests.0.params.max_tokens: Field required",
        ),
        (
            json!([{"custom_id": "a", "params": {"model": "m", "max_tokens": 5, "messages": [{"role": "user", "content": [{"type": "image", "source": {}}]}]}}]),
            "requests.0.params.messages.0.content.0.type:",
        ),
        (json!([]), "requests:"),
    ];
    for (requests, prefix) in cases {
        let (status, body) = create(requests).await;
        let (kind, message) = error_of(&body);
        assert_eq!((status, kind), (400, "invalid_request_error"), "{body}");
        assert!(
            message.starts_with(prefix),
            "{message} should start with {prefix}"
        );
    }
    let url = server.url("/v1/messages/batches");
    let response = server
        .client
        .get(&url)
        .header("x-api-key", KEY)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
    assert!(response.headers().contains_key("request-id"));
    let body: Value = response.json().await.unwrap();
    assert_eq!(
        error_of(&body),
        (
            "invalid_request_error",
            "anthropic-version: header is required"
        )
    );
    for key in [None, Some("wrong")] {
        let mut call = server
            .client
            .get(&url)
            .header("anthropic-version", "2023-06-01");
        if let Some(key) = key {
            call = call.header("x-api-key", key);
        }
        let response = call.send().await.unwrap();
        assert_eq!(response.status(), 401);
        let body: Value = response.json().await.unwrap();
        assert_eq!(
            error_of(&body),
            ("authentication_error", "invalid x-api-key")
        );
    }
    let response = server
        .client
        .get(&url)
        .bearer_auth(KEY)
        .header("anthropic-version", "2023-06-01")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200, "a bearer key is accepted too");
    let (status, body) = server
        .json(Method::GET, "/v1/messages/nothing/here", None)
        .await;
    assert_eq!((status, error_of(&body).0), (404, "not_found_error"));
}

#[tokio::test(flavor = "multi_thread")]
async fn the_messages_api_answers_in_each_form() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(dir.path(), Faults::default()).await;
    let send = |body: Value| server.json(Method::POST, "/v1/messages", Some(body));
    let (status, message) = send(request("x", 2, "fine")["params"].clone()).await;
    assert_eq!(status, 200, "{message}");
    assert_eq!(message["stop_reason"], "tool_use");
    assert!(message["content"][0]["input"]["label"].is_string());
    assert_eq!(message["usage"]["service_tier"], "standard");
    let (_, message) = send(request("x", 2, "GARBAGE please")["params"].clone()).await;
    assert_eq!(
        (
            message["stop_reason"].as_str(),
            message["content"][0]["text"].as_str()
        ),
        (Some("end_turn"), Some("this is not json"))
    );
    let (_, message) = send(request("x", 0, "REFUSE this")["params"].clone()).await;
    assert_eq!(
        (
            message["stop_reason"].as_str(),
            message["content"][0]["text"].as_str()
        ),
        (Some("refusal"), Some("I cannot help with that."))
    );
    let (status, body) = send(request("x", 0, "BOOM")["params"].clone()).await;
    assert_eq!((status, error_of(&body).0), (500, "api_error"));
}

/// A scripted engine that takes its time, so a batch is still running when the state is
/// snapshotted.
#[derive(Debug)]
struct Slow(Engine);

impl Responder for Slow {
    fn respond(&self, body: &str) -> Answer {
        std::thread::sleep(Duration::from_millis(40));
        self.0.answer(body, &reqwest::blocking::Client::new())
    }
}

fn copy_tree(from: &std::path::Path, to: &std::path::Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_tree(&entry.path(), &target);
        } else if entry.file_name() != "serve.lock" {
            // A file may vanish between listing and copying (a temp file renamed).
            let _ = std::fs::copy(entry.path(), target);
        }
    }
}

/// A server killed mid-batch is simulated by copying its state folder as it runs (the state
/// is written atomically, so any moment's copy is what a killed server leaves); a new server
/// on the copy must finish the accepted batch.
#[tokio::test(flavor = "multi_thread")]
async fn a_batch_accepted_before_a_restart_ends_after_it() {
    let dir = tempfile::tempdir().unwrap();
    let first = dir.path().join("first");
    let engine = Engine::InProcess(Arc::new(Slow(scripted())));
    let server = start_with(&first, engine, Faults::default(), Duration::ZERO).await;
    let created = server
        .create(
            (0..30)
                .map(|index| request(&format!("r{index}"), index, &format!("t{index}")))
                .collect(),
        )
        .await;
    let id = created["id"].as_str().unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(server.get(id).await["processing_status"], "in_progress");
    let second = dir.path().join("second");
    copy_tree(&first, &second);
    let restarted = start(&second, Faults::default()).await;
    // The restarted server resumes at once with a fast engine, so it may already have
    // finished some or all requests: every request is counted, none lost or doubled.
    let counts = &restarted.get(id).await["request_counts"];
    let counted: i64 = ["processing", "succeeded", "errored", "canceled", "expired"]
        .iter()
        .map(|key| counts[key].as_i64().unwrap())
        .sum();
    assert_eq!(counted, 30, "{counts}");
    assert_eq!(counts["errored"], 0, "{counts}");
    let ended = restarted.wait_ended(id).await;
    assert_eq!(ended["request_counts"]["succeeded"], 30, "{ended}");
    let results = restarted.results(&ended).await;
    assert_eq!(results.len(), 30);
    let (_, stats) = restarted
        .json(Method::GET, "/v1/_batchlabel/stats", None)
        .await;
    assert_eq!(
        stats["anthropic_batches"], 1,
        "no batch created twice: {stats}"
    );
    assert_eq!(stats["batches"], 1, "{stats}");
}
