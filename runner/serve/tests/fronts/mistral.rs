//! The Mistral batch front end: jobs over uploaded files run to their output and error files,
//! pages and filters of jobs and files, cancel, validation, the error envelope, faults, the
//! enqueued-token cap and a restart mid-job.

mod sdk;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use batchlabel_serve::{Answer, BatchFate, Engine, Faults, HttpFault, Responder};
use reqwest::Method;
use serde_json::{Value, json};

use crate::common::{Running, copy_tree, scripted, start, start_adjusted};

const JOBS: &str = "/v1/batch/jobs";

/// A Mistral input line: no method or url; the model comes from the job unless `model` is set.
fn line(custom_id: &str, text: &str, model: Option<&str>) -> String {
    let mut body = json!({"messages": [{"role": "user", "content": text}], "max_tokens": 16,
        "random_seed": 7,
        "response_format": {"type": "json_schema", "json_schema": {"name": "label", "strict": true,
            "schema": {"type": "object", "additionalProperties": false, "required": ["label"],
                "properties": {"label": {"type": "string", "enum": ["positive", "negative"]}}}}}});
    if let Some(model) = model {
        body["model"] = json!(model);
    }
    json!({"custom_id": custom_id, "body": body}).to_string()
}

fn lines(prefix: &str, count: usize) -> String {
    (0..count)
        .map(|index| line(&format!("{prefix}{index}"), &format!("text {index}"), None))
        .collect::<Vec<_>>()
        .join("\n")
}

/// The envelope's type, checking its shape.
fn error_type(body: &Value) -> &str {
    assert_eq!(body["object"], "error", "{body}");
    assert!(
        body["message"].is_string() && body["param"].is_null(),
        "{body}"
    );
    assert!(body["code"].is_null() || body["code"].is_string(), "{body}");
    body["type"].as_str().unwrap_or_default()
}

impl Running {
    async fn upload(&self, filename: &str, content: String) -> String {
        let form = reqwest::multipart::Form::new()
            .text("purpose", "batch")
            .part(
                "file",
                reqwest::multipart::Part::bytes(content.into_bytes())
                    .file_name(filename.to_string()),
            );
        let response = self
            .call(Method::POST, "/v1/files")
            .multipart(form)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        let file: Value = response.json().await.unwrap();
        file["id"].as_str().unwrap().to_string()
    }

    async fn create_job(&self, file_id: &str, metadata: Value) -> Value {
        let (status, job) = self
            .json(
                Method::POST,
                JOBS,
                Some(
                    json!({"input_files": [file_id], "endpoint": "/v1/chat/completions",
                    "model": "mistral-small-latest", "metadata": metadata}),
                ),
            )
            .await;
        assert_eq!(status, 200, "{job}");
        job
    }

    async fn job(&self, id: &str) -> Value {
        let (status, job) = self.json(Method::GET, &format!("{JOBS}/{id}"), None).await;
        assert_eq!(status, 200, "{job}");
        job
    }

