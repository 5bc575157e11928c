//! Few-shot examples (issue 17): examples from a labeled pool become user/assistant turns
//! after the system prompt; a row never gets itself; selection is reproducible; a pool with an
//! invalid label is refused at its line; the pool's bytes are part of the fingerprint; and a
//! local run with `select: similar` (by words, and by the local model's embeddings) labels every
//! row.

use serde_json::Value;

use crate::Scratch;

const POOL: &str = "id,text,sentiment\np1,the battery died after one day,NEGATIVE\np2,love this phone so much,POSITIVE\np3,the parcel came on tuesday,NEUTRAL\np4,worst battery ever,negative\np5,great camera and great screen,POSITIVE\n";

fn job(scratch: &Scratch, select: &str, provider: &str) {
    scratch.write("pool.csv", POOL);
    scratch.write(
        "rows.csv",
        "id,text\nr1,my battery died again\nr2,the parcel came on tuesday\np5,what a great camera\nr4,it is a phone\n",
    );
    scratch.write(
        "job.yaml",
        format!(
            "name: shots\ninput:\n  csv: rows.csv\n  id: id\n  text: text\nprompt:\n  system: Label the sentiment.\n  user: \"{{{{ text }}}}\"\nlabels:\n  sentiment:\n    one_of: [POSITIVE, NEGATIVE, NEUTRAL]\nexamples:\n  file: pool.csv\n  k: 2\n  select: {select}\nmodel:\n{provider}output:\n  csv: out/results.csv\n"
        ),
    );
}

/// The request `check --show-request --row` shows for the row with id `row`.
fn request(scratch: &Scratch, row: &str) -> Value {
    let outcome = scratch.run(&["check", "job.yaml", "--show-request", "--row", row]);
    assert_eq!(outcome.code, 0, "{outcome:?}");
    let start = outcome.stdout.find('{').expect("a request");
    serde_json::from_str(&outcome.stdout[start..]).expect("JSON request")
}

