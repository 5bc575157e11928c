//! `batchlabel init --from DATA`: on each example data file, a spec that reads it, with its id
//! and text columns guessed, that passes `check` once its labels are filled in; never over an
//! existing file.

use crate::{Scratch, repository};

#[test]
fn init_from_each_example_file_writes_a_spec_that_checks_once_labeled() {
    for (file, id, text) in [
        ("tweeteval-sentiment.csv", "id", "text"),
        ("clinc150-intent.csv", "id", "utterance"),
        ("goemotions.csv", "comment_id", "body"),
        ("tweet-topics.jsonl", "id", "text"),
    ] {
        let scratch = Scratch::new();
        let data = repository().join("specs/data").join(file);
        std::fs::create_dir_all(scratch.path().join("specs")).unwrap();
        let outcome = scratch.run(&["init", "specs/job.yaml", "--from", data.to_str().unwrap()]);
        assert_eq!(outcome.code, 0, "{file}: {outcome:?}");
        assert!(
            outcome.stdout.contains(&format!("id    {id}:"))
                && outcome.stdout.contains(&format!("text  {text}:")),
            "{file}: {}",
            outcome.stdout
        );
        assert!(outcome.stdout.contains("first rows:"), "{}", outcome.stdout);
        assert!(outcome.stdout.contains("batchlabel check specs/job.yaml"));
        let path = scratch.path().join("specs/job.yaml");
        let spec = std::fs::read_to_string(&path).unwrap();
        assert!(
            spec.starts_with("# yaml-language-server: $schema="),
            "{spec}"
        );
        assert!(
            spec.contains("TODO"),
            "the labels are a marked template: {spec}"
        );
        // Fill in the labels as a user would.
        let start = spec.find("labels:\n").unwrap();
        let end = spec.find("model:\n").unwrap();
        let filled = format!(
            "{}labels:\n  topic:\n    one_of:\n      SPORTS: games and players\n      OTHER: anything else\n{}",
            &spec[..start],
            &spec[end..]
        );
        std::fs::write(&path, &filled).unwrap();
        let check = scratch.run(&["check", "specs/job.yaml"]);
        assert_eq!(check.code, 0, "{file}: {check:?}\n{filled}");

        // A second init never overwrites it.
        let again = scratch.run(&["init", "specs/job.yaml", "--from", data.to_str().unwrap()]);
        assert_eq!(again.code, 2, "{again:?}");
        assert!(again.stderr.contains("refusing to overwrite"), "{again:?}");
        assert_eq!(std::fs::read_to_string(&path).unwrap(), filled);
    }
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
