//! `batchlabel check`: valid specs pass; every problem in a spec is reported at once, each
//! with file:line:col, a caret and a hint; input and template problems name the file and line.

use crate::{Scratch, batchlabel, files_with_extension, repository, spec};

#[test]
fn every_example_spec_passes_check() {
    let specs = files_with_extension(&repository().join("specs"), "yaml");
    // One example per provider and per documented OpenAI-compatible host, at least.
    for name in [
        "tweet-sentiment.yaml",
        "tweet-sentiment-anthropic.yaml",
        "tweet-sentiment-azure.yaml",
        "tweet-sentiment-gemini.yaml",
        "tweet-sentiment-mistral.yaml",
        "tweet-sentiment-together.yaml",
        "tweet-sentiment-groq.yaml",
    ] {
        assert!(
            specs.iter().any(|path| path.ends_with(name)),
            "expected the example {name}, found {specs:?}"
        );
    }
    for path in specs {
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(
            text.starts_with("# yaml-language-server: $schema=../schemas/job-spec.schema.json"),
            "{} must start with the schema line",
            path.display()
        );
        let outcome = batchlabel(&repository(), &["check", path.to_str().unwrap()]);
        assert_eq!(outcome.code, 0, "{}: {outcome:?}", path.display());
        assert!(outcome.stdout.contains("is a valid spec"), "{outcome:?}");
    }
}

#[test]
fn all_spec_problems_are_reported_at_once_with_positions_and_hints() {
    let scratch = Scratch::new();
    scratch.write("rows.csv", "id,text\n1,hello\n");
    let text = "name: bad job\ninput:\n  csv: rows.csv\n  id: id\nprompt:\n  user: \"{{ row.text }} {{ txt }}\"\nlabels:\n  sentiment:\n    onee_of: [POSITIVE, NEGATIVE]\nmodel:\n  provider: openia\n  name: gpt-4o-mini\n  temprature: 0\n";
    scratch.write("spec.yaml", text);
    let outcome = scratch.run(&["check", "spec.yaml"]);
    assert_eq!(outcome.code, 2, "{outcome:?}");
    let stderr = &outcome.stderr;
    // The misspelled key, with its position, the caret under it and the suggestion.
    assert!(
        stderr.contains("error[unknown-field]: unknown field `onee_of` in `labels.sentiment`"),
        "{stderr}"
    );
    assert!(stderr.contains("--> spec.yaml:9:5"), "{stderr}");
    assert!(
        stderr.contains("9 |     onee_of: [POSITIVE, NEGATIVE]\n  |     ^^^^^^^"),
        "{stderr}"
    );
    assert!(stderr.contains("help: did you mean `one_of`?"), "{stderr}");
    // The bad provider, with the allowed values.
    assert!(
        stderr.contains("`openia` is not a valid `model.provider`"),
        "{stderr}"
    );
    assert!(stderr.contains("--> spec.yaml:11:13"), "{stderr}");
    assert!(stderr.contains("expected one of: `openai`"), "{stderr}");
    // The misspelled parameter.
    assert!(
        stderr.contains("unknown field `temprature` in `model`"),
        "{stderr}"
    );
    assert!(stderr.contains("did you mean `temperature`?"), "{stderr}");
    // The name with a space.
    assert!(
        stderr.contains("does not match the required pattern"),
        "{stderr}"
    );
    // A template typo is found in the same run as the structural errors.
    assert!(
        stderr.contains("`user` template uses undefined variable `txt`"),
        "{stderr}"
    );
    assert!(stderr.contains("has 5 problems"), "{stderr}");
}

#[test]
fn semantic_problems_are_reported_together() {
    let scratch = Scratch::new();
    scratch.write("rows.csv", "id,text\n1,hello\n");
    let text = "name: job\ninput:\n  csv: rows.csv\n  jsonl: rows.jsonl\n  id: id\nprompt:\n  user: \"{{ txt }} {{ labels.sentimen }}\"\nlabels:\n  sentiment:\n    one_of: [POSITIVE]\n    max: 2\n  themes:\n    any_of: [a, b, A]\nmodel:\n  provider: openai\n  name: gpt-4o-mini\n  extra_body: {messages: []}\nbatch:\n  max_requests_per_file: 60000\n";
    scratch.write("spec.yaml", text);
    let outcome = scratch.run(&["check", "spec.yaml"]);
    assert_eq!(outcome.code, 2, "{outcome:?}");
    let stderr = &outcome.stderr;
    for expected in [
        "`input` names both `csv` and `jsonl`",
        "`user` template uses undefined variable `txt`",
        "did you mean `text`?",
        "`user` template uses `labels.sentimen`, but there is no label field `sentimen`",
        "did you mean `labels.sentiment`?",
        "a `one_of` field needs at least two labels",
        "`max` only applies to `any_of` fields",
        "label `A` repeats `a`",
        "`extra_body.messages` would override a field batchlabel sets",
        "`openai` accepts at most 50000 requests per file, not 60000",
    ] {
        assert!(
            stderr.contains(expected),
            "missing {expected:?} in\n{stderr}"
        );
    }
    // The template diagnostic points inside the inline template.
    assert!(stderr.contains("--> spec.yaml:7:13\n  |\n7 |   user: \"{{ txt }} {{ labels.sentimen }}\"\n  |             ^^^"), "{stderr}");
}

