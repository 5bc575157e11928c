//! Each sink writes a labeled row (and the errors file a failed row) and commits; an
//! uncommitted sink leaves the destination as it was.

use std::path::Path;

use batchlabel_spec::{Output, OutputFormat};

use crate::{ErrorsFile, FailedRow, Provenance, open_sink, partial_path};

const FIELDS: [&str; 2] = ["sentiment", "topics"];
const OUTPUT: &str = r#"{"sentiment":"positive","topics":["a","b"]}"#;

fn provenance() -> Provenance<'static> {
    Provenance {
        model: "gpt-4o-mini",
        model_snapshot: Some("gpt-4o-mini-2024-07-18"),
        spec_fingerprint: "f00d",
        batch_id: Some("batch_1"),
        custom_id: "r-7",
        attempt: 1,
        input_tokens: 31,
        output_tokens: 5,
        cost_usd: 0.25,
        labeled_at: "2026-11-24T00:00:00Z",
        source: "batch",
        run: 3,
        packed_in: Some("pk-0123#2"),
    }
}

fn failure() -> FailedRow<'static> {
    FailedRow {
        id: "8",
        custom_id: "r-8",
        reason: Some("invalid_output"),
        detail: Some("not JSON"),
        attempts: 2,
        output: Some("{oops"),
        batch_id: None,
    }
}

const FAILED_LINE: &str = "{\"id\":\"8\",\"custom_id\":\"r-8\",\"reason\":\"invalid_output\",\
     \"detail\":\"not JSON\",\"attempts\":2,\"output\":\"{oops\",\"batch_id\":null}\n";

fn output(directory: &Path, name: &str, format: OutputFormat) -> Output {
    Output {
        path: directory.join(name),
        format,
        errors_path: directory.join("errors.jsonl"),
        write_back: None,
    }
}

/// Write one labeled and one failed row to `output` and commit both.
fn write_one_of_each(output: &Output) {
    let mut sink = open_sink(output, &FIELDS, &[]).expect("sink opens");
    let mut errors = ErrorsFile::create(&output.errors_path).expect("errors file opens");
    sink.labeled("7", OUTPUT, &provenance())
        .expect("labeled row");
    errors.failed(&failure()).expect("failed row");
    errors.commit().expect("errors commit");
    sink.commit().expect("sink commits");
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).expect("file readable")
}

fn assert_committed(output: &Output) {
    assert_eq!(read(&output.errors_path), FAILED_LINE);
    assert!(!partial_path(&output.errors_path).exists());
    assert!(!partial_path(&output.path).exists());
}

#[test]
fn csv_sink_writes_and_commits() {
    let directory = tempfile::tempdir().expect("tempdir");
    let output = output(directory.path(), "out/results.csv", OutputFormat::Csv);
    write_one_of_each(&output);
    assert_eq!(
        read(&output.path),
        "id,sentiment,topics,model,model_snapshot,spec_fingerprint,batch_id,custom_id,attempt,\
         input_tokens,output_tokens,cost_usd,labeled_at,source,run,packed_in\n\
         7,positive,\"[\"\"a\"\",\"\"b\"\"]\",gpt-4o-mini,gpt-4o-mini-2024-07-18,f00d,batch_1,\
         r-7,1,31,5,0.25,2026-11-24T00:00:00Z,batch,3,pk-0123#2\n"
    );
    assert_committed(&output);
}

#[test]
fn jsonl_sink_writes_and_commits() {
    let directory = tempfile::tempdir().expect("tempdir");
    let output = output(directory.path(), "results.jsonl", OutputFormat::Jsonl);
    write_one_of_each(&output);
    assert_eq!(
        read(&output.path),
        "{\"id\":\"7\",\"labels\":{\"sentiment\":\"positive\",\"topics\":[\"a\",\"b\"]},\
         \"provenance\":{\"model\":\"gpt-4o-mini\",\"model_snapshot\":\"gpt-4o-mini-2024-07-18\",\
         \"spec_fingerprint\":\"f00d\",\"batch_id\":\"batch_1\",\"custom_id\":\"r-7\",\
         \"attempt\":1,\"input_tokens\":31,\"output_tokens\":5,\"cost_usd\":0.25,\
         \"labeled_at\":\"2026-11-24T00:00:00Z\",\"source\":\"batch\",\"run\":3,\
         \"packed_in\":\"pk-0123#2\"}}\n"
    );
    assert_committed(&output);
}

