//! One module per subcommand, plus what they share: loading a spec (printing every
//! diagnostic) and reporting compile errors.

pub(crate) mod check;
pub(crate) mod clean;
pub(crate) mod compile;
pub(crate) mod data_profile;
pub(crate) mod database_profile;
pub(crate) mod estimate;
pub(crate) mod eval;
pub(crate) mod init;
pub(crate) mod model;
pub(crate) mod pilot;
pub(crate) mod pilot_compare;
pub(crate) mod report;
pub(crate) mod run;
pub(crate) mod runs;
pub(crate) mod schema;
pub(crate) mod serve;
pub(crate) mod status;

pub(crate) mod cancel {
    pub(crate) use super::status::cancel;
}

use std::fmt::Write as _;
use std::path::Path;

use batchlabel_compile::CompileError;
use batchlabel_source::SourceError;
use batchlabel_spec::{Diagnostics, Job};

use crate::printer::Printer;

/// `{"ok": false, "error": …}` on stdout, for `--json`.
pub(crate) fn print_json_error(message: &str, printer: Printer) {
    let value = serde_json::json!({"ok": false, "error": message});
    printer.data(&format!("{value:#}\n"));
}

/// The value, or `None` after printing the error message.
pub(crate) fn reported<T>(result: Result<T, String>, printer: Printer) -> Option<T> {
    result.map_err(|message| printer.message(&message)).ok()
}

/// Whether `writes` are safe against `reads` and each other (see [`crate::write_guard`]);
/// prints the conflict when not.
pub(crate) fn writes_are_safe(
    reads: &[crate::write_guard::Read],
    writes: &[crate::write_guard::Write],
    json: bool,
    printer: Printer,
) -> bool {
    report_unsafe_writes(crate::write_guard::check(reads, writes), json, printer)
}

/// Print a write conflict (or a place that cannot be written) found by the write guard.
pub(crate) fn report_unsafe_writes(
    checked: Result<(), String>,
    json: bool,
    printer: Printer,
) -> bool {
    match checked {
        Ok(()) => true,
        Err(message) if json => {
            let first = message.lines().next().unwrap_or_default();
            print_json_error(first.trim_start_matches("error: "), printer);
            false
        }
        Err(message) => {
            printer.message(&message);
            false
        }
    }
}

/// Load and resolve the spec; on errors print them all and return `None`.
pub(crate) fn load_job(spec: &Path, json: bool, printer: Printer) -> Option<(Job, Diagnostics)> {
    match batchlabel_spec::load(spec) {
        Ok(loaded) => {
            if let Some(problems) = provider_problems(&loaded.job) {
                print_diagnostics(&problems, json, printer);
                return None;
            }
            if !loaded.diagnostics.items.is_empty() && !json {
                printer.message(&loaded.diagnostics.render());
            }
            Some((loaded.job, loaded.diagnostics))
        }
        Err(diagnostics) => {
            print_diagnostics(&diagnostics, json, printer);
            None
        }
    }
}

/// What the job asks of its provider that it cannot do, as spec diagnostics.
fn provider_problems(job: &Job) -> Option<Diagnostics> {
    let mut all: Option<Diagnostics> = None;
    for problem in batchlabel_providers::check(job) {
        let found = batchlabel_spec::diagnostic_at(
            &job.spec_path,
            &problem.pointer,
            problem.code,
            problem.message,
            vec![problem.help],
        );
        match &mut all {
            Some(all) => all.items.extend(found.items),
            None => all = Some(found),
        }
    }
    all
}

/// A loaded job with its plugins loaded and configured; on errors print them all.
pub(crate) struct JobWithPlugins {
    pub(crate) job: Job,
    pub(crate) diagnostics: Diagnostics,
    pub(crate) plugins: batchlabel_lifecycle::Plugins,
    pub(crate) summaries: Vec<crate::plugins::PluginSummary>,
}

