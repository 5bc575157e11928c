//! The official `google-genai` Python SDK against the front end (tests/sdk/gemini_workflow.py).

#[tokio::test(flavor = "multi_thread")]
async fn the_official_google_genai_sdk_runs_the_whole_workflow() {
    const UNSET: &[&str] = &[
        "GEMINI_API_KEY",
        "GOOGLE_API_KEY",
        "GOOGLE_GENAI_USE_VERTEXAI",
    ];
    crate::common::sdk_workflow_runs("gemini_workflow.py", UNSET).await;
}
