//! WASM plugins end to end: the real binary, the example plugins built for `wasm32-wasip2`,
//! and a real `batchlabel serve`. The swap of a validator without rebuilding batchlabel, a
//! request builder that scrubs PII before anything is written, `check` on plugin
//! configuration, and hostile plugins (each failing one row, named, while the others finish).

use std::path::PathBuf;
use std::sync::OnceLock;

use crate::local_server::LocalServer;
use crate::run::{errors, run};
use crate::{Scratch, repository};

/// The plugins' `.wasm` files, built once per test process.
fn built_plugins() -> PathBuf {
    static BUILT: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    BUILT
        .get_or_init(|| {
            let workspace = repository().join("plugins");
            let target = workspace.join("target");
            let output = std::process::Command::new(env!("CARGO"))
                .args(["build", "--release", "--target", "wasm32-wasip2", "--manifest-path"])
                .arg(workspace.join("Cargo.toml"))
                .arg("--target-dir")
                .arg(&target)
                .output()
                .map_err(|error| error.to_string())?;
            if !output.status.success() {
                return Err(format!(
                    "building the plugins failed; run `cargo build --release --target wasm32-wasip2 --manifest-path plugins/Cargo.toml` (needs `rustup target add wasm32-wasip2`):\n{}",
                    String::from_utf8_lossy(&output.stderr)
                ));
            }
            Ok(target.join("wasm32-wasip2/release"))
        })
        .clone()
        .unwrap_or_else(|message| panic!("{message}"))
}

fn copy_plugin(scratch: &Scratch, name: &str, as_name: &str) {
    std::fs::copy(
        built_plugins().join(format!("{name}.wasm")),
        scratch.path().join(as_name),
    )
    .expect("copy plugin");
}

/// Rows t1..t6; the scripted model answers free-text sentiment.
fn sentiment_job(scratch: &Scratch, plugins: &str) {
    scratch.write(
        "rows.csv",
        "id,text\nt1,good stuff\nt2,bad stuff\nt3,meh stuff\nt4,good again\nt5,bad again\nt6,meh again\n",
    );
    scratch.write(
        "script.json",
        r#"[{"contains":"good","content":"{\"sentiment\":\"Positive!\"}"},
            {"contains":"bad","content":"{\"sentiment\":\"  negative\"}"},
            {"contains":"meh","content":"{\"sentiment\":\"so-so\"}"}]"#,
    );
    scratch.write(
        "job.yaml",
        format!(
            "name: plugged\ninput: {{csv: rows.csv, id: id, text: text}}\nprompt:\n  user: \"{{{{ text }}}}\"\nlabels:\n  sentiment: {{schema: {{type: string}}}}\nmodel: {{provider: openai, name: gpt-4o-mini, max_completion_tokens: 20}}\nbatch: {{max_attempts: 1}}\noutput: {{csv: out/results.csv}}\n{plugins}"
        ),
    );
}

fn labels(scratch: &Scratch) -> Vec<(String, String)> {
    let mut reader =
        csv::Reader::from_path(scratch.path().join("out/results.csv")).expect("results");
    let mut labels: Vec<(String, String)> = reader
        .records()
        .map(|record| {
            let record = record.expect("record");
            (record[0].to_string(), record[1].to_string())
        })
        .collect();
    labels.sort();
    labels
}

const NORMALIZER: &str = "plugins:\n  validate:\n    - uses: validator.wasm\n      with: {fields: {sentiment: {labels: [POSITIVE, NEGATIVE, NEUTRAL], synonyms: {so-so: NEUTRAL}}}}\n";

