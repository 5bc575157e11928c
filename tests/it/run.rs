//! `batchlabel run`, `status` and `cancel` against a real `batchlabel serve` over HTTP:
//! the whole lifecycle, resume, the cross-run cache, classification and retries of every kind
//! of failure, fault injection, and secrets.

use std::fmt::Write as _;

use serde_json::Value;

use crate::local_server::LocalServer;
use crate::{Outcome, Scratch};

/// A job of `rows` rows (`t0`, `t1`, …) with `max_requests` per shard.
pub(crate) fn job(scratch: &Scratch, rows: usize, max_requests: u64, max_attempts: u32) {
    let mut csv = String::from("id,text\n");
    for index in 0..rows {
        let _ = writeln!(csv, "t{index},comment number {index} about the product");
    }
    scratch.write("rows.csv", csv);
    scratch.write(
        "job.yaml",
        crate::spec(
            "rows.csv",
            &format!(
                "output:\n  csv: out/results.csv\nbatch:\n  max_requests_per_file: {max_requests}\n  max_attempts: {max_attempts}\n"
            ),
        ),
    );
}

pub(crate) fn run(scratch: &Scratch, server: &LocalServer, extra: &[&str]) -> Outcome {
    run_at(scratch, &server.base_url(), extra)
}

/// `batchlabel run job.yaml --json` against `base_url`, polling fast.
pub(crate) fn run_at(scratch: &Scratch, base_url: &str, extra: &[&str]) -> Outcome {
    let mut args = vec![
        "run",
        "job.yaml",
        "--json",
        "--base-url",
        base_url,
        "--poll-interval",
        "0.02",
        "--max-poll-interval",
        "0.1",
    ];
    args.extend_from_slice(extra);
    scratch.run(&args)
}

pub(crate) fn summary(outcome: &Outcome) -> Value {
    let value: Value =
        serde_json::from_str(&outcome.stdout).unwrap_or_else(|_| panic!("{outcome:?}"));
    value["summary"].clone()
}

/// `batchlabel status job.yaml --json`: the run's status object.
pub(crate) fn status(scratch: &Scratch) -> Value {
    let outcome = scratch.run(&["status", "job.yaml", "--json"]);
    assert_eq!(outcome.code, 0, "{outcome:?}");
    let value: Value = serde_json::from_str(&outcome.stdout).expect("status JSON");
    if value["status"].is_object() {
        value["status"].clone()
    } else {
        value
    }
}

/// The results CSV as (id → sentiment).
pub(crate) fn results(scratch: &Scratch) -> std::collections::BTreeMap<String, String> {
    let mut reader =
        csv::Reader::from_path(scratch.path().join("out/results.csv")).expect("results");
    let mut map = std::collections::BTreeMap::new();
    for record in reader.records() {
        let record = record.expect("record");
        let previous = map.insert(record[0].to_string(), record[1].to_string());
        assert!(previous.is_none(), "row {} written twice", &record[0]);
    }
    map
}

pub(crate) fn errors(scratch: &Scratch) -> Vec<Value> {
    std::fs::read_to_string(scratch.path().join("out/results.errors.jsonl"))
        .unwrap_or_default()
        .lines()
        .map(|line| serde_json::from_str(line).expect("errors line"))
        .collect()
}

fn assert_counts_add_up(summary: &Value, rows: u64) {
    let labeled = summary["labeled_rows"].as_u64().unwrap();
    let failed = summary["failed_rows"].as_u64().unwrap();
    assert_eq!(labeled + failed, rows, "{summary:#}");
    let by_reason: u64 = summary["failures"]
        .as_object()
        .unwrap()
        .values()
        .map(|count| count.as_u64().unwrap())
        .sum();
    assert_eq!(by_reason, failed, "{summary:#}");
}

