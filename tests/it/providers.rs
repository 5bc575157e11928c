//! One spec, every provider (issue 13): the same job, differing only in its `model:` block,
//! runs to completion on `openai`, `azure_openai` (the v1 and the dated API), `anthropic`
//! (both structured-output forms), `gemini` and `mistral` against one `batchlabel serve`, which speaks each protocol
//! under its own paths, and gives the same labels from the scripted engine; on `local` (the
//! embedded model) it labels every row. Each key reaches the server in its provider's header
//! and nowhere else; provider-specific spec problems are reported with line and column.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use crate::local_server::LocalServer;
use crate::{Outcome, Scratch};

pub(crate) const ROWS: usize = 12;
const SECRET: &str = "sk-provider-secret-7788";

/// The job with `model` as its model block.
pub(crate) fn job(scratch: &Scratch, model: &str) {
    let mut csv = String::from("id,text\n");
    for index in 0..ROWS {
        let _ = writeln!(csv, "t{index},comment number {index} about the product");
    }
    scratch.write("rows.csv", csv);
    scratch.write(
        "job.yaml",
        format!(
            "name: providers\ninput:\n  csv: rows.csv\n  id: id\n  text: text\nprompt:\n  system: Label the sentiment.\n  user: \"{{{{ text }}}}\"\nlabels:\n  sentiment:\n    one_of: {{POSITIVE: good, NEGATIVE: bad, NEUTRAL: neither}}\nmodel:\n{model}output:\n  csv: out/results.csv\nbatch:\n  max_requests_per_file: 5\n"
        ),
    );
}

