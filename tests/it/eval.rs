//! `batchlabel eval` and `report` on runs whose answers are scripted, so every metric can be
//! worked out by hand: a single-label and a multi-label fixture, gold from an input column
//! and from a file, a comparison of two runs, and the HTML report rendered in headless
//! Chromium.

use std::fmt::Write as _;

use serde_json::Value;

use crate::Scratch;
use crate::local_server::LocalServer;

/// Labels A=POSITIVE, B=NEGATIVE, C=NEUTRAL; rows (gold → scripted answer):
/// r1 A→A, r2 A→A, r3 A→B, r4 B→B, r5 B→C, r6 C→C, r7 C→refused, r8 A→refused.
const SINGLE_ROWS: &str = "id,text,gold
r1,say-pos r1,POSITIVE
r2,say-pos r2,POSITIVE
r3,say-neg r3,POSITIVE
r4,say-neg r4,NEGATIVE
r5,say-neu r5,NEGATIVE
r6,say-neu r6,NEUTRAL
r7,say-refuse r7,neutral
r8,say-refuse r8,POSITIVE
";

fn rule(contains: &str, content: &str) -> Value {
    serde_json::json!({"contains": contains, "content": content})
}

fn single_label_script() -> Value {
    Value::Array(vec![
        // The second prompt version (`v2 …`) fixes r3 and breaks r1.
        rule("v2 say-neg r3", r#"{"sentiment":"POSITIVE"}"#),
        rule("v2 say-pos r1", r#"{"sentiment":"NEUTRAL"}"#),
        rule("say-pos", r#"{"sentiment":"POSITIVE"}"#),
        rule("say-neg", r#"{"sentiment":"NEGATIVE"}"#),
        rule("say-neu", r#"{"sentiment":"NEUTRAL"}"#),
        serde_json::json!({"contains": "say-refuse", "refusal": "I cannot label this."}),
    ])
}

fn single_label_spec(name: &str, user: &str) -> String {
    format!(
        "name: {name}\ninput:\n  csv: rows.csv\n  id: id\n  text: text\nprompt:\n  system: Label the sentiment.\n  user: \"{user}\"\nlabels:\n  sentiment:\n    one_of: [POSITIVE, NEGATIVE, NEUTRAL]\nmodel:\n  provider: openai\n  name: gpt-4o-mini\n  temperature: 0\nbatch:\n  max_attempts: 1\n"
    )
}

fn run(scratch: &Scratch, server: &LocalServer, spec: &str) {
    let outcome = scratch.run(&[
        "run",
        spec,
        "--base-url",
        &server.base_url(),
        "--poll-interval",
        "0.02",
        "--max-poll-interval",
        "0.1",
        "-q",
    ]);
    // Two rows are refused: exit 1 (finished, some rows failed).
    assert_eq!(outcome.code, 1, "{outcome:?}");
}

fn eval_json(scratch: &Scratch, args: &[&str]) -> Value {
    let mut all = vec!["eval"];
    all.extend_from_slice(args);
    all.push("--json");
    let outcome = scratch.run(&all);
    assert_eq!(outcome.code, 0, "{outcome:?}");
    serde_json::from_str(&outcome.stdout).expect("eval JSON")
}

fn close(value: &Value, expected: f64) {
    let found = value
        .as_f64()
        .unwrap_or_else(|| panic!("not a number: {value}"));
    assert!((found - expected).abs() < 1e-9, "{found} vs {expected}");
}

fn single_label_fixture() -> (Scratch, LocalServer) {
    let scratch = Scratch::new();
    scratch.write("rows.csv", SINGLE_ROWS);
    scratch.write("script.json", single_label_script().to_string());
    scratch.write("first.yaml", single_label_spec("first", "{{ text }}"));
    scratch.write("second.yaml", single_label_spec("second", "v2 {{ text }}"));
    let server = LocalServer::start(scratch.path(), &["--script", "script.json"]);
    run(&scratch, &server, "first.yaml");
    (scratch, server)
}

#[test]
fn single_label_metrics_match_the_hand_computation() {
    let (scratch, _server) = single_label_fixture();
    let value = eval_json(&scratch, &["first.yaml", "--gold", "gold"]);
    let evaluation = &value["evaluation"];
    assert_eq!(evaluation["rows"], 8);
    let metrics = &evaluation["single_label"];
    close(&metrics["accuracy"], 4.0 / 8.0);
    // POSITIVE: P 2/2, R 2/4 → F1 2/3; NEGATIVE: P 1/2, R 1/2; NEUTRAL: P 1/2, R 1/2.
    close(&metrics["macro_f1"], (2.0 / 3.0 + 0.5 + 0.5) / 3.0);
    close(&metrics["classes"][0]["precision"], 1.0);
    close(&metrics["classes"][0]["recall"], 0.5);
    close(&metrics["classes"][1]["f1"], 0.5);
    assert_eq!(metrics["failed_rows"], 2);
    assert_eq!(
        metrics["confusion"],
        serde_json::json!([[2, 1, 0, 1], [0, 1, 1, 0], [0, 0, 1, 1]])
    );
    // Gold `neutral` (r7) matched NEUTRAL ignoring case; failed rows are listed apart.
    assert!(
        evaluation["unknown_gold_labels"]
            .as_object()
            .unwrap()
            .is_empty()
    );
    let failed: Vec<&str> = evaluation["failed_rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|row| row["id"].as_str().unwrap())
        .collect();
    assert_eq!(failed, ["r7", "r8"]);
    assert_eq!(evaluation["failed_rows"][0]["reason"], "refusal");
    assert_eq!(evaluation["wrong_rows"].as_array().unwrap().len(), 2);

    // The same gold labels from a separate file give the same numbers.
    let mut gold_file = String::from("id,sentiment\n");
    for line in SINGLE_ROWS.lines().skip(1) {
        let fields: Vec<&str> = line.split(',').collect();
        let _ = writeln!(gold_file, "{},{}", fields[0], fields[2]);
    }
    scratch.write("gold.csv", gold_file);
    let from_file = eval_json(&scratch, &["first.yaml", "--gold", "gold.csv"]);
    assert_eq!(from_file["evaluation"]["single_label"], *metrics);

    // The text form shows the table and the confusion matrix.
    let text = scratch.run(&["eval", "first.yaml", "--gold", "gold"]);
    assert_eq!(text.code, 0, "{text:?}");
    assert!(
        text.stdout.contains("accuracy 0.500   macro-F1 0.556"),
        "{text:?}"
    );
    assert!(
        text.stdout
            .contains("confusion (rows: gold, columns: predicted)"),
        "{text:?}"
    );
    assert!(
        text.stdout.contains("r8: gold POSITIVE; refusal"),
        "{text:?}"
    );
}

#[test]
fn two_runs_compare_row_by_row_with_kappa_and_what_changed() {
    let (scratch, server) = single_label_fixture();
    run(&scratch, &server, "second.yaml");
    let value = eval_json(
        &scratch,
        &["first.yaml", "--compare", "second.yaml", "--gold", "gold"],
    );
    let comparison = &value["compare"]["comparison"];
    assert_eq!(comparison["common_rows"], 8);
    assert_eq!(comparison["both_failed"], 2);
    assert_eq!(comparison["agreeing_rows"], 4);
    close(&comparison["agreement"], 4.0 / 6.0);
    // Observed 4/6; marginals (2,2,2) and (2,1,3): expected 12/36; kappa (2/3−1/3)/(2/3).
    close(&comparison["kappa"], 0.5);
    assert_eq!(comparison["changed_rows"], 2);
    assert_eq!(comparison["fixed"], 1);
    assert_eq!(comparison["broken"], 1);
    let changed: Vec<(&str, &str, &str)> = comparison["changed"]
        .as_array()
        .unwrap()
        .iter()
        .map(|row| {
            (
                row["id"].as_str().unwrap(),
                row["first"].as_str().unwrap(),
                row["second"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        changed,
        [
            ("r1", "POSITIVE", "NEUTRAL"),
            ("r3", "NEGATIVE", "POSITIVE")
        ]
    );
    // Both runs are evaluated too: the second fixed one row and broke one, same accuracy.
    close(
        &value["compare"]["evaluation"]["single_label"]["accuracy"],
        0.5,
    );
}

#[test]
fn multi_label_metrics_match_the_hand_computation() {
    let scratch = Scratch::new();
    // Labels x, y, z; rows (gold → answer): {x,y}→{x,y}, {x}→{x,z}, {y,z}→{z}, {z}→refused.
    scratch.write(
        "rows.csv",
        "id,text,gold\nm1,say m1,\"x,y\"\nm2,say m2,x\nm3,say m3,y|z\nm4,say-refuse m4,\"[\"\"z\"\"]\"\n",
    );
    let script = Value::Array(vec![
        rule("say m1", r#"{"tags":["x","y"]}"#),
        rule("say m2", r#"{"tags":["x","z"]}"#),
        rule("say m3", r#"{"tags":["z"]}"#),
        serde_json::json!({"contains": "say-refuse", "refusal": "no"}),
    ]);
    scratch.write("script.json", script.to_string());
    scratch.write(
        "multi.yaml",
        "name: multi\ninput:\n  csv: rows.csv\n  id: id\n  text: text\nprompt:\n  user: \"{{ text }}\"\nlabels:\n  tags:\n    any_of: [x, y, z]\n    min: 1\n    max: 3\nmodel:\n  provider: openai\n  name: gpt-4o-mini\nbatch:\n  max_attempts: 1\n",
    );
    let server = LocalServer::start(scratch.path(), &["--script", "script.json"]);
    run(&scratch, &server, "multi.yaml");
    let value = eval_json(&scratch, &["multi.yaml", "--gold", "gold"]);
    let metrics = &value["evaluation"]["multi_label_metrics"];
    assert_eq!(metrics["rows"], 4);
    assert_eq!(metrics["failed_rows"], 1);
    close(&metrics["exact_match"], 0.25);
    // x: F1 1; y: P 1 R 1/2 → 2/3; z: P 1/2 R 1/2 → 1/2.
    close(&metrics["macro_f1"], (1.0 + 2.0 / 3.0 + 0.5) / 3.0);
    // micro: 4 right of 5 predicted, of 6 gold.
    close(&metrics["micro_precision"], 0.8);
    close(&metrics["micro_recall"], 4.0 / 6.0);
    close(
        &metrics["micro_f1"],
        2.0 * 0.8 * (4.0 / 6.0) / (0.8 + 4.0 / 6.0),
    );
    close(&metrics["jaccard"], 0.5);
    close(&metrics["labels"][1]["f1"], 2.0 / 3.0);
}

#[test]
fn eval_explains_what_is_missing() {
    let (scratch, _server) = single_label_fixture();
    let outcome = scratch.run(&["eval", "first.yaml"]);
    assert_eq!(outcome.code, 2, "{outcome:?}");
    assert!(outcome.stderr.contains("--gold COLUMN|FILE"), "{outcome:?}");
    let outcome = scratch.run(&["eval", "first.yaml", "--gold", "golden"]);
    assert_eq!(outcome.code, 2, "{outcome:?}");
    assert!(outcome.stderr.contains("no column `golden`"), "{outcome:?}");
    assert!(
        outcome.stderr.contains("did you mean `gold`"),
        "{outcome:?}"
    );
    let outcome = scratch.run(&["eval", "second.yaml", "--gold", "gold"]);
    assert_eq!(outcome.code, 2, "{outcome:?}");
    assert!(outcome.stderr.contains("run it first"), "{outcome:?}");
}

/// A browser that can take screenshots, or a failure saying how to get one.
fn chromium() -> String {
    for name in ["chromium", "chromium-browser", "google-chrome"] {
        let found = std::process::Command::new("which")
            .arg(name)
            .output()
            .is_ok_and(|output| output.status.success());
        if found {
            return name.to_string();
        }
    }
    panic!(
        "the report test needs headless Chromium: `apt-get install -y chromium` (`.ci/run` installs it)"
    );
}

#[test]
fn the_html_report_is_self_contained_and_renders_in_headless_chromium() {
    let (scratch, _server) = single_label_fixture();
    let outcome = scratch.run(&[
        "report",
        "first.yaml",
        "--gold",
        "gold",
        "--html",
        "out/report.html",
    ]);
    assert_eq!(outcome.code, 0, "{outcome:?}");
    let html = std::fs::read_to_string(scratch.path().join("out/report.html")).expect("report");
    // Self-contained: nothing to fetch, nothing to run.
    for forbidden in ["<script", " src=", " href=", "@import", "url("] {
        assert!(!html.contains(forbidden), "the page contains `{forbidden}`");
    }
    // Distribution, confusion heatmap and F1 bars, drawn as inline SVG.
    assert_eq!(html.matches("<svg").count(), 3, "{html}");
    for text in [
        "Confusion matrix",
        "F1 per label",
        "0.556",
        "say-refuse r8",
        "refusal",
    ] {
        assert!(html.contains(text), "missing `{text}`");
    }
    let screenshot = scratch.path().join("report.png");
    let output = std::process::Command::new(chromium())
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--hide-scrollbars",
            "--window-size=1200,1800",
        ])
        .arg(format!("--screenshot={}", screenshot.display()))
        .arg(format!(
            "file://{}",
            scratch.path().join("out/report.html").display()
        ))
        .output()
        .expect("run chromium");
    assert!(
        screenshot.exists(),
        "no screenshot: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let decoder = png::Decoder::new(std::io::BufReader::new(
        std::fs::File::open(&screenshot).expect("open screenshot"),
    ));
    let mut reader = decoder.read_info().expect("PNG header");
    let mut pixels = vec![0; reader.output_buffer_size().expect("size")];
    let frame = reader.next_frame(&mut pixels).expect("PNG frame");
    let channels = frame.color_type.samples();
    let pixels = &pixels[..frame.buffer_size()];
    let (mut ink, mut green, mut red, mut blue, mut total) = (0u64, 0u64, 0u64, 0u64, 0u64);
    for pixel in pixels.chunks(channels) {
        let (r, g, b) = (
            i32::from(pixel[0]),
            i32::from(pixel[1]),
            i32::from(pixel[2]),
        );
        total += 1;
        if r < 200 || g < 200 || b < 200 {
            ink += 1;
        }
        if g > r + 30 && g > b + 10 {
            green += 1; // the heatmap's diagonal
        }
        if r > g + 60 && r > b + 60 {
            red += 1; // its mistakes
        }
        if b > r + 50 && b > g + 20 {
            blue += 1; // the bars
        }
    }
    assert!(
        ink * 100 > total,
        "the screenshot is (nearly) blank: {ink} of {total} pixels"
    );
    assert!(
        green > 500 && red > 500 && blue > 500,
        "charts did not render: green {green}, red {red}, blue {blue}"
    );
}
