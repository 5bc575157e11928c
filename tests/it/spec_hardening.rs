//! Hostile specs and flags: every number finite and in range, raw schemas that no answer
//! could satisfy, look-alike labels, a BOM, deep nesting, runaway templates and endless
//! template files. Each is refused by `batchlabel check` (exit 2) with a message at the
//! spot, before anything could be paid for.

use std::time::{Duration, Instant};

use crate::{Outcome, Scratch};

const ROWS: &str = "id,text\n1,hello\n2,bye\n";

/// A spec reading `rows.csv` with `labels` and `model` sections as given.
fn spec_with(prompt: &str, labels: &str, model_extra: &str, tail: &str) -> String {
    format!(
        "name: hardening\ninput: {{csv: rows.csv, id: id, text: text}}\nprompt:\n{prompt}labels:\n{labels}model:\n  provider: openai\n  name: gpt-4o-mini\n{model_extra}{tail}"
    )
}

const USER: &str = "  user: \"{{ text }}\"\n";
const SENTIMENT: &str = "  sentiment: {one_of: [POSITIVE, NEGATIVE]}\n";

/// `check` on `spec` (as `job.yaml`): it must fail with exit 2, its report on stderr.
fn check_fails(scratch: &Scratch, spec: &str) -> Outcome {
    scratch.write("rows.csv", ROWS);
    scratch.write("job.yaml", spec);
    let outcome = scratch.run(&["check", "job.yaml"]);
    assert_eq!(outcome.code, 2, "{outcome:?}");
    assert!(!outcome.stderr.contains("panicked"), "{outcome:?}");
    outcome
}

fn assert_reports(outcome: &Outcome, expected: &[&str]) {
    for text in expected {
        assert!(
            outcome.stderr.contains(text),
            "missing:\n{text}\n{outcome:?}"
        );
    }
}

#[test]
fn non_finite_and_out_of_range_numbers_are_rejected_where_written() {
    let scratch = Scratch::new();
    let model = "  temperature: .nan\n  top_p: -.inf\n  max_completion_tokens: 99999999999\n";
    let spec = spec_with(USER, SENTIMENT, model, "budget: {max_usd: .nan}\n");
    let outcome = check_fails(&scratch, &spec);
    assert_reports(
        &outcome,
        &[
            "error[invalid-number]: `model.temperature` is `.nan`, but it must be a number from 0 to 2\n  --> job.yaml:10:16\n   |\n10 |   temperature: .nan\n   |                ^^^^\n   = help: `temperature`: Sampling temperature, 0 to 2\n   = help: `.nan` and `.inf` are not numbers a request can carry\n",
            "error[invalid-number]: `model.top_p` is `-.inf`, but it must be a number from 0 to 1\n  --> job.yaml:11:10\n",
            "error[invalid-number]: `model.max_completion_tokens` is 99999999999, but it must be a whole number from 1 to 4294967295\n  --> job.yaml:12:26\n   |\n12 |   max_completion_tokens: 99999999999\n   |                          ^^^^^^^^^^^\n   = help: `max_completion_tokens`: Cap on generated tokens per request, reasoning included\n",
            "error[invalid-number]: `budget.max_usd` is `.nan`, but it must be a number of at least 0\n  --> job.yaml:13:19\n",
        ],
    );
    // A number with no range of its own still has to be finite.
    let spec = spec_with(USER, SENTIMENT, "  extra_body: {service_tier: .inf}\n", "");
    assert_reports(
        &check_fails(&scratch, &spec),
        &[
            "error[invalid-number]: `model.extra_body.service_tier` is `.inf`, but every number in a spec must be finite\n  --> job.yaml:10:30\n",
        ],
    );
}

#[test]
fn numeric_flags_are_finite_and_in_range() {
    let scratch = Scratch::new();
    scratch.write("rows.csv", ROWS);
    scratch.write("job.yaml", spec_with(USER, SENTIMENT, "", ""));
    for bad in ["inf", "1e300", "-1", "NaN"] {
        let outcome = scratch.run(&["run", "job.yaml", &format!("--poll-interval={bad}")]);
        assert_eq!(outcome.code, 2, "{outcome:?}");
        assert!(
            outcome.stderr.contains(&format!(
                "`{bad}` is not a number of seconds from 0.01 to 86400"
            )),
            "{outcome:?}"
        );
        assert!(!outcome.stderr.contains("panicked"), "{outcome:?}");
    }
    let outcome = scratch.run(&["run", "job.yaml", "--max-usd=NaN"]);
    assert_eq!(outcome.code, 2, "{outcome:?}");
    assert!(
        outcome.stderr.contains("`NaN` is not a dollar amount"),
        "{outcome:?}"
    );
    let outcome = scratch.run(&["run", "job.yaml", "--concurrency", "0"]);
    assert_eq!(outcome.code, 2, "{outcome:?}");
    assert!(
        outcome
            .stderr
            .contains("`0` is not a shard count from 1 to 256"),
        "{outcome:?}"
    );
}

#[test]
fn raw_schemas_that_no_answer_can_satisfy_are_rejected() {
    let scratch = Scratch::new();
    let labels = "  entity:\n    schema:\n      type: object\n      properties:\n        name: {type: strng}\n        kind: {type: string, enum: []}\n      required: [name, kind, age]\n      additionalProperties: false\n";
    let outcome = check_fails(&scratch, &spec_with(USER, labels, "", ""));
    assert_reports(
        &outcome,
        &[
            "error[invalid-schema]: `required` names `age`, which is not a property of this object\n  --> job.yaml:12:30\n",
            "   = help: its properties are: `name`, `kind`\n",
            "error[invalid-schema]: unknown type `strng`\n  --> job.yaml:10:22\n",
            "did you mean `string`?",
            "error[invalid-schema]: `enum` must be a non-empty list: as written no answer can match\n  --> job.yaml:11:36\n",
        ],
    );
    let outcome = check_fails(&scratch, &spec_with(USER, "  {}\n", "", ""));
    assert_reports(
        &outcome,
        &[
            "error[empty]: `labels` is empty: a spec needs at least one label field\n  --> job.yaml:6:3\n",
        ],
    );
}