#[test]
fn run_labels_every_row_then_resumes_as_a_no_op() {
    let scratch = Scratch::new();
    job(&scratch, 250, 100, 3);
    let server = LocalServer::start(scratch.path(), &[]);
    let outcome = run(&scratch, &server, &[]);
    assert_eq!(outcome.code, 0, "{outcome:?}");
    let first = summary(&outcome);
    assert_eq!(first["labeled_rows"], 250);
    assert_eq!(first["batches"], 3);
    let labels = results(&scratch);
    assert_eq!(labels.len(), 250);
    assert!(
        labels
            .values()
            .all(|label| ["POSITIVE", "NEGATIVE", "NEUTRAL"].contains(&label.as_str()))
    );
    // Provenance comes from the response and the ledger.
    let text = std::fs::read_to_string(scratch.path().join("out/results.csv")).unwrap();
    let header = text.lines().next().unwrap();
    assert_eq!(
        header,
        "id,sentiment,model,model_snapshot,spec_fingerprint,batch_id,custom_id,attempt,input_tokens,output_tokens,cost_usd,labeled_at,source,run,packed_in"
    );
    assert!(
        text.lines()
            .nth(1)
            .unwrap()
            .contains(",gpt-4o-mini,gpt-4o-mini-scripted,"),
        "{text:.400}"
    );

    let again = run(&scratch, &server, &[]);
    assert_eq!(again.code, 0, "{again:?}");
    assert_eq!(summary(&again)["run"], 1, "the same run, resumed");
    assert_eq!(
        server.stats()["batches"],
        3,
        "a finished run submits nothing"
    );

    let status = scratch.run(&["status", "job.yaml", "--json"]);
    assert_eq!(status.code, 0, "{status:?}");
    let status: Value = serde_json::from_str(&status.stdout).unwrap();
    assert_eq!(status["status"]["labeled_rows"], 250);
    assert_eq!(status["status"]["shards"].as_array().unwrap().len(), 3);
}

#[test]
fn a_changed_spec_is_refused_and_a_new_run_pays_only_for_new_requests() {
    let scratch = Scratch::new();
    job(&scratch, 120, 50, 2);
    let server = LocalServer::start(scratch.path(), &[]);
    assert_eq!(run(&scratch, &server, &["--limit", "80"]).code, 0);
    // Same spec, more rows: a new run that reuses the 80 labeled requests.
    let outcome = run(&scratch, &server, &[]);
    assert_eq!(outcome.code, 0, "{outcome:?}");
    let second = summary(&outcome);
    assert_eq!(second["cached_requests"], 80, "{second:#}");
    assert_eq!(second["labeled_rows"], 120);
    assert_eq!(results(&scratch).len(), 120);
    let stats = server.stats();
    assert_eq!(
        stats["uploads"], 3,
        "80 rows in 2 shards, then only the 40 new rows: {stats:#}"
    );
    // Remote cleanup: every input and result file is gone from the account once ingested,
    // and nothing is left in the run directory but the ledger and the results.
    assert_eq!(stats["files_held"], 0, "{stats:#}");
    assert!(stats["files_deleted"].as_u64().unwrap() >= 6, "{stats:#}");
    let job_dir = scratch.path().join(".batchlabel/test-job");
    let downloads = std::fs::read_dir(job_dir.join("downloads")).map_or(0, Iterator::count);
    assert_eq!(downloads, 0, "downloads are kept after ingest");
    assert!(
        !job_dir.join("runs/1").exists(),
        "run 1's shard files are kept"
    );

    let spec = std::fs::read_to_string(scratch.path().join("job.yaml")).unwrap();
    scratch.write(
        "job.yaml",
        spec.replace("Label the sentiment.", "Label the sentiment, carefully."),
    );
    let refused = run(&scratch, &server, &[]);
    assert_eq!(refused.code, 2, "{refused:?}");
    assert!(
        refused
            .stdout
            .contains("the spec changed since run 2 started"),
        "{refused:?}"
    );
    assert!(refused.stdout.contains("--new-run"), "{refused:?}");
    let fresh = run(&scratch, &server, &["--new-run"]);
    assert_eq!(fresh.code, 0, "{fresh:?}");
    assert_eq!(
        summary(&fresh)["cached_requests"],
        0,
        "a new prompt means new requests"
    );
}

#[test]
fn duplicate_rows_share_one_request_and_all_get_the_label() {
    let scratch = Scratch::new();
    scratch.write(
        "rows.csv",
        "id,text\na,same text\nb,same text\nc,other text\n",
    );
    scratch.write(
        "job.yaml",
        crate::spec("rows.csv", "output:\n  jsonl: out/results.jsonl\n"),
    );
    let server = LocalServer::start(scratch.path(), &[]);
    let outcome = run(&scratch, &server, &[]);
    assert_eq!(outcome.code, 0, "{outcome:?}");
    let lines: Vec<Value> = std::fs::read_to_string(scratch.path().join("out/results.jsonl"))
        .unwrap()
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect();
    assert_eq!(lines.len(), 3);
    let by_id = |id: &str| lines.iter().find(|line| line["id"] == id).unwrap().clone();
    assert_eq!(by_id("a")["labels"], by_id("b")["labels"]);
    assert_eq!(by_id("b")["provenance"]["source"], "duplicate");
    assert_eq!(by_id("b")["provenance"]["cost_usd"], 0.0);
    assert_eq!(summary(&outcome)["requests"], 2);
}

