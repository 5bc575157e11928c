//! Hostile inputs and hostile servers: ids kept as written, BOMs, repeated headers, escape
//! sequences in ids and model names, and a provider that echoes every credential it is
//! sent. Each test checks the message and that the user's files are untouched.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::path::Path;
use std::process::Command;

use crate::local_server::LocalServer;
use crate::{Outcome, Scratch};

/// `spec` reading `rows.jsonl` instead of a CSV.
fn jsonl_spec(extra: &str) -> String {
    crate::spec("rows.jsonl", extra).replace("csv: rows.jsonl", "jsonl: rows.jsonl")
}

/// Run `batchlabel` in `scratch` with extra environment variables.
fn run_with_env(scratch: &Scratch, args: &[&str], env: &[(&str, &str)]) -> Outcome {
    let mut command = Command::new(env!("CARGO_BIN_EXE_batchlabel"));
    command
        .args(args)
        .current_dir(scratch.path())
        .env("NO_COLOR", "1")
        .env_remove("OPENAI_BASE_URL")
        .env_remove("OPENAI_API_KEY")
        .env_remove("BATCHLABEL_STATE_DIR");
    for (name, value) in env {
        command.env(name, value);
    }
    let output = command.output().expect("run batchlabel");
    Outcome {
        code: output.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

/// The bytes of `path`, to compare before and after.
fn bytes(path: &Path) -> Vec<u8> {
    std::fs::read(path).expect("read user file")
}

#[test]
fn jsonl_ids_keep_their_spelling_and_a_bom_is_accepted() {
    let scratch = Scratch::new();
    let input = scratch.write(
        "rows.jsonl",
        "\u{feff}{\"id\": 1e2, \"text\": \"great\"}\n{\"id\": 12345678901234567890, \"text\": \"bad\"}\n{\"id\": \"007\", \"text\": \"fine\"}\n{\"id\": -0, \"text\": \"ok\"}\n",
    );
    let spec = scratch.write("job.yaml", jsonl_spec("output:\n  csv: out/results.csv\n"));
    let (input_before, spec_before) = (bytes(&input), bytes(&spec));
    let server = LocalServer::start(scratch.path(), &[]);
    let outcome = crate::run::run(&scratch, &server, &[]);
    assert_eq!(outcome.code, 0, "{outcome:?}");
    let ids: Vec<String> = crate::run::results(&scratch).into_keys().collect();
    assert_eq!(ids, ["-0", "007", "12345678901234567890", "1e2"]);
    assert_eq!(bytes(&input), input_before);
    assert_eq!(bytes(&spec), spec_before);
}

#[test]
fn a_csv_bom_before_a_quoted_header_is_accepted() {
    let scratch = Scratch::new();
    let input = scratch.write("rows.csv", "\u{feff}\"id\",\"text\"\n1,great\n");
    scratch.write("job.yaml", crate::spec("rows.csv", ""));
    let before = bytes(&input);
    let check = scratch.run(&["check", "job.yaml"]);
    assert_eq!(check.code, 0, "{check:?}");
    assert!(check.stdout.contains("(2 columns: id, text)"), "{check:?}");
    assert_eq!(bytes(&input), before);
}

#[test]
fn a_repeated_csv_header_is_refused_naming_both_positions() {
    let scratch = Scratch::new();
    let input = scratch.write("rows.csv", "id,text,notes,text\n1,a,b,c\n");
    scratch.write("job.yaml", crate::spec("rows.csv", ""));
    let before = bytes(&input);
    let check = scratch.run(&["check", "job.yaml"]);
    assert_eq!(check.code, 2, "{check:?}");
    assert!(
        check
            .stderr
            .contains("column `text` appears twice in the header (columns 2 and 4)"),
        "{check:?}"
    );
    let compile = scratch.run(&["compile", "job.yaml", "--out", "out"]);
    assert_eq!(compile.code, 2, "{compile:?}");
    assert!(!scratch.path().join("out").exists());
    assert_eq!(bytes(&input), before);
}

#[test]
fn escape_sequences_in_ids_and_model_names_are_shown_not_obeyed() {
    let scratch = Scratch::new();
    let input = scratch.write(
        "rows.csv",
        "id,text\n\"a\u{1b}]0;pwned\u{7}\",great\n\"b\u{9b}2J\u{202e}\",bad\n",
    );
    let spec =
        crate::spec("rows.csv", "").replace("name: gpt-4o-mini", "name: \"gpt-4o-mini\\e[2J\"");
    scratch.write("job.yaml", spec);
    let before = bytes(&input);
    let check = scratch.run(&["check", "job.yaml"]);
    assert_eq!(check.code, 0, "{check:?}");
    assert!(check.stdout.contains("gpt-4o-mini\\u001b[2J"), "{check:?}");

    let server = LocalServer::start(scratch.path(), &[]);
    let base_url = server.base_url();
    let pilot = scratch.run(&[
        "pilot",
        "job.yaml",
        "--first",
        "--rows",
        "2",
        "--base-url",
        &base_url,
    ]);
    assert!(
        pilot.stdout.contains("a\\u001b]0;pwned\\u0007"),
        "{pilot:?}"
    );
    assert!(pilot.stdout.contains("b\\u009b2J\\u202e"), "{pilot:?}");
    let json = scratch.run(&[
        "pilot",
        "job.yaml",
        "--first",
        "--rows",
        "2",
        "--base-url",
        &base_url,
        "--json",
    ]);
    let report: serde_json::Value = serde_json::from_str(&json.stdout).expect("valid JSON");
    let ids: Vec<&str> = report["pilot"]["results"]
        .as_array()
        .expect("results")
        .iter()
        .filter_map(|row| row["id"].as_str())
        .collect();
    // Escaped for the terminal, yet the JSON still decodes to the exact ids.
    assert_eq!(ids, ["a\u{1b}]0;pwned\u{7}", "b\u{9b}2J\u{202e}"]);
    for outcome in [&check, &pilot, &json] {
        for text in [&outcome.stdout, &outcome.stderr] {
            assert!(
                !text.contains(['\u{1b}', '\u{7}', '\u{9b}', '\u{202e}']),
                "{outcome:?}"
            );
        }
    }
    assert_eq!(bytes(&input), before);
}

const SECRET: &str = "sk-hardening-test-secret-4242";
const PASSWORD: &str = "hunter2-pass";
/// base64("alice:hunter2-pass"), the `Basic` header reqwest sends for the URL's userinfo.
const BASIC: &str = "YWxpY2U6aHVudGVyMi1wYXNz";

/// A server that answers every request 401, quoting its request line and every
/// `Authorization` header back; returns its port.
fn echoing_server() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("address").port();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            std::thread::spawn(move || answer_with_echo(stream));
        }
    });
    port
}

