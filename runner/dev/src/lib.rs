//! batchlabel-dev: developer tasks. It owns the generated files in `schemas/` (the JSON
//! Schema of a job spec, from the Rust types) and the check that they are current.

use std::path::{Path, PathBuf};

/// One generated file: where it goes and what it must contain.
pub struct GeneratedFile {
    /// Path relative to the repository root.
    pub path: &'static str,
    /// Its content.
    pub content: String,
}

/// The repository root (two levels above this crate).
pub fn repository_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .unwrap_or_else(|_| PathBuf::from("."))
}

/// Every generated file, freshly generated.
pub fn generated_files() -> Vec<GeneratedFile> {
    let mut schema = batchlabel_spec::job_spec_schema();
    if let Some(object) = schema.as_object_mut() {
        object.insert(
            "$id".to_string(),
            "https://batchlabel.dev/schemas/job-spec.schema.json".into(),
        );
    }
    let mut content = serde_json::to_string_pretty(&schema).unwrap_or_default();
    content.push('\n');
    vec![GeneratedFile {
        path: "schemas/job-spec.schema.json",
        content,
    }]
}

/// The files whose content on disk differs from what would be generated.
pub fn stale_files(root: &Path) -> Vec<&'static str> {
    generated_files()
        .into_iter()
        .filter(|file| {
            std::fs::read_to_string(root.join(file.path))
                .ok()
                .as_deref()
                != Some(file.content.as_str())
        })
        .map(|file| file.path)
        .collect()
}

/// Write every generated file under `root`.
pub fn write_all(root: &Path) -> std::io::Result<Vec<&'static str>> {
    let mut written = Vec::new();
    for file in generated_files() {
        let path = root.join(file.path);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)?;
        }
        std::fs::write(&path, &file.content)?;
        written.push(file.path);
    }
    Ok(written)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The schema in `schemas/` must match the Rust types.
    #[test]
    fn generated_schemas_are_current() {
        let root = repository_root();
        if std::env::var_os("UPDATE_SCHEMAS").is_some() {
            write_all(&root).expect("write schemas");
            return;
        }
        let stale = stale_files(&root);
        assert!(
            stale.is_empty(),
            "generated files are out of date: {stale:?}\nregenerate them with:\n    cargo run -p batchlabel-dev -- generate-schemas\n(or `UPDATE_SCHEMAS=1 cargo test -p batchlabel-dev`)"
        );
    }
}