/// `run` with every provider's key variable set to [`SECRET`].
pub(crate) fn run(scratch: &Scratch) -> Outcome {
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_batchlabel"))
        .args([
            "run",
            "job.yaml",
            "--json",
            "--poll-interval",
            "0.02",
            "--max-poll-interval",
            "0.1",
        ])
        .current_dir(scratch.path())
        .env("NO_COLOR", "1")
        .env("OPENAI_API_KEY", SECRET)
        .env("AZURE_OPENAI_API_KEY", SECRET)
        .env("ANTHROPIC_API_KEY", SECRET)
        .env("GEMINI_API_KEY", SECRET)
        .env("MISTRAL_API_KEY", SECRET)
        .env_remove("GOOGLE_API_KEY")
        .env_remove("GEMINI_BASE_URL")
        .env_remove("MISTRAL_BASE_URL")
        .env_remove("AZURE_OPENAI_ENDPOINT")
        .env_remove("ANTHROPIC_BASE_URL")
        .env_remove("OPENAI_BASE_URL")
        .output()
        .expect("run batchlabel");
    Outcome {
        code: output.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

#[test]
fn one_spec_runs_on_every_provider_with_the_same_labels() {
    let server_dir = tempfile::tempdir().unwrap();
    let server = LocalServer::start_with_env(
        server_dir.path(),
        &["--require-key-env", "SERVE_KEY"],
        &[("SERVE_KEY", SECRET)],
    );
    let origin = format!("http://{}", server.address);
    let blocks = [
        (
            "openai",
            format!(
                "  provider: openai\n  name: gpt-4o-mini\n  temperature: 0\n  base_url: {origin}/v1\n"
            ),
        ),
        (
            "azure v1",
            format!(
                "  provider: azure_openai\n  name: gpt-4o-mini\n  temperature: 0\n  azure:\n    endpoint: {origin}\n    deployment: labels-batch\n"
            ),
        ),
        (
            "azure dated",
            format!(
                "  provider: azure_openai\n  name: gpt-4o-mini\n  temperature: 0\n  azure:\n    endpoint: {origin}\n    deployment: labels-batch\n    api_version: 2025-04-01-preview\n"
            ),
        ),
        (
            "anthropic",
            format!(
                "  provider: anthropic\n  name: claude-haiku-4-5\n  temperature: 0\n  base_url: {origin}\n"
            ),
        ),
        (
            "anthropic tool",
            format!(
                "  provider: anthropic\n  name: claude-haiku-4-5\n  temperature: 0\n  base_url: {origin}\n  anthropic: {{structured_output: tool}}\n"
            ),
        ),
        (
            "gemini",
            format!(
                "  provider: gemini\n  name: gemini-2.5-flash\n  temperature: 0\n  base_url: {origin}\n"
            ),
        ),
        (
            "mistral",
            format!(
                "  provider: mistral\n  name: mistral-small-latest\n  temperature: 0\n  base_url: {origin}\n"
            ),
        ),
    ];
    let mut labels: Vec<(&str, BTreeMap<String, String>)> = Vec::new();
    for (name, block) in &blocks {
        let scratch = Scratch::new();
        job(&scratch, block);
        let outcome = run(&scratch);
        assert_eq!(outcome.code, 0, "{name}: {outcome:?}");
        let summary = crate::run::summary(&outcome);
        assert_eq!(summary["labeled_rows"], ROWS as u64, "{name}: {summary:#}");
        assert!(!outcome.stdout.contains(SECRET) && !outcome.stderr.contains(SECRET));
        crate::assert_no_file_holds(scratch.path(), SECRET, None);
        labels.push((name, crate::run::results(&scratch)));
    }
    let (first, expected) = &labels[0];
    assert_eq!(expected.len(), ROWS);
    for (name, got) in &labels[1..] {
        assert_eq!(got, expected, "{name} labels differ from {first}'s");
    }
    let stats = server.stats_with_key(SECRET);
    // 12 rows in shards of 5: 3 batches per run.
    assert_eq!(stats["batches_by_front"]["azure"], 6, "{stats:#}");
    assert_eq!(stats["anthropic_batches"], 6, "{stats:#}");
    assert_eq!(stats["gemini_batches"], 3, "{stats:#}");
    assert_eq!(stats["mistral_jobs"], 3, "{stats:#}");
}

#[test]
fn the_same_spec_runs_on_the_embedded_model() {
    let scratch = Scratch::new();
    job(
        &scratch,
        "  provider: local\n  name: smollm2-135m-instruct\n  temperature: 0\n",
    );
    let outcome = run(&scratch);
    assert_eq!(outcome.code, 0, "{outcome:?}");
    let labels = crate::run::results(&scratch);
    assert_eq!(labels.len(), ROWS, "{outcome:?}");
    for label in labels.values() {
        assert!(
            ["POSITIVE", "NEGATIVE", "NEUTRAL"].contains(&label.as_str()),
            "{label}"
        );
    }
}

#[test]
fn provider_problems_are_reported_at_their_line() {
    let scratch = Scratch::new();
    job(
        &scratch,
        "  provider: anthropic\n  name: claude-3-5-haiku-20241022\n  temperature: 1.5\n  seed: 7\n",
    );
    let spec = std::fs::read_to_string(scratch.path().join("job.yaml")).unwrap();
    scratch.write("job.yaml", format!("{spec}budget:\n  max_usd: 5\n"));
    let outcome = scratch.run(&["check", "job.yaml"]);
    assert_eq!(outcome.code, 2, "{outcome:?}");
    // Spec-level problems first (all at once), each with its line.
    assert!(
        outcome.stderr.contains("accepts a temperature from 0 to 1"),
        "{outcome:?}"
    );
    assert!(outcome.stderr.contains("job.yaml:15:"), "{outcome:?}");
    assert!(
        outcome.stderr.contains("`anthropic` has no `seed`"),
        "{outcome:?}"
    );
    // Then what only the provider knows: a model without structured outputs, a budget
    // without a price.
    scratch.write(
        "job.yaml",
        spec.replace("  temperature: 1.5\n  seed: 7\n", "") + "budget:\n  max_usd: 5\n",
    );
    let outcome = scratch.run(&["check", "job.yaml"]);
    assert_eq!(outcome.code, 2, "{outcome:?}");
    assert!(
        outcome.stderr.contains("has no structured outputs"),
        "{outcome:?}"
    );
    assert!(outcome.stderr.contains("job.yaml:14:"), "{outcome:?}");
    assert!(
        outcome.stderr.contains("structured_output: tool"),
        "{outcome:?}"
    );
    scratch.write(
        "job.yaml",
        spec.replace("  temperature: 1.5\n  seed: 7\n", "")
            .replace("claude-3-5-haiku-20241022", "claude-haiku-9")
            + "budget:\n  max_usd: 5\n",
    );
    let outcome = scratch.run(&["check", "job.yaml"]);
    assert_eq!(outcome.code, 2, "{outcome:?}");
    assert!(
        outcome
            .stderr
            .contains("no price for model `claude-haiku-9` at `anthropic`"),
        "{outcome:?}"
    );
    // Over a provider's batch limit.
    job(
        &scratch,
        "  provider: anthropic\n  name: claude-haiku-4-5\n",
    );
    let spec = std::fs::read_to_string(scratch.path().join("job.yaml")).unwrap();
    scratch.write(
        "job.yaml",
        spec.replace("max_requests_per_file: 5", "max_requests_per_file: 200000"),
    );
    let outcome = scratch.run(&["check", "job.yaml"]);
    assert_eq!(outcome.code, 2, "{outcome:?}");
    assert!(
        outcome
            .stderr
            .contains("`anthropic` accepts at most 100000 requests per file"),
        "{outcome:?}"
    );
}

/// What Gemini's `responseSchema` cannot express in a raw `schema:` field is a `check` error at
/// the keyword's line; what it can (a `const`, a nullable type) passes, as do Gemini and
/// Mistral's parameter rules.
#[test]
fn gemini_schema_and_parameter_problems_are_reported_at_their_line() {
    let scratch = Scratch::new();
    job(&scratch, "  provider: gemini\n  name: gemini-2.5-flash\n");
    let spec = std::fs::read_to_string(scratch.path().join("job.yaml")).unwrap();
    let raw = "    one_of: {POSITIVE: good, NEGATIVE: bad, NEUTRAL: neither}\n  stars:\n    schema:\n      type: integer\n      enum: [1, 2, 3]\n  note:\n    schema: {type: [string, \"null\"]}\n";
    scratch.write(
        "job.yaml",
        spec.replace(
            "    one_of: {POSITIVE: good, NEGATIVE: bad, NEUTRAL: neither}\n",
            raw,
        ),
    );
    let outcome = scratch.run(&["check", "job.yaml"]);
    assert_eq!(outcome.code, 2, "{outcome:?}");
    assert!(
        outcome
            .stderr
            .contains("Gemini's responseSchema takes string enums only"),
        "{outcome:?}"
    );
    // At the `enum`'s value, the part Gemini cannot take.
    assert!(outcome.stderr.contains("--> job.yaml:15:13"), "{outcome:?}");
    assert!(!outcome.stderr.contains("note"), "{outcome:?}");
    job(
        &scratch,
        "  provider: mistral\n  name: mistral-small-latest\n  reasoning_effort: low\n  dialect: together\n",
    );
    let outcome = scratch.run(&["check", "job.yaml"]);
    assert_eq!(outcome.code, 2, "{outcome:?}");
    assert!(
        outcome
            .stderr
            .contains("`mistral` has no `reasoning_effort`"),
        "{outcome:?}"
    );
    assert!(
        outcome
            .stderr
            .contains("`model.dialect` only applies to `provider: openai`"),
        "{outcome:?}"
    );
}

/// A shard over a provider's request cap is a spec error at `max_requests_per_file`'s line:
/// Gemini's 100,000 (its own cap on one file), Mistral's 1,000,000.
#[test]
fn request_caps_of_gemini_and_mistral_are_checked_at_their_line() {
    for (block, over, cap) in [
        (
            "  provider: gemini\n  name: gemini-2.5-flash\n",
            "100001",
            "`gemini` accepts at most 100000 requests per file",
        ),
        (
            "  provider: mistral\n  name: mistral-small-latest\n",
            "1000001",
            "`mistral` accepts at most 1000000 requests per file",
        ),
    ] {
        let scratch = Scratch::new();
        job(&scratch, block);
        let spec = std::fs::read_to_string(scratch.path().join("job.yaml")).unwrap();
        scratch.write(
            "job.yaml",
            spec.replace(
                "max_requests_per_file: 5",
                &format!("max_requests_per_file: {over}"),
            ),
        );
        let outcome = scratch.run(&["check", "job.yaml"]);
        assert_eq!(outcome.code, 2, "{outcome:?}");
        assert!(outcome.stderr.contains(cap), "{outcome:?}");
        assert!(outcome.stderr.contains("job.yaml:18:26"), "{outcome:?}");
        // One under the cap passes.
        let under = (over.parse::<u64>().unwrap() - 1).to_string();
        scratch.write(
            "job.yaml",
            spec.replace(
                "max_requests_per_file: 5",
                &format!("max_requests_per_file: {under}"),
            ),
        );
        let outcome = scratch.run(&["check", "job.yaml"]);
        assert_eq!(outcome.code, 0, "{outcome:?}");
    }
}

/// With only `GOOGLE_API_KEY` set (the other name Google's SDK reads), a Gemini run reaches a
/// server that demands the key, and the key is in no output, log or journal.
#[test]
fn a_gemini_run_with_only_google_api_key_labels_every_row() {
    const GOOGLE_KEY: &str = "AIza-google-only-secret-4455";
    let server_dir = tempfile::tempdir().unwrap();
    let server = LocalServer::start_with_env(
        server_dir.path(),
        &["--require-key-env", "SERVE_KEY"],
        &[("SERVE_KEY", GOOGLE_KEY)],
    );
    let scratch = Scratch::new();
    job(
        &scratch,
        &format!(
            "  provider: gemini\n  name: gemini-2.5-flash\n  base_url: http://{}\n",
            server.address
        ),
    );
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_batchlabel"))
        .args(["run", "job.yaml", "--json", "--poll-interval", "0.02"])
        .args(["--max-poll-interval", "0.1"])
        .current_dir(scratch.path())
        .env("NO_COLOR", "1")
        .env("GOOGLE_API_KEY", GOOGLE_KEY)
        .env_remove("GEMINI_API_KEY")
        .env_remove("GEMINI_BASE_URL")
        .output()
        .expect("run batchlabel");
    let outcome = Outcome {
        code: output.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    };
    assert_eq!(outcome.code, 0, "{outcome:?}");
    assert_eq!(
        crate::run::summary(&outcome)["labeled_rows"],
        ROWS as u64,
        "{outcome:?}"
    );
    assert!(!outcome.stdout.contains(GOOGLE_KEY) && !outcome.stderr.contains(GOOGLE_KEY));
    crate::assert_no_file_holds(scratch.path(), GOOGLE_KEY, None);
    assert_eq!(server.stats_with_key(GOOGLE_KEY)["gemini_batches"], 3);
}
