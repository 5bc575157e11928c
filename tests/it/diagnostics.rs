//! Snapshots of the diagnostics for each invalid spec in `tests/fixtures/specs-invalid/`:
//! `X.yaml` must fail `batchlabel check` with exactly the text in `X.stderr`.
//! After an intended change, rewrite them with `UPDATE_EXPECT=1 cargo test --test it diagnostics`
//! and review the diff.

use crate::{batchlabel, files_with_extension, repository};

#[test]
fn invalid_specs_match_their_expected_diagnostics() {
    let folder = repository().join("tests/fixtures/specs-invalid");
    let update = std::env::var_os("UPDATE_EXPECT").is_some();
    let specs = files_with_extension(&folder, "yaml");
    assert!(specs.len() >= 8, "fixtures missing: {specs:?}");
    let mut mismatches = Vec::new();
    for spec in specs {
        let name = spec.file_name().unwrap().to_str().unwrap().to_string();
        let outcome = batchlabel(&folder, &["check", &name]);
        assert_eq!(outcome.code, 2, "{name} must fail check: {outcome:?}");
        assert!(
            outcome.stdout.is_empty(),
            "{name}: diagnostics go to stderr: {outcome:?}"
        );
        let expected_path = spec.with_extension("stderr");
        if update {
            std::fs::write(&expected_path, &outcome.stderr).unwrap();
            continue;
        }
        let expected = std::fs::read_to_string(&expected_path).unwrap_or_default();
        if expected != outcome.stderr {
            mismatches.push(format!(
                "--- {name}: expected\n{expected}\n--- got\n{}",
                outcome.stderr
            ));
        }
    }
    assert!(
        mismatches.is_empty(),
        "{}\n(after an intended change: UPDATE_EXPECT=1 cargo test --test it diagnostics)",
        mismatches.join("\n")
    );
}
