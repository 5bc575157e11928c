//! The official OpenAI Python SDK runs the whole Files + Batches workflow and a structured
//! chat call against the server (tests/sdk/openai_workflow.py), validating every object
//! strictly against the SDK's types; its Azure client does the same on `/openai/`
//! (tests/sdk/azure_workflow.py).

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::common::{KEY, json, serve};

/// The SDK's python: `$BATCHLABEL_SDK_PYTHON`, else `<repo>/.venv-sdk/bin/python`.
fn sdk_python() -> PathBuf {
    if let Some(python) = std::env::var_os("BATCHLABEL_SDK_PYTHON") {
        return PathBuf::from(python);
    }
    let repo = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
    let python = repo.join(".venv-sdk/bin/python");
    assert!(
        python.exists(),
        "the OpenAI SDK is not installed at {}: run bash scripts/sdk-venv.sh (or set BATCHLABEL_SDK_PYTHON)",
        python.display()
    );
    python
}

/// Run one script of tests/sdk/ against `served`; its last stdout line, a JSON summary.
fn run_script(name: &str, served: &crate::common::Served) -> serde_json::Value {
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/sdk")
        .join(name);
    let mut child = Command::new(sdk_python())
        .arg(&script)
        .env("BATCHLABEL_BASE_URL", &served.base)
        .env("BATCHLABEL_API_KEY", KEY)
        .env("NO_PROXY", "127.0.0.1")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start the SDK's python: run bash scripts/sdk-venv.sh");
    let deadline = Instant::now() + Duration::from_mins(2);
    while child.try_wait().expect("wait").is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("{name} took over 2 minutes");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let output = child.wait_with_output().expect("output");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "{name} failed\nstdout:\n{stdout}\nstderr:\n{stderr}"
    );
    serde_json::from_str(stdout.lines().last().unwrap_or(""))
        .unwrap_or_else(|_| panic!("no summary line in {stdout:?}"))
}

#[test]
fn the_official_sdk_runs_the_whole_workflow() {
    let served = serve();
    let summary = run_script("openai_workflow.py", &served);
    assert_eq!(summary["output_lines"], 3, "{summary}");
    assert!(
        summary["usage_total"]
            .as_u64()
            .is_some_and(|total| total > 0)
    );
    // The server saw what the SDK did.
    let (status, stats) = json(
        served
            .openai(reqwest::Method::GET, "/v1/_batchlabel/stats")
            .send()
            .expect("stats"),
    );
    assert_eq!(status, 200);
    assert_eq!(stats["batches_by_status"]["completed"], 1, "{stats}");
    assert_eq!(stats["batches_by_status"]["cancelled"], 1, "{stats}");
    assert_eq!(stats["batches_by_front"]["openai"], 2, "{stats}");
}

#[test]
fn the_official_sdk_azure_client_runs_the_azure_workflow() {
    let served = serve();
    let summary = run_script("azure_workflow.py", &served);
    assert_eq!(summary["output_lines"], 2, "{summary}");
    let (_, stats) = json(
        served
            .openai(reqwest::Method::GET, "/v1/_batchlabel/stats")
            .send()
            .expect("stats"),
    );
    assert_eq!(stats["batches_by_front"]["azure"], 1, "{stats}");
}