/// [`load_job`], then the job's plugins.
pub(crate) fn load_job_with_plugins(
    spec: &Path,
    json: bool,
    printer: Printer,
) -> Option<JobWithPlugins> {
    let (job, diagnostics) = load_job(spec, json, printer)?;
    match crate::plugins::load_plugins(&job) {
        Ok((plugins, summaries)) => Some(JobWithPlugins {
            job,
            diagnostics,
            plugins,
            summaries,
        }),
        Err(problems) => {
            print_diagnostics(&problems, json, printer);
            None
        }
    }
}

pub(crate) fn print_diagnostics(diagnostics: &Diagnostics, json: bool, printer: Printer) {
    if json {
        let value = serde_json::json!({ "ok": false, "diagnostics": diagnostics.to_json() });
        printer.data(&format!("{value:#}\n"));
        return;
    }
    let mut text = diagnostics.render();
    let errors = diagnostics.error_count();
    let _ = writeln!(
        text,
        "error: `{}` has {errors} problem{}",
        diagnostics.spec_path.display(),
        if errors == 1 { "" } else { "s" }
    );
    printer.message(&text);
}

/// Report a compile error: spec-positioned when the spec is at fault, else by input line.
pub(crate) fn report_compile_error(job: &Job, error: &CompileError, json: bool, printer: Printer) {
    if let CompileError::Source(SourceError::MissingColumn {
        column,
        purpose,
        available,
        suggestion,
        path,
    }) = error
    {
        let pointer = if purpose.contains("input.id") {
            "/input/id"
        } else if purpose.contains("input.text") {
            "/input/text"
        } else if job.prompt.user.text.contains(column.as_str()) {
            if job.prompt.user.file.is_some() {
                "/prompt/user_file"
            } else {
                "/prompt/user"
            }
        } else if job
            .prompt
            .system
            .as_ref()
            .is_some_and(|system| system.file.is_some())
        {
            "/prompt/system_file"
        } else {
            "/prompt/system"
        };
        let mut help = Vec::new();
        if let Some(suggestion) = suggestion {
            help.push(format!("did you mean `{suggestion}`?"));
        }
        help.push(format!("`{}` has columns: {available}", path.display()));
        let diagnostics = batchlabel_spec::diagnostic_at(
            &job.spec_path,
            pointer,
            "missing-column",
            format!("input has no column `{column}` (needed for {purpose})"),
            help,
        );
        print_diagnostics(&diagnostics, json, printer);
        return;
    }
    if json {
        let value = match error {
            CompileError::Rows { problems, total } => serde_json::json!({
                "ok": false, "error": error.to_string(), "row_problems": problems, "row_problem_count": total
            }),
            other => {
                print_json_error(&other.to_string(), printer);
                return;
            }
        };
        printer.data(&format!("{value:#}\n"));
        return;
    }
    let mut text = format!("error: {error}\n");
    match error {
        CompileError::Rows { problems, total } => {
            for problem in problems.iter().take(20) {
                let id = problem.row_id.as_ref().map_or_else(String::new, |id| {
                    format!(" (id `{}`)", crate::printer::field(id))
                });
                let _ = writeln!(
                    text,
                    "  {}:{}{id}: {}",
                    problem.path.display(),
                    problem.line,
                    crate::printer::field(&problem.message)
                );
            }
            if *total > 20 {
                let _ = writeln!(
                    text,
                    "  … and {} more (use --json to see up to 1000)",
                    total - 20
                );
            }
            text.push_str("hint: fix these rows and compile again; nothing was written\n");
        }
        CompileError::NoRows { .. } | CompileError::Source(SourceError::Empty { .. }) => {
            text.push_str("hint: the input needs a header row and at least one data row\n");
        }
        CompileError::OutputNotEmpty { .. } => {
            text.push_str("hint: pass `--out` a new or empty folder\n");
        }
        _ => {}
    }
    printer.message(&text);
}
