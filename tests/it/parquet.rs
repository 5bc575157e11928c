//! Parquet in and out, with another implementation on the other side: pyarrow (from PyPI, in
//! the SDK venv `scripts/sdk-venv.sh` makes) writes the inputs — a folder of files with
//! dictionary-encoded and large strings, integer and UUID ids, columns the job never reads —
//! and reads batchlabel's results back with their types.

use std::path::PathBuf;
use std::process::Command;

use crate::Scratch;
use crate::local_server::LocalServer;

/// The SDK venv's python: `$BATCHLABEL_SDK_PYTHON`, else `<repo>/.venv-sdk/bin/python`.
fn python() -> PathBuf {
    std::env::var_os("BATCHLABEL_SDK_PYTHON").map_or_else(
        || crate::repository().join(".venv-sdk/bin/python"),
        PathBuf::from,
    )
}

/// Run `script` with pyarrow in `scratch`; its stdout.
fn pyarrow(scratch: &Scratch, script: &str) -> String {
    let python = python();
    assert!(
        python.exists(),
        "{} is missing: run `bash scripts/sdk-venv.sh` (the README's test command does)",
        python.display()
    );
    let output = Command::new(python)
        .args(["-c", script])
        .current_dir(scratch.path())
        .output()
        .expect("run python");
    assert!(
        output.status.success(),
        "pyarrow script failed:\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

const WRITE_INPUTS: &str = r#"
import os, uuid, pyarrow as pa, pyarrow.parquet as pq
os.makedirs("data", exist_ok=True)
for part in range(2):
    ids = [f"c{part}-{n}" for n in range(15)]
    texts = pa.array([f"comment {n} of part {part} about the product" for n in range(15)]).dictionary_encode()
    notes = pa.array(["unused " * 50] * 15, type=pa.large_string())
    blobs = pa.array([os.urandom(64) for _ in range(15)], type=pa.binary())
    pq.write_table(pa.table({"id": ids, "body": texts, "note": notes, "blob": blobs}), f"data/part-{part}.parquet", compression="zstd" if part else "snappy")
open("data/readme.txt", "w").write("not parquet")
pq.write_table(pa.table({"id": pa.array([1, 2, 3], type=pa.int64()), "body": ["a", "b", "c"]}), "ints.parquet")
uuids = [uuid.UUID(int=n).bytes for n in range(1, 4)]
pq.write_table(pa.table({"id": pa.array(uuids, type=pa.uuid()), "body": ["a", "b", "c"]}), "uuids.parquet")
pq.write_table(pa.table({"id": ["a", "b"], "body": pa.array([1, 2], type=pa.int32())}), "numbers.parquet")
open("broken.parquet", "wb").write(b"PAR1 this is not a parquet file")
"#;

const READ_RESULTS: &str = r#"
import json, pyarrow.parquet as pq
table = pq.read_table("out/results.parquet")
types = {field.name: str(field.type) for field in table.schema}
rows = table.to_pylist()
print(json.dumps({"types": types, "ids": sorted(row["id"] for row in rows), "rows": rows[:3]}, default=str))
"#;

fn spec(input: &str) -> String {
    format!(
        "name: parquet-job\ninput:\n  parquet: {input}\n  id: id\n  text: body\nprompt:\n  system: Label the sentiment and topics.\n  user: \"{{{{ text }}}}\"\nlabels:\n  sentiment:\n    one_of: [POSITIVE, NEGATIVE, NEUTRAL]\n  topics:\n    any_of: [price, quality, delivery]\nmodel:\n  provider: openai\n  name: gpt-4o-mini\n  temperature: 0\noutput:\n  parquet: out/results.parquet\nbatch:\n  max_requests_per_file: 10\n"
    )
}

#[test]
fn parquet_written_by_pyarrow_is_labeled_into_parquet_that_pyarrow_reads_with_its_types() {
    let scratch = Scratch::new();
    pyarrow(&scratch, WRITE_INPUTS);
    let server_dir = tempfile::tempdir().unwrap();
    let server = LocalServer::start(server_dir.path(), &[]);
    for (input, rows) in [
        ("data/*.parquet", 30),
        ("data", 30),
        ("ints.parquet", 3),
        ("uuids.parquet", 3),
    ] {
        let _ = std::fs::remove_dir_all(scratch.path().join(".batchlabel"));
        scratch.write("job.yaml", spec(input));
        let outcome = crate::run::run(&scratch, &server, &[]);
        assert_eq!(outcome.code, 0, "{input}: {outcome:?}");
        assert_eq!(
            crate::run::summary(&outcome)["labeled_rows"],
            rows,
            "{input}: {outcome:?}"
        );
        let read: serde_json::Value =
            serde_json::from_str(&pyarrow(&scratch, READ_RESULTS)).unwrap();
        let types = &read["types"];
        assert_eq!(types["id"], "string", "{read:#}");
        assert_eq!(types["sentiment"], "string", "{read:#}");
        assert_eq!(
            types["topics"], "list<element: string not null>",
            "{read:#}"
        );
        assert_eq!(types["attempt"], "int64", "{read:#}");
        assert_eq!(types["cost_usd"], "double", "{read:#}");
        assert_eq!(types["labeled_at"], "timestamp[ms, tz=UTC]", "{read:#}");
        let ids = read["ids"].as_array().unwrap();
        assert_eq!(ids.len(), rows, "{read:#}");
        let first = &read["rows"][0];
        assert!(
            ["POSITIVE", "NEGATIVE", "NEUTRAL"].contains(&first["sentiment"].as_str().unwrap()),
            "{read:#}"
        );
        assert!(first["topics"].is_array(), "{read:#}");
        let labels: serde_json::Value =
            serde_json::from_str(first["labels"].as_str().unwrap()).unwrap();
        assert_eq!(labels["sentiment"], first["sentiment"], "{read:#}");
        match input {
            "ints.parquet" => assert_eq!(ids[0], "1"),
            "uuids.parquet" => assert_eq!(ids[0], "00000000-0000-0000-0000-000000000001"),
            _ => assert_eq!(ids[0], "c0-0"),
        }
    }
}

#[test]
fn parquet_inputs_that_cannot_be_labeled_are_clear_errors() {
    let scratch = Scratch::new();
    pyarrow(&scratch, WRITE_INPUTS);
    for (input, expected) in [
        (
            "numbers.parquet",
            "text column `body` is INT32, not a string column",
        ),
        ("broken.parquet", "not a readable Parquet file"),
        ("data/*.csv", "no file matches `*.csv`"),
        ("missing/*.parquet", "input `"),
    ] {
        scratch.write("job.yaml", spec(input));
        let check = scratch.run(&["check", "job.yaml"]);
        assert_eq!(check.code, 2, "{input}: {check:?}");
        assert!(
            check.stderr.contains(expected),
            "{input}: expected `{expected}`: {check:?}"
        );
        assert!(!check.stderr.contains("panicked"), "{check:?}");
    }
    scratch.write(
        "job.yaml",
        spec("data").replace("out/results.parquet", "data/results.parquet"),
    );
    let check = scratch.run(&["check", "job.yaml"]);
    assert!(
        check.stderr.contains("the next run would read it as input"),
        "{check:?}"
    );
    scratch.write(
        "job.yaml",
        spec("ints.parquet").replace("id: id", "id: ident"),
    );
    let check = scratch.run(&["check", "job.yaml"]);
    assert!(check.stderr.contains("no column `ident`"), "{check:?}");
}

#[test]
fn init_from_a_parquet_file_folder_or_glob_writes_a_spec_that_reads_it() {
    let scratch = Scratch::new();
    pyarrow(&scratch, WRITE_INPUTS);
    // A file, a folder of `.parquet` files (its readme skipped), and a glob.
    for (index, from) in ["data/part-0.parquet", "data", "data/part-*.parquet"]
        .into_iter()
        .enumerate()
    {
        let name = format!("job-{index}.yaml");
        let outcome = scratch.run(&["init", &name, "--from", from]);
        assert_eq!(outcome.code, 0, "{from}: {outcome:?}");
        assert!(outcome.stdout.contains("id    id:"), "{outcome:?}");
        assert!(outcome.stdout.contains("text  body:"), "{outcome:?}");
        let path = scratch.path().join(&name);
        let spec = std::fs::read_to_string(&path).unwrap();
        assert!(
            spec.contains(&format!("\n  parquet: \"{from}\"\n")),
            "{spec}"
        );
        let filled = crate::init::fill_labels(&path);
        let check = scratch.run(&["check", &name]);
        assert_eq!(check.code, 0, "{from}: {check:?}\n{filled}");
    }
    let none = scratch.run(&["init", "job-none.yaml", "--from", "data/none-*.parquet"]);
    assert_eq!(none.code, 2, "{none:?}");
    assert!(
        none.stderr.contains("no file matches `none-*.parquet`"),
        "{none:?}"
    );
}
