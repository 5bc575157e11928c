//! Budgets: a run whose pre-flight bound exceeds `budget.max_usd` sends nothing and says by
//! how much; a run within budget reserves every shard's bound before submitting it, and
//! records the usage the output files report as the actual cost.

use serde_json::Value;

use crate::Scratch;
use crate::local_server::LocalServer;
use crate::run::{job, run};

fn estimate_usd(scratch: &Scratch) -> f64 {
    let outcome = scratch.run(&["estimate", "job.yaml", "--json"]);
    assert_eq!(outcome.code, 0, "{outcome:?}");
    let value: Value = serde_json::from_str(&outcome.stdout).expect("estimate JSON");
    value["estimate"]["cost_usd_max"].as_f64().expect("bounded")
}

fn with_budget(scratch: &Scratch, max_usd: &str) {
    let spec = std::fs::read_to_string(scratch.path().join("job.yaml")).expect("spec");
    scratch.write("job.yaml", format!("{spec}budget:\n  max_usd: {max_usd}\n"));
}

#[test]
fn a_run_over_budget_submits_nothing_and_says_by_how_much() {
    let scratch = Scratch::new();
    job(&scratch, 120, 50, 1);
    let bound = estimate_usd(&scratch);
    let budget = bound / 2.0;
    with_budget(&scratch, &format!("{budget:.10}"));
    let server = LocalServer::start(scratch.path(), &[]);
    let outcome = run(&scratch, &server, &[]);
    assert_eq!(outcome.code, 2, "{outcome:?}");
    let value: Value = serde_json::from_str(&outcome.stdout).expect("JSON error");
    let message = value["error"].as_str().expect("error text");
    assert!(message.contains("over budget"), "{message}");
    assert!(
        message.contains("120 request(s) in 3 shard(s)"),
        "{message}"
    );
    assert!(
        message.contains(&format!("over by ${:.4}", bound - budget)),
        "{message} (bound {bound})"
    );
    assert!(message.contains("nothing more was submitted"), "{message}");
    let stats = server.stats();
    assert_eq!(stats["uploads"], 0, "{stats}");
    assert_eq!(stats["batches"], 0, "{stats}");

    // The text form names the way out.
    let text = scratch.run(&["run", "job.yaml", "--base-url", &server.base_url()]);
    assert_eq!(text.code, 2, "{text:?}");
    assert!(
        text.stderr.contains("hint: `batchlabel estimate SPEC`"),
        "{text:?}"
    );

    // Raising the budget for one run resumes the same run and labels everything.
    let outcome = run(&scratch, &server, &["--max-usd", &format!("{bound}")]);
    assert_eq!(outcome.code, 0, "{outcome:?}");
    assert_eq!(crate::run::summary(&outcome)["labeled_rows"], 120);
    assert_eq!(crate::run::summary(&outcome)["run"], 1);
}

#[test]
fn a_run_within_budget_records_the_usage_its_output_files_report() {
    let scratch = Scratch::new();
    job(&scratch, 200, 40, 3);
    with_budget(&scratch, "1");
    crate::keep_remote_files(&scratch);
    // Malformed lines are retried: the retry shards need bounds of their own.
    let server = LocalServer::start(scratch.path(), &["--fault-malformed-every", "9"]);
    let outcome = run(&scratch, &server, &[]);
    assert_eq!(outcome.code, 0, "{outcome:?}");
    let status = crate::run::status(&scratch);
    let cost = &status["cost"];
    let shards = status["shards"].as_array().expect("shards");
    assert!(
        shards.iter().any(|shard| shard["attempt"] == 2),
        "expected retry shards: {status:#}"
    );
    for shard in shards {
        assert!(shard["reserved_at"].is_i64(), "not reserved: {shard}");
        assert!(
            shard["estimate"]["cost_usd_max"].is_f64(),
            "no bound: {shard}"
        );
    }
    assert_eq!(cost["estimated_shards"], shards.len());
    assert_eq!(cost["reported_shards"], shards.len());
    assert_eq!(cost["reserved_usd"], 0.0);

    // Sum the usage fields of every output file the server wrote, by hand.
    let (mut prompt, mut completion) = (0u64, 0u64);
    for output in server.stored_files("batch_output") {
        for line in output.lines() {
            let Ok(value) = serde_json::from_str::<Value>(line) else {
                continue; // an injected malformed line has no usage to count
            };
            let usage = &value["response"]["body"]["usage"];
            prompt += usage["prompt_tokens"].as_u64().unwrap_or(0);
            completion += usage["completion_tokens"].as_u64().unwrap_or(0);
        }
    }
    assert!(prompt > 0 && completion > 0);
    assert_eq!(cost["actual_input_tokens"], prompt, "{cost:#}");
    assert_eq!(cost["actual_output_tokens"], completion, "{cost:#}");
    let expected_usd = (prompt as f64 * 0.075 + completion as f64 * 0.30) / 1e6;
    let actual_usd = cost["actual_usd"].as_f64().unwrap();
    assert!(
        (actual_usd - expected_usd).abs() < 1e-12,
        "{actual_usd} vs {expected_usd}"
    );
    assert!(cost["estimated_usd_max"].as_f64().unwrap() >= actual_usd);

    let text = scratch.run(&["status", "job.yaml"]);
    assert!(text.stdout.contains("estimated ≤ $"), "{text:?}");
    assert!(
        text.stdout.contains(&format!("actual ${actual_usd:.4}")),
        "{text:?}"
    );
}

