//! `batchlabel schema`: the job-spec JSON Schema this binary was built with (the file the dev
//! crate generates into `schemas/`), and where `init` points a new spec's `$schema` line.
//!
//! The schema's `$id` URL is not served anywhere, so a `$schema` line naming it would
//! validate nothing. `init` names a file that exists instead: in a checkout of this
//! repository, its `schemas/job-spec.schema.json` (kept current by the dev crate); anywhere
//! else, a copy written beside the spec — the one matching the binary that wrote the spec.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use crate::ExitStatus;
use crate::printer::Printer;

/// The job-spec JSON Schema, as generated into `schemas/`.
pub(crate) const SCHEMA: &str = include_str!("../../../../schemas/job-spec.schema.json");

/// Where the schema lives inside a checkout, and the name of the copy written beside a spec.
const IN_CHECKOUT: &str = "schemas/job-spec.schema.json";
pub(crate) const BESIDE_SPEC: &str = "job-spec.schema.json";

pub(crate) fn schema(printer: Printer) -> ExitStatus {
    printer.data(SCHEMA);
    ExitStatus::Success
}

/// What the `$schema` line names, relative to the spec's folder, and how it was chosen.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct SchemaReference {
    /// The path for the `$schema=` line.
    pub(crate) path: String,
    /// A line for `init`'s report.
    pub(crate) note: String,
    /// A copy to write beside the spec (its path), when one is needed.
    pub(crate) write: Option<PathBuf>,
}

/// The schema for a spec written into `directory`: the nearest ancestor's
/// `schemas/job-spec.schema.json`, else `job-spec.schema.json` beside the spec (written
/// unless it is already there; an existing different file is kept and reported).
pub(crate) fn reference(directory: &Path) -> SchemaReference {
    let absolute = std::path::absolute(directory).unwrap_or_else(|_| directory.to_path_buf());
    let mut up = String::new();
    for ancestor in absolute.ancestors() {
        if ancestor.join(IN_CHECKOUT).is_file() {
            let path = format!("{up}{IN_CHECKOUT}");
            return SchemaReference {
                note: format!(
                    "schema: {path} (this checkout's; editors validate the spec against it)"
                ),
                path,
                write: None,
            };
        }
        up.push_str("../");
    }
    let beside = directory.join(BESIDE_SPEC);
    let mut note = format!("schema: {BESIDE_SPEC} beside the spec");
    let write = match std::fs::read_to_string(&beside) {
        Err(_) => {
            note.push_str(" (written now; editors validate the spec against it)");
            Some(beside)
        }
        Ok(existing) if existing == SCHEMA => {
            note.push_str(" (already there, up to date)");
            None
        }
        Ok(_) => {
            let _ = write!(
                note,
                " is another version's and was kept; `batchlabel schema > {}` updates it",
                beside.display()
            );
            None
        }
    };
    SchemaReference {
        path: BESIDE_SPEC.into(),
        note,
        write,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_schema_is_the_generated_one() {
        let value: serde_json::Value = serde_json::from_str(SCHEMA).unwrap();
        assert_eq!(value["title"], "JobSpec");
    }

    #[test]
    fn a_checkout_schema_is_named_relative_else_one_is_written_beside() {
        let folder = tempfile::tempdir().unwrap();
        let nested = folder.path().join("a/b");
        std::fs::create_dir_all(&nested).unwrap();
        let outside = reference(&nested);
        assert_eq!(outside.path, BESIDE_SPEC);
        assert_eq!(outside.write, Some(nested.join(BESIDE_SPEC)));
        std::fs::write(nested.join(BESIDE_SPEC), "{}").unwrap();
        let kept = reference(&nested);
        assert!(
            kept.write.is_none() && kept.note.contains("was kept"),
            "{kept:?}"
        );
        std::fs::create_dir_all(folder.path().join("schemas")).unwrap();
        std::fs::write(folder.path().join(IN_CHECKOUT), SCHEMA).unwrap();
        let inside = reference(&nested);
        assert_eq!(inside.path, "../../schemas/job-spec.schema.json");
        assert!(inside.write.is_none());
    }
}
