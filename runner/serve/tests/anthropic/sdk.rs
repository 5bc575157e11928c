//! The official `anthropic` Python SDK against the front end (tests/sdk/anthropic_workflow.py).

use std::path::PathBuf;
use std::time::Duration;

use batchlabel_serve::Faults;

use crate::common::{KEY, scripted, start_with};

/// The SDK venv's python: `$BATCHLABEL_SDK_PYTHON`, else `<repo>/.venv-sdk/bin/python`.
fn sdk_python() -> PathBuf {
    let python = std::env::var_os("BATCHLABEL_SDK_PYTHON").map_or_else(
        || PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../.venv-sdk/bin/python"),
        PathBuf::from,
    );
    assert!(
        python.exists(),
        "the Anthropic SDK's python ({}) is missing: run bash scripts/sdk-venv.sh",
        python.display()
    );
    python
}

#[tokio::test(flavor = "multi_thread")]
async fn the_official_anthropic_sdk_runs_the_whole_workflow() {
    let python = sdk_python();
    let dir = tempfile::tempdir().unwrap();
    // A short step delay, so the second batch can be cancelled before it runs.
    let server = start_with(
        dir.path(),
        scripted(),
        Faults::default(),
        Duration::from_millis(150),
    )
    .await;
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/sdk/anthropic_workflow.py");
    let (stdout_path, stderr_path) = (dir.path().join("sdk.out"), dir.path().join("sdk.err"));
    let mut child = std::process::Command::new(&python)
        .arg(&script)
        .arg(server.address.port().to_string())
        .arg(KEY)
        .env_remove("ANTHROPIC_API_KEY")
        .env_remove("ANTHROPIC_AUTH_TOKEN")
        .env_remove("ANTHROPIC_BASE_URL")
        .env("NO_PROXY", "127.0.0.1,localhost")
        .stdout(std::fs::File::create(&stdout_path).unwrap())
        .stderr(std::fs::File::create(&stderr_path).unwrap())
        .spawn()
        .unwrap_or_else(|error| panic!("cannot run {}: {error}", python.display()));
    let deadline = std::time::Instant::now() + Duration::from_mins(2);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("the SDK script did not finish in 120 s");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let stdout = std::fs::read_to_string(&stdout_path).unwrap_or_default();
    let stderr = std::fs::read_to_string(&stderr_path).unwrap_or_default();
    assert!(
        status.success(),
        "the SDK workflow failed:\n{stdout}\n{stderr}"
    );
    assert!(stdout.contains("ok"), "{stdout}");
}