#[test]
fn swapping_the_validator_wasm_changes_the_results_without_rebuilding_batchlabel() {
    let scratch = Scratch::new();
    sentiment_job(&scratch, NORMALIZER);
    copy_plugin(&scratch, "label_normalizer", "validator.wasm");
    let server = LocalServer::start(scratch.path(), &["--script", "script.json"]);
    let outcome = run(&scratch, &server, &[]);
    assert_eq!(outcome.code, 0, "{outcome:?}");
    let first = labels(&scratch);
    assert_eq!(
        first
            .iter()
            .map(|(_, label)| label.as_str())
            .collect::<Vec<_>>(),
        [
            "POSITIVE", "NEGATIVE", "NEUTRAL", "POSITIVE", "NEGATIVE", "NEUTRAL"
        ]
    );

    // Another validator behind the same file name: the fingerprint sees the new bytes.
    copy_plugin(&scratch, "lowercase_labels", "validator.wasm");
    let refused = run(&scratch, &server, &[]);
    assert_eq!(refused.code, 2, "{refused:?}");
    assert!(
        refused.stdout.contains("the spec changed since run 1"),
        "{refused:?}"
    );
    let outcome = run(&scratch, &server, &["--new-run"]);
    assert_eq!(outcome.code, 0, "{outcome:?}");
    let second = labels(&scratch);
    assert_eq!(
        second
            .iter()
            .map(|(_, label)| label.as_str())
            .collect::<Vec<_>>(),
        [
            "positive!",
            "  negative",
            "so-so",
            "positive!",
            "  negative",
            "so-so"
        ]
    );
    // The new validator judged the answers the model gave in run 1 (not what the first
    // validator made of them): nothing was asked again.
    assert_eq!(crate::run::summary(&outcome)["cached_requests"], 6);
    assert_eq!(server.stats()["uploads"], 1, "run 2 sent nothing");
}

#[test]
fn other_validators_recheck_earlier_answers_and_only_what_now_fails_is_asked_again() {
    let scratch = Scratch::new();
    sentiment_job(&scratch, NORMALIZER);
    copy_plugin(&scratch, "label_normalizer", "validator.wasm");
    let server = LocalServer::start(scratch.path(), &["--script", "script.json"]);
    assert_eq!(run(&scratch, &server, &[]).code, 0);
    // NEUTRAL is no longer a label: "so-so" now means NEGATIVE.
    let spec = std::fs::read_to_string(scratch.path().join("job.yaml")).unwrap();
    scratch.write(
        "job.yaml",
        spec.replace(
            "labels: [POSITIVE, NEGATIVE, NEUTRAL], synonyms: {so-so: NEUTRAL}",
            "labels: [POSITIVE, NEGATIVE], synonyms: {so-so: NEGATIVE}",
        ),
    );
    let outcome = run(&scratch, &server, &["--new-run"]);
    assert_eq!(outcome.code, 0, "{outcome:?}");
    // Every answer is judged again as the model gave it: the two "so-so" ones (NEUTRAL
    // before) pass now as NEGATIVE, so nothing is asked again.
    assert_eq!(
        crate::run::summary(&outcome)["cached_requests"],
        6,
        "{outcome:?}"
    );
    assert_eq!(
        labels(&scratch)
            .iter()
            .map(|(_, label)| label.as_str())
            .collect::<Vec<_>>(),
        [
            "POSITIVE", "NEGATIVE", "NEGATIVE", "POSITIVE", "NEGATIVE", "NEGATIVE"
        ]
    );
    let stats = server.stats();
    assert_eq!(stats["uploads"], 1, "run 2 sent nothing: {stats:#}");

    // What the validator now rejects is asked again, and only that: without the synonym,
    // "so-so" is no label (and the model says it again, so those rows fail).
    let spec = std::fs::read_to_string(scratch.path().join("job.yaml")).unwrap();
    scratch.write(
        "job.yaml",
        spec.replace(", synonyms: {so-so: NEGATIVE}", ""),
    );
    let outcome = run(&scratch, &server, &["--new-run"]);
    let summary = crate::run::summary(&outcome);
    assert_eq!(summary["cached_requests"], 4, "{outcome:?}");
    assert_eq!(summary["labeled_rows"], 4, "{outcome:?}");
    assert_eq!(
        server.stats()["uploads"],
        2,
        "only the so-so rows were sent"
    );

    // Without validators every answer is judged as the model gave it, the rejected ones too:
    // nothing is asked again and each row gets the model's own label.
    let spec = std::fs::read_to_string(scratch.path().join("job.yaml")).unwrap();
    let without = spec.split("plugins:").next().unwrap().to_string();
    scratch.write("job.yaml", without);
    let outcome = run(&scratch, &server, &["--new-run"]);
    assert_eq!(outcome.code, 0, "{outcome:?}");
    assert_eq!(crate::run::summary(&outcome)["cached_requests"], 6);
    assert_eq!(server.stats()["uploads"], 2, "nothing was sent");
    let raw: Vec<String> = labels(&scratch)
        .into_iter()
        .map(|(_, label)| label)
        .collect();
    assert!(
        raw.iter().filter(|label| *label == "so-so").count() == 2,
        "{raw:?}"
    );
}

