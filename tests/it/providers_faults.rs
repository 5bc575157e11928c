//! Every fault `batchlabel serve` can inject, all at once, on each provider's protocol: HTTP
//! 429s and 500s, dropped connections, batches meeting a full queue or expiring part way,
//! malformed and missing lines, and lines in the error file. Each run ends with every row
//! labeled, and the server's counters show every upload and batch made once.

use crate::Scratch;
use crate::local_server::LocalServer;
use crate::providers::{ROWS, job, run};

const FLAGS: &[&str] = &[
    "--fault-http",
    "429:5",
    "--fault-http",
    "500:11",
    "--fault-drop-every",
    "6",
    "--fault-batch",
    "failed:4",
    "--fault-batch",
    "expired:5",
    "--fault-malformed-every",
    "17",
    "--fault-missing-every",
    "13",
    "--fault-line-error-every",
    "19",
];

/// Run the job with each model block against `server`; every row must be labeled.
fn run_each(blocks: &[(&str, String)]) {
    for (name, block) in blocks {
        let scratch = Scratch::new();
        job(&scratch, block);
        let spec = std::fs::read_to_string(scratch.path().join("job.yaml")).unwrap();
        scratch.write(
            "job.yaml",
            spec.replace(
                "name: providers",
                &format!("name: faults-{}", name.replace(' ', "-")),
            )
            .replace(
                "max_requests_per_file: 5\n",
                "max_requests_per_file: 5\n  max_attempts: 6\n",
            ),
        );
        let outcome = run(&scratch);
        assert_eq!(outcome.code, 0, "{name}: {outcome:?}");
        assert_eq!(
            crate::run::summary(&outcome)["labeled_rows"],
            ROWS as u64,
            "{name}: {outcome:?}"
        );
        assert_eq!(crate::run::results(&scratch).len(), ROWS, "{name}");
    }
}

/// Every upload (by file name) and every batch (by metadata) was made once.
fn assert_each_made_once(stats: &serde_json::Value) {
    for (file, count) in stats["uploads_by_filename"].as_object().unwrap() {
        assert_eq!(count, 1, "{file} uploaded twice: {stats:#}");
    }
    for (metadata, count) in stats["batches_by_metadata"].as_object().unwrap() {
        assert_eq!(count, 1, "{metadata} created twice: {stats:#}");
    }
}

#[test]
fn every_fault_at_once_ends_with_every_row_labeled_on_anthropic_and_azure() {
    let server_dir = tempfile::tempdir().unwrap();
    let server = LocalServer::start(server_dir.path(), FLAGS);
    let origin = format!("http://{}", server.address);
    run_each(&[
        (
            "anthropic",
            format!("  provider: anthropic\n  name: claude-haiku-4-5\n  base_url: {origin}\n"),
        ),
        (
            "azure",
            format!(
                "  provider: azure_openai\n  name: gpt-4o-mini\n  azure: {{endpoint: \"{origin}\", deployment: labels-batch}}\n"
            ),
        ),
    ]);
    assert_each_made_once(&server.stats());
}

/// On Gemini a full queue is a 429 at create and an expired batch `BATCH_STATE_EXPIRED`; on
/// Mistral a 429 at create and `TIMEOUT_EXCEEDED`, the failed lines in its error file.
#[test]
fn every_fault_at_once_ends_with_every_row_labeled_on_gemini_and_mistral() {
    let server_dir = tempfile::tempdir().unwrap();
    let server = LocalServer::start(server_dir.path(), FLAGS);
    let origin = format!("http://{}", server.address);
    run_each(&[
        (
            "gemini",
            format!("  provider: gemini\n  name: gemini-2.5-flash\n  base_url: {origin}\n"),
        ),
        (
            "mistral",
            format!("  provider: mistral\n  name: mistral-small-latest\n  base_url: {origin}\n"),
        ),
    ]);
    let stats = server.stats();
    assert_each_made_once(&stats);
    let by_name = stats["gemini_batches_by_display_name"].as_object().unwrap();
    assert!(by_name.len() >= 3, "{stats:#}");
    for (name, count) in by_name {
        assert_eq!(count, 1, "{name} became {count} batches: {stats:#}");
    }
    // The faults did happen: some batch expired (which protocol's depends on the order of
    // creates, counted across both).
    let expired = stats["gemini_batches_by_state"]["BATCH_STATE_EXPIRED"]
        .as_u64()
        .unwrap_or(0)
        + stats["mistral_jobs_by_status"]["TIMEOUT_EXCEEDED"]
            .as_u64()
            .unwrap_or(0);
    assert!(expired > 0, "{stats:#}");
}
