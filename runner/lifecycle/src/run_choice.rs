//! Which run a `batchlabel run` continues or starts, and what a new run must settle first:
//! an earlier run's batches still in flight (collected, never abandoned), and batches at the
//! provider that this ledger does not know (a lost or replaced ledger: taken over, never sent
//! twice).

use std::collections::BTreeMap;

use batchlabel_protocol::Batch;
use batchlabel_providers::{
    BatchProvider, METADATA_JOB, METADATA_RUN, METADATA_SPEC, ProviderError,
};
use batchlabel_spec::Job;

use crate::driver::RunObserver;
use crate::ledger::{Ledger, RunRecord, ShardRecord, now};
use crate::{LifecycleError, ProviderFailure, RunSettings};

/// How far back the provider's batches are searched for a lost ledger's: a batch lives at
/// most its 24-hour window, and a finished one is worth adopting for a while after.
const LOOK_BACK_SECONDS: i64 = 3 * 86_400;

/// What `run` does with the ledger's latest run.
pub(crate) enum RunChoice {
    /// Continue it.
    Resume(RunRecord),
    /// Start a new run, after collecting `collect`'s batches in flight if any.
    Start {
        /// An earlier run whose live batches must be collected first.
        collect: Option<RunRecord>,
    },
}

/// The identity of the input a run read (path, size, modification time), `--limit` included.
pub(crate) fn input_identity(
    job: &Job,
    limit: Option<u64>,
) -> Result<(String, i64, i64), LifecycleError> {
    let metadata = std::fs::metadata(&job.input.path)
        .map_err(|source| LifecycleError::io(&job.input.path, source))?;
    let modified = metadata
        .modified()
        .ok()
        .and_then(|time| time.duration_since(std::time::UNIX_EPOCH).ok())
        .map_or(0, |elapsed| elapsed.as_secs() as i64);
    let mut name = job.input.path.to_string_lossy().into_owned();
    if let Some(limit) = limit {
        name = format!("{name}#limit={limit}");
    }
    Ok((name, metadata.len() as i64, modified))
}

/// A shard whose batch may be running at the provider.
pub(crate) fn in_flight(shard: &ShardRecord) -> bool {
    matches!(shard.state.as_str(), "submitted" | "downloaded")
        || (shard.state == "planned" && shard.create_intent_at.is_some())
}

pub(crate) fn choose_run(
    ledger: &Ledger,
    job: &Job,
    settings: &RunSettings,
    observer: &dyn RunObserver,
) -> Result<RunChoice, LifecycleError> {
    let identity = input_identity(job, settings.limit)?;
    let Some(run) = ledger.latest_run()? else {
        return Ok(RunChoice::Start { collect: None });
    };
    let spec_changed = run.spec_fingerprint != job.fingerprint;
    if spec_changed && !settings.new_run {
        return Err(LifecycleError::SpecChanged {
            run: run.id,
            old: run.spec_fingerprint.chars().take(12).collect(),
            new: job.fingerprint.chars().take(12).collect(),
        });
    }
    let same_input = run.input_path == identity.0
        && run.input_bytes == identity.1
        && run.input_modified == identity.2;
    if same_input && !spec_changed && !settings.new_run {
        if run.state != "compiling" {
            observer.event(&format!("resuming run {} ({})", run.id, run.state));
        }
        return Ok(RunChoice::Resume(run));
    }
    let why = if spec_changed {
        "the spec changed"
    } else if same_input {
        "--new-run"
    } else {
        "the input or --limit changed"
    };
    let live = ledger
        .shards(run.id)?
        .iter()
        .filter(|shard| in_flight(shard))
        .count();
    if live > 0 && !settings.new_run {
        return Err(LifecycleError::InFlight {
            run: run.id,
            batches: live,
            why: why.to_string(),
        });
    }
    observer.event(&format!(
        "{why} since run {}: starting a new run (rows it labeled are reused, not sent again)",
        run.id
    ));
    Ok(RunChoice::Start {
        collect: (live > 0).then_some(run),
    })
}

