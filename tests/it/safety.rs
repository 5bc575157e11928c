//! Nothing the user owns is destroyed and nothing is paid twice: outputs that name an input,
//! compile folders that are not ours, a lost or damaged ledger, answers with a repeated key.

use serde_json::Value;

use crate::Scratch;
use crate::local_server::LocalServer;

const ROWS: &str = "id,text\nr1,great product\nr2,terrible service\n";

fn job_writing(scratch: &Scratch, output: &str) {
    scratch.write("rows.csv", ROWS);
    scratch.write("job.yaml", crate::spec("rows.csv", output));
}

fn assert_input_untouched(scratch: &Scratch) {
    let input = std::fs::read_to_string(scratch.path().join("rows.csv")).unwrap();
    assert_eq!(input, ROWS, "the input changed");
}

#[test]
fn an_output_that_names_a_file_the_job_reads_is_refused_before_anything_is_sent() {
    let cases = [
        (
            "output:\n  csv: rows.csv\n",
            "the results file (`output`) `",
            "is the input",
        ),
        (
            "output:\n  csv: out/results.csv\n  errors: ./sub/../rows.csv\n",
            "the errors file (`output.errors`)",
            "is the input",
        ),
        (
            "output:\n  jsonl: job.yaml\n",
            "the results file",
            "is the spec",
        ),
        (
            "output:\n  csv: out/results.csv\n  errors: out/results.csv\n",
            "the errors file",
            "is the results file",
        ),
    ];
    let server_dir = tempfile::tempdir().unwrap();
    let server = LocalServer::start(server_dir.path(), &[]);
    for (output, what, conflict) in cases {
        let scratch = Scratch::new();
        job_writing(&scratch, output);
        let spec_before = std::fs::read_to_string(scratch.path().join("job.yaml")).unwrap();
        let check = scratch.run(&["check", "job.yaml"]);
        assert_eq!(check.code, 2, "{output}: {check:?}");
        assert!(
            check.stderr.contains(what) && check.stderr.contains(conflict),
            "{output}: {check:?}"
        );
        let run = scratch.run(&["run", "job.yaml", "--base-url", &server.base_url()]);
        assert_eq!(run.code, 2, "{output}: {run:?}");
        assert!(run.stderr.contains("nothing was sent"), "{run:?}");
        assert_input_untouched(&scratch);
        let spec_after = std::fs::read_to_string(scratch.path().join("job.yaml")).unwrap();
        assert_eq!(spec_before, spec_after);
    }
    assert_eq!(server.stats()["uploads"], 0, "nothing was sent");
}

#[test]
fn an_output_through_a_link_or_into_a_folder_or_a_file_is_refused() {
    let scratch = Scratch::new();
    job_writing(&scratch, "output:\n  csv: linked.csv\n");
    std::fs::hard_link(
        scratch.path().join("rows.csv"),
        scratch.path().join("linked.csv"),
    )
    .unwrap();
    let check = scratch.run(&["check", "job.yaml"]);
    assert_eq!(check.code, 2, "{check:?}");
    assert!(check.stderr.contains("is the input"), "{check:?}");
    job_writing(&scratch, "output:\n  csv: rows.csv/results.csv\n");
    let check = scratch.run(&["check", "job.yaml"]);
    assert_eq!(check.code, 2, "{check:?}");
    assert!(check.stderr.contains("is not a folder"), "{check:?}");
    std::fs::create_dir(scratch.path().join("results.csv")).unwrap();
    job_writing(&scratch, "output:\n  csv: results.csv\n");
    let check = scratch.run(&["check", "job.yaml"]);
    assert_eq!(check.code, 2, "{check:?}");
    assert!(check.stderr.contains("is a folder"), "{check:?}");
    assert_input_untouched(&scratch);
}

#[test]
fn a_state_dir_or_report_or_compile_folder_over_the_users_files_is_refused() {
    let scratch = Scratch::new();
    job_writing(&scratch, "");
    // The run directory is STATE_DIR/test-job: the user's files may live in it (here the
    // input), but no output may take the name of the ledger or a folder `run` keeps there.
    std::fs::create_dir_all(scratch.path().join("state/test-job")).unwrap();
    std::fs::rename(
        scratch.path().join("rows.csv"),
        scratch.path().join("state/test-job/rows.csv"),
    )
    .unwrap();
    scratch.write(
        "job.yaml",
        crate::spec(
            "state/test-job/rows.csv",
            "output:\n  csv: state/test-job/ledger.sqlite\n",
        ),
    );
    let run = scratch.run(&[
        "run",
        "job.yaml",
        "--state-dir",
        "state",
        "--base-url",
        "http://127.0.0.1:9/v1",
    ]);
    assert_eq!(run.code, 2, "{run:?}");
    assert!(
        run.stderr.contains("the run directory (`--state-dir`)")
            && run.stderr.contains("holds the results file"),
        "{run:?}"
    );
    assert!(!scratch.path().join("state/test-job/ledger.sqlite").exists());
    // A compile folder that holds a manifest.json and the user's data is not ours.
    let scratch = Scratch::new();
    job_writing(&scratch, "");
    scratch.write("out/manifest.json", "{}");
    scratch.write("out/precious.csv", "keep me");
    let compile = scratch.run(&["compile", "job.yaml", "--out", "out"]);
    assert_eq!(compile.code, 2, "{compile:?}");
    assert_eq!(
        std::fs::read_to_string(scratch.path().join("out/precious.csv")).unwrap(),
        "keep me"
    );
    // `--out .` holds the spec and the input.
    let compile = scratch.run(&["compile", "job.yaml", "--out", "."]);
    assert_eq!(compile.code, 2, "{compile:?}");
    assert!(compile.stderr.contains("holds the spec"), "{compile:?}");
    assert_input_untouched(&scratch);
    // A compile folder it wrote is replaced; one a user added a file to is not.
    let first = scratch.run(&["compile", "job.yaml", "--out", "batches"]);
    assert_eq!(first.code, 0, "{first:?}");
    let again = scratch.run(&["compile", "job.yaml", "--out", "batches"]);
    assert_eq!(again.code, 0, "{again:?}");
    scratch.write("batches/notes.txt", "mine");
    let refused = scratch.run(&["compile", "job.yaml", "--out", "batches"]);
    assert_eq!(refused.code, 2, "{refused:?}");
    assert!(scratch.path().join("batches/notes.txt").exists());
}

