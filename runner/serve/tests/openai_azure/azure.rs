//! Azure OpenAI's front end under `/openai/`: the workflow end to end (with Azure's 0-byte
//! error file and quota headers), its validation rules, the dated paths and their
//! api-version, and its 401.

use reqwest::Method;
use serde_json::{Value, json};

use crate::common::{KEY, Served, json, line, serve, serve_with, upload, wait};

const DENIED: &str = "Access denied due to invalid subscription key or wrong API endpoint. Make sure to provide a valid key for an active subscription and use a correct regional API endpoint for your resource.";

fn create(served: &Served, path: &str, file_id: &Value, endpoint: &str) -> Value {
    let response = served
        .azure(Method::POST, path)
        .json(&json!({"input_file_id": file_id, "endpoint": endpoint, "completion_window": "24h"}))
        .send()
        .expect("create");
    let (status, batch) = json(response);
    assert_eq!(status, 200, "{batch}");
    batch
}

fn run_to_end(served: &Served, content: &str) -> Value {
    let file = upload(
        served.azure(Method::POST, "/openai/v1/files"),
        "in.jsonl",
        content,
    );
    let batch = create(
        served,
        "/openai/v1/batches",
        &file["id"],
        "/chat/completions",
    );
    let id = batch["id"].as_str().unwrap().to_string();
    wait(|| served.azure(Method::GET, &format!("/openai/v1/batches/{id}")))
}

fn error_codes(batch: &Value) -> Vec<(Value, Value)> {
    batch["errors"]["data"]
        .as_array()
        .map(|errors| {
            errors
                .iter()
                .map(|error| (error["code"].clone(), error["line"].clone()))
                .collect()
        })
        .unwrap_or_default()
}

