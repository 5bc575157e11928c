//! SQLite as a source and a write-back target: a query's rows are labeled against a real
//! `batchlabel serve`, the labels land in the user's own table (only the named columns, only
//! the selected rows), a changed table is a new run that pays only for what changed, and bad
//! queries, ids, texts and write-back targets are clear errors before anything is sent.

use rusqlite::Connection;

use crate::Scratch;
use crate::local_server::LocalServer;

const LABELS: [&str; 3] = ["POSITIVE", "NEGATIVE", "NEUTRAL"];

/// `comments.db`: 12 English comments, 4 French ones (not selected), each with a `note`.
fn comments_db(scratch: &Scratch) -> std::path::PathBuf {
    let path = scratch.path().join("comments.db");
    let db = Connection::open(&path).unwrap();
    db.execute_batch(
        "CREATE TABLE comments(id INTEGER PRIMARY KEY, body TEXT, lang TEXT, note TEXT, \
         sentiment_label TEXT, labeled_by TEXT, labeled_run INTEGER);",
    )
    .unwrap();
    for id in 1..=16 {
        let lang = if id > 12 { "fr" } else { "en" };
        db.execute(
            "INSERT INTO comments(id, body, lang, note) VALUES (?1, ?2, ?3, 'keep me')",
            rusqlite::params![id, format!("comment {id} about the product"), lang],
        )
        .unwrap();
    }
    path
}

fn sqlite_spec(query: &str, output: &str) -> String {
    format!(
        "name: db-job\ninput:\n  sqlite: comments.db\n  query: {query}\n  id: id\n  text: body\nprompt:\n  system: Label the sentiment.\n  user: \"{{{{ text }}}}\"\nlabels:\n  sentiment:\n    one_of: {{POSITIVE: good, NEGATIVE: bad, NEUTRAL: neither}}\nmodel:\n  provider: openai\n  name: gpt-4o-mini\n  temperature: 0\noutput:\n{output}"
    )
}

const WRITE_BACK: &str = "  csv: out/results.csv\n  write_back:\n    table: comments\n    columns: {sentiment: sentiment_label}\n    provenance: {model: labeled_by, run: labeled_run}\n";

/// (id, label, labeled_by, run, note) of one row.
type TableRow = (i64, Option<String>, Option<String>, Option<i64>, String);

/// Every row of `comments`.
fn table(scratch: &Scratch) -> Vec<TableRow> {
    let db = Connection::open(scratch.path().join("comments.db")).unwrap();
    let mut statement = db
        .prepare(
            "SELECT id, sentiment_label, labeled_by, labeled_run, note FROM comments ORDER BY id",
        )
        .unwrap();
    statement
        .query_map([], |row| {
            Ok((
                row.get(0)?,
                row.get(1)?,
                row.get(2)?,
                row.get(3)?,
                row.get(4)?,
            ))
        })
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap()
}

#[test]
fn a_query_is_labeled_and_written_back_into_the_users_own_table() {
    let scratch = Scratch::new();
    comments_db(&scratch);
    let query = "SELECT id, body FROM comments WHERE lang = 'en' ORDER BY id";
    scratch.write("job.yaml", sqlite_spec(query, WRITE_BACK));
    let server_dir = tempfile::tempdir().unwrap();
    let server = LocalServer::start(server_dir.path(), &[]);
    let outcome = crate::run::run(&scratch, &server, &[]);
    assert_eq!(outcome.code, 0, "{outcome:?}");
    assert_eq!(
        crate::run::summary(&outcome)["labeled_rows"],
        12,
        "{outcome:?}"
    );
    for (id, label, by, run, note) in table(&scratch) {
        assert_eq!(note, "keep me", "row {id}: a column not named was touched");
        if id <= 12 {
            assert!(
                LABELS.contains(&label.as_deref().unwrap_or("")),
                "row {id}: {label:?}"
            );
            assert_eq!(by.as_deref(), Some("gpt-4o-mini"));
            assert_eq!(run, Some(1));
        } else {
            assert_eq!(
                (label, by, run),
                (None, None, None),
                "row {id} was not selected"
            );
        }
    }
    // The same rows: the run resumes (nothing sent); one changed text: a new run that sends
    // one request and reuses the others.
    let again = crate::run::run(&scratch, &server, &[]);
    assert_eq!(crate::run::summary(&again)["run"], 1, "{again:?}");
    let db = Connection::open(scratch.path().join("comments.db")).unwrap();
    db.execute(
        "UPDATE comments SET body = 'changed, and I love it' WHERE id = 3",
        [],
    )
    .unwrap();
    let changed = crate::run::run(&scratch, &server, &[]);
    assert_eq!(changed.code, 0, "{changed:?}");
    let summary = crate::run::summary(&changed);
    assert_eq!(summary["run"], 2, "{changed:?}");
    assert_eq!(summary["cached_requests"], 11, "{changed:?}");
    assert_eq!(
        table(&scratch)[2].3,
        Some(2),
        "the changed row carries the new run"
    );
}

