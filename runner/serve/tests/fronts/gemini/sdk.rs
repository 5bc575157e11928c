//! The official `google-genai` Python SDK against the front end (tests/sdk/gemini_workflow.py).

use std::time::Duration;

use batchlabel_serve::Faults;

use crate::common::{run_sdk_workflow, scripted, start_adjusted};

#[tokio::test(flavor = "multi_thread")]
async fn the_official_google_genai_sdk_runs_the_whole_workflow() {
    let dir = tempfile::tempdir().unwrap();
    // A short step delay, so the second batch can be cancelled before it runs.
    let server = start_adjusted(
        dir.path(),
        scripted(),
        Faults::default(),
        Duration::from_millis(150),
        |_| {},
    )
    .await;
    let unset = [
        "GEMINI_API_KEY",
        "GOOGLE_API_KEY",
        "GOOGLE_GENAI_USE_VERTEXAI",
    ];
    let stdout = run_sdk_workflow("gemini_workflow.py", server.address.port(), &unset).await;
    assert!(stdout.contains("ok"), "{stdout}");
}
