//! The client against a real HTTP server on 127.0.0.1 that echoes every credential it is
//! sent: no error may carry one.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;

use crate::{ApiKey, BatchProvider, OpenAiClient, RetryPolicy};

const KEY: &str = "sk-unit-test-secret-0123456789";

/// Answer every request with `status` and a body quoting its `Authorization` headers and
/// request line (which holds the URL); returns the base URL.
fn echo_server(status: u16) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let address = listener.local_addr().expect("address");
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let mut reader = BufReader::new(stream);
            let mut echoed = Vec::new();
            let mut length = 0;
            loop {
                let mut line = String::new();
                if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                    break;
                }
                let lower = line.to_ascii_lowercase();
                if let Some(value) = lower.strip_prefix("content-length:") {
                    length = value.trim().parse().unwrap_or(0);
                }
                if echoed.is_empty() || lower.starts_with("authorization") {
                    echoed.push(line.trim().to_string());
                }
            }
            let mut body = vec![0; length];
            let _ = reader.read_exact(&mut body);
            let message = format!("rejected: {}", echoed.join(" | "));
            let body = serde_json::json!({"error": {"message": message, "code": KEY}}).to_string();
            let _ = write!(
                reader.get_mut(),
                "HTTP/1.1 {status} Nope\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
        }
    });
    format!("http://{address}/v1")
}

fn client(base_url: &str) -> OpenAiClient {
    let retry = RetryPolicy {
        max_retries: 0,
        ..RetryPolicy::default()
    };
    OpenAiClient::new(base_url, Some(ApiKey::new(KEY.into())), retry)
}

#[tokio::test]
async fn an_echoed_key_never_reaches_an_error() {
    let base_url = echo_server(401);
    let client = client(&base_url);
    let error = client.poll("batch_1").await.unwrap_err().to_string();
    assert!(error.contains("HTTP 401"), "{error}");
    assert!(error.contains("Bearer [redacted]"), "{error}");
    assert!(!error.contains("unit-test-secret"), "{error}");
    let error = client
        .chat(&serde_json::json!({"model": "m"}))
        .await
        .unwrap_err();
    assert!(!format!("{error} {error:?}").contains("unit-test-secret"));
}

#[tokio::test]
async fn a_password_in_the_base_url_is_never_shown() {
    let base_url = echo_server(403).replace("http://", "http://alice:hunter2-pass@");
    let client = client(&base_url);
    assert!(
        !client.base_url().contains("hunter2"),
        "{}",
        client.base_url()
    );
    assert!(!format!("{client:?}").contains("hunter2"));
    let error = client.poll("batch_1").await.unwrap_err();
    let text = format!("{error} {error:?}");
    // The server saw `Basic base64(alice:hunter2-pass)` and quoted it back.
    assert!(text.contains("Basic [redacted]"), "{text}");
    assert!(!text.contains("hunter2") && !text.contains("YWxpY2U6aHVudGVyMi1wYXNz"));
}

#[tokio::test]
async fn an_unreachable_server_is_named_without_its_password() {
    // Nothing listens on port 1.
    let client = client("http://bob:s3cret-pw@127.0.0.1:1/v1");
    let error = client.poll("batch_1").await.unwrap_err();
    let text = format!("{error} {error:?}");
    assert!(text.contains("127.0.0.1:1"), "{text}");
    assert!(!text.contains("s3cret-pw"), "{text}");
}

/// Answer every request with `body` (JSON, status 200), keeping each request line; returns
/// the base URL and the lines seen.
fn fixed_server(body: String) -> (String, std::sync::Arc<std::sync::Mutex<Vec<String>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let address = listener.local_addr().expect("address");
    let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let log = std::sync::Arc::clone(&seen);
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let mut reader = BufReader::new(stream);
            let mut first = String::new();
            let _ = reader.read_line(&mut first);
            log.lock().expect("log").push(first.trim().to_string());
            loop {
                let mut line = String::new();
                if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                    break;
                }
            }
            let _ = write!(
                reader.get_mut(),
                "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
        }
    });
    (format!("http://{address}/v1"), seen)
}

/// Together's batches keep no metadata: a lost create is found by its input file among the
/// batches Together lists (a bare array, upper-case statuses, ISO times), never taking one
/// already known for another shard, nor one older than the create.
#[tokio::test]
async fn a_lost_together_create_is_found_by_its_input_file() {
    let listed = serde_json::json!([
        {"id": "b-mine", "status": "IN_PROGRESS", "input_file_id": "file-mine",
            "created_at": "2026-11-27T10:00:05Z", "endpoint": "/v1/chat/completions"},
        {"id": "b-other", "status": "COMPLETED", "input_file_id": "file-other",
            "created_at": "2026-11-27T10:00:03Z", "endpoint": "/v1/chat/completions"},
        {"id": "b-old", "status": "COMPLETED", "input_file_id": "file-stale",
            "created_at": "2026-11-26T10:00:00Z", "endpoint": "/v1/chat/completions"},
    ]);
    let (base_url, seen) = fixed_server(listed.to_string());
    let together = client(&base_url).with_dialect(batchlabel_spec::OpenaiDialect::Together);
    let tags = crate::Tags::from([("batchlabel_shard".to_string(), "a1-00001-s1".to_string())]);
    let look = |input: &'static str, known: &'static [&'static str]| {
        let together = together.clone();
        let tags = tags.clone();
        async move {
            let input = crate::StagedInput {
                id: input.into(),
                bytes: None,
            };
            let known: std::collections::HashSet<String> =
                known.iter().map(|id| (*id).to_string()).collect();
            let lost = crate::LostCreate {
                tags: &tags,
                input: &input,
                since: 1_795_773_600,
                shard: std::path::Path::new("shard.jsonl"),
                requests: 3,
                known: &known,
            };
            together.find_created(&lost).await.expect("looked")
        }
    };
    let crate::Found::Batch(found) = look("file-mine", &[]).await else {
        panic!("not found");
    };
    assert_eq!(found.id, "b-mine");
    assert_eq!(found.state, crate::BatchState::InProgress);
    assert!(found.tags.is_empty(), "{found:?}");
    assert!(matches!(
        look("file-mine", &["b-mine"]).await,
        crate::Found::Nothing
    ));
    assert!(matches!(look("file-new", &[]).await, crate::Found::Nothing));
    // Older than the create (beyond the slack for clock skew): not it.
    assert!(matches!(
        look("file-stale", &[]).await,
        crate::Found::Nothing
    ));
    let seen = seen.lock().expect("log");
    assert!(
        seen.iter().all(|line| line.starts_with("GET /v1/batches")),
        "{seen:?}"
    );
}
