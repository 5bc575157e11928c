//! Every path a command writes, checked before anything is compiled, sent or paid for:
//! against every path it reads (spec, input, templates, plugins) and against the other paths
//! it writes, by canonical path and by file identity (so symbolic and hard links count), and
//! for being a writable place for a file. Nothing the user owns is overwritten unless they
//! named it as an output.

use std::path::{Component, Path, PathBuf};

use batchlabel_spec::Job;

/// A path a command reads, and what it is for the user.
pub(crate) struct Read {
    pub(crate) what: String,
    pub(crate) path: PathBuf,
}

/// A path a command writes.
pub(crate) struct Write {
    pub(crate) what: String,
    pub(crate) path: PathBuf,
    /// A folder the command fills (and may replace) rather than one file.
    pub(crate) folder: bool,
    /// For a folder the command only adds to: the entries it owns. Other files may live in
    /// it (an output in the run directory); empty means the whole folder is the command's.
    pub(crate) owns: &'static [&'static str],
}

impl Write {
    pub(crate) fn file(what: &str, path: &Path) -> Self {
        Self {
            what: what.to_string(),
            path: path.to_path_buf(),
            folder: false,
            owns: &[],
        }
    }

    pub(crate) fn folder(what: &str, path: &Path) -> Self {
        Self {
            what: what.to_string(),
            path: path.to_path_buf(),
            folder: true,
            owns: &[],
        }
    }

    /// The run directory: the ledger and the folders `run` keeps in it are its own.
    pub(crate) fn run_directory(path: &Path) -> Self {
        Self {
            owns: &[
                "ledger.sqlite",
                "ledger.sqlite-wal",
                "ledger.sqlite-shm",
                "ledger.lock",
                "runs",
                "downloads",
                "local-batches",
                "results.jsonl",
                "results.errors.jsonl",
            ],
            ..Self::folder("the run directory (`--state-dir`)", path)
        }
    }

    /// Whether `path` (resolved) is, or is inside, something this write replaces.
    fn covers(&self, target: &Path, path: &Path) -> bool {
        if target == path {
            return true;
        }
        if !self.folder {
            return false;
        }
        let Ok(inside) = path.strip_prefix(target) else {
            return false;
        };
        self.owns.is_empty()
            || inside
                .components()
                .next()
                .is_some_and(|first| self.owns.iter().any(|owned| first.as_os_str() == *owned))
    }
}

/// What `job` reads: its spec, input, template files and plugins.
pub(crate) fn job_reads(job: &Job) -> Vec<Read> {
    let mut reads = vec![Read {
        what: "the spec".into(),
        path: job.spec_path.clone(),
    }];
    // A PostgreSQL input has no file to protect.
    if !matches!(
        job.input.format,
        batchlabel_spec::InputFormat::Postgres { .. }
    ) {
        reads.push(Read {
            what: "the input".into(),
            path: job.input.path.clone(),
        });
    }
    for template in [job.prompt.system.as_ref(), Some(&job.prompt.user)]
        .into_iter()
        .flatten()
    {
        if let Some(file) = &template.file {
            reads.push(Read {
                what: format!("the {} template", template.role),
                path: file.clone(),
            });
        }
    }
    for plugin in job.request_plugin.iter().chain(&job.validator_plugins) {
        reads.push(Read {
            what: format!("the plugin at {}", plugin.pointer),
            path: plugin.path.clone(),
        });
    }
    if let Some(file) = job
        .examples
        .as_ref()
        .and_then(|examples| examples.file.as_ref())
    {
        reads.push(Read {
            what: "the examples file".into(),
            path: file.path.clone(),
        });
    }
    reads
}

/// What `run` writes: the results and errors files (with their temporary files) and the run
/// directory.
pub(crate) fn run_writes(job: &Job, run_dir: &Path) -> Vec<Write> {
    let mut writes = Vec::new();
    if let Some(output) = &job.output {
        if output.writes_file() {
            writes.push(Write::file("the results file (`output`)", &output.path));
            writes.push(Write::file(
                "the results file's temporary file",
                &batchlabel_lifecycle::partial_path(&output.path),
            ));
        }
        writes.push(Write::file(
            "the errors file (`output.errors`)",
            &output.errors_path,
        ));
        writes.push(Write::file(
            "the errors file's temporary file",
            &batchlabel_lifecycle::partial_path(&output.errors_path),
        ));
    }
    writes.push(Write::run_directory(run_dir));
    writes
}

