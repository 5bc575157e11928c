//! PostgreSQL as a source, a results table and a write-back target, against a real server
//! (a throwaway cluster on 127.0.0.1) and a real `batchlabel serve`: rows streamed from a
//! query, results upserted, the user's table updated in place, a killed run resumed with
//! every row written once, and every way the database can refuse reported clearly — never
//! with the password.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use batchlabel_test_support::PostgresServer;

use crate::Scratch;
use crate::local_server::LocalServer;

const ENV: &str = "BATCHLABEL_TEST_DB";

/// `comments`: `rows` English comments and 5 French ones (not selected).
fn comments(server: &PostgresServer, rows: usize) {
    server.sql(&format!(
        "CREATE TABLE comments(id bigint PRIMARY KEY, body text, lang text, note text DEFAULT 'keep me', \
         created timestamptz DEFAULT now(), stars int, sentiment_label text, labeled_by text, labeled_at timestamptz); \
         INSERT INTO comments(id, body, lang) SELECT n, 'comment ' || n || ' about the product', \
         CASE WHEN n > {rows} THEN 'fr' ELSE 'en' END FROM generate_series(1, {}) AS n;",
        rows + 5
    ));
}

fn postgres_spec(query: &str, output: &str) -> String {
    format!(
        "name: pg-job\ninput:\n  postgres: {ENV}\n  query: \"{query}\"\n  id: id\n  text: body\nprompt:\n  system: Label the sentiment.\n  user: \"{{{{ text }}}}\"\nlabels:\n  sentiment:\n    one_of: {{POSITIVE: good, NEGATIVE: bad, NEUTRAL: neither}}\nmodel:\n  provider: openai\n  name: gpt-4o-mini\n  temperature: 0\noutput:\n{output}batch:\n  max_requests_per_file: 10\n"
    )
}

const QUERY: &str = "SELECT id, body FROM comments WHERE lang = 'en' ORDER BY id";
const OUTPUT: &str = "  postgres: BATCHLABEL_TEST_DB\n  table: analytics.labels\n  write_back:\n    table: comments\n    columns: {sentiment: sentiment_label}\n    provenance: {model: labeled_by, labeled_at: labeled_at}\n";

fn run(scratch: &Scratch, server: &LocalServer, url: &str) -> crate::Outcome {
    scratch.run_with_env(
        &[
            "run",
            "job.yaml",
            "--json",
            "--base-url",
            &server.base_url(),
            "--poll-interval",
            "0.02",
            "--max-poll-interval",
            "0.1",
        ],
        &[(ENV, url)],
    )
}

fn assert_labeled(database: &PostgresServer, rows: usize) {
    let results = database.sql("SELECT count(*), count(DISTINCT id), count(*) FILTER (WHERE sentiment IN ('POSITIVE','NEGATIVE','NEUTRAL') AND labels ? 'sentiment' AND run >= 1 AND labeled_at IS NOT NULL) FROM analytics.labels");
    assert_eq!(
        results.trim(),
        format!("{rows}|{rows}|{rows}"),
        "the results table"
    );
    let written = database.sql(&format!(
        "SELECT count(*) FILTER (WHERE sentiment_label IN ('POSITIVE','NEGATIVE','NEUTRAL') AND labeled_by = 'gpt-4o-mini' AND labeled_at > now() - interval '1 hour' AND id <= {rows}), \
         count(*) FILTER (WHERE sentiment_label IS NULL AND labeled_by IS NULL AND id > {rows}), count(*) FILTER (WHERE note = 'keep me') FROM comments"
    ));
    assert_eq!(
        written.trim(),
        format!("{rows}|5|{}", rows + 5),
        "the write-back"
    );
}

#[test]
fn a_query_is_labeled_into_a_results_table_and_written_back_into_the_users_table() {
    let database = PostgresServer::start();
    comments(&database, 30);
    database.sql("CREATE SCHEMA analytics;");
    let scratch = Scratch::new();
    scratch.write("job.yaml", postgres_spec(QUERY, OUTPUT));
    let server_dir = tempfile::tempdir().unwrap();
    let server = LocalServer::start(server_dir.path(), &[]);
    let check = scratch.run_with_env(&["check", "job.yaml"], &[(ENV, &database.url())]);
    assert_eq!(check.code, 0, "{check:?}");
    assert!(
        check
            .stdout
            .contains("postgres:$BATCHLABEL_TEST_DB (2 columns: id, body)"),
        "{check:?}"
    );
    let outcome = run(&scratch, &server, &database.url());
    assert_eq!(outcome.code, 0, "{outcome:?}");
    assert_eq!(
        crate::run::summary(&outcome)["labeled_rows"],
        30,
        "{outcome:?}"
    );
    assert_labeled(&database, 30);
    // Again: the same rows resume the finished run, and writing again changes nothing.
    let again = run(&scratch, &server, &database.url());
    assert_eq!(crate::run::summary(&again)["run"], 1, "{again:?}");
    assert_labeled(&database, 30);
    // A changed row is a changed input: a new run pays for that row only.
    database.sql("UPDATE comments SET body = 'now I love it' WHERE id = 7;");
    let changed = run(&scratch, &server, &database.url());
    let summary = crate::run::summary(&changed);
    assert_eq!(
        (summary["run"].as_i64(), summary["cached_requests"].as_i64()),
        (Some(2), Some(29)),
        "{changed:?}"
    );
    assert_eq!(
        database
            .sql("SELECT run FROM analytics.labels WHERE id = '7'")
            .trim(),
        "2"
    );
    for outcome in [&check, &outcome, &again, &changed] {
        assert!(
            !format!("{outcome:?}").contains(database.password()),
            "{outcome:?}"
        );
    }
    crate::assert_no_file_holds(scratch.path(), database.password(), None);
}