#[test]
fn a_request_builder_scrubs_pii_before_anything_is_written_or_sent() {
    scrubbed_run(None);
}

/// A request builder runs before packing: each row's own request is scrubbed, then the
/// scrubbed rows are packed into one request.
#[test]
fn a_request_builders_rows_are_packed_after_it_ran() {
    let server = scrubbed_run(Some(3));
    assert_eq!(
        server.stats()["requests_in_batches"],
        1,
        "one pack of three"
    );
}

fn scrubbed_run(pack: Option<u32>) -> LocalServer {
    let scratch = Scratch::new();
    scratch.write(
        "rows.csv",
        "id,text\np1,write to jane.doe@example.com\np2,call +1 (555) 123-4567 or @jane\np3,see https://example.com/x\n",
    );
    let spec = "name: scrubbed\ninput: {csv: rows.csv, id: id, text: text}\nprompt:\n  system: Label the sentiment.\n  user: \"Comment: {{ text }}\"\nlabels:\n  sentiment: {one_of: [POSITIVE, NEGATIVE, NEUTRAL]}\nmodel: {provider: openai, name: gpt-4o-mini}\nplugins:\n  request: {uses: pii.wasm}\n".to_string();
    scratch.write("job.yaml", spec);
    // The server keeps what it was sent: the masks must be found there.
    crate::keep_remote_files(&scratch);
    if let Some(size) = pack {
        crate::packing::packed(&scratch, size);
    }
    copy_plugin(&scratch, "pii_scrub", "pii.wasm");
    let server = LocalServer::start(scratch.path(), &[]);
    let outcome = run(&scratch, &server, &[]);
    assert_eq!(outcome.code, 0, "{outcome:?}");
    let mut sent = String::new();
    for folder in [scratch.path().join(".batchlabel"), server.state_dir.clone()] {
        for entry in walk(&folder) {
            sent.push_str(&String::from_utf8_lossy(
                &std::fs::read(entry).unwrap_or_default(),
            ));
        }
    }
    // The phone number by its own digits: a bare `555` also turns up in clock times
    // (1795755512) and random hex ids of the files searched.
    for secret in [
        "jane.doe@example.com",
        "(555)",
        "123-4567",
        "@jane",
        "https://example.com",
    ] {
        assert!(!sent.contains(secret), "`{secret}` reached a file");
    }
    for mask in [
        "Comment: write to [EMAIL]",
        "Comment: call [PHONE] or @user",
        "Comment: see [URL]",
    ] {
        assert!(sent.contains(mask), "missing `{mask}`");
    }
    server
}

fn walk(folder: &std::path::Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(folder).into_iter().flatten().flatten() {
        let path = entry.path();
        if path.is_dir() {
            files.extend(walk(&path));
        } else if path
            .extension()
            .is_some_and(|extension| extension == "jsonl")
        {
            files.push(path);
        }
    }
    files
}