#[test]
fn the_azure_workflow_runs_end_to_end() {
    let served = serve_with(|options| options.azure_max_enqueued_tokens = 5_000_000);
    let content = [
        line("a", "/v1/chat/completions", "my-deployment", "one"),
        line("b", "/chat/completions", "my-deployment", "twö"),
        line("c", "/v1/chat/completions", "my-deployment", "three"),
    ]
    .join("\n");
    let file = upload(
        served.azure(Method::POST, "/openai/v1/files"),
        "in.jsonl",
        &content,
    );
    assert_eq!(
        (&file["object"], &file["purpose"]),
        (&json!("file"), &json!("batch"))
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
    let chars = content.chars().count() as u64;
    assert_eq!(
        header("deployment-enqueued-tokens"),
        Some(chars.div_ceil(4))
    );
    assert_eq!(
        header("deployment-maximum-enqueued-tokens"),
        Some(5_000_000)
    );
    let (status, batch) = json(response);
    assert_eq!(status, 200, "{batch}");
    assert_eq!(
        (&batch["status"], &batch["model"]),
        (&json!("validating"), &json!("my-deployment"))
    );
    let id = batch["id"].as_str().unwrap().to_string();
    let done = wait(|| served.azure(Method::GET, &format!("/openai/v1/batches/{id}")));
    assert_eq!(done["status"], "completed", "{done}");
    assert_eq!(
        done["request_counts"],
        json!({"total": 3, "completed": 3, "failed": 0})
    );
    let error_file = done["error_file_id"]
        .as_str()
        .expect("Azure always has an error file");
    let (status, error_object) = json(
        served
            .azure(Method::GET, &format!("/openai/v1/files/{error_file}"))
            .send()
            .expect("file"),
    );
    assert_eq!((status, &error_object["bytes"]), (200, &json!(0)));
    let empty = served
        .azure(
            Method::GET,
            &format!("/openai/v1/files/{error_file}/content"),
        )
        .send()
        .expect("content");
    assert_eq!(empty.status().as_u16(), 200);
    assert_eq!(empty.text().expect("body"), "");
    let output = done["output_file_id"].as_str().expect("output file");
    let text = served
        .azure(Method::GET, &format!("/openai/v1/files/{output}/content"))
        .send()
        .expect("content")
        .text()
        .expect("body");
    let mut ids: Vec<String> = text
        .lines()
        .map(|line| {
            let line: Value = serde_json::from_str(line).expect("output line");
            assert_eq!(line["response"]["status_code"], 200, "{line}");
            line["custom_id"].as_str().unwrap().to_string()
        })
        .collect();
    ids.sort();
    assert_eq!(ids, ["a", "b", "c"]);
    let (_, list) = json(
        served
            .azure(Method::GET, "/openai/v1/batches")
            .send()
            .expect("list"),
    );
    assert_eq!(list["data"][0]["id"], json!(id));
    let (_, stats) = json(
        served
            .openai(Method::GET, "/v1/_batchlabel/stats")
            .send()
            .expect("stats"),
    );
    // Other fronts (Mistral, Gemini) have their own keys; this batch is Azure's.
    let fronts = &stats["batches_by_front"];
    assert_eq!(
        (&fronts["openai"], &fronts["azure"]),
        (&json!(0), &json!(1))
    );
}

#[test]
fn mixed_deployments_and_a_bom_fail_validation() {
    let served = serve();
    let content = [
        line("a", "/v1/chat/completions", "dep", "one"),
        line("b", "/v1/chat/completions", "other", "two"),
        r#"{"custom_id":"c","method":"POST","url":"/v1/chat/completions","body":{"messages":[]}}"#
            .into(),
    ]
    .join("\n");
    let failed = run_to_end(&served, &content);
    assert_eq!(failed["status"], "failed");
    assert_eq!(
        error_codes(&failed),
        vec![
            (json!("model_mismatch"), json!(2)),
            (json!("model_not_found"), json!(3))
        ]
    );
    let bom = format!(
        "\u{feff}{}",
        line("a", "/v1/chat/completions", "dep", "one")
    );
    let failed = run_to_end(&served, &bom);
    assert_eq!(failed["status"], "failed");
    assert_eq!(
        error_codes(&failed),
        vec![(json!("invalid_json_line"), json!(1))]
    );
}

#[test]
fn dated_paths_take_an_api_version() {
    let served = serve();
    let content = line("a", "/v1/chat/completions", "dep", "one");
    let file = upload(
        served.azure(Method::POST, "/openai/files?api-version=2024-10-21"),
        "in.jsonl",
        &content,
    );
    let batch = create(
        &served,
        "/openai/batches?api-version=2025-04-01-preview",
        &file["id"],
        "/v1/chat/completions",
    );
    let id = batch["id"].as_str().unwrap().to_string();
    let (status, cancelled) = json(
        served
            .azure(
                Method::POST,
                &format!("/openai/batches/{id}/cancel?api-version=2024-10-21"),
            )
            .send()
            .expect("cancel"),
    );
    assert_eq!((status, &cancelled["status"]), (200, &json!("cancelling")));
    let done = wait(|| {
        served.azure(
            Method::GET,
            &format!("/openai/batches/{id}?api-version=2024-10-21"),
        )
    });
    assert_eq!(done["status"], "cancelled");
    let (status, page) = json(
        served
            .azure(
                Method::GET,
                "/openai/files?api-version=2024-10-21&purpose=batch",
            )
            .send()
            .expect("list"),
    );
    assert_eq!((status, &page["data"][0]["id"]), (200, &file["id"]));
    let (status, body) = json(
        served
            .azure(Method::GET, "/openai/batches")
            .send()
            .expect("list"),
    );
    assert_eq!(
        (status, &body["error"]["code"]),
        (400, &json!("MissingApiVersionParameter")),
        "{body}"
    );
    let (status, body) = json(
        served
            .azure(Method::GET, "/openai/batches?api-version=latest")
            .send()
            .expect("list"),
    );
    assert_eq!(
        (status, &body["error"]["code"]),
        (400, &json!("InvalidApiVersionParameter")),
        "{body}"
    );
    let (status, completion) = json(
        served
            .azure(
                Method::POST,
                "/openai/deployments/dep/chat/completions?api-version=2024-10-21",
            )
            .json(&json!({"messages": [{"role": "user", "content": "hi"}]}))
            .send()
            .expect("chat"),
    );
    assert_eq!(status, 200, "{completion}");
    assert_eq!(completion["model"], "dep-scripted");
    let (status, completion) = json(
        served
            .azure(Method::POST, "/openai/v1/chat/completions")
            .json(&json!({"model": "dep", "messages": [{"role": "user", "content": "hi"}]}))
            .send()
            .expect("chat"),
    );
    assert_eq!(
        (status, &completion["object"]),
        (200, &json!("chat.completion"))
    );
    let (status, body) = json(
        served
            .azure(Method::GET, "/openai/nope")
            .send()
            .expect("nope"),
    );
    assert_eq!(
        (status, &body),
        (
            404,
            &json!({"error": {"code": "404", "message": "Resource not found"}})
        )
    );
}

#[test]
fn azure_keys_are_checked_azure_style() {
    let served = serve();
    let expected = json!({"error": {"code": "401", "message": DENIED}});
    let (status, body) = json(
        served
            .client
            .get(served.url("/openai/v1/batches"))
            .send()
            .expect("list"),
    );
    assert_eq!((status, &body), (401, &expected));
    let (status, body) = json(
        served
            .client
            .get(served.url("/openai/v1/batches"))
            .header("api-key", "wrong")
            .send()
            .expect("list"),
    );
    assert_eq!((status, &body), (401, &expected));
    let (status, body) = json(
        served
            .client
            .get(served.url("/openai/v1/batches"))
            .bearer_auth(KEY)
            .send()
            .expect("list"),
    );
    assert_eq!((status, &body["object"]), (200, &json!("list")));
}
