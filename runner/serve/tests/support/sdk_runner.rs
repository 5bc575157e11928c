//! Running an official SDK's workflow script (tests/sdk/) with the SDKs' python, for every
//! test binary that drives `serve` with one: `$BATCHLABEL_SDK_PYTHON`, else the virtual
//! environment `scripts/sdk-venv.sh` makes at `<repo>/.venv-sdk`.

use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

/// The SDKs' python; a clear failure when it is missing.
pub fn python() -> PathBuf {
    let python = std::env::var_os("BATCHLABEL_SDK_PYTHON").map_or_else(
        || PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../.venv-sdk/bin/python"),
        PathBuf::from,
    );
    assert!(
        python.exists(),
        "the SDKs' python ({}) is missing: run bash scripts/sdk-venv.sh (or set BATCHLABEL_SDK_PYTHON)",
        python.display()
    );
    python
}

/// Run `tests/sdk/{script}` (its arguments and environment set by `configure`) to a
/// successful exit within two minutes; its stdout. Blocks: async tests call it from
/// `spawn_blocking`. Output goes to files, so a chatty script never fills a pipe.
pub fn run_workflow(script: &str, configure: impl FnOnce(&mut Command)) -> String {
    let python = python();
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/sdk")
        .join(script);
    let dir = tempfile::tempdir().expect("temp dir");
    let (stdout_path, stderr_path) = (dir.path().join("sdk.out"), dir.path().join("sdk.err"));
    let mut command = Command::new(&python);
    command
        .arg(&path)
        .env("NO_PROXY", "127.0.0.1,localhost")
        .stdout(std::fs::File::create(&stdout_path).expect("stdout file"))
        .stderr(std::fs::File::create(&stderr_path).expect("stderr file"));
    configure(&mut command);
    let mut child = command
        .spawn()
        .unwrap_or_else(|error| panic!("cannot run {}: {error}", python.display()));
    let deadline = Instant::now() + Duration::from_mins(2);
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait") {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{script} did not finish in 120 s");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let stdout = std::fs::read_to_string(&stdout_path).unwrap_or_default();
    let stderr = std::fs::read_to_string(&stderr_path).unwrap_or_default();
    assert!(
        status.success(),
        "{script} failed\nstdout:\n{stdout}\nstderr:\n{stderr}"
    );
    stdout
}