#[test]
fn check_validates_plugin_configuration_against_the_plugins_schema_with_positions() {
    let scratch = Scratch::new();
    sentiment_job(
        &scratch,
        "plugins:\n  request:\n    uses: pii.wasm\n    with:\n      emails: yes please\n  validate:\n    - uses: validator.wasm\n      with: {fields: {}}\n    - uses: missing.wasm\n    - uses: future.wasm\n",
    );
    copy_plugin(&scratch, "pii_scrub", "pii.wasm");
    copy_plugin(&scratch, "label_normalizer", "validator.wasm");
    copy_plugin(&scratch, "other_version", "future.wasm");
    let outcome = scratch.run(&["check", "job.yaml"]);
    assert_eq!(outcome.code, 2, "{outcome:?}");
    // A missing file is a spec error found while resolving, reported alone first.
    assert!(
        outcome.stderr.contains("cannot read plugin `missing.wasm`"),
        "{outcome:?}"
    );
    assert!(outcome.stderr.contains("job.yaml:18:13"), "{outcome:?}");
    scratch.write(
        "job.yaml",
        std::fs::read_to_string(scratch.path().join("job.yaml"))
            .unwrap()
            .replace("    - uses: missing.wasm\n", ""),
    );
    let outcome = scratch.run(&["check", "job.yaml"]);
    assert_eq!(outcome.code, 2, "{outcome:?}");
    let stderr = &outcome.stderr;
    // All three problems at once, each at its line.
    assert!(
        stderr.contains("pii-scrub@1.0.0 configuration: \"yes please\" is not of type \"boolean\""),
        "{stderr}"
    );
    assert!(stderr.contains("job.yaml:14:15"), "{stderr}");
    assert!(
        stderr.contains("label-normalizer@1.0.0 configuration"),
        "{stderr}"
    );
    assert!(stderr.contains("job.yaml:17:22"), "{stderr}");
    assert!(stderr.contains("job.yaml:18:13"), "{stderr}");
    assert!(
        stderr.contains(
            "was built against the plugin interface 2.0.0, but this batchlabel runs interface 1.0.0"
        ),
        "{stderr}"
    );
    assert!(stderr.contains("3 problems"), "{stderr}");
}

/// A job whose validator is the hostile plugin, misbehaving on row t3 only.
fn hostile_run(behaviour: &str) -> (Scratch, crate::Outcome) {
    let scratch = Scratch::new();
    sentiment_job(
        &scratch,
        &format!(
            "plugins:\n  validate:\n    - uses: hostile.wasm\n      with: {{behaviour: {behaviour}, rows: [t3]}}\n"
        ),
    );
    copy_plugin(&scratch, "hostile", "hostile.wasm");
    let server = LocalServer::start(scratch.path(), &["--script", "script.json"]);
    let outcome = run(&scratch, &server, &[]);
    (scratch, outcome)
}

/// The run finished (exit 1), row t3 failed with `reason` and a detail containing each of
/// `expected`, and every other row was labeled.
fn assert_only_t3_failed(
    scratch: &Scratch,
    outcome: &crate::Outcome,
    reason: &str,
    expected: &[&str],
) {
    assert_eq!(outcome.code, 1, "{outcome:?}");
    let labeled: Vec<String> = labels(scratch).into_iter().map(|(id, _)| id).collect();
    assert_eq!(labeled, ["t1", "t2", "t4", "t5", "t6"], "{outcome:?}");
    let errors = errors(scratch);
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert_eq!(errors[0]["id"], "t3");
    assert_eq!(errors[0]["reason"], reason, "{errors:?}");
    let detail = errors[0]["detail"].as_str().unwrap();
    for text in expected {
        assert!(detail.contains(text), "`{text}` not in `{detail}`");
    }
}

#[test]
fn an_endless_loop_times_out_on_its_row_only() {
    let (scratch, outcome) = hostile_run("loop");
    assert_only_t3_failed(
        &scratch,
        &outcome,
        "plugin_error",
        &[
            "hostile@1.0.0 timed out: still running after 1000 ms",
            "(row t3)",
        ],
    );
}

#[test]
fn a_memory_bomb_hits_the_memory_cap_on_its_row_only() {
    let (scratch, outcome) = hostile_run("memory");
    assert_only_t3_failed(
        &scratch,
        &outcome,
        "plugin_error",
        &[
            "hostile@1.0.0 exceeded its memory limit of 64 MiB",
            "(row t3)",
        ],
    );
}

