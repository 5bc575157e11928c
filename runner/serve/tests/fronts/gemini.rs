//! The Gemini API front end: resumable uploads (one chunk and several), batches run to their
//! responses file, pages, cancel and delete, Google's error envelope, refused inputs, the
//! enqueued-token cap, batch fates, a restart mid-batch, generateContent, and the official
//! `google-genai` SDK (tests/sdk/gemini_workflow.py).

use std::time::{Duration, Instant};

use batchlabel_serve::Faults;
use reqwest::Method;
use serde_json::{Value, json};

use crate::common::{KEY, Running, scripted, start, start_adjusted};

mod envelope;
mod fates;
mod sdk;

const MODEL: &str = "gemini-test";

/// A request line; every third asks for JSON under a `responseSchema`, every third under a
/// `responseJsonSchema`, the rest free text.
fn line(key: &str, index: usize, text: &str) -> String {
    let mut request = json!({"contents": [{"role": "user", "parts": [{"text": text}]}],
        "systemInstruction": {"parts": [{"text": "Label the sentiment."}]},
        "generationConfig": {"maxOutputTokens": 64, "temperature": 0}});
    let config = &mut request["generationConfig"];
    match index % 3 {
        1 => {
            config["responseMimeType"] = json!("application/json");
            config["responseSchema"] = json!({"type": "OBJECT", "required": ["label"],
                "properties": {"label": {"type": "STRING", "enum": ["positive", "negative"]}}});
        }
        2 => {
            config["response_mime_type"] = json!("application/json");
            config["response_json_schema"] = json!({"type": "object", "required": ["score"],
                "properties": {"score": {"type": "integer"}}});
        }
        _ => {}
    }
    json!({"key": key, "request": request}).to_string()
}

fn lines(prefix: &str, count: usize) -> String {
    (0..count)
        .map(|index| line(&format!("{prefix}{index}"), index, &format!("text {index}")))
        .collect::<Vec<_>>()
        .join("\n")
}

/// Google's envelope: its status name, checking the shape.
fn status_of(body: &Value, code: u16) -> &str {
    assert_eq!(body["error"]["code"], code, "{body}");
    assert!(body["error"]["message"].is_string(), "{body}");
    body["error"]["status"].as_str().unwrap_or_default()
}

/// A Gemini-speaking client of a running server.
struct Gemini<'a>(&'a Running);