fn answer_with_echo(stream: std::net::TcpStream) {
    let mut reader = BufReader::new(stream);
    let mut request_line = String::new();
    let mut credentials = Vec::new();
    let mut length = 0;
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
            break;
        }
        let lower = line.to_ascii_lowercase();
        if let Some(value) = lower.strip_prefix("content-length:") {
            length = value.trim().parse().unwrap_or(0);
        }
        if request_line.is_empty() {
            request_line = line.trim().to_string();
        } else if lower.starts_with("authorization") {
            credentials.push(line.trim().to_string());
        }
    }
    let mut body = vec![0; length];
    let _ = reader.read_exact(&mut body);
    // Credentials first: the pilot's table shows only the start of a failure's detail.
    let message = format!(
        "Incorrect API key provided: {} (request: {request_line})",
        credentials.join(" | ")
    );
    let body = serde_json::json!({"error": {"message": message, "type": "invalid_request_error", "code": "invalid_api_key"}}).to_string();
    let _ = write!(
        reader.get_mut(),
        "HTTP/1.1 401 Unauthorized\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
}

#[test]
fn an_echoed_api_key_and_url_password_never_reach_the_terminal() {
    let scratch = Scratch::new();
    crate::run::job(&scratch, 3, 100, 1);
    let input = scratch.path().join("rows.csv");
    let before = bytes(&input);
    let port = echoing_server();
    let base_url = format!("http://alice:{PASSWORD}@127.0.0.1:{port}/v1");
    let env = [("OPENAI_API_KEY", SECRET)];
    let runs = [
        run_with_env(
            &scratch,
            &["run", "job.yaml", "--base-url", &base_url],
            &env,
        ),
        run_with_env(
            &scratch,
            &["run", "job.yaml", "--json", "--base-url", &base_url],
            &env,
        ),
        run_with_env(
            &scratch,
            &["pilot", "job.yaml", "--rows", "2", "--base-url", &base_url],
            &env,
        ),
        run_with_env(
            &scratch,
            &[
                "pilot",
                "job.yaml",
                "--rows",
                "2",
                "--json",
                "--base-url",
                &base_url,
            ],
            &env,
        ),
    ];
    for outcome in &runs {
        assert_ne!(outcome.code, 0, "{outcome:?}");
        let shown = format!("{}{}", outcome.stdout, outcome.stderr);
        // The server's message is still reported, with the credentials masked.
        assert!(shown.contains("Incorrect API key provided"), "{outcome:?}");
        assert!(shown.contains("[redacted]"), "{outcome:?}");
        for secret in [SECRET, PASSWORD, BASIC] {
            assert!(!shown.contains(secret), "{secret} leaked: {outcome:?}");
        }
    }
    assert_eq!(bytes(&input), before);
}

#[test]

fn a_blank_api_key_is_refused_before_compiling() {
    let scratch = Scratch::new();
    crate::run::job(&scratch, 3, 100, 1);
    let outcome = run_with_env(
        &scratch,
        &["run", "job.yaml", "--base-url", "http://127.0.0.1:1/v1"],
        &[("OPENAI_API_KEY", "  ")],
    );
    assert_eq!(outcome.code, 2, "{outcome:?}");
    assert!(
        outcome.stderr.contains("`OPENAI_API_KEY` is set but empty"),
        "{outcome:?}"
    );
    // Nothing was compiled or recorded.
    assert!(!scratch.path().join(".batchlabel").exists(), "{outcome:?}");
}

#[test]
fn a_null_text_is_a_row_problem_and_objects_print_as_json_not_python() {
    let scratch = Scratch::new();
    scratch.write(
        "rows.jsonl",
        "{\"id\": \"a\", \"text\": {\"k\": [1, true]}}\n{\"id\": \"b\", \"text\": null}\n",
    );
    for user in ["\"{{ text }}\"", "\"Comment: {{ row.text }}\""] {
        let spec = crate::spec("rows.csv", "")
            .replace("  csv: rows.csv", "  jsonl: rows.jsonl")
            .replace("\"{{ text }}\"", user);
        scratch.write("job.yaml", spec);
        let check = scratch.run(&["check", "job.yaml", "--rows", "1", "--show-request"]);
        assert_eq!(check.code, 0, "{user}: {check:?}");
        assert!(
            check.stdout.contains(r#"{\"k\":[1,true]}"#),
            "{user}: {check:?}"
        );
        assert!(!check.stdout.contains("True"), "{user}: {check:?}");
        let check = scratch.run(&["check", "job.yaml", "--rows", "2"]);
        assert_eq!(check.code, 2, "{user}: {check:?}");
        assert!(check.stderr.contains("null"), "{user}: {check:?}");
        assert!(!check.stderr.contains("None"), "{user}: {check:?}");
    }
}
