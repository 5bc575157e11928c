//! Request packing (`batch.pack`), over real HTTP against `batchlabel serve`: packed runs
//! give the same labels as unpacked ones on every provider with a fraction of the requests;
//! a malformed or missing item is asked again alone, every item of a refused or cut-off pack
//! too, under the fault flags every row ends labeled, and a killed packed run resumes with
//! each row labeled once and no shard sent twice.

use std::collections::BTreeMap;

use serde_json::Value;

use crate::Scratch;
use crate::local_server::LocalServer;
use crate::run::{errors, job, results, run, summary};

/// `job.yaml` with `batch.pack: size`.
pub(crate) fn packed(scratch: &Scratch, size: u32) {
    let path = scratch.path().join("job.yaml");
    let spec = std::fs::read_to_string(&path).unwrap();
    assert!(spec.contains("\nbatch:\n"), "{spec}");
    std::fs::write(
        path,
        spec.replacen("\nbatch:\n", &format!("\nbatch:\n  pack: {size}\n"), 1),
    )
    .unwrap();
}

/// The request lines of each input the server was sent, oldest first.
fn sent_lines(server: &LocalServer) -> Vec<Vec<Value>> {
    server
        .stored_files("batch")
        .iter()
        .map(|file| {
            file.lines()
                .map(|line| serde_json::from_str(line).expect("request line"))
                .collect()
        })
        .collect()
}

#[test]
fn a_packed_run_gives_the_same_labels_with_a_tenth_of_the_requests() {
    let unpacked = Scratch::new();
    job(&unpacked, 40, 100, 2);
    let server = LocalServer::start(unpacked.path(), &[]);
    assert_eq!(run(&unpacked, &server, &[]).code, 0);

    let scratch = Scratch::new();
    job(&scratch, 40, 100, 2);
    packed(&scratch, 10);
    crate::keep_remote_files(&scratch);
    let outcome = run(&scratch, &server, &[]);
    assert_eq!(outcome.code, 0, "{outcome:?}");
    let summary = summary(&outcome);
    assert_eq!(summary["labeled_rows"], 40, "{summary:#}");
    assert_eq!(results(&scratch), results(&unpacked));
    // Provenance names the row's own request (custom_id) and the pack and item it was in.
    let mut reader = csv::Reader::from_path(scratch.path().join("out/results.csv")).unwrap();
    let headers = reader.headers().unwrap().clone();
    let column = |name: &str| headers.iter().position(|header| header == name).unwrap();
    let (custom_id, packed_in) = (column("custom_id"), column("packed_in"));
    let rows: Vec<csv::StringRecord> = reader.records().map(Result::unwrap).collect();
    let t12 = rows.iter().find(|row| &row[0] == "t12").unwrap();
    assert_eq!(&t12[custom_id], "r-t12");
    assert!(
        t12[packed_in].starts_with("pk-") && t12[packed_in].ends_with("#3"),
        "{t12:?}"
    );
    // One upload of 4 packs, each with one system prompt and ten numbered items.
    let inputs = sent_lines(&server);
    let packs = inputs.last().unwrap();
    assert_eq!(packs.len(), 4, "{packs:#?}");
    let body = &packs[0]["body"];
    let messages = body["messages"].as_array().unwrap();
    assert_eq!(messages.len(), 2);
    assert_eq!(messages[0]["content"], "Label the sentiment.");
    let prompt = messages[1]["content"].as_str().unwrap();
    assert!(
        prompt.contains("\n1 comment number 0 about the product"),
        "{prompt}"
    );
    assert!(
        prompt.contains("\n10 comment number 9 about the product"),
        "{prompt}"
    );
    let schema = &body["response_format"]["json_schema"]["schema"];
    assert_eq!(
        schema["properties"]["sentiment"]["properties"]["POSITIVE"]["items"]["type"], "integer",
        "{schema:#}"
    );
    // Tokens are shared out among a pack's items: the run's total is the packs' total.
    let usage: u64 = server
        .stored_files("batch_output")
        .iter()
        .flat_map(|file| file.lines().map(str::to_string).collect::<Vec<_>>())
        .map(|line| {
            let value: Value = serde_json::from_str(&line).unwrap();
            value["response"]["body"]["usage"]["prompt_tokens"]
                .as_u64()
                .unwrap_or(0)
        })
        .sum();
    let status = crate::run::status(&scratch);
    assert_eq!(status["cost"]["actual_input_tokens"], usage, "{status:#}");

    // The codes form: the same labels again, one character per row.
    let codes = Scratch::new();
    job(&codes, 40, 100, 2);
    packed(&codes, 10);
    let spec = std::fs::read_to_string(codes.path().join("job.yaml")).unwrap();
    codes.write(
        "job.yaml",
        spec.replace("  pack: 10\n", "  pack: 10\n  pack_answer: codes\n"),
    );
    let outcome = run(&codes, &server, &[]);
    assert_eq!(outcome.code, 0, "{outcome:?}");
    assert_eq!(results(&codes), results(&unpacked));
}