#[test]
fn sqlite_sink_upserts_and_commits() {
    let directory = tempfile::tempdir().expect("tempdir");
    let output = output(directory.path(), "results.sqlite", OutputFormat::Sqlite);
    write_one_of_each(&output);
    write_one_of_each(&output);
    assert_committed(&output);
    let connection = rusqlite::Connection::open(&output.path).expect("database opens");
    let row: (i64, String, String, String, String, f64, i64) = connection
        .query_row(
            "SELECT count(*), id, sentiment, topics, labels, cost_usd, run FROM results",
            [],
            |row| {
                Ok((
                    row.get(0)?,
                    row.get(1)?,
                    row.get(2)?,
                    row.get(3)?,
                    row.get(4)?,
                    row.get(5)?,
                    row.get(6)?,
                ))
            },
        )
        .expect("one row");
    let expected = (1, "7", "positive", r#"["a","b"]"#, OUTPUT, 0.25, 3);
    assert_eq!(
        (row.0, &*row.1, &*row.2, &*row.3, &*row.4, row.5, row.6),
        expected
    );
}

#[test]
fn an_sqlite_table_from_before_gets_the_columns_added_since() {
    let directory = tempfile::tempdir().expect("tempdir");
    let output = output(directory.path(), "results.sqlite", OutputFormat::Sqlite);
    {
        let connection = rusqlite::Connection::open(&output.path).expect("database opens");
        // An earlier release's table: no `topics` field yet and no `packed_in` column.
        connection
            .execute_batch(
                "CREATE TABLE results(id TEXT PRIMARY KEY, sentiment TEXT, labels TEXT, model,
                 model_snapshot, spec_fingerprint, batch_id, custom_id, attempt, input_tokens,
                 output_tokens, cost_usd, labeled_at, source, run);
                 INSERT INTO results(id, sentiment) VALUES ('1', 'negative');",
            )
            .expect("old table");
    }
    write_one_of_each(&output);
    let connection = rusqlite::Connection::open(&output.path).expect("database opens");
    let (packed_in, topics): (String, String) = connection
        .query_row(
            "SELECT packed_in, topics FROM results WHERE id = '7'",
            [],
            |row| Ok((row.get(0)?, row.get(1)?)),
        )
        .expect("new row");
    assert_eq!(
        (packed_in.as_str(), topics.as_str()),
        ("pk-0123#2", r#"["a","b"]"#)
    );
    let kept: String = connection
        .query_row("SELECT sentiment FROM results WHERE id = '1'", [], |row| {
            row.get(0)
        })
        .expect("old row kept");
    assert_eq!(kept, "negative");
}

#[test]
fn an_uncommitted_csv_sink_leaves_the_destination_untouched() {
    let directory = tempfile::tempdir().expect("tempdir");
    let output = output(directory.path(), "results.csv", OutputFormat::Csv);
    std::fs::write(&output.path, "earlier results\n").expect("earlier file");
    let mut sink = open_sink(&output, &FIELDS, &[]).expect("sink opens");
    sink.labeled("7", OUTPUT, &provenance())
        .expect("labeled row");
    drop(sink);
    assert_eq!(read(&output.path), "earlier results\n");
    assert!(partial_path(&output.path).exists());
}

#[test]
fn a_stored_output_that_is_not_json_stops_the_jsonl_sink() {
    let directory = tempfile::tempdir().expect("tempdir");
    let output = output(directory.path(), "results.jsonl", OutputFormat::Jsonl);
    let mut sink = open_sink(&output, &FIELDS, &[]).expect("sink opens");
    let error = sink
        .labeled("7", "{oops", &provenance())
        .expect_err("not JSON");
    assert!(
        error
            .to_string()
            .starts_with("a stored output is not JSON: "),
        "{error}"
    );
}

#[test]
fn file_errors_name_the_file() {
    let directory = tempfile::tempdir().expect("tempdir");
    let blocked = directory.path().join("blocked");
    std::fs::write(&blocked, "a file, not a folder").expect("file");
    let output = output(&blocked, "results.csv", OutputFormat::Csv);
    let Err(error) = open_sink(&output, &FIELDS, &[]) else {
        panic!("a results folder under a file cannot be created");
    };
    assert!(
        error
            .to_string()
            .starts_with(&format!("`{}`: ", blocked.display())),
        "{error}"
    );
}
