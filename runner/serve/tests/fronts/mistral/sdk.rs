//! The official `mistralai` Python SDK against the front end (tests/sdk/mistral_workflow.py):
//! upload, create with metadata, poll, download, list by metadata (form-exploded, as the SDK
//! sends it), files list and delete, cancel, chat, and a wrong key — each answer validated
//! against the SDK's own types.

use std::time::Duration;

use batchlabel_serve::Faults;

use crate::common::{run_sdk_workflow, scripted, start_adjusted};

#[tokio::test(flavor = "multi_thread")]
async fn the_official_mistralai_sdk_runs_the_whole_workflow() {
    let dir = tempfile::tempdir().unwrap();
    // A short step delay, so the second job can be cancelled before it runs.
    let server = start_adjusted(
        dir.path(),
        scripted(),
        Faults::default(),
        Duration::from_millis(150),
        |_| {},
    )
    .await;
    let unset = ["MISTRAL_API_KEY", "MISTRAL_SERVER_URL"];
    let stdout = run_sdk_workflow("mistral_workflow.py", server.address.port(), &unset).await;
    assert!(stdout.contains("ok"), "{stdout}");
}
