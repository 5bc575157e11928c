//! The official `google-genai` Python SDK against the front end (tests/sdk/gemini_workflow.py).

use std::path::PathBuf;
use std::time::{Duration, Instant};

use batchlabel_serve::Faults;

use crate::common::{KEY, scripted, start_adjusted};

#[tokio::test(flavor = "multi_thread")]
async fn the_official_google_genai_sdk_runs_the_whole_workflow() {
    let python = std::env::var_os("BATCHLABEL_SDK_PYTHON").map_or_else(
        || PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../.venv-sdk/bin/python"),
        PathBuf::from,
    );
    assert!(
        python.exists(),
        "the SDKs' python ({}) is missing: run bash scripts/sdk-venv.sh",
        python.display()
    );
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
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/sdk/gemini_workflow.py");
    let (stdout_path, stderr_path) = (dir.path().join("sdk.out"), dir.path().join("sdk.err"));
    let mut child = std::process::Command::new(&python)
        .arg(&script)
        .arg(server.address.port().to_string())
        .arg(KEY)
        .env_remove("GEMINI_API_KEY")
        .env_remove("GOOGLE_API_KEY")
        .env_remove("GOOGLE_GENAI_USE_VERTEXAI")
        .env("NO_PROXY", "127.0.0.1,localhost")
        .stdout(std::fs::File::create(&stdout_path).unwrap())
        .stderr(std::fs::File::create(&stderr_path).unwrap())
        .spawn()
        .unwrap_or_else(|error| panic!("cannot run {}: {error}", python.display()));
    let deadline = Instant::now() + Duration::from_mins(2);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if Instant::now() > deadline {
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
