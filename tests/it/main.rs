//! End-to-end tests: the real `batchlabel` binary on real files. One module per subcommand.

mod budget;
mod check;
mod clean;
mod compile;
mod crash;
mod databases;
mod databases_postgres;
mod diagnostics;
mod estimate;
mod eval;
mod examples;
mod init;
mod init_databases;
mod input_hardening;
mod ledger_upgrade;
mod local;
mod local_server;
mod model;
mod packing;
mod packing_cache;
mod parquet;
mod pilot;
mod plugins;
mod providers;
mod providers_faults;
mod queue_status;
mod run;
mod runs;
mod safety;
mod spec_hardening;

use std::path::{Path, PathBuf};
use std::process::Command;

/// What a run of the binary produced.
pub(crate) struct Outcome {
    pub(crate) code: i32,
    pub(crate) stdout: String,
    pub(crate) stderr: String,
}

impl std::fmt::Debug for Outcome {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            formatter,
            "exit {}\n--- stdout\n{}\n--- stderr\n{}",
            self.code, self.stdout, self.stderr
        )
    }
}

/// Run `batchlabel` with `args` in `directory`.
pub(crate) fn batchlabel(directory: &Path, args: &[&str]) -> Outcome {
    batchlabel_with_env(directory, args, &[])
}

/// Run `batchlabel` with `args` in `directory`, with extra environment variables.
pub(crate) fn batchlabel_with_env(
    directory: &Path,
    args: &[&str],
    env: &[(&str, &str)],
) -> Outcome {
    let output = Command::new(env!("CARGO_BIN_EXE_batchlabel"))
        .args(args)
        .current_dir(directory)
        .env("NO_COLOR", "1")
        .envs(env.iter().copied())
        .output()
        .expect("run batchlabel");
    Outcome {
        code: output.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

/// The repository root.
pub(crate) fn repository() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Adds `remote_cleanup: false` to the `batch:` section of `job.yaml`, so the server keeps
/// what it was sent and what it answered for the test to read.
pub(crate) fn keep_remote_files(scratch: &Scratch) {
    let path = scratch.path().join("job.yaml");
    let spec = std::fs::read_to_string(&path).expect("spec");
    let spec = if spec.contains("\nbatch:\n") {
        spec.replacen("\nbatch:\n", "\nbatch:\n  remote_cleanup: false\n", 1)
    } else {
        format!("{spec}batch:\n  remote_cleanup: false\n")
    };
    std::fs::write(path, spec).expect("write spec");
}

/// The files in `folder` whose names end in `.extension`, sorted.
pub(crate) fn files_with_extension(folder: &Path, extension: &str) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(folder)
        .expect("read folder")
        .map(|entry| entry.expect("folder entry").path())
        .filter(|path| path.extension().is_some_and(|found| found == extension))
        .collect();
    files.sort();
    files
}

/// No file under `folder` (except under `skip`) holds `secret`.
pub(crate) fn assert_no_file_holds(folder: &Path, secret: &str, skip: Option<&Path>) {
    let mut stack = vec![folder.to_path_buf()];
    while let Some(path) = stack.pop() {
        if Some(path.as_path()) == skip {
            continue;
        }
        if path.is_dir() {
            stack.extend(
                std::fs::read_dir(&path)
                    .unwrap()
                    .map(|entry| entry.unwrap().path()),
            );
        } else {
            let bytes = std::fs::read(&path).unwrap();
            assert!(
                !bytes
                    .windows(secret.len())
                    .any(|window| window == secret.as_bytes()),
                "the key leaked into {}",
                path.display()
            );
        }
    }
}

/// A scratch folder with files written into it.
pub(crate) struct Scratch {
    pub(crate) directory: tempfile::TempDir,
}

impl Scratch {
    pub(crate) fn new() -> Self {
        Self {
            directory: tempfile::tempdir().expect("temp dir"),
        }
    }

    pub(crate) fn path(&self) -> &Path {
        self.directory.path()
    }

    pub(crate) fn write(&self, name: &str, content: impl AsRef<[u8]>) -> PathBuf {
        let path = self.path().join(name);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).expect("mkdir");
        }
        std::fs::write(&path, content).expect("write");
        path
    }

    pub(crate) fn run(&self, args: &[&str]) -> Outcome {
        batchlabel(self.path(), args)
    }

    pub(crate) fn run_with_env(&self, args: &[&str], env: &[(&str, &str)]) -> Outcome {
        batchlabel_with_env(self.path(), args, env)
    }
}

/// A minimal valid spec reading `input` (a CSV with `id,text`), with `extra` appended.
pub(crate) fn spec(input: &str, extra: &str) -> String {
    format!(
        "name: test-job\ninput:\n  csv: {input}\n  id: id\n  text: text\nprompt:\n  system: Label the sentiment.\n  user: \"{{{{ text }}}}\"\nlabels:\n  sentiment:\n    one_of: {{POSITIVE: good, NEGATIVE: bad, NEUTRAL: neither}}\nmodel:\n  provider: openai\n  name: gpt-4o-mini\n  temperature: 0\n{extra}"
    )
}
