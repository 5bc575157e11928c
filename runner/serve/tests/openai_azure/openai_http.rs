//! OpenAI's front end over plain HTTP: every 4xx in OpenAI's envelope, the two 401s, raw
//! uploads, what is refused rather than ignored, and what a batch carries from creation.

use reqwest::Method;
use serde_json::{Value, json};

use crate::common::{Served, envelope, json, line, serve, upload, wait};

const CHAT: &str = "/v1/chat/completions";

fn create(served: &Served, body: &Value) -> (u16, Value) {
    json(
        served
            .openai(Method::POST, "/v1/batches")
            .json(body)
            .send()
            .expect("create"),
    )
}

fn chat(served: &Served, body: &Value) -> Value {
    let (status, body) = json(
        served
            .openai(Method::POST, CHAT)
            .json(body)
            .send()
            .expect("chat"),
    );
    envelope(status, &body, 400)
}

#[test]
fn every_4xx_is_an_openai_envelope() {
    let served = serve();
    let call = |method: Method, path: &str| json(served.openai(method, path).send().expect("call"));
    let (status, body) = call(Method::GET, "/v1/nope");
    let error = envelope(status, &body, 404);
    assert!(
        error["message"]
            .as_str()
            .unwrap()
            .contains("Invalid URL (GET /v1/nope)")
    );
    for path in ["/v1/responses", "/v1/embeddings"] {
        let (status, body) = call(Method::POST, path);
        let error = envelope(status, &body, 404);
        assert!(
            error["message"]
                .as_str()
                .unwrap()
                .contains("/v1/chat/completions"),
            "{body}"
        );
    }
    let (status, body) = call(Method::DELETE, "/v1/batches");
    let error = envelope(status, &body, 405);
    assert_eq!(
        error["message"],
        "Invalid method for URL (DELETE /v1/batches)"
    );
    let (status, body) = json(
        served
            .openai(Method::POST, "/v1/files")
            .header("content-type", "multipart/form-data")
            .body("junk")
            .send()
            .expect("upload"),
    );
    envelope(status, &body, 400);
    let (status, body) = json(
        served
            .openai(Method::POST, "/v1/batches")
            .header("content-type", "application/json")
            .body("{not json")
            .send()
            .expect("create"),
    );
    let error = envelope(status, &body, 400);
    assert!(
        error["message"]
            .as_str()
            .unwrap()
            .starts_with("We could not parse the JSON body")
    );
    let (status, body) = create(
        &served,
        &json!({"endpoint": CHAT, "completion_window": "24h"}),
    );
    let error = envelope(status, &body, 400);
    assert_eq!(
        (&error["param"], &error["code"]),
        (
            &json!("input_file_id"),
            &json!("missing_required_parameter")
        )
    );
    for path in ["/v1/batches?limit=abc", "/v1/files?limit=abc"] {
        let (status, body) = call(Method::GET, path);
        let error = envelope(status, &body, 400);
        assert_eq!(error["param"], "limit", "{body}");
    }
    let (status, body) = call(Method::GET, "/v1/files/file-nope");
    envelope(status, &body, 404);
    let (status, body) = call(Method::GET, "/v1/batches/batch_nope");
    envelope(status, &body, 404);
    let form = reqwest::blocking::multipart::Form::new().part(
        "file",
        reqwest::blocking::multipart::Part::bytes(b"{}".to_vec()).file_name("a.jsonl"),
    );
    let (status, body) = json(
        served
            .openai(Method::POST, "/v1/files")
            .multipart(form)
            .send()
            .expect("upload"),
    );
    let error = envelope(status, &body, 400);
    assert_eq!(error["param"], "purpose");
}

#[test]
fn a_missing_key_and_a_wrong_key_are_told_apart() {
    let served = serve();
    let (status, body) = json(
        served
            .client
            .get(served.url("/v1/batches"))
            .send()
            .expect("list"),
    );
    let error = envelope(status, &body, 401);
    assert!(
        error["message"]
            .as_str()
            .unwrap()
            .starts_with("You didn't provide an API key."),
        "{body}"
    );
    assert_eq!(error["code"], Value::Null);
    let wrong = "sk-wrong-key-abcdefghijklmnop";
    let (status, body) = json(
        served
            .client
            .get(served.url("/v1/batches"))
            .bearer_auth(wrong)
            .send()
            .expect("list"),
    );
    let error = envelope(status, &body, 401);
    assert_eq!(error["code"], "invalid_api_key");
    let message = error["message"].as_str().unwrap();
    assert!(
        message.starts_with("Incorrect API key provided: sk-wrong*"),
        "{message}"
    );
    assert!(!message.contains(wrong), "the key is masked: {message}");
    let (status, body) = json(
        served
            .client
            .get(served.url("/v1/_batchlabel/stats"))
            .send()
            .expect("stats"),
    );
    envelope(status, &body, 401);
    let (status, stats) = json(
        served
            .openai(Method::GET, "/v1/_batchlabel/stats")
            .send()
            .expect("stats"),
    );
    assert_eq!((status, &stats["batches"]), (200, &json!(0)));
    let health = served
        .client
        .get(served.url("/health"))
        .send()
        .expect("health");
    assert_eq!(health.status().as_u16(), 200);
    assert_eq!(health.text().expect("body"), "ok");
}

