//! `max_enqueued_tokens`: a batch that would bring the queued input tokens over the cap fails
//! validation with `token_limit_exceeded`, the Azure headers report the queue, and an ended
//! batch frees its tokens.

use reqwest::Method;
use serde_json::{Value, json};

use crate::common::{Served, json, line, serve_with, upload, wait};

fn create(served: &Served, content: &str) -> (Value, Option<u64>, Option<u64>) {
    let file = upload(
        served.azure(Method::POST, "/openai/v1/files"),
        "in.jsonl",
        content,
    );
    let response = served
        .azure(Method::POST, "/openai/v1/batches")
        .json(&json!({"input_file_id": file["id"], "endpoint": "/chat/completions", "completion_window": "24h"}))
        .send()
        .expect("create");
    let header = |name: &str| {
        response
            .headers()
            .get(name)
            .and_then(|value| value.to_str().ok())
            .and_then(|value| value.parse::<u64>().ok())
    };
    let (enqueued, maximum) = (
        header("deployment-enqueued-tokens"),
        header("deployment-maximum-enqueued-tokens"),
    );
    let (status, batch) = json(response);
    assert_eq!(status, 200, "{batch}");
    (batch, enqueued, maximum)
}

fn finish(served: &Served, batch: &Value) -> Value {
    let id = batch["id"].as_str().expect("id").to_string();
    wait(|| served.azure(Method::GET, &format!("/openai/v1/batches/{id}")))
}

#[test]
fn a_batch_over_the_queue_cap_fails_and_an_ended_batch_frees_its_tokens() {
    let content = [
        line("a", "/v1/chat/completions", "dep", "one"),
        line("b", "/v1/chat/completions", "dep", "two"),
    ]
    .join("\n");
    let tokens = (content.chars().count() as u64).div_ceil(4);
    let cap = tokens + tokens / 2;
    let served = serve_with(|options| options.max_enqueued_tokens = Some(cap));
    let (first, enqueued, maximum) = create(&served, &content);
    assert_eq!((enqueued, maximum), (Some(tokens), Some(cap)));
    // The first is still validating (each step pauses 300 ms): the second does not fit.
    let (second, enqueued, _) = create(&served, &content);
    assert_eq!(enqueued, Some(tokens));
    let failed = finish(&served, &second);
    assert_eq!(failed["status"], "failed", "{failed}");
    assert_eq!(failed["errors"]["data"][0]["code"], "token_limit_exceeded");
    assert_eq!(finish(&served, &first)["status"], "completed");
    // Ended batches leave the queue: the same input fits again.
    let (third, enqueued, _) = create(&served, &content);
    assert_eq!(enqueued, Some(tokens));
    assert_eq!(finish(&served, &third)["status"], "completed");
    let (status, stats) = json(
        served
            .openai(Method::GET, "/v1/_batchlabel/stats")
            .send()
            .expect("stats"),
    );
    assert_eq!(status, 200);
    let queue = &stats["queue"];
    assert_eq!(
        (&queue["peak_enqueued_tokens"], &queue["refused_batches"]),
        (&json!(tokens), &json!(1)),
        "{stats}"
    );
    assert_eq!(queue["enqueued_tokens"], 0, "{stats}");
}