#[test]
fn model_failures_are_classified_and_invalid_outputs_are_asked_again_with_feedback() {
    let scratch = Scratch::new();
    job(&scratch, 40, 100, 2);
    crate::keep_remote_files(&scratch);
    // Rows 1x: wrong label once; 2x: refusal; 3x: cut off; 4x: not JSON once; 5x: HTTP 400.
    scratch.write(
        "script.json",
        r#"[
          {"contains": "number 1 ", "content": "{\"sentiment\": \"joyful\"}", "times": 1},
          {"contains": "number 2 ", "refusal": "I can't help with that."},
          {"contains": "number 3 ", "content": "{\"senti", "finish_reason": "length"},
          {"contains": "number 4 ", "content": "POSITIVE", "times": 1},
          {"contains": "number 5 ", "status": 400}
        ]"#,
    );
    let server = LocalServer::start(scratch.path(), &["--script", "script.json"]);
    let outcome = run(&scratch, &server, &[]);
    assert_eq!(outcome.code, 1, "{outcome:?}");
    let summary = summary(&outcome);
    assert_counts_add_up(&summary, 40);
    assert_eq!(summary["failures"]["refusal"], 1, "{summary:#}");
    assert_eq!(summary["failures"]["truncated"], 1, "{summary:#}");
    assert_eq!(summary["failures"]["http_error"], 1, "{summary:#}");
    assert_eq!(
        summary["labeled_rows"], 37,
        "the schema violation and the bad JSON recover"
    );
    let labels = results(&scratch);
    assert!(["POSITIVE", "NEGATIVE", "NEUTRAL"].contains(&labels["t1"].as_str()));
    let errors = errors(&scratch);
    let http = errors.iter().find(|error| error["id"] == "t5").unwrap();
    assert_eq!(http["attempts"], 1, "a 400 is not retried: {http}");
    assert!(
        http["detail"].as_str().unwrap().starts_with("HTTP 400"),
        "{http}"
    );
    let refusal = errors.iter().find(|error| error["id"] == "t2").unwrap();
    assert_eq!(refusal["attempts"], 2);
    // The retry (the second input the server got: one shard per attempt) asked again with
    // the model's answer and the validation error.
    let inputs = server.stored_files("batch");
    assert_eq!(inputs.len(), 2, "one shard per attempt");
    let retry = &inputs[1];
    let t1 = retry
        .lines()
        .find(|line| line.contains("\"r-t1\""))
        .expect("t1 retried");
    assert!(t1.contains(r#"{\"sentiment\": \"joyful\"}"#), "{t1}");
    assert!(
        t1.contains("Your previous answer was rejected: at `/sentiment`"),
        "{t1}"
    );
    assert!(
        !retry.contains("\"r-t5\""),
        "non-retryable failures are not sent again"
    );
}

/// Failures by reason a fault causes when there is one attempt.
type Expected = &'static [(&'static str, u64)];

/// (serve flags, expected failures with one attempt).
const FAULTS: [(&[&str], Expected); 9] = [
    (&["--fault-http", "429:3"], &[]),
    (&["--fault-http", "500:4"], &[]),
    (&["--fault-drop-every", "3"], &[]),
    (&["--fault-slow-poll-ms", "150"], &[]),
    (&["--fault-batch", "failed:2"], &[]),
    (&["--fault-batch", "expired:2"], &[("expired", 50)]),
    (&["--fault-batch", "cancelled:2"], &[("cancelled", 50)]),
    (
        &[
            "--fault-malformed-every",
            "10",
            "--fault-missing-every",
            "25",
        ],
        &[("missing", 24)],
    ),
    (&["--fault-line-error-every", "20"], &[("http_error", 10)]),
];

