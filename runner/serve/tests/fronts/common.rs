//! A server on a free loopback port and a small client, shared by the front ends' tests.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use batchlabel_serve::{Engine, Faults, Script, ServeOptions, Server};
use serde_json::Value;

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

pub fn scripted() -> Engine {
    Engine::Scripted(Arc::new(Script::parse(RULES).expect("rules")))
}

pub async fn start(state_dir: &Path, faults: Faults) -> Running {
    start_adjusted(state_dir, scripted(), faults, Duration::ZERO, |_| {}).await
}

/// A server with this engine, faults and step delay, `adjust` changing the options first.
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

impl Running {
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.address)
    }

    /// A request with a bearer key (OpenAI's and Mistral's auth).
    pub fn call(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        self.client.request(method, self.url(path)).bearer_auth(KEY)
    }

    /// Send with an optional JSON body: the status and the JSON answer (null if not JSON).
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

    /// A file's content as text.
    pub async fn content(&self, file_id: &str) -> String {
        let response = self
            .call(
                reqwest::Method::GET,
                &format!("/v1/files/{file_id}/content"),
            )
            .send()
            .await
            .expect("content");
        assert_eq!(response.status(), 200);
        response.text().await.expect("text")
    }

    /// The server's own counters.
    pub async fn stats(&self) -> Value {
        let (status, stats) = self
            .json(reqwest::Method::GET, "/v1/_batchlabel/stats", None)
            .await;
        assert_eq!(status, 200, "{stats}");
        stats
    }
}

/// Copy a running server's state folder (its lock file left out): the state is written
/// atomically, so any moment's copy is what a killed server leaves.
pub fn copy_tree(from: &Path, to: &Path) {
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

/// Run the official SDK's workflow script `tests/sdk/{script}` against a server on `port`
/// with [`KEY`], without `unset` from the environment; its stdout once it succeeds.
pub async fn run_sdk_workflow(
    script: &'static str,
    port: u16,
    unset: &'static [&'static str],
) -> String {
    tokio::task::spawn_blocking(move || {
        crate::sdk_runner::run_workflow(script, |command| {
            command.arg(port.to_string()).arg(KEY);
            for variable in unset {
                command.env_remove(variable);
            }
        })
    })
    .await
    .expect("the SDK run")
}

/// Start a scripted server with a short step delay (so a second batch can be cancelled before
/// it runs) and run the official SDK's workflow script `tests/sdk/{script}` against it to its
/// `ok`.
pub async fn sdk_workflow_runs(script: &'static str, unset: &'static [&'static str]) {
    let dir = tempfile::tempdir().unwrap();
    let server = start_adjusted(
        dir.path(),
        scripted(),
        Faults::default(),
        Duration::from_millis(150),
        |_| {},
    )
    .await;
    let stdout = run_sdk_workflow(script, server.address.port(), unset).await;
    assert!(stdout.contains("ok"), "{stdout}");
}
