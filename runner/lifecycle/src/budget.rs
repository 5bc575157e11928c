//! The budget: before anything is sent the whole planned job is checked against
//! `budget.max_usd`, and each shard's cost bound is reserved in the ledger before it is
//! submitted. Once a shard is ingested, the usage its output files report replaces its
//! reservation, so the money committed is always spent (actual) plus in flight (bounds).

use batchlabel_core::ShardState;
use std::io::BufRead;
use std::path::Path;

use batchlabel_compile::CostModel;
use batchlabel_spec::Job;

use crate::LifecycleError;
use batchlabel_ledger::{Ledger, ShardRecord};

/// A budget in force for one run.
pub(crate) struct Budget {
    pub(crate) max_usd: f64,
    pub(crate) cost: CostModel,
}

impl Budget {
    /// The budget of this run (the flag wins over the spec), if any; an error when it cannot
    /// be enforced.
    pub(crate) fn for_run(job: &Job, max_usd: Option<f64>) -> Result<Option<Self>, LifecycleError> {
        let Some(max_usd) = max_usd.or(job.budget_usd) else {
            return Ok(None);
        };
        let cost = CostModel::for_job(job);
        if cost.price.is_none() {
            return Err(LifecycleError::BudgetUnenforceable(format!(
                "a budget of ${max_usd} is set, but batchlabel has no price for model `{}` (its table is dated {}); remove `budget.max_usd` (and `--max-usd`) to run it unbudgeted",
                job.model.name,
                batchlabel_compile::prices_as_of(job.model.provider)
            )));
        }
        if cost.output_tokens_per_request_max.is_none() {
            return Err(LifecycleError::BudgetUnenforceable(format!(
                "a budget of ${max_usd} is set, but the output of `{}` is unbounded (a raw schema field without `model.max_completion_tokens`); set `max_completion_tokens` so each request's cost has a bound",
                job.name
            )));
        }
        Ok(Some(Self { max_usd, cost }))
    }

    /// Fill in the bound of shards planned without one (a run started without a budget).
    pub(crate) fn estimate_missing(
        &self,
        ledger: &Ledger,
        shards: &mut [ShardRecord],
    ) -> Result<(), LifecycleError> {
        for shard in shards
            .iter_mut()
            .filter(|shard| shard.estimate.cost_usd_max.is_none())
            // An ended run's shard files are gone (`disk.rs`); an ingested shard's cost is
            // reported anyway.
            .filter(|shard| shard.state != ShardState::Ingested || Path::new(&shard.path).exists())
        {
            let path = Path::new(&shard.path);
            let file =
                std::fs::File::open(path).map_err(|source| LifecycleError::io(path, source))?;
            let mut message_tokens = 0;
            for line in std::io::BufReader::with_capacity(1 << 20, file).lines() {
                let line = line.map_err(|source| LifecycleError::io(path, source))?;
                message_tokens += self.cost.request_line_tokens(&line);
            }
            shard.estimate = self.cost.bound(shard.requests as u64, message_tokens);
            ledger.record_estimate(shard.id, &shard.estimate)?;
        }
        Ok(())
    }

    /// Refuse the run when everything planned (and not yet reserved), added to what is
    /// already spent or reserved, exceeds the budget.
    pub(crate) fn check_plan(&self, shards: &[ShardRecord]) -> Result<(), LifecycleError> {
        let unreserved: Vec<&ShardRecord> = shards
            .iter()
            .filter(|shard| shard.state == ShardState::Planned && shard.reserved_at.is_none())
            .collect();
        if unreserved.is_empty() {
            return Ok(());
        }
        let planned: f64 = unreserved.iter().map(|shard| bound_usd(shard)).sum();
        let requests: i64 = unreserved.iter().map(|shard| shard.requests).sum();
        self.check(
            committed_usd(shards) + planned,
            format!(
                "{} request(s) in {} shard(s) (at most ${planned:.4})",
                requests,
                unreserved.len()
            ),
        )
    }

    /// Reserve the bounds of the planned shards among `shards` (this turn's, from the
    /// ledger), in order, until one would go over: the shards to submit now, and the refusal
    /// that stopped the rest, if any. Each reservation is journaled before its shard is sent.
    pub(crate) fn reserve_planned(
        &self,
        ledger: &Ledger,
        mut shards: Vec<ShardRecord>,
    ) -> Result<(Vec<ShardRecord>, Option<LifecycleError>), LifecycleError> {
        self.estimate_missing(ledger, &mut shards)?;
        let mut allowed = Vec::new();
        for index in 0..shards.len() {
            let shard = &shards[index];
            if shard.state != ShardState::Planned {
                continue;
            }
            if shard.reserved_at.is_none() {
                let bound = bound_usd(shard);
                let what = format!(
                    "shard {} of attempt {} ({} request(s), at most ${bound:.4})",
                    shard.number, shard.attempt, shard.requests
                );
                if let Err(refusal) = self.check(committed_usd(&shards) + bound, what) {
                    return Ok((allowed, Some(refusal)));
                }
                shards[index].reserved_at = Some(ledger.reserve(shard.id)?);
            }
            allowed.push(shards[index].clone());
        }
        Ok((allowed, None))
    }

    fn check(&self, needed: f64, what: String) -> Result<(), LifecycleError> {
        // A hair of slack so a bound equal to the budget passes despite float sums.
        if needed <= self.max_usd * (1.0 + 1e-9) {
            return Ok(());
        }
        Err(LifecycleError::OverBudget {
            what,
            needed,
            budget: self.max_usd,
            over: needed - self.max_usd,
        })
    }
}

fn bound_usd(shard: &ShardRecord) -> f64 {
    shard.estimate.cost_usd_max.unwrap_or_default()
}

/// Dollars spent (ingested shards, as reported) plus reserved (submitted, not yet ingested).
fn committed_usd(shards: &[ShardRecord]) -> f64 {
    shards
        .iter()
        .map(|shard| match (&shard.actual, shard.reserved_at) {
            (Some(actual), _) => actual.cost_usd,
            (None, Some(_)) => bound_usd(shard),
            (None, None) if shard.state != ShardState::Planned => bound_usd(shard),
            (None, None) => 0.0,
        })
        .sum()
}
