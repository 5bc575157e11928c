//! `batchlabel init --from` a database: an SQLite file (known by its header, whatever its
//! name) has its tables listed, one picked (`--table` when there are several), its rows
//! sampled and its id and text guessed; the spec reads it with `sqlite:` and a `query:`.

use rusqlite::Connection;

use crate::Scratch;
use crate::init::fill_labels;

/// `name` with a `comments` table (12 rows) and, with `users`, a second table.
fn database(scratch: &Scratch, name: &str, users: bool) {
    let db = Connection::open(scratch.path().join(name)).unwrap();
    db.execute_batch(
        "CREATE TABLE comments(id INTEGER PRIMARY KEY, body TEXT, lang TEXT, picture BLOB);",
    )
    .unwrap();
    for id in 1..=12 {
        db.execute(
            "INSERT INTO comments(id, body, lang, picture) VALUES (?1, ?2, 'en', x'00ff')",
            rusqlite::params![id, format!("comment number {id} about the product")],
        )
        .unwrap();
    }
    if users {
        db.execute_batch("CREATE TABLE \"user list\"(uid TEXT, name TEXT); INSERT INTO \"user list\" VALUES ('u1', 'ann');")
            .unwrap();
    }
}

#[test]
fn init_from_an_sqlite_database_reads_the_named_or_only_table() {
    let scratch = Scratch::new();
    database(&scratch, "app.sqlite", true);

    let several = scratch.run(&["init", "job.yaml", "--from", "app.sqlite"]);
    assert_eq!(several.code, 2, "{several:?}");
    assert!(
        several
            .stderr
            .contains("has 2 tables: `comments`, `user list`")
            && several.stderr.contains("--table NAME"),
        "{several:?}"
    );
    let unknown = scratch.run(&[
        "init",
        "job.yaml",
        "--from",
        "app.sqlite",
        "--table",
        "posts",
    ]);
    assert_eq!(unknown.code, 2, "{unknown:?}");
    assert!(
        unknown
            .stderr
            .contains("has no table `posts`; its tables: `comments`, `user list`"),
        "{unknown:?}"
    );
    assert!(!scratch.path().join("job.yaml").exists());

    let outcome = scratch.run(&[
        "init",
        "job.yaml",
        "--from",
        "app.sqlite",
        "--table",
        "comments",
    ]);
    assert_eq!(outcome.code, 0, "{outcome:?}");
    for line in [
        "table: comments",
        "  id    id: named like an id",
        "  text  body: the longest free text",
        "id=1  body=comment number 1 about the product  lang=en",
        "  batchlabel check job.yaml\n",
    ] {
        assert!(outcome.stdout.contains(line), "no {line:?}: {outcome:?}");
    }
    let path = scratch.path().join("job.yaml");
    let spec = std::fs::read_to_string(&path).unwrap();
    assert!(spec.contains("\n  sqlite: \"app.sqlite\"\n"), "{spec}");
    // The BLOB column would fail every row: the query names the others.
    assert!(
        spec.contains("\n  query: \"SELECT \\\"id\\\", \\\"body\\\", \\\"lang\\\" FROM \\\"comments\\\" ORDER BY \\\"id\\\"\"\n"),
        "{spec}"
    );
    assert!(
        outcome
            .stdout
            .contains("left out of the query: picture (BLOB values"),
        "{outcome:?}"
    );
    fill_labels(&path);
    let check = scratch.run(&["check", "job.yaml"]);
    assert_eq!(check.code, 0, "{check:?}");

    // One table: no `--table` needed; the header, not the name, says it is SQLite.
    database(&scratch, "export.data", false);
    let only = scratch.run(&["init", "only.yaml", "--from", "export.data"]);
    assert_eq!(only.code, 0, "{only:?}");
    assert!(only.stdout.contains("table: comments"), "{only:?}");

    scratch.write("rows.csv", "id,text\n1,some words here\n");
    let not_a_database = scratch.run(&["init", "csv.yaml", "--from", "rows.csv", "--table", "t"]);
    assert_eq!(not_a_database.code, 2, "{not_a_database:?}");
    assert!(
        not_a_database.stderr.contains("`--table` picks a table"),
        "{not_a_database:?}"
    );
}

