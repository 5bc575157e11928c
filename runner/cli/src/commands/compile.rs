//! `batchlabel compile SPEC --out DIR`: write the sharded JSONL batch files.

use std::fmt::Write as _;
use std::time::Instant;

use batchlabel_compile::CompileOptions;

use crate::args::CompileArgs;
use crate::commands::{load_job_with_plugins, report_compile_error};
use crate::exit_status::ExitStatus;
use crate::printer::Printer;

pub(crate) fn compile(args: &CompileArgs, printer: Printer) -> ExitStatus {
    let Some(loaded) = load_job_with_plugins(&args.spec, args.json, printer) else {
        return ExitStatus::Error;
    };
    let job = loaded.job;
    let writes = [crate::write_guard::Write::folder(
        "the compile folder (`--out`)",
        &args.out,
    )];
    let reads = crate::write_guard::job_reads(&job);
    if !super::writes_are_safe(&reads, &writes, args.json, printer) {
        return ExitStatus::Error;
    }
    let started = Instant::now();
    let options = CompileOptions {
        out_dir: Some(args.out.clone()),
        count_tokens: false,
        progress: if args.json {
            None
        } else {
            printer.progress("compiling")
        },
        labeled: None,
        row_limit: None,
        row_filter: None,
        request_hook: loaded.plugins.request.clone(),
    };
    let report = match batchlabel_compile::compile(&job, &options) {
        Ok(report) => report,
        Err(error) => {
            report_compile_error(&job, &error, args.json, printer);
            return ExitStatus::Error;
        }
    };
    let seconds = started.elapsed().as_secs_f64();
    if args.json {
        let value = serde_json::json!({ "ok": true, "report": report, "seconds": seconds });
        printer.data(&format!("{value:#}\n"));
        return ExitStatus::Success;
    }
    let mut text = format!(
        "compiled {} rows into {} requests in {} file{} → {} ({:.1}s, {:.0} rows/s)\n",
        report.rows,
        report.requests,
        report.shards.len(),
        if report.shards.len() == 1 { "" } else { "s" },
        args.out.display(),
        seconds,
        report.rows as f64 / seconds.max(1e-9),
    );
    if report.duplicate_rows > 0 {
        let _ = writeln!(
            text,
            "  {} rows share a request with an identical earlier row (listed in row-map.csv)",
            report.duplicate_rows
        );
    }
    for shard in &report.shards {
        let _ = writeln!(
            text,
            "  {}  {} requests  {} bytes",
            shard.file, shard.requests, shard.bytes
        );
    }
    printer.data(&text);
    ExitStatus::Success
}