fn check_fails(scratch: &Scratch, expected: &[&str]) {
    let check = scratch.run(&["check", "job.yaml"]);
    assert_eq!(check.code, 2, "{check:?}");
    for text in expected {
        assert!(check.stderr.contains(text), "expected `{text}`: {check:?}");
    }
    assert!(!check.stderr.contains("panicked"), "{check:?}");
}

#[test]
fn bad_queries_ids_texts_and_write_back_targets_are_clear_errors() {
    let scratch = Scratch::new();
    comments_db(&scratch);
    let db = Connection::open(scratch.path().join("comments.db")).unwrap();
    db.execute_batch(
        "CREATE TABLE loose(id TEXT, body, picture BLOB); \
         INSERT INTO loose VALUES ('a', 'fine', NULL), (NULL, 'no id', NULL), ('a', 'again', NULL), ('n', 42, NULL), ('p', 'x', x'00ff');",
    )
    .unwrap();
    let csv = "  csv: out/results.csv\n";
    scratch.write("job.yaml", sqlite_spec("SELEC id, body FROM comments", csv));
    check_fails(
        &scratch,
        &[
            "near \"SELEC\": syntax error",
            "    SELEC id, body FROM comments\n    ^",
            "hint: check the `input.query`",
        ],
    );
    scratch.write(
        "job.yaml",
        sqlite_spec("SELECT id, lang FROM comments", csv),
    );
    check_fails(
        &scratch,
        &[
            "no column `body`",
            "`comments.db` has columns: `id`, `lang`",
        ],
    );
    scratch.write("job.yaml", sqlite_spec("DELETE FROM comments", csv));
    check_fails(&scratch, &["would change the database"]);
    assert_eq!(table(&scratch).len(), 16, "the input was not written");
    scratch.write(
        "job.yaml",
        sqlite_spec("SELECT id, body, picture FROM loose", csv),
    );
    let server_dir = tempfile::tempdir().unwrap();
    let server = LocalServer::start(server_dir.path(), &[]);
    let run = crate::run::run(&scratch, &server, &[]);
    assert_eq!(run.code, 2, "{run:?}");
    assert_eq!(server.stats()["batches"], 0, "nothing is sent");
    let said = format!("{run:?}");
    for text in [
        "NULL id in column `id`",
        "duplicate id `a`",
        "text column `body` holds a number, not text",
        "column `picture` holds a BLOB",
    ] {
        assert!(said.contains(text), "expected `{text}`: {run:?}");
    }
    // A table without declared types still matches integer ids.
    db.execute_batch(
        "CREATE TABLE untyped(id, body, label); \
         INSERT INTO untyped VALUES (1, 'one day', NULL), (2, 'another day', NULL);",
    )
    .unwrap();
    let untyped = "  write_back:\n    table: untyped\n    columns: {sentiment: label}\n";
    scratch.write(
        "job.yaml",
        sqlite_spec("SELECT id, body FROM untyped ORDER BY id", untyped),
    );
    let run = crate::run::run(&scratch, &server, &["--new-run"]);
    assert_eq!(run.code, 0, "{run:?}");
    let labeled: i64 = db
        .query_row(
            "SELECT count(*) FROM untyped WHERE label IN ('POSITIVE', 'NEGATIVE', 'NEUTRAL')",
            [],
            |row| row.get(0),
        )
        .unwrap();
    assert_eq!(labeled, 2, "{run:?}");
    let query = "SELECT id, body FROM comments";
    let target = |table: &str, column: &str| {
        format!("  write_back:\n    table: {table}\n    columns: {{sentiment: {column}}}\n")
    };
    scratch.write(
        "job.yaml",
        sqlite_spec(query, &target("comment", "sentiment_label")),
    );
    check_fails(&scratch, &["the write-back table `comment` does not exist"]);
    scratch.write(
        "job.yaml",
        sqlite_spec(query, &target("comments", "sentiment")),
    );
    check_fails(
        &scratch,
        &[
            "table `comments` has no column `sentiment` (for label `sentiment`)",
            "sentiment_label",
        ],
    );
    // Checked before anything is sent: the run stops on the table, not on the dead server.
    let run = crate::run::run_at(&scratch, "http://127.0.0.1:9/v1", &[]);
    assert_eq!(run.code, 2, "{run:?}");
    assert!(
        format!("{run:?}").contains("has no column `sentiment`"),
        "{run:?}"
    );
    scratch.write(
        "job.yaml",
        sqlite_spec(query, "  write_back:\n    table: comments\n    columns: {mood: x}\n    provenance: {when: y}\n"),
    );
    check_fails(
        &scratch,
        &[
            "`mood` is not a label field",
            "`when` is not a provenance name",
        ],
    );
    scratch.write("job.yaml", sqlite_spec(query, &target("comments", "id")));
    check_fails(&scratch, &["the id column `id` would receive a value"]);
}