/// Start a new run, after looking at the provider for this job's batches that the ledger does
/// not know: those of the newest unknown run with this spec are taken over (each upload and
/// batch is looked for before it is sent), the others reported.
pub(crate) async fn start_run<P: BatchProvider>(
    provider: &P,
    ledger: &Ledger,
    job: &Job,
    settings: &RunSettings,
    observer: &dyn RunObserver,
) -> Result<RunRecord, LifecycleError> {
    let identity = input_identity(job, settings.limit)?;
    let run = ledger.create_run(
        &job.name,
        &job.fingerprint,
        (&identity.0, identity.1, identity.2),
    )?;
    let since = now() - LOOK_BACK_SECONDS;
    let mut tags = serde_json::Map::new();
    tags.insert(
        METADATA_JOB.into(),
        serde_json::Value::String(job.name.clone()),
    );
    let found = match provider.find_batches(&tags, since).await {
        Ok(found) => found,
        // A server without a batch listing cannot be asked; say so and go on.
        Err(ProviderError::Api {
            status: 404 | 405 | 501,
            ..
        }) => {
            observer.event(
                "the provider cannot list batches: a lost ledger's batches cannot be looked for",
            );
            return Ok(run);
        }
        Err(error) => {
            return Err(LifecycleError::Provider(ProviderFailure {
                context: "looking for this job's batches at the provider".into(),
                error,
            }));
        }
    };
    let known = ledger.run_tokens()?;
    let mut unknown: BTreeMap<String, Vec<Batch>> = BTreeMap::new();
    for batch in found {
        let token = batch
            .metadata
            .as_ref()
            .and_then(|metadata| metadata.get(METADATA_RUN))
            .and_then(serde_json::Value::as_str)
            .map(str::to_string);
        if let Some(token) = token.filter(|token| !known.contains(token)) {
            unknown.entry(token).or_default().push(batch);
        }
    }
    if unknown.is_empty() {
        return Ok(run);
    }
    let spec_tag: String = job.fingerprint.chars().take(16).collect();
    let same_spec = |batches: &[Batch]| {
        batches.iter().all(|batch| {
            batch
                .metadata
                .as_ref()
                .and_then(|metadata| metadata.get(METADATA_SPEC))
                .and_then(serde_json::Value::as_str)
                == Some(spec_tag.as_str())
        })
    };
    // `--new-run` means "send everything again": what the provider holds is only reported.
    let adopted = unknown
        .iter()
        .filter(|_| !settings.new_run)
        .filter(|(_, batches)| same_spec(batches))
        .max_by_key(|(_, batches)| batches.iter().map(|batch| batch.created_at).max())
        .map(|(token, _)| token.clone());
    for (token, batches) in &unknown {
        let live = batches
            .iter()
            .filter(|batch| !batch.status.is_terminal())
            .count();
        if Some(token) == adopted.as_ref() {
            let earliest = batches
                .iter()
                .map(|batch| batch.created_at)
                .min()
                .unwrap_or(since);
            ledger.adopt_remote_run(run.id, token, earliest)?;
            observer.event(&format!(
                "the provider holds {} batch(es) ({live} in flight) of this job from run token {token}, which this ledger does not know (it was lost or replaced): taking them over; nothing they hold is sent again",
                batches.len()
            ));
        } else {
            observer.event(&format!(
                "note: the provider holds {} batch(es) ({live} in flight) of job `{}` from run token {token} with another spec; they are left alone: {}",
                batches.len(),
                job.name,
                batches.iter().map(|batch| batch.id.as_str()).take(5).collect::<Vec<_>>().join(", ")
            ));
        }
    }
    ledger
        .latest_run()?
        .ok_or_else(|| LifecycleError::Internal("a new run vanished".into()))
}
