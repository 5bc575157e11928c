//! `batchlabel compile`: sharding within limits, exact dedupe, joinable custom_ids, byte-identical
//! output, and a specific error (file, line, exit 2, nothing written) for every kind of bad input.

use std::collections::HashSet;
use std::fmt::Write as _;
use std::path::Path;

use crate::{Scratch, files_with_extension, spec};

fn lines_of(directory: &Path) -> Vec<serde_json::Value> {
    files_with_extension(directory, "jsonl")
        .iter()
        .flat_map(|file| {
            std::fs::read_to_string(file)
                .unwrap()
                .lines()
                .map(|line| serde_json::from_str::<serde_json::Value>(line).unwrap())
                .collect::<Vec<_>>()
        })
        .collect()
}

fn rows_csv(count: usize) -> String {
    let mut text = String::from("id,text\n");
    for index in 1..=count {
        let _ = writeln!(
            text,
            "{index},\"comment number {index}, with a comma and \"\"quotes\"\"\""
        );
    }
    text
}

#[test]
fn shards_respect_request_and_byte_limits() {
    let scratch = Scratch::new();
    scratch.write("rows.csv", rows_csv(250));
    scratch.write(
        "spec.yaml",
        spec(
            "rows.csv",
            "batch:\n  max_requests_per_file: 100\n  max_bytes_per_file: 60000\n",
        ),
    );
    let outcome = scratch.run(&["compile", "spec.yaml", "--out", "out", "--json"]);
    assert_eq!(outcome.code, 0, "{outcome:?}");
    let report: serde_json::Value = serde_json::from_str(&outcome.stdout).unwrap();
    let shards = report["report"]["shards"].as_array().unwrap();
    assert!(shards.len() >= 3, "{shards:?}");
    for shard in shards {
        let path = scratch
            .path()
            .join("out")
            .join(shard["file"].as_str().unwrap());
        let bytes = std::fs::metadata(&path).unwrap().len();
        let lines = std::fs::read_to_string(&path).unwrap().lines().count() as u64;
        assert!(
            lines <= 100 && bytes <= 60000,
            "{path:?}: {lines} lines, {bytes} bytes"
        );
        assert_eq!(bytes, shard["bytes"].as_u64().unwrap());
        assert_eq!(lines, shard["requests"].as_u64().unwrap());
    }
    let lines = lines_of(&scratch.path().join("out"));
    assert_eq!(lines.len(), 250);
    let ids: HashSet<&str> = lines
        .iter()
        .map(|line| line["custom_id"].as_str().unwrap())
        .collect();
    assert_eq!(ids.len(), 250, "custom_ids are unique");
    for line in &lines {
        assert_eq!(line["method"], "POST");
        assert_eq!(line["url"], "/v1/chat/completions");
        assert_eq!(line["body"]["model"], "gpt-4o-mini");
        assert!(line["body"].get("stream").is_none());
    }
    let first = &lines[0];
    assert_eq!(first["custom_id"], "r-1");
    assert_eq!(
        first["body"]["messages"][1]["content"],
        "comment number 1, with a comma and \"quotes\""
    );
    let manifest: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(scratch.path().join("out/manifest.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(manifest["rows"], 250);
    assert_eq!(manifest["requests"], 250);
    assert_eq!(manifest["shards"].as_array().unwrap().len(), shards.len());
    let output_schema: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(scratch.path().join("out/output-schema.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(
        output_schema["properties"]["sentiment"]["enum"],
        serde_json::json!(["POSITIVE", "NEGATIVE", "NEUTRAL"])
    );
}

#[test]
fn output_is_byte_identical_across_runs() {
    let scratch = Scratch::new();
    scratch.write("rows.csv", rows_csv(3000));
    scratch.write(
        "spec.yaml",
        spec("rows.csv", "batch:\n  max_requests_per_file: 700\n"),
    );
    assert_eq!(scratch.run(&["compile", "spec.yaml", "--out", "a"]).code, 0);
    assert_eq!(scratch.run(&["compile", "spec.yaml", "--out", "b"]).code, 0);
    let names = |folder: &str| {
        let mut names: Vec<String> = std::fs::read_dir(scratch.path().join(folder))
            .unwrap()
            .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    };
    assert_eq!(names("a"), names("b"));
    assert!(names("a").len() >= 6, "{:?}", names("a"));
    for name in names("a") {
        let left = std::fs::read(scratch.path().join("a").join(&name)).unwrap();
        let right = std::fs::read(scratch.path().join("b").join(&name)).unwrap();
        assert!(left == right, "{name} differs between runs");
    }
    // Compiling again into the same folder replaces the earlier output.
    assert_eq!(scratch.run(&["compile", "spec.yaml", "--out", "a"]).code, 0);
    assert_eq!(names("a"), names("b"));
}

#[test]
fn identical_bodies_share_one_request_and_every_row_stays_joinable() {
    let scratch = Scratch::new();
    let long_id = "é".repeat(40);
    let rows = format!(
        "id,text\n1,same words\n2,other words\n3,same words\nuser 7,same words\n{long_id},fresh text\nplain_9,other words\n"
    );
    scratch.write("rows.csv", rows);
    scratch.write("spec.yaml", spec("rows.csv", ""));
    let outcome = scratch.run(&["compile", "spec.yaml", "--out", "out", "--json"]);
    assert_eq!(outcome.code, 0, "{outcome:?}");
    let report: serde_json::Value = serde_json::from_str(&outcome.stdout).unwrap();
    assert_eq!(report["report"]["rows"], 6);
    assert_eq!(report["report"]["requests"], 3);
    assert_eq!(report["report"]["duplicate_rows"], 3);
    let lines = lines_of(&scratch.path().join("out"));
    let custom_ids: Vec<&str> = lines
        .iter()
        .map(|line| line["custom_id"].as_str().unwrap())
        .collect();
    assert_eq!(custom_ids.len(), 3);
    for custom_id in &custom_ids {
        assert!(
            custom_id.len() <= 64
                && custom_id
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'),
            "{custom_id}"
        );
    }
    // The row map joins every row that has no custom_id of its own.
    let row_map = std::fs::read_to_string(scratch.path().join("out/row-map.csv")).unwrap();
    let mut reader = csv::Reader::from_reader(row_map.as_bytes());
    let entries: Vec<(String, String, String)> = reader
        .records()
        .map(|record| {
            let record = record.unwrap();
            (
                record[0].to_string(),
                record[1].to_string(),
                record[2].to_string(),
            )
        })
        .collect();
    assert!(
        entries.contains(&("3".into(), "r-1".into(), "duplicate".into())),
        "{entries:?}"
    );
    assert!(
        entries.contains(&("user 7".into(), "r-1".into(), "duplicate".into())),
        "{entries:?}"
    );
    assert!(
        entries.contains(&("plain_9".into(), "r-2".into(), "duplicate".into())),
        "{entries:?}"
    );
    assert!(
        entries.iter().any(|(row, custom, reason)| row == &long_id
            && custom.starts_with("h-")
            && reason == "hashed-id"),
        "{entries:?}"
    );
}

fn expect_failure(scratch: &Scratch, expected: &[&str]) {
    let outcome = scratch.run(&["compile", "spec.yaml", "--out", "out"]);
    assert_eq!(outcome.code, 2, "{outcome:?}");
    for text in expected {
        assert!(
            outcome.stderr.contains(text),
            "missing {text:?} in {outcome:?}"
        );
    }
    assert!(!outcome.stderr.contains("panicked"), "{outcome:?}");
    assert!(
        !scratch.path().join("out").exists(),
        "a failed compile must write nothing"
    );
    let leftovers: Vec<_> = std::fs::read_dir(scratch.path())
        .unwrap()
        .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|name| name.starts_with(".batchlabel"))
        .collect();
    assert!(
        leftovers.is_empty(),
        "temporary folders left behind: {leftovers:?}"
    );
}

#[test]
fn missing_input_file() {
    let scratch = Scratch::new();
    scratch.write("spec.yaml", spec("nowhere.csv", ""));
    expect_failure(
        &scratch,
        &[
            "error[file-not-found]: input file",
            "nowhere.csv` does not exist",
            "--> spec.yaml:3:8",
            "paths are relative to the folder of the spec file",
        ],
    );
}

#[test]
fn missing_id_and_text_columns() {
    let scratch = Scratch::new();
    scratch.write("rows.csv", "key,text\n1,a\n");
    scratch.write("spec.yaml", spec("rows.csv", ""));
    expect_failure(
        &scratch,
        &[
            "input has no column `id` (needed for the row id (`input.id`))",
            "--> spec.yaml:4:7",
            "has columns: `key`, `text`",
        ],
    );
    scratch.write("rows.csv", "id,body\n1,a\n");
    expect_failure(
        &scratch,
        &[
            "input has no column `text` (needed for the text (`input.text`))",
            "--> spec.yaml:5:9",
        ],
    );
}

#[test]
fn malformed_csv_row() {
    let scratch = Scratch::new();
    scratch.write("rows.csv", "id,text\n1,fine\n2,too,many,fields\n3,fine\n");
    scratch.write("spec.yaml", spec("rows.csv", ""));
    expect_failure(
        &scratch,
        &[
            "1 input row(s) have problems",
            "rows.csv:3: malformed CSV row: expected 2 fields (as in the header), found 4",
            "hint: quote fields",
        ],
    );
}

#[test]
fn invalid_utf8() {
    let scratch = Scratch::new();
    scratch.write(
        "rows.csv",
        b"id,text\n1,fine\n2,caf\xe9 latin-1\n".as_slice(),
    );
    scratch.write("spec.yaml", spec("rows.csv", ""));
    expect_failure(
        &scratch,
        &["rows.csv:3: invalid UTF-8 in column `text`", "iconv"],
    );
}

#[test]
fn duplicate_ids() {
    let scratch = Scratch::new();
    scratch.write("rows.csv", "id,text\n1,a\n2,b\n1,c\n3,d\n2,e\n");
    scratch.write("spec.yaml", spec("rows.csv", ""));
    expect_failure(
        &scratch,
        &[
            "2 input row(s) have problems",
            "rows.csv:4 (id `1`): duplicate id `1`: first seen on line 2",
            "rows.csv:6 (id `2`): duplicate id `2`: first seen on line 3",
        ],
    );
}

#[test]
fn empty_input() {
    let scratch = Scratch::new();
    scratch.write("rows.csv", "");
    scratch.write("spec.yaml", spec("rows.csv", ""));
    expect_failure(
        &scratch,
        &[
            "input `",
            "rows.csv` is empty",
            "hint: the input needs a header row and at least one data row",
        ],
    );
    scratch.write("rows.csv", "id,text\n");
    expect_failure(&scratch, &["rows.csv` has no rows"]);
}

#[test]
fn template_error_on_a_row() {
    let scratch = Scratch::new();
    scratch.write("rows.jsonl", "{\"id\": \"a\", \"text\": \"fine\"}\n{\"id\": \"b\", \"text\": 7}\n{\"id\": \"c\", \"txt\": \"typo\"}\n");
    let text = spec("rows.jsonl", "")
        .replace("csv: rows.jsonl", "jsonl: rows.jsonl")
        .replace(
            "  user: \"{{ text }}\"",
            "  user: \"{{ row.text | upper }}\"",
        );
    scratch.write("spec.yaml", text);
    expect_failure(
        &scratch,
        &["rows.jsonl:3 (id `c`): `user` template failed: undefined value"],
    );
}

#[test]
fn row_over_the_byte_limit() {
    let scratch = Scratch::new();
    let big = "x".repeat(5000);
    scratch.write("rows.csv", format!("id,text\n1,small\n2,{big}\n"));
    scratch.write(
        "spec.yaml",
        spec("rows.csv", "batch:\n  max_bytes_per_file: 2000\n"),
    );
    expect_failure(
        &scratch,
        &[
            "rows.csv:3 (id `2`): the request for this row is",
            "over the per-file limit of 2000 bytes",
            "max_bytes_per_file",
        ],
    );
}

#[test]
fn refuses_to_overwrite_a_folder_it_did_not_write() {
    let scratch = Scratch::new();
    scratch.write("rows.csv", rows_csv(3));
    scratch.write("spec.yaml", spec("rows.csv", ""));
    scratch.write("out/precious.txt", "keep me");
    let outcome = scratch.run(&["compile", "spec.yaml", "--out", "out"]);
    assert_eq!(outcome.code, 2, "{outcome:?}");
    assert!(
        outcome
            .stderr
            .contains("is not a batchlabel compile output; refusing to overwrite it"),
        "{outcome:?}"
    );
    assert_eq!(
        std::fs::read_to_string(scratch.path().join("out/precious.txt")).unwrap(),
        "keep me"
    );
}

#[test]
fn compiles_the_jsonl_example_with_two_fields() {
    let scratch = Scratch::new();
    let spec_path = crate::repository().join("specs/tweet-topics.yaml");
    let outcome = scratch.run(&[
        "compile",
        spec_path.to_str().unwrap(),
        "--out",
        "out",
        "--json",
    ]);
    assert_eq!(outcome.code, 0, "{outcome:?}");
    let lines = lines_of(&scratch.path().join("out"));
    assert_eq!(lines.len(), 300);
    let schema = &lines[0]["body"]["response_format"]["json_schema"]["schema"];
    assert_eq!(
        schema["required"],
        serde_json::json!(["topics", "sentiment"])
    );
    assert_eq!(schema["properties"]["topics"]["maxItems"], 3);
    assert!(
        schema["properties"]["topics"].get("uniqueItems").is_none(),
        "not in the strict subset"
    );
}

#[test]
fn reads_excel_style_csv_with_bom_crlf_and_semicolons() {
    let scratch = Scratch::new();
    scratch.write(
        "rows.csv",
        "\u{feff}id;text\r\n1;\"naïve; café\"\r\n2;日本語のコメント 😀\r\n",
    );
    let text = spec("rows.csv", "").replace("  text: text\n", "  text: text\n  delimiter: \";\"\n");
    scratch.write("spec.yaml", text);
    let outcome = scratch.run(&["compile", "spec.yaml", "--out", "out"]);
    assert_eq!(outcome.code, 0, "{outcome:?}");
    let lines = lines_of(&scratch.path().join("out"));
    assert_eq!(lines.len(), 2);
    assert_eq!(lines[0]["custom_id"], "r-1");
    assert_eq!(lines[0]["body"]["messages"][1]["content"], "naïve; café");
    assert_eq!(
        lines[1]["body"]["messages"][1]["content"],
        "日本語のコメント 😀"
    );
}

#[test]
fn an_unreadable_first_jsonl_row_is_reported_as_itself() {
    let scratch = Scratch::new();
    scratch.write(
        "rows.jsonl",
        "{\"id\": 1, \"text\": \"unterminated}\n{\"id\": 2, \"text\": \"fine\"}\n",
    );
    let text = spec("rows.jsonl", "").replace("csv: rows.jsonl", "jsonl: rows.jsonl");
    scratch.write("spec.yaml", text);
    expect_failure(
        &scratch,
        &[
            "1 input row(s) have problems",
            "rows.jsonl:1: invalid JSON at column",
        ],
    );
}

#[test]
fn an_unterminated_quote_does_not_swallow_rows_silently() {
    let scratch = Scratch::new();
    scratch.write(
        "rows.csv",
        "id,text\n1,ok\n2,\"never closed\n3,more\n4,rows\n",
    );
    scratch.write("spec.yaml", spec("rows.csv", ""));
    expect_failure(&scratch, &["rows.csv:3: unterminated quoted field"]);
}
