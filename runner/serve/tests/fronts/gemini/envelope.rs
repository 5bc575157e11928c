//! Google's error envelope on every refusal (unknown routes and methods, bad keys, bad
//! uploads, bad creates), and the synchronous `generateContent` answered by the engine.

use batchlabel_serve::Faults;
use reqwest::Method;
use serde_json::{Value, json};

use super::{Gemini, MODEL, line, status_of};
use crate::common::{KEY, start};

#[tokio::test(flavor = "multi_thread")]
async fn errors_come_in_googles_envelope() {
    let dir = tempfile::tempdir().unwrap();
    let running = start(dir.path(), Faults::default()).await;
    let gemini = Gemini(&running);
    let response = running
        .client
        .get(running.url("/v1beta/batches"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 401);
    assert_eq!(
        status_of(&response.json().await.unwrap(), 401),
        "UNAUTHENTICATED"
    );
    let with_query = running
        .client
        .get(running.url(&format!("/v1beta/batches?key={KEY}")))
        .send()
        .await
        .unwrap();
    assert_eq!(with_query.status(), 200);
    for path in [
        "/v1beta/batches/nope",
        "/v1beta/files/nope",
        "/v1beta/nothing",
        "/v1beta/files/nope:download",
    ] {
        let (status, body) = gemini.json(Method::GET, path, None).await;
        assert_eq!(status_of(&body, 404), "NOT_FOUND", "{path} {status}");
    }
    let (status, body) = gemini.create("files/nope", "x").await;
    assert_eq!(status_of(&body, 404), "NOT_FOUND", "{status}");
    // A malformed input is refused whole at create; nothing is made.
    let good = line("a", 0, "hi");
    for bad in [
        format!("{good}\nnot json"),
        format!("{good}\n{good}"),
        format!("{good}\n{{\"request\": {{}}}}"),
        json!({"key": "x", "request": {"contents": [{"parts": [{"inlineData": {}}]}]}}).to_string(),
    ] {
        let file = gemini.upload(&bad, 1).await;
        let (status, body) = gemini.create(file["name"].as_str().unwrap(), "bad").await;
        assert_eq!(status_of(&body, 400), "INVALID_ARGUMENT", "{bad} {status}");
        assert!(
            body["error"]["message"].as_str().unwrap().contains("line"),
            "{body}"
        );
    }
    assert_eq!(running.stats().await["gemini_batches"], 0);
    // A chunk at the wrong offset.
    let start = gemini
        .call(Method::POST, "/upload/v1beta/files")
        .header("x-goog-upload-protocol", "resumable")
        .header("x-goog-upload-command", "start")
        .send()
        .await
        .unwrap();
    let url = start.headers()["x-goog-upload-url"]
        .to_str()
        .unwrap()
        .to_string();
    let chunk = running
        .client
        .post(&url)
        .header("x-goog-upload-command", "upload, finalize")
        .header("x-goog-upload-offset", "5")
        .body("abc")
        .send()
        .await
        .unwrap();
    assert_eq!(
        status_of(&chunk.json().await.unwrap(), 400),
        "INVALID_ARGUMENT"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn generate_content_answers_through_the_engine() {
    let dir = tempfile::tempdir().unwrap();
    let running = start(dir.path(), Faults::default()).await;
    let gemini = Gemini(&running);
    let request: Value =
        serde_json::from_str::<Value>(&line("k", 1, "great")).unwrap()["request"].clone();
    let path = format!("/v1beta/models/{MODEL}:generateContent");
    let (status, response) = gemini.json(Method::POST, &path, Some(request)).await;
    assert_eq!(status, 200, "{response}");
    let text = response["candidates"][0]["content"]["parts"][0]["text"]
        .as_str()
        .unwrap();
    assert!(
        serde_json::from_str::<Value>(text).unwrap()["label"].is_string(),
        "{response}"
    );
    assert_eq!(response["candidates"][0]["content"]["role"], "model");
    let boom = json!({"contents": [{"parts": [{"text": "BOOM"}]}]});
    let (status, body) = gemini.json(Method::POST, &path, Some(boom)).await;
    assert_eq!(status_of(&body, 500), "INTERNAL", "{status}");
    let (status, body) = gemini
        .json(Method::POST, &path, Some(json!({"contents": []})))
        .await;
    assert_eq!(status_of(&body, 400), "INVALID_ARGUMENT", "{status}");
}