/// PostgreSQL: named by the variable holding its connection string (as specs name it), the
/// string itself never written or printed; a column batchlabel does not read is cast to text
/// in the query `init` writes, so the spec checks as written once labeled.
#[test]
fn init_from_postgres_names_the_variable_and_reads_the_table() {
    const ENV: &str = "BATCHLABEL_TEST_DB";
    let database = batchlabel_test_support::PostgresServer::start();
    database.sql(
        "CREATE TABLE comments(id bigint PRIMARY KEY, body text, created timestamptz DEFAULT now()); \
         INSERT INTO comments(id, body) SELECT n, 'comment ' || n || ' about the product' FROM generate_series(1, 12) AS n; \
         CREATE SCHEMA crm; CREATE TABLE crm.tickets(ticket text, message text);",
    );
    let url = database.url();
    let env = [(ENV, url.as_str())];
    let scratch = Scratch::new();

    let several = scratch.run_with_env(&["init", "job.yaml", "--from-postgres", ENV], &env);
    assert_eq!(several.code, 2, "{several:?}");
    assert!(
        several.stderr.contains(
            "the database in `$BATCHLABEL_TEST_DB` has 2 tables: `comments`, `crm.tickets`"
        ),
        "{several:?}"
    );
    let unset = scratch.run(&[
        "init",
        "job.yaml",
        "--from-postgres",
        "NO_SUCH_VARIABLE",
        "--table",
        "comments",
    ]);
    assert_eq!(unset.code, 2, "{unset:?}");
    assert!(
        unset.stderr.contains("`NO_SUCH_VARIABLE` is not set"),
        "{unset:?}"
    );

    // The connection string itself, given by mistake: refused, and not echoed.
    let pasted = scratch.run(&[
        "init",
        "job.yaml",
        "--from-postgres",
        &url,
        "--table",
        "comments",
    ]);
    assert_eq!(pasted.code, 2, "{pasted:?}");
    assert!(
        pasted
            .stderr
            .contains("takes the NAME of an environment variable"),
        "{pasted:?}"
    );
    assert!(
        !format!("{pasted:?}").contains(database.password()),
        "{pasted:?}"
    );

    let outcome = scratch.run_with_env(
        &[
            "init",
            "job.yaml",
            "--from-postgres",
            ENV,
            "--table",
            "comments",
        ],
        &env,
    );
    assert_eq!(outcome.code, 0, "{outcome:?}");
    for line in [
        "table: comments",
        "  id    id: named like an id",
        "  text  body:",
        "id=1  body=comment 1 about the product",
    ] {
        assert!(outcome.stdout.contains(line), "no {line:?}: {outcome:?}");
    }
    let path = scratch.path().join("job.yaml");
    let spec = std::fs::read_to_string(&path).unwrap();
    assert!(
        spec.contains("\n  postgres: \"BATCHLABEL_TEST_DB\"\n"),
        "{spec}"
    );
    assert!(
        spec.contains(
            "\n  query: \"SELECT \\\"id\\\", \\\"body\\\", \\\"created\\\"::text AS \\\"created\\\" FROM \\\"comments\\\" ORDER BY \\\"id\\\"\"\n"
        ),
        "{spec}"
    );
    fill_labels(&path);
    let check = scratch.run_with_env(&["check", "job.yaml"], &env);
    assert_eq!(check.code, 0, "{check:?}");
    for text in [&spec, &format!("{outcome:?}{several:?}{check:?}")] {
        assert!(
            !text.contains(database.password()),
            "the password leaked: {text}"
        );
        assert!(!text.contains(&url), "the connection string leaked: {text}");
    }
}