fn fails(scratch: &Scratch, url: &str, expected: &[&str], secret: &str) {
    let check = scratch.run_with_env(&["check", "job.yaml"], &[(ENV, url)]);
    assert_eq!(check.code, 2, "{check:?}");
    for text in expected {
        assert!(check.stderr.contains(text), "expected `{text}`: {check:?}");
    }
    assert!(
        !check.stderr.contains(secret) && !check.stderr.contains("panicked"),
        "{check:?}"
    );
}

#[test]
fn every_way_the_database_refuses_is_a_clear_error_without_the_password() {
    let database = PostgresServer::start();
    comments(&database, 3);
    let scratch = Scratch::new();
    let results = "  csv: out/results.csv\n";
    scratch.write("job.yaml", postgres_spec(QUERY, results));
    let wrong = database.url_with_password("not-the-password-42");
    fails(
        &scratch,
        &wrong,
        &[
            "password authentication failed",
            "check the user and password",
        ],
        "not-the-password-42",
    );
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = closed.local_addr().unwrap().port();
    drop(closed);
    let refused = format!("postgres://batchlabel:secret-pw-77@127.0.0.1:{port}/postgres");
    fails(
        &scratch,
        &refused,
        &[
            "postgres:$BATCHLABEL_TEST_DB",
            "refused",
            "is the server running",
        ],
        "secret-pw-77",
    );
    let unset = scratch.run(&["check", "job.yaml"]);
    assert!(
        unset
            .stderr
            .contains("the environment variable `BATCHLABEL_TEST_DB` is not set"),
        "{unset:?}"
    );
    let url = database.url();
    scratch.write(
        "job.yaml",
        postgres_spec(
            "SELECT id, body FROM comments WHERE lang = 'en' ORDER BY idd",
            results,
        ),
    );
    fails(
        &scratch,
        &url,
        &["column \"idd\" does not exist", "ORDER BY idd\n", "^"],
        database.password(),
    );
    scratch.write(
        "job.yaml",
        postgres_spec("SELECT id, created AS body FROM comments", results),
    );
    fails(
        &scratch,
        &url,
        &["column `body` has type timestamptz", "`body::text`"],
        database.password(),
    );
    database.sql("UPDATE comments SET stars = 5;");
    scratch.write(
        "job.yaml",
        postgres_spec("SELECT id, stars AS body FROM comments", results),
    );
    fails(
        &scratch,
        &url,
        &[
            "text column `body` holds a number, not text",
            "CAST(body AS TEXT)",
        ],
        database.password(),
    );
    scratch.write(
        "job.yaml",
        postgres_spec("SELECT NULL::bigint AS id, body FROM comments", results),
    );
    fails(
        &scratch,
        &url,
        &["NULL id in column `id`"],
        database.password(),
    );
    scratch.write(
        "job.yaml",
        postgres_spec("SELECT 1 AS id, body FROM comments", results),
    );
    let server_dir = tempfile::tempdir().unwrap();
    let server = LocalServer::start(server_dir.path(), &[]);
    let duplicates = run(&scratch, &server, &url);
    assert_eq!(duplicates.code, 2, "{duplicates:?}");
    assert!(
        format!("{duplicates:?}").contains("duplicate id `1`"),
        "{duplicates:?}"
    );
    assert_eq!(server.stats()["batches"], 0, "nothing is sent");
    let write_back =
        |columns: &str| format!("  write_back:\n    table: comments\n    columns: {{{columns}}}\n");
    scratch.write(
        "job.yaml",
        postgres_spec(QUERY, &write_back("sentiment: stars")),
    );
    fails(
        &scratch,
        &url,
        &["column `stars` of `comments` is integer, which cannot hold label `sentiment`"],
        database.password(),
    );
    database.sql(
        "ALTER TABLE comments ADD COLUMN short varchar(5), ADD COLUMN cost integer; \
         CREATE TABLE unkeyed(id text, sentiment text);",
    );
    let cases = [
        (
            postgres_spec(QUERY, &write_back("sentiment: short")),
            "column `short` of `comments` is character varying(5), but label `sentiment` can be 8 characters long",
        ),
        (
            postgres_spec(
                QUERY,
                "  write_back:\n    table: comments\n    columns: {sentiment: sentiment_label}\n    provenance: {cost_usd: cost}\n",
            ),
            "column `cost` of `comments` is integer, which cannot hold provenance `cost_usd`",
        ),
        (
            postgres_spec(QUERY, "  postgres: BATCHLABEL_TEST_DB\n  table: unkeyed\n"),
            "the results table `unkeyed` exists but is not keyed by a text `id`",
        ),
        (
            postgres_spec(
                QUERY,
                "  postgres: BATCHLABEL_TEST_DB\n  table: nowhere.labels\n",
            ),
            "the schema of `nowhere.labels` does not exist",
        ),
    ];
    for (spec, expected) in cases {
        scratch.write("job.yaml", spec);
        fails(&scratch, &url, &[expected], database.password());
    }
    scratch.write(
        "job.yaml",
        postgres_spec(QUERY, &write_back("sentiment: nope")),
    );
    fails(
        &scratch,
        &url,
        &["table `comments` has no column `nope`"],
        database.password(),
    );
    scratch.write(
        "job.yaml",
        postgres_spec(QUERY, "  postgres: \"postgres://u:pw@h/db\"\n"),
    );
    let inline = scratch.run(&["check", "job.yaml"]);
    assert!(
        inline
            .stderr
            .contains("must name an environment variable, not hold a connection string"),
        "{inline:?}"
    );
}

