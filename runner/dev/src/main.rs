//! `cargo run -p batchlabel-dev -- generate-schemas [--check]`: write (or check) `schemas/`.

use std::process::ExitCode;

fn main() -> ExitCode {
    let arguments: Vec<String> = std::env::args().skip(1).collect();
    let root = batchlabel_dev::repository_root();
    match arguments
        .iter()
        .map(String::as_str)
        .collect::<Vec<_>>()
        .as_slice()
    {
        ["generate-schemas"] => match batchlabel_dev::write_all(&root) {
            Ok(written) => {
                for path in written {
                    report(&format!("wrote {path}"));
                }
                ExitCode::SUCCESS
            }
            Err(error) => {
                report(&format!("error: {error}"));
                ExitCode::from(2)
            }
        },
        ["generate-schemas", "--check"] => {
            let stale = batchlabel_dev::stale_files(&root);
            for path in &stale {
                report(&format!(
                    "stale: {path} (run `cargo run -p batchlabel-dev -- generate-schemas`)"
                ));
            }
            if stale.is_empty() {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            }
        }
        _ => {
            report("usage: batchlabel-dev generate-schemas [--check]");
            ExitCode::from(2)
        }
    }
}

#[expect(clippy::print_stderr, reason = "a developer tool's only output")]
fn report(line: &str) {
    eprintln!("{line}");
}