impl Gemini<'_> {
    fn call(&self, method: Method, path: &str) -> reqwest::RequestBuilder {
        self.0
            .client
            .request(method, self.0.url(path))
            .header("x-goog-api-key", KEY)
    }

    async fn json(&self, method: Method, path: &str, body: Option<Value>) -> (u16, Value) {
        let mut request = self.call(method, path);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.expect("send");
        let status = response.status().as_u16();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    /// A resumable upload in `chunks` pieces: the File.
    async fn upload(&self, content: &str, chunks: usize) -> Value {
        let response = self
            .call(Method::POST, "/upload/v1beta/files")
            .header("x-goog-upload-protocol", "resumable")
            .header("x-goog-upload-command", "start")
            .header("x-goog-upload-header-content-length", content.len())
            .header("x-goog-upload-header-content-type", "jsonl")
            .json(&json!({"file": {"displayName": "input", "mimeType": "jsonl"}}))
            .send()
            .await
            .expect("start");
        assert_eq!(response.status(), 200);
        assert_eq!(response.headers()["x-goog-upload-status"], "active");
        let url = response.headers()["x-goog-upload-url"]
            .to_str()
            .unwrap()
            .to_string();
        assert!(
            url.starts_with(&self.0.url("/upload/v1beta/files?upload_id=")),
            "{url}"
        );
        let size = content.len().div_ceil(chunks);
        let pieces: Vec<&[u8]> = content.as_bytes().chunks(size.max(1)).collect();
        let mut offset = 0;
        for (index, piece) in pieces.iter().enumerate() {
            let last = index + 1 == pieces.len();
            // The chunks carry no key, as the SDK sends them.
            let response = self
                .0
                .client
                .post(&url)
                .header(
                    "x-goog-upload-command",
                    if last { "upload, finalize" } else { "upload" },
                )
                .header("x-goog-upload-offset", offset)
                .body(piece.to_vec())
                .send()
                .await
                .expect("chunk");
            assert_eq!(response.status(), 200);
            let status = response.headers()["x-goog-upload-status"]
                .to_str()
                .unwrap()
                .to_string();
            assert_eq!(status, if last { "final" } else { "active" });
            offset += piece.len();
            if last {
                return response.json::<Value>().await.expect("json")["file"].clone();
            }
        }
        unreachable!("no chunks")
    }

    async fn create(&self, file: &str, name: &str) -> (u16, Value) {
        let body = json!({"batch": {"displayName": name, "inputConfig": {"fileName": file}}});
        let path = format!("/v1beta/models/{MODEL}:batchGenerateContent");
        self.json(Method::POST, &path, Some(body)).await
    }

    async fn get(&self, name: &str) -> Value {
        let (status, operation) = self
            .json(Method::GET, &format!("/v1beta/{name}"), None)
            .await;
        assert_eq!(status, 200, "{operation}");
        operation
    }

    async fn wait_done(&self, name: &str) -> Value {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let operation = self.get(name).await;
            if operation["done"] == true {
                return operation;
            }
            assert!(operation["metadata"]["output"].is_null(), "{operation}");
            assert!(Instant::now() < deadline, "{name} did not end: {operation}");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    async fn download(&self, path: &str) -> String {
        let response = self.call(Method::GET, path).send().await.expect("download");
        assert_eq!(response.status(), 200);
        response.text().await.expect("text")
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_batch_runs_from_upload_to_its_responses_file() {
    let dir = tempfile::tempdir().unwrap();
    let running = start(dir.path(), Faults::default()).await;
    let gemini = Gemini(&running);
    let mut content = lines("row-", 6);
    content.push('\n');
    content.push_str(&line("boom", 0, "BOOM"));
    content.push('\n');
    content.push_str(&line("refused", 0, "REFUSE"));
    let whole = gemini.upload(&content, 1).await;
    let chunked = gemini.upload(&content, 3).await;
    for file in [&whole, &chunked] {
        assert_eq!(file["sizeBytes"], content.len().to_string(), "{file}");
        assert_eq!(
            (&file["state"], &file["source"]),
            (&json!("ACTIVE"), &json!("UPLOADED"))
        );
        assert_eq!(file["sha256Hash"], whole["sha256Hash"]);
    }
    let name = chunked["name"].as_str().unwrap();
    let (status, fetched) = gemini
        .json(Method::GET, &format!("/v1beta/{name}"), None)
        .await;
    assert_eq!((status, &fetched["displayName"]), (200, &json!("input")));
    assert_eq!(
        gemini
            .download(&format!("/v1beta/{name}:download?alt=media"))
            .await,
        content
    );
    let (status, created) = gemini.create(name, "labels").await;
    assert_eq!(status, 200, "{created}");
    let metadata = &created["metadata"];
    assert!(created["name"].as_str().unwrap().starts_with("batches/"));
    assert_eq!(metadata["model"], format!("models/{MODEL}"));
    assert_eq!(metadata["batchStats"]["requestCount"], "8");
    assert!(
        metadata["@type"]
            .as_str()
            .unwrap()
            .ends_with("GenerateContentBatch")
    );
    let done = gemini.wait_done(created["name"].as_str().unwrap()).await;
    let metadata = &done["metadata"];
    assert_eq!(metadata["state"], "BATCH_STATE_SUCCEEDED", "{done}");
    assert!(metadata["endTime"].is_string());
    let stats = &metadata["batchStats"];
    assert_eq!(
        (
            &stats["successfulRequestCount"],
            &stats["failedRequestCount"]
        ),
        (&json!("7"), &json!("1"))
    );
    let responses = metadata["output"]["responsesFile"].as_str().unwrap();
    assert_eq!(done["response"]["responsesFile"], responses);
    let text = gemini
        .download(&format!("/download/v1beta/{responses}:download?alt=media"))
        .await;
    let results: Vec<Value> = text
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect();
    let keys: Vec<&str> = results
        .iter()
        .map(|result| result["key"].as_str().unwrap())
        .collect();
    // Every key once, in input order.
    let mut expected: Vec<String> = (0..6).map(|index| format!("row-{index}")).collect();
    expected.extend(["boom".into(), "refused".into()]);
    assert_eq!(keys, expected);
    for (index, result) in results.iter().take(6).enumerate() {
        let candidate = &result["response"]["candidates"][0];
        assert_eq!(candidate["finishReason"], "STOP", "{result}");
        let answer = candidate["content"]["parts"][0]["text"].as_str().unwrap();
        match index % 3 {
            1 => assert!(
                ["positive", "negative"].contains(
                    &serde_json::from_str::<Value>(answer).unwrap()["label"]
                        .as_str()
                        .unwrap()
                )
            ),
            2 => assert!(serde_json::from_str::<Value>(answer).unwrap()["score"].is_i64()),
            _ => {}
        }
        let usage = &result["response"]["usageMetadata"];
        assert!(usage["promptTokenCount"].as_u64().unwrap() > 0, "{result}");
        assert_eq!(
            usage["totalTokenCount"],
            usage["promptTokenCount"].as_u64().unwrap()
                + usage["candidatesTokenCount"].as_u64().unwrap()
        );
    }
    assert_eq!(
        (&results[6]["error"]["code"], &results[6]["error"]["status"]),
        (&json!(500), &json!("INTERNAL"))
    );
    assert_eq!(
        results[7]["response"]["candidates"][0]["finishReason"],
        "SAFETY"
    );
    let stats = running.stats().await;
    assert_eq!(stats["gemini_batches"], 1, "{stats}");
    assert_eq!(stats["gemini_uploads"], 2, "{stats}");
    assert_eq!(stats["gemini_batches_by_state"]["BATCH_STATE_SUCCEEDED"], 1);
    assert_eq!(stats["gemini_batches_by_display_name"]["labels"], 1);
    assert_eq!(stats["batches_by_front"]["gemini"], 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn batches_and_files_page_newest_first() {
    let dir = tempfile::tempdir().unwrap();
    let running = start(dir.path(), Faults::default()).await;
    let gemini = Gemini(&running);
    let mut names = Vec::new();
    for index in 0..3 {
        let file = gemini.upload(&lines(&format!("b{index}-"), 2), 1).await;
        let (status, created) = gemini
            .create(file["name"].as_str().unwrap(), &format!("job-{index}"))
            .await;
        assert_eq!(status, 200, "{created}");
        names.push(created["name"].clone());
    }
    let (_, first) = gemini
        .json(Method::GET, "/v1beta/batches?pageSize=2", None)
        .await;
    let token = first["nextPageToken"].as_str().expect("a next page");
    let (_, second) = gemini
        .json(
            Method::GET,
            &format!("/v1beta/batches?pageSize=2&pageToken={token}"),
            None,
        )
        .await;
    assert!(second.get("nextPageToken").is_none(), "{second}");
    let listed: Vec<Value> = [&first, &second]
        .iter()
        .flat_map(|page| {
            page["operations"]
                .as_array()
                .unwrap()
                .iter()
                .map(|operation| operation["name"].clone())
        })
        .collect();
    names.reverse();
    assert_eq!(listed, names);
    let (_, files) = gemini
        .json(Method::GET, "/v1beta/files?pageSize=2", None)
        .await;
    assert_eq!(files["files"].as_array().unwrap().len(), 2, "{files}");
    assert!(files["nextPageToken"].is_string());
    let (status, body) = gemini
        .json(Method::GET, "/v1beta/batches?pageToken=nonsense", None)
        .await;
    assert_eq!(status_of(&body, 400), "INVALID_ARGUMENT", "{status}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_live_batch_is_cancelled_and_then_deleted() {
    let dir = tempfile::tempdir().unwrap();
    let running = start_adjusted(
        dir.path(),
        scripted(),
        Faults::default(),
        Duration::from_millis(300),
        |_| {},
    )
    .await;
    let gemini = Gemini(&running);
    let file = gemini.upload(&lines("c", 4), 1).await;
    let (_, created) = gemini
        .create(file["name"].as_str().unwrap(), "to-cancel")
        .await;
    let name = created["name"].as_str().unwrap();
    let (status, body) = gemini
        .json(Method::DELETE, &format!("/v1beta/{name}"), None)
        .await;
    assert_eq!(status_of(&body, 400), "FAILED_PRECONDITION", "{status}");
    let (status, body) = gemini
        .json(Method::POST, &format!("/v1beta/{name}:cancel"), None)
        .await;
    assert_eq!((status, body), (200, json!({})));
    let done = gemini.wait_done(name).await;
    assert_eq!(done["metadata"]["state"], "BATCH_STATE_CANCELLED", "{done}");
    // Nothing ran: the responses file is empty and every request still pending.
    assert_eq!(done["metadata"]["batchStats"]["pendingRequestCount"], "4");
    let responses = done["metadata"]["output"]["responsesFile"]
        .as_str()
        .unwrap();
    assert_eq!(
        gemini
            .download(&format!("/v1beta/{responses}:download?alt=media"))
            .await,
        ""
    );
    let (status, body) = gemini
        .json(Method::DELETE, &format!("/v1beta/{name}"), None)
        .await;
    assert_eq!((status, body), (200, json!({})));
    let (status, body) = gemini
        .json(Method::GET, &format!("/v1beta/{name}"), None)
        .await;
    assert_eq!(status_of(&body, 404), "NOT_FOUND", "{status}");
    let stats = running.stats().await;
    assert_eq!(
        stats["gemini_batches_by_display_name"]["to-cancel"], 1,
        "{stats}"
    );
}
