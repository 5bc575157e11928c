//! A ledger written by the release before schema versions opens, migrates and resumes: its
//! batches are collected, nothing is sent again, every row is labeled.

use std::path::Path;

use crate::local_server::LocalServer;

/// Where the fixture was written (its ledger holds absolute paths under it).
const FIXTURE_HOME: &str = "/tmp/batchlabel-v0-fixture";

fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("mkdir");
    for entry in std::fs::read_dir(from).expect("read fixture") {
        let entry = entry.expect("fixture entry");
        let target = to.join(entry.file_name());
        if entry.file_type().expect("file type").is_dir() {
            copy_tree(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).expect("copy fixture file");
        }
    }
}

#[test]
fn a_ledger_from_the_release_before_schema_versions_resumes_without_sending_again() {
    let home = Path::new(FIXTURE_HOME);
    let _ = std::fs::remove_dir_all(home);
    copy_tree(&crate::repository().join("tests/fixtures/ledger-v0"), home);
    let modified: u64 = std::fs::read_to_string(home.join("input-mtime"))
        .expect("input-mtime")
        .trim()
        .parse()
        .expect("seconds");
    std::fs::File::options()
        .write(true)
        .open(home.join("data.csv"))
        .expect("open input")
        .set_modified(std::time::UNIX_EPOCH + std::time::Duration::from_secs(modified))
        .expect("restore the input's modification time");

    let server = LocalServer::start(home, &[]);
    let run = crate::batchlabel(
        home,
        &[
            "run",
            "job.yaml",
            "--state-dir",
            "state",
            "--base-url",
            &server.base_url(),
            "--poll-interval",
            "0.05",
        ],
    );
    assert_eq!(run.code, 0, "{run:?}");
    // The three files and batches the old release sent, and nothing more.
    assert_eq!(server.stats()["uploads"], 3, "{run:?}");
    assert_eq!(server.stats()["batches"], 3, "{run:?}");
    let labels = std::fs::read_to_string(home.join("out/labels.csv")).expect("results");
    assert_eq!(labels.lines().count(), 21, "{labels}");
    let status = crate::batchlabel(
        home,
        &["status", "job.yaml", "--state-dir", "state", "--json"],
    );
    let status: serde_json::Value = serde_json::from_str(&status.stdout).expect("status JSON");
    assert_eq!(status["status"]["run"], 1, "{status:#}");
    assert_eq!(status["status"]["state"], "finished", "{status:#}");
    assert_eq!(status["status"]["labeled_rows"], 20, "{status:#}");
    let _ = std::fs::remove_dir_all(home);
}