/// A job with `shards` shards of 10 rows, submitted with `--no-wait` to a slow server.
fn submitted_job(scratch: &Scratch, server: &LocalServer, shards: usize) {
    crate::run::job(scratch, shards * 10, 10, 1);
    let submitted = crate::run::run(scratch, server, &["--no-wait"]);
    assert_eq!(submitted.code, 0, "{submitted:?}");
}

#[test]
fn a_lost_ledger_takes_over_the_jobs_batches_at_the_provider_instead_of_paying_again() {
    let server_dir = tempfile::tempdir().unwrap();
    let server = LocalServer::start(server_dir.path(), &["--step-delay-ms", "100"]);
    let scratch = Scratch::new();
    submitted_job(&scratch, &server, 3);
    // The ledger's main file holds the batch ids without its write-ahead log.
    let copy = scratch.path().join("ledger-copy.sqlite");
    std::fs::copy(
        scratch.path().join(".batchlabel/test-job/ledger.sqlite"),
        &copy,
    )
    .unwrap();
    let connection = rusqlite::Connection::open(&copy).unwrap();
    let recorded: i64 = connection
        .query_row(
            "SELECT count(*) FROM shards WHERE batch_id IS NOT NULL",
            [],
            |row| row.get(0),
        )
        .unwrap();
    assert_eq!(recorded, 3, "the ledger was checkpointed after submitting");
    drop(connection);
    std::fs::remove_dir_all(scratch.path().join(".batchlabel")).unwrap();
    let outcome = crate::run::run(&scratch, &server, &[]);
    assert_eq!(outcome.code, 0, "{outcome:?}");
    let summary = crate::run::summary(&outcome);
    assert_eq!(summary["labeled_rows"], 30, "{summary:#}");
    let stats = server.stats();
    assert_eq!(stats["uploads"], 3, "no shard uploaded twice: {stats:#}");
    assert_eq!(stats["batches"], 3, "no batch created twice: {stats:#}");
    assert_eq!(crate::run::results(&scratch).len(), 30);
}

#[test]
fn a_damaged_ledger_stops_the_run_with_the_way_forward_and_sends_nothing() {
    let server_dir = tempfile::tempdir().unwrap();
    let server = LocalServer::start(server_dir.path(), &[]);
    let scratch = Scratch::new();
    submitted_job(&scratch, &server, 2);
    let ledger = scratch.path().join(".batchlabel/test-job/ledger.sqlite");
    let _ = std::fs::remove_file(ledger.with_extension("sqlite-wal"));
    let _ = std::fs::remove_file(ledger.with_extension("sqlite-shm"));
    let mut bytes = std::fs::read(&ledger).unwrap();
    bytes[..16].copy_from_slice(b"not a ledger :-)");
    std::fs::write(&ledger, &bytes).unwrap();
    let outcome = scratch.run(&["run", "job.yaml", "--base-url", &server.base_url()]);
    assert_eq!(outcome.code, 2, "{outcome:?}");
    assert!(outcome.stderr.contains("is damaged"), "{outcome:?}");
    assert!(outcome.stderr.contains("move it aside"), "{outcome:?}");
    assert_eq!(server.stats()["batches"], 2, "nothing sent");
    // Following the hint: the new ledger takes the batches over.
    std::fs::rename(&ledger, ledger.with_extension("damaged")).unwrap();
    let outcome = crate::run::run(&scratch, &server, &[]);
    assert_eq!(outcome.code, 0, "{outcome:?}");
    assert_eq!(crate::run::summary(&outcome)["labeled_rows"], 20);
    assert_eq!(server.stats()["batches"], 2, "no batch created twice");
}

#[test]
fn an_empty_or_folder_output_path_is_a_spec_error_at_its_position() {
    for output in [
        "output:\n  csv: \"\"\n",
        "output:\n  jsonl: out/\n",
        "output:\n  csv: out.csv\n  errors: \" \"\n",
    ] {
        let scratch = Scratch::new();
        job_writing(&scratch, output);
        let check = scratch.run(&["check", "job.yaml"]);
        assert_eq!(check.code, 2, "{output}: {check:?}");
        assert!(
            check.stderr.contains("must name a file"),
            "{output}: {check:?}"
        );
        assert!(check.stderr.contains("job.yaml:"), "{output}: {check:?}");
    }
}

#[test]
fn the_check_reports_json_errors_for_machines() {
    let scratch = Scratch::new();
    job_writing(&scratch, "output:\n  csv: rows.csv\n");
    let check = scratch.run(&["check", "job.yaml", "--json"]);
    assert_eq!(check.code, 2, "{check:?}");
    let value: Value = serde_json::from_str(&check.stdout).unwrap();
    assert_eq!(value["ok"], false);
    assert!(
        value["error"].as_str().unwrap().contains("is the input"),
        "{value:#}"
    );
}
