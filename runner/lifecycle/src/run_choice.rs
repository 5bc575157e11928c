//! Which run a `batchlabel run` continues or starts, and what a new run must settle first:
//! an earlier run's batches still in flight (collected, never abandoned), and batches at the
//! provider that this ledger does not know (a lost or replaced ledger: taken over, never sent
//! twice).

use batchlabel_core::{RunState, ShardState};
use std::collections::BTreeMap;

use batchlabel_providers::RemoteBatch as Batch;
use batchlabel_providers::{BatchProvider, METADATA_RUN, METADATA_SPEC, ProviderError};
use batchlabel_spec::Job;

use crate::driver::RunObserver;
use crate::{LifecycleError, ProviderFailure, RunSettings};
use batchlabel_core::now;
use batchlabel_ledger::{InputIdentity, Ledger, RunRecord, ShardRecord};

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
        /// The input's identity as just read (a query's rows are not read again for it).
        identity: InputIdentity,
    },
}

/// The identity of the input a run read, `--limit` included: a file's path, size and
/// modification time; a query's digest of the rows it returns now (read once for this).
pub(crate) fn input_identity(
    job: &Job,
    limit: Option<u64>,
) -> Result<InputIdentity, LifecycleError> {
    let identity = if job.input.format.is_query() {
        let mut source = batchlabel_compile::open_source(job)?;
        batchlabel_source::query_identity(source.as_mut(), limit)
            .map_err(batchlabel_compile::CompileError::from)?
    } else if job.input.format == batchlabel_spec::InputFormat::Parquet {
        batchlabel_source::files_identity(&job.input.path)
            .map_err(batchlabel_compile::CompileError::from)?
    } else {
        batchlabel_source::input_identity(&job.input.path).map_err(|error| match error {
            batchlabel_source::SourceError::Io { path, source } => {
                LifecycleError::io(&path, source)
            }
            other => batchlabel_compile::CompileError::from(other).into(),
        })?
    };
    let mut identity: InputIdentity = identity;
    if let Some(limit) = limit {
        identity.location = format!("{}#limit={limit}", identity.location);
    }
    Ok(identity)
}

/// A shard whose batch may be running at the provider.
pub(crate) fn in_flight(shard: &ShardRecord) -> bool {
    matches!(shard.state, ShardState::Submitted | ShardState::Downloaded)
        || (shard.state == ShardState::Planned && shard.create_intent_at.is_some())
}

pub(crate) fn choose_run(
    ledger: &Ledger,
    job: &Job,
    settings: &RunSettings,
    observer: &dyn RunObserver,
) -> Result<RunChoice, LifecycleError> {
    let identity = input_identity(job, settings.limit)?;
    let Some(run) = ledger.latest_run()? else {
        return Ok(RunChoice::Start {
            collect: None,
            identity,
        });
    };
    let spec_changed = run.spec_fingerprint != job.fingerprint;
    if spec_changed && !settings.new_run {
        return Err(LifecycleError::SpecChanged {
            run: run.id,
            old: run.spec_fingerprint.chars().take(12).collect(),
            new: job.fingerprint.chars().take(12).collect(),
        });
    }
    let same_input = run.input == identity;
    if same_input && !spec_changed && !settings.new_run {
        if run.state != RunState::Compiling {
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
        identity,
    })
}

/// Start a new run, after looking at the provider for this job's batches that the ledger does
/// not know: those of the newest unknown run with this spec are taken over (each shard takes
/// the batch sent for exactly its file), the others reported. The look comes first and the
/// run is created with its adoption in one statement, so a failed look leaves no run behind
/// that would later resume without it.
pub(crate) async fn start_run(
    provider: &dyn BatchProvider,
    ledger: &Ledger,
    job: &Job,
    settings: &RunSettings,
    observer: &dyn RunObserver,
    read: InputIdentity,
) -> Result<RunRecord, LifecycleError> {
    // A file is looked at again (collecting an earlier run may have taken a while); a query's
    // rows are not read a third time: compile checks them against `read`.
    let identity = if job.input.format.is_query() {
        read
    } else {
        input_identity(job, settings.limit)?
    };
    let unknown = unknown_remote_runs(provider, ledger, job, observer).await?;
    let spec_tag = crate::submit::spec_tag(job);
    let same_spec = |batches: &[Batch]| {
        batches
            .iter()
            .all(|batch| tag(batch, METADATA_SPEC) == Some(spec_tag.as_str()))
    };
    // `--new-run` over runs this ledger knows means "send everything again"; over an empty
    // (lost) ledger it cannot mean that anyone's batches are to be paid twice.
    let may_adopt = !(settings.new_run && ledger.has_runs()?);
    let adopted = unknown
        .iter()
        .filter(|(_, batches)| may_adopt && same_spec(batches))
        .max_by_key(|(_, batches)| batches.iter().map(|batch| batch.created_at).max())
        .map(|(token, batches)| {
            let earliest = batches.iter().map(|batch| batch.created_at).min();
            (token.clone(), earliest.unwrap_or_else(now))
        });
    for (token, batches) in &unknown {
        let live = batches
            .iter()
            .filter(|batch| !batch.state.is_terminal())
            .count();
        let ids = batches
            .iter()
            .map(|batch| batch.id.as_str())
            .take(5)
            .collect::<Vec<_>>()
            .join(", ");
        let message = if adopted
            .as_ref()
            .is_some_and(|(adopted, _)| adopted == token)
        {
            format!(
                "the provider holds {} batch(es) ({live} in flight) of this job from run token {token}, which this ledger does not know (it was lost or replaced): each shard whose file is byte-identical takes its batch instead of being sent again",
                batches.len()
            )
        } else {
            let why = if !same_spec(batches) {
                "were sent with another spec"
            } else if !may_adopt {
                "`--new-run` sends everything again"
            } else {
                "a newer unknown run of this job is taken over instead"
            };
            format!(
                "note: the provider holds {} batch(es) ({live} in flight) of job `{}` from run token {token} that this ledger does not know; they are left alone ({why}): {ids}",
                batches.len(),
                job.name
            )
        };
        observer.event(&message);
    }
    let adopt = adopted
        .as_ref()
        .map(|(token, since)| (token.as_str(), *since));
    Ok(ledger.create_run(&job.name, &job.fingerprint, &identity, adopt)?)
}

fn tag<'a>(batch: &'a Batch, key: &str) -> Option<&'a str> {
    batch.tags.get(key).map(String::as_str)
}

/// This job's batches of the last days, by the run token they carry, for tokens this ledger
/// does not know.
async fn unknown_remote_runs(
    provider: &dyn BatchProvider,
    ledger: &Ledger,
    job: &Job,
    observer: &dyn RunObserver,
) -> Result<BTreeMap<String, Vec<Batch>>, LifecycleError> {
    let mut tags = crate::submit::job_tags(job);
    // Any spec: batches sent with another spec are reported too.
    tags.remove(METADATA_SPEC);
    let found = match provider
        .find_batches(&tags, now() - LOOK_BACK_SECONDS)
        .await
    {
        Ok(found) => found,
        // A server without a batch listing cannot be asked; say so and go on.
        Err(ProviderError::Api {
            status: 404 | 405 | 501,
            ..
        }) => {
            observer.event(
                "the provider cannot list batches: a lost ledger's batches cannot be looked for",
            );
            Vec::new()
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
        if let Some(token) = tag(&batch, METADATA_RUN).filter(|token| !known.contains(*token)) {
            unknown.entry(token.to_string()).or_default().push(batch);
        }
    }
    Ok(unknown)
}