/// Check `writes` against `reads` and each other; the first conflict, as a message with a
/// hint.
pub(crate) fn check(reads: &[Read], writes: &[Write]) -> Result<(), String> {
    check_paths(reads, writes, true)
}

/// [`check`] without trying to write: for `check`, which must pass on a read-only checkout.
pub(crate) fn check_conflicts(reads: &[Read], writes: &[Write]) -> Result<(), String> {
    check_paths(reads, writes, false)
}

fn check_paths(reads: &[Read], writes: &[Write], probe: bool) -> Result<(), String> {
    for (index, write) in writes.iter().enumerate() {
        let target = resolve(&write.path);
        check_kind(write, &target)?;
        if probe {
            check_writable(write, &target)?;
        }
        for read in reads {
            let source = resolve(&read.path);
            if same_file(&target, &source) || write.covers(&target, &source) {
                return Err(conflict(write, &read.what, &read.path));
            }
        }
        for other in &writes[index + 1..] {
            let other_target = resolve(&other.path);
            let overlaps = same_file(&target, &other_target)
                || write.covers(&target, &other_target)
                || other.covers(&other_target, &target);
            if overlaps {
                return Err(conflict(other, &write.what, &write.path));
            }
        }
    }
    Ok(())
}

fn conflict(write: &Write, what: &str, path: &Path) -> String {
    let verb = if write.folder { "holds" } else { "is" };
    format!(
        "error: {} `{}` {verb} {what} `{}`: writing it would destroy that; nothing was sent\nhint: name another path for {}\n",
        write.what,
        write.path.display(),
        path.display(),
        write.what
    )
}

fn problem(write: &Write, what: &str) -> Result<(), String> {
    Err(format!(
        "error: {} `{}` {what}; nothing was sent\nhint: name another path\n",
        write.what,
        write.path.display()
    ))
}

/// A file target must not be a folder or a special file, and its nearest existing ancestor
/// must be a folder.
fn check_kind(write: &Write, target: &Path) -> Result<(), String> {
    let problem = |what: &str| problem(write, what);
    match std::fs::metadata(target) {
        Ok(metadata) if write.folder && !metadata.is_dir() => {
            return problem("exists and is not a folder");
        }
        Ok(metadata) if !write.folder && metadata.is_dir() => return problem("is a folder"),
        Ok(metadata) if !write.folder && !metadata.is_file() => {
            return problem("is not a regular file (a FIFO, socket or device)");
        }
        _ => {}
    }
    match nearest_existing(write, target) {
        Some(existing) if !existing.is_dir() => problem(&format!(
            "cannot be created: `{}` is not a folder",
            existing.display()
        )),
        _ => Ok(()),
    }
}

/// The nearest existing path that holds `target` (`target` itself for an existing folder
/// write): where it will be created.
fn nearest_existing<'a>(write: &Write, target: &'a Path) -> Option<&'a Path> {
    let start = if write.folder && target.is_dir() {
        target
    } else {
        target.parent().unwrap_or(target)
    };
    start.ancestors().find(|ancestor| ancestor.exists())
}

/// Its nearest existing folder can be written in.
fn check_writable(write: &Write, target: &Path) -> Result<(), String> {
    let Some(existing) = nearest_existing(write, target) else {
        return Ok(());
    };
    // The only sure test of "can write here" is writing; the probe is removed at once.
    if let Err(error) = tempfile::Builder::new()
        .prefix(".batchlabel-probe-")
        .tempfile_in(existing)
    {
        return problem(
            write,
            &format!("cannot be written: `{}`: {error}", existing.display()),
        );
    }
    Ok(())
}

/// The canonical form of `path`: its deepest existing ancestor canonicalized (links
/// resolved), the rest appended with `.` and `..` applied.
fn resolve(path: &Path) -> PathBuf {
    let absolute = std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf());
    let mut existing = absolute.as_path();
    let mut rest = Vec::new();
    loop {
        if let Ok(canonical) = existing.canonicalize() {
            let mut resolved = canonical;
            for component in rest.iter().rev() {
                push_component(&mut resolved, *component);
            }
            return resolved;
        }
        match (existing.parent(), existing.components().next_back()) {
            (Some(parent), Some(last)) => {
                rest.push(last);
                existing = parent;
            }
            _ => return absolute,
        }
    }
}

