//! `batchlabel status SPEC` and `batchlabel cancel SPEC`.

use std::fmt::Write as _;

use batchlabel_lifecycle::{RunSettings, RunStatus};

use crate::ExitStatus;
use crate::args::{CancelArgs, StatusArgs};
use crate::printer::{Printer, field};

pub(crate) fn settings(state_dir: &std::path::Path) -> RunSettings {
    RunSettings::reading(state_dir)
}

/// The job name: from the spec when it is a file, else the argument itself.
pub(crate) fn job_name(spec: &std::path::Path, printer: Printer) -> Option<String> {
    if spec.is_file() {
        return super::load_job(spec, false, printer).map(|(job, _)| job.name);
    }
    Some(spec.to_string_lossy().into_owned())
}

pub(crate) fn status(args: &StatusArgs, printer: Printer) -> ExitStatus {
    let Some(name) = job_name(&args.spec, printer) else {
        return ExitStatus::Error;
    };
    match batchlabel_lifecycle::status_of(&settings(&args.state.state_dir), &name, args.run) {
        Ok(status) => {
            if args.json {
                let value = serde_json::json!({"ok": true, "status": status});
                printer.data(&format!("{value:#}\n"));
            } else {
                printer.data(&render(&name, &status));
            }
            ExitStatus::Success
        }
        Err(error) => {
            super::run::report_lifecycle_error(&error, args.json, printer);
            ExitStatus::Error
        }
    }
}

fn render(name: &str, status: &RunStatus) -> String {
    let mut text = String::new();
    let _ = writeln!(
        text,
        "{}: run {} ({}), spec {}",
        field(name),
        status.run,
        status.state,
        &status.spec_fingerprint[..12.min(status.spec_fingerprint.len())]
    );
    let _ = writeln!(
        text,
        "  rows      {} labeled, {} failed, {} pending (of {})",
        status.counts.labeled_rows,
        status.counts.failed_rows,
        status.counts.pending_rows,
        status.counts.rows
    );
    for (reason, count) in &status.counts.failures {
        let _ = writeln!(text, "    {reason:<16} {count}");
    }
    let _ = writeln!(
        text,
        "  requests  {} ({} reused from earlier runs)",
        status.counts.requests, status.counts.cached_requests
    );
    let _ = writeln!(
        text,
        "  tokens    {} in / {} out, ${:.4}",
        status.counts.input_tokens, status.counts.output_tokens, status.counts.cost_usd
    );
    let cost = &status.counts.cost;
    if cost.estimated_shards > 0 || cost.reported_shards > 0 {
        let estimated = if cost.estimated_shards > 0 {
            format!(
                "estimated ≤ ${:.4} ({} in / ≤ {} out tokens, {} of {} shards)",
                cost.estimated_usd_max,
                cost.estimated_input_tokens,
                cost.estimated_output_tokens_max,
                cost.estimated_shards,
                cost.shards
            )
        } else {
            "no estimate (no budget was set)".to_string()
        };
        let _ = writeln!(text, "  cost      {estimated}");
        let _ = writeln!(
            text,
            "            actual ${:.4} ({} in{} / {} out tokens, {} of {} shards reported){}",
            cost.actual_usd,
            cost.actual_input_tokens,
            if cost.actual_cached_tokens > 0 {
                format!(" of which {} cached", cost.actual_cached_tokens)
            } else {
                String::new()
            },
            cost.actual_output_tokens,
            cost.reported_shards,
            cost.shards,
            if cost.reserved_usd > 0.0 {
                format!(", ${:.4} reserved in flight", cost.reserved_usd)
            } else {
                String::new()
            }
        );
    }
    let queue = &status.counts.queue;
    if queue.in_flight_batches > 0 || queue.queued_shards > 0 {
        let _ = writeln!(
            text,
            "  queue     {} tokens in flight ({} batches, {} requests), {} tokens in {} shard(s) not sent yet",
            queue.in_flight_tokens,
            queue.in_flight_batches,
            queue.in_flight_requests,
            queue.queued_tokens,
            queue.queued_shards
        );
    }
    if let Some(eta) = status.eta_seconds {
        let _ = writeln!(text, "  eta       about {}m{:02}s", eta / 60, eta % 60);
    }
    // A failed remote cleanup never fails a run: it is shown here until it is done.
    let uncleaned: Vec<&batchlabel_lifecycle::ShardRecord> = status
        .shards
        .iter()
        .filter(|shard| shard.remote_cleaned_at.is_none() && shard.cleanup_note.is_some())
        .collect();
    if let Some(first) = uncleaned.first() {
        let _ = writeln!(
            text,
            "  cleanup   the files of {} shard(s) are still stored at the provider (deleting failed: {}); `batchlabel run` tries again",
            uncleaned.len(),
            field(first.cleanup_note.as_deref().unwrap_or_default())
        );
    }
    let _ = writeln!(
        text,
        "  shards    {} ({} batches)",
        status.shards.len(),
        status.counts.batches
    );
    for shard in &status.shards {
        let _ = writeln!(
            text,
            "    a{}-{:05} {:>7} requests  {:<10} {} {}",
            shard.attempt,
            shard.number,
            shard.requests,
            shard.state,
            field(shard.batch_id.as_deref().unwrap_or("-")),
            field(shard.batch_status.as_deref().unwrap_or(""))
        );
    }
    text
}

pub(crate) fn cancel(args: &CancelArgs, printer: Printer) -> ExitStatus {
    let Some((job, _)) = super::load_job(&args.spec, false, printer) else {
        return ExitStatus::Error;
    };
    if job.model.provider == batchlabel_spec::ProviderKind::Local {
        printer.message("error: a local run has no remote batches to cancel\nhint: stop `batchlabel run` itself (Ctrl-C); running it again resumes\n");
        return ExitStatus::Error;
    }
    let Some(runtime) = super::reported(super::run::runtime(), printer) else {
        return ExitStatus::Error;
    };
    let no_local_state = (std::path::PathBuf::new(), None);
    let provider = super::run::open_provider(&job, &args.api, no_local_state, &runtime);
    let Some(provider) = super::reported(provider, printer) else {
        return ExitStatus::Error;
    };
    match runtime.block_on(batchlabel_lifecycle::cancel(
        &settings(&args.state.state_dir),
        &job.name,
        provider.as_ref(),
    )) {
        Ok(batches) => {
            printer.data(&format!(
                "cancel requested for {} batch(es); run `batchlabel run` again to collect what finished\n",
                batches.len()
            ));
            ExitStatus::Success
        }
        Err(error) => {
            super::run::report_lifecycle_error(&error, false, printer);
            ExitStatus::Error
        }
    }
}
