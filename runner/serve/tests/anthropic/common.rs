//! A server on a free loopback port and a small Anthropic-speaking client.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use batchlabel_serve::{Engine, Faults, Script, ServeOptions, Server};
use serde_json::{Value, json};

pub const KEY: &str = "test-key";

/// Rules the tests lean on: refusals, engine errors and answers that are not JSON.
pub const RULES: &str = r#"[
  {"contains": "REFUSE", "refusal": "I cannot help with that."},
  {"contains": "BOOM", "status": 500},
  {"contains": "GARBAGE", "content": "this is not json"}
]"#;

pub struct Running {
    pub address: SocketAddr,
    pub client: reqwest::Client,
}

pub async fn start_with(
    state_dir: &Path,
    engine: Engine,
    faults: Faults,
    step: Duration,
) -> Running {
    start_adjusted(state_dir, engine, faults, step, |_| {}).await
}

/// [`start_with`], with `adjust` changing the options first.
pub async fn start_adjusted(
    state_dir: &Path,
    engine: Engine,
    faults: Faults,
    step: Duration,
    adjust: impl FnOnce(&mut ServeOptions),
) -> Running {
    let mut options = ServeOptions {
        address: SocketAddr::from(([127, 0, 0, 1], 0)),
        state_dir: state_dir.to_path_buf(),
        engine,
        faults,
        max_requests_per_file: 50_000,
        api_key: Some(KEY.into()),
        step_delay: step,
        azure_max_enqueued_tokens: batchlabel_serve::DEFAULT_AZURE_MAX_ENQUEUED_TOKENS,
        max_enqueued_tokens: None,
    };
    adjust(&mut options);
    let server = Server::bind(options).await.expect("bind");
    let address = server.local_address();
    tokio::spawn(server.run());
    Running {
        address,
        client: reqwest::Client::new(),
    }
}

pub fn scripted() -> Engine {
    Engine::Scripted(Arc::new(Script::parse(RULES).expect("rules")))
}

pub async fn start(state_dir: &Path, faults: Faults) -> Running {
    start_with(state_dir, scripted(), faults, Duration::ZERO).await
}

/// A request in each answer form, chosen by `index % 3`: plain text, `output_config` json
/// schema, forced tool.
pub fn request(custom_id: &str, index: usize, text: &str) -> Value {
    let schema = json!({"type": "object", "additionalProperties": false, "required": ["label"],
        "properties": {"label": {"type": "string", "enum": ["positive", "negative"]}}});
    let mut params = json!({"model": "claude-test", "max_tokens": 64,
        "system": "Label the sentiment.",
        "messages": [{"role": "user", "content": text}]});
    match index % 3 {
        1 => params["output_config"] = json!({"format": {"type": "json_schema", "schema": schema}}),
        2 => {
            params["tools"] = json!([{"name": "record_label", "input_schema": schema}]);
            params["tool_choice"] = json!({"type": "tool", "name": "record_label"});
        }
        _ => {}
    }
    json!({"custom_id": custom_id, "params": params})
}

impl Running {
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.address)
    }

    pub fn call(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        self.client
            .request(method, self.url(path))
            .header("x-api-key", KEY)
            .header("anthropic-version", "2023-06-01")
    }

    pub async fn json(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> (u16, Value) {
        let mut request = self.call(method, path);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.expect("send");
        let status = response.status().as_u16();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    pub async fn create(&self, requests: Vec<Value>) -> Value {
        let (status, batch) = self
            .json(
                reqwest::Method::POST,
                "/v1/messages/batches",
                Some(json!({"requests": requests})),
            )
            .await;
        assert_eq!(status, 200, "{batch}");
        batch
    }

    pub async fn get(&self, id: &str) -> Value {
        let (status, batch) = self
            .json(
                reqwest::Method::GET,
                &format!("/v1/messages/batches/{id}"),
                None,
            )
            .await;
        assert_eq!(status, 200, "{batch}");
        batch
    }

    /// Poll until `ended`, checking on the way that only `processing` counts.
    pub async fn wait_ended(&self, id: &str) -> Value {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let batch = self.get(id).await;
            if batch["processing_status"] == "ended" {
                return batch;
            }
            let counts = &batch["request_counts"];
            for name in ["succeeded", "errored", "canceled", "expired"] {
                assert_eq!(counts[name], 0, "{batch}");
            }
            assert!(batch["results_url"].is_null());
            assert!(Instant::now() < deadline, "batch {id} did not end: {batch}");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// The results' raw lines.
    pub async fn result_lines(&self, batch: &Value) -> Vec<String> {
        let url = batch["results_url"].as_str().expect("results_url");
        let response = self
            .client
            .get(url)
            .header("x-api-key", KEY)
            .header("anthropic-version", "2023-06-01")
            .send()
            .await
            .expect("results");
        assert_eq!(response.status(), 200);
        let text = response.text().await.expect("text");
        text.lines().map(str::to_string).collect()
    }

    pub async fn results(&self, batch: &Value) -> Vec<Value> {
        self.result_lines(batch)
            .await
            .iter()
            .map(|line| serde_json::from_str(line).expect("a JSON line"))
            .collect()
    }
}

/// The error envelope's type and message, checking its shape.
pub fn error_of(body: &Value) -> (&str, &str) {
    assert_eq!(body["type"], "error", "{body}");
    assert!(
        body["request_id"]
            .as_str()
            .is_some_and(|id| id.starts_with("req_")),
        "{body}"
    );
    (
        body["error"]["type"].as_str().unwrap_or_default(),
        body["error"]["message"].as_str().unwrap_or_default(),
    )
}