fn push_component(path: &mut PathBuf, component: Component<'_>) {
    match component {
        Component::ParentDir => {
            path.pop();
        }
        Component::CurDir => {}
        other => path.push(other),
    }
}

/// The same path, or the same existing file under two names (a hard link).
fn same_file(left: &Path, right: &Path) -> bool {
    if left == right {
        return true;
    }
    same_inode(left, right)
}

#[cfg(unix)]
fn same_inode(left: &Path, right: &Path) -> bool {
    use std::os::unix::fs::MetadataExt;
    match (std::fs::metadata(left), std::fs::metadata(right)) {
        (Ok(left), Ok(right)) => left.dev() == right.dev() && left.ino() == right.ino(),
        _ => false,
    }
}

#[cfg(not(unix))]
fn same_inode(_left: &Path, _right: &Path) -> bool {
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(path: &Path) -> Read {
        Read {
            what: "the input".into(),
            path: path.to_path_buf(),
        }
    }

    #[test]
    fn an_output_naming_the_input_through_dots_or_a_link_is_refused() {
        let folder = tempfile::tempdir().unwrap();
        let input = folder.path().join("rows.csv");
        std::fs::write(&input, "id,text\n").unwrap();
        let dotted = folder.path().join("sub/../rows.csv");
        let message =
            check(&[read(&input)], &[Write::file("the results file", &dotted)]).unwrap_err();
        assert!(message.contains("is the input"), "{message}");
        let link = folder.path().join("link.csv");
        std::fs::hard_link(&input, &link).unwrap();
        let message =
            check(&[read(&input)], &[Write::file("the results file", &link)]).unwrap_err();
        assert!(message.contains("is the input"), "{message}");
    }

    #[test]
    fn two_outputs_on_one_path_and_a_folder_holding_the_input_are_refused() {
        let folder = tempfile::tempdir().unwrap();
        let input = folder.path().join("data/rows.csv");
        std::fs::create_dir_all(input.parent().unwrap()).unwrap();
        std::fs::write(&input, "id,text\n").unwrap();
        let out = folder.path().join("out/results.csv");
        let writes = [
            Write::file("the results file", &out),
            Write::file("the errors file", &out),
        ];
        let message = check(&[read(&input)], &writes).unwrap_err();
        assert!(message.contains("the errors file"), "{message}");
        let message = check(
            &[read(&input)],
            &[Write::folder(
                "the run directory",
                &folder.path().join("data"),
            )],
        )
        .unwrap_err();
        assert!(message.contains("holds the input"), "{message}");
        assert!(check(&[read(&input)], &[Write::file("the results file", &out)]).is_ok());
    }

    #[test]
    fn results_may_live_in_the_run_directory_but_not_over_its_ledger() {
        let folder = tempfile::tempdir().unwrap();
        let run_dir = folder.path().join(".batchlabel/job");
        let inside = run_dir.join("labels.csv");
        let writes = [
            Write::file("the results file", &inside),
            Write::run_directory(&run_dir),
        ];
        assert!(check(&[], &writes).is_ok());
        // A spec and input kept in the run directory are read, never replaced.
        let spec = run_dir.join("spec.yaml");
        std::fs::create_dir_all(&run_dir).unwrap();
        std::fs::write(&spec, "name: job\n").unwrap();
        let reads = [Read {
            what: "the spec".into(),
            path: spec,
        }];
        assert!(check(&reads, &[Write::run_directory(&run_dir)]).is_ok());
        let ledger = run_dir.join("ledger.sqlite");
        let writes = [
            Write::file("the results file", &ledger),
            Write::run_directory(&run_dir),
        ];
        let message = check(&[], &writes).unwrap_err();
        assert!(message.contains("the run directory"), "{message}");
    }

    #[test]
    fn a_folder_or_a_path_under_a_file_is_not_a_place_for_results() {
        let folder = tempfile::tempdir().unwrap();
        let message = check(&[], &[Write::file("the results file", folder.path())]).unwrap_err();
        assert!(message.contains("is a folder"), "{message}");
        let file = folder.path().join("plain");
        std::fs::write(&file, "x").unwrap();
        let message = check(
            &[],
            &[Write::file("the results file", &file.join("out.csv"))],
        )
        .unwrap_err();
        assert!(message.contains("is not a folder"), "{message}");
    }
}
