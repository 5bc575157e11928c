//! `batchlabel init --from DATA`: on every example data file under `specs/data/` (found on
//! disk, so a new one is covered without touching this test), a spec that reads it, with its
//! id and text columns guessed, its first row shown and the next commands printed, that passes
//! `check` once its labels are filled in; never over an existing file. Also TSV and SQLite.

use std::path::{Path, PathBuf};

use crate::{Outcome, Scratch, repository};

/// The data files under `specs/data/` (any depth) in the formats `init --from` reads.
fn example_data_files() -> Vec<PathBuf> {
    let mut stack = vec![repository().join("specs/data")];
    let mut files = Vec::new();
    while let Some(folder) = stack.pop() {
        for entry in std::fs::read_dir(&folder).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else if path.extension().is_some_and(|extension| {
                ["csv", "tsv", "jsonl", "parquet"].contains(&extension.to_str().unwrap_or(""))
            }) {
                files.push(path);
            }
        }
    }
    files.sort();
    files
}

/// The value in the first data row of `file` under `column` (CSV, TSV or JSONL).
fn first_value(file: &Path, column: &str) -> Option<String> {
    match file.extension()?.to_str()? {
        "csv" | "tsv" => {
            let delimiter = if file.extension()? == "tsv" {
                b'\t'
            } else {
                b','
            };
            let mut reader = csv::ReaderBuilder::new()
                .delimiter(delimiter)
                .from_path(file)
                .ok()?;
            let position = reader
                .headers()
                .ok()?
                .iter()
                .position(|name| name == column)?;
            let record = reader.records().next()?.ok()?;
            record.get(position).map(str::to_string)
        }
        "jsonl" => {
            let text = std::fs::read_to_string(file).ok()?;
            let row: serde_json::Value = serde_json::from_str(text.lines().next()?).ok()?;
            match &row[column] {
                serde_json::Value::String(text) => Some(text.clone()),
                other => Some(other.to_string()),
            }
        }
        _ => None,
    }
}

/// The column `init` chose as `what` (`id` or `text`), from its report.
fn chosen(outcome: &Outcome, what: &str) -> String {
    let prefix = format!("  {what:<5} ");
    let line = outcome
        .stdout
        .lines()
        .find(|line| line.starts_with(&prefix))
        .unwrap_or_else(|| panic!("no `{what}` line: {outcome:?}"));
    let rest = &line[prefix.len()..];
    assert!(!rest.starts_with("not found"), "{outcome:?}");
    rest.split(':').next().unwrap().to_string()
}

/// Replace the spec's template labels with real ones, as a user would; the filled spec.
pub(crate) fn fill_labels(path: &Path) -> String {
    let spec = std::fs::read_to_string(path).unwrap();
    assert!(
        spec.contains("TODO"),
        "the labels are a marked template: {spec}"
    );
    let start = spec.find("labels:\n").unwrap();
    let end = spec.find("model:\n").unwrap();
    let filled = format!(
        "{}labels:\n  topic:\n    one_of:\n      SPORTS: games and players\n      OTHER: anything else\n{}",
        &spec[..start],
        &spec[end..]
    );
    std::fs::write(path, &filled).unwrap();
    filled
}

/// `init specs/job.yaml --from data` in a fresh scratch folder; checks what every `init`
/// prints and writes, fills the labels and `check`s the spec. The scratch and the report.
fn init_and_check(data: &Path) -> (Scratch, Outcome) {
    let scratch = Scratch::new();
    std::fs::create_dir_all(scratch.path().join("specs")).unwrap();
    let name = data.display();
    let outcome = scratch.run(&["init", "specs/job.yaml", "--from", data.to_str().unwrap()]);
    assert_eq!(outcome.code, 0, "{name}: {outcome:?}");
    for line in [
        "first rows:",
        "  batchlabel check specs/job.yaml\n",
        "  batchlabel pilot specs/job.yaml --rows 20\n",
        "  batchlabel run specs/job.yaml\n",
    ] {
        assert!(
            outcome.stdout.contains(line),
            "{name}: no {line:?}: {outcome:?}"
        );
    }
    let path = scratch.path().join("specs/job.yaml");
    let spec = std::fs::read_to_string(&path).unwrap();
    assert!(
        spec.starts_with("# yaml-language-server: $schema="),
        "{spec}"
    );
    let filled = fill_labels(&path);
    let check = scratch.run(&["check", "specs/job.yaml"]);
    assert_eq!(check.code, 0, "{name}: {check:?}\n{filled}");

    // A second init never overwrites it.
    let again = scratch.run(&["init", "specs/job.yaml", "--from", data.to_str().unwrap()]);
    assert_eq!(again.code, 2, "{again:?}");
    assert!(again.stderr.contains("refusing to overwrite"), "{again:?}");
    assert_eq!(std::fs::read_to_string(&path).unwrap(), filled);
    (scratch, outcome)
}

#[test]
fn init_from_every_example_data_file_writes_a_spec_that_checks_once_labeled() {
    let files = example_data_files();
    assert!(!files.is_empty(), "no data files under specs/data/");
    for data in &files {
        let (_scratch, outcome) = init_and_check(data);
        let (id, text) = (chosen(&outcome, "id"), chosen(&outcome, "text"));
        assert_ne!(id, text, "{outcome:?}");
        // The first row is shown: its id, as the file has it.
        if let Some(value) = first_value(data, &id) {
            let shown = format!("{id}={value}");
            let rows = outcome.stdout.split("first rows:\n").nth(1).unwrap();
            assert!(
                rows.lines().next().unwrap().contains(&shown),
                "{}: {shown:?} is not the first row shown: {outcome:?}",
                data.display()
            );
        }
    }
    // The guesses on the files whose columns are known.
    let expected = [
        ("tweeteval-sentiment.csv", "id", "text"),
        ("clinc150-intent.csv", "id", "utterance"),
        ("goemotions.csv", "comment_id", "body"),
        ("tweet-topics.jsonl", "id", "text"),
    ];
    for (file, id, text) in expected {
        let data = repository().join("specs/data").join(file);
        assert!(files.contains(&data), "{file} is gone from specs/data/");
        let outcome = Scratch::new().run(&["init", "job.yaml", "--from", data.to_str().unwrap()]);
        assert_eq!(chosen(&outcome, "id"), id, "{file}: {outcome:?}");
        assert_eq!(chosen(&outcome, "text"), text, "{file}: {outcome:?}");
    }
}

