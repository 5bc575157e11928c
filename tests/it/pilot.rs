//! `batchlabel pilot`: example specs against a real `batchlabel serve` (scripted answers,
//! injected 429s) and against the embedded model, the reproducible sample, and the
//! projection of the full run.

use serde_json::Value;

use crate::local_server::LocalServer;
use crate::{Outcome, Scratch, repository};

fn pilot(scratch: &Scratch, spec: &str, extra: &[&str]) -> Outcome {
    let mut args = vec!["pilot", spec];
    args.extend_from_slice(extra);
    scratch.run(&args)
}

fn report(outcome: &Outcome) -> Value {
    let value: Value =
        serde_json::from_str(&outcome.stdout).unwrap_or_else(|_| panic!("{outcome:?}"));
    value["pilot"].clone()
}

fn example(name: &str) -> String {
    repository()
        .join("specs")
        .join(name)
        .to_string_lossy()
        .into_owned()
}

fn ids(report: &Value) -> Vec<String> {
    report["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|row| row["id"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn a_pilot_against_serve_prints_the_table_and_projects_the_full_run() {
    let scratch = Scratch::new();
    let server = LocalServer::start(scratch.path(), &[]);
    let spec = example("tweet-sentiment.yaml");
    let base_url = server.base_url();
    let outcome = pilot(&scratch, &spec, &["--rows", "50", "--base-url", &base_url]);
    assert_eq!(outcome.code, 0, "{outcome:?}");
    // The table: a header, one line per row with its labels, then the summary.
    let table: Vec<&str> = outcome
        .stdout
        .lines()
        .filter(|line| line.contains("sentiment="))
        .collect();
    assert_eq!(table.len(), 50, "{}", outcome.stdout);
    assert!(
        outcome
            .stdout
            .contains("pilot of tweet-sentiment: 50 rows in 50 requests"),
        "{}",
        outcome.stdout
    );
    assert!(
        outcome
            .stdout
            .contains("projected batch run: 300 rows → 300 requests"),
        "{}",
        outcome.stdout
    );
    assert!(
        outcome.stdout.contains("at the batch price"),
        "{}",
        outcome.stdout
    );
    // Nothing went through the batch API.
    assert_eq!(server.stats()["batches"], 0);

    let json = pilot(
        &scratch,
        &spec,
        &["--rows", "50", "--base-url", &base_url, "--json"],
    );
    let report = report(&json);
    assert_eq!(report["labeled"], 50);
    let projection = &report["projection"];
    assert_eq!(projection["rows"], 300);
    let per_answer = projection["output_tokens_per_request"].as_f64().unwrap();
    assert!(per_answer > 0.0);
    // Projected cost: the tokenizer's input count and the observed output length, batch price.
    let expected = (projection["input_tokens"].as_f64().unwrap() * 0.075
        + projection["output_tokens"].as_f64().unwrap() * 0.30)
        / 1e6;
    let cost = projection["cost_usd"].as_f64().unwrap();
    assert!((cost - expected).abs() < 1e-12, "{cost} vs {expected}");
    assert!(projection["cost_usd_max"].as_f64().unwrap() >= cost);
}

#[test]
fn the_sample_is_reproducible_and_first_takes_the_first_rows() {
    let scratch = Scratch::new();
    let server = LocalServer::start(scratch.path(), &[]);
    let spec = example("clinc150-intent.yaml");
    let base_url = server.base_url();
    let run = |extra: &[&str]| {
        let mut args = vec!["--rows", "10", "--base-url", &base_url, "--json"];
        args.extend_from_slice(extra);
        let outcome = pilot(&scratch, &spec, &args);
        assert_eq!(outcome.code, 0, "{outcome:?}");
        ids(&report(&outcome))
    };
    let first = run(&["--seed", "7"]);
    assert_eq!(first.len(), 10);
    assert_eq!(run(&["--seed", "7"]), first);
    assert_ne!(run(&["--seed", "8"]), first);
    let expected: Vec<String> = (1..=10).map(|index| format!("c{index:04}")).collect();
    assert_eq!(run(&["--first"]), expected);
}

#[test]
fn a_pilot_retries_injected_rate_limits_and_labels_every_row() {
    let scratch = Scratch::new();
    // Every third API call answers 429 with a short retry-after.
    let server = LocalServer::start(scratch.path(), &["--fault-http", "429:3"]);
    let base_url = server.base_url();
    let outcome = pilot(
        &scratch,
        &example("tweet-sentiment.yaml"),
        &[
            "--rows",
            "50",
            "--base-url",
            &base_url,
            "--json",
            "--concurrency",
            "4",
        ],
    );
    assert_eq!(outcome.code, 0, "{outcome:?}");
    let report = report(&outcome);
    assert_eq!(report["labeled"], 50, "{report:#}");
    assert_eq!(report["failed"], 0, "{report:#}");
    // 50 answered calls plus r retries, every third call refused: r = ⌊(50 + r) / 3⌋ → 24 or 25.
    let retries = report["retries"].as_u64().unwrap();
    assert!((24..=25).contains(&retries), "retries: {retries}");
}

#[test]
fn a_pilot_on_the_local_model_labels_and_calibrates_every_row() {
    let scratch = Scratch::new();
    let outcome = pilot(
        &scratch,
        &example("tweet-sentiment-local.yaml"),
        &["--rows", "50", "--threads", "1", "--json"],
    );
    assert_eq!(outcome.code, 0, "{outcome:?}");
    let report = report(&outcome);
    assert_eq!(report["labeled"], 50, "{report:#}");
    let labels: std::collections::BTreeSet<&str> = report["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|row| row["labels"]["sentiment"].as_str().unwrap())
        .collect();
    // Calibration over the pilot's rows makes every label reachable (raw scores never say
    // NEUTRAL).
    assert_eq!(labels.len(), 3, "{labels:?}");
    assert_eq!(report["projection"]["rows"], 300);
    assert_eq!(report["projection"]["cost_usd"], 0.0);
    let text = pilot(
        &scratch,
        &example("tweet-sentiment-local.yaml"),
        &["--rows", "5", "--threads", "1"],
    );
    assert_eq!(text.code, 0, "{text:?}");
    assert!(
        text.stdout.contains("projected batch run: 300 rows"),
        "{text:?}"
    );
}

/// The tweet-sentiment example on another provider: its `model:` block replaced, its input
/// read where it is.
fn example_on(scratch: &Scratch, model: &str) -> String {
    let spec = std::fs::read_to_string(example("tweet-sentiment.yaml")).unwrap();
    let (head, rest) = spec.split_once("\nmodel:\n").expect("a model block");
    let (_, tail) = rest.split_once("\noutput:\n").expect("an output block");
    let data = repository().join("specs").join("data");
    let text = format!("{head}\nmodel:\n{model}output:\n{tail}")
        .replace("csv: data/", &format!("csv: {}/", data.display()));
    scratch.write("on-provider.yaml", text);
    scratch
        .path()
        .join("on-provider.yaml")
        .to_string_lossy()
        .into_owned()
}

#[test]
fn a_pilot_runs_on_each_providers_synchronous_endpoint_through_rate_limits() {
    let scratch = Scratch::new();
    // Every third call answers 429 with each protocol's rate-limit headers.
    let server = LocalServer::start(scratch.path(), &["--fault-http", "429:3"]);
    let origin = format!("http://{}", server.address);
    for (name, model) in [
        (
            "anthropic",
            format!(
                "  provider: anthropic\n  name: claude-haiku-4-5\n  temperature: 0\n  base_url: {origin}\n"
            ),
        ),
        (
            "azure",
            format!(
                "  provider: azure_openai\n  name: gpt-4o-mini\n  temperature: 0\n  azure: {{endpoint: \"{origin}\", deployment: labels, api_version: 2024-10-21}}\n"
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
    ] {
        let spec = example_on(&scratch, &model);
        let outcome = pilot(&scratch, &spec, &["--rows", "20", "--json"]);
        assert_eq!(outcome.code, 0, "{name}: {outcome:?}");
        let report = report(&outcome);
        assert_eq!(report["labeled"], 20, "{name}: {report:#}");
        assert_eq!(report["failed"], 0, "{name}: {report:#}");
        assert!(
            report["retries"].as_u64().unwrap() >= 6,
            "{name}: {report:#}"
        );
    }
}

#[test]
fn compare_pack_sends_the_same_rows_packed_and_compares_their_labels() {
    let scratch = Scratch::new();
    let server = LocalServer::start(scratch.path(), &[]);
    let spec = example("tweet-sentiment.yaml");
    let base_url = server.base_url();
    let args = [
        "--rows",
        "40",
        "--base-url",
        &base_url,
        "--compare-pack",
        "10",
    ];
    let outcome = pilot(&scratch, &spec, &[&args[..], &["--json"]].concat());
    assert_eq!(outcome.code, 0, "{outcome:?}");
    let value: Value = serde_json::from_str(&outcome.stdout).unwrap();
    assert_eq!(value["pilot"]["requests"], 40);
    let compare = &value["compare"];
    assert_eq!(compare["pack"], 10);
    assert_eq!(compare["pilot"]["requests"], 4, "{compare:#}");
    assert_eq!(compare["pilot"]["labeled"], 40, "{compare:#}");
    assert_eq!(compare["rows_compared"], 40);
    // The scripted engine labels a row the same alone or packed.
    assert_eq!(compare["same_labels"], 40, "{compare:#}");
    assert_eq!(compare["agreement"], 1.0);
    // Packed, a row costs fewer input tokens (the prompt and schema are shared).
    let per_row = |report: &Value| {
        report["input_tokens"].as_f64().unwrap() / report["rows"].as_f64().unwrap()
    };
    assert!(per_row(&compare["pilot"]) < per_row(&value["pilot"]) / 2.0);
    let text = pilot(&scratch, &spec, &args);
    assert!(
        text.stdout
            .contains("packed vs as the spec says: 40 of 40 row(s) labeled on both sides have the same labels (100.0%)"),
        "{}",
        text.stdout
    );

    // A job that cannot be packed is refused before anything is sent.
    let local = example("tweet-sentiment-local.yaml");
    let refused = pilot(&scratch, &local, &["--pack", "5"]);
    assert_eq!(refused.code, 2, "{refused:?}");
    assert!(
        refused.stderr.contains("labels one row at a time"),
        "{refused:?}"
    );
}
