//! The temporary folder a compile writes into, swapped into place at the end. An existing
//! output folder is replaced only when it can be proven to be an earlier compile's: it holds
//! a marker listing the files that compile wrote, and nothing else. Staging folders left by a
//! killed compile are removed by the next compile beside them.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::CompileError;
use crate::compiler::Manifest;

/// The marker a compile leaves in its output folder.
pub(crate) const MARKER: &str = ".batchlabel-compile.json";
/// Staging folders are named `{STAGING_PREFIX}{pid}-{random}`.
const STAGING_PREFIX: &str = ".batchlabel-compile-";

#[derive(Serialize, Deserialize)]
struct Marker {
    tool: String,
    spec_fingerprint: String,
    files: Vec<String>,
}

pub(crate) struct Staging {
    final_dir: Option<PathBuf>,
    root: tempfile::TempDir,
    work: PathBuf,
}

impl Staging {
    pub(crate) fn new(out_dir: Option<&Path>) -> Result<Self, CompileError> {
        let root = match out_dir {
            Some(out_dir) => {
                if out_dir.exists() && !is_earlier_compile(out_dir) {
                    return Err(CompileError::OutputNotEmpty {
                        path: out_dir.to_path_buf(),
                    });
                }
                let parent = out_dir
                    .parent()
                    .filter(|parent| !parent.as_os_str().is_empty())
                    .unwrap_or(Path::new("."));
                std::fs::create_dir_all(parent).map_err(|error| CompileError::io(parent, error))?;
                remove_abandoned_staging(parent);
                tempfile::Builder::new()
                    .prefix(&format!("{STAGING_PREFIX}{}-", std::process::id()))
                    .tempdir_in(parent)
            }
            None => tempfile::Builder::new()
                .prefix("batchlabel-plan-")
                .tempdir(),
        }
        .map_err(|error| CompileError::io(out_dir.unwrap_or(Path::new(".")), error))?;
        let work = root.path().join(".work");
        std::fs::create_dir(&work).map_err(|error| CompileError::io(&work, error))?;
        Ok(Self {
            final_dir: out_dir.map(Path::to_path_buf),
            root,
            work,
        })
    }

    pub(crate) fn work_dir(&self) -> &Path {
        &self.work
    }

    pub(crate) fn shard_dir(&self) -> Option<&Path> {
        self.final_dir.as_ref().map(|_| self.root.path())
    }

    pub(crate) fn commit(
        self,
        manifest: &Manifest<'_>,
        output_schema: &serde_json::Value,
    ) -> Result<Option<PathBuf>, CompileError> {
        let Some(final_dir) = self.final_dir else {
            return Ok(None);
        };
        std::fs::remove_dir_all(&self.work).map_err(|error| CompileError::io(&self.work, error))?;
        let schema_path = self.root.path().join(manifest.output_schema);
        write_pretty(&schema_path, output_schema)?;
        write_pretty(&self.root.path().join("manifest.json"), manifest)?;
        write_marker(self.root.path(), manifest.spec_fingerprint)?;
        // Checked again: a long compile gives a user time to put something in the folder.
        if final_dir.exists() && !is_earlier_compile(&final_dir) {
            return Err(CompileError::OutputNotEmpty { path: final_dir });
        }
        if final_dir.exists() {
            std::fs::remove_dir_all(&final_dir)
                .map_err(|error| CompileError::io(&final_dir, error))?;
        }
        let staged = self.root.keep();
        std::fs::rename(&staged, &final_dir)
            .map_err(|error| CompileError::io(&final_dir, error))?;
        Ok(Some(final_dir))
    }
}

fn write_pretty(path: &Path, value: &impl Serialize) -> Result<(), CompileError> {
    let mut text = serde_json::to_string_pretty(value)
        .map_err(|error| CompileError::Setup(error.to_string()))?;
    text.push('\n');
    std::fs::write(path, text).map_err(|error| CompileError::io(path, error))
}

/// The marker lists every file in the staged folder, so a later compile can tell its own
/// files from anything a user put there since.
fn write_marker(root: &Path, spec_fingerprint: &str) -> Result<(), CompileError> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(root).map_err(|error| CompileError::io(root, error))? {
        let entry = entry.map_err(|error| CompileError::io(root, error))?;
        files.push(entry.file_name().to_string_lossy().into_owned());
    }
    files.sort();
    let marker = Marker {
        tool: "batchlabel".into(),
        spec_fingerprint: spec_fingerprint.into(),
        files,
    };
    write_pretty(&root.join(MARKER), &marker)
}

