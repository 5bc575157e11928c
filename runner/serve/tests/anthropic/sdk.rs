//! The official `anthropic` Python SDK against the front end (tests/sdk/anthropic_workflow.py).

use std::time::Duration;

use batchlabel_serve::Faults;

use crate::common::{KEY, scripted, start_with};

#[tokio::test(flavor = "multi_thread")]
async fn the_official_anthropic_sdk_runs_the_whole_workflow() {
    let dir = tempfile::tempdir().unwrap();
    // A short step delay, so the second batch can be cancelled before it runs.
    let server = start_with(
        dir.path(),
        scripted(),
        Faults::default(),
        Duration::from_millis(150),
    )
    .await;
    let port = server.address.port();
    let stdout = tokio::task::spawn_blocking(move || {
        crate::sdk_runner::run_workflow("anthropic_workflow.py", |command| {
            command
                .arg(port.to_string())
                .arg(KEY)
                .env_remove("ANTHROPIC_API_KEY")
                .env_remove("ANTHROPIC_AUTH_TOKEN")
                .env_remove("ANTHROPIC_BASE_URL");
        })
    })
    .await
    .expect("the SDK run");
    assert!(stdout.contains("ok"), "{stdout}");
}