    async fn wait_job(&self, id: &str) -> Value {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let job = self.job(id).await;
            let status = job["status"].as_str().unwrap().to_string();
            if ["SUCCESS", "FAILED", "TIMEOUT_EXCEEDED", "CANCELLED"].contains(&status.as_str()) {
                return job;
            }
            assert!(
                job["output_file"].is_null() && job["completed_at"].is_null(),
                "{job}"
            );
            assert!(Instant::now() < deadline, "job {id} did not end: {job}");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// A file's JSON lines by custom_id, checking each appears once.
    async fn lines_of(&self, file_id: &Value) -> BTreeMap<String, Value> {
        let mut by_id = BTreeMap::new();
        for text in self.content(file_id.as_str().unwrap()).await.lines() {
            let line: Value = serde_json::from_str(text).unwrap();
            let custom_id = line["custom_id"].as_str().unwrap().to_string();
            assert!(by_id.insert(custom_id, line).is_none(), "a custom_id twice");
        }
        by_id
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_job_runs_to_success_with_every_custom_id_once() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(dir.path(), Faults::default()).await;
    let mut input: Vec<String> = (0..7)
        .map(|index| line(&format!("r{index}"), &format!("text {index}"), None))
        .collect();
    // A line may name the model itself (one model per job, as OpenAI has one per file).
    input.push(line("own-model", "fine", Some("mistral-small-latest")));
    input.push(line("boom", "BOOM", None));
    // OpenAI's line shape is accepted too.
    let mut openai_shaped: Value =
        serde_json::from_str(&line("openai-shaped", "hi", None)).unwrap();
    openai_shaped["method"] = json!("POST");
    openai_shaped["url"] = json!("/v1/chat/completions");
    input.push(openai_shaped.to_string());
    let file_id = server.upload("input.jsonl", input.join("\n")).await;
    let created = server.create_job(&file_id, json!({"run": "7"})).await;
    let id = created["id"].as_str().unwrap();
    assert_eq!(id.len(), 36, "a UUID-shaped id: {id}");
    assert_eq!(created["object"], "batch");
    assert!(["QUEUED", "RUNNING"].contains(&created["status"].as_str().unwrap()));
    assert_eq!(created["input_files"], json!([file_id]));
    assert_eq!(created["metadata"], json!({"run": "7"}));
    assert_eq!(created["endpoint"], "/v1/chat/completions");
    assert_eq!(created["model"], "mistral-small-latest");
    assert_eq!(created["total_requests"], 10);
    assert!(created["created_at"].is_i64() && created["errors"] == json!([]));
    let ended = server.wait_job(id).await;
    assert_eq!(ended["status"], "SUCCESS", "{ended}");
    assert_eq!(
        [
            "total_requests",
            "completed_requests",
            "succeeded_requests",
            "failed_requests"
        ]
        .map(|key| ended[key].as_u64().unwrap()),
        [10, 10, 9, 1]
    );
    assert!(ended["started_at"].as_i64().unwrap() >= ended["created_at"].as_i64().unwrap());
    assert!(ended["completed_at"].as_i64().unwrap() >= ended["started_at"].as_i64().unwrap());
    let output = server.lines_of(&ended["output_file"]).await;
    assert_eq!(output.len(), 9);
    for (custom_id, result) in &output {
        assert!(result["error"].is_null(), "{result}");
        assert_eq!(result["response"]["status_code"], 200);
        let content = result["response"]["body"]["choices"][0]["message"]["content"]
            .as_str()
            .unwrap();
        let answer: Value = serde_json::from_str(content).unwrap();
        assert!(answer["label"].is_string(), "{custom_id}: {content}");
    }
    let errors = server.lines_of(&ended["error_file"]).await;
    assert_eq!(errors.keys().collect::<Vec<_>>(), ["boom"]);
    assert_eq!(errors["boom"]["response"]["status_code"], 500);
    assert!(errors["boom"]["error"]["message"].is_string(), "{errors:?}");
    assert_eq!(errors["boom"]["error"]["code"], "invalid_request_error");
    let stats = server.stats().await;
    assert_eq!(stats["mistral_jobs"], 1, "{stats}");
    assert_eq!(stats["mistral_jobs_by_status"], json!({"SUCCESS": 1}));
    assert_eq!(stats["batches_by_front"]["mistral"], 1, "{stats}");
    assert_eq!(stats["batches_by_front"]["openai"], 0, "{stats}");
    assert_eq!(stats["batches_by_metadata"][r#"{"run":"7"}"#], 1, "{stats}");
    assert_eq!(
        stats["uploads"], 1,
        "the internal copy is not an upload: {stats}"
    );
    // The synchronous endpoint takes Mistral's field names.
    let (status, answer) = server
        .json(
            Method::POST,
            "/v1/chat/completions",
            Some(
                json!({"model": "mistral-small-latest", "max_tokens": 8, "random_seed": 3,
                "messages": [{"role": "user", "content": "hello"}]}),
            ),
        )
        .await;
    assert_eq!(status, 200, "{answer}");
    assert!(answer["choices"][0]["message"]["content"].is_string());
}

#[tokio::test(flavor = "multi_thread")]
async fn jobs_and_files_page_newest_first_with_filters() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(dir.path(), Faults::default()).await;
    let mut ids = Vec::new();
    for index in 0..5 {
        let file_id = server
            .upload(&format!("shard-{index}.jsonl"), lines("p", 2))
            .await;
        let run = if index < 3 { "a" } else { "b" };
        let job = server
            .create_job(&file_id, json!({"run": run, "shard": index.to_string()}))
            .await;
        ids.push(job["id"].as_str().unwrap().to_string());
    }
    for id in &ids {
        server.wait_job(id).await;
    }
    ids.reverse();
    let ids_of = |page: &Value| -> Vec<String> {
        page["data"]
            .as_array()
            .unwrap()
            .iter()
            .map(|item| item["id"].as_str().unwrap().to_string())
            .collect()
    };
    for (page, expected) in [
        (0, &ids[..2]),
        (1, &ids[2..4]),
        (2, &ids[4..]),
        (3, &[][..]),
    ] {
        let (status, body) = server
            .json(
                Method::GET,
                &format!("{JOBS}?page={page}&page_size=2"),
                None,
            )
            .await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(
            (body["object"].as_str(), body["total"].as_u64()),
            (Some("list"), Some(5))
        );
        assert_eq!(ids_of(&body), expected);
    }
    let filter = |query: &str| {
        let path = format!("{JOBS}?{query}");
        let server = &server;
        async move { server.json(Method::GET, &path, None).await.1 }
    };
    let metadata = "metadata=%7B%22run%22%3A%22a%22%7D";
    let found = filter(metadata).await;
    assert_eq!(found["total"], 3, "{found}");
    assert_eq!(ids_of(&found), ids[2..]);
    let found = filter(&format!("{metadata}&page=1&page_size=2")).await;
    assert_eq!(
        (found["total"].as_u64(), ids_of(&found)),
        (Some(3), ids[4..].to_vec())
    );
    assert_eq!(filter("status=SUCCESS").await["total"], 5);
    assert_eq!(filter("status=RUNNING,QUEUED").await["total"], 0);
    assert_eq!(
        filter("created_after=2000-01-01T00:00:00Z").await["total"],
        5
    );
    assert_eq!(
        filter("created_after=2999-01-01T00:00:00Z").await["total"],
        0
    );
    let (status, body) = server
        .json(Method::GET, &format!("{JOBS}?page_size=0"), None)
        .await;
    assert_eq!((status, error_type(&body)), (422, "invalid_request_error"));

    // Files: Mistral's pages (5 uploads, 5 output files; newest first) beside OpenAI's cursor.
    let (_, page) = server
        .json(
            Method::GET,
            "/v1/files?page=0&page_size=3&purpose=batch",
            None,
        )
        .await;
    assert_eq!(
        (page["object"].as_str(), page["total"].as_u64()),
        (Some("list"), Some(5))
    );
    let names: Vec<&str> = page["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|file| file["filename"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["shard-4.jsonl", "shard-3.jsonl", "shard-2.jsonl"]);
    assert_eq!(page["data"][0]["sample_type"], "batch_request");
    assert_eq!(page["data"][0]["source"], "upload");
    let (_, page) = server
        .json(
            Method::GET,
            "/v1/files?page=1&page_size=3&purpose=batch",
            None,
        )
        .await;
    assert_eq!(page["data"].as_array().unwrap().len(), 2);
    let (_, page) = server
        .json(Method::GET, "/v1/files?purpose=batch&limit=2", None)
        .await;
    assert_eq!(page["has_more"], true, "OpenAI's list is unchanged: {page}");
    assert!(page.get("total").is_none());
    let (_, page) = server
        .json(Method::GET, "/v1/files?purpose=batch_output&page=0", None)
        .await;
    assert_eq!(page["total"], 5, "{page}");
    assert_eq!(page["data"][0]["sample_type"], "batch_result");
}

#[tokio::test(flavor = "multi_thread")]
async fn cancel_of_a_live_job_ends_it_cancelled() {
    let dir = tempfile::tempdir().unwrap();
    // A step delay keeps the job queued long enough to cancel it first.
    let server = start_adjusted(
        dir.path(),
        scripted(),
        Faults::default(),
        Duration::from_millis(300),
        |_| {},
    )
    .await;
    let file_id = server.upload("c.jsonl", lines("c", 4)).await;
    let created = server.create_job(&file_id, Value::Null).await;
    assert_eq!(created["metadata"], Value::Null);
    let id = created["id"].as_str().unwrap();
    let cancel = format!("{JOBS}/{id}/cancel");
    let (status, cancelling) = server.json(Method::POST, &cancel, None).await;
    assert_eq!(status, 200, "{cancelling}");
    assert_eq!(
        cancelling["status"], "CANCELLATION_REQUESTED",
        "{cancelling}"
    );
    let ended = server.wait_job(id).await;
    assert_eq!(ended["status"], "CANCELLED", "{ended}");
    assert_eq!(ended["failed_requests"], 4, "{ended}");
    assert!(ended["output_file"].is_null());
    let errors = server.lines_of(&ended["error_file"]).await;
    assert_eq!(errors.len(), 4);
    assert!(
        errors
            .values()
            .all(|line| line["error"]["code"] == "batch_cancelled" && line["response"].is_null())
    );
    let (status, again) = server.json(Method::POST, &cancel, None).await;
    assert_eq!(status, 200);
    assert_eq!(again, ended, "cancelling an ended job changes nothing");
    assert_eq!(
        server.stats().await["mistral_jobs_by_status"],
        json!({"CANCELLED": 1})
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_requests_are_refused_in_mistrals_envelope() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(dir.path(), Faults::default()).await;
    let file_id = server.upload("m.jsonl", lines("m", 2)).await;
    let endpoint = "/v1/chat/completions";
    let cases = [
        (
            json!({"input_files": ["file-nope"], "endpoint": endpoint, "model": "m"}),
            404,
        ),
        (
            json!({"input_files": [file_id], "endpoint": "/v1/embeddings", "model": "m"}),
            400,
        ),
        // The lines name no model and neither does the job.
        (json!({"input_files": [file_id], "endpoint": endpoint}), 400),
        (json!({"endpoint": endpoint, "model": "m"}), 422),
        (
            json!({"input_files": [file_id], "endpoint": endpoint, "model": "m", "metadata": {"k": 1}}),
            422,
        ),
    ];
    for (body, expected) in cases {
        let (status, answer) = server.json(Method::POST, JOBS, Some(body.clone())).await;
        assert_eq!(status, expected, "{body} → {answer}");
        assert_eq!(error_type(&answer), "invalid_request_error");
    }
    for (method, path) in [
        (Method::GET, format!("{JOBS}/no-such-job")),
        (Method::POST, format!("{JOBS}/no-such-job/cancel")),
        (Method::GET, "/v1/batch/nothing".to_string()),
    ] {
        let (status, answer) = server.json(method, &path, None).await;
        assert_eq!(
            (status, error_type(&answer)),
            (404, "invalid_request_error")
        );
    }
    let (status, answer) = server
        .json(Method::DELETE, &format!("{JOBS}/x"), None)
        .await;
    assert_eq!(
        (status, error_type(&answer)),
        (405, "invalid_request_error")
    );
    for key in [None, Some("wrong")] {
        let mut call = server.client.get(server.url(JOBS));
        if let Some(key) = key {
            call = call.bearer_auth(key);
        }
        let response = call.send().await.unwrap();
        assert_eq!(response.status(), 401);
        let body: Value = response.json().await.unwrap();
        assert_eq!(error_type(&body), "authentication_error");
    }
    assert_eq!(server.stats().await["mistral_jobs"], 0);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_malformed_input_file_fails_the_job() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(dir.path(), Faults::default()).await;
    let content = [
        line("good", "fine", None),
        "{not json".to_string(),
        r#"{"custom_id": "no-body"}"#.to_string(),
        line("good", "twice", None),
    ]
    .join("\n");
    let file_id = server.upload("bad.jsonl", content).await;
    let created = server.create_job(&file_id, json!({})).await;
    let ended = server.wait_job(created["id"].as_str().unwrap()).await;
    assert_eq!(ended["status"], "FAILED", "{ended}");
    let errors = ended["errors"].as_array().unwrap();
    assert_eq!(errors.len(), 3, "{ended}");
    for (error, line) in errors.iter().zip(["Line 2:", "Line 3:", "Line 4:"]) {
        assert_eq!(error["count"], 1);
        assert!(
            error["message"].as_str().unwrap().starts_with(line),
            "{error}"
        );
    }
    assert!(ended["output_file"].is_null() && ended["error_file"].is_null());
    assert!(ended["completed_at"].is_i64());
}

#[tokio::test(flavor = "multi_thread")]
async fn the_queue_cap_refuses_a_create_with_a_429_until_a_job_ends() {
    let dir = tempfile::tempdir().unwrap();
    let server = start_adjusted(
        dir.path(),
        scripted(),
        Faults::default(),
        Duration::from_millis(200),
        // One 3,000-character request is ~800 tokens: room for one job.
        |options| options.max_enqueued_tokens = Some(1_400),
    )
    .await;
    let file_id = server
        .upload("big.jsonl", line("q0", &"x".repeat(3_000), None))
        .await;
    let first = server.create_job(&file_id, json!({})).await;
    let response = server
        .call(Method::POST, JOBS)
        .json(&json!({"input_files": [file_id], "endpoint": "/v1/chat/completions", "model": "m"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 429);
    assert!(response.headers().contains_key("retry-after"));
    let body: Value = response.json().await.unwrap();
    assert_eq!(error_type(&body), "rate_limited");
    server.wait_job(first["id"].as_str().unwrap()).await;
    // Ended: its tokens left the queue, and the same job fits.
    server.create_job(&file_id, json!({})).await;
    let stats = server.stats().await;
    assert_eq!(stats["mistral_jobs"], 2, "{stats}");
    assert_eq!(stats["queue"]["refused_batches"], 1, "{stats}");
}

#[tokio::test(flavor = "multi_thread")]
async fn faults_reach_mistral_clients() {
    // Every second call fails with a 429 in Mistral's envelope; the next one goes through.
    let dir = tempfile::tempdir().unwrap();
    let mut faults = Faults::default();
    faults.http = vec![HttpFault {
        status: 429,
        every: 2,
    }];
    let server = start(dir.path(), faults).await;
    let (first, _) = server.json(Method::GET, JOBS, None).await;
    let (second, body) = server.json(Method::GET, JOBS, None).await;
    assert_eq!((first, second), (200, 429));
    assert_eq!(
        (error_type(&body), body["code"].as_str()),
        ("rate_limited", Some("1300"))
    );

    // A `Failed` fate is a full queue: the create is refused and nothing is made.
    let dir = tempfile::tempdir().unwrap();
    let mut faults = Faults::default();
    faults.batch_fates = vec![(BatchFate::Failed, 1)];
    let server = start(dir.path(), faults).await;
    let file_id = server.upload("f.jsonl", lines("f", 2)).await;
    let (status, body) = server
        .json(
            Method::POST,
            JOBS,
            Some(
                json!({"input_files": [file_id], "endpoint": "/v1/chat/completions", "model": "m"}),
            ),
        )
        .await;
    assert_eq!((status, error_type(&body)), (429, "rate_limited"));
    assert_eq!(server.stats().await["batches"], 0);

    // An expired fate ends half the requests as expired.
    let dir = tempfile::tempdir().unwrap();
    let mut faults = Faults::default();
    faults.batch_fates = vec![(BatchFate::Expired, 1)];
    let server = start(dir.path(), faults).await;
    let file_id = server.upload("e.jsonl", lines("e", 4)).await;
    let created = server.create_job(&file_id, json!({})).await;
    let ended = server.wait_job(created["id"].as_str().unwrap()).await;
    assert_eq!(ended["status"], "TIMEOUT_EXCEEDED", "{ended}");
    assert_eq!(server.lines_of(&ended["output_file"]).await.len(), 2);
    let errors = server.lines_of(&ended["error_file"]).await;
    assert!(
        errors
            .values()
            .all(|line| line["error"]["code"] == "batch_expired"),
        "{errors:?}"
    );
    assert_eq!(errors.len(), 2);
}

/// A scripted engine that takes its time, so a job is still running when the state is
/// snapshotted.
#[derive(Debug)]
struct Slow(Engine);

impl Responder for Slow {
    fn respond(&self, body: &str) -> Answer {
        std::thread::sleep(Duration::from_millis(40));
        self.0.answer(body, &reqwest::blocking::Client::new())
    }
}

/// A server killed mid-job is simulated by copying its state folder as it runs; a new server
/// on the copy must finish the accepted job.
#[tokio::test(flavor = "multi_thread")]
async fn a_job_accepted_before_a_restart_ends_after_it() {
    let dir = tempfile::tempdir().unwrap();
    let first = dir.path().join("first");
    let engine = Engine::InProcess(Arc::new(Slow(scripted())));
    let server = start_adjusted(&first, engine, Faults::default(), Duration::ZERO, |_| {}).await;
    let file_id = server.upload("slow.jsonl", lines("r", 30)).await;
    let created = server.create_job(&file_id, json!({"run": "restart"})).await;
    let id = created["id"].as_str().unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(server.job(id).await["status"], "RUNNING");
    let second = dir.path().join("second");
    copy_tree(&first, &second);
    let restarted = start(&second, Faults::default()).await;
    // The restarted server resumes at once with a fast engine, so it may already have
    // finished: the job is there, running or done, with every request counted once.
    let job = restarted.job(id).await;
    assert!(
        ["RUNNING", "SUCCESS"].contains(&job["status"].as_str().unwrap()),
        "{job}"
    );
    assert_eq!(job["total_requests"], 30, "{job}");
    let ended = restarted.wait_job(id).await;
    assert_eq!(ended["status"], "SUCCESS", "{ended}");
    assert_eq!(ended["succeeded_requests"], 30, "{ended}");
    assert_eq!(restarted.lines_of(&ended["output_file"]).await.len(), 30);
    let stats = restarted.stats().await;
    assert_eq!(stats["mistral_jobs"], 1, "no job created twice: {stats}");
    assert_eq!(stats["batches"], 1, "{stats}");
    assert_eq!(stats["batches_by_metadata"][r#"{"run":"restart"}"#], 1);
}