#[test]
fn a_run_killed_at_any_moment_resumes_with_every_row_written_once() {
    const KILLS: u64 = 6;
    const ROWS: usize = 400;
    let database = PostgresServer::start();
    comments(&database, ROWS);
    database.sql("CREATE SCHEMA analytics;");
    let scratch = Scratch::new();
    scratch.write(
        "job.yaml",
        postgres_spec(QUERY, OUTPUT)
            .replace("max_requests_per_file: 10", "max_requests_per_file: 40"),
    );
    let server_dir = tempfile::tempdir().unwrap();
    let server = LocalServer::start(server_dir.path(), &["--step-delay-ms", "50"]);
    let url = database.url();
    let base_url = server.base_url();
    let mut killed = 0;
    for attempt in 0..KILLS {
        let mut child = Command::new(env!("CARGO_BIN_EXE_batchlabel"))
            .args([
                "run",
                "job.yaml",
                "-q",
                "--base-url",
                &base_url,
                "--poll-interval",
                "0.02",
                "--max-poll-interval",
                "0.1",
            ])
            .env(ENV, &url)
            .current_dir(scratch.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        // Spread over the run, its sink write included.
        let wait = Duration::from_millis(150 + attempt * 150);
        let started = Instant::now();
        while started.elapsed() < wait && child.try_wait().unwrap().is_none() {
            std::thread::sleep(Duration::from_millis(5));
        }
        if child.try_wait().unwrap().is_none() {
            killed += 1;
        }
        child.kill().ok();
        child.wait().unwrap();
    }
    assert!(
        killed >= 2,
        "only {killed} kills: the test did not test much"
    );
    let outcome = run(&scratch, &server, &url);
    assert_eq!(outcome.code, 0, "{outcome:?}");
    assert_labeled(&database, ROWS);
    let stats = server.stats();
    for (metadata, count) in stats["batches_by_metadata"].as_object().unwrap() {
        assert_eq!(count, 1, "{metadata} became {count} batches");
    }
}

#[test]
fn tls_is_verified_against_pgsslrootcert_and_required_when_asked() {
    let (database, ca) = PostgresServer::start_tls();
    comments(&database, 3);
    let scratch = Scratch::new();
    scratch.write("job.yaml", postgres_spec(QUERY, "  csv: out/results.csv\n"));
    let ca = ca.to_str().unwrap();
    for mode in ["require", "verify-full"] {
        let url = format!("{}?sslmode={mode}", database.url());
        let check = scratch.run_with_env(
            &["check", "job.yaml"],
            &[(ENV, &url), ("PGSSLROOTCERT", ca)],
        );
        assert_eq!(check.code, 0, "{mode}: {check:?}");
        assert!(check.stdout.contains("(2 columns: id, body)"), "{check:?}");
    }
    // Without the CA the certificate does not verify: required TLS fails, and preferred TLS
    // falls back to plain, which this server refuses, so the TLS error is the one shown.
    let required = format!("{}?sslmode=require", database.url());
    fails(
        &scratch,
        &required,
        &["certificate", "set PGSSLROOTCERT"],
        database.password(),
    );
    fails(
        &scratch,
        &database.url(),
        &["UnknownIssuer", "set PGSSLROOTCERT"],
        database.password(),
    );
    let missing = scratch.run_with_env(
        &["check", "job.yaml"],
        &[(ENV, &required), ("PGSSLROOTCERT", "/nonexistent/ca.pem")],
    );
    assert!(
        missing
            .stderr
            .contains("cannot read the certificates in PGSSLROOTCERT"),
        "{missing:?}"
    );
}
