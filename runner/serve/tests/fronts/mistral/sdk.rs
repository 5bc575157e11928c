//! The official `mistralai` Python SDK against the front end (tests/sdk/mistral_workflow.py):
//! upload, create with metadata, poll, download, list by metadata (form-exploded, as the SDK
//! sends it), files list and delete, cancel, chat, and a wrong key — each answer validated
//! against the SDK's own types.

#[tokio::test(flavor = "multi_thread")]
async fn the_official_mistralai_sdk_runs_the_whole_workflow() {
    const UNSET: &[&str] = &["MISTRAL_API_KEY", "MISTRAL_SERVER_URL"];
    crate::common::sdk_workflow_runs("mistral_workflow.py", UNSET).await;
}
