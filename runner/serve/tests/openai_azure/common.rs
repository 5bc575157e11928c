//! A server on a loopback port for one test, and a client with short timeouts.

use std::sync::Arc;
use std::time::{Duration, Instant};

use batchlabel_serve::{Engine, Faults, Script, ServeOptions, Server};
use reqwest::blocking::{Client, RequestBuilder, Response};
use serde_json::Value;

/// The key every test server is configured with.
pub const KEY: &str = "sk-test-0123456789abcdef";

/// A running server: its base URL and its state folder (kept while the test runs).
pub struct Served {
    pub base: String,
    pub client: Client,
    _state: tempfile::TempDir,
}

/// Start a server (scripted engine, [`KEY`] required) on its own runtime thread.
pub fn serve() -> Served {
    serve_with(|_| {})
}

pub fn serve_with(adjust: impl FnOnce(&mut ServeOptions)) -> Served {
    let state = tempfile::tempdir().expect("temp dir");
    let mut options = ServeOptions {
        address: ([127, 0, 0, 1], 0).into(),
        state_dir: state.path().to_path_buf(),
        engine: Engine::Scripted(Arc::new(Script::default())),
        faults: Faults::default(),
        max_requests_per_file: 50_000,
        api_key: Some(KEY.into()),
        step_delay: Duration::from_millis(300),
        azure_max_enqueued_tokens: batchlabel_serve::DEFAULT_AZURE_MAX_ENQUEUED_TOKENS,
        max_enqueued_tokens: None,
    };
    adjust(&mut options);
    let (sender, receiver) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("runtime");
        runtime.block_on(async move {
            let server = Server::bind(options).await.expect("bind");
            sender.send(server.local_address()).expect("report address");
            let _ = server.run().await;
        });
    });
    let address = receiver
        .recv_timeout(Duration::from_secs(30))
        .expect("server started");
    Served {
        base: format!("http://{address}"),
        client: Client::builder()
            .timeout(Duration::from_secs(20))
            .build()
            .expect("client"),
        _state: state,
    }
}

/// A batch input line for the chat-completions endpoint.
pub fn line(custom_id: &str, url: &str, model: &str, text: &str) -> String {
    serde_json::json!({"custom_id": custom_id, "method": "POST", "url": url,
        "body": {"model": model, "messages": [{"role": "user", "content": text}]}})
    .to_string()
}

impl Served {
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// A request with OpenAI's auth.
    pub fn openai(&self, method: reqwest::Method, path: &str) -> RequestBuilder {
        self.client.request(method, self.url(path)).bearer_auth(KEY)
    }

    /// A request with Azure's auth.
    pub fn azure(&self, method: reqwest::Method, path: &str) -> RequestBuilder {
        self.client
            .request(method, self.url(path))
            .header("api-key", KEY)
    }
}

/// Upload `content` as `filename` with `request` (a POST to a files route).
pub fn upload(request: RequestBuilder, filename: &str, content: &str) -> Value {
    let form = reqwest::blocking::multipart::Form::new()
        .text("purpose", "batch")
        .part(
            "file",
            reqwest::blocking::multipart::Part::bytes(content.as_bytes().to_vec())
                .file_name(filename.to_string()),
        );
    let (status, body) = json(request.multipart(form).send().expect("upload"));
    assert_eq!(status, 200, "{body}");
    body
}

/// Poll a batch (`request` retrieves it) until it is terminal.
pub fn wait(request: impl Fn() -> RequestBuilder) -> Value {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let (status, batch) = json(request().send().expect("poll"));
        assert_eq!(status, 200, "{batch}");
        if ["completed", "failed", "expired", "cancelled"]
            .contains(&batch["status"].as_str().unwrap_or(""))
        {
            return batch;
        }
        assert!(Instant::now() < deadline, "still {}", batch["status"]);
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Status and JSON body; a body that is not JSON fails the test (every answer here is).
pub fn json(response: Response) -> (u16, Value) {
    let status = response.status().as_u16();
    let text = response.text().expect("body");
    let body = serde_json::from_str(&text)
        .unwrap_or_else(|_| panic!("status {status}: body is not JSON: {text:?}"));
    (status, body)
}

/// Assert an OpenAI error envelope with all four keys, and return its inside.
pub fn envelope(status: u16, body: &Value, wanted: u16) -> Value {
    assert_eq!(status, wanted, "{body}");
    let error = &body["error"];
    for key in ["message", "type", "param", "code"] {
        assert!(error.get(key).is_some(), "no `{key}` in {body}");
    }
    assert!(
        error["message"]
            .as_str()
            .is_some_and(|text| !text.is_empty()),
        "{body}"
    );
    error.clone()
}