#[test]
fn a_code_string_that_does_not_line_up_is_asked_again_row_by_row() {
    let scratch = Scratch::new();
    job(&scratch, 20, 100, 3);
    packed(&scratch, 10);
    let spec = std::fs::read_to_string(scratch.path().join("job.yaml")).unwrap();
    scratch.write(
        "job.yaml",
        spec.replace("  pack: 10\n", "  pack: 10\n  pack_answer: codes\n"),
    );
    crate::keep_remote_files(&scratch);
    // Row 3 gets a label with no code once (`?`): only it is asked again. Row 14 is skipped
    // once: its pack's code string comes out short, so all of that pack goes again.
    scratch.write(
        "script.json",
        r#"[
          {"contains": "number 3 ", "content": "{\"sentiment\": \"joyful\"}", "times": 1},
          {"contains": "number 14 ", "content": "", "times": 1}
        ]"#,
    );
    let server = LocalServer::start(scratch.path(), &["--script", "script.json"]);
    let outcome = run(&scratch, &server, &[]);
    assert_eq!(outcome.code, 0, "{outcome:?}");
    assert_eq!(summary(&outcome)["labeled_rows"], 20);
    let inputs = sent_lines(&server);
    assert_eq!(inputs[0].len(), 2, "two packs");
    let mut retried: Vec<String> = inputs[1]
        .iter()
        .map(|line| line["custom_id"].as_str().unwrap().to_string())
        .collect();
    retried.sort_unstable();
    let mut expected: Vec<String> = std::iter::once(3)
        .chain(10..20)
        .map(|row| format!("r-t{row}"))
        .collect();
    expected.sort_unstable();
    assert_eq!(retried, expected);
}

#[test]
fn failed_items_are_asked_again_alone_and_every_row_ends_labeled() {
    let scratch = Scratch::new();
    job(&scratch, 40, 100, 3);
    packed(&scratch, 10);
    crate::keep_remote_files(&scratch);
    // Pack 1: item 1 answers a label outside the schema, item 2 is left out (once each).
    // Pack 2 is refused and pack 3 cut off as a whole (once); row 35 is refused every time.
    scratch.write(
        "script.json",
        r#"[
          {"contains": "number 1 ", "content": "{\"sentiment\": \"joyful\"}", "times": 1},
          {"contains": "number 2 ", "content": "", "times": 1},
          {"contains": "number 13 ", "refusal": "I can't help with that.", "times": 1},
          {"contains": "number 25 ", "content": "{\"sentiment\": {\"POS", "finish_reason": "length", "times": 1},
          {"contains": "number 35 ", "refusal": "Never."}
        ]"#,
    );
    let server = LocalServer::start(scratch.path(), &["--script", "script.json"]);
    let outcome = run(&scratch, &server, &[]);
    assert_eq!(outcome.code, 1, "row 35 stays refused: {outcome:?}");
    let summary = summary(&outcome);
    assert_eq!(summary["labeled_rows"], 39, "{summary:#}");
    assert_eq!(summary["failures"]["refusal"], 1, "{summary:#}");
    let labels = results(&scratch);
    assert_eq!(labels.len(), 39);
    assert!(["POSITIVE", "NEGATIVE", "NEUTRAL"].contains(&labels["t1"].as_str()));
    let refused = errors(&scratch);
    assert_eq!(refused.len(), 1, "{refused:#?}");
    assert_eq!(refused[0]["id"], "t35");
    assert_eq!(refused[0]["reason"], "refusal");

    let inputs = sent_lines(&server);
    assert_eq!(inputs[0].len(), 4, "four packs first");
    // The retry goes unpacked: items 1 and 2 of pack 1, all of packs 2 and 3, and pack 4's
    // refused row 35 (which refuses its whole pack).
    let retried: Vec<&str> = inputs[1]
        .iter()
        .map(|line| line["custom_id"].as_str().unwrap())
        .collect();
    let mut expected: Vec<String> = ["r-t1", "r-t2"].map(str::to_string).to_vec();
    expected.extend((10..40).map(|row| format!("r-t{row}")));
    let mut sorted = retried.clone();
    sorted.sort_unstable();
    expected.sort_unstable();
    assert_eq!(sorted, expected);
    let t1 = inputs[1]
        .iter()
        .find(|line| line["custom_id"] == "r-t1")
        .unwrap();
    let conversation = t1["body"]["messages"].to_string();
    assert!(conversation.contains("joyful"), "{conversation}");
    assert!(
        conversation.contains("Your previous answer was rejected: at `/sentiment`"),
        "{conversation}"
    );
    let t2 = inputs[1]
        .iter()
        .find(|line| line["custom_id"] == "r-t2")
        .unwrap();
    assert_eq!(
        t2["body"]["messages"].as_array().unwrap().len(),
        2,
        "a missing item is asked again as it was"
    );
}

