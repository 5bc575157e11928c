//! Resolving whole specs: each test writes a spec (and its input) into a folder and checks
//! the rendered diagnostics, as `batchlabel check` prints them.

use std::path::Path;

use super::{load, resolve_text};

const HEAD: &str = "name: job\ninput: {csv: rows.csv, id: id}\nprompt: {user: '{{ row.text }}'}\n";
const MODEL: &str = "model: {provider: openai, name: gpt-4o-mini}\n";

/// The diagnostics of `spec` (written as `spec.yaml` beside a `rows.csv`), rendered.
fn diagnostics(folder: &Path, spec: &str) -> String {
    std::fs::write(folder.join("rows.csv"), "id,text\n1,hello\n").unwrap();
    match resolve_text(&folder.join("spec.yaml"), spec) {
        Ok(_) => String::new(),
        Err(found) => found.render().replace(&folder.display().to_string(), "DIR"),
    }
}

fn labels(body: &str) -> String {
    format!("{HEAD}labels:\n{body}{MODEL}")
}

#[test]
fn a_leading_bom_is_ignored_and_positions_stay_right() {
    let folder = tempfile::tempdir().unwrap();
    let spec = labels("  s: {one_of: [A, B]}\n");
    assert_eq!(diagnostics(folder.path(), &format!("\u{feff}{spec}")), "");
    let broken = format!("\u{feff}{}", spec.replace("one_of", "onee_of"));
    let rendered = diagnostics(folder.path(), &broken);
    assert!(
        rendered
            .contains("--> DIR/spec.yaml:5:7\n  |\n5 |   s: {onee_of: [A, B]}\n  |       ^^^^^^^"),
        "{rendered}"
    );
    // Read from a file too.
    std::fs::write(folder.path().join("bom.yaml"), format!("\u{feff}{spec}")).unwrap();
    assert!(load(&folder.path().join("bom.yaml")).is_ok());
}

#[test]
fn labels_equal_after_unicode_normalization_are_duplicates() {
    let folder = tempfile::tempdir().unwrap();
    // Precomposed `é` (U+00E9), then `e` + combining acute (U+0301); full-width `Ａ`.
    let spec = labels("  s:\n    one_of: [caf\u{e9}, cafe\u{301}, A, \u{ff21}]\n");
    let rendered = diagnostics(folder.path(), &spec);
    assert_eq!(
        rendered.matches("error[duplicate-label]").count(),
        2,
        "{rendered}"
    );
    assert!(
        rendered.contains("error[duplicate-label]: label `cafe\u{301}` repeats `caf\u{e9}` (the same label in another Unicode form)\n  --> DIR/spec.yaml:6:20"),
        "{rendered}"
    );
    assert!(
        rendered.contains("label `\u{ff21}` repeats `A` (the same label in another Unicode form)"),
        "{rendered}"
    );
}

#[test]
fn an_empty_label_map_is_an_error() {
    let folder = tempfile::tempdir().unwrap();
    let rendered = diagnostics(folder.path(), &format!("{HEAD}labels: {{}}\n{MODEL}"));
    assert_eq!(
        rendered,
        "error[empty]: `labels` is empty: a spec needs at least one label field\n  --> DIR/spec.yaml:4:9\n  |\n4 | labels: {}\n  |         ^\n  = help: e.g. `sentiment: {one_of: [POSITIVE, NEGATIVE, NEUTRAL]}`\n\n"
    );
}

#[test]
fn raw_schemas_that_no_answer_can_satisfy_are_errors_where_they_are_wrong() {
    let folder = tempfile::tempdir().unwrap();
    let spec = labels(
        "  entity:\n    schema:\n      type: object\n      properties:\n        name: {type: strng}\n        kind: {type: string, enum: []}\n      required: [name, kind, age]\n      additionalProperties: false\n",
    );
    let rendered = diagnostics(folder.path(), &spec);
    let headlines: Vec<&str> = rendered
        .lines()
        .filter(|line| line.starts_with("error") || line.starts_with("  -->"))
        .collect();
    assert_eq!(
        headlines,
        vec![
            "error[invalid-schema]: `required` names `age`, which is not a property of this object",
            "  --> DIR/spec.yaml:11:30",
            "error[invalid-schema]: unknown type `strng`",
            "  --> DIR/spec.yaml:9:22",
            "error[invalid-schema]: `enum` must be a non-empty list: as written no answer can match",
            "  --> DIR/spec.yaml:10:36",
        ],
        "{rendered}"
    );
    assert!(rendered.contains("did you mean `string`?"), "{rendered}");
}

#[test]
fn an_invalid_pattern_is_caught_by_the_meta_check() {
    let folder = tempfile::tempdir().unwrap();
    let spec = labels("  code:\n    schema: {type: string, pattern: 7}\n");
    let rendered = diagnostics(folder.path(), &spec);
    assert!(
        rendered.starts_with("error[invalid-schema]: not a valid JSON Schema: 7 is not of type \"string\"\n  --> DIR/spec.yaml:6:37"),
        "{rendered}"
    );
}

#[test]
fn template_files_must_be_regular_and_small() {
    let folder = tempfile::tempdir().unwrap();
    std::fs::write(folder.path().join("big.j2"), "x".repeat(2 << 20)).unwrap();
    let spec = |file: &str| {
        format!(
            "name: job\ninput: {{csv: rows.csv, id: id}}\nprompt: {{user_file: {file}}}\nlabels: {{s: {{one_of: [A, B]}}}}\n{MODEL}"
        )
    };
    assert_eq!(
        diagnostics(folder.path(), &spec("big.j2")),
        "error[file-too-large]: template file `DIR/big.j2` is larger than the limit of 1 MiB\n  --> DIR/spec.yaml:3:21\n  |\n3 | prompt: {user_file: big.j2}\n  |                     ^^^^^^\n  = help: a template is a prompt, not data: keep it under 1 MiB (rows belong in the input)\n\n"
    );
    let rendered = diagnostics(folder.path(), &spec("/dev/zero"));
    assert!(
        rendered.starts_with("error[not-a-file]: template file `/dev/zero` is not a regular file (it is a FIFO, socket or device)\n  --> DIR/spec.yaml:3:21"),
        "{rendered}"
    );
}