#[test]
fn every_injected_fault_ends_with_rows_labeled_or_failed_for_the_right_reason() {
    for (flags, expected) in FAULTS {
        // One attempt: each faulted row fails with its reason, and the counts add up.
        let scratch = Scratch::new();
        job(&scratch, 200, 100, 1);
        let server = LocalServer::start(scratch.path(), flags);
        let outcome = run(&scratch, &server, &[]);
        let first = summary(&outcome);
        assert_counts_add_up(&first, 200);
        let failures: Vec<(String, u64)> = first["failures"]
            .as_object()
            .unwrap()
            .iter()
            .map(|(reason, count)| (reason.clone(), count.as_u64().unwrap()))
            .collect();
        let expected: Vec<(String, u64)> = expected
            .iter()
            .map(|(reason, count)| ((*reason).to_string(), *count))
            .collect();
        assert_eq!(failures, expected, "{flags:?}: {outcome:?}");
        assert_eq!(
            outcome.code,
            i32::from(!expected.is_empty()),
            "{flags:?}: {outcome:?}"
        );
        // Five attempts: the retries recover every row.
        let scratch = Scratch::new();
        job(&scratch, 200, 100, 5);
        let server = LocalServer::start(scratch.path(), flags);
        let outcome = run(&scratch, &server, &[]);
        assert_eq!(outcome.code, 0, "{flags:?}: {outcome:?}");
        assert_eq!(summary(&outcome)["labeled_rows"], 200, "{flags:?}");
        assert_eq!(results(&scratch).len(), 200);
        let stats = server.stats();
        for (name, count) in stats["uploads_by_filename"].as_object().unwrap() {
            assert_eq!(count, 1, "{flags:?}: {name} uploaded twice: {stats:#}");
        }
        for (metadata, count) in stats["batches_by_metadata"].as_object().unwrap() {
            assert_eq!(count, 1, "{flags:?}: {metadata} created twice: {stats:#}");
        }
    }
}