#[test]
fn packed_runs_end_with_every_row_labeled_under_every_fault_on_every_provider() {
    let server_dir = tempfile::tempdir().unwrap();
    let server = LocalServer::start(
        server_dir.path(),
        &[
            "--fault-http",
            "429:5",
            "--fault-drop-every",
            "6",
            "--fault-batch",
            "expired:5",
            "--fault-malformed-every",
            "7",
            "--fault-missing-every",
            "5",
            "--fault-line-error-every",
            "9",
            "--fault-item-invalid-every",
            "7",
            "--fault-item-missing-every",
            "11",
            "--fault-pack-refusal-every",
            "8",
            "--fault-pack-truncate-every",
            "6",
        ],
    );
    let origin = format!("http://{}", server.address);
    let mut all: Vec<(String, BTreeMap<String, String>)> = Vec::new();
    for (name, block) in [
        (
            "openai",
            format!("  provider: openai\n  name: gpt-4o-mini\n  base_url: {origin}/v1\n"),
        ),
        (
            "azure",
            format!(
                "  provider: azure_openai\n  name: gpt-4o-mini\n  azure: {{endpoint: \"{origin}\", deployment: labels-batch}}\n"
            ),
        ),
        (
            "anthropic",
            format!("  provider: anthropic\n  name: claude-haiku-4-5\n  base_url: {origin}\n"),
        ),
        (
            "gemini",
            format!("  provider: gemini\n  name: gemini-2.5-flash\n  base_url: {origin}\n"),
        ),
        (
            "mistral",
            format!("  provider: mistral\n  name: mistral-small-latest\n  base_url: {origin}\n"),
        ),
    ] {
        let scratch = Scratch::new();
        crate::providers::job(&scratch, &block);
        let spec = std::fs::read_to_string(scratch.path().join("job.yaml")).unwrap();
        scratch.write(
            "job.yaml",
            spec.replace("name: providers", &format!("name: packed-{name}"))
                .replace(
                    "max_requests_per_file: 5\n",
                    "max_requests_per_file: 5\n  max_attempts: 8\n  pack: 3\n",
                ),
        );
        let outcome = crate::providers::run(&scratch);
        assert_eq!(outcome.code, 0, "{name}: {outcome:?}");
        let rows = crate::providers::ROWS;
        assert_eq!(
            summary(&outcome)["labeled_rows"],
            rows as u64,
            "{name}: {outcome:?}"
        );
        all.push((name.to_string(), results(&scratch)));
    }
    for (name, labels) in &all[1..] {
        assert_eq!(labels, &all[0].1, "{name} labels differ from openai's");
    }
    let stats = server.stats();
    for (file, count) in stats["uploads_by_filename"].as_object().unwrap() {
        assert_eq!(count, 1, "{file} uploaded twice: {stats:#}");
    }
    for (metadata, count) in stats["batches_by_metadata"].as_object().unwrap() {
        assert_eq!(count, 1, "{metadata} created twice: {stats:#}");
    }
    let gemini = stats["gemini_batches_by_display_name"].as_object().unwrap();
    assert!(!gemini.is_empty(), "{stats:#}");
    for (name, count) in gemini {
        assert_eq!(count, 1, "{name} created twice: {stats:#}");
    }
}

#[test]
fn a_packed_spec_that_cannot_pack_is_refused_at_its_line() {
    let scratch = Scratch::new();
    job(&scratch, 3, 100, 2);
    packed(&scratch, 5);
    let spec = std::fs::read_to_string(scratch.path().join("job.yaml")).unwrap();
    scratch.write(
        "job.yaml",
        spec.replace(
            "  system: Label the sentiment.\n",
            "  system: \"Label {{ id }}.\"\n",
        ),
    );
    let outcome = scratch.run(&["check", "job.yaml"]);
    assert_eq!(outcome.code, 2, "{outcome:?}");
    assert!(
        outcome.stdout.contains("`prompt.system` reads row data")
            || outcome.stderr.contains("`prompt.system` reads row data"),
        "{outcome:?}"
    );
    assert!(
        outcome.stdout.contains("job.yaml:") || outcome.stderr.contains("job.yaml:"),
        "{outcome:?}"
    );
}