#[test]
fn a_budget_without_a_price_is_refused_before_anything_runs() {
    let scratch = Scratch::new();
    job(&scratch, 10, 50, 1);
    let spec = std::fs::read_to_string(scratch.path().join("job.yaml"))
        .expect("spec")
        .replace("name: gpt-4o-mini", "name: my-own-llama");
    scratch.write("job.yaml", format!("{spec}budget:\n  max_usd: 5\n"));
    let server = LocalServer::start(scratch.path(), &[]);
    let outcome = run(&scratch, &server, &[]);
    assert_eq!(outcome.code, 2, "{outcome:?}");
    assert!(
        outcome.stdout.contains("no price for model `my-own-llama`"),
        "{outcome:?}"
    );
    assert_eq!(server.stats()["uploads"], 0);
}

#[test]
fn cached_prompt_tokens_are_priced_at_the_cached_rate_and_shown() {
    let scratch = Scratch::new();
    job(&scratch, 30, 100, 1);
    // A system prompt over 1024 tokens: after the first request, serve (like OpenAI)
    // serves it from the prompt cache and reports those tokens as cached.
    let long = "Label the sentiment of the comment, weighing its tone, its irony and its context. "
        .repeat(70);
    let spec = std::fs::read_to_string(scratch.path().join("job.yaml")).unwrap();
    scratch.write(
        "job.yaml",
        spec.replace(
            "  system: Label the sentiment.",
            &format!("  system: \"{long}\""),
        ),
    );
    let server = LocalServer::start(scratch.path(), &[]);
    let outcome = run(&scratch, &server, &[]);
    assert_eq!(outcome.code, 0, "{outcome:?}");
    let status = crate::run::status(&scratch);
    let cost = &status["cost"];
    let input = cost["actual_input_tokens"].as_u64().unwrap();
    let cached = cost["actual_cached_tokens"].as_u64().unwrap();
    let output = cost["actual_output_tokens"].as_u64().unwrap();
    // Every request but the first had its prefix cached, in steps of 128 tokens.
    assert!(cached > 0 && cached.is_multiple_of(128), "{cost:#}");
    assert!(
        cached.is_multiple_of(29),
        "29 of 30 requests cached: {cost:#}"
    );
    assert!(cached / 29 >= 1024, "{cost:#}");
    // Cached input at half of gpt-4o-mini's batch input price.
    let expected =
        ((input - cached) as f64 * 0.075 + cached as f64 * 0.0375 + output as f64 * 0.30) / 1e6;
    let actual = cost["actual_usd"].as_f64().unwrap();
    assert!((actual - expected).abs() < 1e-9, "{actual} vs {expected}");
    let text = scratch.run(&["status", "job.yaml"]);
    assert!(
        text.stdout.contains(&format!("of which {cached} cached")),
        "{}",
        text.stdout
    );
}

#[test]
fn packing_counts_in_estimates_and_budgets_and_matches_the_usage_the_server_reports() {
    let unpacked = Scratch::new();
    job(&unpacked, 200, 100, 1);
    let packed = Scratch::new();
    job(&packed, 200, 100, 1);
    crate::packing::packed(&packed, 50);
    let estimate = |scratch: &Scratch| -> Value {
        let outcome = scratch.run(&["estimate", "job.yaml", "--json"]);
        assert_eq!(outcome.code, 0, "{outcome:?}");
        let value: Value = serde_json::from_str(&outcome.stdout).expect("estimate JSON");
        value["estimate"].clone()
    };
    let (alone, together) = (estimate(&unpacked), estimate(&packed));
    assert_eq!(alone["requests_sent"], 200, "{alone:#}");
    assert_eq!(together["requests_sent"], 4, "{together:#}");
    let tokens = |estimate: &Value| estimate["input_tokens"].as_u64().unwrap();
    assert!(
        tokens(&together) * 2 < tokens(&alone),
        "{together:#} vs {alone:#}"
    );
    let dollars = |estimate: &Value| estimate["cost_usd_max"].as_f64().unwrap();
    assert!(dollars(&together) < dollars(&alone));

    // A budget between the two bounds: the unpacked job is refused, the packed one runs.
    let budget = format!("{:.10}", f64::midpoint(dollars(&together), dollars(&alone)));
    with_budget(&unpacked, &budget);
    with_budget(&packed, &budget);
    let server = LocalServer::start(packed.path(), &["--exact-usage"]);
    let refused = run(&unpacked, &server, &[]);
    assert_eq!(refused.code, 2, "{refused:?}");
    assert!(refused.stdout.contains("over budget"), "{refused:?}");
    let outcome = run(&packed, &server, &[]);
    assert_eq!(outcome.code, 0, "{outcome:?}");
    assert_eq!(crate::run::summary(&outcome)["labeled_rows"], 200);
    // The server counts what it was sent with the same tokenizer: the estimate was exact.
    let status = crate::run::status(&packed);
    assert_eq!(
        status["cost"]["actual_input_tokens"], together["input_tokens"],
        "{status:#}"
    );
}