#[test]
fn the_api_key_reaches_the_server_and_nothing_else() {
    let scratch = Scratch::new();
    job(&scratch, 30, 100, 1);
    let secret = "sk-test-very-secret-4242";
    let server = LocalServer::start_with_env(
        scratch.path(),
        &["--require-key-env", "SERVE_KEY"],
        &[("SERVE_KEY", secret)],
    );
    let without = run(&scratch, &server, &[]);
    assert_eq!(without.code, 2, "{without:?}");
    assert!(without.stdout.contains("HTTP 401"), "{without:?}");
    let base_url = server.base_url();
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_batchlabel"))
        .args([
            "run",
            "job.yaml",
            "--base-url",
            &base_url,
            "--poll-interval",
            "0.02",
        ])
        .current_dir(scratch.path())
        .env("OPENAI_API_KEY", secret)
        .output()
        .unwrap();
    assert_eq!(
        output.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(!String::from_utf8_lossy(&output.stdout).contains(secret));
    assert!(!String::from_utf8_lossy(&output.stderr).contains(secret));
    crate::assert_no_file_holds(scratch.path(), secret, Some(&server.state_dir));
}

#[test]
fn two_runners_never_share_a_run_and_cancel_ends_the_run_without_retries() {
    let scratch = Scratch::new();
    job(&scratch, 100, 50, 3);
    let server = LocalServer::start(scratch.path(), &["--step-delay-ms", "1500"]);
    let base_url = server.base_url();
    let first = std::process::Command::new(env!("CARGO_BIN_EXE_batchlabel"))
        .args([
            "run",
            "job.yaml",
            "--json",
            "--base-url",
            &base_url,
            "--poll-interval",
            "0.05",
        ])
        .current_dir(scratch.path())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let started = std::time::Instant::now();
    while server.stats()["batches"] != 2 {
        assert!(
            started.elapsed().as_secs() < 20,
            "the first run never submitted"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let second = run(&scratch, &server, &[]);
    assert_eq!(second.code, 2, "{second:?}");
    assert!(
        second
            .stdout
            .contains("another batchlabel process is using"),
        "{second:?}"
    );
    let cancel = scratch.run(&["cancel", "job.yaml", "--base-url", &base_url]);
    assert_eq!(cancel.code, 0, "{cancel:?}");
    assert!(
        cancel.stdout.contains("cancel requested for 2 batch(es)"),
        "{cancel:?}"
    );
    let output = first.wait_with_output().unwrap();
    let outcome = Outcome {
        code: output.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::new(),
    };
    assert_eq!(outcome.code, 1, "{outcome:?}");
    let summary = summary(&outcome);
    assert_counts_add_up(&summary, 100);
    assert_eq!(summary["failures"]["cancelled"], 100, "{summary:#}");
    assert_eq!(
        server.stats()["batches"],
        2,
        "a cancelled run is not retried"
    );
}

#[test]
fn the_sqlite_sink_upserts_by_id_and_a_restarted_server_keeps_its_batches() {
    let scratch = Scratch::new();
    job(&scratch, 60, 20, 1);
    let spec = std::fs::read_to_string(scratch.path().join("job.yaml")).unwrap();
    scratch.write(
        "job.yaml",
        spec.replace("csv: out/results.csv", "sqlite: out/results.db"),
    );
    let server = LocalServer::start(scratch.path(), &["--step-delay-ms", "300"]);
    let submitted = run(&scratch, &server, &["--no-wait"]);
    assert_eq!(submitted.code, 0, "{submitted:?}");
    assert_eq!(summary(&submitted)["submitted_only"], true);
    // The server goes away mid-flight; a new one on the same state folder finishes the work.
    drop(server);
    let server = LocalServer::start(scratch.path(), &[]);
    let outcome = run(&scratch, &server, &[]);
    assert_eq!(outcome.code, 0, "{outcome:?}");
    assert_eq!(server.stats()["batches"], 3, "no batch was created again");
    let database = rusqlite::Connection::open(scratch.path().join("out/results.db")).unwrap();
    let count = |database: &rusqlite::Connection| -> i64 {
        database
            .query_row("SELECT count(*) FROM results", [], |row| row.get(0))
            .unwrap()
    };
    assert_eq!(count(&database), 60);
    let (sentiment, batch_id): (String, String) = database
        .query_row(
            "SELECT sentiment, batch_id FROM results WHERE id = 't7'",
            [],
            |row| Ok((row.get(0)?, row.get(1)?)),
        )
        .unwrap();
    assert!(["POSITIVE", "NEGATIVE", "NEUTRAL"].contains(&sentiment.as_str()));
    assert!(batch_id.starts_with("batch_"), "{batch_id}");
    // A new run writes the same ids again: updated in place, not duplicated.
    let again = run(&scratch, &server, &["--new-run"]);
    assert_eq!(again.code, 0, "{again:?}");
    assert_eq!(summary(&again)["cached_requests"], 60);
    assert_eq!(count(&database), 60);
    let source: String = database
        .query_row("SELECT source FROM results WHERE id = 't7'", [], |row| {
            row.get(0)
        })
        .unwrap();
    assert_eq!(source, "cache");
}

#[test]
fn serve_forwards_to_an_upstream_chat_completions_server() {
    let scratch = Scratch::new();
    job(&scratch, 30, 100, 1);
    let upstream_dir = tempfile::tempdir().unwrap();
    let upstream = LocalServer::start(upstream_dir.path(), &[]);
    let server = LocalServer::start(
        scratch.path(),
        &[
            "--engine",
            "upstream",
            "--upstream-url",
            &upstream.base_url(),
        ],
    );
    let outcome = run(&scratch, &server, &[]);
    assert_eq!(outcome.code, 0, "{outcome:?}");
    assert_eq!(results(&scratch).len(), 30);
    let text = std::fs::read_to_string(scratch.path().join("out/results.csv")).unwrap();
    assert!(
        text.contains(",gpt-4o-mini-scripted,"),
        "answers came from upstream: {text:.300}"
    );
    assert_eq!(
        upstream.stats()["batches"],
        0,
        "upstream only saw chat completions"
    );
}

#[test]
fn a_batch_file_the_server_rejects_fails_its_rows_with_the_reason() {
    let scratch = Scratch::new();
    job(&scratch, 30, 100, 2);
    let server = LocalServer::start(scratch.path(), &["--max-requests-per-file", "10"]);
    let outcome = run(&scratch, &server, &[]);
    assert_eq!(outcome.code, 1, "{outcome:?}");
    let summary = summary(&outcome);
    assert_counts_add_up(&summary, 30);
    assert_eq!(summary["failures"]["batch_failed"], 30, "{summary:#}");
    let errors = errors(&scratch);
    assert!(
        errors[0]["detail"]
            .as_str()
            .unwrap()
            .contains("too_many_tasks"),
        "{}",
        errors[0]
    );
    assert_eq!(errors[0]["attempts"], 2);
}
