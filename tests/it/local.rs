//! `provider: local`: whole jobs on the embedded model (the real SmolLM2 GGUF fetched by
//! `scripts/fetch-model.sh`, which `.ci/run` runs), and its errors. One thread and fixed
//! shard sizes keep runs deterministic.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::Scratch;

const TOPICS: [&str; 4] = ["sports", "music", "food", "politics"];

/// A local job over the first `rows` tweets of the example data: topics (multi-label, 1–2)
/// and sentiment (single label).
fn local_job(scratch: &Scratch, rows: usize, max_requests: u64) {
    let data =
        std::fs::read_to_string(crate::repository().join("specs/data/tweet-topics.jsonl")).unwrap();
    let lines: Vec<&str> = data.lines().take(rows).collect();
    scratch.write("rows.jsonl", lines.join("\n") + "\n");
    scratch.write(
        "job.yaml",
        format!(
            "name: local-job\ninput:\n  jsonl: rows.jsonl\n  id: id\n  text: text\nprompt:\n  system: Tag the tweet with its topics and its sentiment.\n  user: \"{{{{ text }}}}\"\nlabels:\n  topics:\n    any_of: [{}]\n    min: 1\n    max: 2\n  sentiment:\n    one_of: [positive, negative, neutral]\nmodel:\n  provider: local\n  name: smollm2-135m-instruct\noutput:\n  jsonl: out/results.jsonl\nbatch:\n  max_requests_per_file: {max_requests}\n",
            TOPICS.join(", ")
        ),
    );
}

fn run_local(scratch: &Scratch, state: &str) -> crate::Outcome {
    scratch.run(&[
        "run",
        "job.yaml",
        "--json",
        "--threads",
        "1",
        "--state-dir",
        state,
    ])
}

fn labels(scratch: &Scratch) -> Vec<(String, Value)> {
    std::fs::read_to_string(scratch.path().join("out/results.jsonl"))
        .unwrap()
        .lines()
        .map(|line| {
            let value: Value = serde_json::from_str(line).unwrap();
            (
                value["id"].as_str().unwrap().to_string(),
                value["labels"].clone(),
            )
        })
        .collect()
}

#[test]
fn a_local_run_labels_every_row_with_schema_valid_outputs_deterministically() {
    let scratch = Scratch::new();
    local_job(&scratch, 24, 10);
    let outcome = run_local(&scratch, "state-a");
    assert_eq!(outcome.code, 0, "{outcome:?}");
    let summary: Value = serde_json::from_str(&outcome.stdout).unwrap();
    assert_eq!(summary["summary"]["labeled_rows"], 24, "{outcome:?}");
    assert_eq!(summary["summary"]["batches"], 3);
    let first = labels(&scratch);
    assert_eq!(first.len(), 24);
    for (id, labels) in &first {
        let topics = labels["topics"].as_array().unwrap();
        assert!((1..=2).contains(&topics.len()), "{id}: {labels}");
        for topic in topics {
            assert!(TOPICS.contains(&topic.as_str().unwrap()), "{id}: {labels}");
        }
        let distinct: std::collections::HashSet<&str> =
            topics.iter().map(|topic| topic.as_str().unwrap()).collect();
        assert_eq!(distinct.len(), topics.len(), "{id}: {labels}");
        assert!(
            ["positive", "negative", "neutral"].contains(&labels["sentiment"].as_str().unwrap()),
            "{id}: {labels}"
        );
    }
    // The same job again, from scratch: the same answers.
    let again = run_local(&scratch, "state-b");
    assert_eq!(again.code, 0, "{again:?}");
    assert_eq!(
        labels(&scratch),
        first,
        "runs with one thread and fixed shards are deterministic"
    );
}