/// An empty folder, or one holding a compile's marker and only the files it lists.
fn is_earlier_compile(folder: &Path) -> bool {
    let Ok(entries) = std::fs::read_dir(folder) else {
        return false;
    };
    let names: Vec<String> = entries
        .filter_map(Result::ok)
        .map(|entry| entry.file_name().to_string_lossy().into_owned())
        .collect();
    if names.is_empty() {
        return true;
    }
    let marker: Option<Marker> = std::fs::read(folder.join(MARKER))
        .ok()
        .and_then(|bytes| serde_json::from_slice(&bytes).ok());
    let files = match marker.filter(|marker| marker.tool == "batchlabel") {
        Some(marker) => marker.files,
        None => match files_named_by_manifest(folder) {
            Some(files) => files,
            None => return false,
        },
    };
    names.iter().all(|name| {
        name == MARKER
            || OS_LITTER.contains(&name.as_str())
            || (files.contains(name)
                && folder
                    .join(name)
                    .symlink_metadata()
                    .is_ok_and(|metadata| metadata.is_file()))
    })
}

/// Files a file manager leaves in any folder it shows; not the user's data.
const OS_LITTER: &[&str] = &[".DS_Store", "Thumbs.db", "desktop.ini"];

/// A folder written by a release before the marker: what its `manifest.json` names.
fn files_named_by_manifest(folder: &Path) -> Option<Vec<String>> {
    let bytes = std::fs::read(folder.join("manifest.json")).ok()?;
    let manifest: serde_json::Value = serde_json::from_slice(&bytes).ok()?;
    manifest.get("batchlabel_version")?;
    let mut files = vec!["manifest.json".to_string(), "failed-rows.jsonl".to_string()];
    for key in ["row_map", "output_schema"] {
        if let Some(name) = manifest.get(key).and_then(serde_json::Value::as_str) {
            files.push(name.to_string());
        }
    }
    for shard in manifest.get("shards")?.as_array()? {
        files.push(shard.get("file")?.as_str()?.to_string());
    }
    Some(files)
}

/// Remove staging folders beside `parent` whose compile process is gone (killed mid-way).
fn remove_abandoned_staging(parent: &Path) {
    let Ok(entries) = std::fs::read_dir(parent) else {
        return;
    };
    for entry in entries.filter_map(Result::ok) {
        let name = entry.file_name().to_string_lossy().into_owned();
        let Some(pid) = name
            .strip_prefix(STAGING_PREFIX)
            .and_then(|rest| rest.split_once('-'))
            .and_then(|(pid, _)| pid.parse::<u32>().ok())
        else {
            continue;
        };
        let is_folder = entry.file_type().is_ok_and(|kind| kind.is_dir());
        if is_folder && pid != std::process::id() && !process_alive(pid) {
            let _ = std::fs::remove_dir_all(entry.path());
        }
    }
}

#[cfg(target_os = "linux")]
fn process_alive(pid: u32) -> bool {
    Path::new("/proc").join(pid.to_string()).exists()
}

/// Without a process table to ask, a staging folder is assumed to be in use.
#[cfg(not(target_os = "linux"))]
fn process_alive(_pid: u32) -> bool {
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_folder_is_replaced_only_when_it_holds_exactly_an_earlier_compiles_files() {
        let folder = tempfile::tempdir().unwrap();
        let out = folder.path();
        assert!(is_earlier_compile(out), "an empty folder");
        std::fs::write(out.join("manifest.json"), "{}").unwrap();
        assert!(!is_earlier_compile(out), "a manifest alone proves nothing");
        write_marker(out, "abc").unwrap();
        assert!(is_earlier_compile(out));
        std::fs::write(out.join("precious.csv"), "id\n").unwrap();
        assert!(!is_earlier_compile(out), "a file the compile did not write");
    }

    #[test]
    fn a_folder_of_a_release_before_the_marker_is_known_by_its_manifest() {
        let folder = tempfile::tempdir().unwrap();
        let out = folder.path();
        let manifest = r#"{"batchlabel_version": "0.1.0", "output_schema": "output-schema.json",
            "row_map": null, "shards": [{"file": "batch-00001.jsonl"}]}"#;
        std::fs::write(out.join("manifest.json"), manifest).unwrap();
        for name in ["output-schema.json", "batch-00001.jsonl", ".DS_Store"] {
            std::fs::write(out.join(name), "{}").unwrap();
        }
        assert!(is_earlier_compile(out));
        std::fs::write(out.join("batch-00002.jsonl"), "{}").unwrap();
        assert!(
            !is_earlier_compile(out),
            "a file the manifest does not name"
        );
    }

    #[test]
    fn staging_left_by_a_dead_compile_is_removed_and_a_live_ones_kept() {
        let folder = tempfile::tempdir().unwrap();
        let dead = folder
            .path()
            .join(format!("{STAGING_PREFIX}{}-abc", u32::MAX - 1));
        let live = folder
            .path()
            .join(format!("{STAGING_PREFIX}{}-abc", std::process::id()));
        let other = folder.path().join(".batchlabel-compile-notes");
        for path in [&dead, &live, &other] {
            std::fs::create_dir_all(path.join(".work")).unwrap();
        }
        remove_abandoned_staging(folder.path());
        assert!(!dead.exists() || !cfg!(target_os = "linux"));
        assert!(live.exists());
        assert!(other.exists(), "not a name the compile gives");
    }
}
