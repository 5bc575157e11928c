//! `batchlabel estimate`: tokens counted with the model's tokenizer, output bounded by the
//! label schema, dollars at the batch price, per shard and in total.

use std::fmt::Write as _;

use crate::{Scratch, batchlabel, repository, spec};

#[test]
fn estimate_counts_tokens_and_prices_per_shard() {
    let scratch = Scratch::new();
    let mut rows = String::from("id,text\n");
    for index in 0..120 {
        let _ = writeln!(rows, "{index},hello world");
    }
    scratch.write("rows.csv", rows);
    scratch.write("spec.yaml", spec("rows.csv", "  max_completion_tokens: 50\nbatch:\n  max_requests_per_file: 50\nbudget:\n  max_usd: 0.000001\n"));
    let outcome = scratch.run(&["estimate", "spec.yaml", "--json"]);
    assert_eq!(outcome.code, 0, "{outcome:?}");
    let value: serde_json::Value = serde_json::from_str(&outcome.stdout).unwrap();
    let estimate = &value["estimate"];
    assert_eq!(estimate["encoding"], "o200k_base");
    assert_eq!(estimate["rows"], 120);
    // Every row has the same body: one request serves all of them.
    assert_eq!(estimate["requests"], 1);
    assert_eq!(estimate["duplicate_rows"], 119);
    // "Label the sentiment." = 4 tokens, "hello world" = 2; 3 per message, 3 reply priming.
    let schema_tokens = estimate["schema_tokens_per_request"].as_u64().unwrap();
    assert!(schema_tokens > 10);
    assert_eq!(
        estimate["input_tokens"].as_u64().unwrap(),
        4 + 3 + 2 + 3 + 3 + schema_tokens
    );
    // `{"sentiment":"NEGATIVE"}`-sized bound, below max_completion_tokens.
    let per_request = estimate["output_tokens_per_request_max"].as_u64().unwrap();
    assert!((5..50).contains(&per_request), "{per_request}");
    assert_eq!(estimate["prices_as_of"], "2026-08-21");
    let cost = estimate["cost_usd_max"].as_f64().unwrap();
    let expected =
        (estimate["input_tokens"].as_f64().unwrap() * 0.075 + per_request as f64 * 0.30) / 1e6;
    assert!((cost - expected).abs() < 1e-12, "{cost} vs {expected}");
    let shards = estimate["shards"].as_array().unwrap();
    assert_eq!(shards.len(), 1);
    assert_eq!(shards[0]["input_tokens"], estimate["input_tokens"]);
}

#[test]
fn estimate_table_names_the_price_date_and_the_budget() {
    let outcome = batchlabel(&repository(), &["estimate", "specs/tweet-sentiment.yaml"]);
    assert_eq!(outcome.code, 0, "{outcome:?}");
    assert!(
        outcome.stdout.contains("300 rows → 300 requests"),
        "{outcome:?}"
    );
    assert!(outcome.stdout.contains("shard-00001.jsonl"), "{outcome:?}");
    assert!(
        outcome.stdout.contains("built-in table of 2026-08-21"),
        "{outcome:?}"
    );
    assert!(outcome.stdout.contains("within budget"), "{outcome:?}");
}

#[test]
fn unknown_models_still_get_token_counts() {
    let scratch = Scratch::new();
    scratch.write("rows.csv", "id,text\n1,a\n");
    scratch.write(
        "spec.yaml",
        spec("rows.csv", "").replace("gpt-4o-mini", "my-own-model"),
    );
    let outcome = scratch.run(&["estimate", "spec.yaml"]);
    assert_eq!(outcome.code, 0, "{outcome:?}");
    assert!(
        outcome
            .stdout
            .contains("no built-in price for `my-own-model`"),
        "{outcome:?}"
    );
    assert!(
        outcome
            .stdout
            .contains("(assumed: model unknown to tiktoken)"),
        "{outcome:?}"
    );
}