#[test]
fn init_from_a_tsv_file_writes_the_tab_delimiter() {
    let source = Scratch::new();
    // The first rows of an example CSV, written as TSV by the csv crate.
    let mut reader =
        csv::Reader::from_path(repository().join("specs/data/clinc150-intent.csv")).unwrap();
    let mut writer = csv::WriterBuilder::new()
        .delimiter(b'\t')
        .from_writer(Vec::new());
    writer.write_record(reader.headers().unwrap()).unwrap();
    for record in reader.records().take(30) {
        writer.write_record(&record.unwrap()).unwrap();
    }
    let tsv = writer.into_inner().unwrap();
    let data = source.write("utterances.tsv", tsv);
    let (scratch, outcome) = init_and_check(&data);
    assert_eq!(chosen(&outcome, "text"), "utterance", "{outcome:?}");
    let spec = std::fs::read_to_string(scratch.path().join("specs/job.yaml")).unwrap();
    assert!(spec.contains("\n  csv: \""), "{spec}");
    assert!(spec.contains("\n  delimiter: \"\\t\"\n"), "{spec}");
}

#[test]
fn init_without_data_writes_a_template_and_bad_data_is_refused() {
    let scratch = Scratch::new();
    let outcome = scratch.run(&["init", "job.yaml"]);
    assert_eq!(outcome.code, 0, "{outcome:?}");
    let spec = std::fs::read_to_string(scratch.path().join("job.yaml")).unwrap();
    assert!(spec.contains("csv: \"data.csv\"   # TODO"), "{spec}");
    scratch.write("notes.txt", "hello\n");
    let refused = scratch.run(&["init", "other.yaml", "--from", "notes.txt"]);
    assert_eq!(refused.code, 2, "{refused:?}");
    assert!(
        refused.stderr.contains("unknown data format"),
        "{refused:?}"
    );
    assert!(!scratch.path().join("other.yaml").exists());
}

/// The folder `$schema=` in the spec at `spec` names, resolved from the spec's folder.
fn schema_of(spec: &Path) -> PathBuf {
    let text = std::fs::read_to_string(spec).unwrap();
    let line = text.lines().next().unwrap();
    let named = line
        .strip_prefix("# yaml-language-server: $schema=")
        .unwrap_or_else(|| panic!("no $schema line: {text}"));
    spec.parent().unwrap().join(named)
}

#[test]
fn the_schema_line_names_a_file_that_exists_and_batchlabel_schema_prints_it() {
    let schema =
        std::fs::read_to_string(repository().join("schemas/job-spec.schema.json")).unwrap();
    let scratch = Scratch::new();
    let printed = scratch.run(&["schema"]);
    assert_eq!(printed.code, 0, "{printed:?}");
    assert_eq!(
        printed.stdout, schema,
        "the binary's schema is the generated one"
    );

    // Outside a checkout: a copy beside the spec, written once, never over another file.
    let outcome = scratch.run(&["init", "job.yaml"]);
    assert!(
        outcome
            .stdout
            .contains("schema: job-spec.schema.json beside the spec (written now"),
        "{outcome:?}"
    );
    let written = schema_of(&scratch.path().join("job.yaml"));
    assert_eq!(written, scratch.path().join("job-spec.schema.json"));
    assert_eq!(std::fs::read_to_string(&written).unwrap(), schema);
    let again = scratch.run(&["init", "job-2.yaml"]);
    assert!(
        again.stdout.contains("(already there, up to date)"),
        "{again:?}"
    );
    std::fs::create_dir_all(scratch.path().join("old")).unwrap();
    scratch.write("old/job-spec.schema.json", "{\"title\": \"an older one\"}");
    let kept = scratch.run(&["init", "old/job.yaml"]);
    assert_eq!(kept.code, 0, "{kept:?}");
    assert!(
        kept.stdout
            .contains("was kept; `batchlabel schema > old/job-spec.schema.json` updates it"),
        "{kept:?}"
    );
    assert_eq!(
        std::fs::read_to_string(scratch.path().join("old/job-spec.schema.json")).unwrap(),
        "{\"title\": \"an older one\"}"
    );

    // Inside a checkout (a folder above holds `schemas/job-spec.schema.json`): that file,
    // relative to the spec, and nothing written beside it.
    let checkout = Scratch::new();
    checkout.write("schemas/job-spec.schema.json", &schema);
    std::fs::create_dir_all(checkout.path().join("specs/team")).unwrap();
    let inside = checkout.run(&["init", "specs/team/job.yaml"]);
    assert_eq!(inside.code, 0, "{inside:?}");
    let spec = checkout.path().join("specs/team/job.yaml");
    let named = std::fs::read_to_string(&spec).unwrap();
    assert!(
        named.starts_with("# yaml-language-server: $schema=../../schemas/job-spec.schema.json\n"),
        "{named}"
    );
    assert!(schema_of(&spec).is_file());
    assert!(
        !checkout
            .path()
            .join("specs/team/job-spec.schema.json")
            .exists()
    );
    assert!(inside.stdout.contains("(this checkout's;"), "{inside:?}");
}