fn turns(request: &Value) -> Vec<(String, String)> {
    request["body"]["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|message| {
            (
                message["role"].as_str().unwrap().to_string(),
                message["content"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

const OPENAI: &str = "  provider: openai\n  name: gpt-4o-mini\n";

#[test]
fn similar_examples_are_turns_before_the_row_and_never_the_row_itself() {
    let scratch = Scratch::new();
    job(&scratch, "similar", OPENAI);
    let first = turns(&request(&scratch, "r1"));
    assert_eq!(first[0].0, "system");
    assert_eq!(
        first.len(),
        6,
        "system, 2 × (user, assistant), the row: {first:?}"
    );
    // The most similar (both battery examples), the closest last; answers are valid JSON
    // with the canonical label.
    assert_eq!(first[3].1, "the battery died after one day");
    assert_eq!(first[4].1, r#"{"sentiment":"NEGATIVE"}"#);
    assert_eq!(
        first[2].1, r#"{"sentiment":"NEGATIVE"}"#,
        "`negative` became NEGATIVE"
    );
    assert_eq!(first[5], ("user".into(), "my battery died again".into()));
    // A row whose text is an example's, or whose id is one's, never sees it.
    let second = turns(&request(&scratch, "r2"));
    assert!(
        second
            .iter()
            .filter(|turn| turn.1 == "the parcel came on tuesday")
            .count()
            == 1,
        "{second:?}"
    );
    let third = turns(&request(&scratch, "p5"));
    assert!(
        !third
            .iter()
            .any(|turn| turn.1 == "great camera and great screen"),
        "{third:?}"
    );
    // `check` says how many rows the pool shares with the input.
    let outcome = scratch.run(&["check", "job.yaml"]);
    assert!(
        outcome
            .stdout
            .contains("warning: 2 input row(s) are also in the examples pool"),
        "{outcome:?}"
    );
}

#[test]
fn fixed_and_random_draws_are_reproducible_and_enter_the_fingerprint() {
    let scratch = Scratch::new();
    job(&scratch, "fixed", OPENAI);
    let (a, b) = (
        turns(&request(&scratch, "r1")),
        turns(&request(&scratch, "r4")),
    );
    assert_eq!(a[1..5], b[1..5], "fixed: the same examples for every row");
    job(&scratch, "random", OPENAI);
    assert_eq!(
        turns(&request(&scratch, "r1")),
        turns(&request(&scratch, "r1"))
    );
    let fingerprint = |scratch: &Scratch| {
        let outcome = scratch.run(&["check", "job.yaml"]);
        assert_eq!(outcome.code, 0, "{outcome:?}");
        outcome.stdout.split("fingerprint ").nth(1).unwrap()[..12].to_string()
    };
    // `estimate` counts the examples' tokens: every row pays for its two examples' turns.
    let input_tokens = |scratch: &Scratch| -> u64 {
        let outcome = scratch.run(&["estimate", "job.yaml"]);
        assert_eq!(outcome.code, 0, "{outcome:?}");
        let total = outcome
            .stdout
            .lines()
            .find(|line| line.starts_with("total"))
            .unwrap();
        total.split_whitespace().nth(2).unwrap().parse().unwrap()
    };
    let with_examples = input_tokens(&scratch);
    let spec = std::fs::read_to_string(scratch.path().join("job.yaml")).unwrap();
    let examples_block = spec.find("examples:").unwrap()..spec.find("model:").unwrap();
    let mut without = spec.clone();
    without.replace_range(examples_block, "");
    scratch.write("job.yaml", &without);
    assert!(
        input_tokens(&scratch) + 4 * 2 * 5 < with_examples,
        "{with_examples}"
    );
    scratch.write("job.yaml", spec);
    let before = fingerprint(&scratch);
    scratch.write(
        "pool.csv",
        POOL.replace("love this phone", "love this laptop"),
    );
    assert_ne!(fingerprint(&scratch), before, "a changed pool is a new run");
}

#[test]
fn an_invalid_example_is_refused_at_its_file_and_line() {
    let scratch = Scratch::new();
    job(&scratch, "similar", OPENAI);
    scratch.write(
        "pool.csv",
        POOL.replace(
            "p3,the parcel came on tuesday,NEUTRAL",
            "p3,the parcel came on tuesday,MEH",
        ),
    );
    let outcome = scratch.run(&["check", "job.yaml"]);
    assert_eq!(outcome.code, 2, "{outcome:?}");
    let all = format!("{}{}", outcome.stdout, outcome.stderr);
    assert!(all.contains("pool.csv` line 4"), "{all}");
    assert!(
        all.contains("`sentiment` is `MEH`, not one of POSITIVE, NEGATIVE, NEUTRAL"),
        "{all}"
    );
    // Inline examples are checked at their line in the spec.
    let spec = std::fs::read_to_string(scratch.path().join("job.yaml")).unwrap();
    scratch.write(
        "job.yaml",
        spec.replace("  file: pool.csv\n", "  inline:\n    - {text: good, sentiment: POSITIVE}\n    - {text: bad, sentiment: AWFUL}\n"),
    );
    let outcome = scratch.run(&["check", "job.yaml"]);
    assert_eq!(outcome.code, 2, "{outcome:?}");
    assert!(outcome.stderr.contains("job.yaml:15:"), "{outcome:?}");
    assert!(
        outcome.stderr.contains("`sentiment` is `AWFUL`"),
        "{outcome:?}"
    );
    // Packing cannot carry each row's examples.
    job(&scratch, "fixed", OPENAI);
    let spec = std::fs::read_to_string(scratch.path().join("job.yaml")).unwrap();
    scratch.write("job.yaml", format!("{spec}batch:\n  pack: 5\n"));
    let outcome = scratch.run(&["check", "job.yaml"]);
    assert_eq!(outcome.code, 2, "{outcome:?}");
    assert!(
        outcome
            .stderr
            .contains("cannot also hold each row's own `examples`"),
        "{outcome:?}"
    );
}

#[test]
fn an_output_over_the_examples_file_is_refused() {
    let scratch = Scratch::new();
    job(&scratch, "fixed", OPENAI);
    let spec = std::fs::read_to_string(scratch.path().join("job.yaml")).unwrap();
    scratch.write(
        "job.yaml",
        spec.replace("csv: out/results.csv", "csv: pool.csv"),
    );
    let outcome = scratch.run(&["check", "job.yaml"]);
    assert_eq!(outcome.code, 2, "{outcome:?}");
    assert!(outcome.stderr.contains("the examples file"), "{outcome:?}");
    assert_eq!(
        std::fs::read_to_string(scratch.path().join("pool.csv")).unwrap(),
        POOL,
        "the pool is untouched"
    );
}

#[test]
fn a_local_run_with_similar_examples_labels_every_row() {
    let scratch = Scratch::new();
    job(
        &scratch,
        "similar",
        "  provider: local\n  name: smollm2-135m-instruct\n",
    );
    let outcome = scratch.run(&["run", "job.yaml", "--json", "--threads", "1"]);
    assert_eq!(outcome.code, 0, "{outcome:?}");
    let summary = crate::run::summary(&outcome);
    assert_eq!(summary["labeled_rows"], 4, "{summary:#}");
    assert_eq!(summary["failed_rows"], 0, "{summary:#}");
}

#[test]
fn similar_by_embeddings_picks_near_examples_and_labels_every_row() {
    let scratch = Scratch::new();
    job(
        &scratch,
        "similar\n  similarity: embeddings",
        "  provider: local\n  name: smollm2-135m-instruct\n",
    );
    // The embedded model's embeddings put a battery complaint beside the battery examples.
    let first = turns(&request(&scratch, "r1"));
    assert_eq!(first.len(), 6, "{first:?}");
    assert!(
        first[3].1.contains("battery"),
        "the nearest example is shown last, next to the row: {first:?}"
    );
    let third = turns(&request(&scratch, "p5"));
    assert!(
        !third
            .iter()
            .any(|turn| turn.1 == "great camera and great screen"),
        "never the row itself: {third:?}"
    );
    let outcome = scratch.run(&["run", "job.yaml", "--json", "--threads", "1"]);
    assert_eq!(outcome.code, 0, "{outcome:?}");
    let summary = crate::run::summary(&outcome);
    assert_eq!(summary["labeled_rows"], 4, "{summary:#}");
    assert_eq!(summary["failed_rows"], 0, "{summary:#}");
    // `similarity` without `select: similar` is a spec error.
    job(&scratch, "fixed\n  similarity: embeddings", OPENAI);
    let outcome = scratch.run(&["check", "job.yaml"]);
    assert_eq!(outcome.code, 2, "{outcome:?}");
    assert!(
        outcome.stderr.contains("add `select: similar`"),
        "{outcome:?}"
    );
}
