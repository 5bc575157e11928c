//! Cost of one validator call through the sandbox (`cargo bench -p batchlabel-plugin-host`):
//! label-normalizer and multilabel-rules, one reused instance per thread, with the CPU
//! deadline set before every call as in a run. Target (DESIGN §8): ≤ 5 µs per call.
//! Needs the plugins built: `cargo build --release --target wasm32-wasip2 --manifest-path
//! plugins/Cargo.toml` (bench/plugins.sh does it).

// A benchmark's output is its result.
#![allow(clippy::print_stdout, clippy::print_stderr)]

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use batchlabel_plugin_host::{Limits, PluginHost, PluginKind};

const CALLS: u32 = 200_000;
const ROUNDS: usize = 5;

fn plugin(name: &str) -> PathBuf {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../plugins/target/wasm32-wasip2/release")
        .join(format!("{name}.wasm"));
    if !path.exists() {
        eprintln!(
            "missing {}: run `cargo build --release --target wasm32-wasip2 --manifest-path plugins/Cargo.toml` first",
            path.display()
        );
        std::process::exit(1);
    }
    path
}

/// Microseconds per call over `CALLS` calls, per round.
fn measure(plugin: &batchlabel_plugin_host::ConfiguredPlugin, output: &str) -> Vec<f64> {
    let row = r#"{"id":"c-1","custom_id":"r-c-1"}"#;
    (0..ROUNDS)
        .map(|_| {
            let started = Instant::now();
            for _ in 0..CALLS {
                let answer = plugin.validate(output, row).expect("valid output");
                std::hint::black_box(answer);
            }
            started.elapsed().as_secs_f64() * 1e6 / f64::from(CALLS)
        })
        .collect()
}

fn report(name: &str, mut rounds: Vec<f64>) {
    rounds.sort_by(f64::total_cmp);
    println!(
        "{name:<40} best {:.2} µs/call, median {:.2} µs/call ({ROUNDS} rounds × {CALLS} calls)",
        rounds[0],
        rounds[ROUNDS / 2]
    );
}

fn main() {
    let host = Arc::new(PluginHost::new(None, Limits::default()).expect("engine"));
    let normalizer = Arc::new(
        host.load(&plugin("label_normalizer"), PluginKind::Validator)
            .expect("load label-normalizer"),
    )
    .configure(&serde_json::json!({"fields": {"sentiment": {
        "labels": ["POSITIVE", "NEGATIVE", "NEUTRAL"],
        "synonyms": {"good": "POSITIVE", "bad": "NEGATIVE"}
    }}}))
    .expect("configure");
    report(
        "label-normalizer, 1 field (`positive`)",
        measure(&normalizer, r#"{"sentiment":"positive"}"#),
    );
    let rules = Arc::new(
        host.load(&plugin("multilabel_rules"), PluginKind::Validator)
            .expect("load multilabel-rules"),
    )
    .configure(&serde_json::json!({
        "field": "emotions", "max_labels": 3, "alone": ["neutral"],
        "exclusive": [["joy", "sadness"]], "required_one_of": ["joy", "anger", "neutral"]
    }))
    .expect("configure");
    report(
        "multilabel-rules, 3 labels",
        measure(&rules, r#"{"emotions":["joy","anger","fear"]}"#),
    );
    // Two threads at once, each with its own pooled instance: calls share no lock but the
    // pool's check-out.
    let normalizer = Arc::new(normalizer);
    let started = Instant::now();
    std::thread::scope(|scope| {
        for _ in 0..2 {
            let normalizer = Arc::clone(&normalizer);
            scope.spawn(move || {
                for _ in 0..CALLS {
                    let answer = normalizer
                        .validate(
                            r#"{"sentiment":"positive"}"#,
                            r#"{"id":"c-1","custom_id":"r-c-1"}"#,
                        )
                        .expect("valid output");
                    std::hint::black_box(answer);
                }
            });
        }
    });
    println!(
        "{:<40} {:.0} calls/s on 2 threads",
        "label-normalizer, 2 threads",
        f64::from(2 * CALLS) / started.elapsed().as_secs_f64()
    );
}