#[test]
fn template_syntax_errors_point_into_the_template_file() {
    let scratch = Scratch::new();
    scratch.write("rows.csv", "id,text\n1,hello\n");
    scratch.write("prompts/user.j2", "Text:\n{{ text }\n");
    scratch.write(
        "spec.yaml",
        spec("rows.csv", "").replace("  user: \"{{ text }}\"\n", "  user_file: prompts/user.j2\n"),
    );
    let outcome = scratch.run(&["check", "spec.yaml"]);
    assert_eq!(outcome.code, 2, "{outcome:?}");
    assert!(
        outcome
            .stderr
            .contains("error[template-syntax]: `user` template:"),
        "{outcome:?}"
    );
    assert!(outcome.stderr.contains("prompts/user.j2:2:"), "{outcome:?}");
}

#[test]
fn yaml_syntax_errors_have_a_position() {
    let scratch = Scratch::new();
    scratch.write("spec.yaml", "name: job\ninput: {csv: rows.csv\nprompt: x\n");
    let outcome = scratch.run(&["check", "spec.yaml"]);
    assert_eq!(outcome.code, 2, "{outcome:?}");
    assert!(outcome.stderr.contains("error[yaml-syntax]"), "{outcome:?}");
    assert!(outcome.stderr.contains("--> spec.yaml:"), "{outcome:?}");
}

#[test]
fn missing_columns_point_at_the_spec_and_suggest_the_real_name() {
    let scratch = Scratch::new();
    scratch.write("rows.csv", "ID,Text\n1,hello\n");
    scratch.write("spec.yaml", spec("rows.csv", ""));
    let outcome = scratch.run(&["check", "spec.yaml"]);
    assert_eq!(outcome.code, 2, "{outcome:?}");
    assert!(
        outcome
            .stderr
            .contains("error[missing-column]: input has no column `id`"),
        "{outcome:?}"
    );
    assert!(outcome.stderr.contains("--> spec.yaml:4:7"), "{outcome:?}");
    assert!(outcome.stderr.contains("did you mean `ID`?"), "{outcome:?}");
    assert!(
        outcome.stderr.contains("has columns: `ID`, `Text`"),
        "{outcome:?}"
    );
}

#[test]
fn check_renders_the_first_rows_and_reports_row_errors() {
    let scratch = Scratch::new();
    scratch.write(
        "rows.jsonl",
        "{\"id\": 1, \"text\": \"fine\"}\n{\"id\": 2}\n",
    );
    let text = spec("rows.jsonl", "").replace("csv: rows.jsonl", "jsonl: rows.jsonl");
    scratch.write("spec.yaml", text);
    let outcome = scratch.run(&["check", "spec.yaml"]);
    assert_eq!(outcome.code, 2, "{outcome:?}");
    assert!(
        outcome
            .stderr
            .contains("rows.jsonl:2 (id `2`): `user` template failed: undefined value"),
        "{outcome:?}"
    );
}

#[test]
fn check_json_output_is_machine_readable() {
    let outcome = batchlabel(
        &repository(),
        &["check", "specs/tweet-sentiment.yaml", "--json"],
    );
    assert_eq!(outcome.code, 0, "{outcome:?}");
    let value: serde_json::Value = serde_json::from_str(&outcome.stdout).unwrap();
    assert_eq!(value["ok"], true);
    assert_eq!(value["first_request"]["custom_id"], "r-tt-1");
    let format = &value["first_request"]["body"]["response_format"];
    assert_eq!(format["type"], "json_schema");
    assert_eq!(format["json_schema"]["strict"], true);
    assert_eq!(
        format["json_schema"]["schema"]["additionalProperties"],
        false
    );
}

#[test]
fn wrong_types_are_explained_with_the_field_documentation() {
    let scratch = Scratch::new();
    scratch.write("rows.csv", "id,text\n1,hello\n");
    scratch.write(
        "spec.yaml",
        spec("rows.csv", "  max_completion_tokens: lots\n"),
    );
    let outcome = scratch.run(&["check", "spec.yaml"]);
    assert_eq!(outcome.code, 2, "{outcome:?}");
    assert!(
        outcome.stderr.contains(
            "error[wrong-type]: expected integer for `model.max_completion_tokens`, found a string"
        ),
        "{outcome:?}"
    );
    assert!(
        outcome.stderr.contains("--> spec.yaml:16:26"),
        "{outcome:?}"
    );
    assert!(
        outcome.stderr.contains(
            "   = help: `max_completion_tokens`: Cap on generated tokens per request, reasoning included"
        ),
        "{outcome:?}"
    );
}

#[test]
fn an_input_folder_is_not_a_file() {
    let scratch = Scratch::new();
    std::fs::create_dir(scratch.path().join("rows.csv")).unwrap();
    scratch.write("spec.yaml", spec("rows.csv", ""));
    let outcome = scratch.run(&["check", "spec.yaml"]);
    assert_eq!(outcome.code, 2, "{outcome:?}");
    assert!(
        outcome.stderr.contains("rows.csv` is a folder, not a file"),
        "{outcome:?}"
    );
}