#[test]
fn deep_recursion_overflows_the_stack_on_its_row_only() {
    let (scratch, outcome) = hostile_run("recursion");
    assert_only_t3_failed(
        &scratch,
        &outcome,
        "plugin_error",
        &["hostile@1.0.0 stack overflow", "(row t3)"],
    );
}

#[test]
fn a_plugin_cannot_open_files() {
    let (scratch, outcome) = hostile_run("file");
    assert_only_t3_failed(
        &scratch,
        &outcome,
        "plugin_rejected",
        &["cannot open /etc/passwd: No such file or directory"],
    );
}

#[test]
fn a_plugin_cannot_read_the_environment() {
    // The run's own environment has HOME (and would have API keys): the plugin sees none.
    let (scratch, outcome) = hostile_run("env");
    assert_only_t3_failed(
        &scratch,
        &outcome,
        "plugin_rejected",
        &["HOME: environment variable not found (0 variables visible)"],
    );
}

#[test]
fn a_panicking_plugin_fails_its_row_with_the_panic_message() {
    let (scratch, outcome) = hostile_run("panic");
    assert_only_t3_failed(
        &scratch,
        &outcome,
        "plugin_error",
        &[
            "hostile@1.0.0 panicked",
            "hostile plugin panicked on row t3",
        ],
    );
}

#[test]
fn invalid_json_from_a_plugin_fails_its_row() {
    let (scratch, outcome) = hostile_run("invalid-json");
    assert_only_t3_failed(
        &scratch,
        &outcome,
        "plugin_error",
        &[
            "hostile@1.0.0 returned an output that is not JSON",
            "`{this is not json`",
            "(row t3)",
        ],
    );
}

#[test]
fn a_plugin_built_against_another_interface_version_is_refused_naming_both() {
    let scratch = Scratch::new();
    sentiment_job(&scratch, "plugins:\n  validate:\n    - uses: future.wasm\n");
    copy_plugin(&scratch, "other_version", "future.wasm");
    let server = LocalServer::start(scratch.path(), &[]);
    let outcome = run(&scratch, &server, &[]);
    assert_eq!(outcome.code, 2, "{outcome:?}");
    assert!(
        outcome.stdout.contains(
            "was built against the plugin interface 2.0.0, but this batchlabel runs interface 1.0.0"
        ),
        "{outcome:?}"
    );
    assert_eq!(server.stats()["uploads"], 0);
}

#[test]
fn a_request_builder_that_fails_a_row_fails_that_row_only() {
    for (behaviour, reason, expected) in [
        ("loop", "plugin_error", "hostile-builder@1.0.0 timed out"),
        (
            "panic",
            "plugin_error",
            "hostile builder panicked on row t3",
        ),
        (
            "reject",
            "plugin_rejected",
            "hostile-builder@1.0.0 rejected the row: row t3 is not allowed",
        ),
        (
            "invalid-json",
            "plugin_error",
            "returned body fields that are not a JSON object",
        ),
    ] {
        let scratch = Scratch::new();
        sentiment_job(
            &scratch,
            &format!(
                "plugins:\n  request: {{uses: builder.wasm, with: {{behaviour: {behaviour}, rows: [t3]}}}}\n"
            ),
        );
        copy_plugin(&scratch, "hostile_builder", "builder.wasm");
        let server = LocalServer::start(scratch.path(), &["--script", "script.json"]);
        let outcome = run(&scratch, &server, &[]);
        assert_only_t3_failed(&scratch, &outcome, reason, &[expected, "(row t3)"]);
    }
}

#[test]
fn the_plugins_unit_tests_pass() {
    let workspace = repository().join("plugins");
    let output = std::process::Command::new(env!("CARGO"))
        .args(["test", "--quiet", "--manifest-path"])
        .arg(workspace.join("Cargo.toml"))
        .arg("--target-dir")
        .arg(workspace.join("target"))
        .output()
        .expect("run cargo test on plugins/");
    assert!(
        output.status.success(),
        "plugin unit tests failed:\n{}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}