#[test]
fn a_killed_local_run_resumes_and_labels_every_row_once() {
    let scratch = Scratch::new();
    local_job(&scratch, 60, 5);
    // One attempt: a batch the in-process server dropped on restart would show as failed rows
    // instead of being hidden by a retry.
    let spec = std::fs::read_to_string(scratch.path().join("job.yaml")).unwrap();
    scratch.write("job.yaml", spec + "  max_attempts: 1\n");
    // A run that outpaces the watcher on a loaded machine is tried again in a fresh state.
    let state = (1..=3)
        .map(|attempt| format!("state-{attempt}"))
        .find(|state| start_and_kill(&scratch, state))
        .expect("three runs in a row finished before they could be killed");
    let outcome = run_local(&scratch, &state);
    assert_eq!(outcome.code, 0, "{outcome:?}");
    let summary: Value = serde_json::from_str(&outcome.stdout).unwrap();
    assert_eq!(summary["summary"]["labeled_rows"], 60, "{outcome:?}");
    assert_eq!(summary["summary"]["failed_rows"], 0, "{outcome:?}");
    assert_eq!(summary["summary"]["run"], 1, "the same run, resumed");
    let ids: std::collections::HashSet<String> =
        labels(&scratch).into_iter().map(|(id, _)| id).collect();
    assert_eq!(ids.len(), 60);
}

/// Start the job in `state` and SIGKILL it once some, but not all, shards are in (on a
/// loaded machine, where `status` itself is slow, once batches have run for a while); `false`
/// when it finished first. A run that fails on its own fails the test, with what it said.
fn start_and_kill(scratch: &Scratch, state: &str) -> bool {
    let stderr = scratch.path().join(format!("{state}.stderr"));
    let mut child = Command::new(env!("CARGO_BIN_EXE_batchlabel"))
        .args([
            "run",
            "job.yaml",
            "-q",
            "--threads",
            "1",
            "--state-dir",
            state,
        ])
        .current_dir(scratch.path())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&stderr).unwrap())
        .spawn()
        .unwrap();
    let started = Instant::now();
    let mut first_submitted = None;
    loop {
        if let Some(ended) = child.try_wait().unwrap() {
            let said = std::fs::read_to_string(&stderr).unwrap_or_default();
            assert!(
                ended.success(),
                "the run failed on its own ({ended}): {said}"
            );
            return false;
        }
        let status = scratch.run(&["status", "job.yaml", "--json", "--state-dir", state]);
        let status = serde_json::from_str::<Value>(&status.stdout).unwrap_or_default();
        let labeled = status["status"]["labeled_rows"].as_u64().unwrap_or(0);
        let submitted = status["status"]["shards"].as_array().is_some_and(|shards| {
            shards
                .iter()
                .any(|shard| shard["submits"].as_i64() > Some(0))
        });
        if submitted && first_submitted.is_none() {
            first_submitted = Some(Instant::now());
        }
        let running_a_while =
            first_submitted.is_some_and(|at: Instant| at.elapsed() > Duration::from_millis(1500));
        if labeled >= 5 || running_a_while {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_mins(2),
            "no shard finished in time"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    // Into the next batch, so the kill lands mid-batch.
    std::thread::sleep(Duration::from_millis(250));
    child.kill().unwrap();
    !child.wait().unwrap().success()
}

#[test]
fn a_missing_or_corrupt_model_is_a_clear_error() {
    let scratch = Scratch::new();
    local_job(&scratch, 3, 10);
    let spec = std::fs::read_to_string(scratch.path().join("job.yaml")).unwrap();
    scratch.write(
        "job.yaml",
        spec.replace("smollm2-135m-instruct", "models/nothing.gguf"),
    );
    let missing = run_local(&scratch, "state");
    assert_eq!(missing.code, 2, "{missing:?}");
    assert!(
        missing
            .stderr
            .contains("models/nothing.gguf` does not exist"),
        "{missing:?}"
    );
    assert!(
        missing
            .stderr
            .contains("get the default model with `batchlabel model fetch`"),
        "{missing:?}"
    );

    scratch.write("models/nothing.gguf", "this is not a model");
    let corrupt = run_local(&scratch, "state");
    assert_eq!(corrupt.code, 2, "{corrupt:?}");
    assert!(
        corrupt
            .stderr
            .contains("is not a usable GGUF model (it does not start with the GGUF magic bytes)"),
        "{corrupt:?}"
    );

    let mut truncated = b"GGUF".to_vec();
    truncated.extend_from_slice(&[3, 0, 0, 0, 9, 9, 9]);
    scratch.write("models/nothing.gguf", truncated);
    let cut = run_local(&scratch, "state");
    assert_eq!(cut.code, 2, "{cut:?}");
    assert!(cut.stderr.contains("llama.cpp cannot load it"), "{cut:?}");
}