#[test]
fn labels_that_differ_only_in_unicode_form_are_duplicates() {
    let scratch = Scratch::new();
    let labels = "  drink:\n    one_of: [caf\u{e9}, cafe\u{301}]\n";
    let outcome = check_fails(&scratch, &spec_with(USER, labels, "", ""));
    assert_reports(
        &outcome,
        &[
            "error[duplicate-label]: label `cafe\u{301}` repeats `caf\u{e9}` (the same label in another Unicode form)\n  --> job.yaml:7:20\n",
        ],
    );
}

#[test]
fn a_spec_starting_with_a_bom_is_accepted_and_positions_stay_right() {
    let scratch = Scratch::new();
    scratch.write("rows.csv", ROWS);
    let spec = spec_with(USER, SENTIMENT, "", "");
    scratch.write("job.yaml", format!("\u{feff}{spec}"));
    let outcome = scratch.run(&["check", "job.yaml"]);
    assert_eq!(outcome.code, 0, "{outcome:?}");
    // Line 1 keeps its columns: the BOM is not a character of the spec.
    let broken = format!(
        "\u{feff}{}",
        spec.replace("name: hardening", "name: bad name")
    );
    let outcome = check_fails(&scratch, &broken);
    assert_reports(
        &outcome,
        &["  --> job.yaml:1:7\n  |\n1 | name: bad name\n  |       ^^^^^^^^\n"],
    );
}

#[test]
fn deep_nesting_is_refused_fast_and_long_lines_are_cut() {
    let scratch = Scratch::new();
    let started = Instant::now();
    let outcome = check_fails(&scratch, &format!("name: {}", "[".repeat(200_000)));
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "{:?}",
        started.elapsed()
    );
    assert_reports(
        &outcome,
        &["error[too-deep]: the spec nests deeper than 64 levels\n  --> job.yaml:1:"],
    );
    assert!(outcome.stderr.len() < 1_000, "{outcome:?}");
    // A 200 KB line with an error in the middle: the snippet is a window around the caret.
    let long = format!("{}b: c: d, {}]", "a, ".repeat(50_000), "a, ".repeat(50_000));
    let outcome = check_fails(&scratch, &format!("name: job\ndescription: [{long}\n"));
    assert!(outcome.stderr.len() < 2_000, "{outcome:?}");
    let caret_line = outcome.stderr.lines().find(|line| line.contains('^'));
    let source_line = outcome.stderr.lines().find(|line| line.starts_with("2 | "));
    let (Some(caret_line), Some(source_line)) = (caret_line, source_line) else {
        panic!("no snippet: {outcome:?}");
    };
    assert!(
        source_line.starts_with("2 | …") && source_line.ends_with('…'),
        "{source_line}"
    );
    let column = caret_line.find('^').unwrap();
    let under = source_line.chars().nth(column).unwrap();
    assert!(
        "bcd:".contains(under),
        "caret under {under:?}:\n{}",
        outcome.stderr
    );
}

#[test]
fn runaway_templates_stop_at_the_fuel_limit() {
    let scratch = Scratch::new();
    let prompt = "  user: \"{% for a in range(100000) %}{% for b in range(100000) %}{{ text }}{% endfor %}{% endfor %}\"\n";
    let started = Instant::now();
    let outcome = check_fails(&scratch, &spec_with(prompt, SENTIMENT, "", ""));
    assert!(
        started.elapsed() < Duration::from_secs(30),
        "{:?}",
        started.elapsed()
    );
    assert_reports(
        &outcome,
        &[
            "`user` template failed: engine ran out of fuel: it needs more than 1000000 steps (minijinja fuel) for one message; a loop in it runs too long",
        ],
    );
    let prompt = "  user: \"{{ text * 2000000 }}\"\n";
    let outcome = check_fails(&scratch, &spec_with(prompt, SENTIMENT, "", ""));
    assert_reports(
        &outcome,
        &[
            "`user` template failed: invalid operation: its message is 10000000 bytes, over the limit of 8 MiB",
        ],
    );
}

#[test]
fn template_files_must_be_small_regular_files() {
    let scratch = Scratch::new();
    scratch.write("big.j2", "x".repeat(2 << 20));
    let with_file = |file: &str| spec_with(&format!("  user_file: {file}\n"), SENTIMENT, "", "");
    assert_reports(
        &check_fails(&scratch, &with_file("big.j2")),
        &[
            "error[file-too-large]: template file `big.j2` is larger than the limit of 1 MiB\n  --> job.yaml:4:14\n",
            "= help: a template is a prompt, not data: keep it under 1 MiB (rows belong in the input)\n",
        ],
    );
    assert_reports(
        &check_fails(&scratch, &with_file("/dev/zero")),
        &[
            "error[not-a-file]: template file `/dev/zero` is not a regular file (it is a FIFO, socket or device)\n  --> job.yaml:4:14\n",
        ],
    );
    let fifo = scratch.path().join("fifo.j2");
    let made = std::process::Command::new("mkfifo").arg(&fifo).status();
    if made.is_ok_and(|status| status.success()) {
        assert_reports(
            &check_fails(&scratch, &with_file("fifo.j2")),
            &[
                "error[not-a-file]: template file `fifo.j2` is not a regular file (it is a FIFO, socket or device)\n",
            ],
        );
    }
}
