//! The official OpenAI Python SDK runs the whole Files + Batches workflow and a structured
//! chat call against the server (tests/sdk/openai_workflow.py), validating every object
//! strictly against the SDK's types; its Azure client does the same on `/openai/`
//! (tests/sdk/azure_workflow.py).

use crate::common::{KEY, json, serve};

/// Run one script of tests/sdk/ against `served`; its last stdout line, a JSON summary.
fn run_script(name: &str, served: &crate::common::Served) -> serde_json::Value {
    let stdout = crate::sdk_runner::run_workflow(name, |command| {
        command
            .env("BATCHLABEL_BASE_URL", &served.base)
            .env("BATCHLABEL_API_KEY", KEY);
    });
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