#[test]
fn raw_uploads_are_accepted_and_other_extensions_refused() {
    let served = serve();
    let content = format!("{}\n", line("a", CHAT, "gpt-x", "hello"));
    let unnamed = reqwest::blocking::multipart::Form::new()
        .text("purpose", "batch")
        .part(
            "file",
            reqwest::blocking::multipart::Part::bytes(content.clone().into_bytes()),
        );
    let (status, file) = json(
        served
            .openai(Method::POST, "/v1/files")
            .multipart(unnamed)
            .send()
            .expect("upload"),
    );
    assert_eq!(status, 200, "{file}");
    assert_eq!(
        (&file["filename"], &file["bytes"]),
        (&json!("upload"), &json!(content.len()))
    );
    let named = upload(served.openai(Method::POST, "/v1/files"), "data", &content);
    assert_eq!(named["filename"], "data");
    let form = reqwest::blocking::multipart::Form::new()
        .text("purpose", "batch")
        .part(
            "file",
            reqwest::blocking::multipart::Part::bytes(content.clone().into_bytes())
                .file_name("x.csv"),
        );
    let (status, body) = json(
        served
            .openai(Method::POST, "/v1/files")
            .multipart(form)
            .send()
            .expect("upload"),
    );
    let error = envelope(status, &body, 400);
    assert_eq!(
        error["message"],
        "Invalid file format for Batch API. Must be .jsonl"
    );
    let (status, batch) = create(
        &served,
        &json!({"input_file_id": file["id"], "endpoint": CHAT, "completion_window": "24h"}),
    );
    assert_eq!(status, 200, "{batch}");
    let id = batch["id"].as_str().unwrap().to_string();
    let done = wait(|| served.openai(Method::GET, &format!("/v1/batches/{id}")));
    assert_eq!(done["status"], "completed", "{done}");
    assert_eq!(
        done["request_counts"],
        json!({"total": 1, "completed": 1, "failed": 0})
    );
}

#[test]
fn what_the_server_cannot_do_is_refused() {
    let served = serve();
    let messages = json!([{"role": "user", "content": "hi"}]);
    let error = chat(
        &served,
        &json!({"model": "m", "messages": messages, "stream": true}),
    );
    assert_eq!(error["param"], "stream");
    let error = chat(
        &served,
        &json!({"model": "m", "messages": messages, "n": 2}),
    );
    assert_eq!(error["param"], "n");
    let error = chat(&served, &json!({"model": "m"}));
    assert_eq!(
        (&error["param"], &error["code"]),
        (&json!("messages"), &json!("missing_required_parameter"))
    );
    let error = chat(&served, &json!({"model": "m", "messages": []}));
    assert_eq!(error["code"], "empty_array");
    let error = chat(&served, &json!({"messages": messages}));
    assert_eq!(error["param"], "model");
    let content = [
        r#"{"custom_id":"a","method":"POST","url":"/v1/chat/completions","body":{"model":"m","messages":[],"stream":true}}"#,
        r#"{"custom_id":"b","method":"POST","url":"/v1/chat/completions","body":{"model":"m","messages":[],"n":3}}"#,
    ]
    .join("\n");
    let file = upload(
        served.openai(Method::POST, "/v1/files"),
        "in.jsonl",
        &content,
    );
    let (status, body) = create(
        &served,
        &json!({"input_file_id": file["id"], "endpoint": "/v1/responses", "completion_window": "24h"}),
    );
    let error = envelope(status, &body, 400);
    assert_eq!(error["param"], "endpoint");
    assert!(
        error["message"]
            .as_str()
            .unwrap()
            .contains("supports only /v1/chat/completions")
    );
    let (status, batch) = create(
        &served,
        &json!({"input_file_id": file["id"], "endpoint": CHAT, "completion_window": "24h"}),
    );
    assert_eq!(status, 200, "{batch}");
    let id = batch["id"].as_str().unwrap().to_string();
    let failed = wait(|| served.openai(Method::GET, &format!("/v1/batches/{id}")));
    assert_eq!(failed["status"], "failed");
    let found: Vec<(Value, Value, Value)> = failed["errors"]["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|error| {
            (
                error["code"].clone(),
                error["param"].clone(),
                error["line"].clone(),
            )
        })
        .collect();
    assert_eq!(
        found,
        vec![
            (json!("invalid_request"), json!("body.stream"), json!(1)),
            (json!("invalid_request"), json!("body.n"), json!(2)),
        ]
    );
}

#[test]
fn a_batch_carries_model_and_expiry_from_creation_and_full_usage_at_the_end() {
    let served = serve();
    let content = [
        line("a", CHAT, "gpt-x", "one"),
        line("b", CHAT, "gpt-x", "two"),
    ]
    .join("\n");
    let file = upload(
        served.openai(Method::POST, "/v1/files"),
        "in.jsonl",
        &content,
    );
    let (status, batch) = create(
        &served,
        &json!({"input_file_id": file["id"], "endpoint": CHAT, "completion_window": "24h"}),
    );
    assert_eq!(status, 200, "{batch}");
    assert_eq!(batch["status"], "validating");
    assert_eq!(batch["model"], "gpt-x");
    assert_eq!(
        batch["expires_at"].as_i64(),
        batch["created_at"].as_i64().map(|at| at + 86_400)
    );
    let id = batch["id"].as_str().unwrap().to_string();
    let done = wait(|| served.openai(Method::GET, &format!("/v1/batches/{id}")));
    assert_eq!(done["status"], "completed");
    assert_eq!(
        done["error_file_id"],
        Value::Null,
        "OpenAI's front end writes no empty error file"
    );
    let usage = &done["usage"];
    let input = usage["input_tokens"].as_u64().unwrap();
    let output = usage["output_tokens"].as_u64().unwrap();
    assert!(input > 0 && output > 0, "{usage}");
    assert_eq!(usage["total_tokens"].as_u64(), Some(input + output));
    assert_eq!(usage["input_tokens_details"], json!({"cached_tokens": 0}));
    assert_eq!(
        usage["output_tokens_details"],
        json!({"reasoning_tokens": 0})
    );
}
